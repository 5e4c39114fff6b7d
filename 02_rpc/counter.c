/*
 * counter.c - the counter of 01_simple, spoken to through rpc.
 * See counter.h for the API; counter.erl is the Erlang it mirrors.
 */
#include <errno.h>

#include "counter.h"
#include "rpc.h"

#define COUNTER ATOM("counter")     /* the name the process is registered as */

/* ---- The process --------------------------------------------------------- */

/* Handles one message, updating *count. Returns false when the process
 * should end. A message of no known shape is dropped: in Erlang it would
 * stay in the mailbox forever, unmatched, and slow every later receive. */
static bool handle(term msg, int64_t *count)
{
    term n, from;
    if (match(msg, TUPLE(ATOM("stop"), ANY)))
        return false;
    if (match(msg, TUPLE(TUPLE(ATOM("tick"), VAR(&n)), ANY)) && is_int(n)) {
        if (__builtin_add_overflow(*count, n.u.integer, count))
            erl_exit_self(ATOM("badarith"));   /* C integers end; Erlang's don't */
        return true;
    }
    if (match(msg, TUPLE(ATOM("read"), VAR(&from))))
        rpc_reply(from, INT(*count));           /* {Ref, Count} */
    if (match(msg, TUPLE(TUPLE(ATOM("sleep"), VAR(&n)), VAR(&from))) && is_int(n)) {
        erl_sleep((int)n.u.integer);            /* a slow request */
        rpc_reply(from, ATOM("ok"));
    }
    return true;
}

/* loop(Count): takes messages one at a time until {stop, From}. The count
 * lives in this process alone; the only way to it is a message. */
static void counter_loop(term arg)
{
    int64_t count = arg.u.integer;
    bool running = true;
    while (running) {
        term msg = erl_receive(ANY, ERL_INFINITY);
        running = handle(msg, &count);
        erl_drop(msg);
    }
}

/* ---- The client API ------------------------------------------------------ */

int counter_start(void)
{
    term pid = erl_spawn(counter_loop, INT(0));
    if (is_none(pid))
        return -1;
    if (erl_register(COUNTER, pid) < 0) {
        /* The original leaves this second process running, nameless and
         * unreachable. Kill it instead. */
        int saved = errno;
        erl_exit(pid, ATOM("kill"));
        errno = saved;
        return -1;
    }
    return 0;
}

int counter_stop(void)
{
    return rpc_cast(COUNTER, ATOM("stop"));
}

int counter_tick(int64_t n)
{
    return rpc_cast(COUNTER, TUPLE(ATOM("tick"), INT(n)));
}

int counter_read(int64_t *count)
{
    term reply = rpc_call(COUNTER, ATOM("read"), COUNTER_TIMEOUT);
    if (is_none(reply))
        return -1;
    if (!is_int(reply)) {           /* only a broken server sends this */
        erl_drop(reply);
        errno = EPROTO;
        return -1;
    }
    *count = reply.u.integer;
    return 0;
}

int counter_slow(int ms, int timeout_ms)
{
    term reply = rpc_call(COUNTER, TUPLE(ATOM("sleep"), INT(ms)), timeout_ms);
    if (is_none(reply))
        return -1;
    erl_drop(reply);
    return 0;
}
