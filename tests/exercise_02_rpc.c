/*
 * exercise_02_rpc.c - 02_rpc's exercises (02_rpc/README.md, "Exercises").
 * Each test fails until its exercise is done: make exercise-02.
 * Not part of make test: the stage ships with the exercises undone.
 */
#include <criterion/criterion.h>
#include <errno.h>

#include "02_rpc/counter.h"
#include "02_rpc/counter_lite.h"
#include "test_util.h"

static void setup(void) { start_runtime(); }
static void teardown(void) { stop_runtime(); }

TestSuite(exercise, .init = setup, .fini = teardown, .timeout = 30);

/* Exercise 1: a reply that comes after its call timed out is dropped. */
Test(exercise, e1_a_late_reply_does_not_stay_in_the_mailbox)
{
    cr_assert_eq(counter_start(), 0);
    cr_assert_eq(counter_slow(300, 50), -1);
    cr_assert_eq(errno, ETIMEDOUT);
    int64_t count;
    cr_assert_eq(counter_read(&count), 0);      /* after the slow request */
    term left = erl_receive(ANY, 0);
    cr_assert(is_none(left), "exercise 1 not done: the late reply is still in "
              "the caller's mailbox");
}

/* Exercise 2: counter_lite_reset() (Erlang: counter_lite:reset/0), a cast
 * handled by a new handle_cast clause, sets the count back to 0. */
int counter_lite_reset(void) __attribute__((weak));

Test(exercise, e2_counter_lite_resets)
{
    cr_assert(counter_lite_reset != NULL,
              "exercise 2 not done: no counter_lite_reset() in counter_lite.c");
    cr_assert_eq(counter_lite_start(), 0);
    cr_assert_eq(counter_lite_tick(7), 0);
    cr_assert_eq(counter_lite_reset(), 0);
    int64_t count = -1;
    cr_assert_eq(counter_lite_read(&count), 0);
    cr_assert_eq(count, 0, "after tick 7 and reset, read must return 0");
}
