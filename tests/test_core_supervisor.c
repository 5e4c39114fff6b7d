/*
 * test_core_supervisor.c - the supervisor behaviour (common/otp/supervisor.c):
 * starting and stopping, the strategies, restart types, shutdown and
 * restart intensity. Trees, simple_one_for_one, the calls that manage
 * children, and sys are in test_core_supervisor_children.c; the children
 * both use, and how they report, in supervisor_util.h.
 */
#include "supervisor_util.h"
/* ---- Starting and stopping ----------------------------------------------- */

TestSuite(supervisor, .init = setup, .fini = stop_runtime, .timeout = 30);

Test(supervisor, starts_children_in_order_and_stops_them_in_reverse)
{
    struct sup_child_spec specs[] = {
        WORKER(ATOM("a"), "trap", SUP_PERMANENT, 5000),
        WORKER(ATOM("b"), "trap", SUP_PERMANENT, 5000),
        WORKER(ATOM("c"), "trap", SUP_PERMANENT, 5000),
    };
    term sup = start_sup(FLAGS(SUP_ONE_FOR_ONE, 3, 5), specs, 3);
    expect_started(ATOM("a"));
    expect_started(ATOM("b"));
    expect_started(ATOM("c"));
    term ref = erl_monitor(sup);
    stop_sup(sup);
    expect_stopping(ATOM("c"), ATOM("shutdown"));
    expect_stopping(ATOM("b"), ATOM("shutdown"));
    expect_stopping(ATOM("a"), ATOM("shutdown"));
    expect_down(ref, ATOM("normal"));
}

/* The parent of the supervisor in parent_exit_stops_children. */
static void parent_main(term test)
{
    struct sup_child_spec specs[] = {
        {ATOM("a"), child_start, TUPLE(test, ATOM("a"), ATOM("trap")),
         SUP_PERMANENT, 5000, SUP_WORKER},
        {ATOM("b"), child_start, TUPLE(test, ATOM("b"), ATOM("trap")),
         SUP_PERMANENT, 5000, SUP_WORKER},
    };
    term sup = supervisor_start_link(NONE, FLAGS(SUP_ONE_FOR_ONE, 1, 5), specs, 2, NULL);
    erl_send(test, TUPLE(ATOM("sup"), sup));
    term reason;
    erl_receive(TUPLE(ATOM("die"), VAR(&reason)), ERL_INFINITY);
    erl_exit_self(reason);
}

Test(supervisor, parent_exit_stops_children_newest_first_with_its_reason)
{
    term parent = erl_spawn(parent_main, erl_self());
    term sup;
    await(TUPLE(ATOM("sup"), VAR(&sup)), "the supervisor's pid");
    cr_assert(is_pid(sup));
    expect_started(ATOM("a"));
    expect_started(ATOM("b"));
    term ref = erl_monitor(sup);
    erl_send(parent, TUPLE(ATOM("die"), ATOM("bye")));
    expect_stopping(ATOM("b"), ATOM("shutdown"));
    expect_stopping(ATOM("a"), ATOM("shutdown"));
    expect_down(ref, ATOM("bye"));
}

Test(supervisor, registers_its_name_and_refuses_a_second_with_it)
{
    term error = NONE;
    term sup = supervisor_start_link(ATOM("sup_name_test"), FLAGS(SUP_ONE_FOR_ONE, 1, 5),
                                     NULL, 0, &error);
    cr_assert(is_pid(sup), "start failed: %s", FMT(error));
    cr_assert(term_eq(erl_whereis(ATOM("sup_name_test")), sup));
    term again = supervisor_start_link(ATOM("sup_name_test"), FLAGS(SUP_ONE_FOR_ONE, 1, 5),
                                       NULL, 0, &error);
    cr_assert(is_none(again));
    cr_assert(term_eq(error, TUPLE(ATOM("already_started"), sup)), "error %s", FMT(error));
    struct sup_counts n;
    cr_assert_eq(supervisor_count_children(ATOM("sup_name_test"), &n, &error), 0);
    cr_assert_eq(n.specs, 0);
}

Test(supervisor, failed_child_start_stops_the_started_ones_and_fails)
{
    struct sup_child_spec specs[] = {
        WORKER(ATOM("a"), "trap", SUP_PERMANENT, 5000),
        WORKER(ATOM("b"), "trap", SUP_PERMANENT, 5000),
        WORKER(ATOM("c"), "fail", SUP_PERMANENT, 5000),
        WORKER(ATOM("d"), "trap", SUP_PERMANENT, 5000),
    };
    term error = NONE;
    term sup = supervisor_start_link(ATOM("sup_rollback_test"), FLAGS(SUP_ONE_FOR_ONE, 1, 5),
                                     specs, 4, &error);
    cr_assert(is_none(sup));
    term expected = TUPLE(ATOM("shutdown"),
                          TUPLE(ATOM("failed_to_start_child"), ATOM("c"), ATOM("no_luck")));
    cr_assert(term_eq(error, expected), "error %s", FMT(error));
    expect_started(ATOM("a"));
    expect_started(ATOM("b"));
    expect_stopping(ATOM("b"), ATOM("shutdown"));
    expect_stopping(ATOM("a"), ATOM("shutdown"));
    expect_no_event();          /* d was never started */
    cr_assert(is_none(erl_whereis(ATOM("sup_rollback_test"))));
    expect_no_message(TUPLE(ATOM("EXIT"), ANY, ANY));   /* no exit signal */
}

Test(supervisor, a_child_that_ignores_is_kept_not_running)
{
    struct sup_child_spec specs[] = {
        WORKER(ATOM("a"), "ignore", SUP_PERMANENT, 5000),
        WORKER(ATOM("b"), "trap", SUP_PERMANENT, 5000),
        WORKER(ATOM("t"), "ignore", SUP_TEMPORARY, 5000),
    };
    term sup = start_sup(FLAGS(SUP_ONE_FOR_ONE, 1, 5), specs, 3);
    expect_started(ATOM("b"));
    cr_assert(is_atom_named(child_pid(sup, ATOM("a")), "undefined"));
    cr_assert(is_none(child_pid(sup, ATOM("t"))), "an ignored temporary child is kept");
}

/* supervisor_start fails with error as its reason, and nothing started. */
static void expect_start_error(struct sup_flags flags, const struct sup_child_spec *specs,
                               size_t n, term expected)
{
    term error = NONE;
    cr_assert(is_none(supervisor_start_link(NONE, flags, specs, n, &error)));
    cr_assert(match(error, expected), "error %s", FMT(error));
    expect_no_event();
}

Test(supervisor, bad_flags_are_supervisor_data_errors_as_in_otp)
{
    struct sup_child_spec specs[] = {WORKER(ATOM("a"), "trap", SUP_PERMANENT, 5000)};
    expect_start_error(FLAGS(SUP_ONE_FOR_ONE, -1, 5), specs, 1,
                       TUPLE(ATOM("supervisor_data"),
                             TUPLE(ATOM("invalid_intensity"), INT(-1))));
    expect_start_error(FLAGS(SUP_ONE_FOR_ONE, 1, 0), specs, 1,
                       TUPLE(ATOM("supervisor_data"), TUPLE(ATOM("invalid_period"), INT(0))));
    expect_start_error(FLAGS((enum sup_strategy)9, 1, 5), specs, 1,
                       TUPLE(ATOM("supervisor_data"),
                             TUPLE(ATOM("invalid_strategy"), INT(9))));
}

Test(supervisor, duplicate_ids_are_start_spec_errors_as_in_otp)
{
    struct sup_child_spec specs[] = {
        WORKER(ATOM("a"), "trap", SUP_PERMANENT, 5000),
        WORKER(ATOM("a"), "trap", SUP_PERMANENT, 5000),
    };
    expect_start_error(FLAGS(SUP_ONE_FOR_ONE, 1, 5), specs, 2,
                       TUPLE(ATOM("start_spec"),
                             TUPLE(ATOM("duplicate_child_name"), ATOM("a"))));
}

Test(supervisor, a_bad_spec_is_a_start_spec_error_naming_the_field)
{
    struct sup_child_spec s[] = {WORKER(ATOM("a"), "trap", SUP_PERMANENT, 5000)};
    s[0].restart = (enum sup_restart)7;
    expect_start_error(FLAGS(SUP_ONE_FOR_ONE, 1, 5), s, 1,
                       TUPLE(ATOM("start_spec"), TUPLE(ATOM("invalid_restart_type"), INT(7))));
    s[0].restart = SUP_PERMANENT;
    s[0].type = (enum sup_child_type)9;
    expect_start_error(FLAGS(SUP_ONE_FOR_ONE, 1, 5), s, 1,
                       TUPLE(ATOM("start_spec"), TUPLE(ATOM("invalid_child_type"), INT(9))));
    s[0].type = SUP_WORKER;
    s[0].shutdown = -5;
    expect_start_error(FLAGS(SUP_ONE_FOR_ONE, 1, 5), s, 1,
                       TUPLE(ATOM("start_spec"), TUPLE(ATOM("invalid_shutdown"), INT(-5))));
    s[0].shutdown = 5000;
    s[0].start = NULL;
    expect_start_error(FLAGS(SUP_ONE_FOR_ONE, 1, 5), s, 1,
                       TUPLE(ATOM("start_spec"),
                             TUPLE(ATOM("invalid_mfa"), TUPLE(ATOM("c"), INT(0), s[0].arg))));
}

Test(supervisor, simple_one_for_one_needs_exactly_one_spec_with_a_list_arg)
{
    struct sup_child_spec s[] = {
        {ATOM("i"), child_start, LIST(ATOM("x")), SUP_PERMANENT, 5000, SUP_WORKER},
        {ATOM("j"), child_start, ATOM("no_list"), SUP_PERMANENT, 5000, SUP_WORKER},
    };
    expect_start_error(FLAGS(SUP_SIMPLE_ONE_FOR_ONE, 1, 5), s, 2,
                       TUPLE(ATOM("bad_start_spec"),
                             LIST(TUPLE(ATOM("i"), ANY, ANY, ANY, ANY, NIL),
                                  TUPLE(ATOM("j"), ANY, ANY, ANY, ANY, NIL))));
    expect_start_error(FLAGS(SUP_SIMPLE_ONE_FOR_ONE, 1, 5), s, 0,
                       TUPLE(ATOM("bad_start_spec"), NIL));
    expect_start_error(FLAGS(SUP_SIMPLE_ONE_FOR_ONE, 1, 5), s + 1, 1,
                       TUPLE(ATOM("start_spec"),
                             TUPLE(ATOM("invalid_mfa"),
                                   TUPLE(ATOM("c"), ANY, ATOM("no_list")))));
}

/* ---- Strategies ---------------------------------------------------------- */

TestSuite(strategy, .init = setup, .fini = stop_runtime, .timeout = 30);

Test(strategy, one_for_one_restarts_only_the_dead_child)
{
    term p[4];
    term sup = start_abcd(SUP_ONE_FOR_ONE, 3, p);
    erl_send(p[1], TUPLE(ATOM("exit"), ATOM("boom")));
    term b2 = expect_started(ATOM("b"));
    cr_assert(!term_eq(b2, p[1]));
    cr_assert(term_eq(child_pid(sup, ATOM("a")), p[0]));
    cr_assert(term_eq(child_pid(sup, ATOM("b")), b2));
    cr_assert(term_eq(child_pid(sup, ATOM("c")), p[2]));
    expect_no_event();          /* nobody else was stopped or started */
}

Test(strategy, one_for_all_stops_the_others_newest_first_and_restarts_all_in_order)
{
    term p[4];
    term sup = start_abcd(SUP_ONE_FOR_ALL, 3, p);
    erl_send(p[1], TUPLE(ATOM("exit"), ATOM("boom")));
    expect_stopping(ATOM("c"), ATOM("shutdown"));
    expect_stopping(ATOM("a"), ATOM("shutdown"));
    term a2 = expect_started(ATOM("a"));
    term b2 = expect_started(ATOM("b"));
    term c2 = expect_started(ATOM("c"));
    cr_assert(term_eq(child_pid(sup, ATOM("a")), a2));
    cr_assert(term_eq(child_pid(sup, ATOM("b")), b2));
    cr_assert(term_eq(child_pid(sup, ATOM("c")), c2));
    cr_assert(!erl_is_alive(p[0]) && !erl_is_alive(p[2]));
    expect_no_event();
}

Test(strategy, rest_for_one_restarts_the_dead_child_and_those_after_it)
{
    term p[4];
    term sup = start_abcd(SUP_REST_FOR_ONE, 4, p);
    erl_send(p[1], TUPLE(ATOM("exit"), ATOM("boom")));
    expect_stopping(ATOM("d"), ATOM("shutdown"));
    expect_stopping(ATOM("c"), ATOM("shutdown"));
    expect_started(ATOM("b"));
    expect_started(ATOM("c"));
    expect_started(ATOM("d"));
    cr_assert(term_eq(child_pid(sup, ATOM("a")), p[0]), "a was restarted");
    expect_no_event();
}

Test(strategy, rest_for_one_with_the_last_child_dead_restarts_only_it)
{
    term p[4];
    term sup = start_abcd(SUP_REST_FOR_ONE, 3, p);
    erl_send(p[2], TUPLE(ATOM("exit"), ATOM("boom")));
    term c2 = expect_started(ATOM("c"));
    cr_assert(term_eq(child_pid(sup, ATOM("c")), c2));
    cr_assert(term_eq(child_pid(sup, ATOM("a")), p[0]));
    cr_assert(term_eq(child_pid(sup, ATOM("b")), p[1]));
    expect_no_event();
}

/* ---- Restart types ------------------------------------------------------- */

TestSuite(restart_type, .init = setup, .fini = stop_runtime, .timeout = 30);

/* Starts one child x of the given restart type and makes it exit with
 * reason. Returns the supervisor; *old is the pid that exited. */
static term start_and_end_x(enum sup_restart restart, term reason, term *old)
{
    struct sup_child_spec specs[] = {WORKER(ATOM("x"), "plain", restart, 5000)};
    term sup = start_sup(FLAGS(SUP_ONE_FOR_ONE, 5, 60), specs, 1);
    *old = expect_started(ATOM("x"));
    erl_send(*old, TUPLE(ATOM("exit"), reason));
    return sup;
}

Test(restart_type, permanent_is_restarted_even_after_a_normal_exit)
{
    term old;
    term sup = start_and_end_x(SUP_PERMANENT, ATOM("normal"), &old);
    term now = expect_started(ATOM("x"));
    cr_assert(term_eq(child_pid(sup, ATOM("x")), now) && !term_eq(now, old));
}

Test(restart_type, permanent_is_restarted_after_a_crash)
{
    term old;
    term sup = start_and_end_x(SUP_PERMANENT, ATOM("boom"), &old);
    term now = expect_started(ATOM("x"));
    cr_assert(term_eq(child_pid(sup, ATOM("x")), now));
}

Test(restart_type, transient_is_restarted_after_a_crash)
{
    term old;
    term sup = start_and_end_x(SUP_TRANSIENT, ATOM("boom"), &old);
    term now = expect_started(ATOM("x"));
    cr_assert(term_eq(child_pid(sup, ATOM("x")), now));
}

Test(restart_type, transient_is_not_restarted_after_normal)
{
    term old;
    term sup = start_and_end_x(SUP_TRANSIENT, ATOM("normal"), &old);
    cr_assert(is_atom_named(await_handled(sup, ATOM("x"), old), "undefined"));
    expect_no_event();
}

Test(restart_type, transient_is_not_restarted_after_shutdown)
{
    term old;
    term sup = start_and_end_x(SUP_TRANSIENT, ATOM("shutdown"), &old);
    cr_assert(is_atom_named(await_handled(sup, ATOM("x"), old), "undefined"));
    expect_no_event();
}

Test(restart_type, transient_is_not_restarted_after_shutdown_tuple)
{
    term old;
    term sup = start_and_end_x(SUP_TRANSIENT, TUPLE(ATOM("shutdown"), ATOM("done")), &old);
    cr_assert(is_atom_named(await_handled(sup, ATOM("x"), old), "undefined"));
    expect_no_event();
}

Test(restart_type, temporary_is_forgotten_after_a_crash)
{
    term old;
    term sup = start_and_end_x(SUP_TEMPORARY, ATOM("boom"), &old);
    cr_assert(is_none(await_handled(sup, ATOM("x"), old)), "x is still listed");
    expect_no_event();
    struct sup_counts n;
    cr_assert_eq(supervisor_count_children(sup, &n, NULL), 0);
    cr_assert_eq(n.specs, 0);
}

Test(restart_type, temporary_is_forgotten_after_a_normal_exit)
{
    term old;
    term sup = start_and_end_x(SUP_TEMPORARY, ATOM("normal"), &old);
    cr_assert(is_none(await_handled(sup, ATOM("x"), old)), "x is still listed");
    expect_no_event();
}

/* ---- Shutdown ------------------------------------------------------------ */

TestSuite(shutdown, .init = setup, .fini = stop_runtime, .timeout = 30);

/* Starts one child x in mode with shutdown, terminates it through the
 * supervisor, and returns the reason its monitor saw. *took is how long
 * terminate_child took, in ms. */
static term terminate_x(const char *mode, int shutdown, int64_t *took)
{
    struct sup_child_spec specs[] = {
        {ATOM("x"), child_start, TUPLE(erl_self(), ATOM("x"), atom_from(mode)),
         SUP_PERMANENT, shutdown, SUP_WORKER},
    };
    term sup = start_sup(FLAGS(SUP_ONE_FOR_ONE, 1, 5), specs, 1);
    term pid = expect_started(ATOM("x"));
    term ref = erl_monitor(pid);
    int64_t t0 = now_ns();
    term error = NONE;
    cr_assert_eq(supervisor_terminate_child(sup, ATOM("x"), &error), 0, "%s", FMT(error));
    *took = (now_ns() - t0) / 1000000;
    cr_assert(!erl_is_alive(pid), "terminate_child returned before x was gone");
    cr_assert(is_atom_named(child_pid(sup, ATOM("x")), "undefined"));
    return await_down(ref);
}

Test(shutdown, brutal_kill_kills_even_a_child_that_traps_exits)
{
    int64_t took;
    term reason = terminate_x("trap", SUP_BRUTAL_KILL, &took);
    cr_assert(is_atom_named(reason, "killed"), "reason %s", FMT(reason));
    expect_no_event();          /* it was never asked */
}

Test(shutdown, a_child_that_exits_promptly_is_not_killed)
{
    int64_t took;
    term reason = terminate_x("trap", 5000, &took);
    cr_assert(is_atom_named(reason, "shutdown"), "reason %s", FMT(reason));
    expect_stopping(ATOM("x"), ATOM("shutdown"));
    cr_assert_lt(took, 5000);
}

Test(shutdown, a_child_that_does_not_trap_dies_of_the_shutdown_signal)
{
    int64_t took;
    term reason = terminate_x("plain", 5000, &took);
    cr_assert(is_atom_named(reason, "shutdown"), "reason %s", FMT(reason));
}

Test(shutdown, a_child_slower_than_its_shutdown_time_is_killed)
{
    int64_t took;
    term reason = terminate_x("slow", 100, &took);
    cr_assert(is_atom_named(reason, "killed"), "reason %s", FMT(reason));
    expect_stopping(ATOM("x"), ATOM("shutdown"));   /* it was asked first */
    cr_assert_geq(took, 100);
}

Test(shutdown, infinity_waits_for_a_slow_child)
{
    int64_t took;
    term reason = terminate_x("hold", SUP_INFINITY, &took);
    cr_assert(is_atom_named(reason, "shutdown"), "reason %s", FMT(reason));
    expect_stopping(ATOM("x"), ATOM("shutdown"));
    cr_assert_geq(took, HOLD_MS);
}

Test(shutdown, a_time_longer_than_the_child_needs_is_waited_out)
{
    int64_t took;
    term reason = terminate_x("hold", 5000, &took);
    cr_assert(is_atom_named(reason, "shutdown"), "reason %s", FMT(reason));
    cr_assert_geq(took, HOLD_MS);
}

/* ---- Restart intensity --------------------------------------------------- */

TestSuite(intensity, .init = setup, .fini = stop_runtime, .timeout = 30);

/* Starts a (plain, crashes on demand) and b (traps) with intensity 3. */
static term start_crashable(term *a, int period_s)
{
    struct sup_child_spec specs[] = {
        WORKER(ATOM("a"), "plain", SUP_PERMANENT, 5000),
        WORKER(ATOM("b"), "trap", SUP_PERMANENT, 5000),
    };
    term sup = start_sup(FLAGS(SUP_ONE_FOR_ONE, 3, period_s), specs, 2);
    *a = expect_started(ATOM("a"));
    expect_started(ATOM("b"));
    return sup;
}

Test(intensity, as_many_crashes_as_the_intensity_are_survived)
{
    term a;
    term sup = start_crashable(&a, 3600);
    for (int i = 0; i < 3; i++) {
        erl_exit(a, ATOM("boom"));
        a = expect_started(ATOM("a"));
    }
    cr_assert(term_eq(child_pid(sup, ATOM("a")), a));
    cr_assert(erl_is_alive(sup));
    expect_no_event();
}

Test(intensity, one_crash_more_makes_it_stop_its_children_and_exit_shutdown)
{
    term a;
    term sup = start_crashable(&a, 3600);
    term ref = erl_monitor(sup);
    for (int i = 0; i < 3; i++) {
        erl_exit(a, ATOM("boom"));
        a = expect_started(ATOM("a"));
    }
    erl_exit(a, ATOM("boom"));
    expect_stopping(ATOM("b"), ATOM("shutdown"));
    expect_down(ref, ATOM("shutdown"));
    expect_no_event();          /* a was not started a fifth time */
    term m = await(TUPLE(ATOM("EXIT"), sup, ATOM("shutdown")), "the link's 'EXIT'");
    erl_drop(m);
}

Test(intensity, restarts_older_than_the_period_are_forgotten)
{
    struct sup_child_spec specs[] = {WORKER(ATOM("a"), "plain", SUP_PERMANENT, 5000)};
    term sup = start_sup(FLAGS(SUP_ONE_FOR_ONE, 1, 1), specs, 1);
    term a = expect_started(ATOM("a"));
    erl_exit(a, ATOM("boom"));
    a = expect_started(ATOM("a"));
    erl_sleep(1100);            /* the period itself is what is tested */
    erl_exit(a, ATOM("boom"));
    a = expect_started(ATOM("a"));
    cr_assert(term_eq(child_pid(sup, ATOM("a")), a));
}

Test(intensity, zero_intensity_gives_up_at_the_first_crash)
{
    struct sup_child_spec specs[] = {WORKER(ATOM("a"), "plain", SUP_PERMANENT, 5000)};
    term sup = start_sup(FLAGS(SUP_ONE_FOR_ONE, 0, 1), specs, 1);
    term ref = erl_monitor(sup);
    erl_exit(expect_started(ATOM("a")), ATOM("boom"));
    expect_down(ref, ATOM("shutdown"));
    expect_no_event();
}

Test(intensity, a_restart_that_fails_is_tried_again_and_each_try_counts)
{
    struct sup_child_spec specs[] = {
        {ATOM("x"), flaky_start, TUPLE(erl_self(), ATOM("x"), ATOM("plain")),
         SUP_PERMANENT, 5000, SUP_WORKER},
    };
    term sup = start_sup(FLAGS(SUP_ONE_FOR_ONE, 3, 3600), specs, 1);
    term ref = erl_monitor(sup);
    term x = expect_started(ATOM("x"));
    atomic_store(&flaky_failures, 100);
    erl_exit(x, ATOM("boom"));
    expect_event("failed", ATOM("x"));      /* restarts 1, 2 and 3 fail */
    expect_event("failed", ATOM("x"));
    expect_event("failed", ATOM("x"));
    expect_down(ref, ATOM("shutdown"));     /* the 4th is one too many */
    expect_no_event();
}

Test(intensity, a_restart_that_fails_is_tried_until_it_works)
{
    struct sup_child_spec specs[] = {
        {ATOM("x"), flaky_start, TUPLE(erl_self(), ATOM("x"), ATOM("plain")),
         SUP_PERMANENT, 5000, SUP_WORKER},
    };
    term sup = start_sup(FLAGS(SUP_ONE_FOR_ONE, 3, 3600), specs, 1);
    term x = expect_started(ATOM("x"));
    atomic_store(&flaky_failures, 2);
    erl_exit(x, ATOM("boom"));
    expect_event("failed", ATOM("x"));
    expect_event("failed", ATOM("x"));
    term x2 = expect_started(ATOM("x"));
    cr_assert(term_eq(child_pid(sup, ATOM("x")), x2));
    cr_assert(erl_is_alive(sup));
}
