/*
 * test_core_supervisor.c - the supervisor behaviour (common/otp/supervisor.c).
 *
 * The children here are plain linked processes, not gen_servers, so this
 * suite tests the supervisor alone. Each child reports to a collector (the
 * test thread) as {event, started, Id, Pid} when it starts and, if it traps
 * exits, {event, stopping, Id, Reason} when its supervisor tells it to go.
 * The order of those events is the order the supervisor did things in:
 * a child reports its start before its start function returns, and a
 * stopping child reports before it dies, which is before the supervisor
 * moves on to the next one.
 */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "supervisor.h"
#include "sys.h"
#include "test_util.h"

static void setup(void)
{
    start_runtime();
    supervisor_set_report(NULL);    /* the crashes here are on purpose */
}

/* ---- Children ------------------------------------------------------------ */

/* How long a "hold" child takes to stop, ms. */
#define HOLD_MS 300

/*
 * A child: arg is {Supervisor, {Collector, Id, Mode}}. Modes:
 *   plain   does not trap exits: an exit signal kills it
 *   trap    traps exits; on {'EXIT', _, R} reports stopping, exits with R
 *   hold    as trap, but takes HOLD_MS to stop
 *   slow    as trap, but never stops: only kill ends it
 * Any mode obeys {exit, Reason} (exits with Reason) from the test.
 */
static void child_main(term arg)
{
    term sup, collector, id, mode;
    cr_assert(match(arg, TUPLE(VAR(&sup), TUPLE(VAR(&collector), VAR(&id), VAR(&mode)))));
    if (!is_atom_named(mode, "plain"))
        erl_trap_exit(true);
    erl_send(collector, TUPLE(ATOM("event"), ATOM("started"), id, erl_self()));
    erl_send(sup, TUPLE(ATOM("ready"), erl_self()));
    for (;;) {
        term reason;
        term m = erl_receive(ANY, ERL_INFINITY);
        if (match(m, TUPLE(ATOM("exit"), VAR(&reason))))
            erl_exit_self(reason);
        if (match(m, TUPLE(ATOM("EXIT"), ANY, VAR(&reason)))) {
            erl_send(collector, TUPLE(ATOM("event"), ATOM("stopping"), id, reason));
            if (is_atom_named(mode, "slow"))
                erl_receive(ATOM("never_sent"), ERL_INFINITY);
            if (is_atom_named(mode, "hold"))
                erl_sleep(HOLD_MS);
            erl_exit_self(reason);
        }
        erl_drop(m);
    }
}

/*
 * The start function: arg is {Collector, Id, Mode}. Mode fail makes it
 * return {error, no_luck}, ignore makes it ignore, bogus makes it return
 * 42 (neither a pid nor NONE), exit and divzero make it crash (exit
 * gave_up, a division by zero); any other starts a child
 * linked to the supervisor and waits until it is ready, as proc_lib does.
 */
static term child_start(term arg, term *error)
{
    term mode = element(3, arg);
    if (is_atom_named(mode, "fail")) {
        *error = ATOM("no_luck");
        return NONE;
    }
    if (is_atom_named(mode, "ignore")) {
        *error = ATOM("ignore");
        return NONE;
    }
    if (is_atom_named(mode, "bogus"))
        return INT(42);
    if (is_atom_named(mode, "exit"))
        erl_exit_self(ATOM("gave_up"));
    if (is_atom_named(mode, "divzero"))
        return INT(divide_by(0));
    term pid = erl_spawn_link(child_main, TUPLE(erl_self(), arg));
    erl_drop(erl_receive(TUPLE(ATOM("ready"), pid), ERL_INFINITY));
    return pid;
}

/* How many of flaky_start's next calls fail. Each test runs in a process
 * of its own, so one counter per test. */
static atomic_int flaky_failures;

/* child_start, but while flaky_failures is above zero it counts it down,
 * reports {event, failed, Id, Left} and fails. */
static term flaky_start(term arg, term *error)
{
    int left = atomic_load(&flaky_failures);
    if (left > 0) {
        atomic_store(&flaky_failures, left - 1);
        erl_send(element(1, arg), TUPLE(ATOM("event"), ATOM("failed"), element(2, arg),
                                        INT(left - 1)));
        *error = ATOM("flaky");
        return NONE;
    }
    return child_start(arg, error);
}

/* simple_one_for_one: arg is the list [Collector, Mode, Id]. */
static term instance_start(term arg, term *error)
{
    cr_assert(is_list(arg) && arg.size == 3);
    const term *v = arg.u.elements;
    return child_start(TUPLE(v[0], v[2], v[1]), error);
}

/* A worker spec reporting to the caller; valid in the enclosing block. */
#define WORKER(id, mode, restart, shutdown)                                   \
    ((struct sup_child_spec){(id), child_start,                               \
                             TUPLE(erl_self(), (id), ATOM(mode)), (restart),  \
                             (shutdown), SUP_WORKER})

#define FLAGS(strategy, intensity, period) \
    ((struct sup_flags){(strategy), (intensity), (period)})

/* ---- Watching ------------------------------------------------------------ */

/* Takes the next event and checks it is kind for id. Returns its data. */
static term expect_event(const char *kind, term id)
{
    term k, who, data;
    term m = erl_receive(TUPLE(ATOM("event"), VAR(&k), VAR(&who), VAR(&data)), WAIT_MS);
    cr_assert(!is_none(m), "no event within %d ms; expected %s %s", WAIT_MS, kind,
              FMT(id));
    cr_assert(is_atom_named(k, kind) && term_eq(who, id),
              "event %s %s, expected %s %s", FMT(k), FMT(who), kind, FMT(id));
    return data;
}

static term expect_started(term id)
{
    term pid = expect_event("started", id);
    cr_assert(is_pid(pid));
    return pid;
}

static void expect_stopping(term id, term reason)
{
    term r = expect_event("stopping", id);
    cr_assert(term_eq(r, reason), "%s stopping with %s, expected %s", FMT(id),
              FMT(r), FMT(reason));
}

/* No event is waiting. */
static void expect_no_event(void)
{
    expect_no_message(TUPLE(ATOM("event"), ANY, ANY, ANY));
}

/* The Pid field which_children gives for id (a pid, undefined or
 * restarting), or NONE when id is not among the children. */
static term child_pid(term sup, term id)
{
    term error = NONE;
    term kids = supervisor_which_children(sup, &error);
    cr_assert(!is_none(kids), "which_children failed: %s", FMT(error));
    term found = NONE;
    for (size_t i = 0; i < kids.size; i++)
        if (term_eq(element(1, kids.u.elements[i]), id))
            found = element(2, kids.u.elements[i]);
    erl_drop(kids);
    return found;
}

/* Waits until the supervisor has handled old's exit: its entry for id no
 * longer shows old. Returns what it shows now. */
static term await_handled(term sup, term id, term old)
{
    term ref = erl_monitor(old);
    await_down(ref);
    term now;
    while (term_eq(now = child_pid(sup, id), old))
        erl_yield();
    return now;
}

/* Starts a linked supervisor and fails the test if it does not start. */
static term start_sup(struct sup_flags flags, const struct sup_child_spec *specs, size_t n)
{
    term error = NONE;
    term sup = supervisor_start_link(NONE, flags, specs, n, &error);
    cr_assert(is_pid(sup), "supervisor_start_link failed: %s", FMT(error));
    return sup;
}

static void stop_sup(term sup)
{
    term error = NONE;
    cr_assert_eq(supervisor_stop(sup, ATOM("normal"), WAIT_MS, &error), 0,
                 "supervisor_stop failed: %s", FMT(error));
}

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

/* Starts a, b, c (and d when n is 4), trapping, under strategy. */
static term start_abcd(enum sup_strategy strategy, size_t n, term pids[4])
{
    struct sup_child_spec specs[] = {
        WORKER(ATOM("a"), "trap", SUP_PERMANENT, 5000),
        WORKER(ATOM("b"), "trap", SUP_PERMANENT, 5000),
        WORKER(ATOM("c"), "trap", SUP_PERMANENT, 5000),
        WORKER(ATOM("d"), "trap", SUP_PERMANENT, 5000),
    };
    term sup = start_sup(FLAGS(strategy, 5, 60), specs, n);
    pids[0] = expect_started(ATOM("a"));
    pids[1] = expect_started(ATOM("b"));
    pids[2] = expect_started(ATOM("c"));
    if (n == 4)
        pids[3] = expect_started(ATOM("d"));
    return sup;
}

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

/* ---- Trees --------------------------------------------------------------- */

TestSuite(tree, .init = setup, .fini = stop_runtime, .timeout = 30);

/* A sub-supervisor with children x and y (plain); arg is the collector. */
static term sub_start(term collector, term *error)
{
    struct sup_child_spec specs[] = {
        {ATOM("x"), child_start, TUPLE(collector, ATOM("x"), ATOM("plain")),
         SUP_PERMANENT, 5000, SUP_WORKER},
        {ATOM("y"), child_start, TUPLE(collector, ATOM("y"), ATOM("plain")),
         SUP_PERMANENT, 5000, SUP_WORKER},
    };
    return supervisor_start_link(NONE, FLAGS(SUP_ONE_FOR_ONE, 5, 60), specs, 2, error);
}

/* top: a (worker), sub (supervisor of x and y). */
static term start_tree(term *sub)
{
    struct sup_child_spec specs[] = {
        WORKER(ATOM("a"), "plain", SUP_PERMANENT, 5000),
        {ATOM("sub"), sub_start, erl_self(), SUP_PERMANENT, SUP_INFINITY, SUP_SUPERVISOR},
    };
    term error = NONE;
    term top = supervisor_start_link(ATOM("sup_tree_test"), FLAGS(SUP_ONE_FOR_ONE, 5, 60),
                                     specs, 2, &error);
    cr_assert(is_pid(top), "%s", FMT(error));
    expect_started(ATOM("a"));
    expect_started(ATOM("x"));
    expect_started(ATOM("y"));
    *sub = child_pid(top, ATOM("sub"));
    cr_assert(is_pid(*sub));
    return top;
}

Test(tree, a_grandchild_is_restarted_by_its_own_supervisor)
{
    term sub;
    term top = start_tree(&sub);
    term x = child_pid(sub, ATOM("x"));
    erl_exit(x, ATOM("boom"));
    term x2 = expect_started(ATOM("x"));
    cr_assert(term_eq(child_pid(sub, ATOM("x")), x2));
    cr_assert(term_eq(child_pid(top, ATOM("sub")), sub), "the sub-supervisor was restarted");
    expect_no_event();
}

Test(tree, a_killed_sub_supervisor_is_restarted_with_its_children)
{
    term sub;
    term top = start_tree(&sub);
    term x = child_pid(sub, ATOM("x")), y = child_pid(sub, ATOM("y"));
    term rx = erl_monitor(x), ry = erl_monitor(y);
    erl_exit(sub, ATOM("kill"));
    expect_down(rx, ATOM("killed"));     /* they die with their supervisor */
    expect_down(ry, ATOM("killed"));
    term x2 = expect_started(ATOM("x"));
    term y2 = expect_started(ATOM("y"));
    term sub2 = child_pid(top, ATOM("sub"));
    cr_assert(is_pid(sub2) && !term_eq(sub2, sub));
    cr_assert(term_eq(child_pid(sub2, ATOM("x")), x2));
    cr_assert(term_eq(child_pid(sub2, ATOM("y")), y2));
    expect_no_event();          /* a was left alone */
}

Test(tree, stopping_the_top_stops_the_whole_tree)
{
    term sub;
    term top = start_tree(&sub);
    term rs = erl_monitor(sub);
    term rx = erl_monitor(child_pid(sub, ATOM("x")));
    stop_sup(top);
    expect_down(rx, ATOM("shutdown"));
    expect_down(rs, ATOM("shutdown"));
}

Test(tree, print_tree_shows_every_level)
{
    term sub;
    start_tree(&sub);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    cr_assert(out);
    term error = NONE;
    int n = supervisor_print_tree(out, ATOM("sup_tree_test"), &error);
    fclose(out);
    cr_assert_eq(n, 4, "printed %d children: %s", n, text);
    cr_assert(strstr(text, "sup_tree_test <"), "%s", text);
    cr_assert(strstr(text, "\n  a <"), "%s", text);
    cr_assert(strstr(text, "\n  sub <"), "%s", text);
    cr_assert(strstr(text, "> supervisor\n    x <"), "%s", text);
    cr_assert(strstr(text, "\n    y <"), "%s", text);
    free(text);
}

/* ---- simple_one_for_one -------------------------------------------------- */

TestSuite(simple_one_for_one, .init = setup, .fini = stop_runtime, .timeout = 30);

static term start_simple(void)
{
    struct sup_child_spec tmpl[] = {
        {ATOM("inst"), instance_start, LIST(erl_self(), ATOM("trap")), SUP_PERMANENT,
         5000, SUP_WORKER},
    };
    return start_sup(FLAGS(SUP_SIMPLE_ONE_FOR_ONE, 5, 60), tmpl, 1);
}

Test(simple_one_for_one, starts_nothing_until_asked_then_one_instance_per_call)
{
    term sup = start_simple();
    expect_no_event();
    term error = NONE;
    term i1 = supervisor_start_instance(sup, LIST(ATOM("i1")), &error);
    cr_assert(is_pid(i1), "%s", FMT(error));
    cr_assert(term_eq(expect_started(ATOM("i1")), i1));
    term i2 = supervisor_start_instance(sup, LIST(ATOM("i2")), &error);
    cr_assert(term_eq(expect_started(ATOM("i2")), i2));

    term kids = supervisor_which_children(sup, &error);
    cr_assert(match(kids, LIST(TUPLE(ATOM("undefined"), i2, ATOM("worker"), NIL),
                               TUPLE(ATOM("undefined"), i1, ATOM("worker"), NIL))),
              "which_children %s", FMT(kids));
    struct sup_counts n;
    cr_assert_eq(supervisor_count_children(sup, &n, &error), 0);
    cr_assert(n.specs == 1 && n.active == 2 && n.workers == 2 && n.supervisors == 0);
}

Test(simple_one_for_one, a_crashed_instance_restarts_with_its_own_arguments)
{
    term sup = start_simple();
    term i1 = supervisor_start_instance(sup, LIST(ATOM("i1")), NULL);
    expect_started(ATOM("i1"));
    term i2 = supervisor_start_instance(sup, LIST(ATOM("i2")), NULL);
    expect_started(ATOM("i2"));
    erl_send(i1, TUPLE(ATOM("exit"), ATOM("boom")));
    term again = expect_started(ATOM("i1"));
    cr_assert(!term_eq(again, i1));
    struct sup_counts n;
    cr_assert_eq(supervisor_count_children(sup, &n, NULL), 0);
    cr_assert_eq(n.active, 2);
    cr_assert(erl_is_alive(i2));
    expect_no_event();
}

Test(simple_one_for_one, terminate_child_takes_a_pid_and_forgets_the_instance)
{
    term sup = start_simple();
    term i1 = supervisor_start_instance(sup, LIST(ATOM("i1")), NULL);
    expect_started(ATOM("i1"));
    term error = NONE;
    cr_assert_eq(supervisor_terminate_child(sup, ATOM("i1"), &error), -1);
    cr_assert(is_atom_named(error, "simple_one_for_one"));
    cr_assert_eq(supervisor_terminate_child(sup, i1, &error), 0);
    expect_stopping(ATOM("i1"), ATOM("shutdown"));
    struct sup_counts n;
    cr_assert_eq(supervisor_count_children(sup, &n, NULL), 0);
    cr_assert(n.active == 0 && n.workers == 0);
    cr_assert_eq(supervisor_delete_child(sup, ATOM("inst"), &error), -1);
    cr_assert(is_atom_named(error, "simple_one_for_one"));
    cr_assert(is_none(supervisor_restart_child(sup, ATOM("inst"), &error)));
    cr_assert(is_atom_named(error, "simple_one_for_one"));
}

Test(simple_one_for_one, stopping_the_supervisor_stops_every_instance)
{
    term sup = start_simple();
    term r[3];
    for (int i = 0; i < 3; i++) {
        term pid = supervisor_start_instance(sup, LIST(INT(i)), NULL);
        cr_assert(term_eq(expect_started(INT(i)), pid));
        r[i] = erl_monitor(pid);
    }
    stop_sup(sup);
    for (int i = 0; i < 3; i++)
        expect_down(r[i], ATOM("shutdown"));
}

/* ---- Managing children --------------------------------------------------- */

TestSuite(child_api, .init = setup, .fini = stop_runtime, .timeout = 30);

static term start_ab(void)
{
    struct sup_child_spec specs[] = {
        WORKER(ATOM("a"), "trap", SUP_PERMANENT, 5000),
        WORKER(ATOM("b"), "trap", SUP_PERMANENT, 5000),
    };
    term sup = start_sup(FLAGS(SUP_ONE_FOR_ONE, 5, 60), specs, 2);
    expect_started(ATOM("a"));
    expect_started(ATOM("b"));
    return sup;
}

Test(child_api, start_child_adds_a_child_after_the_others)
{
    term sup = start_ab();
    struct sup_child_spec c = WORKER(ATOM("c"), "trap", SUP_PERMANENT, 5000);
    term error = NONE;
    term pid = supervisor_start_child(sup, &c, &error);
    cr_assert(is_pid(pid), "%s", FMT(error));
    cr_assert(term_eq(expect_started(ATOM("c")), pid));
    term kids = supervisor_which_children(sup, &error);
    cr_assert(match(kids, LIST(TUPLE(ATOM("c"), pid, ATOM("worker"), NIL),
                               TUPLE(ATOM("b"), ANY, ATOM("worker"), NIL),
                               TUPLE(ATOM("a"), ANY, ATOM("worker"), NIL))),
              "which_children %s", FMT(kids));
    stop_sup(sup);
    expect_stopping(ATOM("c"), ATOM("shutdown"));   /* newest first */
    expect_stopping(ATOM("b"), ATOM("shutdown"));
    expect_stopping(ATOM("a"), ATOM("shutdown"));
}

Test(child_api, start_child_with_a_known_id_fails)
{
    term sup = start_ab();
    term a = child_pid(sup, ATOM("a"));
    struct sup_child_spec dup = WORKER(ATOM("a"), "trap", SUP_PERMANENT, 5000);
    term error = NONE;
    cr_assert(is_none(supervisor_start_child(sup, &dup, &error)));
    cr_assert(term_eq(error, TUPLE(ATOM("already_started"), a)), "%s", FMT(error));
    cr_assert_eq(supervisor_terminate_child(sup, ATOM("a"), NULL), 0);
    cr_assert(is_none(supervisor_start_child(sup, &dup, &error)));
    cr_assert(is_atom_named(error, "already_present"), "%s", FMT(error));
}

Test(child_api, start_child_that_fails_or_ignores)
{
    term sup = start_ab();
    struct sup_child_spec bad = WORKER(ATOM("f"), "fail", SUP_PERMANENT, 5000);
    term error = NONE;
    cr_assert(is_none(supervisor_start_child(sup, &bad, &error)));
    term start = TUPLE(ATOM("c"), INT((intptr_t)child_start), bad.arg);
    cr_assert(match(error, TUPLE(ATOM("no_luck"),
                                 TUPLE(ATOM("child"), ATOM("undefined"), ATOM("f"), start,
                                       ATOM("permanent"), ATOM("false"), INT(5000),
                                       ATOM("worker"), NIL))),
              "OTP's {Reason, #child{}}: %s", FMT(error));
    cr_assert(is_none(child_pid(sup, ATOM("f"))), "a failed child is kept");
    struct sup_child_spec ign = WORKER(ATOM("i"), "ignore", SUP_PERMANENT, 5000);
    term r = supervisor_start_child(sup, &ign, &error);
    cr_assert(is_atom_named(r, "undefined"), "%s", FMT(r));
    cr_assert(is_atom_named(child_pid(sup, ATOM("i")), "undefined"));
}

Test(child_api, a_start_function_that_crashes_fails_the_start_and_the_supervisor_goes_on)
{
    term sup = start_ab();
    struct sup_child_spec crash = WORKER(ATOM("e"), "exit", SUP_PERMANENT, 5000);
    term error = NONE;
    cr_assert(is_none(supervisor_start_child(sup, &crash, &error)));
    cr_assert(match(error, TUPLE(TUPLE(ATOM("EXIT"), ATOM("gave_up")),
                                 TUPLE(ATOM("child"), ATOM("undefined"), ATOM("e"),
                                       ANY, ANY, ANY, ANY, ANY, ANY))),
              "OTP's {{'EXIT', Reason}, #child{}}: %s", FMT(error));
    struct sup_child_spec fault = WORKER(ATOM("z"), "divzero", SUP_PERMANENT, 5000);
    cr_assert(is_none(supervisor_start_child(sup, &fault, &error)));
    cr_assert(match(error, TUPLE(TUPLE(ATOM("EXIT"), ATOM("badarith")), ANY)),
              "a fault in the start function: %s", FMT(error));
    cr_assert(erl_is_alive(sup), "the supervisor survives its children's start functions");
    struct sup_child_spec good = WORKER(ATOM("g"), "ok", SUP_PERMANENT, 5000);
    cr_assert(is_pid(supervisor_start_child(sup, &good, &error)), "%s", FMT(error));
}

Test(child_api, start_child_whose_start_returns_no_pid_fails_with_that_value)
{
    term sup = start_ab();
    struct sup_child_spec odd = WORKER(ATOM("o"), "bogus", SUP_PERMANENT, 5000);
    term error = NONE;
    cr_assert(is_none(supervisor_start_child(sup, &odd, &error)));
    cr_assert(match(error, TUPLE(INT(42), TUPLE(ATOM("child"), ATOM("undefined"), ATOM("o"),
                                                ANY, ANY, ANY, ANY, ANY, ANY))),
              "OTP's What -> {error, What}: %s", FMT(error));
}

Test(child_api, start_child_with_a_bad_spec_names_the_field)
{
    term sup = start_ab();
    struct sup_child_spec bad = WORKER(ATOM("x"), "trap", (enum sup_restart)7, 5000);
    term error = NONE;
    cr_assert(is_none(supervisor_start_child(sup, &bad, &error)));
    cr_assert(match(error, TUPLE(ATOM("invalid_restart_type"), INT(7))), "%s", FMT(error));
    bad.restart = SUP_PERMANENT;
    bad.shutdown = -7;
    cr_assert(is_none(supervisor_start_child(sup, &bad, &error)));
    cr_assert(match(error, TUPLE(ATOM("invalid_shutdown"), INT(-7))), "%s", FMT(error));
    cr_assert(is_none(child_pid(sup, ATOM("x"))), "nothing was added");
}

Test(child_api, a_failed_start_instance_is_the_reason_alone)
{
    struct sup_child_spec tmpl[] = {
        {ATOM("inst"), instance_start, LIST(erl_self(), ATOM("fail")), SUP_PERMANENT,
         5000, SUP_WORKER},
    };
    term sup = start_sup(FLAGS(SUP_SIMPLE_ONE_FOR_ONE, 5, 60), tmpl, 1);
    term error = NONE;
    cr_assert(is_none(supervisor_start_instance(sup, LIST(ATOM("i1")), &error)));
    cr_assert(is_atom_named(error, "no_luck"), "OTP adds no child here: %s", FMT(error));
}

Test(child_api, restart_child_that_fails_is_the_reason_alone)
{
    struct sup_child_spec specs[] = {
        {ATOM("f"), flaky_start, TUPLE(erl_self(), ATOM("f"), ATOM("trap")), SUP_PERMANENT,
         5000, SUP_WORKER},
    };
    term sup = start_sup(FLAGS(SUP_ONE_FOR_ONE, 5, 60), specs, 1);
    expect_started(ATOM("f"));
    cr_assert_eq(supervisor_terminate_child(sup, ATOM("f"), NULL), 0);
    expect_stopping(ATOM("f"), ATOM("shutdown"));
    atomic_store(&flaky_failures, 1);
    term error = NONE;
    cr_assert(is_none(supervisor_restart_child(sup, ATOM("f"), &error)));
    cr_assert(is_atom_named(error, "flaky"), "%s", FMT(error));
    expect_event("failed", ATOM("f"));
}

Test(child_api, terminate_keeps_the_spec_and_restart_starts_it_again)
{
    term sup = start_ab();
    term error = NONE;
    cr_assert_eq(supervisor_terminate_child(sup, ATOM("a"), &error), 0);
    expect_stopping(ATOM("a"), ATOM("shutdown"));
    cr_assert(is_atom_named(child_pid(sup, ATOM("a")), "undefined"));
    struct sup_counts n;
    cr_assert_eq(supervisor_count_children(sup, &n, NULL), 0);
    cr_assert(n.specs == 2 && n.active == 1 && n.workers == 2);

    term pid = supervisor_restart_child(sup, ATOM("a"), &error);
    cr_assert(is_pid(pid), "%s", FMT(error));
    cr_assert(term_eq(expect_started(ATOM("a")), pid));
    cr_assert(is_none(supervisor_restart_child(sup, ATOM("a"), &error)));
    cr_assert(is_atom_named(error, "running"), "%s", FMT(error));
    cr_assert(is_none(supervisor_restart_child(sup, ATOM("zz"), &error)));
    cr_assert(is_atom_named(error, "not_found"), "%s", FMT(error));
    cr_assert_eq(supervisor_terminate_child(sup, ATOM("zz"), &error), -1);
    cr_assert(is_atom_named(error, "not_found"), "%s", FMT(error));
}

Test(child_api, delete_forgets_only_a_stopped_child)
{
    term sup = start_ab();
    term error = NONE;
    cr_assert_eq(supervisor_delete_child(sup, ATOM("b"), &error), -1);
    cr_assert(is_atom_named(error, "running"), "%s", FMT(error));
    cr_assert_eq(supervisor_terminate_child(sup, ATOM("b"), &error), 0);
    expect_stopping(ATOM("b"), ATOM("shutdown"));
    cr_assert_eq(supervisor_delete_child(sup, ATOM("b"), &error), 0);
    cr_assert(is_none(child_pid(sup, ATOM("b"))));
    cr_assert_eq(supervisor_delete_child(sup, ATOM("b"), &error), -1);
    cr_assert(is_atom_named(error, "not_found"), "%s", FMT(error));
    struct sup_counts n;
    cr_assert_eq(supervisor_count_children(sup, &n, NULL), 0);
    cr_assert(n.specs == 1 && n.active == 1);
}

Test(child_api, count_children_tells_workers_from_supervisors)
{
    struct sup_child_spec specs[] = {
        WORKER(ATOM("a"), "plain", SUP_PERMANENT, 5000),
        {ATOM("sub"), sub_start, erl_self(), SUP_PERMANENT, SUP_INFINITY, SUP_SUPERVISOR},
        WORKER(ATOM("z"), "ignore", SUP_PERMANENT, 5000),
    };
    term sup = start_sup(FLAGS(SUP_ONE_FOR_ONE, 5, 60), specs, 3);
    struct sup_counts n;
    term error = NONE;
    cr_assert_eq(supervisor_count_children(sup, &n, &error), 0, "%s", FMT(error));
    cr_assert_eq(n.specs, 3);
    cr_assert_eq(n.active, 2);
    cr_assert_eq(n.supervisors, 1);
    cr_assert_eq(n.workers, 2);
}

Test(child_api, calls_to_a_dead_supervisor_fail_with_noproc)
{
    term sup = start_ab();
    stop_sup(sup);
    term error = NONE;
    cr_assert(is_none(supervisor_which_children(sup, &error)));
    cr_assert(is_atom_named(error, "noproc"), "%s", FMT(error));
    struct sup_counts n;
    cr_assert_eq(supervisor_count_children(ATOM("no_such_sup"), &n, &error), -1);
    cr_assert(is_atom_named(error, "noproc"), "%s", FMT(error));
}

Test(child_api, many_restarts_leave_the_supervisor_answering_and_its_mailbox_empty)
{
    struct sup_child_spec specs[] = {WORKER(ATOM("a"), "plain", SUP_PERMANENT, 5000)};
    term sup = start_sup(FLAGS(SUP_ONE_FOR_ONE, 1000000, 3600), specs, 1);
    term a = expect_started(ATOM("a"));
    int rounds = 2000 / SAN_DIVISOR;
    for (int i = 0; i < rounds; i++) {
        erl_exit(a, ATOM("boom"));
        a = expect_started(ATOM("a"));
    }
    cr_assert(term_eq(child_pid(sup, ATOM("a")), a));
}

/* ---- sys ----------------------------------------------------------------- */

TestSuite(sys, .init = setup, .fini = stop_runtime, .timeout = 30);

/* OTP's #child{} record of a worker started by WORKER(id, _, permanent, 5000). */
#define CHILD_RECORD(pid, id) \
    TUPLE(ATOM("child"), (pid), (id), TUPLE(ATOM("c"), ANY, ANY), ATOM("permanent"), \
          ATOM("false"), INT(5000), ATOM("worker"), NIL)

Test(sys, get_state_is_otps_state_record)
{
    term p[4];
    term sup = start_abcd(SUP_ONE_FOR_ONE, 3, p);
    term error = NONE;
    term st = sys_get_state(sup, WAIT_MS, &error);
    cr_assert(match(st, TUPLE(ATOM("state"), TUPLE(sup, ATOM("undefined")),
                              ATOM("one_for_one"),
                              LIST(CHILD_RECORD(p[2], ATOM("c")), CHILD_RECORD(p[1], ATOM("b")),
                                   CHILD_RECORD(p[0], ATOM("a"))),
                              ATOM("undefined"), INT(5), INT(60), NIL)),
              "state %s", FMT(st));
    erl_send(p[1], TUPLE(ATOM("exit"), ATOM("boom")));
    term b2 = expect_started(ATOM("b"));
    st = sys_get_state(sup, WAIT_MS, &error);
    term restarts = element(8, st);
    cr_assert(is_list(restarts) && restarts.size == 1, "one restart counts: %s", FMT(st));
    cr_assert(match(element(4, st), LIST(ANY, CHILD_RECORD(b2, ATOM("b")), ANY)));
}

Test(sys, get_state_of_simple_one_for_one_lists_the_instances_and_a_registered_name)
{
    struct sup_child_spec tmpl[] = {
        {ATOM("inst"), instance_start, LIST(erl_self(), ATOM("trap")), SUP_PERMANENT,
         5000, SUP_WORKER},
    };
    term error = NONE;
    term sup = supervisor_start_link(ATOM("sys_simple_sup"),
                                     FLAGS(SUP_SIMPLE_ONE_FOR_ONE, 5, 60), tmpl, 1, &error);
    cr_assert(is_pid(sup), "%s", FMT(error));
    term i1 = supervisor_start_instance(sup, LIST(ATOM("i1")), &error);
    cr_assert(is_pid(i1), "%s", FMT(error));
    term st = sys_get_state(ATOM("sys_simple_sup"), WAIT_MS, &error);
    cr_assert(match(st, TUPLE(ATOM("state"), TUPLE(ATOM("local"), ATOM("sys_simple_sup")),
                              ATOM("simple_one_for_one"),
                              LIST(CHILD_RECORD(ATOM("undefined"), ATOM("inst"))),
                              LIST(TUPLE(i1, LIST(erl_self(), ATOM("trap"), ATOM("i1")))),
                              INT(5), INT(60), NIL)),
              "state %s", FMT(st));
}

/* The header get_status gives a supervisor whose name prints as who. */
static term status_header(term who)
{
    char text[128], header[160];
    term_format(text, sizeof text, who);
    snprintf(header, sizeof header, "Status for generic server %s", text);
    return term_keep(term_binary(header, strlen(header)));
}

Test(sys, get_status_is_a_gen_servers_with_the_supervisor_section)
{
    term p[4];
    term sup = start_abcd(SUP_ONE_FOR_ONE, 3, p);
    term error = NONE;
    term st = sys_get_state(sup, WAIT_MS, &error);
    term status = sys_get_status(sup, WAIT_MS, &error);
    cr_assert(match(status,
        TUPLE(ATOM("status"), sup, TUPLE(ATOM("module"), ATOM("gen_server")),
              LIST(NIL, ATOM("running"), erl_self(), NIL,
                   LIST(TUPLE(ATOM("header"), status_header(sup)),
                        TUPLE(ATOM("data"), LIST(TUPLE(STR("Status"), ATOM("running")),
                                                 TUPLE(STR("Parent"), erl_self()))),
                        TUPLE(ATOM("data"), LIST(TUPLE(STR("State"), st))),
                        TUPLE(ATOM("supervisor"),
                              LIST(TUPLE(STR("Callback"), ATOM("undefined")))))))),
              "status %s", FMT(status));
}

Test(sys, a_suspended_supervisor_restarts_a_crashed_child_only_once_resumed)
{
    term p[4];
    term sup = start_abcd(SUP_ONE_FOR_ONE, 3, p);
    term error = NONE;
    cr_assert_eq(sys_suspend(sup, WAIT_MS, &error), 0, "%s", FMT(error));
    term status = sys_get_status(sup, WAIT_MS, &error);
    cr_assert(match(element(4, status), LIST(ANY, ATOM("suspended"), ANY, ANY, ANY)),
              "%s", FMT(status));
    term ref = erl_monitor(p[1]);
    erl_send(p[1], TUPLE(ATOM("exit"), ATOM("boom")));
    await_down(ref);
    /* Its 'EXIT' is on its way or waiting: while suspended it is not handled. */
    term st = sys_get_state(sup, WAIT_MS, &error);
    cr_assert(match(element(4, st), LIST(ANY, CHILD_RECORD(p[1], ATOM("b")), ANY)),
              "b still shows the dead pid: %s", FMT(st));
    expect_no_event();
    cr_assert_eq(sys_resume(sup, WAIT_MS, &error), 0, "%s", FMT(error));
    term b2 = expect_started(ATOM("b"));
    cr_assert(term_eq(child_pid(sup, ATOM("b")), b2));
}

Test(sys, calls_made_while_suspended_are_answered_after_resume_in_order)
{
    term p[4];
    term sup = start_abcd(SUP_ONE_FOR_ONE, 3, p);
    cr_assert_eq(sys_suspend(sup, WAIT_MS, NULL), 0);
    term tag1 = erl_make_ref(), tag2 = erl_make_ref();
    erl_send(sup, TUPLE(ATOM("$gen_call"), TUPLE(erl_self(), tag1), ATOM("count_children")));
    erl_send(sup, TUPLE(ATOM("$gen_call"), TUPLE(erl_self(), tag2),
                        TUPLE(ATOM("delete_child"), ATOM("zz"))));
    term error = NONE;
    term st = sys_get_state(sup, WAIT_MS, &error);   /* a round trip: answers come first */
    cr_assert(!is_none(st), "%s", FMT(error));
    expect_no_message(TUPLE(tag1, ANY));
    cr_assert_eq(sys_resume(sup, WAIT_MS, NULL), 0);
    term m = erl_receive(ANY, WAIT_MS);
    cr_assert(match(m, TUPLE(tag1, ANY)), "first the first call's answer: %s", FMT(m));
    m = erl_receive(ANY, WAIT_MS);
    cr_assert(match(m, TUPLE(tag2, TUPLE(ATOM("error"), ATOM("not_found")))), "%s", FMT(m));
}

Test(sys, a_suspended_supervisor_still_stops_when_asked)
{
    term p[4];
    term sup = start_abcd(SUP_ONE_FOR_ONE, 3, p);
    cr_assert_eq(sys_suspend(sup, WAIT_MS, NULL), 0);
    stop_sup(sup);
    expect_stopping(ATOM("c"), ATOM("shutdown"));
    expect_stopping(ATOM("b"), ATOM("shutdown"));
    expect_stopping(ATOM("a"), ATOM("shutdown"));
}

Test(sys, other_system_requests_are_unknown)
{
    term sup = start_ab();
    term error = NONE;
    term r = gen_call(sup, ATOM("system"), ATOM("bogus"), WAIT_MS, &error);
    cr_assert(match(r, TUPLE(ATOM("error"), TUPLE(ATOM("unknown_system_msg"), ATOM("bogus")))),
              "%s", FMT(r));
}
