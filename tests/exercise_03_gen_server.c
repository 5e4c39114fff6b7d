/*
 * exercise_03_gen_server.c - 03_gen_server's exercises (03_gen_server/
 * README.md, "Exercises"). Each test fails until its exercise is done:
 * make exercise-03. Not part of make test: the stage ships with them undone.
 */
#include <criterion/criterion.h>

#include "03_gen_server/counter.h"
#include "test_util.h"

static void setup(void) { start_runtime(); gen_server_set_report(NULL); }
static void teardown(void) { stop_runtime(); }

TestSuite(exercise, .init = setup, .fini = teardown, .timeout = 30);

/* Exercise 1: counter_reset() casts reset; handle_cast sets the count to 0. */
void counter_reset(void) __attribute__((weak));

Test(exercise, e1_reset_is_a_callback)
{
    cr_assert(counter_reset != NULL,
              "exercise 1 not done: no counter_reset() in counter.c");
    cr_assert(is_pid(counter_start_link(NULL)));
    counter_tick(7);
    counter_reset();
    counter_tick(2);
    term count = counter_read(NULL);
    cr_assert(is_int(count) && count.u.integer == 2,
              "after tick 7, reset, tick 2, read must return 2");
}

/* Exercise 2: a call the counter does not know is answered
 * {error, {unknown_call, Request}}, and the counter lives on. */
Test(exercise, e2_an_unknown_call_is_answered_not_a_crash)
{
    term pid = counter_start_link(NULL);
    cr_assert(is_pid(pid));
    term error = NONE;
    term reply = gen_server_call(COUNTER, ATOM("frob"), WAIT_MS, &error);
    cr_assert(!is_none(reply), "exercise 2 not done: the call failed (the "
              "counter stopped with function_clause)");
    cr_assert(term_eq(reply, TUPLE(ATOM("error"), TUPLE(ATOM("unknown_call"),
                                                        ATOM("frob")))),
              "the reply must be {error,{unknown_call,frob}}");
    cr_assert(erl_is_alive(pid), "the counter must live on");
}
