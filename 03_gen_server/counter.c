/*
 * counter.c - the counter's callbacks and API. See counter.h.
 *
 * Compare with 02_rpc's gen_server lite: the callbacks are the same
 * functions; the loop, the tags and the timeouts moved into the behaviour.
 * A request no clause matches crashes the server with function_clause, as
 * the Erlang original (which has no catch-all clause) does.
 */
#include "counter.h"

/* ---- Callbacks ----------------------------------------------------------- */

static gen_result init(term initial)
{
    return gen_ok(initial);                         /* {ok, 0} */
}

static gen_result handle_call(term request, term from, term count)
{
    (void)from;
    term ms;
    if (is_atom_named(request, "read"))
        return gen_reply(count, count);             /* {reply, N, N} */
    if (match(request, TUPLE(ATOM("sleep"), VAR(&ms))) && is_int(ms)) {
        erl_sleep((int)ms.u.integer);               /* a slow request */
        return gen_reply(ATOM("ok"), count);
    }
    return gen_stop(ATOM("function_clause"), count);
}

static gen_result handle_cast(term request, term count)
{
    term n;
    int64_t sum;
    if (match(request, TUPLE(ATOM("tick"), VAR(&n))) && is_int(n)) {
        if (__builtin_add_overflow(count.u.integer, n.u.integer, &sum))
            erl_exit_self(ATOM("badarith"));   /* C integers end; Erlang's don't */
        return gen_noreply(INT(sum));
    }
    if (is_atom_named(request, "stop"))
        return gen_stop(ATOM("normal"), count);     /* {stop, normal, N} */
    if (is_atom_named(request, "crash"))
        return gen_stop(ATOM("boom"), count);       /* an abnormal exit */
    return gen_stop(ATOM("function_clause"), count);
}

static gen_result code_change(term old_vsn, term count, term extra)
{
    (void)old_vsn, (void)extra;
    return gen_ok(count);                           /* {ok, State} */
}

const struct gen_server_module counter_module = {
    .name = "counter",
    .init = init,
    .handle_call = handle_call,
    .handle_cast = handle_cast,
    .handle_info = NULL,        /* OTP's default: report and ignore */
    .terminate = NULL,          /* nothing to clean up */
    .code_change = code_change,
};

/* ---- API ----------------------------------------------------------------- */

term counter_start_link(term *error)
{
    return gen_server_start_link(COUNTER, &counter_module, INT(0), error);
}

term counter_read(term *error)
{
    return gen_server_call(COUNTER, ATOM("read"), GEN_DEFAULT_TIMEOUT, error);
}

void counter_tick(int64_t n)
{
    gen_server_cast(COUNTER, TUPLE(ATOM("tick"), INT(n)));
}

void counter_stop(void)
{
    gen_server_cast(COUNTER, ATOM("stop"));
}

void counter_crash(void)
{
    gen_server_cast(COUNTER, ATOM("crash"));
}

term counter_slow(int ms, int timeout_ms, term *error)
{
    return gen_server_call(COUNTER, TUPLE(ATOM("sleep"), INT(ms)), timeout_ms, error);
}
