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

/* One crash: tick to 5, crash the counter with crash(), wait for the
 * supervisor to start a new one, read it. Returns false when the supervisor
 * gave up instead. */
static bool crash_once(const char *expr, term (*crash)(void), bool narrate)
{
    if (narrate) {
        counter_tick(5);
        demo_show_term("counter:tick(5).", ATOM("ok"));
        show_read();
        /* exit/2 returns true; the casts return ok */
        demo_show_term(expr, crash == counter_kill ? ATOM("true") : ATOM("ok"));
    }
    term old = crash();
    term pid = counter_sup_await_restart(old, NULL);
    if (is_none(pid))
        return false;
    if (narrate) {
        char a[64], b[64];
        term_format(a, sizeof a, old);
        term_format(b, sizeof b, pid);
        demo_say("counter %s is gone; counter_sup started %s:", a, b);
        show_read();
    }
    return true;
}

/* ---- The demo ------------------------------------------------------------ */

static void demo_start(void)
{
    demo_say("counter_sup supervises the counter: one_for_one, at most 10");
    demo_say("restarts in 3600 s; the child is permanent, shutdown 2000 ms.");
    demo_show_term("counter_sup:start_link(0).",
                   TUPLE(ATOM("ok"), counter_sup_start_link(0, NULL)));
    demo_say("The tree:");
    counter_sup_draw(stdout, NULL);
}

static void demo_crashes(void)
{
    demo_say("Crash the counter four ways. Each time the supervisor starts a");
    demo_say("new one, with a new pid, at the initial value: the count is lost.");
    demo_say("1. kill: an exit signal nothing can trap.");
    crash_once("exit(whereis(counter), kill).", counter_kill, true);
    demo_say("2. an error: the counter calls exit(boom). The behaviour catches");
    demo_say("   it, calls terminate(boom, 5), prints OTP's \"Generic server");
    demo_say("   terminating\" report, and exits with boom.");
    crash_once("counter:error().", counter_error, true);
    demo_say("3. a tick that divides by zero: SIGFPE, reason badarith.");
    crash_once("counter:divide(0).", counter_divzero, true);
    demo_say("4. a tick that reads address 0: SIGSEGV, reason {signal, segv}.");
    demo_say("   Only the counter dies, terminate first; the program goes on.");
    crash_once("counter:load(0).", counter_nullptr, true);
    term kids = supervisor_which_children(COUNTER_SUP, NULL);
    demo_show_term("supervisor:which_children(counter_sup).", kids);
    erl_drop(kids);
}

static void demo_give_up(void)
{
    demo_say("Four restarts so far. Six more are allowed within the hour;");
    demo_say("the 11th crash makes counter_sup give up and exit with shutdown.");
    demo_say("(Their reports are left out, but for the last one.)");
    term ref = erl_monitor(COUNTER_SUP);
    int crashes = 4;
    supervisor_set_report(NULL);
    for (;;) {
        crashes++;
        if (crashes == 11)
            supervisor_set_report(stdout);
        if (!crash_once("", counter_kill, false))
            break;
    }
    term reason;
    erl_receive(TUPLE(ATOM("DOWN"), ref, ANY, ANY, VAR(&reason)), ERL_INFINITY);
    char r[64];
    term_format(r, sizeof r, reason);
    demo_say("After crash %d, counter_sup exited with reason %s.", crashes, r);
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
