/*
 * registry.c - registered names: register/2, unregister/1, whereis/1.
 *
 * One table for the node, guarded by one lock. A process's name goes when
 * the process does.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
    struct name_entry *buckets[BUCKETS];
} names = {.lock = PTHREAD_MUTEX_INITIALIZER};

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
        p->registered = name;
        atomic_store(&p->named, true);
    }
    if (p)
        pthread_mutex_unlock(&p->lock);
    pthread_mutex_unlock(&names.lock);
    errno = err;
    return err ? -1 : 0;
}

/* Removes entry *e and clears its process's name. names.lock held. */
static void remove_entry(struct name_entry **e) {
    struct name_entry *gone = *e;
    *e = gone->next;
    struct proc *p = proc_lock_pid(gone->pid);
    if (p) {
        p->registered = NONE;
        atomic_store(&p->named, false);
        pthread_mutex_unlock(&p->lock);
    }
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
    pthread_mutex_lock(&names.lock);
    struct name_entry *e = *find(name);
    term pid = e ? e->pid : NONE;
    pthread_mutex_unlock(&names.lock);
    return pid;
}

void registry_forget(struct proc *p) {
    if (!atomic_load(&p->named))
        return;     /* most processes have no name: skip the lock */
    pthread_mutex_lock(&names.lock);
    term name = p->registered;
    if (!is_none(name)) {
        struct name_entry **e = find(name);
        struct name_entry *gone = *e;
        *e = gone->next;
        free(gone);
        p->registered = NONE;
        atomic_store(&p->named, false);
    }
    pthread_mutex_unlock(&names.lock);
}

term registry_name_of(term pid) {
    pthread_mutex_lock(&names.lock);
    term name = NONE;
    for (size_t b = 0; b < BUCKETS && is_none(name); b++)
        for (struct name_entry *e = names.buckets[b]; e; e = e->next)
            if (term_eq(e->pid, pid))
                name = e->name;
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
    pthread_mutex_unlock(&names.lock);
}
