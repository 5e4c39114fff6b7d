/*
 * sys.c - the sys module's client side. See sys.h for the contract; the
 * server side is in gen_server.c, in the loop that owns the state.
 */
#include <stdint.h>

#include "sys.h"

/* A system call: {system, {self(), Tag}, Request}. */
static term sys_call(term server, term request, int timeout_ms, term *error)
{
    return gen_call(server, ATOM("system"), request, timeout_ms, error);
}

/* A system call whose answer is ok: 0, or -1 with *error set. */
static int sys_call_ok(term server, term request, int timeout_ms, term *error)
{
    term reply = sys_call(server, request, timeout_ms, error);
    if (is_none(reply))
        return -1;
    if (is_atom_named(reply, "ok"))
        return 0;
    if (error)
        *error = match(reply, TUPLE(ATOM("error"), ANY)) ? element(2, reply) : reply;
    return -1;
}

term sys_get_state(term server, int timeout_ms, term *error)
{
    return sys_call(server, ATOM("get_state"), timeout_ms, error);
}

term sys_replace_state(term server, sys_state_fn fn, term arg, int timeout_ms,
                       term *error)
{
    /* Code addresses mean the same in every process: it goes as an integer. */
    term req = TUPLE(ATOM("replace_state"), INT((intptr_t)fn), arg);
    return sys_call(server, req, timeout_ms, error);
}

int sys_suspend(term server, int timeout_ms, term *error)
{
    return sys_call_ok(server, ATOM("suspend"), timeout_ms, error);
}

int sys_resume(term server, int timeout_ms, term *error)
{
    return sys_call_ok(server, ATOM("resume"), timeout_ms, error);
}

int sys_trace(term server, bool on, int timeout_ms, term *error)
{
    term flag = on ? ATOM("true") : ATOM("false");
    term req = TUPLE(ATOM("debug"), TUPLE(ATOM("trace"), flag));
    return sys_call_ok(server, req, timeout_ms, error);
}

term sys_statistics(term server, term flag, int timeout_ms, term *error)
{
    term req = TUPLE(ATOM("debug"), TUPLE(ATOM("statistics"), flag));
    return sys_call(server, req, timeout_ms, error);
}

term sys_get_status(term server, int timeout_ms, term *error)
{
    return sys_call(server, ATOM("get_status"), timeout_ms, error);
}

int sys_change_code(term server, const struct gen_server_module *mod,
                    term old_vsn, term extra, int timeout_ms, term *error)
{
    term req = TUPLE(ATOM("change_code"), INT((intptr_t)mod), old_vsn, extra);
    return sys_call_ok(server, req, timeout_ms, error);
}
