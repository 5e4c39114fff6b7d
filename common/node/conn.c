/*
 * conn.c - the connection table: one connection per peer node, its writer
 * and reader threads, and what happens when it goes.
 *
 * Invariants:
 *   - One connection per peer: the table holds at most one entry per name,
 *     and an entry leaves it only in conn_down, which runs once per entry.
 *     A signal for a peer that has none makes one (conn_get), so the next
 *     use after a nodedown reconnects, as BEAM's auto-connect does.
 *   - A simultaneous connect ends with one: when both sides connect at
 *     once, each side keeps the connection the node with the smaller name
 *     made. libei's handshake cannot say "no" in its status message as
 *     BEAM's does, so a C node that accepts a connection and keeps it sends
 *     a tick at once; the side that connected to a C node writes nothing
 *     before that tick (CONN_CONFIRMING), and if the socket closes instead,
 *     it waits for the other side's connection (CONN_AWAITING). A BEAM peer
 *     (it announces alias support, which libei does not) settles this in
 *     its own handshake, so a connection to one is up at once.
 *   - Order: frames go out in the order they were queued. One thread at a
 *     time writes the socket, the one that set c->writing (holding wlock):
 *     the writer thread, or a sender that found nobody writing, which
 *     writes the queue without blocking and puts back what the socket did
 *     not take, at the head (conn_flush_unlock). A process's frames may
 *     wait in the queue until its run ends (control.c, erl_dist_defer):
 *     they stay in order there, and whoever writes next takes them.
 *     The reader delivers frames in the order they came. So signals from
 *     one process to another keep their order across nodes.
 *   - Bound: c->queued, the bytes waiting in c's queue, stays at most
 *     node.max_queue. A frame that would pass it is dropped, c takes no
 *     frame after it (c->overflowed stays set), and the next flush takes c
 *     down: nothing sent after the dropped frame goes out before it.
 *   - Ownership: a queued frame belongs to the queue until the writer takes
 *     it; a frame read belongs to the reader until control_take returns.
 *   - Node down: conn_down takes, under c->lock, every link and monitor
 *     recorded across c; control.c records them under the same lock and
 *     only while c is not down. So each gets exactly one noconnection.
 *   - Nothing here runs on a scheduler thread but conn_get and queueing,
 *     which never wait for the network.
 *   - A socket is closed by whoever last holds it: the reader of a socket
 *     that was replaced (adoption), or conn_put for the current one.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "erl.h"
#include "node_impl.h"

int64_t node_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- Small sets ---------------------------------------------------------- */

bool crossings_add(struct crossings *s, term local, term remote, term ref) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 8;
        struct crossing *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return false;
        s->v = v;
        s->cap = cap;
    }
    /* remote and ref may be another node's (a remote ref's words): keep a
     * copy that outlives the frame they came in. */
    s->v[s->n++] = (struct crossing){local, remote, ref};
    return true;
}

bool crossings_remove(struct crossings *s, term local, term remote, term ref) {
    for (size_t i = 0; i < s->n; i++) {
        struct crossing *x = &s->v[i];
        bool hit = is_none(ref) ? is_none(x->ref) && term_eq(x->local, local) &&
                                      term_eq(x->remote, remote)
                                : term_eq(x->ref, ref);
        if (hit) {
            *x = s->v[--s->n];
            return true;
        }
    }
    return false;
}

void pid_counts_add(struct pid_counts **list, term pid) {
    for (struct pid_counts *p = *list; p; p = p->next)
        if (term_eq(p->pid, pid)) {
            p->count++;
            return;
        }
    struct pid_counts *p = malloc(sizeof *p);
    if (!p)
        return;     /* out of memory: the subscription is lost */
    *p = (struct pid_counts){*list, pid, 1};
    *list = p;
}

void pid_counts_remove(struct pid_counts **list, term pid) {
    for (struct pid_counts **at = list; *at; at = &(*at)->next)
        if (term_eq((*at)->pid, pid)) {
            if (--(*at)->count == 0) {
                struct pid_counts *gone = *at;
                *at = gone->next;
                free(gone);
            }
            return;
        }
}

/* ---- The table ----------------------------------------------------------- */

/* The live connection to peer, or NULL. node.lock held. */
static struct conn *find(term peer) {
    for (struct conn *c = node.conns; c; c = c->next)
        if (term_eq(c->peer, peer))
            return c;
    return NULL;
}

/* A new connection in the table, with the table's reference. node.lock
 * held. NULL when out of memory. */
static struct conn *conn_new(term peer, enum conn_state state, int fd) {
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->peer = peer;
    c->refs = 1;
    c->state = state;
    c->fd = fd;
    c->tail = &c->head;
    atomic_store(&c->last_read_ns, node_now_ns());
    atomic_store(&c->last_write_ns, node_now_ns());
    pthread_mutex_init(&c->lock, NULL);
    /* On CLOCK_MONOTONIC, the clock writer_wait's deadlines are read on.
     * With the default (CLOCK_REALTIME) every deadline was decades past:
     * the writer thread spun on c->lock instead of sleeping, and a C-to-C
     * call on loopback (tests/bench/bench_dist, 20 000 calls, a loaded
     * 2-core machine) took 32-48 us median and 1.2-2.0 ms p99, the two
     * nodes using 1.66 CPUs and making about 100 futex calls per call. */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->changed, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&c->wlock, NULL);
    c->next = node.conns;
    node.conns = c;
    return c;
}

/* Unlinks c from the table. node.lock held. */
static void unlink_conn(struct conn *c) {
    for (struct conn **at = &node.conns; *at; at = &(*at)->next)
        if (*at == c) {
            *at = c->next;
            return;
        }
}

static void free_frames(struct frame *f) {
    while (f) {
        struct frame *next = f->next;
        free(f);
        f = next;
    }
}

void conn_put(struct conn *c) {
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    if (c->fd >= 0)
        node_ei_close(c->fd);
    free_frames(c->head);
    free(c->links.v);
    free(c->monitors.v);
    for (size_t i = 0; i < c->named.n; i++)
        free((void *)c->named.v[i].ref.u.words);    /* control.c's copies */
    free(c->named.v);
    while (c->node_monitors)
        pid_counts_remove(&c->node_monitors, c->node_monitors->pid);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->changed);
    pthread_mutex_destroy(&c->wlock);
    free(c);
}

void *writer_main(void *arg);

struct conn *conn_find_locked(term peer) { return find(peer); }

struct conn *conn_new_locked(term peer) {
    struct conn *c = conn_new(peer, CONN_AWAITING, -1);
    if (c)
        c->refs++;  /* the writer's, to be started */
    return c;
}

/* A new connection to peer, in the table, with its writer thread started
 * (it connects). node.lock held. NULL when that cannot be. */
static struct conn *conn_start(term peer) {
    struct conn *c = conn_new(peer, CONN_CONNECTING, -1);
    if (!c)
        return NULL;
    c->refs++;  /* the writer's */
    if (node_thread(writer_main, c) == 0)
        return c;
    unlink_conn(c);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->changed);
    pthread_mutex_destroy(&c->wlock);
    free(c);
    return NULL;
}

struct conn *conn_get(term peer, bool make) {
    pthread_mutex_lock(&node.lock);
    bool running = atomic_load(&node.running);
    struct conn *c = running ? find(peer) : NULL;
    if (!c && make && running)
        c = conn_start(peer);
    if (c)
        c->refs++;
    pthread_mutex_unlock(&node.lock);
    if (!c)
        errno = ENOTCONN;
    return c;
}

size_t conn_names(term *v, size_t n) {
    pthread_mutex_lock(&node.lock);
    size_t up = 0;
    for (struct conn *c = node.conns; c; c = c->next) {
        pthread_mutex_lock(&c->lock);
        if (c->state == CONN_UP) {
            if (up < n)
                v[up] = c->peer;
            up++;
        }
        pthread_mutex_unlock(&c->lock);
    }
    pthread_mutex_unlock(&node.lock);
    return up;
}

int conn_queue_locked(struct conn *c, struct frame *f) {
    if (c->state == CONN_DOWN) {
        free(f);
        errno = ENOTCONN;
        return -1;
    }
    if (c->overflowed || c->queued + f->len > node.max_queue) {
        free(f);
        c->overflowed = true;
        errno = ENOBUFS;
        return -1;
    }
    f->next = NULL;
    *c->tail = f;
    c->tail = &f->next;
    c->queued += f->len;
    return 0;
}

/* Takes c down for passing max_queue, if it did. Called without c->lock,
 * after conn_flush_unlock let it go. */
static void overflow_down(struct conn *c, bool overflowed) {
    if (!overflowed)
        return;
    char why[160];
    snprintf(why, sizeof why, "its send queue would pass %zu bytes: the peer does not read",
             node.max_queue);
    conn_down(c, why);
}

/* Speed-up: the writer thread is woken only when frames are left for it
 * (what the socket did not take, or frames queued meanwhile);
 * a frame the sender writes itself wakes nobody. Waking the writer for
 * every frame, to find nothing to do, cost two context switches and a
 * fight for c->lock per frame: a C-to-C call on loopback (bench_dist,
 * 20 000 calls, load 3 on 2 cores) took 98-112 us median, 266-309 us p99;
 * without those wakeups 37-47 us median, 102-139 us p99.
 * Who writes signals after: the writer thread rechecks the queue before
 * it waits, a sender here broadcasts when it leaves frames behind, and
 * frames queued while the connection was not up go when it comes up
 * (whoever makes it CONN_UP broadcasts). */
/* Writes the frames from *list to fd without blocking, at most
 * WRITE_BATCH per system call, and frees those written whole; *list is
 * left at the first not written whole (its off says how far), or NULL.
 * Returns 0 (written, or the socket is full), or an errno. */
#define WRITE_BATCH 64
static int write_some(int fd, struct frame **list) {
    struct frame *f = *list;
    int err = 0;
    while (f) {
        struct iovec v[WRITE_BATCH];
        size_t n = 0, want = 0;
        for (struct frame *g = f; g && n < WRITE_BATCH; g = g->next, n++) {
            v[n] = (struct iovec){g->data + g->off, g->len - g->off};
            want += g->len - g->off;
        }
        struct msghdr m = {.msg_iov = v, .msg_iovlen = n};
        ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            err = errno == EAGAIN || errno == EWOULDBLOCK ? 0 : errno;
            break;
        }
        size_t done = (size_t)w;
        while (f && done >= f->len - f->off) {
            done -= f->len - f->off;
            struct frame *next = f->next;
            free(f);
            f = next;
        }
        if (f)
            f->off += done;
        if ((size_t)w < want)
            break;      /* the socket is full */
    }
    *list = f;
    return err;
}

void conn_flush_unlock(struct conn *c) {
    struct frame *f = c->head;
    bool overflowed = c->overflowed;
    if (c->state != CONN_UP || c->writing || !f || overflowed) {
        pthread_mutex_unlock(&c->lock);
        overflow_down(c, overflowed);
        return;
    }
    c->head = NULL;
    c->tail = &c->head;
    c->queued = 0;
    c->writing = true;
    int fd = c->fd;
    pthread_mutex_unlock(&c->lock);
    pthread_mutex_lock(&c->wlock);
    int err = write_some(fd, &f);
    pthread_mutex_unlock(&c->wlock);
    atomic_store(&c->last_write_ns, node_now_ns());
    pthread_mutex_lock(&c->lock);
    c->writing = false;
    if (f && !err && c->state != CONN_DOWN) {
        struct frame *last = f;     /* the rest goes first: the writer takes it */
        c->queued += f->len - f->off;
        for (; last->next; last = last->next)
            c->queued += last->next->len;
        last->next = c->head;
        c->head = f;
        if (!last->next)
            c->tail = &last->next;
        f = NULL;
    }
    if (c->head)    /* the rest, or frames queued while this one wrote */
        pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
    free_frames(f);
    if (err) {
        char why[120];
        snprintf(why, sizeof why, "writing: %s", strerror(err));
        conn_down(c, why);
    }
}

/* ---- Going down ---------------------------------------------------------- */

/* What conn_down takes from a connection, to tell outside its locks. */
struct fallout {
    struct crossings links, monitors;
    struct pid_counts *node_monitors, *watchers;
    struct frame *frames;
    bool was_up;
};

/* Sends {nodedown, Peer} to every subscriber, count times each. */
static void tell_nodedown(struct pid_counts *p, term peer) {
    for (; p; p = p->next)
        for (int i = 0; i < p->count; i++)
            erl_dist_deliver(DIST_MESSAGE, NONE, p->pid, NONE,
                             TUPLE(ATOM("nodedown"), peer), false);
}

static void free_counts(struct pid_counts *p) {
    while (p) {
        struct pid_counts *next = p->next;
        free(p);
        p = next;
    }
}

/* Copies the monitor_nodes subscribers. node.lock held. */
static struct pid_counts *copy_watchers(void) {
    struct pid_counts *copy = NULL;
    for (struct pid_counts *p = node.watchers; p; p = p->next) {
        struct pid_counts *q = malloc(sizeof *q);
        if (q) {
            *q = (struct pid_counts){copy, p->pid, p->count};
            copy = q;
        }
    }
    return copy;
}

void conn_tell_up(term peer) {
    pthread_mutex_lock(&node.lock);
    struct pid_counts *w = copy_watchers();
    pthread_mutex_unlock(&node.lock);
    for (struct pid_counts *p = w; p; p = p->next)
        for (int i = 0; i < p->count; i++)
            erl_dist_deliver(DIST_MESSAGE, NONE, p->pid, NONE, TUPLE(ATOM("nodeup"), peer),
                             false);
    free_counts(w);
}

void conn_down(struct conn *c, const char *why) {
    struct fallout f = {0};
    pthread_mutex_lock(&node.lock);
    pthread_mutex_lock(&c->lock);
    if (c->state == CONN_DOWN) {
        pthread_mutex_unlock(&c->lock);
        pthread_mutex_unlock(&node.lock);
        return;
    }
    f.was_up = c->state == CONN_UP;
    c->state = CONN_DOWN;
    unlink_conn(c);
    f.links = c->links;
    f.monitors = c->monitors;
    f.node_monitors = c->node_monitors;
    f.frames = c->head;
    c->links = (struct crossings){0};
    c->monitors = (struct crossings){0};
    c->node_monitors = NULL;
    c->head = NULL;
    c->tail = &c->head;
    c->queued = 0;
    if (c->fd >= 0)
        shutdown(c->fd, SHUT_RDWR);
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
    if (f.was_up)
        f.watchers = copy_watchers();
    pthread_mutex_unlock(&node.lock);

    if (why)
        node_log("connection to %s down: %s", c->peer.u.atom, why);
    term noconn = ATOM("noconnection");
    for (size_t i = 0; i < f.links.n; i++)
        erl_dist_deliver(DIST_EXIT, f.links.v[i].remote, f.links.v[i].local, NONE, noconn, true);
    for (size_t i = 0; i < f.monitors.n; i++) {
        term target = f.monitors.v[i].remote;
        erl_dist_deliver(DIST_DOWN, is_pid(target) ? target : NONE, f.monitors.v[i].local,
                         f.monitors.v[i].ref, noconn, false);
    }
    tell_nodedown(f.node_monitors, c->peer);
    tell_nodedown(f.watchers, c->peer);
    free(f.links.v);
    free(f.monitors.v);
    free_counts(f.node_monitors);
    free_counts(f.watchers);
    free_frames(f.frames);
    conn_put(c);    /* the table's reference */
}

void conn_down_all(void) {
    for (;;) {
        pthread_mutex_lock(&node.lock);
        struct conn *c = node.conns;
        if (c)
            c->refs++;
        pthread_mutex_unlock(&node.lock);
        if (!c)
            return;
        conn_down(c, NULL);
        conn_put(c);
    }
}
