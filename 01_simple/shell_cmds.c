/*
 * shell_cmds.c - the counter's commands for the shell.
 * Each prints what the Erlang shell would: true, ok, the count, or
 * "** exception error: ..." when the call would raise.
 */
#include <errno.h>
#include <string.h>

#include "counter.h"
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

/* Prints the message read took, or the exception when it is NONE. */
static int got(FILE *out, const char *name, term t)
{
    if (is_none(t))
        return exception(out, name, errno);
    shell_show(out, t);
    erl_drop(t);
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
    return got(out, "counter", counter_read());
}

static int cmd_stop(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    return sent(out, "counter", counter_stop());
}

/* self() ! Term: puts a message in the shell's own mailbox, where the next
 * read takes it for the count. */
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

static const struct shell_cmd cmds[] = {
    {"start", "", "counter:start(): spawn loop(0), register it as counter",
     0, 0, cmd_start},
    {"tick", "N", "counter:tick(N): send {tick, N, self()}", 1, 1, cmd_tick},
    {"read", "", "counter:read(): send {read, self()}, take the first message",
     0, 0, cmd_read},
    {"stop", "", "counter:stop(): send {stop, self()}", 0, 0, cmd_stop},
    {"stray", "TERM", "self() ! TERM, any Erlang term: bait for read",
     1, 1, cmd_stray},
    {NULL, NULL, NULL, 0, 0, NULL},
};

static const struct shell_erl erl[] = {
    {"start", "counter:start()"}, {"tick", "counter:tick(N)"},
    {"read", "counter:read()"}, {"stop", "counter:stop()"},
    {"stray", "self() ! Term"}, {NULL, NULL},
};

const struct shell counter_shell = {
    .banner = "01_simple: a counter process with spawn, send and receive. "
              "Type help for the commands; Ctrl-C stops one that waits.",
    .cmds = cmds,
    .erl = erl,
};
