/*
 * gen_server_probe.h - what 03's suites share (test_03_gen_server.c,
 * test_03_gen_server_sys.c): "probe", a small callback module whose
 * requests make each callback return each of OTP's results, and a starter
 * process. Its state is {Owner, Value}: Owner (the test thread) hears about
 * terminate and handle_info, so a test can see the callbacks run.
 *
 * Everything here is static (see test_util.h); a suite that leaves some of
 * it unused is not warned (the pragma below).
 */
#ifndef GEN_SERVER_PROBE_H
#define GEN_SERVER_PROBE_H

#pragma GCC diagnostic ignored "-Wunused-function"
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <string.h>

#include "03_gen_server/counter.h"
#include "03_gen_server/shell_cmds.h"
#include "common/otp/sys.h"
#include "test_util.h"
#include "tour_check.h"

/* ---- The probe module ---------------------------------------------------- */

/* A new state {Owner, Value}, kept so it outlives the callback. */
static term st(term old, term value)
{
    return term_keep(TUPLE(element(1, old), value));
}

/* args {Mode, Owner, Value}: Mode ok | trap | ignore | stop | bad. */
static gen_result probe_init(term args)
{
    term mode = element(1, args);
    term state = term_keep(TUPLE(element(2, args), element(3, args)));
    if (is_atom_named(mode, "ignore"))
        return gen_ignore();
    if (is_atom_named(mode, "stop"))
        return gen_stop(element(3, args), NONE);
    if (is_atom_named(mode, "bad"))
        return gen_noreply(state);
    if (is_atom_named(mode, "trap"))
        erl_trap_exit(true);
    return gen_ok(state);
}

/*
 *   get               {reply, Value, S}
 *   {set, V}          {reply, ok, {Owner, V}}
 *   defer             tells Owner {deferred, Self}, then {noreply, {Owner, From}}:
 *                     the cast {answer, X} replies later
 *   {stop, R}         {stop, R, S}
 *   {stop_reply, R, X}  {stop, R, X, S}
 *   {sleep, Ms}       sleeps, then {reply, ok, S}
 *   {exit, R}         exit(R) in the middle of the call
 *   bad               {ok, S}: not a handle_call result
 */
static gen_result probe_call(term req, term from, term s)
{
    term v, r;
    if (is_atom_named(req, "get"))
        return gen_reply(element(2, s), s);
    if (match(req, TUPLE(ATOM("set"), VAR(&v))))
        return gen_reply(ATOM("ok"), st(s, v));
    if (is_atom_named(req, "defer")) {
        erl_send(element(1, s), TUPLE(ATOM("deferred"), erl_self()));
        return gen_noreply(st(s, from));
    }
    if (match(req, TUPLE(ATOM("stop"), VAR(&r))))
        return gen_stop(r, s);
    if (match(req, TUPLE(ATOM("stop_reply"), VAR(&r), VAR(&v))))
        return gen_stop_reply(r, v, s);
    if (match(req, TUPLE(ATOM("sleep"), VAR(&v)))) {
        erl_sleep((int)v.u.integer);
        return gen_reply(ATOM("ok"), s);
    }
    if (match(req, TUPLE(ATOM("exit"), VAR(&r))))
        erl_exit_self(r);
    return gen_ok(s);
}

/*   {set, V}     {noreply, {Owner, V}}
 *   {answer, X}  replies X to the deferred From in Value
 *   {stop, R}    {stop, R, S}
 *   bad          {reply, x, S}: not a handle_cast result */
static gen_result probe_cast(term req, term s)
{
    term v, r;
    if (match(req, TUPLE(ATOM("set"), VAR(&v))))
        return gen_noreply(st(s, v));
    if (match(req, TUPLE(ATOM("answer"), VAR(&v)))) {
        gen_server_reply(element(2, s), v);
        return gen_noreply(st(s, INT(0)));
    }
    if (match(req, TUPLE(ATOM("stop"), VAR(&r))))
        return gen_stop(r, s);
    return gen_reply(ATOM("x"), s);
}

/* {stop_info, R} stops; anything else goes to Owner as {info, Self, Msg}. */
static gen_result probe_info(term msg, term s)
{
    term r;
    if (match(msg, TUPLE(ATOM("stop_info"), VAR(&r))))
        return gen_stop(r, s);
    erl_send(element(1, s), TUPLE(ATOM("info"), erl_self(), msg));
    return gen_noreply(s);
}

/* Tells Owner {terminated, Self, Reason, Value}. */
static void probe_terminate(term reason, term s)
{
    erl_send(element(1, s), TUPLE(ATOM("terminated"), erl_self(), reason,
                                  element(2, s)));
}

static const struct gen_server_module probe = {
    .name = "probe",
    .init = probe_init,
    .handle_call = probe_call,
    .handle_cast = probe_cast,
    .handle_info = probe_info,
    .terminate = probe_terminate,
};

/* A module with init only: every other callback has OTP's default. */
static gen_result bare_init(term args) { return gen_ok(args); }
static const struct gen_server_module bare = {.name = "bare", .init = bare_init};

/* Starts a probe (mode ok, or trap) linked to the test thread, value v. */
static term probe_start(const char *mode, term v)
{
    term error = NONE;
    term pid = gen_server_start_link(NONE, &probe,
                                     TUPLE(atom_from(mode), erl_self(), v), &error);
    cr_assert(is_pid(pid), "start failed: %s", FMT(error));
    return pid;
}

/* Calls pid and asserts it replied. */
static term call_ok(term pid, term req)
{
    term error = NONE;
    term reply = gen_server_call(pid, req, WAIT_MS, &error);
    cr_assert(!is_none(reply), "call %s failed: %s", FMT(req), FMT(error));
    return reply;
}

/* Calls pid and asserts it failed; returns the error. */
static term call_fails(term pid, term req, int timeout_ms)
{
    term error = NONE;
    term reply = gen_server_call(pid, req, timeout_ms, &error);
    cr_assert(is_none(reply), "call %s answered %s", FMT(req), FMT(reply));
    return error;
}

/* Waits for the probe's {terminated, Pid, Reason, Value}; returns Reason. */
static term await_terminated(term pid)
{
    term reason;
    await(TUPLE(ATOM("terminated"), pid, VAR(&reason), ANY), "terminate");
    return reason;
}

/* ---- A starter process --------------------------------------------------- */

/*
 * starter({Owner, Mode, Trap}): traps exits if Trap, start_links a probe in
 * Mode, tells Owner {started, Self, PidOrNone, Error}, then obeys
 * {exit, Reason}. It is the server's parent: the process that started it.
 */
static void starter(term arg)
{
    term owner = element(1, arg);
    erl_trap_exit(is_atom_named(element(3, arg), "true"));
    term error = NONE;
    term pid = gen_server_start_link(NONE, &probe,
                                     TUPLE(element(2, arg), owner, INT(7)), &error);
    erl_send(owner, TUPLE(ATOM("started"), erl_self(), is_none(pid) ? ATOM("none") : pid,
                          is_none(error) ? ATOM("none") : error));
    term reason;
    erl_receive(TUPLE(ATOM("exit"), VAR(&reason)), ERL_INFINITY);
    erl_exit_self(reason);
}

/* Spawns a starter; returns its pid and sets *server (NONE if the start
 * failed) and *error. */
static term spawn_starter(const char *mode, bool trap, term *server, term *error)
{
    term m = atom_from(mode);
    term me = erl_self();
    term s = erl_spawn(starter, TUPLE(me, m, trap ? ATOM("true") : ATOM("false")));
    term pid, err;
    await(TUPLE(ATOM("started"), s, VAR(&pid), VAR(&err)), "starter's report");
    *server = is_atom(pid) ? NONE : pid;
    if (error)
        *error = err;
    return s;
}

/* caller({Owner, Server, Request, Timeout}): calls, then tells Owner
 * {answer, Self, {ok, Reply} | {error, Error}}. */
static void caller(term arg)
{
    term error = NONE;
    term reply = gen_server_call(element(2, arg), element(3, arg),
                                 (int)element(4, arg).u.integer, &error);
    term result = is_none(reply) ? TUPLE(ATOM("error"), error) : TUPLE(ATOM("ok"), reply);
    erl_send(element(1, arg), TUPLE(ATOM("answer"), erl_self(), result));
}

/* Spawns a caller of server with request. */
static term spawn_caller(term server, term req)
{
    return erl_spawn(caller, TUPLE(erl_self(), server, req, INT(WAIT_MS)));
}

/* Waits for a caller's answer and returns it: {ok, Reply} | {error, E}. */
static term await_answer(term c)
{
    term result;
    await(TUPLE(ATOM("answer"), c, VAR(&result)), "the caller's answer");
    return result;
}

static void setup(void) { start_runtime(); }
static void teardown(void) { stop_runtime(); }

#endif
