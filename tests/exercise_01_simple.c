/*
 * exercise_01_simple.c - 01_simple's exercises (01_simple/README.md,
 * "Exercises"). Each test fails until its exercise is done: make exercise-01.
 * Not part of make test: the stage ships with the exercises undone.
 */
#include <criterion/criterion.h>

#include "01_simple/counter.h"
#include "test_util.h"

static void setup(void) { start_runtime(); }
static void teardown(void) { stop_runtime(); }

TestSuite(exercise, .init = setup, .fini = teardown, .timeout = 30);

/* Exercise 1: read() takes only the counter's reply, without make_ref. */
Test(exercise, e1_read_is_not_fooled_by_a_stray_integer)
{
    cr_assert_eq(counter_start(), 0);
    cr_assert_eq(counter_tick(5), 0);
    erl_send(erl_self(), INT(999));
    term t = counter_read();
    cr_assert(is_int(t) && t.u.integer == 5,
              "exercise 1 not done: read() returned the stray 999, not the count 5");
    term stray = erl_receive(INT(999), 0);
    cr_assert(!is_none(stray), "exercise 1: the stray 999 must stay in the mailbox");
}

/* Exercise 2: counter_reset() (Erlang: reset/0) sets the count back to 0. */
int counter_reset(void) __attribute__((weak));

Test(exercise, e2_reset_sets_the_count_to_zero)
{
    cr_assert(counter_reset != NULL,
              "exercise 2 not done: no counter_reset() in counter.c");
    cr_assert_eq(counter_start(), 0);
    cr_assert_eq(counter_tick(7), 0);
    cr_assert_eq(counter_reset(), 0);
    cr_assert_eq(counter_tick(2), 0);
    term t = counter_read();
    cr_assert(is_int(t) && t.u.integer == 2, "after tick 7, reset, tick 2, read "
              "must return 2");
}
