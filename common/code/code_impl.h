/*
 * code_impl.h - the code server's tables, shared by code.c (loading and
 * purging) and code_run.c (the processes that run modules).
 *
 * Everything here lives in host memory and is guarded by code_tables.lock.
 * The lock is never held while waiting for a process, nor while a module's
 * callback runs.
 *
 * Invariants (under the lock):
 *   - A version is in its slot (current or old) from its load until it is
 *     unloaded; a version not in a slot is being unloaded and is never
 *     looked up again.
 *   - A version is unloaded only when it is out of its slot, no live process
 *     is registered as running it, and pins == 0. purge sets dying first, and
 *     nothing registers a process as running a dying version.
 */
#ifndef CODE_IMPL_H
#define CODE_IMPL_H

#include <pthread.h>

#include "code.h"

/* One loaded version of a module. */
struct code_version {
    unsigned id;                        /* unique for the program's life */
    const char *module;                 /* the module's name (an atom's) */
    long vsn;                           /* the table's version number */
    bool dying;                         /* purge is unloading it */
    int pins;                           /* callers holding a pointer to
                                           server across a wait */
    void *handle;                       /* dlopen's */
    int text_slot;                      /* its erl_user_text's slot in
                                           preemption's table, or -1: not
                                           preemptible (none, or full) */
    const struct code_module *table;    /* the object's table */
    struct gen_server_module server;    /* what a gen_server runs: the
                                           object's callbacks with the host's
                                           name, init and code_change */
};

/* A module: its two versions. */
struct code_slot {
    const char *module;                 /* name (an atom's); NULL: free */
    struct code_version *current;       /* or NULL */
    struct code_version *old;           /* or NULL */
};

/* A process and the version it runs. */
struct code_user {
    term pid;                           /* the process */
    struct code_version *v;             /* the version it runs */
};

struct code_tables {
    pthread_mutex_t lock;               /* guards everything below */
    struct code_slot slots[CODE_MAX_MODULES];   /* the modules */
    struct code_user *users;            /* registrations, oldest first */
    size_t n_users;                     /* entries in users */
    size_t cap_users;                   /* room in users */
    unsigned next_id;                   /* the next version's id */
};

extern struct code_tables code_tables;

/* ---- Under the lock ------------------------------------------------------ */

/* The slot of module (an atom's name), or NULL. */
struct code_slot *code_slot_of(const char *module);

/* The loaded version with id, or NULL. */
struct code_version *code_version_by_id(unsigned id);

/* Records that pid runs v (replacing what it ran). Returns 0, or -1 with
 * errno ENOMEM. */
int code_register(term pid, struct code_version *v);

/* The version pid is registered as running, or NULL. */
struct code_version *code_version_of(term pid);

/* ---- Outside the lock ---------------------------------------------------- */

/* Finds the section erl_user_text in the shared object open at fd (its
 * address in the file's layout, not yet moved by the load base). Returns
 * 0 with *addr and *size, or -1 when the file has none or is not a 64-bit
 * x86-64 ELF shared object (code_text.c). */
int code_user_text(int fd, uintptr_t *addr, size_t *size);


/* Sets *error (when error is not NULL) to a copy of e in the caller's heap.
 * This function can't fail (term_keep panics when memory runs out). */
void code_set_error(term *error, term e);

/* Drops one pin of v (taken under the lock). */
void code_unpin(struct code_version *v);

/* The callbacks struct code_version.server points at (code_run.c). */
gen_result code_shim_init(term args);
gen_result code_shim_change(term old_vsn, term state, term extra);

#endif
