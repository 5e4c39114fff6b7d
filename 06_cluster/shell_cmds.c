/*
 * shell_cmds.c - a member's shell commands. See shell_cmds.h.
 *
 * The commands run one at a time in the shell's evaluator, so the one
 * client below is used by one process at a time.
 */
#include <stdio.h>
#include <string.h>

#include "counter.h"
#include "shell_cmds.h"

#define CALL_MS 5000

static const struct stage_config *config;
static struct cluster_client client;

void shell_cmds_init(const struct stage_config *c) {
    config = c;
    cluster_client_init(&client, COUNTER, c->node_names, MAX_MEMBER_ID);
}

/* Prints a call's outcome: the value, or the error as erl shows an exit. */
static int show(FILE *out, term v, term error, const char *call) {
    if (is_none(v)) {
        char why[256];
        term_format(why, sizeof why, error);
        fprintf(out, "** exception exit: {%s,{gen_server_cluster,call,[counter,%s]}}\n", why,
                call);
        erl_drop(error);
        return SHELL_ERROR;
    }
    shell_show(out, v);
    erl_drop(v);
    return SHELL_OK;
}

static int cmd_read(int argc, char **argv, FILE *out) {
    (void)argc, (void)argv;
    term error = NONE;
    term v = counter_read(&client, CALL_MS, &error);
    return show(out, v, error, "read");
}

static int cmd_tick(int argc, char **argv, FILE *out) {
    (void)argc;
    int64_t n;
    if (shell_int_arg(out, "tick", argv[1], &n) != 0)
        return SHELL_BADARGS;
    term error = NONE;
    term v = counter_tick_sync(&client, n, CALL_MS, &error);
    return show(out, v, error, "tick");
}

static int cmd_leader(int argc, char **argv, FILE *out) {
    (void)argc, (void)argv;
    term node = cluster_leader(&client, CALL_MS);
    if (is_none(node)) {
        fprintf(out, "no member says it leads (two down: no majority, no leader)\n");
        return SHELL_ERROR;
    }
    shell_show(out, node);
    return SHELL_OK;
}

/* servers: gen_server_cluster:get_all_server_nodes/1, {Leader, [Backup]}. */
static int cmd_servers(int argc, char **argv, FILE *out) {
    (void)argc, (void)argv;
    term error = NONE;
    term v = cluster_server_nodes(&client, CALL_MS, &error);
    if (is_none(v)) {
        char why[256];
        term_format(why, sizeof why, error);
        fprintf(out, "** exception exit: {%s,{gen_server_cluster,get_all_server_nodes,"
                     "[counter]}}\n", why);
        erl_drop(error);
        return SHELL_ERROR;
    }
    shell_show(out, v);
    erl_drop(v);
    return SHELL_OK;
}

/* running: gen_server_cluster:is_running/1. */
static int cmd_running(int argc, char **argv, FILE *out) {
    (void)argc, (void)argv;
    shell_show(out, cluster_is_running(&client, CALL_MS) ? ATOM("true") : ATOM("false"));
    return SHELL_OK;
}

/* Whether node is in conf ([{Id, Node, Role}]), or conf is NONE and node
 * is one of the initial three. */
static bool listed(term conf, int i) {
    if (is_none(conf))
        return i < MEMBERS;
    for (term l = conf; is_list(l) && l.size; l = l.u.elements[l.size])
        for (size_t k = 0; k < l.size; k++)
            if (is_atom_named(element(2, l.u.elements[k]), config->nodes[i]))
                return true;
    return false;
}

static int cmd_members(int argc, char **argv, FILE *out) {
    (void)argc, (void)argv;
    term error = NONE;
    term conf = cluster_configuration(&client, erl_node().u.atom, 1000, &error);
    char text[512];
    term_format(text, sizeof text, is_none(conf) ? TUPLE(ATOM("down"), error) : conf);
    fprintf(out, "configuration  %s\n", text);
    erl_drop(error);
    for (int i = 0; i < MAX_MEMBER_ID; i++) {
        if (!listed(conf, i))
            continue;
        error = NONE;
        term info = cluster_member_info(&client, config->nodes[i], 1000, &error);
        term_format(text, sizeof text, is_none(info) ? TUPLE(ATOM("down"), error) : info);
        fprintf(out, "%s  %s\n", config->nodes[i], text);
        erl_drop(info);
        erl_drop(error);
    }
    erl_drop(conf);
    return SHELL_OK;
}

/* stop_member NODE | global | all: gen_server_cluster:stop/2. */
static int cmd_stop_member(int argc, char **argv, FILE *out) {
    (void)argc;
    term error = NONE;
    int rc = strcmp(argv[1], "global") == 0 ? cluster_stop_leader(&client, CALL_MS, &error)
             : strcmp(argv[1], "all") == 0  ? cluster_stop_all(&client, CALL_MS, &error)
                                            : cluster_stop_member(&client, argv[1], CALL_MS, &error);
    if (rc != 0) {
        char why[256];
        term_format(why, sizeof why, error);
        fprintf(out, "** exception exit: {%s,{gen_server_cluster,stop,[counter,%s]}}\n", why,
                argv[1]);
        erl_drop(error);
        return SHELL_ERROR;
    }
    fprintf(out, "ok\n");
    return SHELL_OK;
}

/* stop: counter:stop(), a cast; every member stops once it is applied. */
static int cmd_stop(int argc, char **argv, FILE *out) {
    (void)argc, (void)argv;
    counter_stop(&client);
    fprintf(out, "ok\n");
    return SHELL_OK;
}

static const struct shell_cmd cmds[] = {
    {"read", "", "the count (a call through the log)", 0, 0, cmd_read},
    {"tick", "N", "adds N; prints the count once committed", 1, 1, cmd_tick},
    {"leader", "", "the node whose member leads", 0, 0, cmd_leader},
    {"servers", "", "{Leader, [Backup]}: the leader's node, then its followers'", 0, 0,
     cmd_servers},
    {"running", "", "true when a member leads", 0, 0, cmd_running},
    {"members", "", "the configuration, and {Role, Leader, Term, Applied} of each member",
     0, 0, cmd_members},
    {"stop_member", "NODE|global|all",
     "NODE's member out of the configuration and stopped; global: the leader's; "
     "all: every member stopped (they stay in it)",
     1, 1, cmd_stop_member},
    {"stop", "", "casts stop to the counter: every member stops once it is applied", 0, 0,
     cmd_stop},
    {NULL},
};

static const struct shell_erl erl[] = {
    {"read", "counter:read()"},
    {"tick", "counter:tick(N)"},
    {"servers", "gen_server_cluster:get_all_server_nodes(counter)"},
    {"running", "gen_server_cluster:is_running(counter)"},
    {"stop_member", "gen_server_cluster:stop(counter, Node | global | all)"},
    {"stop", "counter:stop()"},
    {NULL},
};

const struct shell counter_shell = {
    .banner = "06_cluster: this node's member of the counter cluster "
              "(help lists the commands)",
    .cmds = cmds,
    .erl = erl,
};
