/*
 * test_01_simple.c - the counter of 01_simple, its weakness, and the shell.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
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
    expect("frob 1", SHELL_UNKNOWN, "** unknown command: \"frob\" (the nearest "
           "is stop; type help for the commands)\n");
    expect("raed", SHELL_UNKNOWN, "** unknown command: \"raed\" (the nearest "
           "is read; type help for the commands)\n");
    expect("counter:raed().", SHELL_UNKNOWN, "** no command stands for "
           "counter:raed/0 (the nearest is counter:read(); type help for the "
           "commands)\n");
    expect("counter:tick().", SHELL_UNKNOWN, "** no command stands for "
           "counter:tick/0 (the nearest is counter:tick(N); type help for the "
           "commands)\n");
}

Test(shell, erlang_forms_run_the_commands)
{
    expect("counter:start().", SHELL_OK, "true\n");
    expect("counter:tick(5).", SHELL_OK, "ok\n");
    expect("  counter:tick( 2 ) . ", SHELL_OK, "ok\n");
    expect("counter:read().", SHELL_OK, "7\n");
    expect("self() ! hello.", SHELL_OK, "hello\n");
    expect("flush().", SHELL_OK, "Shell got hello\nok\n");
    expect("counter:stop().", SHELL_OK, "ok\n");
}

Test(shell, stray_takes_any_erlang_term)
{
    expect("self() ! {a, 'B c', \"hi\", [1, -2 | t], <<\"ab\">>, <<1,2>>, {}, []}.",
           SHELL_OK, "{a,'B c',[104,105],[1,-2|t],<<\"ab\">>,<<1,2>>,{},[]}\n");
    expect("stray {x, \"two words\"}", SHELL_OK, "{x,[116,119,111,32,119,111,114,"
           "100,115]}\n");
    expect("stray 'it''s'", SHELL_BADARGS, "** stray: syntax error before: 's' (type "
           "help for the commands)\n");
    expect("stray {a, b", SHELL_BADARGS, "** stray: the term ends too soon (type "
           "help for the commands)\n");
    expect("stray {a b}", SHELL_BADARGS, "** stray: syntax error before: b} (type "
           "help for the commands)\n");
    expect("stray Pid", SHELL_BADARGS, "** stray: syntax error before: Pid (type "
           "help for the commands)\n");
    expect("flush", SHELL_OK, "Shell got {a,'B c',[104,105],[1,-2|t],<<\"ab\">>,"
           "<<1,2>>,{},[]}\nShell got {x,[116,119,111,32,119,111,114,100,115]}\nok\n");
}

Test(shell, help_aligns_every_line)
{
    char *text = run("help", SHELL_OK);
    /* every command line: two blanks, the usage padded, two blanks, text */
    int column = -1;
    for (char *l = text; *l; l = strchr(l, '\n') + 1) {
        if (strncmp(l, "  ", 2) != 0)
            continue;
        char *gap = strstr(l + 2, "  ");
        cr_assert_not_null(gap);
        while (gap[2] == ' ')
            gap++;
        int col = (int)(gap - l);
        cr_assert(column < 0 || col == column, "help misaligned at: %.30s", l);
        column = col;
    }
    cr_assert_gt(column, 0);
    free(text);
}

Test(shell, line_too_long_counts_what_was_typed)
{
    char line[SHELL_MAX_LINE + 2];
    memset(line, 'x', SHELL_MAX_LINE);
    line[SHELL_MAX_LINE] = '\n';
    line[SHELL_MAX_LINE + 1] = '\0';
    char want[128];
    snprintf(want, sizeof want, "** line too long: %d bytes, at most %d\n",
             SHELL_MAX_LINE, SHELL_MAX_LINE - 1);
    expect(line, SHELL_BADARGS, want);
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
             "(the nearest is regs; type help for the commands)\n4> 4\n5> \n",
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

/* ---- The loop as a program runs it: exit status, Ctrl-C ------------------ */

TestSuite(loop, .init = setup, .fini = teardown, .timeout = 60);

/* A shell_loop running in a thread of its own, fed and read through pipes. */
struct loop_run {
    int in[2];          /* the test writes lines to in[1] */
    int out[2];         /* the loop prints to out[1]; the test reads out[0] */
    int status;         /* shell_loop's result, once the thread has ended */
    pthread_t thread;   /* the thread running it */
    char seen[8192];    /* everything read from out[0] so far */
    size_t len;         /* bytes in seen */
};

static void *loop_body(void *arg)
{
    struct loop_run *r = arg;
    FILE *in = fdopen(r->in[0], "r"), *out = fdopen(r->out[1], "w");
    r->status = shell_loop(&counter_shell, in, out);
    fclose(in);
    fclose(out);
    return NULL;
}

static void loop_start(struct loop_run *r)
{
    memset(r, 0, sizeof *r);
    cr_assert_eq(pipe(r->in), 0);
    cr_assert_eq(pipe(r->out), 0);
    cr_assert_eq(pthread_create(&r->thread, NULL, loop_body, r), 0);
}

/* Waits (WAIT_MS at most) until the loop has printed want after what an
 * earlier call consumed; fails with everything seen otherwise. */
static void loop_expect(struct loop_run *r, size_t *from, const char *want)
{
    int64_t deadline = now_ns() / 1000000 + WAIT_MS;
    for (;;) {
        r->seen[r->len] = '\0';
        char *at = strstr(r->seen + *from, want);
        if (at) {
            *from = (size_t)(at - r->seen) + strlen(want);
            return;
        }
        int64_t left = deadline - (int64_t)(now_ns() / 1000000);
        cr_assert_gt(left, 0, "never printed \"%s\"; printed:\n%s", want, r->seen);
        struct pollfd p = {.fd = r->out[0], .events = POLLIN};
        if (poll(&p, 1, (int)left) == 1) {
            ssize_t n = read(r->out[0], r->seen + r->len, sizeof r->seen - 1 - r->len);
            cr_assert_gt(n, 0, "the loop ended; printed:\n%s", r->seen);
            r->len += (size_t)n;
        }
    }
}

static void loop_type(struct loop_run *r, const char *line)
{
    cr_assert_eq(write(r->in[1], line, strlen(line)), (ssize_t)strlen(line));
}

/* Closes the input and returns shell_loop's result. */
static int loop_end(struct loop_run *r)
{
    close(r->in[1]);
    pthread_join(r->thread, NULL);
    close(r->out[0]);
    return r->status;
}

/* A stand-in registered as counter that never answers: tells the test
 * (arg) when a read reaches it, then waits for ever. */
static void deaf_counter(term test)
{
    term from;
    erl_receive(TUPLE(ATOM("read"), VAR(&from)), ERL_INFINITY);
    erl_send(test, TUPLE(ATOM("read_from"), from));
    erl_receive(ATOM("never"), ERL_INFINITY);
}

Test(loop, exit_status_says_whether_the_last_command_failed)
{
    struct loop_run r;
    size_t at = 0;
    loop_start(&r);
    loop_type(&r, "start\nbogus\n");
    loop_expect(&r, &at, "3> ");
    cr_assert_eq(loop_end(&r), 1, "a failed last command must give status 1");
    loop_start(&r);
    at = 0;
    loop_type(&r, "bogus\nread\n");
    loop_expect(&r, &at, "3> ");
    cr_assert_eq(loop_end(&r), 0, "a good last command must give status 0");
}

Test(loop, i_lists_the_shell_process_from_the_start)
{
    char *text = shell_session(&counter_shell, "i\n");
    cr_assert_not_null(strstr(text, " shell "), "i lists no shell:\n%s", text);
    free(text);
}

Test(loop, ctrl_c_stops_a_waiting_read_and_a_second_quits)
{
    term deaf = erl_spawn(deaf_counter, erl_self());
    cr_assert_eq(erl_register(ATOM("counter"), deaf), 0);
    struct loop_run r;
    size_t at = 0;
    loop_start(&r);
    loop_type(&r, "read\n");
    term from;
    term got = erl_receive(TUPLE(ATOM("read_from"), VAR(&from)), WAIT_MS);
    cr_assert(!is_none(got), "the read never reached the counter");
    cr_assert_eq(kill(getpid(), SIGINT), 0);    /* the read waits: stop it */
    loop_expect(&r, &at, "** interrupted");
    loop_expect(&r, &at, "2> ");
    cr_assert(!erl_is_alive(from), "the interrupted shell process lives on");
    loop_type(&r, "stray 1\nflush\n");       /* a new shell process runs them */
    loop_expect(&r, &at, "Shell got 1\nok\n4> ");
    cr_assert_eq(pthread_kill(r.thread, SIGINT), 0);
    cr_assert_eq(loop_end(&r), 130, "Ctrl-C at the prompt must quit with 130");
}
