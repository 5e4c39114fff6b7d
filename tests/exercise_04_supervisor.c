/*
 * exercise_04_supervisor.c - 04_supervisor's exercises (04_supervisor/
 * README.md, "Exercises"). Each test fails until its exercise is done:
 * make exercise-04. Not part of make test: the stage ships with them undone.
 */
#include <criterion/criterion.h>

#include "04_supervisor/counter.h"
#include "04_supervisor/counter_sup.h"
#include "test_util.h"

static void setup(void)
{
    start_runtime();
    supervisor_set_report(NULL);
    gen_server_set_report(NULL);
}
static void teardown(void) { stop_runtime(); }

TestSuite(exercise, .init = setup, .fini = teardown, .timeout = 30);

/* The counter's pid once counter_sup has handled old's exit: a new pid,
 * or undefined when it did not restart it. */
static term after_exit_of(term old)
{
    term ref = erl_monitor(old);
    erl_drop(erl_receive(TUPLE(ATOM("DOWN"), ref, ANY, ANY, ANY), WAIT_MS));
    int64_t deadline = now_ns() / 1000000 + WAIT_MS;
    for (;;) {
        term pid = counter_sup_counter(NULL);
        if (!term_eq(pid, old) && !is_atom_named(pid, "restarting"))
            return pid;
        cr_assert_lt(now_ns() / 1000000, deadline, "counter_sup never handled the exit");
        erl_yield();
    }
}

/* Exercise 1: stop ends the counter for good, a crash does not: the child
 * is transient. */
Test(exercise, e1_stop_is_final_a_crash_is_not)
{
    cr_assert(is_pid(counter_sup_start_link(0, NULL)));
    term pid = after_exit_of(counter_kill());
    cr_assert(is_pid(pid), "a killed counter must come back");
    counter_stop();
    cr_assert(is_atom_named(after_exit_of(pid), "undefined"),
              "exercise 1 not done: counter_sup restarted a counter that stopped "
              "with normal");
}

/* Exercise 2: one_for_all, and a second counter, counter2: a crash of one
 * restarts both. */
Test(exercise, e2_one_for_all_restarts_both_counters)
{
    cr_assert(is_pid(counter_sup_start_link(0, NULL)));
    term second = erl_whereis(ATOM("counter2"));
    cr_assert(is_pid(second), "exercise 2 not done: no counter2 is running");
    term ref = erl_monitor(second);
    after_exit_of(counter_kill());
    term down = erl_receive(TUPLE(ATOM("DOWN"), ref, ANY, ANY, ANY), WAIT_MS);
    cr_assert(!is_none(down), "exercise 2 not done: killing counter left counter2 "
              "running (one_for_one)");
}
