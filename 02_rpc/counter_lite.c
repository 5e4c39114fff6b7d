/*
 * counter_lite.c - the counter as a callback module of gen_server_lite.
 * See counter_lite.h; counter_lite.erl is the Erlang it mirrors.
 */
#include <errno.h>

#include "counter.h"
#include "counter_lite.h"
#include "gen_server_lite.h"

#define COUNTER_LITE ATOM("counter_lite")   /* its registered name */

/* ---- Callbacks ----------------------------------------------------------- */

static struct gen_server_lite_result handle_call(term request, term count)
{
    if (is_atom_named(request, "read"))
        return (struct gen_server_lite_result){false, count, count};
    return (struct gen_server_lite_result){false, ATOM("unknown_call"), count};
}

static struct gen_server_lite_result handle_cast(term request, term count)
{
    term n;
    int64_t sum;
    if (is_atom_named(request, "stop"))
        return (struct gen_server_lite_result){true, NONE, count};
    if (match(request, TUPLE(ATOM("tick"), VAR(&n))) && is_int(n)) {
        if (__builtin_add_overflow(count.u.integer, n.u.integer, &sum))
            erl_exit_self(ATOM("badarith"));
        return (struct gen_server_lite_result){false, NONE, INT(sum)};
    }
    return (struct gen_server_lite_result){false, NONE, count};
}

static const struct gen_server_lite_module counter_lite = {
    .name = "counter_lite",
    .handle_call = handle_call,
    .handle_cast = handle_cast,
};

/* ---- The client API ------------------------------------------------------ */

int counter_lite_start(void)
{
    term pid = gen_server_lite_start(COUNTER_LITE, &counter_lite, INT(0));
    return is_none(pid) ? -1 : 0;
}

int counter_lite_stop(void)
{
    return gen_server_lite_cast(COUNTER_LITE, ATOM("stop"));
}

int counter_lite_tick(int64_t n)
{
    return gen_server_lite_cast(COUNTER_LITE, TUPLE(ATOM("tick"), INT(n)));
}

int counter_lite_read(int64_t *count)
{
    term reply = gen_server_lite_call(COUNTER_LITE, ATOM("read"), COUNTER_TIMEOUT);
    if (is_none(reply))
        return -1;
    if (!is_int(reply)) {
        erl_drop(reply);
        errno = EPROTO;
        return -1;
    }
    *count = reply.u.integer;
    return 0;
}
