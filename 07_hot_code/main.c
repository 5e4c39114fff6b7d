/*
 * main.c - 07_hot_code: the tour (default), the shell (--shell), or the
 * shell with a watcher that loads counter.so whenever it is rebuilt
 * (--watch; rebuild it with make live VSN=1 or VSN=2).
 */
#include <stdio.h>
#include <string.h>

#include "hot.h"
#include "shell_cmds.h"

/* ---- Helpers ------------------------------------------------------------- */

/* Runs a shell line as if typed, showing it and what it printed. */
static void run(const char *line)
{
    printf("hot> %s\n", line);
    fflush(stdout);
    shell_exec(&hot_shell, line, stdout);
    fflush(stdout);
}

/* Narrates "text T" with the term t written in Erlang syntax. */
static void say_term(const char *text, term t)
{
    char buf[256];
    term_format(buf, sizeof buf, t);
    demo_say("%s %s", text, buf);
}

/* ---- The tour ------------------------------------------------------------ */

static void tour_start(void)
{
    demo_say("Version 1 of the counter is a shared object, counter_v1.so, whose");
    demo_say("one table holds its name, its version and its callbacks. The code");
    demo_say("server loads it; a gen_server (counter) and a raw receive loop");
    demo_say("(counter_loop) run it:");
    run("load 1");
    run("start");
    run("tick 5");
    run("read");
    run("which");
    hot_wait_idle(erl_whereis(COUNTER_LOOP), ERL_INFINITY);
}

static void tour_upgrade(void)
{
    demo_say("Version 2 adds reset and keeps {counter, Count, Resets}. Loading it");
    demo_say("makes version 1 old. The gen_server moves at once: sys:suspend,");
    demo_say("sys:change_code (version 2's code_change(1, 5, []) converts the");
    demo_say("state), sys:resume. The count is carried over:");
    run("load 2");
    run("state");
    run("which");
    demo_say("The raw loop moves at its next message, which the old code still");
    demo_say("serves (Erlang's ?MODULE:loop(State)). Until then soft_purge refuses:");
    run("soft_purge");
    run("vsn");
    run("vsn");
    demo_say("Both run version 2 now, and reset exists:");
    run("reset");
    run("resets");
    run("read");
}

static void tour_under_load(void)
{
    demo_say("Now 4 processes tick both counters once a millisecond. While they");
    demo_say("tick: a third version is refused while old code exists; soft_purge");
    demo_say("frees version 1 (nobody runs it); and version 1 comes back, a");
    demo_say("downgrade: version 2's code_change({down, 1}, State, []):");
    hot_tickers_start(4, 1);
    erl_sleep(20);
    run("load 1");
    run("soft_purge");
    run("load 1");
    erl_sleep(20);
    long long sent = (long long)hot_tickers_stop();
    demo_say("The tickers sent %lld ticks to each counter. Not one was lost:", sent);
    run("read");
    run("reset");
    run("which");
}

static void tour_bad_objects(void)
{
    demo_say("A bad object is refused, naming the file and the problem, while");
    demo_say("the running code goes on. Version 2 (old now) is purged first:");
    run("soft_purge");
    run("load not_an_object.so");
    run("load bad_notable.so");
    run("load bad_abi.so");
    run("load bad_name.so");
    run("load bad_callback.so");
    run("tick 1");
    run("read");
    hot_wait_idle(erl_whereis(COUNTER_LOOP), ERL_INFINITY);
}

static void tour_purge(void)
{
    demo_say("purge. Version 2 again: the gen_server moves, the raw loop gets no");
    demo_say("message and stays in version 1. soft_purge refuses; purge kills it");
    demo_say("(as code:purge does) and unloads version 1:");
    run("load 2");
    term ref = erl_monitor(erl_whereis(COUNTER_LOOP));
    run("soft_purge");
    run("purge");
    term reason;
    erl_receive(TUPLE(ATOM("DOWN"), ref, ANY, ANY, VAR(&reason)), ERL_INFINITY);
    say_term("counter_loop's monitor got 'DOWN' with reason", reason);
    run("which");
    run("read");
}

static int demo(void)
{
    tour_start();               /* version 1 runs */
    tour_upgrade();             /* to version 2, the count kept */
    tour_under_load();          /* two versions at most, downgrade, no loss */
    tour_bad_objects();         /* refused; the old code still serves */
    tour_purge();               /* purge kills what runs old code */
    hot_stop();
    code_unload_all();
    demo_say("Try it yourself: %s --shell, or --watch and make live VSN=2",
             "07_hot_code/counter");
    return 0;
}

/* ---- --watch ------------------------------------------------------------- */

static int watch_main(void)
{
    if (erl_start(NULL) < 0) {
        perror("counter: erl_start");
        return 70;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s", hot_so_path("counter.so"));
    term error;
    int status = 0;
    if (code_load_file(HOT_MODULE, path, &error) < 0 || hot_start(&error) < 0) {
        say_term("cannot start:", error);
        status = 70;
    } else {
        term w = hot_watch(path, 200, NONE);
        hot_tickers_start(2, 10);
        printf("%% watching %s: rebuild it with make -C 07_hot_code live VSN=2\n", path);
        status = shell_loop(&hot_shell, stdin, stdout);
        erl_send(w, ATOM("stop"));
        hot_tickers_stop();
        hot_stop();
    }
    erl_stop();
    code_unload_all();
    return status;
}

/* stage_main (common/shell/shell.c) reads the options, starts the runtime, runs
 * demo() or, with --shell, the shell, and stops the runtime. */
int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--watch") == 0)
        return watch_main();
    return stage_main(argc, argv, "counter", &hot_shell, demo);
}
