/*
 * node.h - this runtime as a node of an Erlang cluster (a C node).
 *
 * node_start makes the running runtime a named node: it registers with epmd
 * (starting `epmd -daemon` when none answers on ERL_EPMD_PORT, or 4369),
 * listens for other nodes, and from then on erl_send, erl_link,
 * erl_monitor, erl_exit and gen_server_call/cast reach processes of other
 * nodes, C nodes like this one and BEAM nodes alike, by pid and by
 * {Name, Node}. It runs two processes, registered as net_kernel (which
 * answers net_adm:ping) and rex (which answers rpc:call for the functions
 * registered with node_rpc_register, and {badrpc, _} for anything else).
 *
 * Why node_start and not fields of struct erl_options: the runtime may not
 * include this layer (common/README.md, the layers), and a program that
 * stays local should not link libei. So the node is started after
 * erl_start, and erl_stop stops it (through the hook node_start installs).
 *
 * What it does not do: see common/README.md, the node layer.
 */
#ifndef NODE_H
#define NODE_H

#include <stdbool.h>
#include <stddef.h>

#include "term.h"

struct node_options {
    const char *name;           /* "a@localhost" (short) or "a@127.0.0.1"
                                   (long); the part after @ is the host
                                   other nodes reach this one at */
    const char *cookie;         /* NULL: read ~/.erlang.cookie, as erl does,
                                   creating it (mode 0400, 20 random capital
                                   letters) when it is missing */
    int tick_ms;                /* net_ticktime: a connection silent this
                                   long is down; each side sends a tick after
                                   a quarter of it without writing. 0: 60000 */
    int connect_timeout_ms;     /* the most a connect may take; 0: 5000 */
    size_t max_frame;           /* the largest frame taken from a peer, in
                                   bytes; a larger one closes that
                                   connection. 0: 64 MiB */
    size_t max_queue;           /* the most bytes a connection may hold
                                   waiting to be written (a peer that does
                                   not read); a frame that would pass it
                                   is dropped and the connection taken
                                   down, as if it broke. 0: 64 MiB */
};

/* Starts the node. The runtime must be running (erl_start). Returns 0, or
 * -1 with errno set and a line on stderr naming the problem: EINVAL for a
 * name that is not alive@host or a cookie that is empty, EALREADY when a
 * node is started, EADDRINUSE when epmd already has the name, EHOSTUNREACH
 * when epmd cannot be reached or started, EACCES when the cookie file
 * cannot be read or made, and socket errors. */
int node_start(const struct node_options *opts);

/* Stops the node: every connection closes (links and monitors across them
 * get noconnection), the name leaves epmd, the threads are joined.
 * erl_stop calls it; calling it again does nothing. */
void node_stop(void);

/* True when something listens on port on this host's loopback (an epmd,
 * a node). Programs and tests that run an epmd of their own wait for it
 * with this. This function can't fail. */
bool node_port_answers(int port);

/* A loopback port nobody holds at this moment, from the kernel; -1 when
 * none can be had. (Another program may take it before the caller does.) */
int node_free_port(void);

/* A function rpc:call may run here: fn(Args), Args the list of arguments,
 * returns the result (a term that must live until fn's process ends: an
 * immediate, a term_keep copy, or part of Args). It runs in a process of
 * its own; if it exits, the caller gets {badrpc, {'EXIT', Reason}}. */
typedef term (*node_rpc_fn)(term args);

/* Makes module:function/arity callable by rpc:call. The names are copied.
 * Returns 0, or -1 with errno EINVAL for a name that is not an atom's, or a
 * negative arity, EEXIST when it is registered already, ENOMEM. */
int node_rpc_register(const char *module, const char *function, int arity, node_rpc_fn fn);

#endif
