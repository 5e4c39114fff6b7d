/*
 * signals.c - links, monitors, exit signals and aliases.
 *
 * Everything here travels as a signal in the target's mailbox, in order with
 * its messages, and takes effect when the target takes its inbox: a process
 * only ever changes its own tables. Exit signals follow Erlang's rules:
 *
 *   reason   receiver traps exits        receiver does not
 *   normal   gets {'EXIT', Pid, normal}  nothing happens
 *   kill     dies with reason killed     dies with reason killed   (exit/2 only)
 *   other    gets {'EXIT', Pid, Other}   dies with reason Other
 *
 * exit(self(), R) too is a signal, the process's own, but it takes effect
 * inside the call: erl_exit takes the inbox at once. A process that an
 * exit signal ends prints no crash report (proc_killed), as on BEAM.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "panic.h"
#include "proc.h"

/* ---- Relations ----------------------------------------------------------- */

/* A relation owns a copy of the words of another node's reference (a
 * monitor a process of another node holds here): the signal that brought
 * it is freed long before the relation goes. */
static term ref_own(term ref) {
    if (!term_is_boxed(ref))
        return ref;
    uint32_t *w = malloc(ref.size * sizeof *w);
    if (!w)
        panic("out of memory for a reference of %u words", ref.size);
    memcpy(w, ref.u.words, ref.size * sizeof *w);
    ref.u.words = w;
    return ref;
}

static void ref_free(term ref) {
    if (term_is_boxed(ref))
        free((void *)ref.u.words);
}

void relations_add(struct relations *r, term pid, term ref) {
    if (r->n == r->cap) {
        /* From one: most processes hold a link or a monitor or two (a
         * start's, a call's), and the array outlives them: an idle server
         * keeps 64 bytes for the monitor its start took, not 256
         * (idle_bytes 1012 -> 818 B). */
        size_t cap = r->cap ? 2 * r->cap : 1;
        struct relation *v = realloc(r->v, cap * sizeof *v);
        if (!v)
            panic("out of memory for %zu links or monitors", cap);
        r->v = v;
        r->cap = cap;
    }
    r->v[r->n++] = (struct relation){pid, ref_own(ref), NONE, NONE};
}

/* The index of the relation whose pid (for links) or ref (for monitors) is
 * key, or -1. */
static long relations_find(const struct relations *r, term key, bool by_ref) {
    for (size_t i = 0; i < r->n; i++)
        if (term_eq(by_ref ? r->v[i].ref : r->v[i].pid, key))
            return (long)i;
    return -1;
}

static void relations_remove_at(struct relations *r, long i) {
    ref_free(r->v[i].ref);
    r->v[i] = r->v[--r->n];
}

/* Removes the relation with key; returns true if there was one. */
static bool relations_remove(struct relations *r, term key, bool by_ref) {
    long i = relations_find(r, key, by_ref);
    if (i >= 0)
        relations_remove_at(r, i);
    return i >= 0;
}

static void relations_free(struct relations *r) {
    if (!r->v)
        return;     /* most processes have no links, monitors or aliases */
    for (size_t i = 0; i < r->n; i++)
        ref_free(r->v[i].ref);
    free(r->v);
    *r = (struct relations){0};
}

static void count_links(struct proc *p) {
    atomic_store_explicit(&p->link_count, p->links.n, memory_order_relaxed);
}

/* ---- Taking the inbox ---------------------------------------------------- */

static void queue_append(struct proc *p, struct heap_block *b) {
    b->next = NULL;
    *p->queue.tail = b;
    p->queue.tail = &b->next;
}

/* Turns signal b into the message msg, appended to p's queue. */
static void become_message(struct proc *p, struct heap_block *b, term msg) {
    struct heap_block *m = block_new(SIG_MESSAGE, b->from, NONE, msg);
    block_free(b);
    queue_append(p, m);
    count_add(&p->queue_len, 1);
}

/* Puts rest back in front of the inbox, for the death that follows. */
static void inbox_push_back(struct proc *p, struct heap_block *rest) {
    if (!rest)
        return;
    struct heap_block *last = rest;
    while (last->next)
        last = last->next;
    lock_take(&p->lock);
    last->next = p->inbox.head;
    if (!p->inbox.head)
        p->inbox.tail = &last->next;
    p->inbox.head = rest;
    atomic_store_explicit(&p->mail, true, memory_order_relaxed);
    lock_give(&p->lock);
}

/* An exit signal reached p. Returns the reason p must die with, or NONE.
 * *counts is false when the signal is void: its link was already gone. */
static term exit_effect(struct proc *p, struct heap_block *b, bool *counts) {
    term reason = b->body;
    *counts = !b->linked || relations_remove(&p->links, b->from, false);
    count_links(p);
    if (!*counts)
        return NONE;
    if (!b->linked && is_atom_named(reason, "kill"))
        return p->fn ? A_KILLED : NONE;
    if (atomic_load(&p->trap_exit) || !p->fn)
        return NONE;
    if (is_atom_named(reason, "normal"))
        return !b->linked && term_eq(b->from, p->pid) ? A_NORMAL : NONE;
    return reason;
}

/* Handles one signal; returns the reason p must now die with, or NONE. */
static term take_signal(struct proc *p, struct heap_block *b) {
    switch (b->kind) {
    case SIG_MESSAGE:
        if (is_ref(b->ref) && relations_find(&p->aliases, b->ref, true) < 0)
            break;  /* sent through an alias no longer active: dropped */
        queue_append(p, b);
        count_add(&p->queue_len, 1);
        return NONE;
    case SIG_EXIT: {
        bool counts;
        term die = exit_effect(p, b, &counts);
        if (!is_none(die))
            return die;     /* b is freed by the caller, after copying die */
        if (counts && (atomic_load(&p->trap_exit) || !p->fn))
            become_message(p, b, TUPLE(ATOM("EXIT"), b->from, b->body));
        else
            block_free(b);
        return NONE;
    }
    case SIG_LINK:
        if (relations_find(&p->links, b->from, false) < 0)
            relations_add(&p->links, b->from, NONE);
        count_links(p);
        break;
    case SIG_UNLINK:
        relations_remove(&p->links, b->from, false);
        count_links(p);
        break;
    case SIG_MONITOR:
        relations_add(&p->watchers, b->from, b->ref);
        break;
    case SIG_DEMONITOR:
        relations_remove(&p->watchers, b->ref, true);
        break;
    case SIG_DOWN: {
        long i = relations_find(&p->monitors, b->ref, true);
        if (i < 0)
            break;  /* demonitored: the notice is void */
        /* It names the pid, or {Name, Node} for a monitor taken by name. */
        term node = p->monitors.v[i].node;
        term name_node[] = {p->monitors.v[i].name, is_none(node) ? erl_node() : node};
        term object = is_atom(name_node[0]) ? term_tuple(name_node, 2) : b->from;
        relations_remove_at(&p->monitors, i);
        become_message(p, b, TUPLE(ATOM("DOWN"), b->ref, ATOM("process"), object, b->body));
        return NONE;
    }
    }
    block_free(b);
    return NONE;
}

bool proc_take_inbox(struct proc *p) {
    lock_take(&p->lock);
    struct heap_block *b = p->inbox.head;
    bool took = b != NULL;
    p->inbox.head = NULL;
    p->inbox.tail = &p->inbox.head;
    atomic_store_explicit(&p->inbox_len, 0, memory_order_relaxed);
    atomic_store_explicit(&p->mail, false, memory_order_relaxed);
    atomic_store(&p->exit_pending, false);
    lock_give(&p->lock);
    while (b) {
        struct heap_block *next = b->next;
        term die = take_signal(p, b);
        if (!is_none(die)) {
            inbox_push_back(p, next);
            term reason = term_keep(die);   /* b may hold it */
            block_free(b);
            proc_killed(reason);
        }
        b = next;
    }
    return took;
}

/* Tells the target of monitor m, which p no longer holds: a
 * process (here or on another node), or a name on another node. */
static void demonitor_target(struct proc *p, const struct relation *m) {
    if (is_pid(m->pid))
        signal_send(m->pid, SIG_DEMONITOR, m->ref, NONE, false);
    else if (is_atom(m->name) && is_atom(m->node) && !term_eq(m->node, erl_node()))
        dist_signal(SIG_DEMONITOR, p->pid,
                    TUPLE(m->name, m->node), m->ref, NONE, false);
}

/* ---- Death --------------------------------------------------------------- */

/* Answers the link and monitor requests still in a dead process's inbox. */
static void answer_pending(struct heap_block *b, term reason) {
    while (b) {
        struct heap_block *next = b->next;
        if (b->kind == SIG_LINK)
            signal_send(b->from, SIG_EXIT, NONE, reason, true);
        else if (b->kind == SIG_MONITOR)
            signal_send(b->from, SIG_DOWN, b->ref, reason, false);
        block_free(b);
        b = next;
    }
}

/* Frees p's links, monitors and aliases. */
static void relations_free_all(struct proc *p) {
    relations_free(&p->links);
    relations_free(&p->watchers);
    relations_free(&p->monitors);
    relations_free(&p->aliases);
    count_links(p);
}

/* The inbox is taken once, under the lock that makes p EXITING: from then
 * on no signal reaches it (proc_lock_pid turns EXITING processes away), so
 * it stays empty, and only the relations are left to free.
 * Speed-up: signals_free's second look at the inbox cost a lock and an
 * unlock on every process's exit; with relations_free skipping empty
 * relations, a spawn and exit took 1315 instructions, 1171 now
 * (callgrind, SPAWN_REDUCTIONS included), and spawn_per_s went from 3.3
 * to 4.4 M/s (medians of 20 runs interleaved). */
void signals_settle(struct proc *p, term reason) {
    lock_take(&p->lock);
    p->state = PROC_EXITING;
    struct heap_block *pending = p->inbox.head;
    p->inbox.head = NULL;
    p->inbox.tail = &p->inbox.head;
    lock_give(&p->lock);
    registry_forget(p);
    answer_pending(pending, reason);
    for (size_t i = 0; i < p->links.n; i++)
        signal_send(p->links.v[i].pid, SIG_EXIT, NONE, reason, true);
    for (size_t i = 0; i < p->watchers.n; i++)
        signal_send(p->watchers.v[i].pid, SIG_DOWN, p->watchers.v[i].ref, reason, false);
    for (size_t i = 0; i < p->monitors.n; i++)
        demonitor_target(p, &p->monitors.v[i]);
    relations_free_all(p);
}

void signals_free(struct proc *p) {
    relations_free_all(p);
    lock_take(&p->lock);
    struct heap_block *b = p->inbox.head;
    p->inbox.head = NULL;
    p->inbox.tail = &p->inbox.head;
    lock_give(&p->lock);
    while (b) {
        struct heap_block *next = b->next;
        block_free(b);
        b = next;
    }
}

/* ---- The API ------------------------------------------------------------- */

term erl_make_ref(void) {
    static _Atomic uint64_t next_ref = 1;
    return (term){.type = TERM_REF, .u.id = atomic_fetch_add(&next_ref, 1)};
}

bool erl_trap_exit(bool on) {
    struct proc *p = proc_current();
    if (!p->fn)
        return true;    /* a plain thread always traps exits */
    return atomic_exchange(&p->trap_exit, on);
}

/* Delivers an exit signal from pid to p itself (the target was not there). */
static void exit_from_nowhere(struct proc *p, term pid, term reason) {
    struct heap_block *b = block_new(SIG_EXIT, pid, NONE, reason);
    b->linked = true;
    relations_add(&p->links, pid, NONE);    /* consumed by the signal */
    if (!signal_deliver(p->pid, b))
        block_free(b);
}

/* Why a link or monitor to pid, which could not be reached, ends at once:
 * noproc for a dead process here, noconnection for another node's. */
static term why_unreachable(term pid) {
    return is_pid(pid) && pid.node != 0 ? ATOM("noconnection") : A_NOPROC;
}

int erl_link(term pid) {
    if (!is_pid(pid)) {
        errno = EINVAL;
        return -1;
    }
    struct proc *p = proc_current();
    if (term_eq(pid, p->pid) || relations_find(&p->links, pid, false) >= 0)
        return 0;
    if (signal_send(pid, SIG_LINK, NONE, NONE, false)) {
        relations_add(&p->links, pid, NONE);
        count_links(p);
    } else if (p->fn && !atomic_load(&p->trap_exit)) {
        proc_killed(why_unreachable(pid));  /* as link/1 fails with noproc */
    } else {
        exit_from_nowhere(p, pid, why_unreachable(pid));
    }
    return 0;
}

int erl_unlink(term pid) {
    struct proc *p = proc_current();
    if (relations_remove(&p->links, pid, false))
        signal_send(pid, SIG_UNLINK, NONE, NONE, false);
    count_links(p);
    return 0;
}

term erl_monitor(term target) {
    term pid = erl_resolve(target);
    if (is_none(pid) && errno == EINVAL)
        return NONE;
    /* {Name, Node} of another node: the node layer monitors the name there. */
    bool remote_name = is_none(pid) && errno == ENOTCONN;
    term reason = remote_name ? ATOM("noconnection") : why_unreachable(pid);
    struct proc *p = proc_current();
    term ref = erl_make_ref();
    relations_add(&p->monitors, pid, ref);
    struct relation *m = &p->monitors.v[p->monitors.n - 1];
    m->name = is_atom(target) ? target : is_tuple(target) ? element(1, target) : NONE;
    m->node = is_tuple(target) ? element(2, target) : NONE;
    bool sent = remote_name ? dist_signal(SIG_MONITOR, p->pid, target, ref, NONE, false) == 0
                            : !is_none(pid) && signal_send(pid, SIG_MONITOR, ref, NONE, false);
    if (!sent) {
        /* Already gone: the 'DOWN' comes at once. */
        struct heap_block *b = block_new(SIG_DOWN, pid, ref, reason);
        if (!signal_deliver(p->pid, b))
            block_free(b);
    }
    return ref;
}

/* Removes a 'DOWN' for ref from p's queue (demonitor's flush). */
static void flush_down(struct proc *p, term ref) {
    proc_take_inbox(p);
    for (struct heap_block **at = &p->queue.head; *at; at = &(*at)->next) {
        term r;
        if (match((*at)->body, TUPLE(ATOM("DOWN"), VAR(&r), ANY, ANY, ANY)) && term_eq(r, ref)) {
            block_free(queue_remove(p, at));
            return;
        }
    }
}

void erl_demonitor(term ref, bool flush) {
    struct proc *p = proc_current();
    long i = relations_find(&p->monitors, ref, true);
    if (i >= 0) {
        struct relation m = p->monitors.v[i];
        relations_remove_at(&p->monitors, i);
        demonitor_target(p, &m);
    }
    if (flush)
        flush_down(p, ref);
}

void erl_exit(term pid, term reason) {
    struct proc *p = proc_current();    /* the signal names its sender */
    signal_send(pid, SIG_EXIT, NONE, reason, false);
    if (term_eq(pid, p->pid))
        proc_take_inbox(p);     /* to itself: it takes effect now, in order */
}

bool erl_quiet(bool on) {
    struct proc *p = proc_current();
    bool was = p->quiet;
    p->quiet = on;
    return was;
}

/* ---- Aliases ------------------------------------------------------------- */

/* A process's aliases are refs in its own aliases list, which only it reads
 * or writes: a message sent through one carries the ref in its block, and
 * the receiver keeps it, in take_signal, only while the ref is in its list. */

term erl_alias(void) {
    struct proc *p = proc_current();
    term alias = erl_make_ref();
    relations_add(&p->aliases, NONE, alias);
    return alias;
}

bool erl_unalias(term alias) {
    return relations_remove(&proc_current()->aliases, alias, true);
}

int erl_send_alias(term pid, term alias, term msg) {
    if (!is_pid(pid) || !is_ref(alias)) {
        errno = EINVAL;
        return -1;
    }
    struct proc *me = proc_me();
    if (pid.node != 0) {
        /* Another node's process (an Erlang caller replying through
         * [alias|Ref]): the message goes to its pid, where BEAM's receive
         * takes it by the tag. */
        dist_signal(SIG_MESSAGE, me ? me->pid : NONE, pid, NONE, msg, false);
        if (me)
            proc_spend(me);
        return 0;
    }
    struct heap_block *b = block_new(SIG_MESSAGE, me ? me->pid : NONE, alias, msg);
    if (!signal_deliver(pid, b))
        block_free(b);  /* a dead process: dropped, as a send to a pid */
    if (me)
        proc_spend(me);
    return 0;
}
