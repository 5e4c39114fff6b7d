/*
 * main.c - 06_cluster: the tour (default), one member until its input
 * closes (--serve ID), or one member with a shell (--shell ID).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "counter.h"
#include "node.h"
#include "shell_cmds.h"
#include "tour.h"

static void usage(FILE *out) {
    fprintf(out, "usage: counter              the tour: three members on loopback, the leader "
                 "killed\n"
                 "       counter --serve ID   member ID (1..3; 4..9 join the three) until "
                 "its input closes\n"
                 "       counter --shell ID   member ID with a shell\n"
                 "       counter --bench-failover N   N rounds of kill -9 of the leader, "
                 "timed\n"
                 "The environment says where the members are: see 06_cluster/README.md.\n");
}

/* Runs member id (1..3, or 4..9: a joiner): starts the runtime, the node and the member,
 * says "ready cI", then serves until stdin closes, or runs the shell.
 * Returns the exit status. */
static int run_member(unsigned id, bool shell) {
    static struct stage_config config;
    if (stage_config_load(&config) != 0)
        return 64;
    const char *root = getenv("COUNTER_DATA_DIR");
    if (mkdir(root && *root ? root : "/dev/shm/counter06", 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "counter: data directory: %s\n", strerror(errno));
        return 73;
    }
    if (erl_start(&(struct erl_options){0}) != 0) {
        fprintf(stderr, "counter: the runtime did not start: %s\n", strerror(errno));
        return 70;
    }
    struct node_options no = {.name = config.nodes[id - 1], .cookie = COUNTER_COOKIE};
    if (node_start(&no) != 0) {
        erl_stop();
        return 69;
    }
    struct cluster_options o = stage_member_options(&config, id);
    term error = NONE;
    if (is_none(counter_start_cluster(&o, &error))) {
        char why[1200];
        term_format(why, sizeof why, error);
        fprintf(stderr, "counter: member %u did not start: %s\n", id, why);
        erl_stop();
        return 70;
    }
    printf("ready c%u\n", id);
    fflush(stdout);
    int status = 0;
    if (shell) {
        shell_cmds_init(&config);
        status = shell_loop(&counter_shell, stdin, stdout);
    } else {
        char line[256];
        while (fgets(line, sizeof line, stdin))
            ;
    }
    cluster_stop(COUNTER, &error);
    erl_stop();
    return status == 130 ? 0 : status;
}

int main(int argc, char **argv) {
    if (argc == 1)
        return tour_run(argv[0]);
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "--bench-failover") == 0) {
        int rounds = atoi(argv[2]);
        if (rounds < 1 || rounds > 64) {
            fprintf(stderr, "counter: rounds %s: not 1 to 64\n", argv[2]);
            return 64;
        }
        return failover_bench(argv[0], rounds);
    }
    if (argc == 3 && (strcmp(argv[1], "--serve") == 0 || strcmp(argv[1], "--shell") == 0)) {
        char *end;
        long id = strtol(argv[2], &end, 10);
        if (*end || id < 1 || id > MAX_MEMBER_ID) {
            fprintf(stderr, "counter: member id %s: not 1 to %d\n", argv[2], MAX_MEMBER_ID);
            return 64;
        }
        return run_member((unsigned)id, strcmp(argv[1], "--shell") == 0);
    }
    fprintf(stderr, "counter: unknown arguments\n");
    usage(stderr);
    return 64;
}
