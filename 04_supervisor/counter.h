/*
 * counter.h - the counter as a gen_server, ready to be supervised.
 *
 * As in 03_gen_server, with what a supervised worker needs:
 *   init(Initial)               traps exits, {ok, Initial}
 *   handle_call(read)           {reply, Count, Count}
 *   handle_cast({tick, N})      {noreply, Count + N}
 *   handle_cast(stop)           {stop, normal, Count}
 *   handle_info(Msg)            prints it, {noreply, Count}
 *   terminate(Reason, Count)    prints it
 * and four ways to crash it, to watch the supervisor restart it:
 *   kill                        exit(Counter, kill): untrappable
 *   handle_cast(error)          exit(boom) from inside the callback
 *   handle_cast({divide, D})    Count div D; D = 0 faults (SIGFPE): badarith
 *   handle_cast({load, Addr})   Count + *Addr; Addr = 0 faults (SIGSEGV)
 *
 * The server is registered as `counter`. It keeps no state across a crash:
 * a restarted counter begins again at its initial value.
 */
#ifndef COUNTER_H
#define COUNTER_H

#include <stdint.h>

#include "gen_server.h"

#define COUNTER ATOM("counter")     /* the registered name */

/* The callbacks. */
extern const struct gen_server_module counter_module;

/* start_link(Initial): gen_server:start_link({local, counter}, counter,
 * Initial, []). Returns the pid, or NONE with *error set to
 * {already_started, Pid}. */
term counter_start_link(int64_t initial, term *error);

/* read(): the count, or NONE with *error set to noproc, timeout or the
 * reason the counter died with during the call. */
term counter_read(term *error);

/* tick(N), stop(): casts; never fail. */
void counter_tick(int64_t n);
void counter_stop(void);

/* The crashes. Each returns the pid it aimed at, or NONE when no counter
 * is registered (then nothing was sent). */
term counter_kill(void);        /* exit(whereis(counter), kill) */
term counter_error(void);       /* cast error: exit(boom) */
term counter_divzero(void);     /* cast {divide, 0} */
term counter_nullptr(void);     /* cast {load, 0} */
term counter_spin(void);        /* cast spin: a tick that never returns */

#endif
