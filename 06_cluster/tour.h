/*
 * tour.h - the narrated tour of `make run`: three members on loopback
 * (an epmd, Raft ports and data directories of their own), ticks, kill -9
 * of the leader, the new leader continuing from the exact acknowledged
 * count, the dead member restarted and rejoining. Everything it starts is
 * stopped at the end, and when it is interrupted.
 */
#ifndef TOUR_H
#define TOUR_H

/* Runs the tour; self is the path of this program (the members are it,
 * run with --serve). Returns 0, or 1 after saying what went wrong. */
int tour_run(const char *self);

/* The failover benchmark: rounds (at most 64) of kill -9 of the leader,
 * each timed to the first call the new leader answers, the dead member
 * restarted in between. Prints the bench lines (tests/bench/run):
 * c cluster_failover_ms MEDIAN, c cluster_failover_ms_p99 P99 and
 * c cluster_acked_lost N (acknowledged ticks a read after a kill missed:
 * must be 0), then c cluster_call_rtt_us (the median of 1000 committed
 * reads) and c cluster_idle_cpu_pct (the three members' CPU over 2 s
 * idle, in % of one core). Returns 0, or 1 after saying which round
 * failed. */
int failover_bench(const char *self, int rounds);

#endif
