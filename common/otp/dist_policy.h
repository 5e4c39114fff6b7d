/*
 * dist_policy.h - the policy of OTP's distributed applications (kernel's
 * dist_ac), as pure functions: reading kernel's config, choosing the node
 * that runs an application, whether a returning node takes it over, and
 * the start type of the new instance. No process, no network: a
 * distributed application controller feeds it events (dist_event_*) and
 * carries out what it answers.
 *
 * The config (kernel's env in a sys.config):
 *   {distributed, [{App, Nodes} | {App, Timeout, Nodes}]}
 *       Nodes: [a@h, {b@h, c@h}, ...], in priority order; a tuple holds
 *       nodes of equal priority. Timeout: ms to wait after the running
 *       node went down before starting elsewhere (default 0), or infinity.
 *   {sync_nodes_mandatory, [Node]}  must be up within sync_nodes_timeout
 *   {sync_nodes_optional, [Node]}   waited for as long, not required
 *   {sync_nodes_timeout, Ms | infinity}  default 0 (no wait)
 * The rules (kernel's "Distributed Applications"): the application runs
 * on the first live node of its list; within a tuple, on the one running
 * fewest distributed applications (the earlier in the list on a tie).
 * When the node running it goes down, after Timeout it is started on the
 * node chosen so among the live ones, with start type {failover, Down}.
 * When a node of strictly higher priority than the current one comes up,
 * it takes over: the application starts there with {takeover, Current},
 * then stops on the current node. Nodes of equal priority never take over
 * from each other.
 */
#ifndef DIST_POLICY_H
#define DIST_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "term.h"

#define DIST_MAX_NODES 32   /* nodes in one priority list, or a sync list */
#define DIST_MAX_APPS 16    /* distributed applications */

/* One entry of distributed. */
struct dist_app {
    term app;                       /* the application's name */
    int timeout_ms;                 /* failover wait; ERL_INFINITY (-1): none */
    size_t n;                       /* nodes in the list */
    term nodes[DIST_MAX_NODES];     /* the nodes, in priority order */
    int rank[DIST_MAX_NODES];       /* each one's priority: 0 is the highest;
                                       a tuple's nodes share one */
};

/* kernel's distribution settings. */
struct dist_config {
    size_t napps;                           /* entries of distributed */
    struct dist_app apps[DIST_MAX_APPS];    /* them, in config order */
    size_t nmandatory;                      /* sync_nodes_mandatory's nodes */
    term mandatory[DIST_MAX_NODES];
    size_t noptional;                       /* sync_nodes_optional's nodes */
    term optional[DIST_MAX_NODES];
    int sync_timeout_ms;                    /* sync_nodes_timeout; -1: infinity */
};

/* Reads kernel's distributed and sync_nodes_* from a checked sys.config
 * into *out (missing keys: empty lists, timeout 0). Returns 0, or -1 with
 * a message naming the file, line and key ("a.config:3:20: kernel:
 * distributed: ..."). Node names must be atoms with an @, each once in a
 * list. */
int dist_config_read(const struct config *cfg, struct dist_config *out,
                     char *err, size_t errlen);

/* The entry of app, or NULL. */
const struct dist_app *dist_config_app(const struct dist_config *dc, term app);

/* ---- The rules ----------------------------------------------------------- */

/* A live node, and how many distributed applications it runs. */
struct dist_node_load {
    term node;
    size_t running;
};

/* The node that should run a, among the n live nodes: the first live node
 * of the list, the one running fewest within a group. NONE when no node of
 * a's list is live. This function can't fail. */
term dist_choose(const struct dist_app *a, const struct dist_node_load *live, size_t n);

/* True when node, coming up, takes a over from current: node has a
 * strictly higher priority (a smaller rank) than current. False for a node
 * not in the list; true for a listed node when current is not listed. */
bool dist_takes_over(const struct dist_app *a, term node, term current);

/* ---- Events: what a dist_ac feeds in, and what it is to do --------------- */

enum dist_todo {
    DIST_NOTHING,       /* nothing to do here */
    DIST_START,         /* start it here, as start_type */
    DIST_WAIT,          /* wait wait_ms, then feed dist_event_timeout */
    DIST_STOP,          /* stop it here: it has moved (takeover done) */
};

enum dist_start {
    DIST_NORMAL,        /* start type normal */
    DIST_FAILOVER,      /* {failover, Node}: Node went down running it */
    DIST_TAKEOVER,      /* {takeover, Node}: Node runs it now, stops after */
};

struct dist_action {
    enum dist_todo todo;    /* what to do */
    enum dist_start start;  /* DIST_START: which start type ... */
    term node;              /* ... and its Node (not for DIST_NORMAL) */
    int wait_ms;            /* DIST_WAIT: ms (-1: forever, no timeout event) */
};

/* The start type of a DIST_START, as Module:start gets it: normal,
 * {failover, Node} or {takeover, Node}, built in v (valid as long as v).
 * This function can't fail. */
term dist_start_type(const struct dist_action *a, term v[2]);

/* One application as seen from one node. The dist_ac keeps it and feeds
 * it every event; all fields are the policy's own. */
struct dist_state {
    const struct dist_app *app;     /* its entry (must outlive the state) */
    term self;                      /* this node */
    term running_on;                /* the node that runs it, or NONE */
    term lost;                      /* the node it ran on, down: a failover
                                       pending (DIST_WAIT); else NONE */
    term moving_from;               /* a takeover under way from this node
                                       (the old instance), else NONE */
};

/* Starts following app as node self (nothing running yet). */
void dist_state_init(struct dist_state *s, const struct dist_app *app, term self);

/* The application is to run (the nodes are synced): chooses the node;
 * DIST_START normal when it is this one. */
struct dist_action dist_event_start(struct dist_state *s,
                                    const struct dist_node_load *live, size_t n);

/* node went down. When it ran the application: DIST_WAIT for the failover
 * timeout (with 0, the failover itself, as dist_event_timeout). */
struct dist_action dist_event_nodedown(struct dist_state *s, term node,
                                       const struct dist_node_load *live, size_t n);

/* The failover timeout passed: chooses among the live nodes; DIST_START
 * {failover, Lost} when it is this one. */
struct dist_action dist_event_timeout(struct dist_state *s,
                                      const struct dist_node_load *live, size_t n);

/* node came up. When it takes over: DIST_START {takeover, Current} on
 * node itself (when it is self); the current node keeps running until
 * dist_event_started says the new instance runs. */
struct dist_action dist_event_nodeup(struct dist_state *s, term node);

/* node reports the application started there. On the node a takeover
 * moves it from: DIST_STOP (the new instance starts first, as OTP's).
 * While this node waits out a failover timeout: that failover is done
 * (node runs it), and the timeout does nothing. */
struct dist_action dist_event_started(struct dist_state *s, term node);

#endif
