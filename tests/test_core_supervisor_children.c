/*
 * test_core_supervisor_children.c - the supervisor behaviour
 * (common/otp/supervisor.c): trees, simple_one_for_one, the calls that
 * manage children, and what a supervisor answers sys. The children, and
 * how they report, are in supervisor_util.h.
 */
#include "supervisor_util.h"

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
