/*
 * test_core_catch.c - erl_catch: a process catching its own exit, as
 * Erlang's catch does, and nothing else.
 *
 * Run: make -C tests test-core   (or build/plain/tests/test_core_catch)
 *
 * Each test runs its scenario in a process ("catcher") that reports to the
 * test thread: a plain thread cannot end itself, so there erl_catch only
 * runs its function.
 */
#include <criterion/criterion.h>

#include "erl.h"
#include "test_util.h"

static void setup(void) { start_runtime(); }
static void teardown(void) { stop_runtime(); }

/* ---- The catcher process ------------------------------------------------- */

/* erl_catch fns: ctx is unused or says what to do. */
static void returns(void *ctx) { *(int *)ctx = 42; }
static void exits_boxed(void *ctx)
{
    (void)ctx;
    erl_exit_self(TUPLE(ATOM("boom"), LIST(INT(1), INT(2), INT(3))));  /* on fn's stack */
}
static void divides_by_zero(void *ctx) { (void)ctx; divide_by(0); }
static void loads_null(void *ctx) { (void)ctx; load_null(); }

/* Catches an exit(inner), then exits with outer. */
static void nests(void *ctx)
{
    term *inner = ctx;
    if (erl_catch(exits_boxed, NULL, inner))
        erl_exit_self(ATOM("inner_not_caught"));
    erl_exit_self(ATOM("outer"));
}

/* Tells the owner {inside, Self}, then waits for ever. */
static void waits_inside(void *ctx)
{
    erl_send(*(term *)ctx, TUPLE(ATOM("inside"), erl_self()));
    erl_receive(ATOM("never_sent"), ERL_INFINITY);
}

/* Receives {data, X} into *ctx, then exits: X must outlive the catch. */
static void receives_then_exits(void *ctx)
{
    term x;
    erl_receive(TUPLE(ATOM("data"), VAR(&x)), ERL_INFINITY);
    *(term *)ctx = x;
    erl_exit_self(ATOM("done"));
}

/* Reports {caught, Self, Returned, Reason} for one fn. */
static void report_catch(term owner, void (*fn)(void *), void *ctx)
{
    term reason = ATOM("none");
    bool returned = erl_catch(fn, ctx, &reason);
    erl_send(owner, TUPLE(ATOM("caught"), erl_self(), bool_atom(returned), reason));
}

/* {Owner, Scenario}: runs one catch scenario and reports it. */
static void catcher(term arg)
{
    term owner = element(1, arg), scenario = element(2, arg);
    int n = 0;
    term got = NONE;
    if (is_atom_named(scenario, "returns")) {
        report_catch(owner, returns, &n);
        erl_send(owner, TUPLE(ATOM("n"), INT(n)));
    } else if (is_atom_named(scenario, "exit"))
        report_catch(owner, exits_boxed, NULL);
    else if (is_atom_named(scenario, "divide"))
        report_catch(owner, divides_by_zero, NULL);
    else if (is_atom_named(scenario, "segv"))
        report_catch(owner, loads_null, NULL);
    else if (is_atom_named(scenario, "nested")) {
        report_catch(owner, nests, &got);
        erl_send(owner, TUPLE(ATOM("inner"), got));
        erl_exit_self(ATOM("after"));   /* no frame left: a real exit */
    } else if (is_atom_named(scenario, "wait"))
        report_catch(owner, waits_inside, &owner);
    else if (is_atom_named(scenario, "heap")) {
        report_catch(owner, receives_then_exits, &got);
        erl_send(owner, TUPLE(ATOM("kept"), got));
    }
}

/* Runs a catcher on scenario; returns its pid, monitored under *ref. */
static term catcher_start(const char *scenario, term *ref)
{
    return erl_spawn_monitor(catcher, TUPLE(erl_self(), atom_from(scenario)), ref);
}

/* Waits for the catcher's report; sets *reason and returns Returned. */
static bool await_caught(term pid, term *reason)
{
    term returned;
    await(TUPLE(ATOM("caught"), pid, VAR(&returned), VAR(reason)), "the catch's report");
    return is_atom_named(returned, "true");
}

/* Catches and faults, many times over in one process: the stack and the
 * chain of frames come back each time. Tells Owner {looped, Self, N}. */
static void catch_loop(term owner)
{
    int caught = 0;
    for (int i = 0; i < 1000; i++) {
        term reason;
        void (*fn)(void *) = i % 3 == 0 ? exits_boxed : i % 3 == 1 ? divides_by_zero
                                                                   : loads_null;
        erl_heap_mark_t mark = erl_heap_mark();
        caught += !erl_catch(fn, NULL, &reason);
        erl_heap_release(mark);
    }
    erl_send(owner, TUPLE(ATOM("looped"), erl_self(), INT(caught)));
}

/* ---- erl_catch ----------------------------------------------------------- */

TestSuite(erl_catch, .init = setup, .fini = teardown, .timeout = 30);

Test(erl_catch, returns_true_when_fn_returns)
{
    term ref, reason;
    term pid = catcher_start("returns", &ref);
    cr_assert(await_caught(pid, &reason));
    cr_assert(is_atom_named(reason, "none"), "reason set to %s", FMT(reason));
    await(TUPLE(ATOM("n"), INT(42)), "fn's side effect");
    expect_down(ref, ATOM("normal"));
}

Test(erl_catch, returns_false_with_the_reason_of_exit_self)
{
    term ref, reason;
    term pid = catcher_start("exit", &ref);
    cr_assert(!await_caught(pid, &reason));
    cr_assert(term_eq(reason, TUPLE(ATOM("boom"), LIST(INT(1), INT(2), INT(3)))),
              "reason %s", FMT(reason));
    expect_down(ref, ATOM("normal"));   /* the process went on after it */
}

Test(erl_catch, catches_a_division_by_zero_as_badarith)
{
    term ref, reason;
    term pid = catcher_start("divide", &ref);
    cr_assert(!await_caught(pid, &reason));
    cr_assert(is_atom_named(reason, "badarith"), "reason %s", FMT(reason));
    expect_down(ref, ATOM("normal"));
}

Test(erl_catch, catches_a_null_dereference_as_signal_segv)
{
    term ref, reason;
    term pid = catcher_start("segv", &ref);
    cr_assert(!await_caught(pid, &reason));
    cr_assert(term_eq(reason, TUPLE(ATOM("signal"), ATOM("segv"))), "reason %s",
              FMT(reason));
    expect_down(ref, ATOM("normal"));
}

Test(erl_catch, nested_catches_innermost_first_and_pop_their_frames)
{
    term ref, reason, inner;
    term pid = catcher_start("nested", &ref);
    cr_assert(!await_caught(pid, &reason));
    cr_assert(is_atom_named(reason, "outer"), "outer reason %s", FMT(reason));
    await(TUPLE(ATOM("inner"), VAR(&inner)), "the inner catch's reason");
    cr_assert(match(inner, TUPLE(ATOM("boom"), ANY)), "inner reason %s", FMT(inner));
    expect_down(ref, ATOM("after"));    /* the exit after both is not caught */
}

Test(erl_catch, exit_signal_from_another_process_is_not_caught)
{
    term ref;
    term pid = catcher_start("wait", &ref);
    await(TUPLE(ATOM("inside"), pid), "the catcher inside its catch");
    erl_exit(pid, ATOM("stop_it"));
    expect_down(ref, ATOM("stop_it"));
    expect_no_message(TUPLE(ATOM("caught"), pid, ANY, ANY));
}

Test(erl_catch, kill_from_another_process_is_not_caught)
{
    term ref;
    term pid = catcher_start("wait", &ref);
    await(TUPLE(ATOM("inside"), pid), "the catcher inside its catch");
    erl_exit(pid, ATOM("kill"));
    expect_down(ref, ATOM("killed"));
    expect_no_message(TUPLE(ATOM("caught"), pid, ANY, ANY));
}

Test(erl_catch, what_fn_received_stays_in_the_heap)
{
    term ref, reason, kept;
    term pid = catcher_start("heap", &ref);
    erl_send(pid, TUPLE(ATOM("data"), LIST(STR("still"), STR("here"))));
    cr_assert(!await_caught(pid, &reason));
    await(TUPLE(ATOM("kept"), VAR(&kept)), "the received term after the catch");
    cr_assert(term_eq(kept, LIST(STR("still"), STR("here"))), "kept %s", FMT(kept));
}

Test(erl_catch, a_thousand_catches_and_faults_in_one_process)
{
    term ref;
    term pid = erl_spawn_monitor(catch_loop, erl_self(), &ref);
    await(TUPLE(ATOM("looped"), pid, INT(1000)), "1000 caught crashes");
    expect_down(ref, ATOM("normal"));
}

Test(erl_catch, in_a_plain_thread_fn_just_runs)
{
    int n = 0;
    term reason = ATOM("untouched");
    cr_assert(erl_catch(returns, &n, &reason));
    cr_assert_eq(n, 42);
    cr_assert(is_atom_named(reason, "untouched"));
}
