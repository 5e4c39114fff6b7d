/*
 * main.c - 04_supervisor: the narrated demo (default) or the shell (--shell).
 */
#include <stdio.h>

#include "counter.h"
#include "counter_sup.h"
#include "shell_cmds.h"

/* ---- Helpers ------------------------------------------------------------- */

/* read(), shown as the shell would show it. */
static void show_read(void)
{
    term error;
    term count = counter_read(&error);
    if (is_none(count)) {
        char why[128];
        term_format(why, sizeof why, error);
        demo_show_text("counter:read().", "** exception exit: {%s,{gen_server,"
                       "call,[counter,read]}}", why);
        return;
    }
    demo_show_term("counter:read().", count);
}

/* Shows expr, the crash crash() makes, with its result: true for kill()
 * (exit/2 returns true), ok for the casts. stdout is held from the prompt
 * to the result, so that what the crash makes others print (terminate's
 * line, the reports) comes after them. Returns the pid crash aimed at. */
static term show_crash(const char *expr, term (*crash)(void))
{
    flockfile(stdout);
    demo_prompt(expr);
    term old = crash();
    demo_value(crash == counter_kill ? ATOM("true") : ATOM("ok"));
    funlockfile(stdout);
    return old;
}

/* One crash: tick to 5, crash the counter with crash() (shown as expr),
 * wait for the supervisor to start a new one, show it and read it. */
static void crash_once(const char *expr, term (*crash)(void))
{
    counter_tick(5);
    demo_show_term("counter:tick(5).", ATOM("ok"));
    show_read();
    term old = show_crash(expr, crash);
    counter_sup_await_restart(old, NULL);
    demo_say("counter_sup has started a new counter:");
    demo_show_term("whereis(counter).", erl_whereis(COUNTER));
    show_read();
}

/* counter_sup:kill_times(N) (counter_sup.erl): kills the counter n times,
 * each time waiting for the supervisor to start the next; shown, with the
 * list of the new counters' pids. */
static void show_kill_times(const char *expr, int n)
{
    term pids[16];
    demo_prompt(expr);
    for (int i = 0; i < n; i++)
        pids[i] = counter_sup_await_restart(counter_kill(), NULL);
    pids[n] = NIL;
    demo_value(term_list(pids, (size_t)n));
}

/* ---- The demo ------------------------------------------------------------ */

static void demo_start(void)
{
    demo_say("counter_sup supervises the counter: one_for_one, at most 10");
    demo_say("restarts in 3600 s; the child is permanent, shutdown 2000 ms.");
    demo_say("This session traps exits, as the shell does.");
    demo_show_term("{ok, Sup} = counter_sup:start_link(0).",
                   TUPLE(ATOM("ok"), counter_sup_start_link(0, NULL)));
    demo_prompt("counter_sup:tree().");
    counter_sup_draw(stdout, NULL);
    demo_value(ATOM("ok"));
}

static void demo_crashes(void)
{
    demo_say("Crash the counter four ways. Each time the supervisor starts a");
    demo_say("new one, with a new pid, at the initial value: the count is lost.");
    demo_say("1. kill: an exit signal nothing can trap.");
    crash_once("counter:kill().", counter_kill);
    demo_say("2. error: the counter calls exit(boom) in handle_cast. The");
    demo_say("   behaviour catches it, calls terminate(boom, 5), prints OTP's");
    demo_say("   \"Generic server terminating\" report, and exits with boom.");
    crash_once("counter:error().", counter_error);
    demo_say("3. divzero: a cast whose handler divides by zero: SIGFPE,");
    demo_say("   reason badarith.");
    crash_once("counter:divzero().", counter_divzero);
    demo_say("4. nullptr: a cast whose handler reads address 0: SIGSEGV,");
    demo_say("   reason {signal, segv}. Only the counter dies, terminate first;");
    demo_say("   the program goes on.");
    crash_once("counter:nullptr().", counter_nullptr);
    demo_prompt("counter_sup:tree().");
    counter_sup_draw(stdout, NULL);
    demo_value(ATOM("ok"));
}

static void demo_give_up(void)
{
    demo_say("Four restarts so far; six more are allowed within the hour.");
    demo_say("counter_sup:kill_times(6) kills the counter six times, each time");
    demo_say("waiting for the next, and returns the new pids:");
    show_kill_times("counter_sup:kill_times(6).", 6);
    demo_say("The 11th crash within the hour is one too many: counter_sup");
    demo_say("gives up (reached_max_restart_intensity) and exits with shutdown.");
    show_crash("counter:kill().", counter_kill);
    term sup, why;
    erl_receive(TUPLE(ATOM("EXIT"), VAR(&sup), VAR(&why)), ERL_INFINITY);
    demo_show_term("receive {'EXIT', Sup, Why} -> Why end.", why);
    show_read();
}

static int demo(void)
{
    supervisor_set_report(stdout);  /* reports in line with the narration */
    gen_server_set_report(stdout);  /* the counter's crash reports too */
    demo_start();               /* start_link, the tree */
    demo_crashes();             /* kill, error, divzero, nullptr: restarts */
    demo_give_up();             /* the 11th crash: the supervisor gives up */
    demo_say("Try it yourself: %s --shell", "04_supervisor/counter");
    return 0;
}

/* stage_main (common/shell/shell.c) reads the options, starts the runtime, runs
 * demo() or, with --shell, the shell, and stops the runtime. */
int main(int argc, char **argv)
{
    return stage_main(argc, argv, "counter", &counter_shell, demo);
}
