/*
 * counter.h - the study's counter on a cluster (gen_server_cluster's
 * counter.erl): the same callbacks as 03's, run by every member, and the
 * API over a cluster client.
 *
 *   counter_start_cluster   start_cluster(): this node's member
 *   counter_read            read(): a call, through the log
 *   counter_tick            tick(N): a cast, as the original's
 *   counter_tick_sync       tick(N) as a call: returns the new count once
 *                           it is committed (the tests' acknowledged tick)
 *   counter_stop            stop(): a cast of stop, whose callback stops;
 *                           here every member stops (the original: only the
 *                           leader, and a backup takes over)
 */
#ifndef COUNTER_H
#define COUNTER_H

#include "cluster.h"

#define COUNTER ATOM("counter")     /* the cluster's name */

/* The counter's callbacks (a count; read, {tick, N}, stop). */
extern const struct gen_server_module counter_module;

/* Starts this node's member with count 0. Returns its pid, or NONE with
 * *error as cluster_start's. */
term counter_start_cluster(const struct cluster_options *opts, term *error);

/* The count, or NONE with *error as cluster_call's (timeout_ms the most
 * to wait for a leader). */
term counter_read(struct cluster_client *c, int timeout_ms, term *error);

/* Adds n, without waiting. */
void counter_tick(struct cluster_client *c, int64_t n);

/* Adds n and returns the count after it, once committed; NONE with *error
 * as cluster_call's. */
term counter_tick_sync(struct cluster_client *c, int64_t n, int timeout_ms, term *error);

/* stop(): casts stop; its entry, once committed, stops every member (the
 * cluster layer's rule, cluster.h). Without waiting: a cast, which can be
 * lost as any (the members then go on). */
void counter_stop(struct cluster_client *c);

#endif
