/*
 * node_run.h - one node of the chapter: what `counter --node a@localhost
 * --config a.config` runs.
 */
#ifndef NODE_RUN_H
#define NODE_RUN_H

/* How a node is started. */
struct node_args {
    const char *name;       /* a@localhost */
    const char *config;     /* the sys.config file */
    const char *cookie;     /* NULL: ~/.erlang.cookie */
};

/* Runs a node until its shell's input ends or quit: reads and checks the
 * config, starts the runtime, the node, the application controller and
 * dist_ac (which waits for sync_nodes_mandatory), prints
 *   node a@localhost: up; the counter runs on a@localhost
 * and runs the shell on stdin. Returns the exit status: the shell's; 78
 * (EX_CONFIG) for a bad config, with "counter: FILE:LINE:COL: what" on
 * stderr; 69 (EX_UNAVAILABLE) when the node cannot start (its name taken,
 * no epmd) or a mandatory node did not come up within sync_nodes_timeout
 * ("counter: node a@localhost stops: sync_nodes_mandatory: b@localhost,
 * c@localhost did not come up within 30000 ms"); 70 (EX_SOFTWARE) when
 * the runtime cannot start. */
int node_run(const struct node_args *args);

#endif
