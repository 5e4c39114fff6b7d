/*
 * test_core_gen_server.c - what gen_server builds on erl_catch (whose own
 * tests are in test_core_catch.c): crashing callbacks that still run
 * terminate and print OTP's report, timeouts in a callback's result,
 * handle_continue, hibernation, and starts that fail without leaving
 * anything behind.
 *
 * Run: make -C tests test-core   (or build/plain/tests/test_core_gen_server)
 *
 * The tests drive "probe", a callback module below whose requests make each
 * callback time out, continue or crash.
 */
#include <criterion/criterion.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/otp/gen_server.h"
#include "common/otp/sys.h"
#include "test_util.h"

static void setup(void) { start_runtime(); }
static void teardown(void) { stop_runtime(); }

/* ---- The probe module ---------------------------------------------------- */

/* Where probe_terminate also writes, so that a test sees it in order with
 * the report (gen_server_set_report to the same stream); or NULL. */
static FILE *log_stream;

/* A new state {Owner, Value}, kept so it outlives the callback. */
static term st(term old, term value)
{
    return term_keep(TUPLE(element(1, old), value));
}

/* Crashes as kind says: {exit, R}, divide or segv. Returns false when kind
 * is none of them. */
static bool crash_as(term kind)
{
    term r;
    if (match(kind, TUPLE(ATOM("exit"), VAR(&r))))
        erl_exit_self(r);
    if (is_atom_named(kind, "divide"))
        divide_by(0);
    if (is_atom_named(kind, "segv"))
        load_null();
    return false;
}

/* args {Mode, Owner, Arg}:
 *   ok         {ok, {Owner, Arg}}
 *   timeout    {ok, {Owner, 0}, Arg}
 *   continue   sends itself hello, then {ok, {Owner, 0}, {continue, Arg}}
 *   hibernate  tells Owner {init_at, Self, Addr} (a local's address), then
 *              {ok, {Owner, Arg}, hibernate}
 *   crash      crashes as Arg says (see crash_as) */
static gen_result probe_init(term args)
{
    term mode = element(1, args), arg = element(3, args);
    term s = term_keep(TUPLE(element(2, args), INT(0)));
    if (is_atom_named(mode, "timeout"))
        return gen_ok_timeout(s, (int)arg.u.integer);
    if (is_atom_named(mode, "continue")) {
        erl_send(erl_self(), ATOM("hello"));
        return gen_ok_continue(s, arg);
    }
    if (is_atom_named(mode, "crash"))
        crash_as(arg);
    if (is_atom_named(mode, "hibernate")) {
        volatile char local = 0;
        erl_send(element(2, args), TUPLE(ATOM("init_at"), erl_self(),
                                         INT((intptr_t)&local)));
        return gen_ok_hibernate(st(s, arg));
    }
    return gen_ok(st(s, arg));
}

/* The address of a local of the callback that calls it: a page of the
 * server's stack that every callback uses. */
static term stack_here(void)
{
    volatile char local = 0;
    return INT((intptr_t)&local);
}

/*   get             {reply, Value, S}
 *   where           {reply, Addr, S}: Addr a local's address (stack_here)
 *   hibernate       {reply, Addr, S, hibernate}
 *   {timeout, Ms}   {reply, ok, S, Ms}
 *   {continue, C}   sends itself hello, then {reply, ok, S, {continue, C}}
 *   {set, V}        {reply, ok, {Owner, V}}
 *   {stop_reply, R} {stop, R, stopped, S}
 *   anything else   crashes as crash_as says */
static gen_result probe_call(term req, term from, term s)
{
    (void)from;
    term v;
    if (is_atom_named(req, "get"))
        return gen_reply(element(2, s), s);
    if (is_atom_named(req, "where"))
        return gen_reply(stack_here(), s);
    if (is_atom_named(req, "hibernate"))
        return gen_reply_hibernate(stack_here(), s);
    if (match(req, TUPLE(ATOM("timeout"), VAR(&v))))
        return gen_reply_timeout(ATOM("ok"), s, (int)v.u.integer);
    if (match(req, TUPLE(ATOM("continue"), VAR(&v)))) {
        erl_send(erl_self(), ATOM("hello"));
        return gen_reply_continue(ATOM("ok"), s, v);
    }
    if (match(req, TUPLE(ATOM("set"), VAR(&v))))
        return gen_reply(ATOM("ok"), st(s, v));
    if (match(req, TUPLE(ATOM("stop_reply"), VAR(&v))))
        return gen_stop_reply(v, ATOM("stopped"), s);
    crash_as(req);
    return gen_reply(ATOM("unknown"), s);
}

/*   {timeout, Ms}   {noreply, S, Ms}
 *   {continue, C}   sends itself hello, then {noreply, S, {continue, C}}
 *   {set, V}        {noreply, {Owner, V}}
 *   hibernate       {noreply, S, hibernate}
 *   hibernate_with_timeout  hibernate and a timeout: not a result OTP allows
 *   {stop, R}       {stop, R, S}
 *   stop_with_timeout  {stop, x, S, 5}: not a result OTP allows
 *   anything else   crashes as crash_as says */
static gen_result probe_cast(term req, term s)
{
    term v;
    if (match(req, TUPLE(ATOM("timeout"), VAR(&v))))
        return gen_noreply_timeout(s, (int)v.u.integer);
    if (match(req, TUPLE(ATOM("continue"), VAR(&v)))) {
        erl_send(erl_self(), ATOM("hello"));
        return gen_noreply_continue(s, v);
    }
    if (match(req, TUPLE(ATOM("set"), VAR(&v))))
        return gen_noreply(st(s, v));
    if (is_atom_named(req, "hibernate"))
        return gen_noreply_hibernate(s);
    if (is_atom_named(req, "hibernate_with_timeout")) {
        gen_result r = gen_noreply_hibernate(s);  /* not OTP's: one extra at most */
        r.timeout_ms = 5;
        return r;
    }
    if (match(req, TUPLE(ATOM("stop"), VAR(&v))))
        return gen_stop(v, s);
    if (is_atom_named(req, "stop_with_timeout")) {
        gen_result r = gen_stop(ATOM("x"), s);  /* built by hand: not OTP's */
        r.timeout_ms = 5;
        return r;
    }
    crash_as(req);
    return gen_noreply(s);
}

/* Crashes on a crash_as message; anything else (timeout, hello) goes to
 * Owner as {info, Self, Msg}. */
static gen_result probe_info(term msg, term s)
{
    crash_as(msg);
    erl_send(element(1, s), TUPLE(ATOM("info"), erl_self(), msg));
    return gen_noreply(s);
}

/*   {again, C}   tells Owner {continued, Self, {again, C}}, continues with C
 *   {stop, R}    {stop, R, S}
 *   a crash_as   crashes
 *   C            tells Owner {continued, Self, C}; {noreply, {Owner, C}} */
static gen_result probe_continue(term c, term s)
{
    term next, r;
    if (match(c, TUPLE(ATOM("stop"), VAR(&r))))
        return gen_stop(r, s);
    crash_as(c);
    erl_send(element(1, s), TUPLE(ATOM("continued"), erl_self(), c));
    if (match(c, TUPLE(ATOM("again"), VAR(&next))))
        return gen_noreply_continue(s, next);
    return gen_noreply(st(s, c));
}

/* Tells Owner {terminated, Self, Reason, Value} (and writes it to
 * log_stream); a Value of crash_in_terminate makes it exit(in_terminate). */
static void probe_terminate(term reason, term s)
{
    erl_send(element(1, s), TUPLE(ATOM("terminated"), erl_self(), reason,
                                  element(2, s)));
    if (log_stream) {
        char r[128], v[128];
        term_format(r, sizeof r, reason);
        term_format(v, sizeof v, element(2, s));
        fprintf(log_stream, "terminate(%s, %s)\n", r, v);
    }
    if (is_atom_named(element(2, s), "crash_in_terminate"))
        erl_exit_self(ATOM("in_terminate"));
}

/* extra crash: crashes; else {ok, {Owner, Extra}}. */
static gen_result probe_code_change(term old_vsn, term s, term extra)
{
    (void)old_vsn;
    if (is_atom_named(extra, "crash"))
        erl_exit_self(ATOM("cc_boom"));
    return gen_ok(st(s, extra));
}

static const struct gen_server_module probe = {
    .name = "probe",
    .init = probe_init,
    .handle_call = probe_call,
    .handle_cast = probe_cast,
    .handle_info = probe_info,
    .terminate = probe_terminate,
    .code_change = probe_code_change,
    .handle_continue = probe_continue,
};

/* The same module without handle_continue. */
static const struct gen_server_module no_continue = {
    .name = "no_continue",
    .init = probe_init,
    .handle_call = probe_call,
    .handle_cast = probe_cast,
    .handle_info = probe_info,
    .terminate = probe_terminate,
};

/* Starts mod in mode with arg, linked to the test thread (which traps
 * exits); asserts it started. */
static term start_mod(const struct gen_server_module *mod, const char *mode, term arg)
{
    term error = NONE;
    term pid = gen_server_start_link(NONE, mod, TUPLE(atom_from(mode), erl_self(), arg),
                                     &error);
    cr_assert(is_pid(pid), "start failed: %s", FMT(error));
    return pid;
}

static term probe_start(const char *mode, term arg) { return start_mod(&probe, mode, arg); }

/* Calls pid and asserts it replied. */
static term call_ok(term pid, term req)
{
    term error = NONE;
    term reply = gen_server_call(pid, req, WAIT_MS, &error);
    cr_assert(!is_none(reply), "call %s failed: %s", FMT(req), FMT(error));
    return reply;
}

/* Waits for {terminated, pid, Reason, Value}; asserts Value, returns Reason. */
static term await_terminated(term pid, term value)
{
    term reason, v;
    await(TUPLE(ATOM("terminated"), pid, VAR(&reason), VAR(&v)), "terminate");
    cr_assert(term_eq(v, value), "terminate saw state value %s, want %s", FMT(v),
              FMT(value));
    return reason;
}

/* The next message from pid, {Tag, pid, X}, whatever its tag; sets *x. */
static term next_from(term pid, term *x)
{
    term tag;
    await(TUPLE(VAR(&tag), pid, VAR(x)), "a message from the server");
    return tag;
}

/* ---- Reports, captured --------------------------------------------------- */

/* A memory stream that the reports and probe_terminate write to. */
static char *report_buf;
static size_t report_len;
static FILE *report_stream;

static void capture_reports(void)
{
    report_stream = open_memstream(&report_buf, &report_len);
    cr_assert_not_null(report_stream);
    gen_server_set_report(report_stream);
    log_stream = report_stream;
}

/* What was written so far (the server has exited: its writes are done). */
static const char *reports(void)
{
    fflush(report_stream);
    return report_buf;
}

static void setup_capture(void)
{
    start_runtime();
    capture_reports();
}

static void teardown_capture(void)
{
    stop_runtime();
    gen_server_set_report(NULL);
    log_stream = NULL;
    fclose(report_stream);
    free(report_buf);
}

/* Asserts the captured text is terminate's line, then OTP 25's report. */
static void expect_terminate_then_report(const char *terminate_line, const char *label,
                                         const char *last, const char *state,
                                         const char *reason)
{
    char want[1024];
    snprintf(want, sizeof want,
             "%s\n=ERROR REPORT====\n** Generic server %s terminating \n"
             "** Last message in was %s\n** When Server state == %s\n"
             "** Reason for termination ==\n** %s\n",
             terminate_line, label, last, state, reason);
    cr_assert_str_eq(reports(), want);
}

/* ---- Crashes inside callbacks -------------------------------------------- */

TestSuite(callback_crash, .init = setup_capture, .fini = teardown_capture,
          .timeout = 30);

Test(callback_crash, exit_in_handle_call_runs_terminate_then_reports)
{
    term pid = probe_start("ok", INT(5));
    term ref = erl_monitor(pid);
    term error = NONE;
    term req = TUPLE(ATOM("exit"), ATOM("boom"));
    cr_assert(is_none(gen_server_call(pid, req, WAIT_MS, &error)));
    cr_assert(is_atom_named(error, "boom"), "call error %s", FMT(error));
    cr_assert(is_atom_named(await_terminated(pid, INT(5)), "boom"));
    expect_down(ref, ATOM("boom"));
    char state[64];
    snprintf(state, sizeof state, "{%s,5}", FMT(erl_self()));
    expect_terminate_then_report("terminate(boom, 5)", FMT(pid), "{exit,boom}", state,
                                 "boom");
}

Test(callback_crash, division_by_zero_in_handle_cast_runs_terminate_with_badarith)
{
    term pid = probe_start("ok", INT(7));
    term ref = erl_monitor(pid);
    gen_server_cast(pid, ATOM("divide"));
    cr_assert(is_atom_named(await_terminated(pid, INT(7)), "badarith"));
    expect_down(ref, ATOM("badarith"));
    char state[64];
    snprintf(state, sizeof state, "{%s,7}", FMT(erl_self()));
    expect_terminate_then_report("terminate(badarith, 7)", FMT(pid),
                                 "{'$gen_cast',divide}", state, "badarith");
}

Test(callback_crash, null_dereference_in_handle_info_runs_terminate_with_signal_segv)
{
    term pid = probe_start("ok", INT(3));
    term ref = erl_monitor(pid);
    erl_send(pid, ATOM("segv"));
    term reason = await_terminated(pid, INT(3));
    cr_assert(term_eq(reason, TUPLE(ATOM("signal"), ATOM("segv"))), "reason %s",
              FMT(reason));
    expect_down(ref, TUPLE(ATOM("signal"), ATOM("segv")));
    cr_assert(strstr(reports(), "** Last message in was segv\n"), "%s", reports());
}

Test(callback_crash, terminate_gets_the_last_state_before_the_crash)
{
    term pid = probe_start("ok", INT(0));
    gen_server_cast(pid, TUPLE(ATOM("set"), STR("last good")));
    gen_server_cast(pid, TUPLE(ATOM("exit"), ATOM("late")));
    cr_assert(is_atom_named(await_terminated(pid, STR("last good")), "late"));
}

Test(callback_crash, crash_in_handle_continue_runs_terminate)
{
    term pid = probe_start("ok", INT(4));
    term ref = erl_monitor(pid);
    gen_server_cast(pid, TUPLE(ATOM("continue"), ATOM("divide")));
    cr_assert(is_atom_named(await_terminated(pid, INT(4)), "badarith"));
    expect_down(ref, ATOM("badarith"));
    cr_assert(strstr(reports(), "** Last message in was {continue,divide}\n"), "%s",
              reports());
}

Test(callback_crash, crash_in_terminate_becomes_the_exit_reason)
{
    term pid = probe_start("ok", ATOM("crash_in_terminate"));
    term ref = erl_monitor(pid);
    gen_server_cast(pid, TUPLE(ATOM("stop"), ATOM("normal")));
    cr_assert(is_atom_named(await_terminated(pid, ATOM("crash_in_terminate")), "normal"));
    expect_down(ref, ATOM("in_terminate"));
    cr_assert(strstr(reports(), "** Reason for termination ==\n** in_terminate\n"),
              "%s", reports());
}

Test(callback_crash, crash_in_terminate_still_sends_the_stop_reply)
{
    term pid = probe_start("ok", ATOM("crash_in_terminate"));
    term ref = erl_monitor(pid);
    cr_assert(is_atom_named(call_ok(pid, TUPLE(ATOM("stop_reply"), ATOM("normal"))),
                            "stopped"));
    expect_down(ref, ATOM("in_terminate"));
}

Test(callback_crash, crash_in_init_fails_the_start_without_terminate)
{
    term error = NONE;
    term pid = gen_server_start(NONE, &probe,
                                TUPLE(ATOM("crash"), erl_self(), ATOM("segv")), 0, &error);
    cr_assert(is_none(pid));
    cr_assert(term_eq(error, TUPLE(ATOM("signal"), ATOM("segv"))), "error %s", FMT(error));
    expect_no_message(TUPLE(ATOM("terminated"), ANY, ANY, ANY));
    cr_assert_eq(erl_queue_len(), 0);
}

Test(callback_crash, crash_in_code_change_keeps_the_server_and_its_state)
{
    term pid = probe_start("ok", INT(9));
    term error = NONE;
    cr_assert_eq(sys_change_code(pid, NULL, ATOM("v1"), ATOM("crash"), WAIT_MS, &error), -1);
    cr_assert(term_eq(error, TUPLE(ATOM("EXIT"), ATOM("cc_boom"))), "error %s", FMT(error));
    cr_assert(term_eq(call_ok(pid, ATOM("get")), INT(9)));
    cr_assert_eq(sys_change_code(pid, NULL, ATOM("v1"), ATOM("new"), WAIT_MS, &error), 0);
    cr_assert(term_eq(call_ok(pid, ATOM("get")), ATOM("new")));
}

Test(callback_crash, crashing_servers_leave_a_live_one_serving)
{
    term pid = probe_start("ok", INT(1));
    for (int i = 0; i < 100; i++) {
        erl_heap_mark_t mark = erl_heap_mark();
        term a = probe_start("ok", INT(i));
        gen_server_cast(a, ATOM("divide"));
        await_terminated(a, INT(i));
        erl_heap_release(mark);
    }
    cr_assert(term_eq(call_ok(pid, ATOM("get")), INT(1)));
}

/* ---- Timeouts in results ------------------------------------------------- */

TestSuite(gen_server_timeout, .init = setup, .fini = teardown, .timeout = 30);

Test(gen_server_timeout, noreply_timeout_calls_handle_info_timeout)
{
    term pid = probe_start("ok", INT(0));
    gen_server_cast(pid, TUPLE(ATOM("timeout"), INT(20)));
    await(TUPLE(ATOM("info"), pid, ATOM("timeout")), "handle_info(timeout, S)");
}

Test(gen_server_timeout, reply_timeout_calls_handle_info_timeout)
{
    term pid = probe_start("ok", INT(0));
    cr_assert(is_atom_named(call_ok(pid, TUPLE(ATOM("timeout"), INT(0))), "ok"));
    await(TUPLE(ATOM("info"), pid, ATOM("timeout")), "handle_info(timeout, S)");
}

Test(gen_server_timeout, init_ok_timeout_calls_handle_info_timeout)
{
    term pid = probe_start("timeout", INT(10));
    await(TUPLE(ATOM("info"), pid, ATOM("timeout")), "handle_info(timeout, S)");
}

Test(gen_server_timeout, any_message_cancels_the_timeout)
{
    /* Suspended, the server lets the cast and the ping wait together: the
     * ping is there the moment the cast's timeout starts, and its
     * {noreply, S} has none, so handle_info(timeout) never comes. */
    term pid = probe_start("ok", INT(0));
    cr_assert_eq(sys_suspend(pid, WAIT_MS, NULL), 0);
    gen_server_cast(pid, TUPLE(ATOM("timeout"), INT(50)));
    erl_send(pid, ATOM("ping"));
    cr_assert_eq(sys_resume(pid, WAIT_MS, NULL), 0);
    await(TUPLE(ATOM("info"), pid, ATOM("ping")), "the ping");
    cr_assert(is_none(erl_receive(TUPLE(ATOM("info"), pid, ATOM("timeout")), 300)),
              "the timeout fired after a message came in");
}

Test(gen_server_timeout, a_result_without_timeout_waits_for_ever)
{
    term pid = probe_start("ok", INT(0));
    gen_server_cast(pid, TUPLE(ATOM("timeout"), INT(0)));
    await(TUPLE(ATOM("info"), pid, ATOM("timeout")), "the first timeout");
    /* handle_info returned {noreply, S}: no second timeout. */
    cr_assert(is_none(erl_receive(TUPLE(ATOM("info"), pid, ATOM("timeout")), 100)));
}

Test(gen_server_timeout, timeout_with_a_stop_is_a_bad_return_value)
{
    term pid = probe_start("ok", INT(0));
    term ref = erl_monitor(pid);
    gen_server_cast(pid, ATOM("stop_with_timeout"));
    term reason = await_down(ref);
    cr_assert(match(reason, TUPLE(ATOM("bad_return_value"),
                                  TUPLE(ATOM("stop"), ATOM("x"), ANY, INT(5)))),
              "reason %s", FMT(reason));
}

/* ---- handle_continue ----------------------------------------------------- */

TestSuite(gen_server_continue, .init = setup, .fini = teardown, .timeout = 30);

Test(gen_server_continue, init_continue_runs_before_any_message)
{
    term pid = probe_start("continue", ATOM("warm_up"));
    term x;
    /* init sent itself hello before returning: the continue comes first. */
    cr_assert(is_atom_named(next_from(pid, &x), "continued"));
    cr_assert(is_atom_named(x, "warm_up"));
    cr_assert(is_atom_named(next_from(pid, &x), "info"));
    cr_assert(is_atom_named(x, "hello"));
}

Test(gen_server_continue, noreply_continue_runs_before_the_next_message)
{
    term pid = probe_start("ok", INT(0));
    gen_server_cast(pid, TUPLE(ATOM("continue"), TUPLE(ATOM("job"), LIST(INT(1), INT(2)))));
    term x;
    cr_assert(is_atom_named(next_from(pid, &x), "continued"));
    cr_assert(term_eq(x, TUPLE(ATOM("job"), LIST(INT(1), INT(2)))), "got %s", FMT(x));
    cr_assert(is_atom_named(next_from(pid, &x), "info"));
    /* The boxed continue, stored as the state, outlived its message. */
    cr_assert(term_eq(call_ok(pid, ATOM("get")), TUPLE(ATOM("job"), LIST(INT(1), INT(2)))));
}

Test(gen_server_continue, reply_continue_replies_then_continues)
{
    term pid = probe_start("ok", INT(0));
    cr_assert(is_atom_named(call_ok(pid, TUPLE(ATOM("continue"), ATOM("after_reply"))),
                            "ok"));
    term x;
    cr_assert(is_atom_named(next_from(pid, &x), "continued"));
    cr_assert(is_atom_named(x, "after_reply"));
    cr_assert(is_atom_named(next_from(pid, &x), "info"));
}

Test(gen_server_continue, continue_can_continue_again)
{
    term pid = probe_start("ok", INT(0));
    gen_server_cast(pid, TUPLE(ATOM("continue"),
                               TUPLE(ATOM("again"), TUPLE(ATOM("again"), ATOM("last")))));
    term x;
    cr_assert(is_atom_named(next_from(pid, &x), "continued"));
    cr_assert(is_atom_named(next_from(pid, &x), "continued"));
    cr_assert(is_atom_named(next_from(pid, &x), "continued"));
    cr_assert(is_atom_named(x, "last"), "last continue %s", FMT(x));
    cr_assert(is_atom_named(next_from(pid, &x), "info"));
}

Test(gen_server_continue, continue_may_stop_the_server)
{
    term pid = probe_start("ok", INT(2));
    term ref = erl_monitor(pid);
    gen_server_cast(pid, TUPLE(ATOM("continue"), TUPLE(ATOM("stop"), ATOM("done"))));
    cr_assert(is_atom_named(await_terminated(pid, INT(2)), "done"));
    expect_down(ref, ATOM("done"));
}

Test(gen_server_continue, missing_handle_continue_crashes_with_undef)
{
    term pid = start_mod(&no_continue, "ok", INT(6));
    term ref = erl_monitor(pid);
    gen_server_cast(pid, TUPLE(ATOM("continue"), ATOM("c")));
    term want = TUPLE(ATOM("undef"),
                      LIST(TUPLE(ATOM("no_continue"), ATOM("handle_continue"),
                                 LIST(ATOM("c"), TUPLE(erl_self(), INT(6))), NIL)));
    term reason = await_terminated(pid, INT(6));
    cr_assert(term_eq(reason, want), "reason %s", FMT(reason));
    expect_down(ref, want);
}

/* ---- Hibernation --------------------------------------------------------- */

TestSuite(gen_server_hibernate, .init = setup, .fini = teardown, .timeout = 60);

/* True when the stack page holding addr is in memory (mincore). */
static bool page_resident(term addr)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    unsigned char v = 0;
    cr_assert_eq(mincore((void *)((uintptr_t)addr.u.integer & ~(page - 1)), page, &v), 0);
    return v & 1;
}

/* Waits (polling, WAIT_MS at most) until the server whose stack page holds
 * addr has given it back: it hibernates. */
static void await_hibernated(term addr)
{
    int64_t deadline = now_ns() + (int64_t)WAIT_MS * 1000000;
    while (page_resident(addr)) {
        cr_assert(now_ns() < deadline, "the server did not hibernate in %d ms", WAIT_MS);
        erl_yield();
    }
}

/* Finds a pid's entry in erl_processes: ctx's pid in, its entry out. */
static void find_listed(const struct erl_proc_info *info, void *ctx)
{
    struct erl_proc_info *want = ctx;
    if (term_eq(info->pid, want->pid))
        *want = *info;
}

/* Waits (polling, WAIT_MS at most) until pid is listed as hibernated: after
 * a signal woke it, it hibernated again. */
static void await_listed_hibernated(term pid)
{
    int64_t deadline = now_ns() + (int64_t)WAIT_MS * 1000000;
    for (;;) {
        struct erl_proc_info info = {.pid = pid};
        erl_processes(find_listed, &info);
        if (info.hibernated)
            return;
        cr_assert(now_ns() < deadline, "the server is not listed hibernated in %d ms", WAIT_MS);
        erl_yield();
    }
}

Test(gen_server_hibernate, reply_hibernate_gives_the_stack_back_and_serves_after)
{
    term pid = probe_start("ok", INT(42));
    term at = call_ok(pid, ATOM("where"));
    cr_assert(page_resident(at), "the callbacks' stack page is not resident");
    term hib_at = call_ok(pid, ATOM("hibernate"));
    await_hibernated(hib_at);
    /* Waited for, not asserted: the call's demonitor, a signal, may reach
     * the server after it hibernated; it wakes on a stack for it and
     * hibernates again. */
    await_listed_hibernated(pid);
    cr_assert(term_eq(call_ok(pid, ATOM("get")), INT(42)), "the state did not survive");
    cr_assert(term_eq(call_ok(pid, TUPLE(ATOM("set"), STR("after"))), ATOM("ok")));
    cr_assert(term_eq(call_ok(pid, ATOM("get")), STR("after")));
}

Test(gen_server_hibernate, noreply_hibernate_then_casts_and_stop_with_the_state)
{
    term pid = probe_start("ok", INT(0));
    term at = call_ok(pid, ATOM("where"));
    gen_server_cast(pid, TUPLE(ATOM("set"), TUPLE(ATOM("kept"), STR("in the heap"))));
    gen_server_cast(pid, ATOM("hibernate"));
    await_hibernated(at);
    term want = TUPLE(ATOM("kept"), STR("in the heap"));
    cr_assert(term_eq(call_ok(pid, ATOM("get")), want));
    at = call_ok(pid, ATOM("where"));   /* it woke on whichever stack */
    gen_server_cast(pid, ATOM("hibernate"));
    await_hibernated(at);
    await_listed_hibernated(pid);
    term error = NONE;
    cr_assert_eq(gen_server_stop(pid, ATOM("normal"), WAIT_MS, &error), 0, "%s", FMT(error));
    cr_assert(is_atom_named(await_terminated(pid, want), "normal"));
}

Test(gen_server_hibernate, init_ok_hibernate_hibernates_before_the_first_message)
{
    term pid = probe_start("hibernate", INT(7));
    term at;
    await(TUPLE(ATOM("init_at"), pid, VAR(&at)), "{init_at, ...}");
    await_hibernated(at);
    cr_assert(term_eq(call_ok(pid, ATOM("get")), INT(7)));
}

Test(gen_server_hibernate, a_hibernated_server_dies_of_kill_and_of_its_parent)
{
    term pid = probe_start("ok", INT(0));
    term ref = erl_monitor(pid);
    await_hibernated(call_ok(pid, ATOM("hibernate")));
    erl_exit(pid, ATOM("kill"));
    expect_down(ref, ATOM("killed"));
    erl_drop(await(TUPLE(ATOM("EXIT"), pid, ATOM("killed")), "the link's {'EXIT', ...}"));
}

/* Starts probe in mode ok with Value 0 and opts; asserts it started. */
static term probe_start_opt(term opts)
{
    term error = NONE;
    term pid = gen_server_start_opt(NONE, &probe, TUPLE(ATOM("ok"), erl_self(), INT(0)),
                                    ERL_LINK, opts, &error);
    cr_assert(is_pid(pid), "start failed: %s", FMT(error));
    return pid;
}

Test(gen_server_hibernate, hibernate_after_hibernates_an_idle_server)
{
    term pid = probe_start_opt(LIST(TUPLE(ATOM("hibernate_after"), INT(20))));
    for (int i = 0; i < 3; i++) {
        term at = call_ok(pid, ATOM("where"));
        await_hibernated(at);           /* idle for 20 ms: it hibernates */
        cr_assert(term_eq(call_ok(pid, TUPLE(ATOM("set"), INT(i))), ATOM("ok")));
        cr_assert(term_eq(call_ok(pid, ATOM("get")), INT(i)));
    }
}

Test(gen_server_hibernate, a_timeout_in_a_result_wins_over_hibernate_after)
{
    /* hibernate_after 0 would hibernate at once; the cast's {noreply, S, 20}
     * must still time out into handle_info(timeout), as on OTP. */
    term pid = probe_start_opt(LIST(TUPLE(ATOM("hibernate_after"), INT(0))));
    gen_server_cast(pid, TUPLE(ATOM("timeout"), INT(20)));
    await(TUPLE(ATOM("info"), pid, ATOM("timeout")), "handle_info(timeout, S)");
    cr_assert(term_eq(call_ok(pid, ATOM("get")), INT(0)));
}

Test(gen_server_hibernate, bad_start_options_are_refused_by_name)
{
    term self = erl_self();     /* the test thread's own process counts too */
    size_t before = erl_process_count();
    term bad[] = {
        LIST(TUPLE(ATOM("hibernate_after"), INT(-1))),
        LIST(TUPLE(ATOM("hibernate_after"), ATOM("soon"))),
        LIST(TUPLE(ATOM("hibernate_after"), INT(5)), ATOM("spawn_opt")),
        ATOM("not_a_list"),
    };
    term offending[] = {
        TUPLE(ATOM("hibernate_after"), INT(-1)),
        TUPLE(ATOM("hibernate_after"), ATOM("soon")),
        ATOM("spawn_opt"),
        ATOM("not_a_list"),
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        term error = NONE;
        term pid = gen_server_start_opt(NONE, &probe, TUPLE(ATOM("ok"), self, INT(0)),
                                        0, bad[i], &error);
        cr_assert(is_none(pid), "started with options %s", FMT(bad[i]));
        cr_assert(term_eq(error, TUPLE(ATOM("bad_option"), offending[i])),
                  "options %s: error %s", FMT(bad[i]), FMT(error));
        erl_drop(error);
    }
    cr_assert_eq(erl_process_count(), before, "a refused start spawned a process");
    term pid = probe_start_opt(LIST(TUPLE(ATOM("hibernate_after"), ATOM("infinity"))));
    cr_assert(term_eq(call_ok(pid, ATOM("get")), INT(0)));
}

Test(gen_server_hibernate, hibernate_with_a_timeout_is_a_bad_return_value)
{
    term pid = probe_start("ok", INT(0));
    term ref = erl_monitor(pid);
    gen_server_cast(pid, ATOM("hibernate_with_timeout"));
    term reason = await_down(ref);
    cr_assert(match(reason, TUPLE(ATOM("bad_return_value"),
                                  TUPLE(ATOM("noreply"), ANY, ATOM("hibernate")))),
              "reason %s", FMT(reason));
}

/* ---- Starts that fail ---------------------------------------------------- */

TestSuite(gen_server_start, .init = setup, .fini = teardown, .timeout = 120);

/* A module whose init does as its argument says: ignore, {stop, R}, a bad
 * result, or ok. */
static gen_result failing_init(term args)
{
    if (is_atom_named(args, "ignore"))
        return gen_ignore();
    if (is_atom_named(args, "bad"))
        return gen_noreply(args);
    if (is_atom_named(args, "divide"))
        divide_by(0);
    if (match(args, TUPLE(ATOM("stop"), ANY)))
        return gen_stop(element(2, args), NONE);
    return gen_ok(args);
}
static const struct gen_server_module failing = {.name = "failing", .init = failing_init};

/* One failed start of failing with args: asserts it failed, returns error. */
static term start_fails(term name, term args, int flags)
{
    term error = NONE;
    cr_assert(is_none(gen_server_start(name, &failing, args, flags, &error)));
    return error;
}

Test(gen_server_start, failed_starts_leave_nothing_in_the_mailbox)
{
    cr_assert(is_atom_named(start_fails(NONE, ATOM("ignore"), 0), "ignore"));
    cr_assert(is_atom_named(start_fails(NONE, TUPLE(ATOM("stop"), ATOM("no")), 0), "no"));
    cr_assert(match(start_fails(NONE, ATOM("bad"), 0),
                    TUPLE(ATOM("bad_return_value"), ANY)));
    cr_assert(is_atom_named(start_fails(NONE, ATOM("divide"), 0), "badarith"));
    cr_assert_eq(erl_queue_len(), 0, "%zu messages left", erl_queue_len());
}

Test(gen_server_start, taken_name_returns_already_started_and_leaves_no_exit)
{
    term a = gen_server_start(ATOM("taken"), &failing, INT(1), 0, NULL);
    cr_assert(is_pid(a));
    term error = start_fails(ATOM("taken"), INT(2), ERL_LINK);
    cr_assert(term_eq(error, TUPLE(ATOM("already_started"), a)), "error %s", FMT(error));
    /* The test thread traps exits: an {'EXIT', Pid, normal} would show here. */
    cr_assert(is_none(erl_receive(ANY, 100)), "a message was left behind");
    cr_assert_eq(erl_queue_len(), 0);
}

/* The bytes malloc has handed out and not had back. */
static size_t malloc_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

Test(gen_server_start, a_hundred_thousand_failed_starts_run_in_constant_memory)
{
    int n = 100000 / SAN_DIVISOR;
    term a = gen_server_start(ATOM("busy"), &failing, INT(1), 0, NULL);
    cr_assert(is_pid(a));
    erl_heap_mark_t mark = erl_heap_mark();
    for (int i = 0; i < 1000; i++)      /* warm the caches first */
        erl_drop(start_fails(ATOM("busy"), INT(i), ERL_LINK));
    size_t before = malloc_in_use();
    for (int i = 0; i < n; i++) {
        term error = start_fails(i % 2 ? ATOM("busy") : NONE,
                                 i % 2 ? INT(i) : TUPLE(ATOM("stop"), LIST(INT(i))), 0);
        erl_drop(error);                /* the caller's own copy */
    }
    size_t after = malloc_in_use();
    cr_assert(erl_heap_mark() == mark, "the failed starts left terms in the heap");
    cr_assert_eq(erl_queue_len(), 0);
    cr_assert(after < before + 1024 * 1024, "malloc'd bytes grew from %zu to %zu",
              before, after);
    stop_and_check_leaks();
}
