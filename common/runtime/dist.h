/*
 * dist.h - where the runtime meets distribution: the node table, and the
 * hooks a node layer installs.
 *
 * The runtime knows nothing of sockets or of the external term format. A
 * pid or reference of another node is a term whose node field indexes the
 * node table below; a signal to one (a message, a link, a monitor, an exit
 * signal, a 'DOWN') is handed to the installed hooks (struct erl_dist),
 * and a signal that comes from another node is put in a local mailbox by
 * erl_dist_deliver. Without hooks (no node started) a remote pid is a pid
 * nobody can reach: a message to it is dropped, a link or monitor to it
 * fails with noconnection at once.
 *
 * Invariants, for whoever installs the hooks:
 *   - Ownership: every term handed to a hook is the caller's and lives only
 *     for the call; the hook copies (encodes) what it keeps. erl_dist_deliver
 *     copies its terms too: the caller frees its buffers afterwards.
 *   - Order: the hooks are called by the sending process itself, in the
 *     order it sends, so a hook that queues each signal in call order per
 *     destination node, and a reader that delivers in arrival order, keep
 *     Erlang's guarantee: signals from one process to another arrive in the
 *     order they were sent.
 *   - Nothing blocks: a hook runs on a scheduler thread and may not wait
 *     for the network (a connect, a full socket): it queues and returns.
 *   - Node down: the node layer remembers every link and monitor that
 *     crosses a connection, and when the connection goes, delivers
 *     {'EXIT', Pid, noconnection} (a linked exit signal) for each link and
 *     'DOWN' with noconnection for each monitor, through erl_dist_deliver.
 */
#ifndef DIST_H
#define DIST_H

#include <stdbool.h>
#include <stdint.h>

#include "term.h"

/* ---- The node table ------------------------------------------------------ */

/* Index 0 is this node; indices 1 to NODE_TABLE_MAX - 1 name other nodes,
 * or earlier incarnations of this one (its name with another creation). An
 * entry is never removed or changed: a pid keeps naming the same node. */
#define NODE_TABLE_MAX 65536

/* The index of node {name, creation}, added if new. name is an atom. Gives
 * 0 for this node's own name and creation. Returns -1 with errno EINVAL
 * when name is not an atom, ENOSPC when the table is full. */
int node_intern(term name, uint32_t creation);

/* The name (an atom) of node index, or NONE when no such entry. */
term node_name(unsigned index);

/* The creation of node index; 0 for an unknown index. */
uint32_t node_creation(unsigned index);

/* Makes name (an atom) and creation this node's: erl_node() returns name
 * from now on. NONE makes it 'nonode@nohost' again. Called by the node
 * layer at start and stop. This function can't fail. */
void node_set_self(term name, uint32_t creation);

/* ---- The hooks ------------------------------------------------------------ */

/* What a signal is, as the node layer sees it. */
enum dist_kind {
    DIST_MESSAGE,   /* body: the message */
    DIST_EXIT,      /* body: the reason; linked: from a link, else exit/2 */
    DIST_LINK,
    DIST_UNLINK,
    DIST_MONITOR,   /* ref: the monitor's reference */
    DIST_DEMONITOR, /* ref: the monitor's reference */
    DIST_DOWN,      /* ref: the monitor's reference; body: the reason */
};

struct erl_dist {
    /* A signal from the local process from (NONE: a plain thread that has
     * no pid) to dest: a pid of another node, or {Name, Node} of another
     * node for DIST_MESSAGE, DIST_MONITOR and DIST_DEMONITOR. Returns 0
     * when the signal will go (it may wait behind a connect: if that fails,
     * links and monitors get noconnection, messages are dropped), -1 with
     * errno ENOTCONN when it cannot (the node layer is stopping, or the
     * connection it would go on is going down). */
    int (*signal)(enum dist_kind kind, term from, term dest, term ref, term body,
                  bool linked);
    /* Fills v with up to n names of connected nodes; returns how many
     * nodes are connected. */
    size_t (*nodes)(term *v, size_t n);
    /* monitor_node(Node, on) for local pid: see erl_monitor_node. */
    int (*monitor_node)(term pid, term node, bool on);
    /* net_kernel:monitor_nodes(on) for local pid: see erl_monitor_nodes. */
    int (*monitor_nodes)(term pid, bool on);
    /* global:whereis_name(Name): the pid (of any node) registered under
     * the global name, or NONE. erl_resolve calls it for {global, Name}. */
    term (*global_whereis)(term name);
    /* Called by erl_stop, before it kills any process: the node layer
     * closes its connections and joins its threads. */
    void (*stop)(void);
};

/* Called by a hook, on the thread of the process that sends: when that is
 * a process on a scheduler thread, makes that thread call flush() right
 * after the process's run ends (it waits, yields or exits) and returns
 * true; the hook may then hold the signal's bytes back until flush, so
 * that what a process sends in one run leaves together (a call's monitor
 * and request, one write). Else (a plain thread) returns false, and flush
 * is not called: the hook sends now. flush runs outside any process and
 * must not block either. A process that computes for long without calling
 * the runtime holds its signals back as long. */
bool erl_dist_defer(void (*flush)(void));

/* Installs the hooks (NULL removes them). d must live until it is removed.
 * Install before the first remote signal and remove only when no process
 * is sending (the node layer does both under its own start and stop). */
void erl_dist_install(const struct erl_dist *d);

/* The hooks installed, or NULL. */
const struct erl_dist *erl_dist_hooks(void);

/* Puts a signal from a process of another node (from: a remote pid, or
 * NONE for a 'DOWN' of a monitor taken by name) into the mailbox of the
 * local process to: a pid of this node or, for DIST_MESSAGE and
 * DIST_MONITOR, an atom registered here. Copies body. Returns true, or
 * false when no such process is alive (the caller answers a link with an
 * exit noproc, a monitor with a 'DOWN' noproc). For DIST_LINK and
 * DIST_MONITOR the local process records from as linked or watching. Any
 * thread may call this. */
bool erl_dist_deliver(enum dist_kind kind, term from, term to, term ref, term body,
                      bool linked);

#endif
