/*
 * test_03_gen_server.c - the gen_server contract as 03_gen_server uses it:
 * init, calls and their errors, casts and infos, stopping, parents and
 * links, failed starts. sys, the counter, its shell and the tour are in
 * test_03_gen_server_sys.c; the probe module both drive is in
 * gen_server_probe.h.
 */
#include "gen_server_probe.h"

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
