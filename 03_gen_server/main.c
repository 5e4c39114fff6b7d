/*
 * main.c - 03_gen_server: the narrated demo (default) or the shell (--shell).
 */
#include <stdio.h>

#include "counter.h"
#include "shell_cmds.h"
#include "sys.h"

/* ---- Helpers ------------------------------------------------------------- */

/* read(), shown as the shell would show it. */
static void show_read(void)
{
    term error;
    term count = counter_read(&error);
    if (is_none(count)) {
        char why[256];
        term_format(why, sizeof why, error);
        demo_show_text("counter:read().", "** exception exit: {%s,{gen_server,"
                       "call,[counter,read]}}", why);
        return;
    }
    demo_show_term("counter:read().", count);
}

/* Waits for the 'DOWN' of monitor ref and returns the exit reason (it stays
 * in our heap until the end of the demo: a few small messages). */
static term await_down(term ref)
{
    term reason;
    erl_receive(TUPLE(ATOM("DOWN"), ref, ANY, ANY, VAR(&reason)), ERL_INFINITY);
    return reason;
}

/* Narrates "text T" with the term t written in Erlang syntax. */
static void say_term(const char *text, term t)
{
    char buf[256];
    term_format(buf, sizeof buf, t);
    demo_say("%s %s", text, buf);
}

/* Waits for the counter to be gone, so what the demo prints next does not
 * depend on timing. */
static void await_counter_gone(void)
{
    await_down(erl_monitor(COUNTER));
}

/* ---- Processes the demo starts -------------------------------------------- */

/* Starts the counter linked to itself, tells boss its pid, then does what
 * boss says: {crash, Reason} exits with Reason. With arg {Boss, true} it
 * traps exits first, and forwards the 'EXIT' message it gets to boss. */
static void linked_client(term arg)
{
    term boss = element(1, arg);
    bool trap = is_atom_named(element(2, arg), "true");
    erl_trap_exit(trap);
    term pid = counter_start_link(NULL);
    erl_send(boss, TUPLE(ATOM("started"), erl_self(), pid));
    term reason;
    term msg = erl_receive(trap ? TUPLE(ATOM("EXIT"), pid, ANY)
                                : TUPLE(ATOM("crash"), VAR(&reason)),
                           ERL_INFINITY);
    if (trap)
        erl_send(boss, TUPLE(ATOM("client_got"), msg));
    else
        erl_exit_self(reason);
}

/* Spawns linked_client; returns its pid and sets *counter to the counter's. */
static term spawn_client(bool trap, term *counter)
{
    term client = erl_spawn(linked_client,
                            TUPLE(erl_self(), trap ? ATOM("true") : ATOM("false")));
    term pid;
    erl_receive(TUPLE(ATOM("started"), client, VAR(&pid)), ERL_INFINITY);
    *counter = pid;
    return client;
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
    sys_trace(COUNTER, true, GEN_DEFAULT_TIMEOUT, NULL);
    demo_show_term("sys:trace(counter, true).", ATOM("ok"));
    demo_show_term("counter:tick(5).", ATOM("ok"));  /* before the *DBG* lines */
    counter_tick(5);
    term error;
    term count = counter_read(&error);
    sys_trace(COUNTER, false, GEN_DEFAULT_TIMEOUT, NULL);  /* *DBG* lines done */
    demo_show_term("counter:read().", count);
    demo_show_term("sys:trace(counter, false).", ATOM("ok"));
    demo_show_term("sys:get_state(counter).",
                   sys_get_state(COUNTER, GEN_DEFAULT_TIMEOUT, NULL));
}

static void demo_stopped(void)
{
    demo_say("stop is a cast answered by {stop, normal, State}. Then a call");
    demo_say("finds nobody: the caller exits with noproc.");
    counter_stop();
    demo_show_term("counter:stop().", ATOM("ok"));
    await_counter_gone();
    show_read();
}

static void demo_starter_crash(void)
{
    demo_say("start_link links the caller and the server. A process that");
    demo_say("start_links the counter and then crashes takes the counter along:");
    term counter;
    term client = spawn_client(false, &counter);
    term ref = erl_monitor(counter);
    erl_send(client, TUPLE(ATOM("crash"), ATOM("oops")));
    demo_show_term("Client ! {crash, oops}.", TUPLE(ATOM("crash"), ATOM("oops")));
    say_term("The counter died with reason", await_down(ref));
}

static void demo_counter_crash(void)
{
    demo_say("The other way: the counter crashes (reason boom) and its linked");
    demo_say("client dies too, as it does not trap exits:");
    term counter;
    term client = spawn_client(false, &counter);
    term ref = erl_monitor(client);
    counter_crash();
    demo_show_term("counter:crash().", ATOM("ok"));
    say_term("The client died with reason", await_down(ref));
    demo_say("A client that traps exits survives and gets a message instead:");
    client = spawn_client(true, &counter);
    counter_crash();
    demo_show_term("counter:crash().", ATOM("ok"));
    term msg;
    erl_receive(TUPLE(ATOM("client_got"), VAR(&msg)), ERL_INFINITY);
    say_term("The client received", msg);
}

static void demo_timeout(void)
{
    demo_say("A call waits 5000 ms by default. A request that keeps the");
    demo_say("server busy longer than the caller waits ends in timeout:");
    counter_start_link(NULL);
    demo_show_term("counter:start_link().", ATOM("ok"));
    term error;
    counter_slow(300, 100, &error);
    demo_show_text("gen_server:call(counter, {sleep, 300}, 100).",
                   "** exception exit: {timeout,{gen_server,call,"
                   "[counter,{sleep,300},100]}}");
    demo_say("The server is fine, only the caller gave up:");
    show_read();
    counter_stop();
    await_counter_gone();
}

static int demo(void)
{
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
