/*
 * supervisor_spec.c - what a supervisor's children are made of: its memory,
 * the names of its enums on the wire, the children table, child specs on
 * the wire and the checking of supervisor_start's flags and specs.
 * See supervisor.h for the contract, supervisor_internal.h for the split.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "panic.h"
#include "supervisor_internal.h"

/* ---- Memory -------------------------------------------------------------- */

/*
 * Everything a supervisor keeps lives in its own process heap, never in
 * malloc's: the core frees a process's heap when the process ends, however
 * it ends, so even a supervisor killed outright (exit(Sup, kill), erl_stop)
 * leaves nothing behind. Terms are kept with term_keep and given back with
 * erl_drop; other memory is a kept binary, from sup_alloc.
 */

/* n zeroed bytes in the caller's process heap, 8-byte aligned. This
 * function can't fail (it panics when memory runs out). */
void *sup_alloc(size_t n)
{
    n = n ? n : 1;
    void *zeros = calloc(1, n);
    if (!zeros)
        panic("supervisor: out of memory (%zu bytes)", n);
    term block = term_keep(term_binary(zeros, n));
    free(zeros);
    return (void *)block.u.bytes;
}

/* Gives back p, which sup_alloc(n) returned; NULL does nothing. */
void sup_free(void *p, size_t n)
{
    if (p)
        erl_drop(term_binary(p, n ? n : 1));
}

/* Grows p from old to new bytes (a new block; the old one is given back). */
void *sup_grow(void *p, size_t old, size_t new)
{
    void *q = sup_alloc(new);
    if (p)
        memcpy(q, p, old);
    sup_free(p, old);
    return q;
}

/* Gives back everything received or kept since mark but a copy of keep,
 * which it returns: a block of its own, which erl_drop frees. */
term sup_settle(erl_heap_mark_t mark, term keep)
{
    size_t n = term_heap_size(keep);
    void *tmp = n ? malloc(n) : NULL;
    if (n && !tmp)
        panic("supervisor: out of memory (%zu bytes)", n);
    term copy = n ? term_copy_into(keep, tmp) : keep;
    erl_heap_release(mark);
    term k = term_keep(copy);
    free(tmp);
    return k;
}

int64_t sup_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- Names of the enums on the wire -------------------------------------- */

term sup_strategy_atom(enum sup_strategy s)
{
    switch (s) {
    case SUP_ONE_FOR_ONE: return ATOM("one_for_one");
    case SUP_ONE_FOR_ALL: return ATOM("one_for_all");
    case SUP_REST_FOR_ONE: return ATOM("rest_for_one");
    case SUP_SIMPLE_ONE_FOR_ONE: return ATOM("simple_one_for_one");
    }
    return INT(s);      /* not a strategy: the check names it */
}

static term restart_atom(enum sup_restart r)
{
    switch (r) {
    case SUP_PERMANENT: return ATOM("permanent");
    case SUP_TRANSIENT: return ATOM("transient");
    case SUP_TEMPORARY: return ATOM("temporary");
    }
    return INT(r);      /* not a restart type: the check names it */
}

term sup_type_atom(enum sup_child_type t)
{
    switch (t) {
    case SUP_WORKER: return ATOM("worker");
    case SUP_SUPERVISOR: return ATOM("supervisor");
    }
    return INT(t);      /* not a child type: the check names it */
}

static term shutdown_term(int shutdown)
{
    if (shutdown == SUP_BRUTAL_KILL)
        return ATOM("brutal_kill");
    if (shutdown == SUP_INFINITY)
        return ATOM("infinity");
    return INT(shutdown);
}

/* Finds t among the atoms names[0..n). Returns its index, or -1. */
int sup_atom_index(term t, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (is_atom_named(t, names[i]))
            return i;
    return -1;
}

/* ---- The children table -------------------------------------------------- */

void sup_child_free(struct child *c)
{
    erl_drop(c->id);
    erl_drop(c->arg);
    sup_free(c, sizeof *c);
}

void sup_kids_append(struct sup *s, struct child *c)
{
    if (s->nkids == s->kids_cap) {
        size_t cap = s->kids_cap ? 2 * s->kids_cap : 8;
        s->kids = sup_grow(s->kids, s->kids_cap * sizeof *s->kids, cap * sizeof *s->kids);
        s->kids_cap = cap;
    }
    s->kids[s->nkids++] = c;
}

/* Forgets child i and frees it. */
void sup_kids_remove(struct sup *s, size_t i)
{
    sup_child_free(s->kids[i]);
    memmove(s->kids + i, s->kids + i + 1, (s->nkids - i - 1) * sizeof *s->kids);
    s->nkids--;
}

/* The index of the child named id, or -1. */
ssize_t sup_kid_by_id(const struct sup *s, term id)
{
    for (size_t i = 0; i < s->nkids; i++)
        if (term_eq(s->kids[i]->id, id))
            return (ssize_t)i;
    return -1;
}

/* The index of the running child pid, or -1. */
ssize_t sup_kid_by_pid(const struct sup *s, term pid)
{
    for (size_t i = 0; i < s->nkids; i++)
        if (s->kids[i]->state == CHILD_RUNNING && term_eq(s->kids[i]->pid, pid))
            return (ssize_t)i;
    return -1;
}

/* The index of the simple_one_for_one instance that runs as pid, or ran as
 * pid and waits for a restart; -1 if there is none. */
ssize_t sup_instance_by_pid(const struct sup *s, term pid)
{
    for (size_t i = 0; i < s->nkids; i++)
        if (s->kids[i]->state != CHILD_STOPPED && term_eq(s->kids[i]->pid, pid))
            return (ssize_t)i;
    return -1;
}

ssize_t sup_kid_index(const struct sup *s, const struct child *c)
{
    for (size_t i = 0; i < s->nkids; i++)
        if (s->kids[i] == c)
            return (ssize_t)i;
    panic("supervisor: a child is missing from its own table");
}

/* Temporary children and simple_one_for_one instances are forgotten once
 * they stop; the others keep their spec. */
bool sup_forgotten_when_stopped(const struct sup *s, const struct child *c)
{
    return c->restart == SUP_TEMPORARY || s->template != NULL;
}

/* OTP's del_child: c is not running any more; forget it or keep its spec. */
void sup_child_del(struct sup *s, struct child *c)
{
    if (sup_forgotten_when_stopped(s, c)) {
        sup_kids_remove(s, (size_t)sup_kid_index(s, c));
        return;
    }
    c->state = CHILD_STOPPED;
    c->pid = NONE;
}

/* ---- Child specs on the wire --------------------------------------------- */

/*
 * Writes spec's wire form, {Id, {c, Start, Arg}, Restart, Shutdown, Type, []},
 * into v (9 terms: the tuple's 6 elements, then the start tuple's 3) and
 * returns it; it is valid as long as v and spec are.
 */
term sup_spec_to_term(const struct sup_child_spec *spec, term v[9])
{
    v[6] = ATOM("c");
    v[7] = INT((int64_t)(intptr_t)spec->start);
    v[8] = spec->arg;
    v[0] = spec->id;
    v[1] = term_tuple(v + 6, 3);
    v[2] = restart_atom(spec->restart);
    v[3] = shutdown_term(spec->shutdown);
    v[4] = sup_type_atom(spec->type);
    v[5] = NIL;
    return term_tuple(v, 6);
}

/* Reads brutal_kill | infinity | Millis. Returns false for anything else. */
static bool shutdown_from_term(term t, int *shutdown)
{
    if (is_atom_named(t, "brutal_kill"))
        *shutdown = SUP_BRUTAL_KILL;
    else if (is_atom_named(t, "infinity"))
        *shutdown = SUP_INFINITY;
    else if (is_int(t) && t.u.integer >= 0 && t.u.integer <= INT32_MAX)
        *shutdown = (int)t.u.integer;
    else
        return false;
    return true;
}

/* What is wrong with the wire child spec t, as OTP's check_childspec finds
 * it, in its order: {invalid_child_spec, T}, {invalid_child_type, Type},
 * {invalid_mfa, {c, Start, Arg}}, {invalid_restart_type, Restart},
 * {invalid_shutdown, Shutdown} or {invalid_modules, Modules}. Returns NONE
 * when t is a child spec, else the reason, kept: the caller erl_drops it. */
term sup_spec_problem(term t)
{
    static const char *const restarts[] = {"permanent", "transient", "temporary"};
    static const char *const types[] = {"worker", "supervisor"};
    term id, start, addr, rs, sd, ty, mods;
    int shutdown;
    if (!match(t, TUPLE(VAR(&id), VAR(&start), VAR(&rs), VAR(&sd), VAR(&ty), VAR(&mods))))
        return term_keep(TUPLE(ATOM("invalid_child_spec"), t));
    if (sup_atom_index(ty, types, 2) < 0)
        return term_keep(TUPLE(ATOM("invalid_child_type"), ty));
    if (!match(start, TUPLE(ATOM("c"), VAR(&addr), ANY)) || !is_int(addr) ||
        addr.u.integer == 0)
        return term_keep(TUPLE(ATOM("invalid_mfa"), start));
    if (sup_atom_index(rs, restarts, 3) < 0)
        return term_keep(TUPLE(ATOM("invalid_restart_type"), rs));
    if (!shutdown_from_term(sd, &shutdown))
        return term_keep(TUPLE(ATOM("invalid_shutdown"), sd));
    if (!is_list(mods))
        return term_keep(TUPLE(ATOM("invalid_modules"), mods));
    return NONE;
}

/* Reads a wire child spec into a new child (stopped), copying what it needs.
 * Returns it, or NULL with *why set (kept, for the caller to erl_drop) to
 * what sup_spec_problem finds wrong with t. */
struct child *sup_spec_from_term(term t, term *why)
{
    static const char *const restarts[] = {"permanent", "transient", "temporary"};
    static const char *const types[] = {"worker", "supervisor"};
    term id, addr, arg, rs, sd, ty;
    int shutdown;
    *why = sup_spec_problem(t);
    if (!is_none(*why))
        return NULL;
    match(t, TUPLE(VAR(&id), TUPLE(ATOM("c"), VAR(&addr), VAR(&arg)),
                   VAR(&rs), VAR(&sd), VAR(&ty), ANY));
    shutdown_from_term(sd, &shutdown);
    struct child *c = sup_alloc(sizeof *c);
    *c = (struct child){
        .id = term_keep(id), .arg = term_keep(arg),
        .start = (sup_start_fn)(intptr_t)addr.u.integer,
        .restart = (enum sup_restart)sup_atom_index(rs, restarts, 3),
        .shutdown = shutdown,
        .type = (enum sup_child_type)sup_atom_index(ty, types, 2),
        .state = CHILD_STOPPED, .pid = NONE,
    };
    return c;
}

/*
 * Writes c as OTP's #child{} record into v (14 terms) and returns it:
 *   {child, Pid, Id, {c, Start, Arg}, Restart, false, Shutdown, Type, []}
 * Pid is the pid, undefined, or {restarting, OldPid}; false is OTP's
 * significant (a C supervisor has no auto_shutdown). Valid as long as v
 * and c are.
 */
term sup_child_record(const struct child *c, term v[14])
{
    v[9] = ATOM("c");
    v[10] = INT((int64_t)(intptr_t)c->start);
    v[11] = c->arg;
    v[12] = ATOM("restarting");
    v[13] = c->pid;
    v[0] = ATOM("child");
    v[1] = c->state == CHILD_RUNNING ? c->pid
         : c->state == CHILD_RESTARTING ? term_tuple(v + 12, 2)
         : ATOM("undefined");
    v[2] = c->id;
    v[3] = term_tuple(v + 9, 3);
    v[4] = restart_atom(c->restart);
    v[5] = ATOM("false");
    v[6] = shutdown_term(c->shutdown);
    v[7] = sup_type_atom(c->type);
    v[8] = NIL;
    return term_tuple(v, 9);
}

/* A new instance of the simple_one_for_one template: its arg is the
 * template's list with extra appended. Returns NULL if extra is no list. */
struct child *sup_instance_new(const struct child *t, term extra)
{
    if (!is_list(extra))
        return NULL;
    size_t n1 = t->arg.size, n2 = extra.size;
    size_t size = (n1 + n2 + 1) * sizeof(term);     /* and the tail */
    term *v = sup_alloc(size);
    if (n1)
        memcpy(v, t->arg.u.elements, n1 * sizeof *v);
    if (n2)
        memcpy(v + n1, extra.u.elements, n2 * sizeof *v);
    v[n1 + n2] = NIL;
    struct child *c = sup_alloc(sizeof *c);
    *c = *t;
    c->id = ATOM("undefined");
    c->arg = term_keep(term_list(v, n1 + n2));
    sup_free(v, size);
    return c;
}

/* {start_spec, Why} for the first spec in the list specs that is no child
 * spec, or that repeats an earlier one's id; {bad_start_spec, Specs} when
 * simple_one_for_one does not have exactly one, and {start_spec,
 * {invalid_mfa, Start}} when its arg is no list (start_child appends to
 * it). NONE when they are fine. */
static term specs_problem(enum sup_strategy strategy, term specs)
{
    bool simple = strategy == SUP_SIMPLE_ONE_FOR_ONE;
    if (simple && specs.size != 1)
        return term_keep(TUPLE(ATOM("bad_start_spec"), specs));
    for (size_t i = 0; i < specs.size; i++) {
        term spec = specs.u.elements[i], why = sup_spec_problem(spec);
        if (is_none(why) && simple && !is_list(element(3, element(2, spec))))
            why = term_keep(TUPLE(ATOM("invalid_mfa"), element(2, spec)));
        for (size_t j = 0; j < i && is_none(why) && !simple; j++)
            if (term_eq(element(1, specs.u.elements[j]), element(1, spec)))
                why = term_keep(TUPLE(ATOM("duplicate_child_name"), element(1, spec)));
        if (!is_none(why))
            return term_keep(TUPLE(ATOM("start_spec"), why));
    }
    return NONE;
}

/* What is wrong with supervisor_start's flags and (wire) specs, as OTP's
 * init finds it, or NONE. The answer is kept in the caller's heap. */
term sup_start_args_problem(struct sup_flags f, term specs)
{
    if ((unsigned)f.strategy > SUP_SIMPLE_ONE_FOR_ONE)
        return term_keep(TUPLE(ATOM("supervisor_data"),
                               TUPLE(ATOM("invalid_strategy"), INT(f.strategy))));
    if (f.intensity < 0)
        return term_keep(TUPLE(ATOM("supervisor_data"),
                               TUPLE(ATOM("invalid_intensity"), INT(f.intensity))));
    if (f.period_s < 1)
        return term_keep(TUPLE(ATOM("supervisor_data"),
                               TUPLE(ATOM("invalid_period"), INT(f.period_s))));
    return specs_problem(f.strategy, specs);
}
