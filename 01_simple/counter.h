/*
 * counter.h - a counter in a process of its own, with spawn, send, receive.
 *
 * The process runs loop(Count) and is registered as `counter`. The API sends
 * it the messages of the Erlang original:
 *
 *   {stop, From}        stop: the process ends
 *   {tick, N, From}     tick: Count + N
 *   {read, From}        read: the process replies with the bare integer Count
 *
 * and read takes the reply with a receive-anything, like the original. That
 * is this chapter's weakness: any message already in the caller's mailbox is
 * taken as the reply. 02_rpc fixes it.
 */
#ifndef COUNTER_H
#define COUNTER_H

#include <stdint.h>

#include "erl.h"

/* start(): spawns a process running loop(0) and registers it as counter.
 * Returns 0 (Erlang: true), or -1 with errno EEXIST if counter is already
 * registered (Erlang: badarg) or EAGAIN if no process can be spawned. */
int counter_start(void);

/* stop(): sends {stop, self()}. The process ends soon after; the name goes
 * with it. Returns 0 (ok), or -1 with errno ESRCH when no process is
 * registered as counter (Erlang: badarg). */
int counter_stop(void);

/* tick(N): sends {tick, N, self()}. Returns 0 (ok), or -1 with errno ESRCH
 * when counter is not registered. */
int counter_tick(int64_t n);

/* read(): sends {read, self()} and returns the first message in the caller's
 * mailbox, waiting forever for one: normally the count, an integer, but
 * whatever else was waiting there if anything was. A boxed result (tuple,
 * list, binary) is the caller's until erl_drop. Returns NONE with errno ESRCH
 * when counter is not registered. */
term counter_read(void);

#endif
