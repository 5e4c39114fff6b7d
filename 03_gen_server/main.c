/*
 * main.c - 03_gen_server: the narrated demo (default) or the shell (--shell).
 */
#include <stdio.h>

#include "counter.h"
#include "shell_cmds.h"
#include "sys.h"

/* ---- Helpers ------------------------------------------------------------- */

/* What read() came to, as the shell prints it: the count, or the exit. */
static void print_read(term count, term error)
{
    if (is_none(count)) {
        char why[256];
        term_format(why, sizeof why, error);
        printf("** exception exit: {%s,{gen_server,call,[counter,read]}}\n", why);
        fflush(stdout);
        return;
    }
    demo_value(count);
}

/* read(), shown as the shell would show it. */
static void show_read(void)
{
    term error;
    term count = counter_read(&error);
    demo_prompt("counter:read().");
    print_read(count, error);
}

/* Waits for the counter to be gone, so what the demo prints next does not
 * depend on timing. */
static void await_counter_gone(void)
{
    term ref = erl_monitor(COUNTER);
    erl_drop(erl_receive(TUPLE(ATOM("DOWN"), ref, ANY, ANY, ANY), ERL_INFINITY));
}

/* Waits until the counter has handled every message sent to it before
 * this: a system message is taken in order with the others, and answered
 * after them (and a traced server prints nothing for it). */
static void await_counter_idle(void)
{
    erl_drop(sys_get_state(COUNTER, GEN_DEFAULT_TIMEOUT, NULL));
}

/* receive {'DOWN', Ref, process, Pid, Why} -> Why end: the reason (it
 * stays in our heap until the end of the demo: a few small messages). */
static term await_down(term ref, term pid)
{
    term why;
    erl_receive(TUPLE(ATOM("DOWN"), ref, ATOM("process"), pid, VAR(&why)),
                ERL_INFINITY);
    return why;
}

/* ---- counter:client(Trap): the process the demo starts ------------------- */

/* A client of the counter: traps exits if arg's second element is true,
 * start_links the counter, tells the boss {self(), started, Counter}.
 * Trapping, it passes the first message it gets on to the boss as
 * {self(), Msg}; otherwise it waits for {crash, Reason} and exits with
 * Reason. Spawned ERL_QUIET: exit(Reason) in Erlang prints no report. */
static void client(term arg)
{
    term boss = element(1, arg);
    bool trap = is_atom_named(element(2, arg), "true");
    erl_trap_exit(trap);
    term counter = counter_start_link(NULL);
    erl_send(boss, TUPLE(erl_self(), ATOM("started"), counter));
    term reason;
    if (trap) {
        term msg = erl_receive(ANY, ERL_INFINITY);
        erl_send(boss, TUPLE(erl_self(), msg));
        return;
    }
    erl_receive(TUPLE(ATOM("crash"), VAR(&reason)), ERL_INFINITY);
    erl_exit_self(reason);
}

/* {Client, Counter} = counter:client(Trap): spawns client and waits for
 * it to have started the counter. Shown as the shell shows it. */
static term show_client(const char *expr, bool trap)
{
    term client_pid = erl_spawn_opt("client", client,
                                    TUPLE(erl_self(), trap ? ATOM("true") : ATOM("false")),
                                    ERL_QUIET, NULL);
    term counter;
    erl_receive(TUPLE(client_pid, ATOM("started"), VAR(&counter)), ERL_INFINITY);
    demo_show_term(expr, TUPLE(client_pid, counter));
    return client_pid;
}

/* counter:crash(), shown. stdout is held from the prompt to the result,
 * so that the crash report the counter prints comes after them. */
static void show_crash(void)
{
    flockfile(stdout);
    demo_prompt("counter:crash().");
    counter_crash();
    demo_value(ATOM("ok"));
    funlockfile(stdout);
}

/* Ref = monitor(process, Pid), shown. */
static term show_monitor(const char *expr, term pid)
{
    term ref = erl_monitor(pid);
    demo_show_term(expr, ref);
    return ref;
}

/* ---- The demo ------------------------------------------------------------ */

static void demo_basics(void)
{
    demo_say("gen_server owns the process, the loop, replies and timeouts;");
    demo_say("counter.c holds only init, handle_call, handle_cast, code_change.");
    term pid = counter_start_link(NULL);
    demo_show_term("counter:start_link().", TUPLE(ATOM("ok"), pid));
    counter_tick(2);
    demo_show_term("counter:tick(2).", ATOM("ok"));
    counter_tick(3);
    demo_show_term("counter:tick(3).", ATOM("ok"));
    demo_say("read is a call: {'$gen_call', {self(), [alias|Ref]}, read}, answered");
    demo_say("{[alias|Ref], 5} through the alias, as on OTP 24+:");
    show_read();
}

static void demo_sys(void)
{
    demo_say("sys looks inside a running server. Trace on, then tick and read:");
    demo_say("the *DBG* lines are the server's own view, printed by the server.");
    sys_trace(COUNTER, true, GEN_DEFAULT_TIMEOUT, NULL);
    demo_show_term("sys:trace(counter, true).", ATOM("ok"));
    flockfile(stdout);      /* the step first, then the server's *DBG* lines */
    demo_prompt("counter:tick(5).");
    counter_tick(5);
    demo_value(ATOM("ok"));
    funlockfile(stdout);
    await_counter_idle();                   /* its *DBG* lines are out */
    demo_prompt("counter:read().");
    term error;
    term count = counter_read(&error);
    await_counter_idle();                   /* "sent" comes after the reply */
    print_read(count, error);
    sys_trace(COUNTER, false, GEN_DEFAULT_TIMEOUT, NULL);
    demo_show_term("sys:trace(counter, false).", ATOM("ok"));
    demo_show_term("sys:get_state(counter).",
                   sys_get_state(COUNTER, GEN_DEFAULT_TIMEOUT, NULL));
}

static void demo_stopped(void)
{
    demo_say("stop is a cast answered by {stop, normal, State}. Once the");
    demo_say("counter is gone, a call finds nobody: the caller exits with noproc.");
    counter_stop();
    demo_show_term("counter:stop().", ATOM("ok"));
    await_counter_gone();
    show_read();
}

static void demo_starter_crash(void)
{
    demo_say("start_link links the caller and the server. counter:client(false)");
    demo_say("spawns a client that start_links a new counter, and returns both:");
    term client1 = show_client("{Client1, Counter1} = counter:client(false).", false);
    term counter1 = erl_whereis(COUNTER);
    term ref1 = show_monitor("Ref1 = monitor(process, Counter1).", counter1);
    demo_say("The client crashes with reason oops and takes the counter along:");
    erl_send(client1, TUPLE(ATOM("crash"), ATOM("oops")));
    demo_show_term("Client1 ! {crash, oops}.", TUPLE(ATOM("crash"), ATOM("oops")));
    demo_show_term("receive {'DOWN', Ref1, process, Counter1, Why1} -> Why1 end.",
                   await_down(ref1, counter1));
}

static void demo_counter_crash(void)
{
    demo_say("The other way: the counter crashes (reason boom) and its linked");
    demo_say("client dies too, as it does not trap exits:");
    term client2 = show_client("{Client2, Counter2} = counter:client(false).", false);
    term ref2 = show_monitor("Ref2 = monitor(process, Client2).", client2);
    show_crash();
    demo_show_term("receive {'DOWN', Ref2, process, Client2, Why2} -> Why2 end.",
                   await_down(ref2, client2));
    demo_say("A client that traps exits survives and gets a message instead;");
    demo_say("counter:client(true) passes it on to us as {Client, Msg}:");
    term client3 = show_client("{Client3, Counter3} = counter:client(true).", true);
    show_crash();
    term msg;
    erl_receive(TUPLE(client3, VAR(&msg)), ERL_INFINITY);
    demo_show_term("receive {Client3, Msg} -> Msg end.", msg);
}

static void demo_timeout(void)
{
    demo_say("A call waits 5000 ms by default. A request that keeps the");
    demo_say("server busy longer than the caller waits ends in timeout:");
    term pid = counter_start_link(NULL);
    demo_show_term("counter:start_link().", TUPLE(ATOM("ok"), pid));
    term error;
    counter_slow(300, 100, &error);
    char why[64];
    term_format(why, sizeof why, error);
    demo_show_text("counter:slow(300, 100).", "** exception exit: {%s,{gen_server,"
                   "call,[counter,{sleep,300},100]}}", why);
    demo_say("The server is fine, only the caller gave up:");
    show_read();
    counter_stop();
    demo_show_term("counter:stop().", ATOM("ok"));
    await_counter_gone();
}

static int demo(void)
{
    gen_server_set_report(stdout);  /* crash reports in line with the steps */
    demo_basics();              /* start_link, tick, read */
    demo_sys();                 /* sys:trace, sys:get_state */
    demo_stopped();             /* stop; a call then fails with noproc */
    demo_starter_crash();       /* the linked starter's crash kills the server */
    demo_counter_crash();       /* the server's crash kills a linked client */
    demo_timeout();             /* a slow call times out */
    demo_say("Try it yourself: %s --shell", "03_gen_server/counter");
    return 0;
}

/* stage_main (common/shell/shell.c) reads the options, starts the runtime, runs
 * demo() or, with --shell, the shell, and stops the runtime. */
int main(int argc, char **argv)
{
    return stage_main(argc, argv, "counter", &counter_shell, demo);
}
