/*
 * test_01_simple.c - the counter of 01_simple, its weakness, and the shell.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "01_simple/counter.h"
#include "01_simple/shell_cmds.h"
#include "test_util.h"
#include "tour_check.h"

static void setup(void) { start_runtime(); }
static void teardown(void) { stop_runtime(); }

/* Waits until the process registered as counter has ended. */
static void stop_and_wait(void)
{
    term pid = erl_whereis(ATOM("counter"));
    cr_assert(is_pid(pid));
    term ref = erl_monitor(pid);
    cr_assert_eq(counter_stop(), 0);
    term down = erl_receive(TUPLE(ATOM("DOWN"), ref, ATOM("process"), pid,
                                  ATOM("normal")), 10000);
    cr_assert(!is_none(down), "the counter did not end with reason normal");
    erl_drop(down);
}

/* ---- The counter API ----------------------------------------------------- */

TestSuite(counter, .init = setup, .fini = teardown, .timeout = 30);

Test(counter, start_registers_a_live_process)
{
    cr_assert_eq(erl_whereis(ATOM("counter")).type, TERM_NONE);
    cr_assert_eq(counter_start(), 0);
    term pid = erl_whereis(ATOM("counter"));
    cr_assert(is_pid(pid));
    cr_assert(erl_is_alive(pid));
}

Test(counter, read_after_start_is_zero)
{
    cr_assert_eq(counter_start(), 0);
    term t = counter_read();
    cr_assert(term_eq(t, INT(0)));
}

Test(counter, read_after_ticks_returns_sum)
{
    cr_assert_eq(counter_start(), 0);
    cr_assert_eq(counter_tick(2), 0);
    cr_assert_eq(counter_tick(3), 0);
    cr_assert_eq(counter_tick(-1), 0);
    term t = counter_read();
    cr_assert(is_int(t));
    cr_assert_eq(t.u.integer, 4);
}

Test(counter, many_ticks_arrive_in_order_and_all_count)
{
    cr_assert_eq(counter_start(), 0);
    for (int i = 1; i <= 1000; i++)
        cr_assert_eq(counter_tick(i), 0);
    term t = counter_read();
    cr_assert(is_int(t));
    cr_assert_eq(t.u.integer, 1000 * 1001 / 2);
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
    term t = counter_read();
    cr_assert(term_eq(t, INT(7)), "the first counter lost its count");
}

Test(counter, stop_ends_the_process_and_its_name)
{
    cr_assert_eq(counter_start(), 0);
    stop_and_wait();
    cr_assert(is_none(erl_whereis(ATOM("counter"))));
}

Test(counter, calls_without_a_counter_fail_with_esrch)
{
    errno = 0;
    cr_assert(is_none(counter_read()));
    cr_assert_eq(errno, ESRCH);
    errno = 0;
    cr_assert_eq(counter_tick(1), -1);
    cr_assert_eq(errno, ESRCH);
    errno = 0;
    cr_assert_eq(counter_stop(), -1);
    cr_assert_eq(errno, ESRCH);
}

Test(counter, calls_after_stop_fail_with_esrch)
{
    cr_assert_eq(counter_start(), 0);
    stop_and_wait();
    errno = 0;
    cr_assert(is_none(counter_read()));
    cr_assert_eq(errno, ESRCH);
}

Test(counter, start_after_stop_begins_at_zero)
{
    cr_assert_eq(counter_start(), 0);
    cr_assert_eq(counter_tick(9), 0);
    stop_and_wait();
    cr_assert_eq(counter_start(), 0);
    cr_assert(term_eq(counter_read(), INT(0)));
}

/* Stores the mailbox length of the process ctx points at (a struct probe). */
struct probe {
    term pid;           /* the process to look for */
    size_t queue_len;   /* its mailbox length; SIZE_MAX if not found */
};

static void probe_proc(const struct erl_proc_info *info, void *ctx)
{
    struct probe *p = ctx;
    if (term_eq(info->pid, p->pid))
        p->queue_len = info->queue_len;
}

Test(counter, unknown_messages_are_dropped_not_hoarded)
{
    cr_assert_eq(counter_start(), 0);
    term pid = erl_whereis(ATOM("counter"));
    cr_assert_eq(erl_send(pid, ATOM("junk")), 0);
    cr_assert_eq(erl_send(pid, TUPLE(ATOM("tick"), ATOM("x"), erl_self())), 0);
    cr_assert(term_eq(counter_read(), INT(0)));
    /* The read was handled after both, so neither can still be queued. */
    struct probe p = {pid, SIZE_MAX};
    erl_processes(probe_proc, &p);
    cr_assert_eq(p.queue_len, 0);
    cr_assert(erl_is_alive(pid));
}

/* ---- The weakness: read takes any message -------------------------------- */

TestSuite(weakness, .init = setup, .fini = teardown, .timeout = 30);

Test(weakness, stray_integer_is_returned_by_read)
{
    cr_assert_eq(counter_start(), 0);
    cr_assert_eq(counter_tick(5), 0);
    cr_assert_eq(erl_send(erl_self(), INT(999)), 0);
    term t = counter_read();
    cr_assert(term_eq(t, INT(999)), "read returned the count, not the stray");
    term late = erl_receive(ANY, 10000);
    cr_assert(term_eq(late, INT(5)), "the real reply should be left behind");
}

Test(weakness, stray_atom_is_returned_by_read)
{
    cr_assert_eq(counter_start(), 0);
    cr_assert_eq(erl_send(erl_self(), ATOM("hello")), 0);
    term t = counter_read();
    cr_assert(is_atom_named(t, "hello"));
}

Test(weakness, after_a_stray_every_read_is_one_reply_behind)
{
    cr_assert_eq(counter_start(), 0);
    cr_assert_eq(counter_tick(5), 0);
    cr_assert_eq(erl_send(erl_self(), INT(999)), 0);
    cr_assert(term_eq(counter_read(), INT(999)));
    cr_assert_eq(counter_tick(10), 0);
    term stale = counter_read();
    cr_assert(term_eq(stale, INT(5)), "expected the stale 5, the count is 15");
    term behind = counter_read();
    cr_assert(term_eq(behind, INT(15)), "the reply to the previous read");
}

/* ---- The shell ----------------------------------------------------------- */

TestSuite(shell, .init = setup, .fini = teardown, .timeout = 30);

/* Runs line in the stage's shell and returns what it printed (free it),
 * asserting the line's status. */
static char *run(const char *line, enum shell_status status)
{
    enum shell_status st;
    char *text = shell_output(&counter_shell, line, &st);
    cr_assert_eq(st, status, "\"%.40s\": status %d, want %d", line, st, status);
    return text;
}

/* Runs line and asserts its status and exact output. */
static void expect(const char *line, enum shell_status status, const char *want)
{
    expect_shell(&counter_shell, line, status, want);
}

Test(shell, counter_session_prints_what_erl_prints)
{
    expect("start", SHELL_OK, "true\n");
    expect("tick 2", SHELL_OK, "ok\n");
    expect("  tick\t3  ", SHELL_OK, "ok\n");
    expect("read\n", SHELL_OK, "5\n");
    expect("stop", SHELL_OK, "ok\n");
}

Test(shell, unknown_command_is_named)
{
    expect("frob 1", SHELL_UNKNOWN,
           "** unknown command: \"frob\" (type help for the commands)\n");
    expect("counter:read().", SHELL_UNKNOWN,
           "** unknown command: \"counter:read().\" (type help for the commands)\n");
}

Test(shell, missing_argument_shows_usage)
{
    expect("tick", SHELL_BADARGS,
           "** tick: missing argument (usage: tick N; type help for the commands)\n");
}

Test(shell, extra_argument_is_named)
{
    expect("tick 5 6", SHELL_BADARGS,
           "** tick: unexpected argument \"6\" (usage: tick N; type help for the commands)\n");
    expect("read now", SHELL_BADARGS,
           "** read: unexpected argument \"now\" (usage: read; type help for the commands)\n");
}

Test(shell, too_many_words_are_refused)
{
    expect("tick 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17", SHELL_BADARGS,
           "** tick: too many arguments (usage: tick N; type help for the commands)\n");
}

Test(shell, non_numeric_argument_is_named)
{
    cr_assert_eq(counter_start(), 0);
    expect("tick 5x", SHELL_BADARGS,
           "** tick: \"5x\" is not an integer (type help for the commands)\n");
    expect("tick -", SHELL_BADARGS,
           "** tick: \"-\" is not an integer (type help for the commands)\n");
    expect("tick five", SHELL_BADARGS,
           "** tick: \"five\" is not an integer (type help for the commands)\n");
    expect("read", SHELL_OK, "0\n");
}

Test(shell, overflowing_argument_is_named)
{
    expect("tick 9223372036854775808", SHELL_BADARGS,
           "** tick: \"9223372036854775808\" is out of range for a 64-bit "
           "integer (type help for the commands)\n");
}

Test(shell, calls_without_a_counter_raise_badarg)
{
    const char *badarg = "** exception error: bad argument: "
                         "no process registered as counter\n";
    expect("read", SHELL_ERROR, badarg);
    expect("tick 1", SHELL_ERROR, badarg);
    expect("stop", SHELL_ERROR, badarg);
}

Test(shell, second_start_raises_badarg)
{
    expect("start", SHELL_OK, "true\n");
    expect("start", SHELL_ERROR, "** exception error: bad argument: "
                                 "the name counter is already registered\n");
}

Test(shell, stray_message_fools_read)
{
    expect("start", SHELL_OK, "true\n");
    expect("stray 999", SHELL_OK, "999\n");
    expect("read", SHELL_OK, "999\n");
    expect("tick 5", SHELL_OK, "ok\n");
    expect("read", SHELL_OK, "0\n");    /* the reply to the first read */
}

Test(shell, flush_prints_and_empties_the_mailbox)
{
    expect("stray 1", SHELL_OK, "1\n");
    expect("stray two", SHELL_OK, "two\n");
    expect("flush", SHELL_OK, "Shell got 1\nShell got two\nok\n");
    expect("flush", SHELL_OK, "ok\n");
    cr_assert_eq(erl_queue_len(), 0);
}

Test(shell, blank_lines_and_comments_do_nothing)
{
    expect("", SHELL_OK, "");
    expect("   \n", SHELL_OK, "");
    expect("% a comment", SHELL_OK, "");
}

Test(shell, quit_and_q_quit)
{
    expect("quit", SHELL_QUIT, "");
    expect("q", SHELL_QUIT, "");
    expect("quit now", SHELL_BADARGS,
           "** quit: unexpected argument \"now\" (usage: quit; type help for the commands)\n");
}

Test(shell, help_lists_stage_commands_and_builtins)
{
    char *text = run("help", SHELL_OK);
    const char *want[] = {"tick N", "stray TERM", "read", "start", "stop",
                          "  i ", "regs", "flush", "help", "quit"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        cr_assert_not_null(strstr(text, want[i]), "help lacks \"%s\"", want[i]);
    free(text);
}

Test(shell, regs_and_i_show_the_counter)
{
    char pid[32];
    expect("start", SHELL_OK, "true\n");
    term_format(pid, sizeof pid, erl_whereis(ATOM("counter")));
    char *regs = run("regs", SHELL_OK);
    cr_assert_not_null(strstr(regs, "counter"));
    cr_assert_not_null(strstr(regs, pid));
    free(regs);
    char *procs = run("i", SHELL_OK);
    char *row = strstr(procs, pid);
    cr_assert_not_null(row, "i lacks %s:\n%s", pid, procs);
    cr_assert_not_null(strstr(row, "counter_loop"));
    free(procs);
}

Test(shell, line_too_long_is_refused)
{
    char line[SHELL_MAX_LINE + 8];
    memset(line, 'x', sizeof line - 1);
    line[sizeof line - 1] = '\0';
    char *text = run(line, SHELL_BADARGS);
    cr_assert_not_null(strstr(text, "line too long"));
    free(text);
}

Test(shell, loop_numbers_prompts_and_stops_at_eof)
{
    char *text = shell_session(&counter_shell, "start\n\ntick 4\nbogus\nread\n");
    char want[512];
    snprintf(want, sizeof want,
             "%s\n1> true\n2> 2> ok\n3> ** unknown command: \"bogus\" "
             "(type help for the commands)\n4> 4\n5> \n",
             counter_shell.banner);
    cr_assert_str_eq(text, want);
    free(text);
}

Test(shell, loop_stops_at_quit)
{
    char *text = shell_session(&counter_shell, "quit\nstart\n");
    cr_assert(is_none(erl_whereis(ATOM("counter"))), "start ran after quit");
    free(text);
}

/* ---- Parsing integers ---------------------------------------------------- */

TestSuite(parse_int, .timeout = 30);

Test(parse_int, accepts_decimal_with_sign)
{
    int64_t v;
    cr_assert_eq(shell_parse_int("42", &v), 0);
    cr_assert_eq(v, 42);
    cr_assert_eq(shell_parse_int("-7", &v), 0);
    cr_assert_eq(v, -7);
    cr_assert_eq(shell_parse_int("+3", &v), 0);
    cr_assert_eq(v, 3);
    cr_assert_eq(shell_parse_int("9223372036854775807", &v), 0);
    cr_assert_eq(v, INT64_MAX);
    cr_assert_eq(shell_parse_int("-9223372036854775808", &v), 0);
    cr_assert_eq(v, INT64_MIN);
}

Test(parse_int, rejects_junk_with_einval)
{
    const char *bad[] = {"", "-", "+", "5x", "x5", " 5", "5 ", "0x10", "1e3", "--1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int64_t v = 123;
        errno = 0;
        cr_assert_eq(shell_parse_int(bad[i], &v), -1, "accepted \"%s\"", bad[i]);
        cr_assert_eq(errno, EINVAL, "\"%s\"", bad[i]);
        cr_assert_eq(v, 123, "\"%s\" changed the result", bad[i]);
    }
}

Test(parse_int, rejects_overflow_with_erange)
{
    const char *big[] = {"9223372036854775808", "-9223372036854775809",
                         "99999999999999999999999"};
    for (size_t i = 0; i < sizeof big / sizeof *big; i++) {
        int64_t v;
        errno = 0;
        cr_assert_eq(shell_parse_int(big[i], &v), -1, "accepted \"%s\"", big[i]);
        cr_assert_eq(errno, ERANGE, "\"%s\"", big[i]);
    }
}

/* ---- The tour ------------------------------------------------------------ */

TestSuite(tour, .timeout = 120);

Test(tour, program_prints_tour_txt)
{
    check_tour("01_simple");
}

Test(tour, erlang_demo_prints_the_same_session)
{
    check_erlang_tour("01_simple", "counter.erl", "counter:demo()");
}
