/*
 * registry.c - registered names: register/2, unregister/1, whereis/1.
 *
 * One table for the node, guarded by one lock. A process's name goes when
 * the process does.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "panic.h"
#include "proc.h"

#define BUCKETS 256

struct name_entry {
    struct name_entry *next;    /* next in the bucket */
    term name;                  /* an atom */
    term pid;                   /* the process registered under it */
};

static struct {
    pthread_mutex_t lock;       /* guards buckets and every proc's registered */
    struct name_entry *buckets[BUCKETS];    /* chains of names by hash */
    _Atomic uint64_t generation;    /* bumped by every change to the table */
} names = {.lock = PTHREAD_MUTEX_INITIALIZER, .generation = 1};

/* The last name this thread looked up, valid while the table's generation
 * is the same: a process casting to a name again and again (a counter's
 * ticks) finds it without the lock. */
static _Thread_local struct {
    const char *atom;           /* the name looked up (the atom's pointer) */
    term pid;                   /* what it named */
    uint64_t generation;        /* names.generation then; 0: nothing cached */
} last;

/* Every change to the table goes through here, names.lock held. */
static void changed(void) {
    atomic_fetch_add_explicit(&names.generation, 1, memory_order_release);
}

static struct name_entry **bucket(term name) {
    unsigned h = 2166136261u;   /* FNV-1a over the atom's name */
    for (const char *s = name.u.atom; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return &names.buckets[h % BUCKETS];
}

/* The entry for name, or NULL. names.lock held. */
static struct name_entry **find(term name) {
    struct name_entry **e = bucket(name);
    while (*e && !term_eq((*e)->name, name))
        e = &(*e)->next;
    return e;
}

int erl_register(term name, term pid) {
    if (!is_atom(name) || is_atom_named(name, "undefined") || !is_pid(pid)) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&names.lock);
    int err = 0;
    struct proc *p = NULL;
    if (*find(name))
        err = EEXIST;
    else if (!(p = proc_lock_pid(pid)))
        err = ESRCH;
    else if (!is_none(p->registered))
        err = EEXIST;
    struct name_entry *e = err ? NULL : malloc(sizeof *e);
    if (!err && !e)
        err = ENOMEM;
    if (!err) {
        *e = (struct name_entry){*bucket(name), name, pid};
        *bucket(name) = e;
        changed();
        p->registered = name;
        atomic_store(&p->named, true);
    }
    if (p)
        lock_give(&p->lock);
    pthread_mutex_unlock(&names.lock);
    if (err)
        errno = err;
    return err ? -1 : 0;
}

/* Removes entry *e and clears its process's name. names.lock held. While
 * an entry names a process, that process has not finished exiting (it
 * forgets its name under this lock first), so its slot is still its own. */
static void remove_entry(struct name_entry **e) {
    struct name_entry *gone = *e;
    *e = gone->next;
    changed();
    struct proc *p = proc_slot(gone->pid);
    p->registered = NONE;
    atomic_store(&p->named, false);
    free(gone);
}

int erl_unregister(term name) {
    if (!is_atom(name)) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&names.lock);
    struct name_entry **e = find(name);
    bool found = *e != NULL;
    if (found)
        remove_entry(e);
    pthread_mutex_unlock(&names.lock);
    if (!found)
        errno = ESRCH;
    return found ? 0 : -1;
}

term erl_whereis(term name) {
    if (!is_atom(name))
        return NONE;
    uint64_t now = atomic_load_explicit(&names.generation, memory_order_acquire);
    if (last.generation == now && last.atom == name.u.atom)
        return last.pid;
    pthread_mutex_lock(&names.lock);
    struct name_entry *e = *find(name);
    term pid = e ? e->pid : NONE;
    last.atom = name.u.atom;
    last.pid = pid;
    last.generation = atomic_load_explicit(&names.generation, memory_order_relaxed);
    pthread_mutex_unlock(&names.lock);
    return pid;
}

/* True when t is {Name, Node} with two atoms. */
static bool is_name_at_node(term t) {
    return is_tuple(t) && t.size == 2 && is_atom(t.u.elements[0]) && is_atom(t.u.elements[1]);
}

/* {global, Name}: the pid the node layer's global registry has for Name
 * (ESRCH: none, or no node layer). */
static term resolve_global(term name) {
    const struct erl_dist *d = erl_dist_hooks();
    term pid = d && d->global_whereis ? d->global_whereis(name) : NONE;
    if (is_none(pid))
        errno = ESRCH;
    return pid;
}

/* The local pid called name, or NONE with errno ESRCH. */
static term resolve_local(term name) {
    term pid = erl_whereis(name);
    if (is_none(pid))
        errno = ESRCH;
    return pid;
}

/* Speed-up (cast path): a pid or a plain name, what nearly every send
 * names, is told first, before the tuples' shapes; see signal_send_from
 * in mailbox.c for what it gained. */
term erl_resolve(term dest) {
    if (is_pid(dest))
        return dest;
    if (is_atom(dest))
        return resolve_local(dest);
    if (is_tuple(dest) && dest.size == 2 && is_atom_named(element(1, dest), "global") &&
        is_atom(element(2, dest)))
        return resolve_global(element(2, dest));
    if (!is_name_at_node(dest)) {
        errno = EINVAL;
        return NONE;
    }
    if (!term_eq(element(2, dest), erl_node())) {
        errno = ENOTCONN;   /* another node: not reachable without distribution */
        return NONE;
    }
    return resolve_local(element(1, dest));
}

void registry_forget(struct proc *p) {
    if (!atomic_load(&p->named))
        return;     /* most processes have no name: skip the lock */
    pthread_mutex_lock(&names.lock);
    if (!is_none(p->registered)) {  /* erl_unregister may have been first */
        struct name_entry **e = find(p->registered);
        if (*e && term_eq((*e)->pid, p->pid))
            remove_entry(e);
    }
    pthread_mutex_unlock(&names.lock);
}

term registry_name_of(struct proc *p, term pid) {
    pthread_mutex_lock(&names.lock);
    term name = term_eq(p->pid, pid) ? p->registered : NONE;
    pthread_mutex_unlock(&names.lock);
    return name;
}

size_t erl_registered(void (*fn)(term name, term pid, void *ctx), void *ctx) {
    /* Copy first: fn may send, and sends look names up. */
    pthread_mutex_lock(&names.lock);
    size_t n = 0;
    for (size_t b = 0; b < BUCKETS; b++)
        for (struct name_entry *e = names.buckets[b]; e; e = e->next)
            n++;
    struct name_entry *copy = malloc((n ? n : 1) * sizeof *copy);
    size_t i = 0;
    for (size_t b = 0; copy && b < BUCKETS; b++)
        for (struct name_entry *e = names.buckets[b]; e; e = e->next)
            copy[i++] = *e;
    pthread_mutex_unlock(&names.lock);
    if (!copy)
        return 0;
    for (i = 0; fn && i < n; i++)
        fn(copy[i].name, copy[i].pid, ctx);
    free(copy);
    return n;
}

void registry_clear(void) {
    pthread_mutex_lock(&names.lock);
    for (size_t b = 0; b < BUCKETS; b++) {
        while (names.buckets[b]) {
            struct name_entry *e = names.buckets[b];
            names.buckets[b] = e->next;
            free(e);
        }
    }
    changed();
    pthread_mutex_unlock(&names.lock);
}
