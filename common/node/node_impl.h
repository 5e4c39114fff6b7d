/*
 * node_impl.h - what the node layer's files share: the node's state, a
 * connection, and the functions each file lends the others.
 *
 *   node.c      start and stop, epmd, the cookie, the acceptor, the hooks
 *   conn.c      the connection table, its threads, frames in and out
 *   control.c   control messages: signals to frames, frames to signals
 *   kernel.c    the net_kernel and rex processes, the rpc table
 *   spawn.c     spawn requests (erpc, rpc:call) from other nodes
 *   global.c    global names
 */
#ifndef NODE_IMPL_H
#define NODE_IMPL_H

#include <ei.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "dist.h"
#include "etf.h"
#include "node.h"

/* ---- The node ------------------------------------------------------------ */

struct node_state {
    /* Set by node_start before any thread runs; read-only after: */
    ei_cnode ec;                /* libei's node: name, cookie, creation */
    term name;                  /* this node's name, an atom */
    int tick_ms;                /* see node_options */
    int connect_timeout_ms;     /* see node_options */
    size_t max_frame;           /* see node_options */
    size_t max_queue;           /* see node_options */
    int listen_fd;              /* where other nodes connect */
    int epmd_fd;                /* the epmd registration, open while named */

    /* lock guards these: */
    pthread_mutex_t lock;
    struct conn *conns;         /* the connection table: one per peer */
    struct pid_counts *watchers;    /* monitor_nodes subscribers */
    pthread_cond_t threads_gone;    /* signalled when threads falls */
    _Atomic int threads;        /* the layer's threads still running; falls
                                   under lock */

    _Atomic bool running;       /* started and not stopping */
};

extern struct node_state node;

/* Logs one line to stderr, prefixed "node <name>: ". */
void node_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Starts fn(arg) on a detached thread counted in node.threads (callable
 * with node.lock held). Returns 0, or -1 with errno set. */
int node_thread(void *(*fn)(void *), void *arg);

/* Called by each such thread as it ends. */
void node_thread_done(void);

/* ---- Bookkeeping: what crosses a connection ------------------------------ */

/* A growable set of (local, remote, ref) triples: links (ref NONE) or
 * monitors a local process holds on a remote one (remote: its pid, or the
 * name it was monitored by). */
struct crossings {
    struct crossing { term local, remote, ref; } *v;
    size_t n, cap;
};

/* Pids with a count: monitor_node and monitor_nodes subscribers. */
struct pid_counts {
    struct pid_counts *next;
    term pid;                   /* a local process */
    int count;                  /* how many times it subscribed */
};

/* ---- A connection -------------------------------------------------------- */

enum conn_state {
    CONN_CONNECTING,    /* our connect is in flight (the writer makes it) */
    CONN_CONFIRMING,    /* connected to a C node; waiting for its first
                           frame, which says it keeps this connection */
    CONN_AWAITING,      /* the peer dropped our connect in favour of its
                           own: waiting for it to come in (until deadline) */
    CONN_UP,            /* frames flow */
    CONN_DOWN,          /* gone: out of the table, threads ending */
};

/* An encoded frame waiting to be written: the 4-byte length and the rest. */
struct frame {
    struct frame *next;         /* the next frame in the queue */
    size_t len;                 /* bytes in data */
    size_t off;                 /* bytes of data already written */
    char data[];
};

struct conn {
    /* node.lock guards: */
    struct conn *next;          /* the next connection in the table */

    /* The table's, each thread's, each user's: whoever holds one may add
     * one, without a lock (the table's is dropped last but one). */
    _Atomic int refs;

    /* Set at creation; read-only after: */
    term peer;                  /* the peer's name, an atom */

    /* c->lock guards these: */
    pthread_mutex_t lock;
    pthread_cond_t changed;     /* frames queued, or the state changed */
    enum conn_state state;
    int fd;                     /* the socket, or -1 while connecting */
    int64_t deadline_ns;        /* CONN_AWAITING: when to give up */
    struct frame *head, **tail; /* frames to write, oldest first */
    size_t queued;              /* bytes in them not yet written: at most
                                   node.max_queue */
    bool overflowed;            /* a frame passed max_queue: c takes no
                                   more, and conn_flush_unlock takes it
                                   down; never cleared */
    bool writing;               /* a thread writes frames it took from the
                                   queue: nobody else may write now */
    struct crossings links;     /* links across this connection */
    struct crossings monitors;  /* monitors local processes hold on remote
                                   ones across it */
    struct crossings named;     /* monitors remote processes hold on names
                                   here: (name, watcher, ref), so that the
                                   'DOWN' gives the name (control.c) */
    struct pid_counts *node_monitors;  /* monitor_node subscribers */

    /* Whoever set writing writes the socket, holding wlock: */
    pthread_mutex_t wlock;
    _Atomic int64_t last_read_ns;   /* when the reader last got bytes */
    _Atomic int64_t last_write_ns;  /* when frames were last written */
};

/* The connection to peer (an atom), made if there is none and make is set
 * (its writer thread connects). Returns it with a reference the caller
 * drops with conn_put, or NULL (errno ENOTCONN when the node stops, or the
 * thread cannot start). */
struct conn *conn_get(term peer, bool make);

/* The table's connection to peer, or NULL. node.lock held. */
struct conn *conn_find_locked(term peer);

/* A new connection to peer for an accepted socket, in the table, with a
 * reference for its writer (to be started). node.lock held. NULL when out
 * of memory. */
struct conn *conn_new_locked(term peer);

/* Drops a reference; the last frees c. */
void conn_put(struct conn *c);

/* The writer thread of c (conn_io.c): connects when c is CONN_CONNECTING,
 * then writes its frames, and a tick when it has been quiet. */
void *writer_main(void *arg);

/* Starts a reader thread for fd, c's socket; takes a reference. c->lock
 * held. Returns 0 or -1. */
int start_reader(struct conn *c, int fd);

/* Connects to peer (node.c: libei's handshake). Returns the socket, with
 * *beam telling whether the peer is a BEAM node, or -1 with why filled. */
int node_connect(term peer, bool *beam, char *why, size_t why_len);

/* ei_close_connection(fd) under libei's table lock (node.c says why): every
 * close of a libei socket goes through it. Returns what it returns. */
int node_ei_close(int fd);

/* Monotonic time in ns. */
int64_t node_now_ns(void);

/* Takes fd, a socket that has passed the handshake with peer, for the
 * table: kept or closed by the rules in conn.c. Takes ownership of fd. */
void conn_accepted(term peer, int fd);

/* Queues frame f on c, in order; frees it when c is down, or when it would
 * make c->queued pass node.max_queue (then c->overflowed is set). Returns
 * 0, or -1 with errno ENOTCONN when c is down, ENOBUFS when f (or one
 * before it) passed the bound. c->lock held. It wakes nobody: call conn_flush_unlock next, which
 * writes f or hands it to the writer, and takes c down if it overflowed. */
int conn_queue_locked(struct conn *c, struct frame *f);

/* With c->lock held, which it lets go: when c is up and nobody is writing,
 * writes the queue at once from the calling thread, without blocking (what
 * the socket does not take at once goes back to the head of the queue, for
 * the writer thread, woken here). Else whoever writes, or the writer once
 * c is up, takes it. */
void conn_flush_unlock(struct conn *c);

/* Writes n bytes to fd, blocking; 0, or -1 with errno set (conn_io.c). */
int conn_write_all(int fd, const char *p, size_t n);

/* Takes c down (once): out of the table, its socket shut, and every link
 * and monitor across it told noconnection. why (may be NULL: an orderly
 * close) goes to the log. */
void conn_down(struct conn *c, const char *why);

/* Tells the monitor_nodes subscribers {nodeup, Peer}. Call it without
 * c->lock, just after a connection came up. */
void conn_tell_up(term peer);

/* Takes every connection down (node_stop). */
void conn_down_all(void);

/* Fills v with up to n connected peers' names; returns how many are up. */
size_t conn_names(term *v, size_t n);

/* Adds or removes (pid, count 1) in *list. c->lock or node.lock held. */
void pid_counts_add(struct pid_counts **list, term pid);
void pid_counts_remove(struct pid_counts **list, term pid);

/* Adds a triple to s; false when out of memory. */
bool crossings_add(struct crossings *s, term local, term remote, term ref);

/* Removes the triple matching (local, remote) for links (ref NONE) or ref
 * for monitors; false when there was none. */
bool crossings_remove(struct crossings *s, term local, term remote, term ref);

/* ---- Control messages (control.c) --------------------------------------- */

/* The hooks' signal: a signal for another node, as a frame on its queue. */
int control_signal(enum dist_kind kind, term from, term dest, term ref, term body,
                   bool linked);

/* Takes one frame that came from c (len bytes at buf, after the length:
 * pass-through byte, control message, payload). Returns 0, or -1 with a
 * description of what was wrong in why. */
int control_take(struct conn *c, const char *buf, size_t len, char *why, size_t why_len);

/* Sends control (no payload) on c, now: an answer to a frame from c. */
void control_answer(struct conn *c, term control);

/* A frame of control (and payload when not NONE): malloc'd, or NULL with
 * errno set (EINVAL: a term with no external form). */
struct frame *control_frame(term control, term payload);

/* ---- Kernel processes (kernel.c) ---------------------------------------- */

/* Spawns and registers net_kernel and rex. Returns 0 or -1. */
int kernel_start(void);

/* Kills net_kernel and rex (node_stop). */
void kernel_stop(void);

/* The function node_rpc_register registered for m:f/length(args), or NULL
 * (also for args that is not a proper list). */
node_rpc_fn kernel_lookup(term m, term f, term args);

/* Runs fn(args) in the calling process under erl_catch: true with its
 * value in *result, or false with the reason it failed with in *reason
 * (an erl_exit_self, a fault in fn). For rex's calls and erpc's. */
bool kernel_run(node_rpc_fn fn, term args, term *result, term *reason);

/* The length of proper list l, or -1. */
long kernel_list_length(term l);

/* ---- Spawn requests (spawn.c) ------------------------------------------- */

/* SPAWN_REQUEST(_TT) from c: spawns what {M, F, Arity} (mfa) names with
 * args, linked to and monitored by from as opts say, and answers
 * SPAWN_REPLY on c. Returns 0, or -1 with why naming a request of the
 * wrong shape. */
int spawn_take(struct conn *c, term reqid, term from, term mfa, term opts, term args,
               char *why, size_t why_len);

/* Spawns and registers c_global_server (global.c). Returns 0 or -1. */
int global_start(void);

/* Kills it and empties the table. */
void global_stop(void);

#endif
