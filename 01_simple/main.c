/*
 * main.c - 01_simple: the narrated demo (default) or the shell (--shell).
 */
#include <stdio.h>

#include "counter.h"
#include "shell_cmds.h"

/* read(), shown as the shell would show it. */
static void show_read(void)
{
    term t = counter_read();
    if (is_none(t))
        demo_show_text("counter:read().", "** exception error: bad argument: "
                       "no process registered as counter");
    else
        demo_show_term("counter:read().", t);
    erl_drop(t);
}

/* Waits until the process registered as counter has ended. The demo needs
 * this only so that what it prints next does not depend on timing. */
static void await_counter_gone(term ref)
{
    term msg = erl_receive(TUPLE(ATOM("DOWN"), ref, ANY, ANY, ANY), ERL_INFINITY);
    erl_drop(msg);
}

static void demo_basics(void)
{
    demo_say("A counter is a process looping over its count. The only way in");
    demo_say("is a message: spawn, send (!) and receive.");
    demo_say("start() spawns loop(0) and registers it as counter:");
    demo_show_term("counter:start().", counter_start() == 0 ? ATOM("true") : ATOM("false"));
    counter_tick(2);
    demo_show_term("counter:tick(2).", ATOM("ok"));
    counter_tick(3);
    demo_show_term("counter:tick(3).", ATOM("ok"));
    demo_say("read() sends {read, self()} and takes the first message that comes:");
    show_read();
}

static void demo_weakness(void)
{
    demo_say("The weakness: read() takes ANY message as its reply.");
    demo_say("Put a stray message in our own mailbox, then read:");
    erl_send(erl_self(), INT(999));
    demo_show_term("self() ! 999.", INT(999));
    show_read();
    demo_say("The real reply (5) is left behind. Tick, and read again:");
    counter_tick(10);
    demo_show_term("counter:tick(10).", ATOM("ok"));
    show_read();
    demo_say("The count is 15, but read() returned the stale 5: from now on");
    demo_say("every read is one reply behind. 02_rpc tags replies to fix this.");
}

static void demo_stop(void)
{
    term ref = erl_monitor(ATOM("counter"));
    demo_say("stop() sends {stop, self()}; the process ends, its name with it:");
    counter_stop();
    demo_show_term("counter:stop().", ATOM("ok"));
    await_counter_gone(ref);
    demo_say("Sending to a name nobody holds raises badarg:");
    show_read();
}

static int demo(void)
{
    demo_basics();              /* start, tick, read */
    demo_weakness();            /* a stray message fools read */
    demo_stop();                /* stop; the name is gone */
    demo_say("Try it yourself: %s --shell", "01_simple/counter");
    return 0;
}

/* stage_main (common/shell/shell.c) reads the options, starts the runtime, runs
 * demo() or, with --shell, the shell, and stops the runtime. */
int main(int argc, char **argv)
{
    return stage_main(argc, argv, "counter", &counter_shell, demo);
}
