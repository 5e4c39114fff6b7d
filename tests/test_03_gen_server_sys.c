/*
 * test_03_gen_server_sys.c - the sys module on a gen_server, and
 * 03_gen_server's counter, its shell and its tour. The probe module is in
 * gen_server_probe.h.
 */
#include "gen_server_probe.h"

/* ---- sys ----------------------------------------------------------------- */

TestSuite(sys, .init = setup, .fini = teardown, .timeout = 30);

/* A sys_state_fn: {Owner, Value} -> {Owner, Value + Arg}. */
static term add_to_value(term s, term arg)
{
    return st(s, INT(element(2, s).u.integer + arg.u.integer));
}

Test(sys, get_state_returns_the_callback_state)
{
    term pid = probe_start("ok", STR("seen"));
    term s = sys_get_state(pid, WAIT_MS, NULL);
    cr_assert(term_eq(s, TUPLE(erl_self(), STR("seen"))), "state %s", FMT(s));
}

Test(sys, replace_state_runs_the_function_in_the_server)
{
    term pid = probe_start("ok", INT(10));
    term s = sys_replace_state(pid, add_to_value, INT(5), WAIT_MS, NULL);
    cr_assert(term_eq(s, TUPLE(erl_self(), INT(15))), "state %s", FMT(s));
    cr_assert(term_eq(call_ok(pid, ATOM("get")), INT(15)));
}

Test(sys, suspended_server_answers_only_after_resume_in_order)
{
    term pid = probe_start("ok", INT(0));
    cr_assert_eq(sys_suspend(pid, WAIT_MS, NULL), 0);
    gen_server_cast(pid, TUPLE(ATOM("set"), INT(5)));
    term c = spawn_caller(pid, ATOM("get"));
    /* System messages still work, and the cast has not been handled. */
    cr_assert(term_eq(sys_get_state(pid, WAIT_MS, NULL), TUPLE(erl_self(), INT(0))));
    term st_ = sys_get_status(pid, WAIT_MS, NULL);
    cr_assert(match(st_, TUPLE(ATOM("status"), pid, TUPLE(ATOM("module"), ATOM("gen_server")),
                               LIST(NIL, ATOM("suspended"), erl_self(), NIL, ANY))),
              "status %s", FMT(st_));
    expect_no_message(TUPLE(ATOM("answer"), c, ANY));
    cr_assert_eq(sys_resume(pid, WAIT_MS, NULL), 0);
    term result = await_answer(c);
    cr_assert(term_eq(result, TUPLE(ATOM("ok"), INT(5))), "got %s", FMT(result));
}

Test(sys, statistics_count_messages_in_and_out)
{
    term pid = probe_start("ok", INT(0));
    cr_assert(is_atom_named(sys_statistics(pid, ATOM("get"), WAIT_MS, NULL),
                            "no_statistics"));
    cr_assert(is_atom_named(sys_statistics(pid, ATOM("true"), WAIT_MS, NULL), "ok"));
    gen_server_cast(pid, TUPLE(ATOM("set"), INT(1)));
    erl_send(pid, ATOM("info"));
    call_ok(pid, ATOM("get"));
    term stats = sys_statistics(pid, ATOM("get"), WAIT_MS, NULL);
    cr_assert(match(stats, TUPLE(ATOM("ok"),
                                 LIST(TUPLE(ATOM("start_time"), ANY),
                                      TUPLE(ATOM("current_time"), ANY),
                                      TUPLE(ATOM("messages_in"), INT(3)),
                                      TUPLE(ATOM("messages_out"), INT(1))))),
              "statistics %s", FMT(stats));
}

Test(sys, unknown_system_request_is_answered_with_an_error)
{
    term pid = probe_start("ok", INT(0));
    term r = gen_call(pid, ATOM("system"), ATOM("frobnicate"), WAIT_MS, NULL);
    cr_assert(term_eq(r, TUPLE(ATOM("error"),
                               TUPLE(ATOM("unknown_system_msg"), ATOM("frobnicate")))));
}

/* A sys_state_fn that leaves the state as it is. */
static term same_state(term s, term arg)
{
    (void)arg;
    return s;
}

Test(sys, calls_to_a_missing_server_fail_as_sys_not_as_gen_server)
{
    term nobody = ATOM("nobody_here"), e = NONE;
    cr_assert_eq(sys_trace(nobody, true, WAIT_MS, &e), -1);
    cr_assert(term_eq(e, TUPLE(ATOM("noproc"), TUPLE(ATOM("sys"), ATOM("trace"),
                                                     LIST(nobody, ATOM("true"))))),
              "error %s", FMT(e));
    cr_assert(is_none(sys_get_state(nobody, WAIT_MS, &e)));
    cr_assert(term_eq(e, TUPLE(ATOM("noproc"), TUPLE(ATOM("sys"), ATOM("get_state"),
                                                     LIST(nobody)))), "error %s", FMT(e));
    cr_assert(is_none(sys_statistics(nobody, ATOM("get"), WAIT_MS, &e)));
    cr_assert(term_eq(e, TUPLE(ATOM("noproc"), TUPLE(ATOM("sys"), ATOM("statistics"),
                                                     LIST(nobody, ATOM("get"))))),
              "error %s", FMT(e));
    cr_assert_eq(sys_suspend(nobody, WAIT_MS, &e), -1);
    cr_assert(term_eq(e, TUPLE(ATOM("noproc"), TUPLE(ATOM("sys"), ATOM("suspend"),
                                                     LIST(nobody)))), "error %s", FMT(e));
    cr_assert_eq(sys_change_code(nobody, &probe, ATOM("v1"), NIL, WAIT_MS, &e), -1);
    cr_assert(term_eq(e, TUPLE(ATOM("noproc"),
                               TUPLE(ATOM("sys"), ATOM("change_code"),
                                     LIST(nobody, ATOM("probe"), ATOM("v1"), NIL)))),
              "error %s", FMT(e));
    cr_assert(is_none(sys_replace_state(nobody, same_state, INT(3), WAIT_MS, &e)));
    cr_assert(match(e, TUPLE(ATOM("noproc"),
                             TUPLE(ATOM("sys"), TUPLE(ATOM("replace_state"), ANY, INT(3)),
                                   LIST(nobody)))), "error %s", FMT(e));
}

Test(sys, a_call_that_times_out_fails_with_timeout_as_sys)
{
    term pid = agent_start();   /* not a gen_server: it never answers */
    term e = NONE;
    cr_assert(is_none(sys_get_state(pid, 50, &e)));
    cr_assert(term_eq(e, TUPLE(ATOM("timeout"), TUPLE(ATOM("sys"), ATOM("get_state"),
                                                      LIST(pid)))), "error %s", FMT(e));
}

/* Reads one line of the redirected stdout, without its newline. */
static const char *next_line(FILE *in, char *buf, size_t n)
{
    cr_assert(fgets(buf, (int)n, in), "stdout ended early");
    buf[strcspn(buf, "\n")] = 0;
    return buf;
}

/* Captures stdout (Criterion gives the test the read end), then starts. */
static void setup_capture(void)
{
    cr_redirect_stdout();
    start_runtime();
}

TestSuite(sys_trace, .init = setup_capture, .fini = teardown, .timeout = 30);

Test(sys_trace, prints_messages_in_and_out_as_otp)
{
    term pid = counter_start_link(NULL);
    cr_assert(is_pid(pid));
    cr_assert_eq(sys_trace(COUNTER, true, WAIT_MS, NULL), 0);
    counter_tick(5);
    cr_assert(term_eq(counter_read(NULL), INT(5)));
    cr_assert_eq(sys_trace(COUNTER, false, WAIT_MS, NULL), 0);
    fflush(stdout);
    char me[64], expect[256], line[256];
    term_format(me, sizeof me, erl_self());
    FILE *out = cr_get_redirected_stdout();
    cr_assert_str_eq(next_line(out, line, sizeof line), "*DBG* counter got cast {tick,5}");
    cr_assert_str_eq(next_line(out, line, sizeof line), "*DBG* counter new state 5");
    snprintf(expect, sizeof expect, "*DBG* counter got call read from %s", me);
    cr_assert_str_eq(next_line(out, line, sizeof line), expect);
    snprintf(expect, sizeof expect, "*DBG* counter sent 5 to %s, new state 5", me);
    cr_assert_str_eq(next_line(out, line, sizeof line), expect);
}

Test(sys, change_code_runs_code_change_and_keeps_the_state)
{
    term pid = counter_start_link(NULL);
    counter_tick(8);
    cr_assert_eq(sys_suspend(COUNTER, WAIT_MS, NULL), 0);
    term error = NONE;
    cr_assert_eq(sys_change_code(COUNTER, &counter_module, ATOM("undefined"), NIL,
                                 WAIT_MS, &error), 0, "error %s", FMT(error));
    cr_assert_eq(sys_resume(COUNTER, WAIT_MS, NULL), 0);
    cr_assert(term_eq(counter_read(NULL), INT(8)));
    cr_assert(term_eq(erl_whereis(COUNTER), pid));
}

/* ---- The counter ---------------------------------------------------------- */

TestSuite(counter, .init = setup, .fini = teardown, .timeout = 30);

Test(counter, start_link_registers_counter_at_zero)
{
    term pid = counter_start_link(NULL);
    cr_assert(is_pid(pid));
    cr_assert(term_eq(erl_whereis(COUNTER), pid));
    cr_assert(term_eq(counter_read(NULL), INT(0)));
}

Test(counter, read_after_ticks_returns_sum)
{
    counter_start_link(NULL);
    counter_tick(2);
    counter_tick(3);
    counter_tick(-1);
    cr_assert(term_eq(counter_read(NULL), INT(4)));
}

Test(counter, second_start_fails_with_already_started)
{
    term pid = counter_start_link(NULL);
    term error = NONE;
    cr_assert(is_none(counter_start_link(&error)));
    cr_assert(term_eq(error, TUPLE(ATOM("already_started"), pid)));
}

Test(counter, read_after_stop_fails_with_noproc)
{
    term pid = counter_start_link(NULL);
    term ref = erl_monitor(pid);
    counter_stop();
    expect_down(ref, ATOM("normal"));
    term error = NONE;
    cr_assert(is_none(counter_read(&error)));
    cr_assert(is_atom_named(error, "noproc"), "error %s", FMT(error));
}

Test(counter, crash_reaches_the_trapping_linked_caller)
{
    term pid = counter_start_link(NULL);
    counter_crash();
    await(TUPLE(ATOM("EXIT"), pid, ATOM("boom")), "{'EXIT', Counter, boom}");
}

Test(counter, slow_call_times_out)
{
    counter_start_link(NULL);
    term error = NONE;
    cr_assert(is_none(counter_slow(300, 50, &error)));
    cr_assert(is_atom_named(error, "timeout"), "error %s", FMT(error));
    cr_assert(term_eq(counter_slow(0, WAIT_MS, NULL), ATOM("ok")));
}

Test(counter, tick_past_int64_max_stops_it_with_badarith)
{
    term pid = counter_start_link(NULL);
    counter_tick(INT64_MAX);
    counter_tick(1);
    await(TUPLE(ATOM("EXIT"), pid, ATOM("badarith")), "{'EXIT', Counter, badarith}");
}

Test(counter, many_calls_and_casts_keep_count)
{
    counter_start_link(NULL);
    for (int i = 1; i <= 10000; i++) {
        counter_tick(1);
        if (i % 100 == 0) {
            erl_heap_mark_t mark = erl_heap_mark();
            term n = counter_read(NULL);
            cr_assert(term_eq(n, INT(i)), "read %s after %d ticks", FMT(n), i);
            erl_heap_release(mark);
        }
    }
}

/* ---- The shell ----------------------------------------------------------- */

TestSuite(shell, .init = setup, .fini = teardown, .timeout = 30);

/* Runs line in the stage's shell and asserts its status and exact output. */
static void expect(const char *line, enum shell_status status, const char *want)
{
    expect_shell(&counter_shell, line, status, want);
}

Test(shell, session_prints_what_erl_prints)
{
    char want[64];
    enum shell_status st;
    char *text = shell_output(&counter_shell, "start", &st);
    cr_assert_eq(st, SHELL_OK);
    snprintf(want, sizeof want, "{ok,%s}\n", FMT(erl_whereis(COUNTER)));
    cr_assert_str_eq(text, want);
    free(text);
    expect("tick 2", SHELL_OK, "ok\n");
    expect("read", SHELL_OK, "2\n");
    expect("state", SHELL_OK, "2\n");
    expect("slow 0", SHELL_OK, "ok\n");
    term ref = erl_monitor(COUNTER);
    expect("stop", SHELL_OK, "ok\n");
    expect_down(ref, ATOM("normal"));
    expect("read", SHELL_ERROR,
           "** exception exit: {noproc,{gen_server,call,[counter,read]}}\n");
}

Test(shell, crash_reaches_the_shell_as_an_exit_message)
{
    term pid = counter_start_link(NULL);
    expect("crash", SHELL_OK, "ok\n");
    await(TUPLE(ATOM("EXIT"), pid, ATOM("boom")), "{'EXIT', Counter, boom}");
    expect("read", SHELL_ERROR,
           "** exception exit: {noproc,{gen_server,call,[counter,read]}}\n");
}

Test(shell, bad_input_is_named)
{
    expect("slow -1", SHELL_BADARGS,
           "** slow: -1 ms is outside 0..60000 (type help for the commands)\n");
    expect("trace maybe", SHELL_BADARGS,
           "** trace: \"maybe\" is neither on nor off (type help for the commands)\n");
    expect("stats all", SHELL_BADARGS,
           "** stats: \"all\" is not on, off or get (type help for the commands)\n");
    expect("tick 1.5", SHELL_BADARGS,
           "** tick: \"1.5\" is not an integer (type help for the commands)\n");
}

Test(shell, sys_commands_without_a_counter_fail_as_sys)
{
    expect("trace on", SHELL_ERROR,
           "** exception exit: {noproc,{sys,trace,[counter,true]}}\n");
    expect("state", SHELL_ERROR,
           "** exception exit: {noproc,{sys,get_state,[counter]}}\n");
    expect("stats", SHELL_ERROR,
           "** exception exit: {noproc,{sys,statistics,[counter,get]}}\n");
}

/* ---- The tour ------------------------------------------------------------ */

TestSuite(tour, .timeout = 120);

Test(tour, program_prints_tour_txt)
{
    check_tour("03_gen_server");
}

Test(tour, erlang_demo_prints_the_same_session)
{
    check_erlang_tour("03_gen_server", "counter.erl", "counter:demo()");
}

/* ---- The shell: Erlang forms --------------------------------------------- */

Test(shell, erlang_forms_run_the_commands)
{
    enum shell_status st;
    char *text = shell_output(&counter_shell, "counter:start_link().", &st);
    cr_assert_eq(st, SHELL_OK);
    cr_assert(strncmp(text, "{ok,<", 5) == 0, "start_link printed %s", text);
    free(text);
    expect("counter:tick(4).", SHELL_OK, "ok\n");
    expect("sys:get_state(counter).", SHELL_OK, "4\n");
    expect("sys:statistics(counter, true).", SHELL_OK, "ok\n");
    expect("counter:slow(10, 5000).", SHELL_OK, "ok\n");
    expect("counter:slow(300, 20).", SHELL_ERROR, "** exception exit: "
           "{timeout,{gen_server,call,[counter,{sleep,300},20]}}\n");
    expect("sys:trace(counter, maybe).", SHELL_BADARGS,
           "** trace: \"maybe\" is neither on nor off (type help for the commands)\n");
    expect("sys:trace(other, true).", SHELL_UNKNOWN, "** no command stands for "
           "sys:trace/2 (the nearest is sys:trace(counter, Flag); type help for "
           "the commands)\n");
    expect("counter:stop().", SHELL_OK, "ok\n");
}
