/*
 * sys.c - the sys module's client side. See sys.h for the contract; the
 * server side is in gen_server_sys.c, called by the loop that owns the state.
 */
#include <stdint.h>

#include "sys.h"

/* A system call: {system, {self(), Tag}, Request}. When the call fails,
 * *error becomes {Reason, {sys, F, Args}}, as sys exits with it: fn and args
 * name the sys function and its arguments as OTP's mfa/2 does. */
static term sys_call(term server, term request, const char *fn, term args,
                     int timeout_ms, term *error)
{
    term why = NONE;
    term reply = gen_call(server, ATOM("system"), request, timeout_ms, &why);
    if (is_none(reply) && error)
        *error = term_keep(TUPLE(why, TUPLE(ATOM("sys"), atom_from(fn), args)));
    return reply;
}

/* A system call whose answer is ok: 0, or -1 with *error set (to the call's
 * error, or to Why of an {error, Why} answer). */
static int sys_call_ok(term server, term request, const char *fn, term args,
                       int timeout_ms, term *error)
{
    term reply = sys_call(server, request, fn, args, timeout_ms, error);
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
    return sys_call(server, ATOM("get_state"), "get_state", LIST(server),
                    timeout_ms, error);
}

term sys_replace_state(term server, sys_state_fn fn, term arg, int timeout_ms,
                       term *error)
{
    /* Code addresses mean the same in every process: it goes as an integer.
     * OTP names a failed replace_state {sys, {replace_state, Fun}, [Name]}:
     * the request stands where the function name would. */
    term req = TUPLE(ATOM("replace_state"), INT((intptr_t)fn), arg);
    term why = NONE;
    term reply = gen_call(server, ATOM("system"), req, timeout_ms, &why);
    if (is_none(reply) && error)
        *error = term_keep(TUPLE(why, TUPLE(ATOM("sys"), req, LIST(server))));
    return reply;
}

int sys_suspend(term server, int timeout_ms, term *error)
{
    return sys_call_ok(server, ATOM("suspend"), "suspend", LIST(server),
                       timeout_ms, error);
}

int sys_resume(term server, int timeout_ms, term *error)
{
    return sys_call_ok(server, ATOM("resume"), "resume", LIST(server),
                       timeout_ms, error);
}

int sys_trace(term server, bool on, int timeout_ms, term *error)
{
    term flag = on ? ATOM("true") : ATOM("false");
    term req = TUPLE(ATOM("debug"), TUPLE(ATOM("trace"), flag));
    return sys_call_ok(server, req, "trace", LIST(server, flag), timeout_ms, error);
}

term sys_statistics(term server, term flag, int timeout_ms, term *error)
{
    term req = TUPLE(ATOM("debug"), TUPLE(ATOM("statistics"), flag));
    return sys_call(server, req, "statistics", LIST(server, flag), timeout_ms, error);
}

term sys_get_status(term server, int timeout_ms, term *error)
{
    return sys_call(server, ATOM("get_status"), "get_status", LIST(server),
                    timeout_ms, error);
}

int sys_change_code(term server, const struct gen_server_module *mod,
                    term old_vsn, term extra, int timeout_ms, term *error)
{
    term req = TUPLE(ATOM("change_code"), INT((intptr_t)mod), old_vsn, extra);
    term name = mod ? atom_from(mod->name) : ATOM("undefined");
    return sys_call_ok(server, req, "change_code", LIST(server, name, old_vsn, extra),
                       timeout_ms, error);
}
