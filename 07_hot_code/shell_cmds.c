/*
 * shell_cmds.c - the hot code commands for the shell. Each prints what the
 * Erlang shell would: {module,counter}, true, false, ok, a count, or
 * {error, Why}.
 */
#include <errno.h>
#include <string.h>

#include "hot.h"
#include "shell_cmds.h"
#include "sys.h"

/* Prints {error, why}. Returns SHELL_ERROR. */
static int show_error(FILE *out, term why)
{
    shell_show(out, TUPLE(ATOM("error"), why));
    return SHELL_ERROR;
}

/* The path arg names: a bare name is in the objects' folder. */
static const char *file_arg(const char *arg)
{
    return strchr(arg, '/') ? arg : hot_so_path(arg);
}

int hot_cmd_load(const char *arg, FILE *out)
{
    int64_t vsn;
    term error;
    int rc = shell_parse_int(arg, &vsn) == 0
                 ? hot_load((int)vsn, &error)
                 : code_load_file(HOT_MODULE, file_arg(arg), &error);
    if (rc < 0)
        return show_error(out, error);
    shell_show(out, TUPLE(ATOM("module"), ATOM("counter")));
    if (!is_none(erl_whereis(COUNTER)) && hot_upgrade(&error) < 0) {
        fprintf(out, "%% the gen_server stays where it was:\n");
        return show_error(out, error);
    }
    return SHELL_OK;
}

static int cmd_load(int argc, char **argv, FILE *out)
{
    (void)argc;
    return hot_cmd_load(argv[1], out);
}

static int cmd_start(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    term error;
    if (hot_start(&error) < 0)
        return show_error(out, error);
    return shell_show(out, ATOM("ok"));
}

static int cmd_stop(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    hot_stop();
    return shell_show(out, ATOM("ok"));
}

/* One line of which: <0.45.0> counter_loop runs counter vsn 1 (old). */
static void print_user(const struct code_user_info *u, void *ctx)
{
    FILE *out = ctx;
    term_print(out, u->pid);
    term name = term_eq(u->pid, erl_whereis(COUNTER))        ? COUNTER
                : term_eq(u->pid, erl_whereis(COUNTER_LOOP)) ? COUNTER_LOOP
                                                             : ATOM("");
    fprintf(out, " %-12s runs %s vsn %ld%s\n", name.u.atom, u->module, u->vsn,
            u->old ? " (old)" : "");
}

void hot_print_which(FILE *out)
{
    long cur, old;
    if (code_versions(HOT_MODULE, &cur, &old) == 0)
        fprintf(out, "counter: current vsn %ld, old %s%.0ld\n", cur,
                old < 0 ? "none" : "vsn ", old < 0 ? 0 : old);
    code_which(print_user, out);
}

static int cmd_which(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    hot_print_which(out);
    return SHELL_OK;
}

static int cmd_soft_purge(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    return shell_show(out, code_soft_purge(HOT_MODULE) ? ATOM("true") : ATOM("false"));
}

static int cmd_purge(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    int rc = code_purge(HOT_MODULE, GEN_DEFAULT_TIMEOUT);
    if (rc < 0)
        return show_error(out, atom_from(strerror(errno)));
    return shell_show(out, rc ? ATOM("true") : ATOM("false"));
}

static int cmd_tick(int argc, char **argv, FILE *out)
{
    (void)argc;
    int64_t n;
    if (shell_int_arg(out, argv[0], argv[1], &n) < 0)
        return SHELL_BADARGS;
    hot_tick(n);
    return shell_show(out, ATOM("ok"));
}

/* Asks both counters req; prints [{counter, A}, {counter_loop, B}]. */
static int ask_both(const char *req, FILE *out)
{
    term e1, e2;
    term a = hot_call(req, &e1);
    term b = hot_loop_ask(req, &e2);
    return shell_show(out, LIST(TUPLE(COUNTER, is_none(a) ? TUPLE(ATOM("error"), e1) : a),
                                TUPLE(COUNTER_LOOP,
                                      is_none(b) ? TUPLE(ATOM("error"), e2) : b)));
}

static int cmd_read(int argc, char **argv, FILE *out)
{
    (void)argc;
    return ask_both(argv[0], out);
}

static int cmd_resets(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    term error;
    term n = hot_call("resets", &error);
    return is_none(n) ? show_error(out, error) : shell_show(out, n);
}

static int cmd_state(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    term error;
    term state = sys_get_state(COUNTER, GEN_DEFAULT_TIMEOUT, &error);
    return is_none(state) ? show_error(out, error) : shell_show(out, state);
}

static int cmd_tickers(int argc, char **argv, FILE *out)
{
    (void)argc;
    int64_t n;
    if (shell_int_arg(out, argv[0], argv[1], &n) < 0)
        return SHELL_BADARGS;
    if (n < 0 || n > 64)
        return shell_bad_arg(out, argv[0], "%s is outside 0..64", argv[1]);
    if (n == 0)
        return shell_show(out, TUPLE(ATOM("sent"), INT(hot_tickers_stop())));
    return shell_show(out, TUPLE(ATOM("tickers"), INT(hot_tickers_start((int)n, 1))));
}

static const struct shell_cmd cmds[] = {
    {"start", "", "start the gen_server counter and the raw loop counter_loop",
     0, 0, cmd_start},
    {"stop", "", "stop both", 0, 0, cmd_stop},
    {"load", "N|FILE", "code:load_file from counter_vN.so (or FILE), then "
     "move the gen_server to it", 1, 1, cmd_load},
    {"which", "", "each process's module and version", 0, 0, cmd_which},
    {"soft_purge", "", "code:soft_purge(counter)", 0, 0, cmd_soft_purge},
    {"purge", "", "code:purge(counter): kills what runs old code", 0, 0,
     cmd_purge},
    {"tick", "N", "tick both by N", 1, 1, cmd_tick},
    {"read", "", "read both", 0, 0, cmd_read},
    {"reset", "", "reset both (version 2 only)", 0, 0, cmd_read},
    {"vsn", "", "the version each runs", 0, 0, cmd_read},
    {"resets", "", "call(counter, resets): version 2's reset count", 0, 0,
     cmd_resets},
    {"state", "", "sys:get_state(counter)", 0, 0, cmd_state},
    {"tickers", "N", "start N ticking processes (one tick a ms); 0 stops them",
     1, 1, cmd_tickers},
    {NULL, NULL, NULL, 0, 0, NULL},
};

const struct shell hot_shell = {
    .banner = "07_hot_code: the counter loaded from shared objects. "
              "Type help for the commands.",
    .cmds = cmds,
};
