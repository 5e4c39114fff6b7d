/*
 * supervisor_internal.h - what the supervisor's files share; not for stages.
 *
 * The supervisor is split by concept:
 *   supervisor_spec.c     memory, the names of things on the wire, the
 *                         children table, child specs on the wire and their
 *                         checking
 *   supervisor_child.c    reports; starting and stopping one child, and
 *                         stopping many (shutdown)
 *   supervisor_restart.c  restart intensity and the four strategies
 *   supervisor_server.c   the supervisor process: init, its loop, the calls
 *   supervisor_sys.c      what it answers the sys module: its state, its
 *                         status, suspend and resume
 *   supervisor.c          the client side (supervisor.h), printing a tree
 *
 * All the state of one supervisor (struct sup, its children) lives on its
 * process's stack and in its process heap, which only that process touches:
 * no locks. The only shared variable is where reports go.
 */
#ifndef SUPERVISOR_INTERNAL_H
#define SUPERVISOR_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "supervisor.h"

/* ---- The children table -------------------------------------------------- */

enum child_state {
    CHILD_STOPPED,      /* not running: OTP's pid undefined */
    CHILD_RUNNING,      /* pid runs, or its 'EXIT' is on its way */
    CHILD_RESTARTING,   /* a restart failed and another try is queued */
};

/* One child: its spec and what it is doing now. */
struct child {
    term id;                    /* its id, kept; undefined for instances */
    term arg;                   /* what start is given, kept */
    sup_start_fn start;         /* starts it, linked to the supervisor */
    enum sup_restart restart;   /* when it is restarted */
    int shutdown;               /* ms, SUP_BRUTAL_KILL or SUP_INFINITY */
    enum sup_child_type type;   /* worker or supervisor */
    enum child_state state;     /* see enum child_state */
    term pid;                   /* RUNNING: the child; STOPPED after an exit
                                   and RESTARTING: the one that died (it
                                   names an instance); else NONE */
};

/* One supervisor. Only its own process touches it. */
struct sup {
    term self;                  /* this supervisor's pid */
    term parent;                /* who started it: its 'EXIT' stops us */
    term name;                  /* registered name, or NONE */
    struct sup_flags flags;     /* strategy, intensity, period */
    int64_t *restarts;          /* when the recent restarts were (ms,
                                   monotonic), oldest first */
    size_t nrestarts;           /* entries in restarts */
    size_t restarts_cap;        /* room in restarts */
    struct child **kids;        /* the children, oldest started first */
    size_t nkids;               /* entries in kids */
    size_t kids_cap;            /* room in kids */
    struct child *template;     /* simple_one_for_one: what instances copy;
                                   NULL for the other strategies */
    bool suspended;             /* sys_suspend: only system messages and
                                   the parent's 'EXIT' are handled */
};

/* ---- supervisor_spec.c --------------------------------------------------- */

/* n zeroed bytes in the caller's process heap, 8-byte aligned; sup_free
 * gives them back, sup_grow makes a larger copy. These can't fail (they
 * panic when memory runs out). */
void *sup_alloc(size_t n);
void sup_free(void *p, size_t n);
void *sup_grow(void *p, size_t old, size_t new);
/* Gives back everything received or kept since mark but a copy of keep,
 * which it returns: a block of its own. This function can't fail. */
term sup_settle(erl_heap_mark_t mark, term keep);
/* The monotonic clock in ms. This function can't fail. */
int64_t sup_now_ms(void);

/* The atoms of the enums on the wire; sup_atom_index finds t among the atoms
 * names[0..n) and returns its index, or -1. */
term sup_strategy_atom(enum sup_strategy s);
term sup_type_atom(enum sup_child_type t);
int sup_atom_index(term t, const char *const *names, int n);

/* The table. kid_by_id, kid_by_pid (running children) and instance_by_pid
 * (running or waiting for a restart) return an index or -1; kid_index
 * panics when c is not in the table. child_del is OTP's del_child: c is
 * not running any more, and is forgotten (temporary children, instances)
 * or kept, stopped. */
void sup_child_free(struct child *c);
void sup_kids_append(struct sup *s, struct child *c);
void sup_kids_remove(struct sup *s, size_t i);
ssize_t sup_kid_by_id(const struct sup *s, term id);
ssize_t sup_kid_by_pid(const struct sup *s, term pid);
ssize_t sup_instance_by_pid(const struct sup *s, term pid);
ssize_t sup_kid_index(const struct sup *s, const struct child *c);
bool sup_forgotten_when_stopped(const struct sup *s, const struct child *c);
void sup_child_del(struct sup *s, struct child *c);

/* Child specs on the wire: sup_spec_to_term writes spec's wire form into v
 * (valid as long as v and spec are); an enum out of range goes as its
 * integer, for the check to name. sup_spec_problem says what is wrong with
 * a wire spec, as OTP's check_childspec ({invalid_child_type, T}, ...), or
 * returns NONE; sup_spec_from_term reads one into a new stopped child, or
 * returns NULL with *why set to that problem (kept: erl_drop it).
 * sup_child_record writes c as OTP's #child{} record into v.
 * sup_instance_new makes a simple_one_for_one instance of t with extra
 * appended to its args, or returns NULL when extra is no list. */
term sup_spec_to_term(const struct sup_child_spec *spec, term v[9]);
term sup_spec_problem(term t);
struct child *sup_spec_from_term(term t, term *why);
term sup_child_record(const struct child *c, term v[14]);
struct child *sup_instance_new(const struct child *t, term extra);
/* What is wrong with supervisor_start's flags and wire specs, as OTP's init
 * finds it ({supervisor_data, _}, {start_spec, _}, {bad_start_spec, _}), or
 * NONE. The answer is kept in the caller's heap. */
term sup_start_args_problem(struct sup_flags f, term specs);

/* ---- supervisor_child.c -------------------------------------------------- */

/* Reports, as OTP's logger writes them, to where supervisor_set_report said. */
void sup_report(const struct sup *s, const char *context, term reason,
                const struct child *c);
void sup_report_unexpected(const struct sup *s, term msg);

enum { START_FAILED = -1, START_IGNORED = 0, START_OK = 1 };

/* Runs c's start function in this process. Returns START_OK with c running,
 * START_IGNORED, or START_FAILED with *reason set to a kept copy the caller
 * must erl_drop; c is left as it was but on START_OK. */
int sup_child_start(struct child *c, term *reason);
/* OTP's unlink_flush: unlinks pid and takes its 'EXIT' (into *msg, NONE if
 * none); returns its reason, or reason when there was none. */
term sup_unlink_flush(term pid, term reason, term *msg);
/* normal, shutdown and {shutdown, _}. */
bool sup_is_normal_end(term reason);
/* Stops one child as its shutdown says and waits for it; c is STOPPED. */
void sup_child_stop(const struct sup *s, struct child *c);
/* Stops the children from index from on, newest first; the ones forgotten
 * when stopped are removed. */
void sup_kids_stop_from(struct sup *s, size_t from);
/* Stops every simple_one_for_one instance under one deadline, forgets them. */
void sup_instances_stop_all(struct sup *s);

/* ---- supervisor_restart.c ------------------------------------------------ */

/* Restarts c (not running) and what the strategy takes along. Returns false
 * when that is one restart too many: the supervisor must give up. */
bool sup_restart(struct sup *s, struct child *c);
/* OTP's do_restart: the running child c exited with reason. Returns false
 * when the supervisor must give up. */
bool sup_child_exited(struct sup *s, struct child *c, term reason);

/* ---- supervisor_sys.c ---------------------------------------------------- */

/* Answers one system message {system, {From, Tag}, Req} but terminate
 * (which the loop handles): get_state, get_status, suspend, resume; any
 * other gets {error, {unknown_system_msg, Req}}. This function can't fail. */
void sup_system(struct sup *s, term from, term tag, term req);

/* ---- supervisor_server.c ------------------------------------------------- */

/* The supervisor process's body; supervisor_start spawns it with
 * {Parent, Name, {Strategy, Intensity, Period}, Specs}. */
void sup_main(term arg);

#endif
