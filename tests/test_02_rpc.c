/*
 * test_02_rpc.c - rpc, the counter on top of it, gen_server_lite, the shell.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "02_rpc/counter.h"
#include "02_rpc/counter_lite.h"
#include "02_rpc/gen_server_lite.h"
#include "02_rpc/rpc.h"
#include "02_rpc/shell_cmds.h"
#include "test_util.h"
#include "tour_check.h"

static void setup(void) { start_runtime(); }
static void teardown(void) { stop_runtime(); }

/* Stops the process registered as name with stop() and waits until it has
 * ended normally. Returns its pid. */
static term stop_and_wait(const char *name, int (*stop)(void))
{
    term pid = erl_whereis(atom_from(name));
    cr_assert(is_pid(pid), "%s is not running", name);
    term ref = erl_monitor(pid);
    cr_assert_eq(stop(), 0);
    term down = erl_receive(TUPLE(ATOM("DOWN"), ref, ATOM("process"), pid,
                                  ATOM("normal")), 10000);
    cr_assert(!is_none(down), "%s did not end with reason normal", name);
    erl_drop(down);
    return pid;
}

/* Reads the counter, asserting that the read succeeds. */
static int64_t read_count(void)
{
    int64_t count = -1;
    cr_assert_eq(counter_read(&count), 0, "read failed: %s", strerror(errno));
    return count;
}

/* ---- The counter API ----------------------------------------------------- */

TestSuite(counter, .init = setup, .fini = teardown, .timeout = 30);

Test(counter, read_after_start_is_zero)
{
    cr_assert_eq(counter_start(), 0);
    cr_assert(is_pid(erl_whereis(ATOM("counter"))));
    cr_assert_eq(read_count(), 0);
}

Test(counter, read_after_ticks_returns_sum)
{
    cr_assert_eq(counter_start(), 0);
    cr_assert_eq(counter_tick(2), 0);
    cr_assert_eq(counter_tick(3), 0);
    cr_assert_eq(counter_tick(-1), 0);
    cr_assert_eq(read_count(), 4);
}

Test(counter, double_start_fails_and_keeps_the_first)
{
    cr_assert_eq(counter_start(), 0);
    term first = erl_whereis(ATOM("counter"));
    cr_assert_eq(counter_tick(7), 0);
    errno = 0;
    cr_assert_eq(counter_start(), -1);
    cr_assert_eq(errno, EEXIST);
    cr_assert(term_eq(erl_whereis(ATOM("counter")), first));
    cr_assert_eq(read_count(), 7);
}

Test(counter, stop_ends_the_process_and_its_name)
{
    cr_assert_eq(counter_start(), 0);
    stop_and_wait("counter", counter_stop);
    cr_assert(is_none(erl_whereis(ATOM("counter"))));
    int64_t count;
    errno = 0;
    cr_assert_eq(counter_read(&count), -1);
    cr_assert_eq(errno, ESRCH);
    errno = 0;
    cr_assert_eq(counter_tick(1), -1);
    cr_assert_eq(errno, ESRCH);
    errno = 0;
    cr_assert_eq(counter_stop(), -1);
    cr_assert_eq(errno, ESRCH);
}

Test(counter, start_after_stop_begins_at_zero)
{
    cr_assert_eq(counter_start(), 0);
    cr_assert_eq(counter_tick(9), 0);
    stop_and_wait("counter", counter_stop);
    cr_assert_eq(counter_start(), 0);
    cr_assert_eq(read_count(), 0);
}

/* ---- The fix: replies are tagged ----------------------------------------- */

TestSuite(tagged, .init = setup, .fini = teardown, .timeout = 30);

Test(tagged, stray_messages_are_ignored_and_kept_in_order)
{
    cr_assert_eq(counter_start(), 0);
    cr_assert_eq(counter_tick(5), 0);
    cr_assert_eq(erl_send(erl_self(), INT(999)), 0);
    cr_assert_eq(erl_send(erl_self(), ATOM("hello")), 0);
    cr_assert_eq(read_count(), 5, "a stray passed for the reply");
    cr_assert_eq(erl_queue_len(), 2);
    cr_assert(term_eq(erl_receive(ANY, 0), INT(999)));
    cr_assert(term_eq(erl_receive(ANY, 0), ATOM("hello")));
    cr_assert_eq(erl_queue_len(), 0);
}

Test(tagged, a_reply_with_another_ref_is_not_taken)
{
    cr_assert_eq(counter_start(), 0);
    cr_assert_eq(counter_tick(3), 0);
    term other = erl_make_ref();
    cr_assert_eq(erl_send(erl_self(), TUPLE(other, INT(42))), 0);
    cr_assert_eq(read_count(), 3);
    term t = erl_receive(ANY, 0);
    cr_assert(term_eq(t, TUPLE(other, INT(42))), "the forged reply was taken");
    erl_drop(t);
}

Test(tagged, reads_never_fall_behind)
{
    cr_assert_eq(counter_start(), 0);
    cr_assert_eq(erl_send(erl_self(), INT(999)), 0);
    for (int i = 1; i <= 50; i++) {
        cr_assert_eq(counter_tick(1), 0);
        cr_assert_eq(read_count(), i);
    }
}

/* ---- rpc ----------------------------------------------------------------- */

TestSuite(rpc, .init = setup, .fini = teardown, .timeout = 30);

/* Echoes: answers {Msg, From} calls with {echo, Msg}; ends on stop. */
static void echo_server(term arg)
{
    (void)arg;
    for (;;) {
        term msg = erl_receive(ANY, ERL_INFINITY), req, from;
        if (match(msg, TUPLE(ATOM("stop"), ANY)))
            return;
        if (match(msg, TUPLE(VAR(&req), VAR(&from))))
            rpc_reply(from, TUPLE(ATOM("echo"), req));
        erl_drop(msg);
    }
}

/* Takes one call, then waits for go before answering it with pong. */
static void slow_server(term arg)
{
    (void)arg;
    term from;
    term msg = erl_receive(TUPLE(ATOM("ping"), VAR(&from)), ERL_INFINITY);
    erl_drop(erl_receive(ATOM("go"), ERL_INFINITY));
    rpc_reply(from, ATOM("pong"));
    erl_drop(msg);
}

Test(rpc, call_returns_a_boxed_reply_the_caller_owns)
{
    term pid = erl_spawn(echo_server, NIL);
    term r = rpc_call(pid, LIST(INT(1), STR("two"), ATOM("three")), 10000);
    cr_assert(term_eq(r, TUPLE(ATOM("echo"),
                               LIST(INT(1), STR("two"), ATOM("three")))));
    erl_drop(r);
    cr_assert_eq(erl_queue_len(), 0);
}

Test(rpc, call_to_a_dead_pid_times_out)
{
    cr_assert_eq(counter_start(), 0);
    term pid = stop_and_wait("counter", counter_stop);
    errno = 0;
    term r = rpc_call(pid, ATOM("read"), 100);
    cr_assert(is_none(r));
    cr_assert_eq(errno, ETIMEDOUT);
}

Test(rpc, call_to_an_unregistered_name_fails_with_esrch)
{
    errno = 0;
    cr_assert(is_none(rpc_call(ATOM("nobody_here"), ATOM("read"), 100)));
    cr_assert_eq(errno, ESRCH);
    errno = 0;
    cr_assert_eq(rpc_cast(ATOM("nobody_here"), ATOM("stop")), -1);
    cr_assert_eq(errno, ESRCH);
}

Test(rpc, call_to_neither_pid_nor_name_fails_with_einval)
{
    errno = 0;
    cr_assert(is_none(rpc_call(INT(3), ATOM("read"), 100)));
    cr_assert_eq(errno, EINVAL);
}

Test(rpc, late_reply_stays_in_the_mailbox)
{
    term pid = erl_spawn(slow_server, NIL);
    errno = 0;
    cr_assert(is_none(rpc_call(pid, ATOM("ping"), 50)));
    cr_assert_eq(errno, ETIMEDOUT);
    cr_assert_eq(erl_send(pid, ATOM("go")), 0);
    term ref;
    term late = erl_receive(TUPLE(VAR(&ref), ATOM("pong")), 10000);
    cr_assert(!is_none(late), "the late reply never came");
    cr_assert(is_ref(ref));
    erl_drop(late);
}

Test(rpc, cast_sends_msg_and_self)
{
    cr_assert_eq(rpc_cast(erl_self(), ATOM("hi")), 0);
    term t = erl_receive(ANY, 0);
    cr_assert(term_eq(t, TUPLE(ATOM("hi"), erl_self())));
    erl_drop(t);
}

Test(rpc, reply_to_a_cast_from_is_refused)
{
    errno = 0;
    cr_assert_eq(rpc_reply(erl_self(), INT(1)), -1);
    cr_assert_eq(errno, EINVAL);
    cr_assert_eq(erl_queue_len(), 0);
}

/* ---- gen_server_lite ----------------------------------------------------- */

TestSuite(gen_server_lite, .init = setup, .fini = teardown, .timeout = 30);

/* A store: call get returns the state, call anything else echoes it; a cast
 * {put, X} makes X the state (boxed terms must survive the message they
 * came in); a cast stop ends the server. */
static struct gen_server_lite_result store_call(term req, term state)
{
    if (is_atom_named(req, "get"))
        return (struct gen_server_lite_result){false, state, state};
    return (struct gen_server_lite_result){false, req, state};
}

static struct gen_server_lite_result store_cast(term req, term state)
{
    term x;
    if (is_atom_named(req, "stop"))
        return (struct gen_server_lite_result){true, NONE, state};
    if (match(req, TUPLE(ATOM("put"), VAR(&x))))
        return (struct gen_server_lite_result){false, NONE, x};
    return (struct gen_server_lite_result){false, NONE, state};
}

static const struct gen_server_lite_module store = {
    .name = "store", .handle_call = store_call, .handle_cast = store_cast,
};

Test(gen_server_lite, call_replies_with_the_state)
{
    term pid = gen_server_lite_start(ATOM("store_a"), &store, INT(11));
    cr_assert(is_pid(pid));
    cr_assert(term_eq(erl_whereis(ATOM("store_a")), pid));
    term r = gen_server_lite_call(ATOM("store_a"), ATOM("get"), 10000);
    cr_assert(term_eq(r, INT(11)));
    r = gen_server_lite_call(pid, TUPLE(ATOM("x"), STR("y")), 10000);
    cr_assert(term_eq(r, TUPLE(ATOM("x"), STR("y"))));
    erl_drop(r);
}

Test(gen_server_lite, cast_state_outlives_its_message)
{
    term pid = gen_server_lite_start(ATOM("store_b"), &store, NIL);
    cr_assert(is_pid(pid));
    cr_assert_eq(gen_server_lite_cast(pid, TUPLE(ATOM("put"),
                                      LIST(STR("kept"), INT(7)))), 0);
    /* Messages after the put make the server drop it from its heap. */
    for (int i = 0; i < 10; i++)
        cr_assert_eq(gen_server_lite_cast(pid, TUPLE(ATOM("noise"), INT(i))), 0);
    term r = gen_server_lite_call(pid, ATOM("get"), 10000);
    cr_assert(term_eq(r, LIST(STR("kept"), INT(7))));
    erl_drop(r);
}

Test(gen_server_lite, start_with_a_taken_name_fails)
{
    cr_assert(is_pid(gen_server_lite_start(ATOM("store_c"), &store, INT(0))));
    errno = 0;
    cr_assert(is_none(gen_server_lite_start(ATOM("store_c"), &store, INT(1))));
    cr_assert_eq(errno, EEXIST);
    cr_assert(term_eq(gen_server_lite_call(ATOM("store_c"), ATOM("get"), 10000),
                      INT(0)));
}

Test(gen_server_lite, stray_reply_is_ignored)
{
    term pid = gen_server_lite_start(ATOM("store_d"), &store, INT(5));
    term other = erl_make_ref();
    cr_assert_eq(erl_send(erl_self(), TUPLE(ATOM("reply"), INT(666))), 0);
    cr_assert_eq(erl_send(erl_self(), TUPLE(ATOM("reply"), other, INT(667))), 0);
    cr_assert(term_eq(gen_server_lite_call(pid, ATOM("get"), 10000), INT(5)));
    term t = erl_receive(ANY, 0);
    cr_assert(term_eq(t, TUPLE(ATOM("reply"), INT(666))));
    erl_drop(t);
    t = erl_receive(ANY, 0);
    cr_assert(term_eq(t, TUPLE(ATOM("reply"), other, INT(667))));
    erl_drop(t);
}

Test(gen_server_lite, call_after_stop_times_out)
{
    term pid = gen_server_lite_start(ATOM("store_e"), &store, INT(0));
    term ref = erl_monitor(pid);
    cr_assert_eq(gen_server_lite_cast(pid, ATOM("stop")), 0);
    term down = erl_receive(TUPLE(ATOM("DOWN"), ref, ANY, ANY, ATOM("normal")),
                            10000);
    cr_assert(!is_none(down));
    erl_drop(down);
    errno = 0;
    cr_assert(is_none(gen_server_lite_call(pid, ATOM("get"), 100)));
    cr_assert_eq(errno, ETIMEDOUT);
    errno = 0;
    cr_assert(is_none(gen_server_lite_call(ATOM("store_e"), ATOM("get"), 100)));
    cr_assert_eq(errno, ESRCH);
}

Test(gen_server_lite, counter_lite_counts)
{
    int64_t count = -1;
    cr_assert_eq(counter_lite_start(), 0);
    cr_assert(is_pid(erl_whereis(ATOM("counter_lite"))));
    cr_assert_eq(counter_lite_read(&count), 0);
    cr_assert_eq(count, 0);
    cr_assert_eq(counter_lite_tick(4), 0);
    cr_assert_eq(counter_lite_tick(6), 0);
    cr_assert_eq(counter_lite_read(&count), 0);
    cr_assert_eq(count, 10);
    errno = 0;
    cr_assert_eq(counter_lite_start(), -1);
    cr_assert_eq(errno, EEXIST);
    stop_and_wait("counter_lite", counter_lite_stop);
    errno = 0;
    cr_assert_eq(counter_lite_read(&count), -1);
    cr_assert_eq(errno, ESRCH);
}

/* ---- The shell ----------------------------------------------------------- */

TestSuite(shell, .init = setup, .fini = teardown, .timeout = 30);

/* Runs line in the stage's shell and asserts its status and exact output. */
static void expect(const char *line, enum shell_status status, const char *want)
{
    expect_shell(&counter_shell, line, status, want);
}

Test(shell, counter_session_prints_what_erl_prints)
{
    expect("start", SHELL_OK, "true\n");
    expect("tick 2", SHELL_OK, "ok\n");
    expect("tick 3", SHELL_OK, "ok\n");
    expect("read", SHELL_OK, "5\n");
    expect("stop", SHELL_OK, "ok\n");
}

Test(shell, stray_message_no_longer_fools_read)
{
    expect("start", SHELL_OK, "true\n");
    expect("tick 5", SHELL_OK, "ok\n");
    expect("stray 999", SHELL_OK, "999\n");
    expect("read", SHELL_OK, "5\n");
    expect("flush", SHELL_OK, "Shell got 999\nok\n");
}

Test(shell, lite_session)
{
    expect("lite_start", SHELL_OK, "true\n");
    expect("lite_tick 8", SHELL_OK, "ok\n");
    expect("lite_read", SHELL_OK, "8\n");
    expect("lite_start", SHELL_ERROR, "** exception error: bad argument: "
                                      "the name counter_lite is already registered\n");
    expect("lite_stop", SHELL_OK, "ok\n");
}

Test(shell, calls_without_a_counter_raise_badarg)
{
    expect("read", SHELL_ERROR, "** exception error: bad argument: "
                                "no process registered as counter\n");
    expect("lite_tick 1", SHELL_ERROR, "** exception error: bad argument: "
                                       "no process registered as counter_lite\n");
}

Test(shell, bad_input_is_named)
{
    expect("frob", SHELL_UNKNOWN, "** unknown command: \"frob\" (the nearest is "
           "stop; type help for the commands)\n");
    expect("lite_tick", SHELL_BADARGS, "** lite_tick: missing argument "
           "(usage: lite_tick N; type help for the commands)\n");
    expect("tick 1 2", SHELL_BADARGS, "** tick: unexpected argument \"2\" "
           "(usage: tick N; type help for the commands)\n");
    expect("lite_tick 1.5", SHELL_BADARGS,
           "** lite_tick: \"1.5\" is not an integer (type help for the commands)\n");
    expect("tick -99999999999999999999", SHELL_BADARGS,
           "** tick: \"-99999999999999999999\" is out of range for a 64-bit "
           "integer (type help for the commands)\n");
}

/* ---- The tour ------------------------------------------------------------ */

TestSuite(tour, .timeout = 120);

Test(tour, program_prints_tour_txt)
{
    check_tour("02_rpc");
}

Test(tour, erlang_demo_prints_the_same_session)
{
    check_erlang_tour("02_rpc", "counter.erl counter_lite.erl gen_server_lite.erl",
                      "counter:demo()");
}

/* ---- The shell: timeouts ------------------------------------------------- */

Test(shell, slow_call_times_out_and_its_late_reply_waits_in_the_mailbox)
{
    expect("start", SHELL_OK, "true\n");
    expect("counter:slow(300, 50).", SHELL_ERROR, "** exception error: timeout\n");
    expect("read", SHELL_OK, "0\n");            /* after the slow request */
    enum shell_status st;
    char *text = shell_output(&counter_shell, "flush", &st);
    cr_assert_eq(st, SHELL_OK);
    cr_assert(strncmp(text, "Shell got {#Ref<", 16) == 0 &&
              strstr(text, ">,ok}\nok\n"), "flush shows no late reply:\n%s", text);
    free(text);
    expect("slow 10", SHELL_OK, "ok\n");
    expect("slow 70000", SHELL_BADARGS,
           "** slow: 70000 ms is outside 0..60000 (type help for the commands)\n");
}

Test(shell, call_by_pid_to_a_stopped_server_times_out)
{
    expect("pid_read", SHELL_ERROR, "** no pid yet: start a counter first\n");
    expect("start", SHELL_OK, "true\n");
    expect("pid_read 100", SHELL_OK, "0\n");
    term ref = erl_monitor(erl_whereis(ATOM("counter")));
    expect("stop", SHELL_OK, "ok\n");
    erl_drop(erl_receive(TUPLE(ATOM("DOWN"), ref, ANY, ANY, ANY), WAIT_MS));
    expect("pid_read 100", SHELL_ERROR, "** exception error: timeout\n");
    expect("read", SHELL_ERROR, "** exception error: bad argument: "
           "no process registered as counter\n");
}
