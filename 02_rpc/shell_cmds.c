/*
 * shell_cmds.c - the counter's commands for the shell.
 * Each prints what the Erlang shell would: true, ok, the count, or
 * "** exception error: ..." when the call would raise.
 */
#include <errno.h>
#include <string.h>

#include "counter.h"
#include "counter_lite.h"
#include "rpc.h"
#include "shell_cmds.h"

/* Prints the exception the Erlang call raises for errno err; name is the
 * registered name the call went to. Returns SHELL_ERROR. */
static int exception(FILE *out, const char *name, int err)
{
    if (err == ESRCH)
        fprintf(out, "** exception error: bad argument: "
                "no process registered as %s\n", name);
    else if (err == EEXIST)
        fprintf(out, "** exception error: bad argument: "
                "the name %s is already registered\n", name);
    else if (err == ETIMEDOUT)
        fputs("** exception error: timeout\n", out);
    else
        fprintf(out, "** exception error: %s\n", strerror(err));
    return SHELL_ERROR;
}

/* Prints "true" or the exception, for a start function's result rc. */
static int started(FILE *out, const char *name, int rc)
{
    if (rc < 0)
        return exception(out, name, errno);
    fputs("true\n", out);
    return SHELL_OK;
}

/* Prints "ok" or the exception, for a stop or tick's result rc. */
static int sent(FILE *out, const char *name, int rc)
{
    if (rc < 0)
        return exception(out, name, errno);
    fputs("ok\n", out);
    return SHELL_OK;
}

/* Prints the count or the exception, for a read's result rc. */
static int got(FILE *out, const char *name, int rc, int64_t count)
{
    if (rc < 0)
        return exception(out, name, errno);
    fprintf(out, "%lld\n", (long long)count);
    return SHELL_OK;
}

/* ---- counter ------------------------------------------------------------- */

/* The counter's pid when start last ran: pid_read calls it by pid.
 * Only the shell's evaluator touches it. */
static term last_pid = {.type = TERM_NONE};

static int cmd_start(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    int rc = counter_start();
    if (rc == 0)
        last_pid = erl_whereis(ATOM("counter"));
    return started(out, "counter", rc);
}

static int cmd_tick(int argc, char **argv, FILE *out)
{
    (void)argc;
    int64_t n;
    if (shell_int_arg(out, argv[0], argv[1], &n) < 0)
        return SHELL_BADARGS;
    return sent(out, "counter", counter_tick(n));
}

static int cmd_read(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    int64_t count = 0;
    int rc = counter_read(&count);
    return got(out, "counter", rc, count);
}

static int cmd_stop(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    return sent(out, "counter", counter_stop());
}

/* A timeout argument: MS in 0..60000, or the default when absent. */
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

/* slow MS [TIMEOUT]: rpc_call(counter, {sleep, MS}, TIMEOUT); past the
 * timeout the call raises timeout and the late reply stays in the
 * mailbox. */
static int cmd_slow(int argc, char **argv, FILE *out)
{
    int64_t ms, timeout = COUNTER_TIMEOUT;
    if (ms_arg(out, argv[0], argv[1], &ms) < 0 ||
        (argc > 2 && ms_arg(out, argv[0], argv[2], &timeout) < 0))
        return SHELL_BADARGS;
    if (counter_slow((int)ms, (int)timeout) < 0)
        return exception(out, "counter", errno);
    return shell_show(out, ATOM("ok"));
}

/* pid_read [MS]: rpc_call(Pid, read, MS), Pid the counter's pid when start
 * last ran. A send to a dead pid is dropped: the call times out. */
static int cmd_pid_read(int argc, char **argv, FILE *out)
{
    int64_t timeout = COUNTER_TIMEOUT;
    if (argc > 1 && ms_arg(out, argv[0], argv[1], &timeout) < 0)
        return SHELL_BADARGS;
    if (is_none(last_pid)) {
        fputs("** no pid yet: start a counter first\n", out);
        return SHELL_ERROR;
    }
    term reply = rpc_call(last_pid, ATOM("read"), (int)timeout);
    if (is_none(reply))
        return exception(out, "counter", errno);
    shell_show(out, reply);
    erl_drop(reply);
    return SHELL_OK;
}

/* self() ! Term: puts a message in the shell's own mailbox. read leaves it
 * there now; flush shows it. */
static int cmd_stray(int argc, char **argv, FILE *out)
{
    (void)argc;
    struct shell_term t;
    if (shell_term_arg(out, argv[0], argv[1], &t) < 0)
        return SHELL_BADARGS;
    erl_send(erl_self(), t.value);
    shell_show(out, t.value);
    shell_term_free(&t);
    return SHELL_OK;
}

/* ---- counter_lite -------------------------------------------------------- */

static int cmd_lite_start(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    return started(out, "counter_lite", counter_lite_start());
}

static int cmd_lite_tick(int argc, char **argv, FILE *out)
{
    (void)argc;
    int64_t n;
    if (shell_int_arg(out, argv[0], argv[1], &n) < 0)
        return SHELL_BADARGS;
    return sent(out, "counter_lite", counter_lite_tick(n));
}

static int cmd_lite_read(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    int64_t count = 0;
    int rc = counter_lite_read(&count);
    return got(out, "counter_lite", rc, count);
}

static int cmd_lite_stop(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    return sent(out, "counter_lite", counter_lite_stop());
}

static const struct shell_cmd cmds[] = {
    {"start", "", "counter:start(): spawn loop(0), register it as counter",
     0, 0, cmd_start},
    {"tick", "N", "counter:tick(N): rpc_cast {tick, N}", 1, 1, cmd_tick},
    {"read", "", "counter:read(): rpc_call read, take only the tagged reply",
     0, 0, cmd_read},
    {"stop", "", "counter:stop(): rpc_cast stop", 0, 0, cmd_stop},
    {"slow", "MS [TIMEOUT]", "counter:slow(MS, TIMEOUT): a call that keeps it "
     "busy MS ms (TIMEOUT 5000)", 1, 2, cmd_slow},
    {"pid_read", "[MS]", "counter:rpc_call(Pid, read, MS), Pid the pid start "
     "registered (MS 5000)", 0, 1, cmd_pid_read},
    {"stray", "TERM", "self() ! TERM, any Erlang term: read ignores it",
     1, 1, cmd_stray},
    {"lite_start", "", "counter_lite:start(): a gen_server_lite counter",
     0, 0, cmd_lite_start},
    {"lite_tick", "N", "counter_lite:tick(N): cast {tick, N}", 1, 1,
     cmd_lite_tick},
    {"lite_read", "", "counter_lite:read(): call read", 0, 0, cmd_lite_read},
    {"lite_stop", "", "counter_lite:stop(): cast stop", 0, 0, cmd_lite_stop},
    {NULL, NULL, NULL, 0, 0, NULL},
};

static const struct shell_erl erl[] = {
    {"start", "counter:start()"}, {"tick", "counter:tick(N)"},
    {"read", "counter:read()"}, {"stop", "counter:stop()"},
    {"slow", "counter:slow(Ms, Timeout)"}, {"stray", "self() ! Term"},
    {"lite_start", "counter_lite:start()"}, {"lite_tick", "counter_lite:tick(N)"},
    {"lite_read", "counter_lite:read()"}, {"lite_stop", "counter_lite:stop()"},
    {NULL, NULL},
};

const struct shell counter_shell = {
    .banner = "02_rpc: the counter behind rpc_call and rpc_cast, and as a "
              "gen_server_lite. Type help for the commands.",
    .cmds = cmds,
    .erl = erl,
};
