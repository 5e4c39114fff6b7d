/*
 * counter.h - the counter of 05_application: 04's gen_server, registered
 * globally so that read/tick work from every node.
 *
 * As in 04_supervisor (init traps exits, handle_call(read), handle_cast
 * {tick, N} and stop, terminate prints), and new: init registers the
 * server as global counter (counter.erl's start_link({global, counter},
 * ...)) besides the local name counter, which is what a BEAM node can reach
 * ({counter, Node}: BEAM's global does not see C nodes' names). The API
 * goes to {global, counter}, wherever the counter runs.
 */
#ifndef COUNTER_H
#define COUNTER_H

#include <stdint.h>

#include "gen_server.h"

#define COUNTER ATOM("counter")     /* the local and the global name */

/* The callbacks. */
extern const struct gen_server_module counter_module;

/* start_link(Initial): the counter, registered locally and globally, linked
 * to the caller. Returns the pid, or NONE with *error set to
 * {already_started, Pid} (either name is held). */
term counter_start_link(int64_t initial, term *error);

/* read(): the count, from wherever the counter runs; NONE with *error set
 * to noproc (no node runs it), timeout, or {nodedown, Node}. */
term counter_read(term *error);

/* global:register_name(Name, Pid), waiting (up to 2 s) while the name is
 * refused because a peer still has a holder this node knows gone: after a
 * failover, a peer may not yet have seen the old node go down. Returns 0,
 * or -1 with errno as global_register_name (EEXIST: a live holder). */
int counter_register_global(term name, term pid);

/* tick(N), stop(): casts to {global, counter}; never fail (dropped while
 * no node runs it, as OTP's). */
void counter_tick(int64_t n);
void counter_stop(void);

#endif
