/*
 * shell_cmds.c - the supervised counter's commands for the shell.
 * Each prints what the Erlang shell would, and after a crash, what the
 * supervisor did about it: the counter's new pid, or that it gave up.
 *
 * The shell is a plain thread, so it traps exits: when the supervisor it
 * start_linked gives up, the shell gets {'EXIT', Sup, shutdown} (see flush).
 */
#include <string.h>

#include "counter.h"
#include "counter_sup.h"
#include "shell_cmds.h"

/* Prints the exit a failed gen_server:call(Args...) raises in Erlang:
 *   ** exception exit: {noproc,{gen_server,call,[counter,read]}}
 * Returns SHELL_ERROR. */
static int call_exit(FILE *out, term why, term args)
{
    return shell_exit(out, why, TUPLE(ATOM("gen_server"), ATOM("call"), args));
}

static int cmd_start(int argc, char **argv, FILE *out)
{
    int64_t initial = 0;
    if (argc > 1 && shell_int_arg(out, argv[0], argv[1], &initial) < 0)
        return SHELL_BADARGS;
    term error;
    term pid = counter_sup_start_link(initial, &error);
    if (is_none(pid)) {
        shell_show(out, TUPLE(ATOM("error"), error));
        return SHELL_ERROR;
    }
    return shell_show(out, TUPLE(ATOM("ok"), pid));
}

static int cmd_tick(int argc, char **argv, FILE *out)
{
    (void)argc;
    int64_t n;
    if (shell_int_arg(out, argv[0], argv[1], &n) < 0)
        return SHELL_BADARGS;
    counter_tick(n);
    return shell_show(out, ATOM("ok"));
}

static int cmd_read(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    term error;
    term count = counter_read(&error);
    if (is_none(count))
        return call_exit(out, error, LIST(COUNTER, ATOM("read")));
    return shell_show(out, count);
}

/* Sends crash() to the counter, prints result, then waits for the
 * supervisor and says what it did: the counter's new pid, or that it gave
 * up, and with which exit reason. With no counter running, prints only
 * result: a cast to nobody is dropped, as on OTP. */
static int crash_and_wait(FILE *out, term (*crash)(void), term result)
{
    term sup = erl_whereis(COUNTER_SUP);
    term sup_mon = is_pid(sup) ? erl_monitor(sup) : NONE;
    term old = crash();
    shell_show(out, result);
    if (is_none(old) || is_none(sup_mon))
        return SHELL_OK;
    term error;
    term pid = counter_sup_await_restart(old, &error);
    char a[64], b[256];
    term_format(a, sizeof a, old);
    if (is_none(pid)) {
        term why;
        erl_drop(erl_receive(TUPLE(ATOM("DOWN"), sup_mon, ANY, ANY, VAR(&why)),
                             ERL_INFINITY));
        term_format(b, sizeof b, why);
        fprintf(out, "%% counter %s died; counter_sup reached its restart "
                "intensity (%d in %d s) and exited with %s\n", a,
                counter_sup_flags.intensity, counter_sup_flags.period_s, b);
        return SHELL_OK;
    }
    erl_demonitor(sup_mon, true);
    term_format(b, sizeof b, pid);
    fprintf(out, "%% counter %s died; counter_sup restarted it as %s\n", a, b);
    return SHELL_OK;
}

/* counter_stop, returning the pid it went to, for crash_and_wait. */
static term stop_counter(void)
{
    term pid = erl_whereis(COUNTER);
    counter_stop();
    return pid;
}

static int cmd_stop(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    return crash_and_wait(out, stop_counter, ATOM("ok"));
}

/* exit(whereis(counter), kill): badarg when no counter is registered. */
static int cmd_kill(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    if (!is_pid(erl_whereis(COUNTER))) {
        fputs("** exception error: bad argument: no process registered as "
              "counter\n", out);
        return SHELL_ERROR;
    }
    return crash_and_wait(out, counter_kill, ATOM("true"));
}

static int cmd_error(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    return crash_and_wait(out, counter_error, ATOM("ok"));
}

static int cmd_divzero(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    return crash_and_wait(out, counter_divzero, ATOM("ok"));
}

static int cmd_nullptr(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    return crash_and_wait(out, counter_nullptr, ATOM("ok"));
}

/* counter:spin(), then what its supervisor does about a counter that
 * never comes back: supervisor:terminate_child waits the child's shutdown
 * (2000 ms: the counter traps exits but never reads the exit signal) and
 * kills it, which only preemption lets take effect; restart_child starts
 * a new one. Refused when preemption is off (the sanitizer builds). */
static int cmd_spin(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    struct erl_preempt_stats st;
    erl_preempt_stats(&st);
    if (!st.slice_us) {
        fputs("** spin needs preemption, which is off in this build (the sanitizers, "
              "or ERL_PREEMPT_US=0): the counter would keep its scheduler for good\n", out);
        return SHELL_ERROR;
    }
    term old = counter_spin();
    shell_show(out, ATOM("ok"));
    if (is_none(old))
        return SHELL_OK;
    term error;
    if (supervisor_terminate_child(COUNTER_SUP, COUNTER, &error) < 0)
        return call_exit(out, error, LIST(COUNTER_SUP, ATOM("terminate_child")));
    term pid = supervisor_restart_child(COUNTER_SUP, COUNTER, &error);
    if (is_none(pid))
        return call_exit(out, error, LIST(COUNTER_SUP, ATOM("restart_child")));
    char a[64], b[64];
    term_format(a, sizeof a, old);
    term_format(b, sizeof b, pid);
    fprintf(out, "%% counter %s spun in handle_cast; counter_sup's shutdown killed it "
            "after its 2000 ms and restart_child started %s\n", a, b);
    return SHELL_OK;
}

static int cmd_children(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    term error;
    term kids = supervisor_which_children(COUNTER_SUP, &error);
    if (is_none(kids))
        return call_exit(out, error, LIST(COUNTER_SUP, ATOM("which_children")));
    shell_show(out, kids);
    erl_drop(kids);
    return SHELL_OK;
}

static int cmd_tree(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    term error;
    if (counter_sup_draw(out, &error) < 0)
        return call_exit(out, error, LIST(COUNTER_SUP, ATOM("which_children")));
    return SHELL_OK;
}

static int cmd_shutdown(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    term error;
    if (supervisor_stop(COUNTER_SUP, ATOM("normal"), 10000, &error) < 0)
        return shell_exit(out, error, TUPLE(ATOM("proc_lib"), ATOM("stop"),
                                            LIST(COUNTER_SUP)));
    return shell_show(out, ATOM("ok"));
}

static const struct shell_cmd cmds[] = {
    {"start", "[Initial]", "counter_sup:start_link(Initial): the supervisor "
     "and its counter (Initial 0)", 0, 1, cmd_start},
    {"tick", "N", "counter:tick(N): cast {tick, N}", 1, 1, cmd_tick},
    {"read", "", "counter:read(): call read", 0, 0, cmd_read},
    {"stop", "", "counter:stop(): it stops normal, and, permanent, comes back",
     0, 0, cmd_stop},
    {"kill", "", "counter:kill(): exit(whereis(counter), kill)", 0, 0, cmd_kill},
    {"error", "", "counter:error(): the counter calls exit(boom)", 0, 0, cmd_error},
    {"divzero", "", "counter:divzero(): a cast whose handler divides by zero",
     0, 0, cmd_divzero},
    {"nullptr", "", "counter:nullptr(): a cast whose handler reads address 0",
     0, 0, cmd_nullptr},
    {"spin", "", "counter:spin(): a cast whose handler never returns; the "
     "supervisor's shutdown kills it", 0, 0, cmd_spin},
    {"children", "", "supervisor:which_children(counter_sup)", 0, 0,
     cmd_children},
    {"tree", "", "counter_sup:tree(): draw the supervision tree", 0, 0, cmd_tree},
    {"shutdown", "", "stop counter_sup: it stops the counter first", 0, 0,
     cmd_shutdown},
    {NULL, NULL, NULL, 0, 0, NULL},
};

static const struct shell_erl erl[] = {
    {"start", "counter_sup:start_link(Initial)"}, {"tick", "counter:tick(N)"},
    {"read", "counter:read()"}, {"stop", "counter:stop()"},
    {"kill", "counter:kill()"}, {"error", "counter:error()"},
    {"divzero", "counter:divzero()"}, {"nullptr", "counter:nullptr()"},
    {"spin", "counter:spin()"},
    {"children", "supervisor:which_children(counter_sup)"},
    {"tree", "counter_sup:tree()"}, {"shutdown", "gen_server:stop(counter_sup)"},
    {NULL, NULL},
};

const struct shell counter_shell = {
    .banner = "04_supervisor: the counter under counter_sup. "
              "Type help for the commands.",
    .cmds = cmds,
    .erl = erl,
};
