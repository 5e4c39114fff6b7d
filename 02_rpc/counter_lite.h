/*
 * counter_lite.h - the counter as a callback module of gen_server_lite.
 *
 * Registered as `counter_lite`. Its callbacks are the whole of its logic:
 *   handle_call(read, N)      -> reply N
 *   handle_cast({tick, T}, N) -> N + T
 *   handle_cast(stop, N)      -> stop
 */
#ifndef COUNTER_LITE_H
#define COUNTER_LITE_H

#include <stdint.h>

#include "erl.h"

/* Starts the server at 0. Returns 0, or -1 with errno EEXIST or EAGAIN. */
int counter_lite_start(void);

/* cast(stop). Returns 0, or -1 with errno ESRCH when it is not running. */
int counter_lite_stop(void);

/* cast({tick, N}). Returns 0, or -1 with errno ESRCH. */
int counter_lite_tick(int64_t n);

/* call(read): stores the count in *count and returns 0, or returns -1 with
 * errno ESRCH or ETIMEDOUT (after COUNTER_TIMEOUT ms, as counter_read). */
int counter_lite_read(int64_t *count);

#endif
