/*
 * tour.h - the chapter's tour (make run): three nodes of this program on
 * loopback, driven through their shells.
 */
#ifndef TOUR_H
#define TOUR_H

/* Runs the tour: an epmd of its own on a free loopback port, nodes a, b
 * and c started as `exe --node X@localhost --config DIR/X.config --cookie
 * C`, reads and ticks from every node, kill -9 of a, the failover to b
 * (its count back at 0), a started again and its takeover. Every wait
 * polls for its event with a deadline (60 s); everything started is
 * stopped at the end, on a failed step and on SIGINT/SIGTERM. Returns 0,
 * 1 when a step failed (after saying which), 69 when epmd is missing. */
int tour_run(const char *exe, const char *dir);

#endif
