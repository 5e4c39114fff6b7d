/*
 * counter.h - the counter as a gen_server (common/otp/gen_server.h).
 *
 * The behaviour owns the process, the loop, the replies, the timeouts and
 * termination; counter.c holds only the counter's logic, in callbacks:
 *
 *   init(0)                     {ok, 0}
 *   handle_call(read)           {reply, Count, Count}
 *   handle_call({sleep, Ms})    sleeps Ms, then {reply, ok, Count}
 *   handle_cast({tick, N})      {noreply, Count + N}
 *   handle_cast(stop)           {stop, normal, Count}
 *   handle_cast(crash)          {stop, boom, Count}: an abnormal exit
 *   code_change                 the identity
 *
 * The server is registered as `counter`.
 */
#ifndef COUNTER_H
#define COUNTER_H

#include <stdint.h>

#include "gen_server.h"

#define COUNTER ATOM("counter")     /* the registered name */

/* The callbacks, for gen_server_start and sys_change_code. */
extern const struct gen_server_module counter_module;

/* start_link(): gen_server:start_link({local, counter}, counter, 0, []).
 * Starts the server linked to the caller. Returns its pid, or NONE with
 * *error set to {already_started, Pid} when counter is running. */
term counter_start_link(term *error);

/* read(): gen_server:call(counter, read). Returns the count (an integer), or
 * NONE with *error set to noproc, timeout or the reason the counter died
 * with during the call. */
term counter_read(term *error);

/* tick(N): gen_server:cast(counter, {tick, N}). Never fails. */
void counter_tick(int64_t n);

/* stop(): gen_server:cast(counter, stop); the counter stops with normal.
 * Never fails (a cast to nobody is dropped). */
void counter_stop(void);

/* crash: gen_server:cast(counter, crash); the counter stops with boom. */
void counter_crash(void);

/* A call that keeps the counter busy for ms: gen_server:call(counter,
 * {sleep, Ms}, Timeout). Returns ok, or NONE with *error set as read does:
 * timeout when ms > timeout_ms. */
term counter_slow(int ms, int timeout_ms, term *error);

#endif
