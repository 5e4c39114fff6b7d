/*
 * dist_ac.h - the distributed application controller (kernel's dist_ac):
 * one process per node, registered as dist_ac, that decides with its peers
 * `{dist_ac, Node}` on which node one distributed application runs, and
 * starts and stops it there through the application controller
 * (application.h) with the start type OTP gives: normal, {failover, Node}
 * or {takeover, Node}. The rules are dist_policy.h's; this file carries
 * them out over the node layer.
 *
 * What it does, in the order it happens:
 *   sync      dist_ac_start returns once every node of sync_nodes_mandatory
 *             has answered (and sync_nodes_optional has, or the time is
 *             up): -1 with ETIMEDOUT and the missing nodes named when a
 *             mandatory node does not answer within sync_nodes_timeout.
 *   learn     every hello between two dist_acs carries the node the sender
 *             knows to run the application, so a node that restarts learns
 *             from its peers who runs it before it decides anything.
 *   decide    nobody runs it: dist_event_start over the live nodes (every
 *             node computes the same choice from the same view: the
 *             application's list and the nodes whose dist_ac answered);
 *             somebody does: this node takes it over when it has a strictly
 *             higher priority (dist_event_nodeup for itself).
 *   failover  nodedown of the node running it: after the timeout
 *             (dist_event_timeout), the chosen node starts it as
 *             {failover, Down}.
 *   takeover  the new instance starts first ({takeover, Old}), then
 *             announces {started, Self}; the old node stops its instance
 *             when it reads that announcement.
 *
 * The protocol's invariant, and where it can break. Every node that runs
 * the application announces `{started, Node}` to every peer it knows, and
 * a node running it that reads another's announcement keeps its instance
 * only when it ranks before the other (dist_takes_over, then the smaller
 * node name among equals) and then announces again; otherwise it stops.
 * So two instances exist only between two starts and the next exchange
 * of announcements over a live connection: a double start (two nodes
 * whose views of the live nodes differed, e.g. one saw a nodedown the
 * other has not yet seen, or nodes that started without sync_nodes_*)
 * resolves to one instance as soon as the two can talk. While the two
 * cannot talk (a partition), both run it, as OTP's dist_ac does too.
 */
#ifndef DIST_AC_H
#define DIST_AC_H

#include <stddef.h>

#include "application.h"
#include "config.h"
#include "term.h"

struct dist_ac_options {
    const struct config *config;    /* a checked sys.config (kernel's
                                       distributed, sync_nodes_*); read at
                                       start, must outlive the controller */
    const char *app;                /* the application, loaded already */
    enum app_type type;             /* the type it is started with */
    int hello_ms;                   /* how often a node not yet heard from
                                       is greeted during sync; 0: 100 */
};

/* Starts the controller of opts->app on this node (node_start and the
 * application controller must be running) and waits for the sync. Returns
 * 0 once synced and decided (the application may already run here), or -1
 * with errno and a one-line message in err:
 *   EINVAL     the config's kernel entry is bad, or has no entry for app
 *              (the message names the file, line and what is wrong)
 *   ETIMEDOUT  "sync_nodes_mandatory: b@localhost, c@localhost did not
 *              come up within 30000 ms"
 *   EALREADY   a controller runs
 * The process is not linked to the caller. */
int dist_ac_start(const struct dist_ac_options *opts, char *err, size_t errlen);

/* The node that runs the application as this node's controller knows it,
 * or NONE (not running anywhere it knows of, or no controller). */
term dist_ac_where(void);

/* Stops the controller (not the application). Does nothing when none runs. */
void dist_ac_stop(void);

#endif
