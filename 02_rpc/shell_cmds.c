/*
 * shell_cmds.c - the counter's commands for the shell.
 * Each prints what the Erlang shell would: true, ok, the count, or
 * "** exception error: ..." when the call would raise.
 */
#include <errno.h>
#include <string.h>

#include "counter.h"
#include "counter_lite.h"
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
        fprintf(out, "** exception error: timeout: %s did not reply within "
                "%d ms\n", name, COUNTER_TIMEOUT);
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

static int cmd_start(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    return started(out, "counter", counter_start());
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

/* self() ! Term: puts a message in the shell's own mailbox. read leaves it
 * there now; flush shows it. */
static int cmd_stray(int argc, char **argv, FILE *out)
{
    (void)argc;
    term t = shell_parse_term(argv[1]);
    if (is_none(t))
        return shell_bad_arg(out, argv[0], "\"%.32s...\" is too long for an atom",
                             argv[1]);
    erl_send(erl_self(), t);
    return shell_show(out, t);
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
    {"stray", "TERM", "self() ! TERM (an integer or an atom): read ignores it",
     1, 1, cmd_stray},
    {"lite_start", "", "counter_lite:start(): a gen_server_lite counter",
     0, 0, cmd_lite_start},
    {"lite_tick", "N", "counter_lite:tick(N): cast {tick, N}", 1, 1,
     cmd_lite_tick},
    {"lite_read", "", "counter_lite:read(): call read", 0, 0, cmd_lite_read},
    {"lite_stop", "", "counter_lite:stop(): cast stop", 0, 0, cmd_lite_stop},
    {NULL, NULL, NULL, 0, 0, NULL},
};

const struct shell counter_shell = {
    .banner = "02_rpc: the counter behind rpc_call and rpc_cast, and as a "
              "gen_server_lite. Type help for the commands.",
    .cmds = cmds,
};
