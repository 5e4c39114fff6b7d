/*
 * main.c - 05_application: the tour (default), or one node with its shell.
 *
 *   counter                                     the tour: three nodes, a
 *                                               failover and a takeover
 *   counter --node a@localhost --config a.config [--cookie C]
 *                                               one node and its shell
 */
#include <stdio.h>
#include <string.h>

#include "node_run.h"
#include "tour.h"

#define EX_USAGE 64

static int usage(FILE *out, int status)
{
    fprintf(out, "usage: counter                       the tour (make run)\n"
                 "       counter --node NAME --config FILE [--cookie COOKIE]\n"
                 "                                     one node, e.g. --node a@localhost\n"
                 "                                     --config a.config, and its shell\n");
    return status;
}

/* Reads the node's options into *a; -1 after printing what is wrong. */
static int parse(int argc, char **argv, struct node_args *a)
{
    for (int i = 1; i < argc; i += 2) {
        const char **slot = strcmp(argv[i], "--node") == 0     ? &a->name
                            : strcmp(argv[i], "--config") == 0 ? &a->config
                            : strcmp(argv[i], "--cookie") == 0 ? &a->cookie
                                                               : NULL;
        if (slot == NULL || i + 1 >= argc) {
            fprintf(stderr, "counter: %s \"%s\"\n", slot ? "no value after" : "unknown option",
                    argv[i]);
            return -1;
        }
        *slot = argv[i + 1];
    }
    if (a->name == NULL || a->config == NULL) {
        fprintf(stderr, "counter: a node needs --node and --config\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--help") == 0)
        return usage(stdout, 0);
    if (argc == 1)
        return tour_run("/proc/self/exe", STAGE_DIR);   /* the configs' folder */
    struct node_args a = {0};
    if (parse(argc, argv, &a) < 0)
        return usage(stderr, EX_USAGE);
    return node_run(&a);
}
