/*
 * main.c - 02_rpc: the narrated demo (default) or the shell (--shell).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "counter.h"
#include "counter_lite.h"
#include "rpc.h"
#include "shell_cmds.h"

/* Prints what a failed call raises, as erl does: errno err says which. */
static void show_error(const char *expr, int err)
{
    if (err == ESRCH)
        demo_show_text(expr, "** exception error: bad argument: "
                       "no process registered as counter");
    else if (err == ETIMEDOUT)
        demo_show_text(expr, "** exception error: timeout");
    else
        demo_show_text(expr, "** exception error: %s", strerror(err));
}

/* read(), shown as the shell would show it. */
static void show_read(void)
{
    int64_t count;
    if (counter_read(&count) < 0)
        show_error("counter:read().", errno);
    else
        demo_show_term("counter:read().", INT(count));
}

/* flush(), shown as the shell would show it: the shell's own flush. */
static void show_flush(void)
{
    char *text;
    size_t len;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return;
    shell_exec(&counter_shell, "flush", f);
    fclose(f);
    if (len > 0 && text[len - 1] == '\n')
        text[len - 1] = '\0';     /* demo_show_text adds its own */
    demo_show_text("flush().", "%s", text);
    free(text);
}

static void demo_basics(void)
{
    demo_say("Same counter, same API; the sends and receives now live in rpc.");
    demo_say("read() sends {read, {self(), Ref}}, Ref a fresh reference, and");
    demo_say("takes only {Ref, Count}: a selective receive on the tag.");
    demo_show_term("counter:start().", counter_start() == 0 ? ATOM("true") : ATOM("false"));
    counter_tick(2);
    demo_show_term("counter:tick(2).", ATOM("ok"));
    counter_tick(3);
    demo_show_term("counter:tick(3).", ATOM("ok"));
    show_read();
}

static void demo_stray(void)
{
    demo_say("01's trap: a stray message in our mailbox before the read.");
    erl_send(erl_self(), INT(999));
    demo_show_term("self() ! 999.", INT(999));
    show_read();
    demo_say("read() returned the count; the stray is still there, untouched:");
    show_flush();
}

static void demo_late_reply(void)
{
    demo_say("A call gives up after its timeout. slow(300, 100) keeps the");
    demo_say("counter busy 300 ms, but waits only 100 ms for the reply:");
    if (counter_slow(300, 100) < 0)
        show_error("counter:slow(300, 100).", errno);
    else
        demo_show_term("counter:slow(300, 100).", ATOM("ok"));
    demo_say("The counter goes on and answers; read() waits its turn:");
    show_read();
    demo_say("The late reply is in our mailbox, tagged with a Ref that no");
    demo_say("receive will ask for again:");
    show_flush();
}

static void demo_timeout(void)
{
    term pid = erl_whereis(ATOM("counter"));
    term ref = erl_monitor(pid);
    demo_say("Now stop the server, keeping its pid:");
    demo_show_term("Pid = whereis(counter).", pid);
    counter_stop();
    demo_show_term("counter:stop().", ATOM("ok"));
    erl_drop(erl_receive(TUPLE(ATOM("DOWN"), ref, ANY, ANY, ANY), ERL_INFINITY));
    demo_say("The server is gone. A call to its old pid is sent into the void;");
    demo_say("instead of waiting forever, rpc_call gives up after its timeout:");
    term r = rpc_call(pid, ATOM("read"), 500);
    if (is_none(r))
        show_error("counter:rpc_call(Pid, read, 500).", errno);
    else
        demo_show_term("counter:rpc_call(Pid, read, 500).", r);
    demo_say("By name, the send itself fails, as in 01:");
    show_read();
}

static void demo_lite(void)
{
    int64_t count = -1;
    demo_say("gen_server_lite: the loop made generic, the counter reduced to");
    demo_say("callbacks handle_call(read), handle_cast({tick, N}), handle_cast(stop).");
    demo_show_term("counter_lite:start().",
                   counter_lite_start() == 0 ? ATOM("true") : ATOM("false"));
    counter_lite_tick(7);
    demo_show_term("counter_lite:tick(7).", ATOM("ok"));
    counter_lite_read(&count);
    demo_show_term("counter_lite:read().", INT(count));
    counter_lite_stop();
    demo_show_term("counter_lite:stop().", ATOM("ok"));
    demo_say("03_gen_server replaces it with the real behaviour.");
}

static int demo(void)
{
    demo_basics();              /* start, tick, read through rpc */
    demo_stray();               /* the stray message no longer fools read */
    demo_late_reply();          /* a call times out; its reply comes later */
    demo_timeout();             /* a call to a dead server times out */
    demo_lite();                /* the same counter on a generic server */
    demo_say("Try it yourself: %s --shell", "02_rpc/counter");
    return 0;
}

/* stage_main (common/shell/shell.c) reads the options, starts the runtime, runs
 * demo() or, with --shell, the shell, and stops the runtime. */
int main(int argc, char **argv)
{
    return stage_main(argc, argv, "counter", &counter_shell, demo);
}
