/*
 * nodes.c - the node table, the distribution hooks, and the erlang
 * module's node functions (node/0, node/1, nodes/0, monitor_node/2).
 *
 * The table is append-only: an entry, once its index is published, never
 * changes, so node_name and node_creation read it without a lock (the
 * count is published with release order after the entry is written).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "dist.h"
#include "proc.h"

/* ---- The node table ------------------------------------------------------ */

struct node_entry {
    const char *name;           /* the node's atom name */
    uint32_t creation;          /* its incarnation */
};

static struct {
    pthread_mutex_t lock;       /* guards adding entries */
    _Atomic unsigned count;     /* entries 1..count-1 are published */
    struct node_entry v[NODE_TABLE_MAX];    /* v[0]: this node */
    _Atomic(const char *) self; /* this node's name; NULL: nonode@nohost */
    _Atomic uint32_t self_creation;     /* this node's creation */
} nodes = {.lock = PTHREAD_MUTEX_INITIALIZER, .count = 1};

/* The hooks a node layer installed, or NULL. */
static const struct erl_dist *_Atomic hooks;

_Static_assert((int)DIST_MESSAGE == SIG_MESSAGE && (int)DIST_EXIT == SIG_EXIT &&
               (int)DIST_LINK == SIG_LINK && (int)DIST_UNLINK == SIG_UNLINK &&
               (int)DIST_MONITOR == SIG_MONITOR && (int)DIST_DEMONITOR == SIG_DEMONITOR &&
               (int)DIST_DOWN == SIG_DOWN, "dist_kind mirrors signal_kind");

int node_intern(term name, uint32_t creation) {
    if (!is_atom(name)) {
        errno = EINVAL;
        return -1;
    }
    const char *self = atomic_load(&nodes.self);
    if (self && is_atom_named(name, self) && creation == atomic_load(&nodes.self_creation))
        return 0;
    pthread_mutex_lock(&nodes.lock);
    unsigned n = atomic_load_explicit(&nodes.count, memory_order_relaxed);
    for (unsigned i = 1; i < n; i++) {
        if (nodes.v[i].creation == creation && is_atom_named(name, nodes.v[i].name)) {
            pthread_mutex_unlock(&nodes.lock);
            return (int)i;
        }
    }
    if (n == NODE_TABLE_MAX) {
        pthread_mutex_unlock(&nodes.lock);
        errno = ENOSPC;
        return -1;
    }
    nodes.v[n] = (struct node_entry){atom_from(name.u.atom).u.atom, creation};
    atomic_store_explicit(&nodes.count, n + 1, memory_order_release);
    pthread_mutex_unlock(&nodes.lock);
    return (int)n;
}

term node_name(unsigned index) {
    if (index == 0)
        return erl_node();
    if (index >= atomic_load_explicit(&nodes.count, memory_order_acquire))
        return NONE;
    return (term){.type = TERM_ATOM, .u.atom = nodes.v[index].name};
}

uint32_t node_creation(unsigned index) {
    if (index == 0)
        return atomic_load(&nodes.self_creation);
    if (index >= atomic_load_explicit(&nodes.count, memory_order_acquire))
        return 0;
    return nodes.v[index].creation;
}

void node_set_self(term name, uint32_t creation) {
    atomic_store(&nodes.self_creation, creation);
    atomic_store(&nodes.self, is_atom(name) ? atom_from(name.u.atom).u.atom : NULL);
}

term erl_node(void) {
    const char *self = atomic_load(&nodes.self);
    return self ? (term){.type = TERM_ATOM, .u.atom = self} : ATOM("nonode@nohost");
}

term erl_node_of(term t) {
    if (!is_pid(t) && !is_ref(t))
        return NONE;
    return node_name(t.node);
}

/* ---- The hooks ----------------------------------------------------------- */

void erl_dist_install(const struct erl_dist *d) { atomic_store(&hooks, d); }

const struct erl_dist *erl_dist_hooks(void) { return atomic_load(&hooks); }

bool erl_dist_deliver(enum dist_kind kind, term from, term to, term ref, term body,
                      bool linked) {
    term pid = is_atom(to) ? erl_whereis(to) : to;
    if (!is_pid(pid) || pid.node != 0)
        return false;
    struct heap_block *b;
    if (term_is_boxed(ref)) {
        /* Another node's reference: its words travel in the block too. */
        b = block_new((enum signal_kind)kind, from, NONE, TUPLE(body, ref));
        b->ref = b->body.u.elements[1];
        b->body = b->body.u.elements[0];
    } else {
        b = block_new((enum signal_kind)kind, from, ref, body);
    }
    b->linked = linked;
    if (signal_deliver(pid, b))
        return true;
    block_free(b);
    return false;
}

int dist_signal(enum signal_kind kind, term from, term dest, term ref, term body,
                bool linked) {
    const struct erl_dist *d = atomic_load(&hooks);
    if (!d) {
        errno = ENOTCONN;
        return -1;
    }
    return d->signal((enum dist_kind)kind, from, dest, ref, body, linked);
}

/* ---- nodes/0, monitor_node/2 --------------------------------------------- */

size_t erl_nodes(term *v, size_t n) {
    const struct erl_dist *d = atomic_load(&hooks);
    return d ? d->nodes(v, n) : 0;
}

int erl_monitor_node(term node, bool on) {
    if (!is_atom(node)) {
        errno = EINVAL;
        return -1;
    }
    const struct erl_dist *d = atomic_load(&hooks);
    term self = erl_self();
    if (d)
        return d->monitor_node(self, node, on);
    if (on && !term_eq(node, erl_node()))     /* no distribution: down at once */
        erl_send(self, TUPLE(ATOM("nodedown"), node));
    return 0;
}

int erl_monitor_nodes(bool on) {
    const struct erl_dist *d = atomic_load(&hooks);
    if (!d) {
        errno = ENOTCONN;
        return -1;
    }
    return d->monitor_nodes(erl_self(), on);
}

void dist_stop(void) {
    const struct erl_dist *d = atomic_load(&hooks);
    if (d && d->stop)
        d->stop();
}
