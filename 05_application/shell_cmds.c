/*
 * shell_cmds.c - a node's commands for the shell. Each prints what the
 * Erlang shell would on a node of the BEAM demo.
 */
#include "application.h"
#include "counter.h"
#include "dist_ac.h"
#include "shell_cmds.h"

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
        return shell_exit(out, error, TUPLE(ATOM("gen_server"), ATOM("call"),
                          LIST(TUPLE(ATOM("global"), COUNTER), ATOM("read"))));
    return shell_show(out, count);
}

/* The node dist_ac knows to run the counter, or undefined. */
static int cmd_where(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    term node = dist_ac_where();
    return shell_show(out, is_none(node) ? ATOM("undefined") : node);
}

static int cmd_nodes(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    term v[65];
    size_t n = erl_nodes(v, 64);
    if (n > 64)
        n = 64;
    v[n] = NIL;
    return shell_show(out, term_list(v, n));
}

/* Prints an Erlang string (a list of character codes) in quotes. */
static void put_string(FILE *out, term s)
{
    fputc('"', out);
    for (uint32_t i = 0; is_list(s) && i < s.size; i++)
        fputc(is_int(s.u.elements[i]) ? (int)s.u.elements[i].u.integer : '?', out);
    fputc('"', out);
}

/* which_applications, its strings shown as erl shows them. */
static int cmd_apps(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    term error, app, desc, vsn;
    term apps = application_which_applications(&error);
    if (is_none(apps))
        return shell_exit(out, error, TUPLE(ATOM("application"),
                          ATOM("which_applications"), NIL));
    fputc('[', out);
    for (uint32_t i = 0; i < apps.size; i++) {
        if (!match(apps.u.elements[i], TUPLE(VAR(&app), VAR(&desc), VAR(&vsn))))
            continue;
        char name[256];
        term_format(name, sizeof name, app);
        fprintf(out, "%s{%s,", i ? ",\n " : "", name);
        put_string(out, desc);
        fputc(',', out);
        put_string(out, vsn);
        fputc('}', out);
    }
    fputs("]\n", out);
    erl_drop(apps);
    return SHELL_OK;
}

static const struct shell_cmd cmds[] = {
    {"read", "", "counter:read(): call read, wherever the counter runs", 0, 0, cmd_read},
    {"tick", "N", "counter:tick(N): cast {tick, N} to it", 1, 1, cmd_tick},
    {"where", "", "the node that runs the counter", 0, 0, cmd_where},
    {"nodes", "", "nodes(): the nodes this one is connected to", 0, 0, cmd_nodes},
    {"apps", "", "application:which_applications()", 0, 0, cmd_apps},
    {NULL, NULL, NULL, 0, 0, NULL},
};

static const struct shell_erl erl[] = {
    {"read", "counter:read()"}, {"tick", "counter:tick(N)"},
    {"where", "node(global:whereis_name(counter))"}, {"nodes", "nodes()"},
    {"apps", "application:which_applications()"},
    {NULL, NULL},
};

const struct shell counter_shell = {
    .banner = NULL,     /* main prints the node's own */
    .cmds = cmds,
    .erl = erl,
};
