/*
 * supervisor.c - the supervisor behaviour, as OTP's supervisor.
 * See supervisor.h for the contract.
 *
 * Low level to high level:
 *   memory, the names of things on the wire, reports;
 *   the children table;
 *   starting and stopping one child;
 *   restarts: intensity, then the strategies;
 *   child specs on the wire;
 *   the calls;
 *   the supervisor process: init, then a loop that dispatches each message;
 *   the client side, and printing a tree.
 *
 * All the state of one supervisor (struct sup, its children) lives on its
 * process's stack and in its process heap, which only that process touches:
 * no locks. The only shared variable is where reports go.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "gen_server.h"
#include "panic.h"
#include "supervisor.h"

/* ---- Memory -------------------------------------------------------------- */

/*
 * Everything a supervisor keeps lives in its own process heap, never in
 * malloc's: the core frees a process's heap when the process ends, however
 * it ends, so even a supervisor killed outright (exit(Sup, kill), erl_stop)
 * leaves nothing behind. Terms are kept with term_keep and given back with
 * erl_drop; other memory is a kept binary, from heap_alloc.
 */

/* n zeroed bytes in the caller's process heap, 8-byte aligned. This
 * function can't fail (it panics when memory runs out). */
static void *heap_alloc(size_t n)
{
    n = n ? n : 1;
    void *zeros = calloc(1, n);
    if (!zeros)
        panic("supervisor: out of memory (%zu bytes)", n);
    term block = term_keep(term_binary(zeros, n));
    free(zeros);
    return (void *)block.u.bytes;
}

/* Gives back p, which heap_alloc(n) returned; NULL does nothing. */
static void heap_free(void *p, size_t n)
{
    if (p)
        erl_drop(term_binary(p, n ? n : 1));
}

/* Grows p from old to new bytes (a new block; the old one is given back). */
static void *heap_grow(void *p, size_t old, size_t new)
{
    void *q = heap_alloc(new);
    if (p)
        memcpy(q, p, old);
    heap_free(p, old);
    return q;
}

/* Gives back everything received or kept since mark but a copy of keep,
 * which it returns: a block of its own, which erl_drop frees. */
static term settle(erl_heap_mark_t mark, term keep)
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

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- Names of the enums on the wire -------------------------------------- */

static term strategy_atom(enum sup_strategy s)
{
    switch (s) {
    case SUP_ONE_FOR_ONE: return ATOM("one_for_one");
    case SUP_ONE_FOR_ALL: return ATOM("one_for_all");
    case SUP_REST_FOR_ONE: return ATOM("rest_for_one");
    case SUP_SIMPLE_ONE_FOR_ONE: return ATOM("simple_one_for_one");
    }
    return ATOM("undefined");
}

static term restart_atom(enum sup_restart r)
{
    switch (r) {
    case SUP_PERMANENT: return ATOM("permanent");
    case SUP_TRANSIENT: return ATOM("transient");
    case SUP_TEMPORARY: return ATOM("temporary");
    }
    return ATOM("undefined");
}

static term type_atom(enum sup_child_type t)
{
    return t == SUP_SUPERVISOR ? ATOM("supervisor") : ATOM("worker");
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
static int atom_index(term t, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (is_atom_named(t, names[i]))
            return i;
    return -1;
}

/* ---- Reports ------------------------------------------------------------- */

/* Where reports go. report_chosen stays false until supervisor_set_report is
 * first called: until then reports go to stderr. Atomic because any
 * supervisor process, on any scheduler thread, reads them. */
static FILE *_Atomic report_out;
static atomic_bool report_chosen;

void supervisor_set_report(FILE *out)
{
    atomic_store(&report_out, out);
    atomic_store(&report_chosen, true);
}

static FILE *report_file(void)
{
    return atomic_load(&report_chosen) ? atomic_load(&report_out) : stderr;
}

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
};

static void child_free(struct child *c)
{
    erl_drop(c->id);
    erl_drop(c->arg);
    heap_free(c, sizeof *c);
}

static void kids_append(struct sup *s, struct child *c)
{
    if (s->nkids == s->kids_cap) {
        size_t cap = s->kids_cap ? 2 * s->kids_cap : 8;
        s->kids = heap_grow(s->kids, s->kids_cap * sizeof *s->kids, cap * sizeof *s->kids);
        s->kids_cap = cap;
    }
    s->kids[s->nkids++] = c;
}

/* Forgets child i and frees it. */
static void kids_remove(struct sup *s, size_t i)
{
    child_free(s->kids[i]);
    memmove(s->kids + i, s->kids + i + 1, (s->nkids - i - 1) * sizeof *s->kids);
    s->nkids--;
}

/* The index of the child named id, or -1. */
static ssize_t kid_by_id(const struct sup *s, term id)
{
    for (size_t i = 0; i < s->nkids; i++)
        if (term_eq(s->kids[i]->id, id))
            return (ssize_t)i;
    return -1;
}

/* The index of the running child pid, or -1. */
static ssize_t kid_by_pid(const struct sup *s, term pid)
{
    for (size_t i = 0; i < s->nkids; i++)
        if (s->kids[i]->state == CHILD_RUNNING && term_eq(s->kids[i]->pid, pid))
            return (ssize_t)i;
    return -1;
}

/* The index of the simple_one_for_one instance that runs as pid, or ran as
 * pid and waits for a restart; -1 if there is none. */
static ssize_t instance_by_pid(const struct sup *s, term pid)
{
    for (size_t i = 0; i < s->nkids; i++)
        if (s->kids[i]->state != CHILD_STOPPED && term_eq(s->kids[i]->pid, pid))
            return (ssize_t)i;
    return -1;
}

static ssize_t kid_index(const struct sup *s, const struct child *c)
{
    for (size_t i = 0; i < s->nkids; i++)
        if (s->kids[i] == c)
            return (ssize_t)i;
    panic("supervisor: a child is missing from its own table");
}

/* Temporary children and simple_one_for_one instances are forgotten once
 * they stop; the others keep their spec. */
static bool forgotten_when_stopped(const struct sup *s, const struct child *c)
{
    return c->restart == SUP_TEMPORARY || s->template != NULL;
}

/* OTP's del_child: c is not running any more; forget it or keep its spec. */
static void child_del(struct sup *s, struct child *c)
{
    if (forgotten_when_stopped(s, c)) {
        kids_remove(s, (size_t)kid_index(s, c));
        return;
    }
    c->state = CHILD_STOPPED;
    c->pid = NONE;
}

/* ---- Reports (need the child) -------------------------------------------- */

/* Writes one report as OTP's logger does, in one piece. */
static void report(const struct sup *s, const char *context, term reason,
                   const struct child *c)
{
    FILE *out = report_file();
    if (!out)
        return;
    char who[128], why[512], id[128], pid[64];
    term_format(who, sizeof who, is_none(s->name) ? s->self : s->name);
    term_format(why, sizeof why, reason);
    term_format(id, sizeof id, c ? c->id : ATOM("undefined"));
    term_format(pid, sizeof pid, c && !is_none(c->pid) ? c->pid : ATOM("undefined"));
    fprintf(out, "=SUPERVISOR REPORT====\n"
                 "    supervisor: %s\n"
                 "    errorContext: %s\n"
                 "    reason: %s\n"
                 "    offender: [{pid,%s},{id,%s}]\n",
            who, context, why, pid, id);
}

static void report_unexpected(const struct sup *s, term msg)
{
    FILE *out = report_file();
    if (!out)
        return;
    char who[128], what[512];
    term_format(who, sizeof who, is_none(s->name) ? s->self : s->name);
    term_format(what, sizeof what, msg);
    fprintf(out, "=ERROR REPORT==== supervisor %s received unexpected "
                 "message: %s\n", who, what);
}

/* ---- Starting and stopping one child ------------------------------------- */

enum { START_FAILED = -1, START_IGNORED = 0, START_OK = 1 };

/*
 * Runs c's start function here, in the supervisor's process (which is why a
 * child can link to it). Returns START_OK with c running, START_IGNORED, or
 * START_FAILED with *reason set to a kept copy the caller must erl_drop.
 * Whatever the start function left in this process's heap is given back.
 * On IGNORED and FAILED, c is left as it was.
 */
static int child_start(struct child *c, term *reason)
{
    erl_heap_mark_t mark = erl_heap_mark();
    term err = NONE;
    term pid = c->start(c->arg, &err);
    if (is_pid(pid)) {
        erl_heap_release(mark);
        c->state = CHILD_RUNNING;
        c->pid = pid;
        return START_OK;
    }
    if (is_none(pid) && is_atom_named(err, "ignore")) {
        erl_heap_release(mark);
        return START_IGNORED;
    }
    if (!is_none(pid))
        *reason = settle(mark, TUPLE(ATOM("bad_return_value"), pid));
    else
        *reason = settle(mark, is_none(err) ? ATOM("undefined") : err);
    return START_FAILED;
}

/* OTP's unlink_flush: unlinking makes sure a dead child's 'EXIT' has
 * arrived; takes it (into *msg, for the caller to erl_drop) and returns its
 * reason, or reason when there is none (*msg is NONE then). */
static term unlink_flush(term pid, term reason, term *msg)
{
    term r;
    erl_unlink(pid);
    *msg = erl_receive(TUPLE(ATOM("EXIT"), pid, VAR(&r)), 0);
    return is_none(*msg) ? reason : r;
}

/* normal, shutdown and {shutdown, _}: the ends a transient child may have
 * without being restarted (and without a report). */
static bool is_normal_end(term reason)
{
    return is_atom_named(reason, "normal") || is_atom_named(reason, "shutdown") ||
           (is_tuple(reason) && reason.size == 2 &&
            is_atom_named(element(1, reason), "shutdown"));
}

/* True when a child ended the way a shutdown asked it to, as OTP's
 * shutdown/1 judges: anything else is reported as a shutdown_error. */
static bool ended_as_asked(const struct child *c, term reason, bool brutal)
{
    if (is_atom_named(reason, brutal ? "killed" : "shutdown"))
        return true;
    return c->restart != SUP_PERMANENT && is_normal_end(reason);
}

/*
 * Stops a running child as its shutdown says, and waits until it is gone.
 * A monitor tells us, not its 'EXIT': a child that unlinked itself could
 * otherwise hang the supervisor (OTP does the same). Afterwards c is STOPPED;
 * the caller decides whether to forget it.
 */
static void child_stop(const struct sup *s, struct child *c)
{
    if (c->state != CHILD_RUNNING) {
        c->state = CHILD_STOPPED;
        c->pid = NONE;
        return;
    }
    term pid = c->pid, reason = NONE;
    bool brutal = c->shutdown == SUP_BRUTAL_KILL;
    term mon = erl_monitor(pid);
    term down = TUPLE(ATOM("DOWN"), mon, ATOM("process"), pid, VAR(&reason));
    erl_exit(pid, brutal ? ATOM("kill") : ATOM("shutdown"));
    term down_msg = erl_receive(down, brutal ? ERL_INFINITY : c->shutdown);
    if (is_none(down_msg)) {
        erl_exit(pid, ATOM("kill"));    /* it took longer than allowed */
        down_msg = erl_receive(down, ERL_INFINITY);
    }
    term exit_msg;
    reason = unlink_flush(pid, reason, &exit_msg);
    if (!ended_as_asked(c, reason, brutal))
        report(s, "shutdown_error", reason, c);
    erl_drop(exit_msg);
    erl_drop(down_msg);
    c->state = CHILD_STOPPED;
    c->pid = NONE;
}

/* Stops the children from index from to the last, newest first, as OTP's
 * terminate_children; the ones forgotten when stopped are removed. */
static void kids_stop_from(struct sup *s, size_t from)
{
    for (size_t i = s->nkids; i-- > from;) {
        child_stop(s, s->kids[i]);
        if (forgotten_when_stopped(s, s->kids[i]))
            kids_remove(s, i);
    }
}

/*
 * Stops every simple_one_for_one instance at once, as OTP's
 * terminate_dynamic_children: each is sent its exit signal first, then they
 * are waited for under one deadline, so a thousand slow instances cost one
 * shutdown time, not a thousand.
 */
static void instances_stop_all(struct sup *s)
{
    const struct child *t = s->template;
    bool brutal = t->shutdown == SUP_BRUTAL_KILL;
    term *mons = heap_alloc(s->nkids * sizeof *mons);
    for (size_t i = 0; i < s->nkids; i++) {
        if (s->kids[i]->state != CHILD_RUNNING)
            continue;
        mons[i] = erl_monitor(s->kids[i]->pid);
        erl_exit(s->kids[i]->pid, brutal ? ATOM("kill") : ATOM("shutdown"));
    }
    int64_t deadline = t->shutdown >= 0 ? now_ms() + t->shutdown : -1;
    bool killed = false;
    for (size_t i = 0; i < s->nkids; i++) {
        struct child *c = s->kids[i];
        if (c->state != CHILD_RUNNING)
            continue;
        term reason = NONE;
        term down = TUPLE(ATOM("DOWN"), mons[i], ATOM("process"), c->pid, VAR(&reason));
        int wait = ERL_INFINITY;
        if (deadline >= 0 && !killed) {
            int64_t left = deadline - now_ms();
            wait = left > 0 ? (int)left : 0;
        }
        term down_msg = erl_receive(down, wait);
        if (is_none(down_msg)) {
            for (size_t j = i; j < s->nkids; j++)     /* time is up for all */
                if (s->kids[j]->state == CHILD_RUNNING)
                    erl_exit(s->kids[j]->pid, ATOM("kill"));
            killed = true;
            down_msg = erl_receive(down, ERL_INFINITY);
        }
        term exit_msg;
        reason = unlink_flush(c->pid, reason, &exit_msg);
        if (!ended_as_asked(c, reason, brutal))
            report(s, "shutdown_error", reason, c);
        erl_drop(exit_msg);
        erl_drop(down_msg);
        c->state = CHILD_STOPPED;
    }
    heap_free(mons, s->nkids * sizeof *mons);
    while (s->nkids > 0)
        kids_remove(s, s->nkids - 1);
}

/* ---- Restarts ------------------------------------------------------------ */

/*
 * Records a restart now, forgetting the ones older than the period. Returns
 * false when this one is one too many: intensity restarts are allowed within
 * period_s seconds, as OTP's add_restart counts them.
 */
static bool restart_allowed(struct sup *s)
{
    int64_t now = now_ms(), period = (int64_t)s->flags.period_s * 1000;
    size_t keep = 0;
    for (size_t i = 0; i < s->nrestarts; i++)
        if (now - s->restarts[i] < period)
            s->restarts[keep++] = s->restarts[i];
    s->nrestarts = keep;
    if (s->nrestarts >= (size_t)s->flags.intensity)
        return false;
    if (s->nrestarts == s->restarts_cap) {
        size_t cap = s->restarts_cap ? 2 * s->restarts_cap : 8;
        s->restarts = heap_grow(s->restarts, s->restarts_cap * sizeof *s->restarts,
                                cap * sizeof *s->restarts);
        s->restarts_cap = cap;
    }
    s->restarts[s->nrestarts++] = now;
    return true;
}

/* Asks this supervisor to try c again once it has looked at its mailbox, as
 * OTP's try_again_restart: calls queued meanwhile (a stop, say) come first.
 * An instance is named {restarting, OldPid}, the others by id. */
static void try_again(const struct sup *s, const struct child *c)
{
    term key = s->template ? TUPLE(ATOM("restarting"), c->pid) : c->id;
    erl_send(s->self, TUPLE(ATOM("$gen_cast"), TUPLE(ATOM("try_again_restart"), key)));
}

/* A start failed during a restart: c waits for another try. Drops reason. */
static void restart_failed(const struct sup *s, struct child *c, term reason)
{
    report(s, "start_error", reason, c);
    erl_drop(reason);
    c->state = CHILD_RESTARTING;
    try_again(s, c);
}

/* one_for_one and simple_one_for_one: starts c again, alone. */
static void restart_one(struct sup *s, struct child *c)
{
    term reason = NONE;
    switch (child_start(c, &reason)) {
    case START_OK: break;
    case START_IGNORED: child_del(s, c); break;
    case START_FAILED: restart_failed(s, c, reason); break;
    }
}

/* rest_for_one and one_for_all: stops the children from index from on,
 * newest first, then starts them again in order. A failure leaves that child
 * restarting and the later ones stopped, to be tried again from it. */
static void restart_from(struct sup *s, size_t from)
{
    kids_stop_from(s, from);
    for (size_t i = from; i < s->nkids;) {
        struct child *c = s->kids[i];
        term reason = NONE;
        int r = child_start(c, &reason);
        if (r == START_FAILED) {
            restart_failed(s, c, reason);
            return;
        }
        if (r == START_IGNORED && c->restart == SUP_TEMPORARY)
            kids_remove(s, i);
        else
            i++;
    }
}

/* Restarts c (which is not running) and whatever the strategy takes along.
 * Returns false when that is one restart too many: the supervisor must give
 * up. */
static bool restart(struct sup *s, struct child *c)
{
    if (!restart_allowed(s)) {
        report(s, "shutdown", ATOM("reached_max_restart_intensity"), c);
        child_del(s, c);
        return false;
    }
    switch (s->flags.strategy) {
    case SUP_ONE_FOR_ONE:
    case SUP_SIMPLE_ONE_FOR_ONE: restart_one(s, c); break;
    case SUP_REST_FOR_ONE: restart_from(s, (size_t)kid_index(s, c)); break;
    case SUP_ONE_FOR_ALL: restart_from(s, 0); break;
    }
    return true;
}

/* OTP's do_restart: the running child c has exited with reason. Returns
 * false when the supervisor must give up. */
static bool child_exited(struct sup *s, struct child *c, term reason)
{
    bool quiet = c->restart != SUP_PERMANENT && is_normal_end(reason);
    if (!quiet)
        report(s, "child_terminated", reason, c);
    c->state = CHILD_STOPPED;   /* c->pid stays: it names an instance */
    if (c->restart == SUP_PERMANENT || (c->restart == SUP_TRANSIENT && !quiet))
        return restart(s, c);
    child_del(s, c);
    return true;
}

/* ---- Child specs on the wire --------------------------------------------- */

/*
 * Writes spec's wire form, {Id, {c, Start, Arg}, Restart, Shutdown, Type, []},
 * into v (9 terms: the tuple's 6 elements, then the start tuple's 3) and
 * returns it; it is valid as long as v and spec are.
 */
static term spec_to_term(const struct sup_child_spec *spec, term v[9])
{
    v[6] = ATOM("c");
    v[7] = INT((int64_t)(intptr_t)spec->start);
    v[8] = spec->arg;
    v[0] = spec->id;
    v[1] = term_tuple(v + 6, 3);
    v[2] = restart_atom(spec->restart);
    v[3] = shutdown_term(spec->shutdown);
    v[4] = type_atom(spec->type);
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

/* Reads a wire child spec into a new child (stopped), copying what it needs.
 * Returns it, or NULL when t is not a child spec. */
static struct child *spec_from_term(term t)
{
    static const char *const restarts[] = {"permanent", "transient", "temporary"};
    static const char *const types[] = {"worker", "supervisor"};
    term id, addr, arg, rs, sd, ty;
    int shutdown;
    if (!match(t, TUPLE(VAR(&id), TUPLE(ATOM("c"), VAR(&addr), VAR(&arg)),
                        VAR(&rs), VAR(&sd), VAR(&ty), ANY)))
        return NULL;
    int r = atom_index(rs, restarts, 3), k = atom_index(ty, types, 2);
    if (!is_int(addr) || addr.u.integer == 0 || r < 0 || k < 0 ||
        !shutdown_from_term(sd, &shutdown))
        return NULL;
    struct child *c = heap_alloc(sizeof *c);
    *c = (struct child){
        .id = term_keep(id), .arg = term_keep(arg),
        .start = (sup_start_fn)(intptr_t)addr.u.integer,
        .restart = (enum sup_restart)r, .shutdown = shutdown,
        .type = (enum sup_child_type)k, .state = CHILD_STOPPED, .pid = NONE,
    };
    return c;
}

/* A new instance of the simple_one_for_one template: its arg is the
 * template's list with extra appended. Returns NULL if extra is no list. */
static struct child *instance_new(const struct child *t, term extra)
{
    if (!is_list(extra))
        return NULL;
    size_t n1 = t->arg.size, n2 = extra.size;
    size_t size = (n1 + n2 + 1) * sizeof(term);     /* and the tail */
    term *v = heap_alloc(size);
    if (n1)
        memcpy(v, t->arg.u.elements, n1 * sizeof *v);
    if (n2)
        memcpy(v + n1, extra.u.elements, n2 * sizeof *v);
    v[n1 + n2] = NIL;
    struct child *c = heap_alloc(sizeof *c);
    *c = *t;
    c->id = ATOM("undefined");
    c->arg = term_keep(term_list(v, n1 + n2));
    heap_free(v, size);
    return c;
}

/* ---- The calls ----------------------------------------------------------- */

/* Who asked: a call's {From, Tag}. */
struct caller {
    term from;      /* the caller's pid */
    term tag;       /* what the reply is tagged with */
};

static void reply(const struct caller *to, term r)
{
    erl_send(to->from, TUPLE(to->tag, r));
}

static void reply_error(const struct caller *to, term why)
{
    reply(to, TUPLE(ATOM("error"), why));
}

/* Answers a start: {ok, Pid}, {ok, undefined} when it ignored, or
 * {error, Reason}; child_start's reason is given back then. */
static void reply_start(const struct caller *to, int r, term pid, term reason)
{
    if (r == START_FAILED) {
        reply_error(to, reason);
        erl_drop(reason);
        return;
    }
    reply(to, TUPLE(ATOM("ok"), r == START_OK ? pid : ATOM("undefined")));
}

/* start_child for simple_one_for_one: a new instance. */
static void call_start_instance(struct sup *s, const struct caller *to, term extra)
{
    struct child *c = instance_new(s->template, extra);
    if (!c) {
        reply_error(to, TUPLE(ATOM("badarg"), extra));
        return;
    }
    term reason = NONE;
    int r = child_start(c, &reason);
    reply_start(to, r, c->pid, reason);
    if (r == START_OK)
        kids_append(s, c);
    else
        child_free(c);
}

/* start_child: a new child, with a new id, started at the end of the order. */
static void call_start_child(struct sup *s, const struct caller *to, term spec)
{
    struct child *c = spec_from_term(spec);
    if (!c) {
        reply_error(to, TUPLE(ATOM("invalid_child_spec"), spec));
        return;
    }
    ssize_t i = kid_by_id(s, c->id);
    if (i >= 0) {
        const struct child *old = s->kids[i];
        if (old->state == CHILD_RUNNING)
            reply_error(to, TUPLE(ATOM("already_started"), old->pid));
        else
            reply_error(to, ATOM("already_present"));
        child_free(c);
        return;
    }
    term reason = NONE;
    int r = child_start(c, &reason);
    reply_start(to, r, c->pid, reason);
    if (r == START_OK || (r == START_IGNORED && c->restart != SUP_TEMPORARY))
        kids_append(s, c);
    else
        child_free(c);
}

/* terminate_child: by id, or by pid for simple_one_for_one. */
static void call_terminate_child(struct sup *s, const struct caller *to, term key)
{
    if (s->template && !is_pid(key)) {
        reply_error(to, ATOM("simple_one_for_one"));
        return;
    }
    ssize_t i = s->template ? instance_by_pid(s, key) : kid_by_id(s, key);
    if (i < 0) {
        /* OTP: an instance that is already dead counts as terminated */
        if (s->template && !erl_is_alive(key))
            reply(to, ATOM("ok"));
        else
            reply_error(to, ATOM("not_found"));
        return;
    }
    struct child *c = s->kids[i];
    child_stop(s, c);
    child_del(s, c);
    reply(to, ATOM("ok"));
}

/* The index of the child id names when it is not running, as delete_child
 * and restart_child need; otherwise replies the error OTP gives and
 * returns -1. */
static ssize_t stopped_kid(struct sup *s, const struct caller *to, term id)
{
    ssize_t i = s->template ? -1 : kid_by_id(s, id);
    if (s->template)
        reply_error(to, ATOM("simple_one_for_one"));
    else if (i < 0)
        reply_error(to, ATOM("not_found"));
    else if (s->kids[i]->state == CHILD_RUNNING)
        reply_error(to, ATOM("running"));
    else if (s->kids[i]->state == CHILD_RESTARTING)
        reply_error(to, ATOM("restarting"));
    else
        return i;
    return -1;
}

/* delete_child: forgets a child that is not running. */
static void call_delete_child(struct sup *s, const struct caller *to, term id)
{
    ssize_t i = stopped_kid(s, to, id);
    if (i < 0)
        return;
    kids_remove(s, (size_t)i);
    reply(to, ATOM("ok"));
}

/* restart_child: starts a child that is not running, keeping its spec. */
static void call_restart_child(struct sup *s, const struct caller *to, term id)
{
    ssize_t i = stopped_kid(s, to, id);
    if (i < 0)
        return;
    term reason = NONE;
    int r = child_start(s->kids[i], &reason);
    reply_start(to, r, s->kids[i]->pid, reason);
}

/* which_children: [{Id, Pid | undefined | restarting, Type, []}], newest
 * first as OTP lists them. */
static void call_which_children(const struct sup *s, const struct caller *to)
{
    size_t n = s->nkids;
    size_t size = (n * 5 + 1) * sizeof(term);    /* list and tail, 4 a tuple */
    term *v = heap_alloc(size);
    v[n] = NIL;
    for (size_t i = 0; i < n; i++) {
        const struct child *c = s->kids[n - 1 - i];
        term *e = v + n + 1 + 4 * i;
        e[0] = c->id;
        e[1] = c->state == CHILD_RUNNING ? c->pid
             : c->state == CHILD_RESTARTING ? ATOM("restarting")
             : ATOM("undefined");
        e[2] = type_atom(c->type);
        e[3] = NIL;
        v[i] = term_tuple(e, 4);
    }
    reply(to, term_list(v, n));
    heap_free(v, size);
}

/* count_children: [{specs, N}, {active, N}, {supervisors, N}, {workers, N}]. */
static void call_count_children(const struct sup *s, const struct caller *to)
{
    long specs = 0, active = 0, sups = 0, workers = 0;
    for (size_t i = 0; i < s->nkids; i++) {
        const struct child *c = s->kids[i];
        specs++;
        active += c->state == CHILD_RUNNING && erl_is_alive(c->pid);
        if (c->type == SUP_SUPERVISOR)
            sups++;
        else
            workers++;
    }
    if (s->template)
        specs = 1;
    reply(to, LIST(TUPLE(ATOM("specs"), INT(specs)), TUPLE(ATOM("active"), INT(active)),
                   TUPLE(ATOM("supervisors"), INT(sups)),
                   TUPLE(ATOM("workers"), INT(workers))));
}

/* Dispatches one {'$gen_call', {From, Tag}, Request}. */
static void handle_call(struct sup *s, const struct caller *to, term req)
{
    term arg;
    if (match(req, TUPLE(ATOM("start_child"), VAR(&arg)))) {
        if (s->template)
            call_start_instance(s, to, arg);
        else
            call_start_child(s, to, arg);
    } else if (match(req, TUPLE(ATOM("terminate_child"), VAR(&arg)))) {
        call_terminate_child(s, to, arg);
    } else if (match(req, TUPLE(ATOM("delete_child"), VAR(&arg)))) {
        call_delete_child(s, to, arg);
    } else if (match(req, TUPLE(ATOM("restart_child"), VAR(&arg)))) {
        call_restart_child(s, to, arg);
    } else if (is_atom_named(req, "which_children")) {
        call_which_children(s, to);
    } else if (is_atom_named(req, "count_children")) {
        call_count_children(s, to);
    } else {
        reply_error(to, TUPLE(ATOM("bad_call"), req));
    }
}

/* ---- The supervisor process ---------------------------------------------- */

/* OTP's terminate: stops every child, newest first, and exits with reason.
 * Its memory goes with its heap. */
static _Noreturn void sup_exit(struct sup *s, term reason)
{
    if (s->template)
        instances_stop_all(s);
    else
        kids_stop_from(s, 0);
    erl_exit_self(reason);
}

static void handle_exit(struct sup *s, term pid, term reason)
{
    if (term_eq(pid, s->parent))
        sup_exit(s, reason);
    ssize_t i = kid_by_pid(s, pid);
    if (i >= 0 && !child_exited(s, s->kids[i], reason))
        sup_exit(s, ATOM("shutdown"));
    /* else: a child we already let go (its late 'EXIT'): nothing to do */
}

/* {try_again_restart, Key}: a restart that failed is tried once more. */
static void handle_try_again(struct sup *s, term key)
{
    term old;
    for (size_t i = 0; i < s->nkids; i++) {
        struct child *c = s->kids[i];
        if (c->state != CHILD_RESTARTING)
            continue;
        bool it = match(key, TUPLE(ATOM("restarting"), VAR(&old)))
                  ? s->template && term_eq(c->pid, old)
                  : !s->template && term_eq(c->id, key);
        if (it) {
            if (!restart(s, c))
                sup_exit(s, ATOM("shutdown"));
            return;
        }
    }
}

/* {system, {From, Tag}, Request}: sys:terminate (gen_server_stop) stops
 * the supervisor; other system requests are not supported here. */
static void handle_system(struct sup *s, const struct caller *to, term req)
{
    term reason;
    if (match(req, TUPLE(ATOM("terminate"), VAR(&reason))))
        sup_exit(s, reason);
    reply_error(to, TUPLE(ATOM("unknown_system_msg"), req));
}

/* Dispatches one message; any message it takes is released by the loop. */
static void sup_handle(struct sup *s, term m)
{
    struct caller to;
    term req, pid, reason, key;
    if (match(m, TUPLE(ATOM("$gen_call"), TUPLE(VAR(&to.from), VAR(&to.tag)), VAR(&req))))
        handle_call(s, &to, req);
    else if (match(m, TUPLE(ATOM("EXIT"), VAR(&pid), VAR(&reason))))
        handle_exit(s, pid, reason);
    else if (match(m, TUPLE(ATOM("$gen_cast"), TUPLE(ATOM("try_again_restart"), VAR(&key)))))
        handle_try_again(s, key);
    else if (match(m, TUPLE(ATOM("system"), TUPLE(VAR(&to.from), VAR(&to.tag)), VAR(&req))))
        handle_system(s, &to, req);
    else
        report_unexpected(s, m);
}

/* Starts the children in order. On a failure stops the started ones, newest
 * first, and returns -1 with *why = {failed_to_start_child, Id, Reason}. */
static int start_children(struct sup *s, term *why)
{
    for (size_t i = 0; i < s->nkids;) {
        struct child *c = s->kids[i];
        term reason = NONE;
        int r = child_start(c, &reason);
        if (r == START_FAILED) {
            report(s, "start_error", reason, c);
            *why = term_keep(TUPLE(ATOM("failed_to_start_child"), c->id, reason));
            kids_stop_from(s, 0);
            return -1;
        }
        if (r == START_IGNORED && c->restart == SUP_TEMPORARY)
            kids_remove(s, i);
        else
            i++;
    }
    return 0;
}

/* Reads the start argument: {Parent, Name, {Strategy, Intensity, Period},
 * Specs}. The client checked it already (supervisor_start). */
static void sup_init_state(struct sup *s, term arg)
{
    static const char *const strategies[] = {
        "one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one"};
    term strategy, intensity, period, specs;
    *s = (struct sup){.self = erl_self()};
    if (!match(arg, TUPLE(VAR(&s->parent), VAR(&s->name),
                          TUPLE(VAR(&strategy), VAR(&intensity), VAR(&period)),
                          VAR(&specs))))
        panic("supervisor: bad start argument");
    s->flags = (struct sup_flags){
        (enum sup_strategy)atom_index(strategy, strategies, 4),
        (int)intensity.u.integer, (int)period.u.integer};
    for (size_t i = 0; i < specs.size; i++) {
        struct child *c = spec_from_term(specs.u.elements[i]);
        if (!c)
            panic("supervisor: bad child spec at start");
        kids_append(s, c);
    }
    if (s->flags.strategy == SUP_SIMPLE_ONE_FOR_ONE) {
        s->template = s->kids[0];
        s->nkids = 0;
    }
}

/*
 * The starter waits for a message shaped like the 'DOWN' its monitor would
 * send, {ack, Ref, process, Pid, Result}: one pattern then catches the
 * answer and the supervisor's death alike (erl_receive takes one pattern).
 */
static void ack(const struct sup *s, term mref, term result)
{
    erl_send(s->parent, TUPLE(ATOM("ack"), mref, ATOM("process"), s->self, result));
}

/* Registers the name, starts the children. Returns 0, or -1 with *why set
 * and *exit_reason to what the supervisor should exit with. */
static int sup_init(struct sup *s, term *why, term *exit_reason)
{
    if (!is_none(s->name) && erl_register(s->name, s->self) < 0) {
        term other = erl_whereis(s->name);
        *why = term_keep(TUPLE(ATOM("already_started"), other));
        *exit_reason = ATOM("normal");
        return -1;
    }
    if (start_children(s, why) < 0) {
        *why = term_keep(TUPLE(ATOM("shutdown"), *why));
        *exit_reason = *why;
        return -1;
    }
    return 0;
}

/*
 * The supervisor process. It first waits for the starter's monitor reference
 * (the starter only learns it from erl_spawn_opt, after the spawn), so that
 * its answer can look like that monitor's 'DOWN'; then it traps exits,
 * starts its children, answers, and serves messages until it exits.
 */
static void sup_main(term arg)
{
    struct sup s;
    term mref, why, exit_reason;
    erl_receive(TUPLE(ATOM("$supervisor_init"), VAR(&mref)), ERL_INFINITY);
    erl_trap_exit(true);
    sup_init_state(&s, arg);
    if (sup_init(&s, &why, &exit_reason) < 0) {
        erl_unlink(s.parent);   /* the starter hears it from the ack */
        ack(&s, mref, TUPLE(ATOM("error"), why));
        erl_exit_self(exit_reason);
    }
    ack(&s, mref, ATOM("ok"));
    for (;;) {
        term m = erl_receive(ANY, ERL_INFINITY);
        sup_handle(&s, m);
        erl_drop(m);
    }
}

/* ---- The client side ----------------------------------------------------- */

/* A call's answer, and where the caller's heap stood before the call, so
 * that everything the call left there can be given back at once. */
struct answer {
    erl_heap_mark_t mark;   /* the caller's heap before the call */
    term reply;             /* the reply; NONE when the call failed */
    term error;             /* why the call failed; else NONE */
};

/* Ends a call that failed with why: *error gets a copy of it (when error is
 * not NULL), the rest is given back. Returns NONE. */
static term settle_error(const struct answer *a, term why, term *error)
{
    if (error)
        *error = settle(a->mark, why);
    else
        erl_heap_release(a->mark);
    return NONE;
}

/* What is wrong with one child spec, or NONE. */
static term spec_problem(const struct sup_child_spec *c)
{
    if (!c->start || (unsigned)c->restart > SUP_TEMPORARY ||
        (unsigned)c->type > SUP_SUPERVISOR || c->shutdown < SUP_BRUTAL_KILL)
        return term_keep(TUPLE(ATOM("invalid_child_spec"), c->id));
    return NONE;
}

/* What is wrong with supervisor_start's arguments, as OTP's check_flags and
 * check_startspec find it, or NONE. The answer is in the caller's heap. */
static term start_args_problem(struct sup_flags f, const struct sup_child_spec *specs,
                               size_t n)
{
    if ((unsigned)f.strategy > SUP_SIMPLE_ONE_FOR_ONE)
        return term_keep(TUPLE(ATOM("invalid_strategy"), INT(f.strategy)));
    if (f.intensity < 0)
        return term_keep(TUPLE(ATOM("invalid_intensity"), INT(f.intensity)));
    if (f.period_s < 1)
        return term_keep(TUPLE(ATOM("invalid_period"), INT(f.period_s)));
    if (f.strategy == SUP_SIMPLE_ONE_FOR_ONE && (n != 1 || !is_list(specs[0].arg)))
        return ATOM("simple_one_for_one_needs_one_spec_with_a_list_arg");
    for (size_t i = 0; i < n; i++) {
        term why = spec_problem(&specs[i]);
        if (!is_none(why))
            return why;
        for (size_t j = 0; j < i; j++)
            if (f.strategy != SUP_SIMPLE_ONE_FOR_ONE && term_eq(specs[j].id, specs[i].id))
                return term_keep(TUPLE(ATOM("duplicate_child_name"), specs[i].id));
    }
    return NONE;
}

/* Spawns the supervisor with its start argument built from the C structs. */
static term sup_spawn(term name, struct sup_flags f, const struct sup_child_spec *specs,
                      size_t n, int link_flags, term *mref)
{
    size_t size = (n * 10 + 1) * sizeof(term);   /* list and tail, 9 a spec */
    term *v = heap_alloc(size);
    v[n] = NIL;
    for (size_t i = 0; i < n; i++)
        v[i] = spec_to_term(&specs[i], v + n + 1 + 9 * i);
    term arg = TUPLE(erl_self(), name,
                     TUPLE(strategy_atom(f.strategy), INT(f.intensity), INT(f.period_s)),
                     term_list(v, n));
    term pid = erl_spawn_opt("supervisor", sup_main, arg,
                             (link_flags & ERL_LINK) | ERL_MONITOR, mref);
    heap_free(v, size);
    return pid;
}

term supervisor_start(term name, struct sup_flags flags,
                      const struct sup_child_spec *specs, size_t n,
                      int link_flags, term *error)
{
    struct answer a = {erl_heap_mark(), NONE, NONE};
    term why = start_args_problem(flags, specs, n);
    if (!is_none(why))
        return settle_error(&a, TUPLE(ATOM("bad_start_spec"), why), error);
    term mref;
    term pid = sup_spawn(name, flags, specs, n, link_flags, &mref);
    if (is_none(pid))
        return settle_error(&a, ATOM("system_limit"), error);
    erl_send(pid, TUPLE(ATOM("$supervisor_init"), mref));

    term tag, result;
    term m = erl_receive(TUPLE(VAR(&tag), mref, ATOM("process"), pid, VAR(&result)),
                         ERL_INFINITY);
    if (is_atom_named(tag, "ack") && is_atom_named(result, "ok")) {
        erl_demonitor(mref, true);
        erl_drop(m);
        return pid;
    }
    if (is_atom_named(tag, "ack")) {    /* {error, Why}: wait until it is gone */
        why = element(2, result);
        erl_receive(TUPLE(ATOM("DOWN"), mref, ANY, ANY, ANY), ERL_INFINITY);
    } else {
        why = result;                   /* it died while starting */
    }
    term flushed;                       /* given back by settle_error */
    if (link_flags & ERL_LINK)
        unlink_flush(pid, NONE, &flushed);
    return settle_error(&a, why, error);
}

int supervisor_stop(term sup, term reason, int timeout_ms, term *error)
{
    return gen_server_stop(sup, reason, timeout_ms, error);
}

term supervisor_call(term sup, term request, int timeout_ms, term *error)
{
    return gen_server_call(sup, request, timeout_ms, error);
}

/* Calls sup without a time limit, as OTP's supervisor calls do. */
static struct answer call(term sup, term request)
{
    struct answer a = {erl_heap_mark(), NONE, NONE};
    a.reply = supervisor_call(sup, request, ERL_INFINITY, &a.error);
    return a;
}

/* Makes a C result of a reply {ok, X} | {error, Why}: returns X (an
 * immediate: a pid or undefined), or NONE with *error set. */
static term ok_value(struct answer a, term *error)
{
    term v;
    if (is_none(a.reply))
        return settle_error(&a, a.error, error);
    if (match(a.reply, TUPLE(ATOM("ok"), VAR(&v))) && !term_is_boxed(v)) {
        erl_heap_release(a.mark);
        return v;
    }
    if (match(a.reply, TUPLE(ATOM("error"), VAR(&v))))
        return settle_error(&a, v, error);
    return settle_error(&a, TUPLE(ATOM("bad_reply"), a.reply), error);
}

/* Makes a C result of a reply ok | {error, Why}: 0, or -1 with *error set. */
static int ok_status(struct answer a, term *error)
{
    if (is_atom_named(a.reply, "ok")) {
        erl_heap_release(a.mark);
        return 0;
    }
    ok_value(a, error);
    return -1;
}

term supervisor_start_child(term sup, const struct sup_child_spec *spec, term *error)
{
    term v[9];
    return ok_value(call(sup, TUPLE(ATOM("start_child"), spec_to_term(spec, v))), error);
}

term supervisor_start_instance(term sup, term extra_args, term *error)
{
    return ok_value(call(sup, TUPLE(ATOM("start_child"), extra_args)), error);
}

int supervisor_terminate_child(term sup, term id_or_pid, term *error)
{
    return ok_status(call(sup, TUPLE(ATOM("terminate_child"), id_or_pid)), error);
}

int supervisor_delete_child(term sup, term id, term *error)
{
    return ok_status(call(sup, TUPLE(ATOM("delete_child"), id)), error);
}

term supervisor_restart_child(term sup, term id, term *error)
{
    return ok_value(call(sup, TUPLE(ATOM("restart_child"), id)), error);
}

term supervisor_which_children(term sup, term *error)
{
    struct answer a = call(sup, ATOM("which_children"));
    if (is_none(a.reply))
        return settle_error(&a, a.error, error);
    return settle(a.mark, a.reply);
}

int supervisor_count_children(term sup, struct sup_counts *counts, term *error)
{
    struct answer a = call(sup, ATOM("count_children"));
    term specs, active, sups, workers;
    if (is_none(a.reply)) {
        settle_error(&a, a.error, error);
        return -1;
    }
    if (!match(a.reply, LIST(TUPLE(ATOM("specs"), VAR(&specs)),
                             TUPLE(ATOM("active"), VAR(&active)),
                             TUPLE(ATOM("supervisors"), VAR(&sups)),
                             TUPLE(ATOM("workers"), VAR(&workers))))) {
        settle_error(&a, TUPLE(ATOM("bad_reply"), a.reply), error);
        return -1;
    }
    *counts = (struct sup_counts){specs.u.integer, active.u.integer,
                                  sups.u.integer, workers.u.integer};
    erl_heap_release(a.mark);
    return 0;
}

/* ---- Printing the tree --------------------------------------------------- */

/* Prints sup's children, oldest first, each under its parent at depth.
 * Returns how many lines it printed, or -1 if sup did not answer. */
static int print_children(FILE *out, term sup, int depth, term *error)
{
    term kids = supervisor_which_children(sup, error);
    if (is_none(kids))
        return -1;
    int count = 0;
    for (size_t i = kids.size; i-- > 0;) {
        term id, pid, type;
        if (!match(kids.u.elements[i], TUPLE(VAR(&id), VAR(&pid), VAR(&type), ANY)))
            continue;
        fprintf(out, "%*s", 2 * depth, "");
        term_print(out, id);
        fputc(' ', out);
        term_print(out, pid);
        fputc(' ', out);
        term_print(out, type);
        fputc('\n', out);
        count++;
        if (is_pid(pid) && is_atom_named(type, "supervisor")) {
            int below = print_children(out, pid, depth + 1, NULL);
            count += below > 0 ? below : 0;
        }
    }
    erl_drop(kids);
    return count;
}

int supervisor_print_tree(FILE *out, term sup, term *error)
{
    term pid = is_atom(sup) ? erl_whereis(sup) : sup;
    if (is_none(pid)) {
        if (error)
            *error = ATOM("noproc");
        return -1;
    }
    term_print(out, sup);
    if (is_atom(sup)) {
        fputc(' ', out);
        term_print(out, pid);
    }
    fputc('\n', out);
    return print_children(out, pid, 1, error);
}
