/*
 * test_03_gen_server.c - the gen_server contract, the sys module, and the
 * counter of 03_gen_server.
 *
 * Most tests drive "probe", a small callback module below whose requests
 * make each callback return each of OTP's results. Its state is
 * {Owner, Value}: Owner (the test thread) hears about terminate and
 * handle_info, so a test can see the callbacks run.
 */
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

/* ---- init ---------------------------------------------------------------- */

TestSuite(gen_server_init, .init = setup, .fini = teardown, .timeout = 30);

Test(gen_server_init, ok_returns_a_pid_that_serves_calls)
{
    term pid = probe_start("ok", INT(41));
    cr_assert(erl_is_alive(pid));
    cr_assert(term_eq(call_ok(pid, ATOM("get")), INT(41)));
}

Test(gen_server_init, ignore_returns_none_with_ignore_and_no_name)
{
    term error = NONE;
    term pid = gen_server_start(ATOM("ign"), &probe,
                                TUPLE(ATOM("ignore"), erl_self(), INT(0)), 0, &error);
    cr_assert(is_none(pid));
    cr_assert(is_atom_named(error, "ignore"), "error %s", FMT(error));
    cr_assert(is_none(erl_whereis(ATOM("ign"))));
}

Test(gen_server_init, stop_returns_reason_and_linked_caller_gets_the_exit)
{
    term error = NONE;
    term pid = gen_server_start_link(ATOM("stp"), &probe,
                                     TUPLE(ATOM("stop"), erl_self(), ATOM("nope")),
                                     &error);
    cr_assert(is_none(pid));
    cr_assert(is_atom_named(error, "nope"), "error %s", FMT(error));
    cr_assert(is_none(erl_whereis(ATOM("stp"))));
    /* The test thread traps exits: the link delivered the exit as a message. */
    await(TUPLE(ATOM("EXIT"), ANY, ATOM("nope")), "{'EXIT', Pid, nope}");
}

Test(gen_server_init, stop_kills_a_non_trapping_start_linker)
{
    /* The exit signal may kill the starter before it can report: watch it. */
    term ref;
    erl_spawn_monitor(starter, TUPLE(erl_self(), ATOM("stop"), ATOM("false")), &ref);
    expect_down(ref, INT(7));
}

Test(gen_server_init, bad_result_fails_with_bad_return_value)
{
    term error = NONE;
    term pid = gen_server_start(NONE, &probe, TUPLE(ATOM("bad"), erl_self(), INT(0)),
                                0, &error);
    cr_assert(is_none(pid));
    cr_assert(match(error, TUPLE(ATOM("bad_return_value"), TUPLE(ATOM("noreply"), ANY))),
              "error %s", FMT(error));
}

Test(gen_server_init, taken_name_fails_with_already_started)
{
    term a = gen_server_start(ATOM("twice"), &bare, INT(1), 0, NULL);
    cr_assert(is_pid(a));
    cr_assert(term_eq(erl_whereis(ATOM("twice")), a));
    term error = NONE;
    term b = gen_server_start(ATOM("twice"), &bare, INT(2), 0, &error);
    cr_assert(is_none(b));
    cr_assert(term_eq(error, TUPLE(ATOM("already_started"), a)), "error %s", FMT(error));
}

/* ---- handle_call --------------------------------------------------------- */

TestSuite(gen_server_call, .init = setup, .fini = teardown, .timeout = 30);

Test(gen_server_call, reply_answers_and_keeps_the_new_state)
{
    term pid = probe_start("ok", INT(1));
    cr_assert(term_eq(call_ok(pid, TUPLE(ATOM("set"), LIST(INT(1), STR("two")))),
                      ATOM("ok")));
    cr_assert(term_eq(call_ok(pid, ATOM("get")), LIST(INT(1), STR("two"))));
}

Test(gen_server_call, state_survives_many_messages)
{
    term pid = probe_start("ok", INT(0));
    for (int i = 0; i < 1000; i++) {
        erl_heap_mark_t mark = erl_heap_mark();
        call_ok(pid, TUPLE(ATOM("set"), TUPLE(INT(i), STR("state"), LIST(INT(i)))));
        erl_heap_release(mark);
    }
    cr_assert(term_eq(call_ok(pid, ATOM("get")),
                      TUPLE(INT(999), STR("state"), LIST(INT(999)))));
}

Test(gen_server_call, noreply_then_gen_server_reply_answers_later)
{
    term pid = probe_start("ok", INT(0));
    term c = spawn_caller(pid, ATOM("defer"));
    await(TUPLE(ATOM("deferred"), pid), "the deferred call");
    expect_no_message(TUPLE(ATOM("answer"), c, ANY));
    gen_server_cast(pid, TUPLE(ATOM("answer"), INT(42)));
    term result = await_answer(c);
    cr_assert(term_eq(result, TUPLE(ATOM("ok"), INT(42))), "got %s", FMT(result));
}

Test(gen_server_call, stop_with_reply_terminates_then_answers)
{
    term pid = probe_start("ok", INT(3));
    term ref = erl_monitor(pid);
    term reply = call_ok(pid, TUPLE(ATOM("stop_reply"), ATOM("done"), ATOM("bye")));
    cr_assert(term_eq(reply, ATOM("bye")));
    /* OTP calls terminate before sending the reply: its message is here. */
    term t = erl_receive(TUPLE(ATOM("terminated"), pid, ATOM("done"), INT(3)), 0);
    cr_assert(!is_none(t), "terminate had not run when the reply came");
    expect_down(ref, ATOM("done"));
}

Test(gen_server_call, stop_without_reply_fails_the_call_with_the_reason)
{
    term pid = probe_start("ok", INT(0));
    term error = call_fails(pid, TUPLE(ATOM("stop"), ATOM("enough")), WAIT_MS);
    cr_assert(is_atom_named(error, "enough"), "error %s", FMT(error));
    cr_assert(is_atom_named(await_terminated(pid), "enough"));
}

Test(gen_server_call, bad_result_stops_with_bad_return_value)
{
    term pid = probe_start("ok", INT(0));
    term error = call_fails(pid, ATOM("bad"), WAIT_MS);
    cr_assert(match(error, TUPLE(ATOM("bad_return_value"), TUPLE(ATOM("ok"), ANY))),
              "error %s", FMT(error));
}

Test(gen_server_call, missing_handle_call_crashes_with_undef)
{
    term pid = gen_server_start(NONE, &bare, INT(0), 0, NULL);
    cr_assert(is_pid(pid));
    term error = call_fails(pid, ATOM("hello"), WAIT_MS);
    cr_assert(match(error, TUPLE(ATOM("undef"),
                                 LIST(TUPLE(ATOM("bare"), ATOM("handle_call"), ANY, ANY)))),
              "error %s", FMT(error));
}

/* ---- Call errors --------------------------------------------------------- */

TestSuite(gen_server_errors, .init = setup, .fini = teardown, .timeout = 30);

Test(gen_server_errors, unregistered_name_fails_with_noproc)
{
    term error = call_fails(ATOM("nobody_here"), ATOM("get"), WAIT_MS);
    cr_assert(is_atom_named(error, "noproc"), "error %s", FMT(error));
}

Test(gen_server_errors, dead_pid_fails_with_noproc)
{
    term pid = probe_start("ok", INT(0));
    term ref = erl_monitor(pid);
    gen_server_cast(pid, TUPLE(ATOM("stop"), ATOM("normal")));
    expect_down(ref, ATOM("normal"));
    term error = call_fails(pid, ATOM("get"), WAIT_MS);
    cr_assert(is_atom_named(error, "noproc"), "error %s", FMT(error));
}

Test(gen_server_errors, slow_server_fails_with_timeout_and_lives_on)
{
    term pid = probe_start("ok", INT(5));
    term error = call_fails(pid, TUPLE(ATOM("sleep"), INT(300)), 50);
    cr_assert(is_atom_named(error, "timeout"), "error %s", FMT(error));
    cr_assert(term_eq(call_ok(pid, ATOM("get")), INT(5)));
}

Test(gen_server_errors, server_dying_during_the_call_fails_with_its_reason)
{
    term pid = probe_start("ok", INT(0));
    term error = call_fails(pid, TUPLE(ATOM("exit"), ATOM("gone")), WAIT_MS);
    cr_assert(is_atom_named(error, "gone"), "error %s", FMT(error));
}

Test(gen_server_errors, calling_yourself_fails_with_calling_self)
{
    term error = call_fails(erl_self(), ATOM("get"), WAIT_MS);
    cr_assert(is_atom_named(error, "calling_self"), "error %s", FMT(error));
}

Test(gen_server_errors, cast_to_nobody_does_not_fail)
{
    gen_server_cast(ATOM("nobody_here"), ATOM("hello"));
    term pid = probe_start("ok", INT(0));
    term ref = erl_monitor(pid);
    gen_server_cast(pid, TUPLE(ATOM("stop"), ATOM("normal")));
    expect_down(ref, ATOM("normal"));
    gen_server_cast(pid, ATOM("hello"));
}

/* ---- handle_cast and handle_info ----------------------------------------- */

TestSuite(gen_server_async, .init = setup, .fini = teardown, .timeout = 30);

Test(gen_server_async, cast_noreply_keeps_the_new_state)
{
    term pid = probe_start("ok", INT(0));
    gen_server_cast(pid, TUPLE(ATOM("set"), STR("cast")));
    cr_assert(term_eq(call_ok(pid, ATOM("get")), STR("cast")));
}

Test(gen_server_async, cast_stop_terminates_with_the_reason)
{
    term pid = probe_start("ok", INT(9));
    term ref = erl_monitor(pid);
    gen_server_cast(pid, TUPLE(ATOM("stop"), ATOM("normal")));
    cr_assert(is_atom_named(await_terminated(pid), "normal"));
    expect_down(ref, ATOM("normal"));
}

Test(gen_server_async, cast_bad_result_stops_with_bad_return_value)
{
    term pid = probe_start("ok", INT(0));
    term ref = erl_monitor(pid);
    gen_server_cast(pid, ATOM("bad"));
    term reason = await_down(ref);
    cr_assert(match(reason, TUPLE(ATOM("bad_return_value"), TUPLE(ATOM("reply"), ANY, ANY))),
              "reason %s", FMT(reason));
}

Test(gen_server_async, other_messages_go_to_handle_info)
{
    term pid = probe_start("ok", INT(0));
    erl_send(pid, TUPLE(ATOM("hello"), INT(1)));
    term msg;
    await(TUPLE(ATOM("info"), pid, VAR(&msg)), "handle_info's report");
    cr_assert(term_eq(msg, TUPLE(ATOM("hello"), INT(1))));
}

Test(gen_server_async, info_stop_terminates_with_the_reason)
{
    term pid = probe_start("ok", INT(0));
    term ref = erl_monitor(pid);
    erl_send(pid, TUPLE(ATOM("stop_info"), ATOM("shutdown")));
    cr_assert(is_atom_named(await_terminated(pid), "shutdown"));
    expect_down(ref, ATOM("shutdown"));
}

Test(gen_server_async, missing_handle_info_ignores_the_message)
{
    term pid = gen_server_start(NONE, &bare, INT(4), 0, NULL);
    erl_send(pid, ATOM("stray"));
    cr_assert(term_eq(sys_get_state(pid, WAIT_MS, NULL), INT(4)));
    cr_assert(erl_is_alive(pid));
}

Test(gen_server_async, missing_handle_cast_crashes_with_undef)
{
    term pid = gen_server_start(NONE, &bare, INT(0), 0, NULL);
    term ref = erl_monitor(pid);
    gen_server_cast(pid, ATOM("hello"));
    term reason = await_down(ref);
    cr_assert(match(reason, TUPLE(ATOM("undef"),
                                  LIST(TUPLE(ATOM("bare"), ATOM("handle_cast"), ANY, ANY)))),
              "reason %s", FMT(reason));
}

/* ---- Stopping, parents and links ----------------------------------------- */

TestSuite(gen_server_links, .init = setup, .fini = teardown, .timeout = 30);

Test(gen_server_links, stop_calls_terminate_and_waits_for_the_end)
{
    term pid = probe_start("ok", INT(2));
    term error = NONE;
    cr_assert_eq(gen_server_stop(pid, ATOM("shutdown"), WAIT_MS, &error), 0,
                 "error %s", FMT(error));
    cr_assert(!erl_is_alive(pid));
    term t = erl_receive(TUPLE(ATOM("terminated"), pid, ATOM("shutdown"), INT(2)), 0);
    cr_assert(!is_none(t), "terminate did not run before the stop returned");
}

Test(gen_server_links, stop_of_nobody_fails_with_noproc)
{
    term error = NONE;
    cr_assert_eq(gen_server_stop(ATOM("nobody_here"), ATOM("normal"), WAIT_MS, &error), -1);
    cr_assert(is_atom_named(error, "noproc"));
}

Test(gen_server_links, parent_exit_runs_terminate_when_trapping)
{
    term server;
    term s = spawn_starter("trap", false, &server, NULL);
    cr_assert(is_pid(server));
    term ref = erl_monitor(server);
    erl_send(s, TUPLE(ATOM("exit"), ATOM("shutdown")));
    cr_assert(is_atom_named(await_terminated(server), "shutdown"));
    expect_down(ref, ATOM("shutdown"));
}

Test(gen_server_links, exit_of_a_non_parent_goes_to_handle_info)
{
    term pid = probe_start("trap", INT(0));
    term a = agent_start();
    agent_link(a, pid);
    erl_send(a, TUPLE(ATOM("exit"), ATOM("bye")));
    term msg;
    await(TUPLE(ATOM("info"), pid, VAR(&msg)), "handle_info's report");
    cr_assert(term_eq(msg, TUPLE(ATOM("EXIT"), a, ATOM("bye"))), "got %s", FMT(msg));
    cr_assert(erl_is_alive(pid));
}

Test(gen_server_links, server_crash_kills_a_non_trapping_linked_starter)
{
    term server;
    term s = spawn_starter("ok", false, &server, NULL);
    term ref = erl_monitor(s);
    gen_server_cast(server, TUPLE(ATOM("stop"), ATOM("boom")));
    expect_down(ref, ATOM("boom"));
}

Test(gen_server_links, starter_crash_takes_the_server_along)
{
    term server;
    term s = spawn_starter("ok", false, &server, NULL);
    term ref = erl_monitor(server);
    erl_send(s, TUPLE(ATOM("exit"), ATOM("oops")));
    expect_down(ref, ATOM("oops"));
}

/* Starts a probe without a link, tells Owner {started, Self, Pid}, and
 * crashes with oops. */
static void unlinked_starter(term owner)
{
    term pid = gen_server_start(NONE, &probe, TUPLE(ATOM("ok"), owner, INT(1)), 0, NULL);
    erl_send(owner, TUPLE(ATOM("started"), erl_self(), pid));
    erl_exit_self(ATOM("oops"));
}

Test(gen_server_links, start_without_link_survives_its_starter)
{
    term ref, server;
    term s = erl_spawn_monitor(unlinked_starter, erl_self(), &ref);
    await(TUPLE(ATOM("started"), s, VAR(&server)), "starter's report");
    cr_assert(is_pid(server));
    expect_down(ref, ATOM("oops"));
    cr_assert(term_eq(call_ok(server, ATOM("get")), INT(1)));
}

/* Starts a trapping probe without a link, links to it by hand, tells Owner
 * {started, Self, Pid}, and exits with the reason it is sent. */
static void linking_starter(term owner)
{
    term pid = gen_server_start(NONE, &probe, TUPLE(ATOM("trap"), owner, INT(1)), 0, NULL);
    erl_link(pid);
    erl_send(owner, TUPLE(ATOM("started"), erl_self(), pid));
    term reason;
    erl_receive(TUPLE(ATOM("exit"), VAR(&reason)), ERL_INFINITY);
    erl_exit_self(reason);
}

Test(gen_server_links, unlinked_server_is_its_own_parent_so_its_starter_exit_is_info)
{
    term ref, server;
    term s = erl_spawn_monitor(linking_starter, erl_self(), &ref);
    await(TUPLE(ATOM("started"), s, VAR(&server)), "starter's report");
    erl_send(s, TUPLE(ATOM("exit"), ATOM("oops")));
    expect_down(ref, ATOM("oops"));
    term msg;
    await(TUPLE(ATOM("info"), server, VAR(&msg)), "handle_info's report");
    cr_assert(term_eq(msg, TUPLE(ATOM("EXIT"), s, ATOM("oops"))), "got %s", FMT(msg));
    expect_no_message(TUPLE(ATOM("terminated"), server, ANY, ANY));
    cr_assert(term_eq(call_ok(server, ATOM("get")), INT(1)));
}

/* The Parent of sys_get_status's answer. */
static term status_parent(term pid)
{
    term parent = NONE;
    term status = sys_get_status(pid, WAIT_MS, NULL);
    cr_assert(match(status, TUPLE(ATOM("status"), pid, ANY,
                                  LIST(NIL, ATOM("running"), VAR(&parent), NIL, ANY))),
              "status %s", FMT(status));
    return parent;
}

Test(gen_server_links, get_status_names_the_linked_starter_as_parent)
{
    term pid = probe_start("ok", INT(0));
    cr_assert(term_eq(status_parent(pid), erl_self()));
}

Test(gen_server_links, get_status_names_an_unlinked_server_its_own_parent)
{
    term pid = gen_server_start(NONE, &probe, TUPLE(ATOM("ok"), erl_self(), INT(0)), 0,
                                NULL);
    cr_assert(is_pid(pid));
    cr_assert(term_eq(status_parent(pid), pid));
}

/* ---- Failed starts ------------------------------------------------------- */

TestSuite(gen_server_start, .init = setup, .fini = teardown, .timeout = 30);

Test(gen_server_start, second_start_link_leaves_nothing_in_the_mailbox)
{
    term pid = counter_start_link(NULL);
    term error = NONE;
    cr_assert(is_none(counter_start_link(&error)));
    cr_assert(term_eq(error, TUPLE(ATOM("already_started"), pid)), "error %s", FMT(error));
    /* The test thread traps exits: the loser's {'EXIT', P, normal} would
     * wait here. It unlinked first. */
    cr_assert(is_none(erl_receive(ANY, 100)), "a message was left behind");
    cr_assert_eq(erl_queue_len(), 0);
}

Test(gen_server_start, failed_inits_leave_no_ack_and_no_down)
{
    term args[] = {TUPLE(ATOM("ignore"), erl_self(), INT(0)),
                   TUPLE(ATOM("stop"), erl_self(), ATOM("no")),
                   TUPLE(ATOM("bad"), erl_self(), INT(0))};
    for (size_t i = 0; i < sizeof args / sizeof *args; i++) {
        term error = NONE;
        cr_assert(is_none(gen_server_start(NONE, &probe, args[i], 0, &error)));
        cr_assert(!is_none(error));
        erl_drop(error);
    }
    cr_assert_eq(erl_queue_len(), 0);
}

/* ---- sys ----------------------------------------------------------------- */

TestSuite(sys, .init = setup, .fini = teardown, .timeout = 30);

/* A sys_state_fn: {Owner, Value} -> {Owner, Value + Arg}. */
static term add_to_value(term s, term arg)
{
    return st(s, INT(element(2, s).u.integer + arg.u.integer));
}

Test(sys, get_state_returns_the_callback_state)
{
    term pid = probe_start("ok", STR("seen"));
    term s = sys_get_state(pid, WAIT_MS, NULL);
    cr_assert(term_eq(s, TUPLE(erl_self(), STR("seen"))), "state %s", FMT(s));
}

Test(sys, replace_state_runs_the_function_in_the_server)
{
    term pid = probe_start("ok", INT(10));
    term s = sys_replace_state(pid, add_to_value, INT(5), WAIT_MS, NULL);
    cr_assert(term_eq(s, TUPLE(erl_self(), INT(15))), "state %s", FMT(s));
    cr_assert(term_eq(call_ok(pid, ATOM("get")), INT(15)));
}

Test(sys, suspended_server_answers_only_after_resume_in_order)
{
    term pid = probe_start("ok", INT(0));
    cr_assert_eq(sys_suspend(pid, WAIT_MS, NULL), 0);
    gen_server_cast(pid, TUPLE(ATOM("set"), INT(5)));
    term c = spawn_caller(pid, ATOM("get"));
    /* System messages still work, and the cast has not been handled. */
    cr_assert(term_eq(sys_get_state(pid, WAIT_MS, NULL), TUPLE(erl_self(), INT(0))));
    term st_ = sys_get_status(pid, WAIT_MS, NULL);
    cr_assert(match(st_, TUPLE(ATOM("status"), pid, TUPLE(ATOM("module"), ATOM("gen_server")),
                               LIST(NIL, ATOM("suspended"), erl_self(), NIL, ANY))),
              "status %s", FMT(st_));
    expect_no_message(TUPLE(ATOM("answer"), c, ANY));
    cr_assert_eq(sys_resume(pid, WAIT_MS, NULL), 0);
    term result = await_answer(c);
    cr_assert(term_eq(result, TUPLE(ATOM("ok"), INT(5))), "got %s", FMT(result));
}

Test(sys, statistics_count_messages_in_and_out)
{
    term pid = probe_start("ok", INT(0));
    cr_assert(is_atom_named(sys_statistics(pid, ATOM("get"), WAIT_MS, NULL),
                            "no_statistics"));
    cr_assert(is_atom_named(sys_statistics(pid, ATOM("true"), WAIT_MS, NULL), "ok"));
    gen_server_cast(pid, TUPLE(ATOM("set"), INT(1)));
    erl_send(pid, ATOM("info"));
    call_ok(pid, ATOM("get"));
    term stats = sys_statistics(pid, ATOM("get"), WAIT_MS, NULL);
    cr_assert(match(stats, TUPLE(ATOM("ok"),
                                 LIST(TUPLE(ATOM("start_time"), ANY),
                                      TUPLE(ATOM("current_time"), ANY),
                                      TUPLE(ATOM("messages_in"), INT(3)),
                                      TUPLE(ATOM("messages_out"), INT(1))))),
              "statistics %s", FMT(stats));
}

Test(sys, unknown_system_request_is_answered_with_an_error)
{
    term pid = probe_start("ok", INT(0));
    term r = gen_call(pid, ATOM("system"), ATOM("frobnicate"), WAIT_MS, NULL);
    cr_assert(term_eq(r, TUPLE(ATOM("error"),
                               TUPLE(ATOM("unknown_system_msg"), ATOM("frobnicate")))));
}

/* A sys_state_fn that leaves the state as it is. */
static term same_state(term s, term arg)
{
    (void)arg;
    return s;
}

Test(sys, calls_to_a_missing_server_fail_as_sys_not_as_gen_server)
{
    term nobody = ATOM("nobody_here"), e = NONE;
    cr_assert_eq(sys_trace(nobody, true, WAIT_MS, &e), -1);
    cr_assert(term_eq(e, TUPLE(ATOM("noproc"), TUPLE(ATOM("sys"), ATOM("trace"),
                                                     LIST(nobody, ATOM("true"))))),
              "error %s", FMT(e));
    cr_assert(is_none(sys_get_state(nobody, WAIT_MS, &e)));
    cr_assert(term_eq(e, TUPLE(ATOM("noproc"), TUPLE(ATOM("sys"), ATOM("get_state"),
                                                     LIST(nobody)))), "error %s", FMT(e));
    cr_assert(is_none(sys_statistics(nobody, ATOM("get"), WAIT_MS, &e)));
    cr_assert(term_eq(e, TUPLE(ATOM("noproc"), TUPLE(ATOM("sys"), ATOM("statistics"),
                                                     LIST(nobody, ATOM("get"))))),
              "error %s", FMT(e));
    cr_assert_eq(sys_suspend(nobody, WAIT_MS, &e), -1);
    cr_assert(term_eq(e, TUPLE(ATOM("noproc"), TUPLE(ATOM("sys"), ATOM("suspend"),
                                                     LIST(nobody)))), "error %s", FMT(e));
    cr_assert_eq(sys_change_code(nobody, &probe, ATOM("v1"), NIL, WAIT_MS, &e), -1);
    cr_assert(term_eq(e, TUPLE(ATOM("noproc"),
                               TUPLE(ATOM("sys"), ATOM("change_code"),
                                     LIST(nobody, ATOM("probe"), ATOM("v1"), NIL)))),
              "error %s", FMT(e));
    cr_assert(is_none(sys_replace_state(nobody, same_state, INT(3), WAIT_MS, &e)));
    cr_assert(match(e, TUPLE(ATOM("noproc"),
                             TUPLE(ATOM("sys"), TUPLE(ATOM("replace_state"), ANY, INT(3)),
                                   LIST(nobody)))), "error %s", FMT(e));
}

Test(sys, a_call_that_times_out_fails_with_timeout_as_sys)
{
    term pid = agent_start();   /* not a gen_server: it never answers */
    term e = NONE;
    cr_assert(is_none(sys_get_state(pid, 50, &e)));
    cr_assert(term_eq(e, TUPLE(ATOM("timeout"), TUPLE(ATOM("sys"), ATOM("get_state"),
                                                      LIST(pid)))), "error %s", FMT(e));
}

/* Reads one line of the redirected stdout, without its newline. */
static const char *next_line(FILE *in, char *buf, size_t n)
{
    cr_assert(fgets(buf, (int)n, in), "stdout ended early");
    buf[strcspn(buf, "\n")] = 0;
    return buf;
}

/* Captures stdout (Criterion gives the test the read end), then starts. */
static void setup_capture(void)
{
    cr_redirect_stdout();
    start_runtime();
}

TestSuite(sys_trace, .init = setup_capture, .fini = teardown, .timeout = 30);

Test(sys_trace, prints_messages_in_and_out_as_otp)
{
    term pid = counter_start_link(NULL);
    cr_assert(is_pid(pid));
    cr_assert_eq(sys_trace(COUNTER, true, WAIT_MS, NULL), 0);
    counter_tick(5);
    cr_assert(term_eq(counter_read(NULL), INT(5)));
    cr_assert_eq(sys_trace(COUNTER, false, WAIT_MS, NULL), 0);
    fflush(stdout);
    char me[64], expect[256], line[256];
    term_format(me, sizeof me, erl_self());
    FILE *out = cr_get_redirected_stdout();
    cr_assert_str_eq(next_line(out, line, sizeof line), "*DBG* counter got cast {tick,5}");
    cr_assert_str_eq(next_line(out, line, sizeof line), "*DBG* counter new state 5");
    snprintf(expect, sizeof expect, "*DBG* counter got call read from %s", me);
    cr_assert_str_eq(next_line(out, line, sizeof line), expect);
    snprintf(expect, sizeof expect, "*DBG* counter sent 5 to %s, new state 5", me);
    cr_assert_str_eq(next_line(out, line, sizeof line), expect);
}

Test(sys, change_code_runs_code_change_and_keeps_the_state)
{
    term pid = counter_start_link(NULL);
    counter_tick(8);
    cr_assert_eq(sys_suspend(COUNTER, WAIT_MS, NULL), 0);
    term error = NONE;
    cr_assert_eq(sys_change_code(COUNTER, &counter_module, ATOM("undefined"), NIL,
                                 WAIT_MS, &error), 0, "error %s", FMT(error));
    cr_assert_eq(sys_resume(COUNTER, WAIT_MS, NULL), 0);
    cr_assert(term_eq(counter_read(NULL), INT(8)));
    cr_assert(term_eq(erl_whereis(COUNTER), pid));
}

/* ---- The counter ---------------------------------------------------------- */

TestSuite(counter, .init = setup, .fini = teardown, .timeout = 30);

Test(counter, start_link_registers_counter_at_zero)
{
    term pid = counter_start_link(NULL);
    cr_assert(is_pid(pid));
    cr_assert(term_eq(erl_whereis(COUNTER), pid));
    cr_assert(term_eq(counter_read(NULL), INT(0)));
}

Test(counter, read_after_ticks_returns_sum)
{
    counter_start_link(NULL);
    counter_tick(2);
    counter_tick(3);
    counter_tick(-1);
    cr_assert(term_eq(counter_read(NULL), INT(4)));
}

Test(counter, second_start_fails_with_already_started)
{
    term pid = counter_start_link(NULL);
    term error = NONE;
    cr_assert(is_none(counter_start_link(&error)));
    cr_assert(term_eq(error, TUPLE(ATOM("already_started"), pid)));
}

Test(counter, read_after_stop_fails_with_noproc)
{
    term pid = counter_start_link(NULL);
    term ref = erl_monitor(pid);
    counter_stop();
    expect_down(ref, ATOM("normal"));
    term error = NONE;
    cr_assert(is_none(counter_read(&error)));
    cr_assert(is_atom_named(error, "noproc"), "error %s", FMT(error));
}

Test(counter, crash_reaches_the_trapping_linked_caller)
{
    term pid = counter_start_link(NULL);
    counter_crash();
    await(TUPLE(ATOM("EXIT"), pid, ATOM("boom")), "{'EXIT', Counter, boom}");
}

Test(counter, slow_call_times_out)
{
    counter_start_link(NULL);
    term error = NONE;
    cr_assert(is_none(counter_slow(300, 50, &error)));
    cr_assert(is_atom_named(error, "timeout"), "error %s", FMT(error));
    cr_assert(term_eq(counter_slow(0, WAIT_MS, NULL), ATOM("ok")));
}

Test(counter, tick_past_int64_max_stops_it_with_badarith)
{
    term pid = counter_start_link(NULL);
    counter_tick(INT64_MAX);
    counter_tick(1);
    await(TUPLE(ATOM("EXIT"), pid, ATOM("badarith")), "{'EXIT', Counter, badarith}");
}

Test(counter, many_calls_and_casts_keep_count)
{
    counter_start_link(NULL);
    for (int i = 1; i <= 10000; i++) {
        counter_tick(1);
        if (i % 100 == 0) {
            erl_heap_mark_t mark = erl_heap_mark();
            term n = counter_read(NULL);
            cr_assert(term_eq(n, INT(i)), "read %s after %d ticks", FMT(n), i);
            erl_heap_release(mark);
        }
    }
}

/* ---- The shell ----------------------------------------------------------- */

TestSuite(shell, .init = setup, .fini = teardown, .timeout = 30);

/* Runs line in the stage's shell and asserts its status and exact output. */
static void expect(const char *line, enum shell_status status, const char *want)
{
    expect_shell(&counter_shell, line, status, want);
}

Test(shell, session_prints_what_erl_prints)
{
    char want[64];
    enum shell_status st;
    char *text = shell_output(&counter_shell, "start", &st);
    cr_assert_eq(st, SHELL_OK);
    snprintf(want, sizeof want, "{ok,%s}\n", FMT(erl_whereis(COUNTER)));
    cr_assert_str_eq(text, want);
    free(text);
    expect("tick 2", SHELL_OK, "ok\n");
    expect("read", SHELL_OK, "2\n");
    expect("state", SHELL_OK, "2\n");
    expect("slow 0", SHELL_OK, "ok\n");
    term ref = erl_monitor(COUNTER);
    expect("stop", SHELL_OK, "ok\n");
    expect_down(ref, ATOM("normal"));
    expect("read", SHELL_ERROR,
           "** exception exit: {noproc,{gen_server,call,[counter,read]}}\n");
}

Test(shell, crash_reaches_the_shell_as_an_exit_message)
{
    term pid = counter_start_link(NULL);
    expect("crash", SHELL_OK, "ok\n");
    await(TUPLE(ATOM("EXIT"), pid, ATOM("boom")), "{'EXIT', Counter, boom}");
    expect("read", SHELL_ERROR,
           "** exception exit: {noproc,{gen_server,call,[counter,read]}}\n");
}

Test(shell, bad_input_is_named)
{
    expect("slow -1", SHELL_BADARGS,
           "** slow: -1 ms is outside 0..60000 (type help for the commands)\n");
    expect("trace maybe", SHELL_BADARGS,
           "** trace: \"maybe\" is neither on nor off (type help for the commands)\n");
    expect("stats all", SHELL_BADARGS,
           "** stats: \"all\" is not on, off or get (type help for the commands)\n");
    expect("tick 1.5", SHELL_BADARGS,
           "** tick: \"1.5\" is not an integer (type help for the commands)\n");
}

Test(shell, sys_commands_without_a_counter_fail_as_sys)
{
    expect("trace on", SHELL_ERROR,
           "** exception exit: {noproc,{sys,trace,[counter,true]}}\n");
    expect("state", SHELL_ERROR,
           "** exception exit: {noproc,{sys,get_state,[counter]}}\n");
    expect("stats", SHELL_ERROR,
           "** exception exit: {noproc,{sys,statistics,[counter,get]}}\n");
}

/* ---- The tour ------------------------------------------------------------ */

TestSuite(tour, .timeout = 120);

Test(tour, program_prints_tour_txt)
{
    check_tour("03_gen_server");
}

Test(tour, erlang_demo_prints_the_same_session)
{
    check_erlang_tour("03_gen_server", "counter.erl", "counter:demo()");
}

/* ---- The shell: Erlang forms --------------------------------------------- */

Test(shell, erlang_forms_run_the_commands)
{
    enum shell_status st;
    char *text = shell_output(&counter_shell, "counter:start_link().", &st);
    cr_assert_eq(st, SHELL_OK);
    cr_assert(strncmp(text, "{ok,<", 5) == 0, "start_link printed %s", text);
    free(text);
    expect("counter:tick(4).", SHELL_OK, "ok\n");
    expect("sys:get_state(counter).", SHELL_OK, "4\n");
    expect("sys:statistics(counter, true).", SHELL_OK, "ok\n");
    expect("counter:slow(10, 5000).", SHELL_OK, "ok\n");
    expect("counter:slow(300, 20).", SHELL_ERROR, "** exception exit: "
           "{timeout,{gen_server,call,[counter,{sleep,300},20]}}\n");
    expect("sys:trace(counter, maybe).", SHELL_BADARGS,
           "** trace: \"maybe\" is neither on nor off (type help for the commands)\n");
    expect("sys:trace(other, true).", SHELL_UNKNOWN, "** no command stands for "
           "sys:trace/2 (the nearest is sys:trace(counter, Flag); type help for "
           "the commands)\n");
    expect("counter:stop().", SHELL_OK, "ok\n");
}
