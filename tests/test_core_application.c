/*
 * test_core_application.c - applications (common/otp/): the application
 * controller (application.h) and the distributed-application policy
 * (dist_policy.h). The config reader has its own suite, test_core_config.c.
 *
 * The controller's tests run a real application, "counter": a callback
 * module whose start starts a supervisor of one worker, and tell its end
 * by the master's 'DOWN' (links are signalled before monitors, so the
 * controller has the master's 'EXIT' before any call made after it).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "application.h"
#include "config.h"
#include "dist_policy.h"
#include "gen_server.h"
#include "supervisor.h"
#include "test_util.h"

/* Parses text (named a.config); fails the test when it does not parse. */
static struct config *parse_ok(const char *text)
{
    char err[256];
    struct config *cfg = config_parse("a.config", text, strlen(text), err, sizeof err);
    cr_assert_not_null(cfg, "\"%s\" did not parse: %s", text, err);
    return cfg;
}

/* ---- The application controller ------------------------------------------ */

/*
 * The test application "counter": its module's start reads StartArgs:
 *   fail    returns the error nope           bad    returns 42 (no pid)
 *   crash   exits with boom                  other  starts its top process:
 * a supervisor (one_for_one, intensity 0) of one worker, which dies on
 * {die, Reason}; one death makes the supervisor give up with shutdown.
 * start tells the test thread {started, StartType, Env initial}, and stop
 * {stopped, State, Env initial}: the env read inside the callbacks.
 */
static term test_pid;       /* the test thread, set by ac_setup */

static void worker_main(term arg)
{
    (void)arg;
    erl_quiet(true);    /* its death is on purpose */
    term reason;
    erl_receive(TUPLE(ATOM("die"), VAR(&reason)), ERL_INFINITY);
    erl_exit_self(reason);
}

static term worker_start(term arg, term *error)
{
    (void)error;
    term pid = erl_spawn_link(worker_main, arg);
    erl_register(ATOM("counter"), pid);
    return pid;
}

static term counter_start(term type, term args, term *state, term *error)
{
    if (is_atom_named(args, "fail")) {
        *error = ATOM("nope");
        return NONE;
    }
    if (is_atom_named(args, "bad"))
        return INT(42);
    if (is_atom_named(args, "crash"))
        erl_exit_self(ATOM("boom"));
    term initial = application_get_env(ATOM("counter"), ATOM("initial"));
    erl_send(test_pid, TUPLE(ATOM("started"), type, initial));
    struct sup_child_spec spec = {ATOM("counter"), worker_start, NIL, SUP_PERMANENT,
                                  1000, SUP_WORKER};
    *state = ATOM("the_state");
    return supervisor_start_link(ATOM("counter_sup"), (struct sup_flags){SUP_ONE_FOR_ONE,
                                 0, 1}, &spec, 1, error);
}

static void counter_stop(term state)
{
    term initial = application_get_env(ATOM("counter"), ATOM("initial"));
    erl_send(test_pid, TUPLE(ATOM("stopped"), state, initial));
}

static const struct application_module counter_app = {"counter_app", counter_start,
                                                      counter_stop};

/* The counter's resource, with StartArgs args. A macro: its lists are
 * compound literals, which live to the end of the caller's block. */
#define counter_resource(args) ((struct application){ \
        .name = "counter", .description = "The counter", .vsn = "1.0", \
        .modules = LIST(ATOM("counter"), ATOM("counter_sup"), ATOM("counter_app")), \
        .registered = LIST(ATOM("counter_sup"), ATOM("counter")), \
        .applications = LIST(ATOM("kernel")), \
        .env = LIST(TUPLE(ATOM("initial"), INT(0)), TUPLE(ATOM("step"), INT(1))), \
        .mod = &counter_app, .start_args = (args)})

static char *report_text;   /* what the controller reported, so far */
static size_t report_len;
static FILE *report_stream;

static void halted(term app, term reason, void *ctx)
{
    erl_send(*(term *)ctx, TUPLE(ATOM("halted"), app, reason));
}

/* Starts the controller with config text (NULL: none). */
static void ac_start(const char *config_text)
{
    struct config *cfg = config_text ? parse_ok(config_text) : NULL;
    struct application_options opts = {.config = cfg ? config_term(cfg) : NONE,
                                       .halt = halted, .halt_ctx = &test_pid};
    term error = NONE;
    cr_assert(is_pid(application_controller_start(&opts, &error)),
              "controller: %s", FMT(error));
    config_free(cfg);       /* the controller took a copy */
}

static void ac_setup(void)
{
    start_runtime();
    test_pid = erl_self();
    supervisor_set_report(NULL);
    gen_server_set_report(NULL);
    report_stream = open_memstream(&report_text, &report_len);
    application_set_report(report_stream);
}

static void ac_teardown(void)
{
    erl_stop();
    fclose(report_stream);
    free(report_text);
}

/* What was reported so far (a string valid until the next report). */
static const char *reports(void)
{
    fflush(report_stream);
    return report_text;
}

TestSuite(application, .timeout = 60, .init = ac_setup, .fini = ac_teardown);

/* Asserts a call failed with *error equal to want. */
#define expect_app_error(call, want) do { \
        term e_ = NONE; \
        cr_assert_eq((call), -1, #call " succeeded"); \
        cr_assert(term_eq(e_ = error, (want)), #call ": error %s, want %s", \
                  FMT(e_), FMT(want)); \
        erl_drop(error); \
    } while (0)

Test(application, loads_starts_and_stops_with_otps_results)
{
    ac_start(NULL);
    term error = NONE;
    struct application res = counter_resource(NIL);
    expect_app_error(application_start(ATOM("counter"), APP_TEMPORARY, &error),
                     TUPLE(ATOM("not_loaded"), ATOM("counter")));
    cr_assert_eq(application_load(&res, &error), 0);
    expect_app_error(application_load(&res, &error),
                     TUPLE(ATOM("already_loaded"), ATOM("counter")));
    expect_app_error(application_stop(ATOM("counter"), &error),
                     TUPLE(ATOM("not_started"), ATOM("counter")));
    cr_assert_eq(application_start(ATOM("counter"), APP_TEMPORARY, &error), 0,
                 "%s", FMT(error));
    await(TUPLE(ATOM("started"), ATOM("normal"), INT(0)), "start(normal, [])");
    cr_assert(is_pid(erl_whereis(ATOM("counter_sup"))), "the top supervisor runs");
    cr_assert(term_eq(application_top(ATOM("counter")), erl_whereis(ATOM("counter_sup"))));
    expect_app_error(application_start(ATOM("counter"), APP_TEMPORARY, &error),
                     TUPLE(ATOM("already_started"), ATOM("counter")));
    expect_app_error(application_unload(ATOM("counter"), &error),
                     TUPLE(ATOM("running"), ATOM("counter")));
    term apps = application_which_applications(&error);
    term want = LIST(TUPLE(ATOM("counter"), LIST(INT('T'), INT('h'), INT('e'), INT(' '),
                           INT('c'), INT('o'), INT('u'), INT('n'), INT('t'), INT('e'),
                           INT('r')), LIST(INT('1'), INT('.'), INT('0'))),
                     TUPLE(ATOM("kernel"), ANY, ANY));
    cr_assert(match(apps, want), "which_applications: %s", FMT(apps));
    erl_drop(apps);
    term sup = erl_whereis(ATOM("counter_sup"));
    term ref = erl_monitor(sup);
    cr_assert_eq(application_stop(ATOM("counter"), &error), 0);
    expect_down(ref, ATOM("shutdown"));
    await(TUPLE(ATOM("stopped"), ATOM("the_state"), INT(0)), "stop(State)");
    cr_assert_str_eq(reports(), "=INFO REPORT====\n    application: counter\n"
                     "    exited: stopped\n    type: temporary\n\n");
    cr_assert_eq(application_unload(ATOM("counter"), &error), 0);
    expect_app_error(application_unload(ATOM("counter"), &error),
                     TUPLE(ATOM("not_loaded"), ATOM("counter")));
}

Test(application, config_overrides_and_extends_the_resources_env)
{
    ac_start("[{counter, [{initial, 42}, {label, <<\"c\">>}]}, {kernel, [{k, 1}]}].");
    term error = NONE;
    cr_assert(is_none(application_get_env(ATOM("counter"), ATOM("initial"))),
              "not loaded: undefined");
    struct application res = counter_resource(NIL);
    cr_assert_eq(application_load(&res, &error), 0);
    cr_assert(term_eq(application_get_env(ATOM("counter"), ATOM("initial")), INT(42)));
    cr_assert(term_eq(application_get_env(ATOM("counter"), ATOM("step")), INT(1)));
    term label = application_get_env(ATOM("counter"), ATOM("label"));
    cr_assert(term_eq(label, STR("c")), "label %s", FMT(label));
    erl_drop(label);
    cr_assert(is_none(application_get_env(ATOM("counter"), ATOM("absent"))));
    cr_assert(term_eq(application_get_env(ATOM("kernel"), ATOM("k")), INT(1)));
    term all = application_get_all_env(ATOM("counter"));
    cr_assert(term_eq(all, LIST(TUPLE(ATOM("initial"), INT(42)), TUPLE(ATOM("step"), INT(1)),
                                TUPLE(ATOM("label"), STR("c")))), "%s", FMT(all));
    erl_drop(all);
    cr_assert_eq(application_set_env(ATOM("counter"), ATOM("initial"), INT(7), &error), 0);
    cr_assert_eq(application_start(ATOM("counter"), APP_TEMPORARY, &error), 0);
    await(TUPLE(ATOM("started"), ATOM("normal"), INT(7)), "start saw the env set");
    expect_app_error(application_set_env(ATOM("nobody"), ATOM("k"), INT(1), &error),
                     TUPLE(ATOM("not_loaded"), ATOM("nobody")));
    /* the stop callback reads its env while the controller stops everything */
    cr_assert_eq(application_controller_stop(WAIT_MS, &error), 0, "%s", FMT(error));
    await(TUPLE(ATOM("stopped"), ATOM("the_state"), INT(7)), "stop read its env");
}

Test(application, failed_starts_have_otps_error_shapes)
{
    ac_start(NULL);
    static const char *const args[] = {"fail", "bad", "crash"};
    for (int i = 0; i < 3; i++) {
        term error = NONE;
        term mfa = TUPLE(ATOM("counter_app"), ATOM("start"), LIST(ATOM("normal"),
                                                                 atom_from(args[i])));
        term want[] = {TUPLE(ATOM("nope"), mfa),
                       TUPLE(ATOM("bad_return"), TUPLE(mfa, INT(42))),
                       TUPLE(ATOM("bad_return"), TUPLE(mfa, TUPLE(ATOM("EXIT"),
                                                                  ATOM("boom"))))};
        struct application res = counter_resource(atom_from(args[i]));
        cr_assert_eq(application_load(&res, &error), 0);
        expect_app_error(application_start(ATOM("counter"), APP_PERMANENT, &error), want[i]);
        term apps = application_which_applications(&error);
        cr_assert(match(apps, LIST(TUPLE(ATOM("kernel"), ANY, ANY))), "%s", FMT(apps));
        erl_drop(apps);
        cr_assert_eq(application_unload(ATOM("counter"), &error), 0);
    }
    cr_assert(strstr(reports(), "    exited: {nope,{counter_app,start,[normal,fail]}}\n"
                     "    type: permanent\n"), "%s", reports());
    cr_assert(is_pid(erl_whereis(ATOM("application_controller"))),
              "a failed start halts nothing");
}

Test(application, a_required_application_must_run_first)
{
    ac_start(NULL);
    term error = NONE;
    struct application res = counter_resource(NIL);
    res.applications = LIST(ATOM("kernel"), ATOM("store"));
    cr_assert_eq(application_load(&res, &error), 0);
    struct application store = {.name = "store", .env = NIL, .modules = NIL,
                                .registered = NIL, .applications = NIL, .start_args = NONE};
    cr_assert_eq(application_load(&store, &error), 0);
    expect_app_error(application_start(ATOM("counter"), APP_TEMPORARY, &error),
                     TUPLE(ATOM("not_started"), ATOM("store")));
    cr_assert_eq(application_start(ATOM("store"), APP_TEMPORARY, &error), 0,
                 "a library application starts nothing");
    cr_assert(is_none(application_top(ATOM("store"))));
    cr_assert_eq(application_start(ATOM("counter"), APP_TEMPORARY, &error), 0);
    cr_assert_eq(application_stop(ATOM("store"), &error), 0);
}

Test(application, a_bad_resource_is_refused)
{
    ac_start(NULL);
    term error = NONE;
    struct application res = counter_resource(NIL);
    res.env = LIST(ATOM("x"));
    expect_app_error(application_load(&res, &error),
                     TUPLE(ATOM("invalid_resource"), TUPLE(ATOM("env"), LIST(ATOM("x")))));
    res = counter_resource(NIL);
    res.name = NULL;
    expect_app_error(application_load(&res, &error),
                     TUPLE(ATOM("invalid_resource"), TUPLE(ATOM("name"), ATOM("undefined"))));
}

Test(application, takes_the_start_type_a_distributed_controller_gives)
{
    ac_start(NULL);
    term error = NONE;
    struct application res = counter_resource(NIL);
    cr_assert_eq(application_load(&res, &error), 0);
    term type = TUPLE(ATOM("takeover"), ATOM("b@localhost"));
    cr_assert_eq(application_start_as(ATOM("counter"), APP_PERMANENT, type, &error), 0);
    await(TUPLE(ATOM("started"), type, INT(0)), "start({takeover, b@localhost}, [])");
}

/* Starts the counter with type, kills its worker (so its supervisor gives
 * up with shutdown) and waits until its master has ended. */
static void crash_counter(enum app_type type)
{
    term error = NONE;
    struct application res = counter_resource(NIL);
    struct application other = {.name = "other", .env = NIL, .modules = NIL,
                                .registered = NIL, .applications = NIL, .start_args = NONE};
    cr_assert_eq(application_load(&other, &error), 0);
    cr_assert_eq(application_start(ATOM("other"), APP_TEMPORARY, &error), 0);
    cr_assert_eq(application_load(&res, &error), 0);
    cr_assert_eq(application_start(ATOM("counter"), type, &error), 0);
    term master = application_master(ATOM("counter"));
    cr_assert(is_pid(master));
    term ref = erl_monitor(master);
    erl_send(ATOM("counter"), TUPLE(ATOM("die"), ATOM("boom")));
    expect_down(ref, ATOM("shutdown"));
    await(TUPLE(ATOM("stopped"), ATOM("the_state"), INT(0)), "stop after the crash");
}

Test(application, a_temporary_applications_end_is_only_reported)
{
    ac_start(NULL);
    crash_counter(APP_TEMPORARY);
    term error = NONE;
    term apps = application_which_applications(&error);   /* after the 'EXIT' */
    cr_assert(match(apps, LIST(TUPLE(ATOM("other"), ANY, ANY), TUPLE(ATOM("kernel"), ANY, ANY))),
              "the others run on: %s", FMT(apps));
    erl_drop(apps);
    cr_assert_str_eq(reports(), "=INFO REPORT====\n    application: counter\n"
                     "    exited: shutdown\n    type: temporary\n\n");
    expect_no_message(TUPLE(ATOM("halted"), ANY, ANY));
}

Test(application, a_transient_applications_abnormal_end_halts)
{
    ac_start(NULL);
    term ac = erl_whereis(ATOM("application_controller"));
    term ref = erl_monitor(ac);
    crash_counter(APP_TRANSIENT);
    await(TUPLE(ATOM("halted"), ATOM("counter"), ATOM("shutdown")), "halt");
    expect_down(ref, TUPLE(ATOM("application_terminated"), ATOM("counter"),
                           ATOM("shutdown")));
    cr_assert(strstr(reports(), "    application: counter\n    exited: shutdown\n"
                     "    type: transient\n\n=INFO REPORT====\n    application: other\n"
                     "    exited: stopped\n"), "%s", reports());
}

Test(application, a_transient_applications_normal_end_is_only_reported)
{
    ac_start(NULL);
    term error = NONE;
    struct application res = counter_resource(NIL);
    cr_assert_eq(application_load(&res, &error), 0);
    cr_assert_eq(application_start(ATOM("counter"), APP_TRANSIENT, &error), 0);
    term master = application_master(ATOM("counter"));
    term ref = erl_monitor(master);
    supervisor_stop(ATOM("counter_sup"), ATOM("normal"), WAIT_MS, &error);
    expect_down(ref, ATOM("normal"));
    term apps = application_which_applications(&error);
    cr_assert(match(apps, LIST(TUPLE(ATOM("kernel"), ANY, ANY))), "%s", FMT(apps));
    erl_drop(apps);
    cr_assert(strstr(reports(), "    exited: normal\n    type: transient\n"));
    expect_no_message(TUPLE(ATOM("halted"), ANY, ANY));
}

Test(application, a_permanent_applications_end_stops_the_others_and_halts)
{
    ac_start(NULL);
    term ac = erl_whereis(ATOM("application_controller"));
    term ref = erl_monitor(ac);
    crash_counter(APP_PERMANENT);
    await(TUPLE(ATOM("halted"), ATOM("counter"), ATOM("shutdown")), "halt");
    expect_down(ref, TUPLE(ATOM("application_terminated"), ATOM("counter"),
                           ATOM("shutdown")));
    cr_assert(strstr(reports(), "    type: permanent\n\n=INFO REPORT====\n"
                     "    application: other\n    exited: stopped\n"), "%s", reports());
}

/* ---- The distributed-application policy ---------------------------------- */

TestSuite(dist_policy, .timeout = 30);

#define STUDY_CONFIG \
    "[{kernel, [{distributed, [{counter, 5000, [a@h, {b@h, c@h}]}]},\n" \
    "           {sync_nodes_mandatory, [b@h, c@h]},\n" \
    "           {sync_nodes_timeout, 30000}]}]."

/* Reads text's kernel settings into *dc; fails the test when it cannot. */
static void read_dist(const char *text, struct dist_config *dc)
{
    struct config *cfg = parse_ok(text);
    char err[256];
    cr_assert_eq(dist_config_read(cfg, dc, err, sizeof err), 0, "%s", err);
    config_free(cfg);   /* atoms only: dc holds no pointer into cfg */
}

Test(dist_policy, reads_the_studys_kernel_config)
{
    struct dist_config dc;
    read_dist(STUDY_CONFIG, &dc);
    cr_assert_eq(dc.napps, 1);
    const struct dist_app *a = dist_config_app(&dc, ATOM("counter"));
    cr_assert(a && a->timeout_ms == 5000 && a->n == 3);
    cr_assert(is_atom_named(a->nodes[0], "a@h") && is_atom_named(a->nodes[2], "c@h"));
    cr_assert(a->rank[0] == 0 && a->rank[1] == 1 && a->rank[2] == 1, "{b, c} share a rank");
    cr_assert(dc.nmandatory == 2 && is_atom_named(dc.mandatory[1], "c@h"));
    cr_assert(dc.noptional == 0 && dc.sync_timeout_ms == 30000);
    read_dist("[{kernel, [{distributed, [{x, [a@h]}]}, {sync_nodes_timeout, infinity}]}].",
              &dc);
    cr_assert(dc.apps[0].timeout_ms == 0 && dc.sync_timeout_ms == -1, "the defaults");
    read_dist("[].", &dc);
    cr_assert(dc.napps == 0 && dc.sync_timeout_ms == 0);
}

Test(dist_policy, names_the_line_and_key_of_a_bad_setting)
{
    static const struct {
        const char *text, *error;
    } cases[] = {
        {"[{kernel, [{distributed,\n  [{counter, 5000, [a@h, b]}]}]}].",
         "a.config:2:26: kernel: distributed: counter: expected a node name "
         "(name@host), found b"},
        {"[{kernel, [{distributed, [{counter, soon, [a@h]}]}]}].",
         "a.config:1:37: kernel: distributed: expected a time in ms or infinity, "
         "found soon"},
        {"[{kernel, [{distributed, [counter]}]}].",
         "a.config:1:27: kernel: distributed: expected {App, Nodes} or "
         "{App, Timeout, Nodes}, found counter"},
        {"[{kernel, [{distributed, [{c, [a@h, {b@h, a@h}]}]}]}].",
         "a.config:1:43: kernel: distributed: c: the node a@h appears twice"},
        {"[{kernel, [{distributed, x}]}].",
         "a.config:1:26: kernel: distributed: expected a list, found x"},
        {"[{kernel, [{sync_nodes_mandatory, [b@h, 3]}]}].",
         "a.config:1:41: kernel: sync_nodes_mandatory: expected a node name "
         "(name@host), found 3"},
        {"[{kernel, [{sync_nodes_optional, b@h}]}].",
         "a.config:1:34: kernel: sync_nodes_optional: expected a list of nodes, "
         "found b@h"},
        {"[{kernel, [{sync_nodes_timeout, -1}]}].",
         "a.config:1:33: kernel: sync_nodes_timeout: expected a time in ms or "
         "infinity, found -1"},
    };
    char err[256];
    struct dist_config dc;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct config *cfg = parse_ok(cases[i].text);
        cr_assert_eq(dist_config_read(cfg, &dc, err, sizeof err), -1, "%s", cases[i].text);
        cr_assert_str_eq(err, cases[i].error);
        config_free(cfg);
    }
}

/* The live nodes, with how many applications each runs. */
#define LOADS(...) ((struct dist_node_load[]){__VA_ARGS__})
#define NLOADS(...) (sizeof LOADS(__VA_ARGS__) / sizeof(struct dist_node_load))
#define CHOOSE(a, ...) dist_choose((a), LOADS(__VA_ARGS__), NLOADS(__VA_ARGS__))

Test(dist_policy, chooses_the_first_live_node_and_the_least_loaded_of_a_group)
{
    struct dist_config dc;
    read_dist(STUDY_CONFIG, &dc);
    const struct dist_app *a = &dc.apps[0];
    term A = ATOM("a@h"), B = ATOM("b@h"), C = ATOM("c@h");
    cr_assert(term_eq(CHOOSE(a, {C, 0}, {B, 0}, {A, 5}), A), "a first, however loaded");
    cr_assert(term_eq(CHOOSE(a, {C, 0}, {B, 0}), B), "a tie: the earlier in the list");
    cr_assert(term_eq(CHOOSE(a, {B, 2}, {C, 1}), C), "in a group, the least loaded");
    cr_assert(term_eq(CHOOSE(a, {C, 3}), C));
    cr_assert(is_none(CHOOSE(a, {ATOM("d@h"), 0})), "no node of the list is live");
    cr_assert(is_none(dist_choose(a, NULL, 0)));
}

Test(dist_policy, only_a_strictly_higher_priority_node_takes_over)
{
    struct dist_config dc;
    read_dist(STUDY_CONFIG, &dc);
    const struct dist_app *a = &dc.apps[0];
    term A = ATOM("a@h"), B = ATOM("b@h"), C = ATOM("c@h");
    cr_assert(dist_takes_over(a, A, B) && dist_takes_over(a, A, C));
    cr_assert(!dist_takes_over(a, B, C) && !dist_takes_over(a, C, B), "equal priority");
    cr_assert(!dist_takes_over(a, B, A) && !dist_takes_over(a, A, A));
    cr_assert(!dist_takes_over(a, ATOM("d@h"), B), "a node not in the list");
}

/* Asserts act is a DIST_START with the start type want. */
static void expect_start(struct dist_action act, term want)
{
    term v[2];
    cr_assert_eq(act.todo, DIST_START);
    term t = dist_start_type(&act, v);
    cr_assert(term_eq(t, want), "start type %s, want %s", FMT(t), FMT(want));
}

Test(dist_policy, events_give_the_studys_failover_and_takeover)
{
    struct dist_config dc;
    read_dist(STUDY_CONFIG, &dc);
    const struct dist_app *app = &dc.apps[0];
    term A = ATOM("a@h"), B = ATOM("b@h"), C = ATOM("c@h");
    struct dist_state a, b, c;
    dist_state_init(&a, app, A);
    dist_state_init(&b, app, B);
    dist_state_init(&c, app, C);
    /* all three up: a runs it */
    expect_start(dist_event_start(&a, LOADS({A, 0}, {B, 0}, {C, 0}), 3), ATOM("normal"));
    cr_assert_eq(dist_event_start(&b, LOADS({A, 0}, {B, 0}, {C, 0}), 3).todo, DIST_NOTHING);
    cr_assert_eq(dist_event_start(&c, LOADS({A, 0}, {B, 0}, {C, 0}), 3).todo, DIST_NOTHING);
    /* a goes down: b and c wait the 5000 ms, then b (the first of the group) */
    struct dist_action w = dist_event_nodedown(&b, A, LOADS({B, 0}, {C, 0}), 2);
    cr_assert(w.todo == DIST_WAIT && w.wait_ms == 5000);
    cr_assert_eq(dist_event_nodedown(&c, A, LOADS({B, 0}, {C, 0}), 2).todo, DIST_WAIT);
    expect_start(dist_event_timeout(&b, LOADS({B, 0}, {C, 0}), 2), TUPLE(ATOM("failover"), A));
    cr_assert_eq(dist_event_timeout(&c, LOADS({B, 0}, {C, 0}), 2).todo, DIST_NOTHING);
    cr_assert(term_eq(c.running_on, B), "c knows b runs it");
    cr_assert_eq(dist_event_nodedown(&c, A, NULL, 0).todo, DIST_NOTHING, "a ran nothing");
    /* c comes back after a restart of its own: equal priority, no takeover */
    cr_assert_eq(dist_event_nodeup(&b, C).todo, DIST_NOTHING);
    /* a returns: it takes over from b, which stops once a's instance runs */
    struct dist_state a2;
    dist_state_init(&a2, app, A);
    a2.running_on = B;              /* what a learns from the others */
    expect_start(dist_event_nodeup(&a2, A), TUPLE(ATOM("takeover"), B));
    cr_assert_eq(dist_event_nodeup(&b, A).todo, DIST_NOTHING, "b keeps it for now");
    cr_assert_eq(dist_event_nodeup(&c, A).todo, DIST_NOTHING);
    cr_assert_eq(dist_event_started(&b, C).todo, DIST_NOTHING, "not the new runner");
    cr_assert_eq(dist_event_started(&b, A).todo, DIST_STOP, "then b stops its instance");
    cr_assert_eq(dist_event_started(&b, A).todo, DIST_NOTHING, "once");
    cr_assert(term_eq(b.running_on, A) && term_eq(c.running_on, A));
}

Test(dist_policy, a_failover_heard_of_before_the_timeout_is_not_made_twice)
{
    struct dist_config dc;
    read_dist(STUDY_CONFIG, &dc);
    term A = ATOM("a@h"), B = ATOM("b@h"), C = ATOM("c@h");
    struct dist_state c;
    dist_state_init(&c, &dc.apps[0], C);
    c.running_on = A;
    cr_assert_eq(dist_event_nodedown(&c, A, LOADS({B, 0}, {C, 0}), 2).todo, DIST_WAIT);
    /* b's timer fires first: it starts the application and says so */
    cr_assert_eq(dist_event_started(&c, B).todo, DIST_NOTHING);
    cr_assert(term_eq(c.running_on, B), "c knows b runs it");
    /* c's own timer, later: b now runs one application, c none, and yet
     * c must not start a second instance */
    cr_assert_eq(dist_event_timeout(&c, LOADS({B, 1}, {C, 0}), 2).todo, DIST_NOTHING);
}

Test(dist_policy, a_zero_timeout_fails_over_at_once_and_to_the_least_loaded)
{
    struct dist_config dc;
    read_dist("[{kernel, [{distributed, [{x, [a@h, {b@h, c@h}]}]}]}].", &dc);
    term A = ATOM("a@h"), B = ATOM("b@h"), C = ATOM("c@h");
    struct dist_state c;
    dist_state_init(&c, &dc.apps[0], C);
    c.running_on = A;
    expect_start(dist_event_nodedown(&c, A, LOADS({B, 4}, {C, 1}), 2),
                 TUPLE(ATOM("failover"), A));
}
