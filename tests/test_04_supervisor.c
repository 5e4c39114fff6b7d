/*
 * test_04_supervisor.c - the counter under counter_sup: every crash brings it
 * back at its initial value with a new pid, until the 11th within the period
 * makes the supervisor give up.
 */
#include <criterion/criterion.h>

#include "04_supervisor/counter.h"
#include "04_supervisor/counter_sup.h"
#include "04_supervisor/shell_cmds.h"
#include "test_util.h"
#include "tour_check.h"

/* Crash-and-restart cycles of the long test: the 100000 in the
 * plain build; fewer under the sanitizers, where each is many times slower. */
#ifdef ERL_SANITIZE
#define CYCLES 5000
#else
#define CYCLES 100000
#endif

static void setup(void)
{
    start_runtime();
    supervisor_set_report(NULL);    /* hundreds of reports would drown the log */
}

static void teardown(void) { stop_runtime(); }

/* Starts counter_sup at initial, asserting it started; returns its pid. */
static term sup_start(int64_t initial)
{
    term error = NONE;
    term sup = counter_sup_start_link(initial, &error);
    cr_assert(is_pid(sup), "counter_sup did not start: %s", FMT(error));
    return sup;
}

/* The counter's count, asserting the call worked. */
static int64_t read_count(void)
{
    term error = NONE;
    term n = counter_read(&error);
    cr_assert(is_int(n), "read failed: %s", FMT(error));
    return n.u.integer;
}

/* Ticks the counter to initial + 5, crashes it with crash, and asserts it
 * came back under a new pid, registered, at initial. */
static void crash_and_check(int64_t initial, term (*crash)(void))
{
    counter_tick(5);
    cr_assert_eq(read_count(), initial + 5);
    term old = erl_whereis(COUNTER);
    term ref = erl_monitor(old);
    cr_assert(term_eq(crash(), old));
    await_down(ref);
    term error = NONE;
    term pid = counter_sup_await_restart(old, &error);
    cr_assert(is_pid(pid), "no restart: %s", FMT(error));
    cr_assert(!term_eq(pid, old));
    cr_assert(term_eq(erl_whereis(COUNTER), pid));
    cr_assert_eq(read_count(), initial);
}

/* ---- Starting ------------------------------------------------------------ */

TestSuite(counter_sup, .init = setup, .fini = teardown, .timeout = 60);

Test(counter_sup, starts_the_counter_at_the_initial_value)
{
    term sup = sup_start(42);
    cr_assert(term_eq(erl_whereis(COUNTER_SUP), sup));
    cr_assert(is_pid(erl_whereis(COUNTER)));
    cr_assert_eq(read_count(), 42);
}

Test(counter_sup, which_children_lists_the_counter)
{
    sup_start(0);
    term kids = supervisor_which_children(COUNTER_SUP, NULL);
    term pid = erl_whereis(COUNTER);
    cr_assert(term_eq(kids, LIST(TUPLE(ATOM("counter"), pid, ATOM("worker"), NIL))),
              "which_children %s", FMT(kids));
    cr_assert(term_eq(counter_sup_counter(NULL), pid));
}

/* What erl_processes says about one pid. */
struct trap_probe {
    term pid;       /* the process asked about */
    int trap;       /* its trap_exit flag; -1 until it is found */
};

static void find_trap(const struct erl_proc_info *info, void *ctx)
{
    struct trap_probe *t = ctx;
    if (term_eq(info->pid, t->pid))
        t->trap = info->trap_exit;
}

Test(counter_sup, the_counter_traps_exits)
{
    sup_start(0);
    term pid = erl_whereis(COUNTER);
    struct trap_probe probe = {pid, -1};
    erl_processes(find_trap, &probe);
    cr_assert_eq(probe.trap, 1);
    /* So an exit signal from a stranger is a message for handle_info. */
    erl_exit(pid, ATOM("stranger"));
    cr_assert_eq(read_count(), 0);
    cr_assert(term_eq(erl_whereis(COUNTER), pid));
}

Test(counter_sup, second_start_fails_with_already_started)
{
    term sup = sup_start(0);
    term error = NONE;
    cr_assert(is_none(counter_sup_start_link(0, &error)));
    cr_assert(term_eq(error, TUPLE(ATOM("already_started"), sup)), "error %s", FMT(error));
}

Test(counter_sup, draws_the_tree)
{
    sup_start(0);
    char buf[512] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    cr_assert_eq(counter_sup_draw(f, NULL), 0);
    fclose(f);
    char sup[32], kid[32], expect[512];
    term_format(sup, sizeof sup, erl_whereis(COUNTER_SUP));
    term_format(kid, sizeof kid, erl_whereis(COUNTER));
    snprintf(expect, sizeof expect,
             "counter_sup %s  one_for_one, 10 restarts in 3600 s\n |\n"
             " +-- counter %s  worker, permanent, shutdown 2000 ms\n", sup, kid);
    cr_assert_str_eq(buf, expect);
}

/* ---- Crashes ------------------------------------------------------------- */

TestSuite(restart, .init = setup, .fini = teardown, .timeout = 60);

Test(restart, kill_brings_it_back_at_the_initial_value)
{
    sup_start(10);
    crash_and_check(10, counter_kill);
}

Test(restart, error_brings_it_back_at_the_initial_value)
{
    sup_start(10);
    crash_and_check(10, counter_error);
}

/* Faults the counter with fault, asserts it died with a reason matching
 * pattern and came back; then checks a second fault with crash_and_check. */
static void fault_and_check(term (*fault)(void), term pattern)
{
    sup_start(10);
    term old = erl_whereis(COUNTER);
    term ref = erl_monitor(old);
    fault();
    term reason = await_down(ref);
    cr_assert(match(reason, pattern), "reason %s", FMT(reason));
    cr_assert(is_pid(counter_sup_await_restart(old, NULL)));
    crash_and_check(10, fault);
}

Test(restart, division_by_zero_brings_it_back_at_the_initial_value)
{
    fault_and_check(counter_divzero, ATOM("badarith"));
}

Test(restart, null_pointer_brings_it_back_at_the_initial_value)
{
    fault_and_check(counter_nullptr, TUPLE(ATOM("signal"), ANY));
}

Test(restart, tick_past_int64_max_is_a_badarith_crash)
{
    sup_start(INT64_MAX);
    term old = erl_whereis(COUNTER);
    term ref = erl_monitor(old);
    counter_tick(1);
    expect_down(ref, ATOM("badarith"));
    cr_assert(is_pid(counter_sup_await_restart(old, NULL)));
    cr_assert_eq(read_count(), INT64_MAX);
}

Test(restart, stop_brings_a_permanent_counter_back)
{
    sup_start(3);
    crash_and_check(3, counter_error);
    term old = erl_whereis(COUNTER);
    counter_stop();
    term pid = counter_sup_await_restart(old, NULL);
    cr_assert(is_pid(pid) && !term_eq(pid, old));
    cr_assert_eq(read_count(), 3);
}

/* Crashes the counter with kill; returns the new pid or NONE (gave up). */
static term kill_and_await(void)
{
    term old = erl_whereis(COUNTER);
    cr_assert(is_pid(old), "no counter to kill");
    counter_kill();
    return counter_sup_await_restart(old, NULL);
}

Test(restart, eleventh_crash_makes_the_supervisor_exit_with_shutdown)
{
    term sup = sup_start(0);
    term ref = erl_monitor(sup);
    term (*crashes[])(void) = {counter_kill, counter_error, counter_divzero,
                               counter_nullptr};
    for (int i = 0; i < 10; i++) {
        term old = erl_whereis(COUNTER);
        crashes[i % 4]();
        term pid = counter_sup_await_restart(old, NULL);
        cr_assert(is_pid(pid), "crash %d was not restarted", i + 1);
    }
    cr_assert(erl_is_alive(sup));
    cr_assert(is_none(kill_and_await()), "the 11th crash was restarted");
    expect_down(ref, ATOM("shutdown"));
    cr_assert(is_none(erl_whereis(COUNTER_SUP)));
    cr_assert(is_none(erl_whereis(COUNTER)));
    /* The test thread is linked and traps exits: it hears about it too. */
    await(TUPLE(ATOM("EXIT"), sup, ATOM("shutdown")), "{'EXIT', Sup, shutdown}");
}

Test(restart, many_cycles_restart_cleanly)
{
    struct sup_flags flags = counter_sup_flags;
    flags.intensity = CYCLES + 1;
    term error = NONE;
    term sup = counter_sup_start_link_flags(7, flags, &error);
    cr_assert(is_pid(sup), "counter_sup did not start: %s", FMT(error));
    size_t procs = erl_process_count();
    for (int i = 0; i < CYCLES; i++) {
        erl_heap_mark_t mark = erl_heap_mark();
        cr_assert(is_pid(kill_and_await()), "cycle %d: no restart", i);
        erl_heap_release(mark);
    }
    cr_assert_eq(read_count(), 7);
    cr_assert_eq(erl_process_count(), procs, "processes leaked");
    cr_assert(term_eq(erl_whereis(COUNTER_SUP), sup));
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
    char want[128];
    enum shell_status st;
    char *text = shell_output(&counter_shell, "start 3", &st);
    cr_assert_eq(st, SHELL_OK);
    snprintf(want, sizeof want, "{ok,%s}\n", FMT(erl_whereis(COUNTER_SUP)));
    cr_assert_str_eq(text, want);
    free(text);
    expect("tick 2", SHELL_OK, "ok\n");
    expect("read", SHELL_OK, "5\n");
    expect("shutdown", SHELL_OK, "ok\n");
    expect("read", SHELL_ERROR,
           "** exception exit: {noproc,{gen_server,call,[counter,read]}}\n");
}

Test(shell, kill_says_the_supervisor_restarted_it)
{
    sup_start(4);
    char old[32], want[128];
    term_format(old, sizeof old, erl_whereis(COUNTER));
    enum shell_status st;
    char *text = shell_output(&counter_shell, "kill", &st);
    cr_assert_eq(st, SHELL_OK);
    snprintf(want, sizeof want, "true\n%% counter %s died; counter_sup "
             "restarted it as %s\n", old, FMT(erl_whereis(COUNTER)));
    cr_assert_str_eq(text, want);
    free(text);
    expect("read", SHELL_OK, "4\n");
}

/* spin: with preemption, the counter is killed after its shutdown time
 * and restarted, and the shell says so; without (the sanitizer builds),
 * the shell refuses it and the counter is left as it was. */
Test(shell, spin_says_the_shutdown_killed_it_or_that_it_needs_preemption)
{
    sup_start(4);
    struct erl_preempt_stats st;
    erl_preempt_stats(&st);
    term old = erl_whereis(COUNTER);
    char was[32], want[256];
    term_format(was, sizeof was, old);
    enum shell_status status;
    char *text = shell_output(&counter_shell, "spin", &status);
    if (st.slice_us) {
        cr_assert_eq(status, SHELL_OK);
        snprintf(want, sizeof want, "ok\n%% counter %s spun in handle_cast; counter_sup's "
                 "shutdown killed it after its 2000 ms and restart_child started %s\n",
                 was, FMT(erl_whereis(COUNTER)));
    } else {
        cr_assert_eq(status, SHELL_ERROR);
        snprintf(want, sizeof want, "** spin needs preemption, which is off in this build "
                 "(the sanitizers, or ERL_PREEMPT_US=0): the counter would keep its "
                 "scheduler for good\n");
        cr_assert(term_eq(erl_whereis(COUNTER), old), "a refused spin changed the counter");
    }
    cr_assert_str_eq(text, want);
    free(text);
    expect("read", SHELL_OK, "4\n");
}

Test(shell, commands_without_a_supervisor_say_so)
{
    expect("kill", SHELL_ERROR, "** exception error: bad argument: no process "
           "registered as counter\n");
    expect("stop", SHELL_OK, "ok\n");          /* a cast to nobody, as in 03 */
    expect("error", SHELL_OK, "ok\n");
    expect("children", SHELL_ERROR, "** exception exit: "
           "{noproc,{gen_server,call,[counter_sup,which_children]}}\n");
    expect("shutdown", SHELL_ERROR,
           "** exception exit: {noproc,{proc_lib,stop,[counter_sup]}}\n");
}

Test(shell, bad_input_is_named)
{
    expect("start x", SHELL_BADARGS,
           "** start: \"x\" is not an integer (type help for the commands)\n");
    expect("kill now", SHELL_BADARGS, "** kill: unexpected argument \"now\" "
           "(usage: kill; type help for the commands)\n");
}

/* ---- The tour ------------------------------------------------------------ */

TestSuite(tour, .timeout = 120);

Test(tour, program_prints_tour_txt)
{
    check_tour("04_supervisor");
}

Test(tour, erlang_demo_prints_the_same_session)
{
    check_erlang_tour("04_supervisor", "counter.erl counter_sup.erl",
                      "counter_sup:demo()");
}

/* ---- The shell: giving up ------------------------------------------------ */

Test(shell, the_eleventh_kill_says_why_the_supervisor_gave_up)
{
    supervisor_set_report(NULL);
    gen_server_set_report(NULL);
    enum shell_status st;
    free(shell_output(&counter_shell, "start", &st));
    cr_assert_eq(st, SHELL_OK);
    for (int i = 1; i <= 10; i++) {
        char *text = shell_output(&counter_shell, "counter:kill().", &st);
        cr_assert(st == SHELL_OK && strstr(text, "counter_sup restarted it as"),
                  "kill %d printed %s", i, text);
        free(text);
    }
    char *text = shell_output(&counter_shell, "kill", &st);
    cr_assert_eq(st, SHELL_OK);
    cr_assert(strstr(text, "counter_sup reached its restart intensity (10 in "
                     "3600 s) and exited with shutdown\n"), "printed %s", text);
    free(text);
}

/* counter:spin(): a cast whose handler never returns. The counter traps
 * exits, so terminate_child's exit(shutdown) waits in its inbox; after the
 * 2000 ms shutdown the supervisor kills it, which takes effect because the
 * runtime preempts it. Off under the sanitizers (no preemption there). */
Test(restart, spin_is_killed_when_its_shutdown_time_is_up)
{
    struct erl_preempt_stats st;
    erl_preempt_stats(&st);
    if (!st.slice_us)
        cr_skip_test("preemption is off in this build (the sanitizers: see common/README.md)");
    sup_start(7);
    term old = erl_whereis(COUNTER);
    term ref = erl_monitor(old);
    int64_t t0 = now_ns();
    counter_spin();
    term error;
    cr_assert_eq(supervisor_terminate_child(COUNTER_SUP, COUNTER, &error), 0,
                 "terminate_child: %s", FMT(error));
    expect_down(ref, ATOM("killed"));
    cr_assert_geq((now_ns() - t0) / 1000000, 2000, "killed before its 2000 ms shutdown");
    term pid = supervisor_restart_child(COUNTER_SUP, COUNTER, &error);
    cr_assert(is_pid(pid) && !term_eq(pid, old), "restart_child: %s", FMT(error));
    cr_assert_eq(read_count(), 7);
}
