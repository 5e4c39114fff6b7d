/*
 * counter.h - the counter of 01_simple, spoken to through rpc.
 *
 * The process runs loop(Count) and is registered as `counter`. The API is a
 * thin layer over rpc (rpc.h):
 *
 *   stop()     rpc_cast(counter, stop)       sends {stop, self()}
 *   tick(N)    rpc_cast(counter, {tick, N})  sends {{tick, N}, self()}
 *   read()     rpc_call(counter, read, T)    sends {read, {self(), Ref}},
 *                                            takes only {Ref, Count}
 *   slow(Ms, T) rpc_call(counter, {sleep, Ms}, T)  answers ok after Ms
 *
 * A stray message in the caller's mailbox can no longer pass for the count,
 * and read gives up after a timeout instead of waiting forever.
 */
#ifndef COUNTER_H
#define COUNTER_H

#include <stdint.h>

#include "erl.h"

#define COUNTER_TIMEOUT 5000    /* ms read() waits for its reply */

/* start(): spawns a process running loop(0) and registers it as counter.
 * Returns 0 (Erlang: true), or -1 with errno EEXIST if counter is already
 * registered (Erlang: badarg) or EAGAIN if no process can be spawned. */
int counter_start(void);

/* stop(): the process ends soon after; the name goes with it. Returns 0
 * (ok), or -1 with errno ESRCH when no process is registered as counter. */
int counter_stop(void);

/* tick(N): adds N to the count. Returns 0 (ok), or -1 with errno ESRCH when
 * counter is not registered. */
int counter_tick(int64_t n);

/* read(): stores the count in *count and returns 0, or returns -1 with errno
 * ESRCH (counter is not registered) or ETIMEDOUT (no reply within
 * COUNTER_TIMEOUT ms). Other messages in the caller's mailbox stay there. */
int counter_read(int64_t *count);

/* slow(Ms, Timeout): rpc_call(counter, {sleep, Ms}, Timeout), a request that
 * keeps the counter busy ms milliseconds before it answers ok. Returns 0, or
 * -1 with errno ESRCH or ETIMEDOUT (ms longer than timeout_ms): the reply
 * then comes later and stays in the caller's mailbox as {Ref, ok}. */
int counter_slow(int ms, int timeout_ms);

#endif
