/*
 * shell_cmds.c - the counter's commands for the shell.
 * Each prints what the Erlang shell would: {ok, Pid}, ok, the count, or
 * "** exception exit: ..." when the call would exit the caller.
 *
 * The shell is a plain thread, so it traps exits: when a counter it
 * start_linked dies, the shell is not taken with it; {'EXIT', Pid, Reason}
 * waits in its mailbox instead (type flush to see it).
 */
#include <string.h>

#include "counter.h"
#include "shell_cmds.h"
#include "sys.h"

/* Prints the exit a failed gen_server:call(Args...) raises in Erlang:
 *   ** exception exit: {noproc,{gen_server,call,[counter,read]}}
 * Returns SHELL_ERROR. */
static int call_exit(FILE *out, term why, term args)
{
    return shell_exit(out, why, TUPLE(ATOM("gen_server"), ATOM("call"), args));
}

/* Prints the exit a failed sys call raises: error is already OTP's
 * {Reason, {sys, F, Args}} (see sys.h). Returns SHELL_ERROR. */
static int sys_exit(FILE *out, term error)
{
    return shell_exit(out, element(1, error), element(2, error));
}

static int cmd_start(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    term error;
    term pid = counter_start_link(&error);
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

static int cmd_stop(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    counter_stop();
    return shell_show(out, ATOM("ok"));
}

static int cmd_crash(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    counter_crash();
    return shell_show(out, ATOM("ok"));
}

/* A time argument: MS in 0..60000. */
static int ms_arg(FILE *out, const char *cmd, const char *arg, int64_t *ms)
{
    if (shell_int_arg(out, cmd, arg, ms) < 0)
        return -1;
    if (*ms < 0 || *ms > 60000) {
        shell_bad_arg(out, cmd, "%s ms is outside 0..60000", arg);
        return -1;
    }
    return 0;
}

/* slow MS [TIMEOUT]: counter:slow(MS, TIMEOUT), TIMEOUT 5000 by default. */
static int cmd_slow(int argc, char **argv, FILE *out)
{
    int64_t ms, timeout = GEN_DEFAULT_TIMEOUT;
    if (ms_arg(out, argv[0], argv[1], &ms) < 0 ||
        (argc > 2 && ms_arg(out, argv[0], argv[2], &timeout) < 0))
        return SHELL_BADARGS;
    term error;
    term reply = counter_slow((int)ms, (int)timeout, &error);
    if (is_none(reply))
        return call_exit(out, error, LIST(COUNTER, TUPLE(ATOM("sleep"), INT(ms)),
                                          INT(timeout)));
    return shell_show(out, reply);
}

static int cmd_trace(int argc, char **argv, FILE *out)
{
    (void)argc;
    bool on = strcmp(argv[1], "on") == 0 || strcmp(argv[1], "true") == 0;
    if (!on && strcmp(argv[1], "off") != 0 && strcmp(argv[1], "false") != 0)
        return shell_bad_arg(out, argv[0], "\"%s\" is neither on nor off", argv[1]);
    term error;
    if (sys_trace(COUNTER, on, GEN_DEFAULT_TIMEOUT, &error) < 0)
        return sys_exit(out, error);
    return shell_show(out, ATOM("ok"));
}

static int cmd_state(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    term error;
    term state = sys_get_state(COUNTER, GEN_DEFAULT_TIMEOUT, &error);
    if (is_none(state))
        return sys_exit(out, error);
    return shell_show(out, state);
}

/* stats [on|off|get]: sys:statistics(counter, true | false | get). */
static int cmd_stats(int argc, char **argv, FILE *out)
{
    const char *arg = argc > 1 ? argv[1] : "get";
    term flag = strcmp(arg, "on") == 0 || strcmp(arg, "true") == 0    ? ATOM("true")
                : strcmp(arg, "off") == 0 || strcmp(arg, "false") == 0 ? ATOM("false")
                : strcmp(arg, "get") == 0 ? ATOM("get")
                                          : NONE;
    if (is_none(flag))
        return shell_bad_arg(out, argv[0], "\"%s\" is not on, off or get", arg);
    term error;
    term reply = sys_statistics(COUNTER, flag, GEN_DEFAULT_TIMEOUT, &error);
    if (is_none(reply))
        return sys_exit(out, error);
    return shell_show(out, reply);
}

static const struct shell_cmd cmds[] = {
    {"start", "", "counter:start_link(): start the server, linked to the shell",
     0, 0, cmd_start},
    {"tick", "N", "counter:tick(N): cast {tick, N}", 1, 1, cmd_tick},
    {"read", "", "counter:read(): call read (timeout 5000 ms)", 0, 0, cmd_read},
    {"stop", "", "counter:stop(): cast stop; it stops with normal", 0, 0, cmd_stop},
    {"crash", "", "cast crash: the counter stops with reason boom", 0, 0,
     cmd_crash},
    {"slow", "MS [TIMEOUT]", "counter:slow(MS, TIMEOUT): call {sleep, MS}; "
     "past TIMEOUT (5000) it times out", 1, 2, cmd_slow},
    {"trace", "on|off", "sys:trace(counter, true | false)", 1, 1, cmd_trace},
    {"state", "", "sys:get_state(counter)", 0, 0, cmd_state},
    {"stats", "[on|off|get]", "sys:statistics(counter, true | false | get)",
     0, 1, cmd_stats},
    {NULL, NULL, NULL, 0, 0, NULL},
};

static const struct shell_erl erl[] = {
    {"start", "counter:start_link()"}, {"tick", "counter:tick(N)"},
    {"read", "counter:read()"}, {"stop", "counter:stop()"},
    {"crash", "counter:crash()"}, {"slow", "counter:slow(Ms, Timeout)"},
    {"trace", "sys:trace(counter, Flag)"}, {"state", "sys:get_state(counter)"},
    {"stats", "sys:statistics(counter, Flag)"}, {NULL, NULL},
};

const struct shell counter_shell = {
    .banner = "03_gen_server: the counter as a gen_server. "
              "Type help for the commands.",
    .cmds = cmds,
    .erl = erl,
};
