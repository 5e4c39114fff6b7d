/*
 * mailbox.c - send, receive, and the process heap.
 *
 * A mailbox has two parts. The inbox, guarded by the process's lock, is where
 * senders append signals. The queue belongs to the process alone: receive
 * moves the inbox into it (taking effect of links, monitors and exit signals
 * on the way, in arrival order) and then scans it for a match. A message
 * taken by receive becomes a block of the process heap, where it stays until
 * dropped, released, or the process dies.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "panic.h"
#include "proc.h"


/* ---- Blocks -------------------------------------------------------------- */

/* A scheduler thread's cache of free small blocks. */
static _Thread_local struct {
    struct heap_block *free;    /* free blocks, linked by next */
    int n;                      /* how many */
    bool on;                    /* a scheduler thread: the cache is used */
} cache;

void block_cache_start(void) { cache.on = true; }

void block_cache_stop(void) {
    while (cache.free) {
        struct heap_block *b = cache.free;
        cache.free = b->next;
        free(b);
    }
    cache.n = 0;
    cache.on = false;
}

/* A block with room for extra bytes of contents. Out of line: it reads a
 * thread-local (see proc.h). */
__attribute__((noinline)) static struct heap_block *block_alloc(size_t extra) {
    struct heap_block *b;
    bool small = sizeof *b + extra <= BLOCK_SMALL;
    if (small && cache.free) {
        b = cache.free;
        cache.free = b->next;
        cache.n--;
    } else {
        b = malloc(small ? BLOCK_SMALL : sizeof *b + extra);
        if (!b)
            panic("out of memory for a %zu-byte message", extra);
    }
    b->small = small;
    return b;
}

/* A block holding a copy of body: tried in a small block first, in one
 * pass; measured and copied again only when it does not fit. */
static struct heap_block *block_with(term body) {
    struct heap_block *b = block_alloc(0);
    b->body = term_copy_within(body, b->data, BLOCK_SMALL - sizeof *b);
    if (is_none(b->body) && !is_none(body)) {
        block_free(b);
        b = block_alloc(term_heap_size(body));
        b->body = term_copy_into(body, b->data);
    }
    return b;
}

__attribute__((noinline)) void block_free(struct heap_block *b) {
    if (b->small && cache.on && cache.n < BLOCK_CACHE_MAX) {
        b->next = cache.free;
        cache.free = b;
        cache.n++;
        return;
    }
    free(b);
}

struct heap_block *block_new(enum signal_kind kind, term from, term ref, term body) {
    struct heap_block *b = block_with(body);
    b->next = b->prev = NULL;
    b->kind = (uint8_t)kind;
    b->linked = false;
    b->from = from;
    b->ref = ref;
    return b;
}

/* The block holding a received boxed term: its contents start b->data. */
static struct heap_block *block_of(term t) {
    return (struct heap_block *)((char *)t.u.elements - offsetof(struct heap_block, data));
}

void heap_link(struct proc *p, struct heap_block *b) {
    b->next = NULL;
    b->prev = p->heap_newest;
    if (p->heap_newest)
        p->heap_newest->next = b;
    else
        p->heap_oldest = b;
    p->heap_newest = b;
}

static void heap_unlink(struct proc *p, struct heap_block *b) {
    if (b->prev)
        b->prev->next = b->next;
    else
        p->heap_oldest = b->next;
    if (b->next)
        b->next->prev = b->prev;
    else
        p->heap_newest = b->prev;
}

static void free_chain(struct heap_block *b) {
    while (b) {
        struct heap_block *next = b->next;
        block_free(b);
        b = next;
    }
}

void heap_free_all(struct proc *p) {
    free_chain(p->heap_oldest);
    p->heap_oldest = p->heap_newest = NULL;
    free_chain(p->queue.head);
    p->queue.head = NULL;
    p->queue.tail = &p->queue.head;
}

void erl_drop(term msg) {
    if (!term_is_boxed(msg))
        return;
    struct proc *p = proc_current();
    struct heap_block *b = block_of(msg);
    heap_unlink(p, b);
    block_free(b);
}

erl_heap_mark_t erl_heap_mark(void) { return proc_current()->heap_newest; }

void erl_heap_release(erl_heap_mark_t mark) {
    struct proc *p = proc_current();
    while (p->heap_newest && p->heap_newest != mark) {
        struct heap_block *b = p->heap_newest;
        heap_unlink(p, b);
        block_free(b);
    }
}

term term_keep(term t) {
    if (!term_is_boxed(t))
        return t;
    struct proc *p = proc_current();
    struct heap_block *b = block_new(SIG_MESSAGE, NONE, NONE, t);
    heap_link(p, b);
    return b->body;
}

/* ---- Sending ------------------------------------------------------------- */

bool signal_deliver(term pid, struct heap_block *b) {
    struct proc *p = proc_lock_pid(pid);
    if (!p)
        return false;
    *p->inbox.tail = b;
    p->inbox.tail = &b->next;
    atomic_store_explicit(&p->mail, true, memory_order_relaxed);
    if (b->kind == SIG_MESSAGE)
        count_add(&p->inbox_len, 1);
    else if (b->kind == SIG_EXIT)
        atomic_store(&p->exit_pending, true);
    bool wake = p->state == PROC_WAITING;
    bool thread = p->wakeup != NULL;    /* read under the lock: a thread's
                                           process may go once it is let go */
    if (wake && thread)
        cond_signal(p->wakeup);
    else if (wake)
        p->state = PROC_RUNNABLE;
    lock_give(&p->lock);
    if (wake && !thread)
        sched_enqueue(p);   /* p cannot run, nor die, until it is queued */
    return true;
}

/* Sends a signal from me (NULL: a plain thread without a process).
 * Speed-up (cast path): inlined into erl_send, the path of every message;
 * with erl_resolve's order, 26 instructions fewer a cast (callgrind); see
 * match_at in term.c for the cast path's speed-ups together. */
static inline __attribute__((always_inline)) bool
signal_send_from(struct proc *me, term pid, enum signal_kind kind, term ref, term body,
                 bool linked) {
    if (pid.type == TERM_PID && pid.node != 0)  /* another node's: the node layer's */
        return dist_signal(kind, me ? me->pid : NONE, pid, ref, body, linked) == 0;
    struct heap_block *b = block_new(kind, me ? me->pid : NONE, ref, body);
    b->linked = linked;
    if (signal_deliver(pid, b))
        return true;
    block_free(b);
    return false;
}

bool signal_send(term pid, enum signal_kind kind, term ref, term body, bool linked) {
    return signal_send_from(proc_me(), pid, kind, ref, body, linked);
}

void proc_spend(struct proc *p) {
    if (p->fn && --p->reductions <= 0) {
        p->reductions = REDUCTIONS;
        sched_switch(p, SWITCH_YIELD);
        if (atomic_load(&p->exit_pending))
            proc_take_inbox(p);
    }
}

/* Spends a reduction of the caller, if it is a process, and returns ret:
 * every send costs one, a failed one too, so that a process retrying a
 * failed send still yields in time. */
static int spent(struct proc *me, int ret) {
    if (me)
        proc_spend(me);
    return ret;
}

int erl_send(term dest, term msg) {
    struct proc *me = proc_me();
    term pid = dest.type == TERM_PID ? dest : erl_resolve(dest);
    if (is_none(pid) && errno == ENOTCONN)  /* {Name, Node} of another node */
        return spent(me, dist_signal(SIG_MESSAGE, proc_current()->pid, dest, NONE, msg, false));
    if (is_none(pid))
        return spent(me, -1);   /* errno set by erl_resolve */
    signal_send_from(me, pid, SIG_MESSAGE, NONE, msg, false);
    return spent(me, 0);
}

void erl_yield(void) {
    struct proc *p = proc_me();
    if (!p || !p->fn) {
        sched_yield();
        return;
    }
    p->reductions = REDUCTIONS;
    sched_switch(p, SWITCH_YIELD);
    if (atomic_load(&p->exit_pending))
        proc_take_inbox(p);
}

/* ---- Receiving ----------------------------------------------------------- */

/* A scheduled process waits for a signal or the deadline (0: none).
 * Returns false when the deadline passed. */
static bool wait_scheduled(struct proc *p, int64_t deadline) {
    /* Written without p->lock: while p runs, no timer writes them (a timer
     * writes timed_out only to a process waiting in the wait it was armed
     * for). A deadline already past fires at once. */
    p->deadline = deadline;
    p->timed_out = false;
    sched_switch(p, SWITCH_WAIT);
    if (deadline)
        timer_cancel(p);
    p->deadline = 0;
    /* Cleared for the next wait: park reads it, and a wait without a
     * receive (erl_hibernate, erl_await) would take a stale one for its
     * own timer and never sleep. */
    bool in_time = !p->timed_out;
    p->timed_out = false;
    return in_time;
}

/* A plain thread waits on its condition variable. */
static bool wait_thread(struct proc *p, int64_t deadline) {
    bool in_time = true;
    lock_take(&p->lock);
    while (!p->inbox.head && in_time) {
        p->state = PROC_WAITING;
        in_time = cond_wait(p->wakeup, &p->lock, deadline);
    }
    p->state = PROC_RUNNING;
    bool got = p->inbox.head != NULL;
    lock_give(&p->lock);
    return got;
}

/* Takes the message *at out of the queue, into the heap if it is boxed. */
struct heap_block *queue_remove(struct proc *p, struct heap_block **at) {
    struct heap_block *b = *at;
    *at = b->next;
    if (p->queue.tail == &b->next)
        p->queue.tail = at;
    count_add(&p->queue_len, -1);
    return b;
}

static term take(struct proc *p, struct heap_block **at) {
    struct heap_block *b = queue_remove(p, at);
    term msg = b->body;
    if (term_is_boxed(msg))
        heap_link(p, b);
    else
        block_free(b);
    proc_spend(p);
    return msg;
}

/* The index of the first of n patterns msg matches, or -1.
 * Speed-up (cast path): ANY, the pattern of every server loop, is taken
 * without a call; see match_at in term.c for what the two gained. */
static long match_any(term msg, const term *patterns, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((patterns[i].type == TERM_VAR && !patterns[i].u.bind) || match(msg, patterns[i]))
            return (long)i;
    return -1;
}

term erl_receive_any(const term *patterns, size_t n, int timeout_ms, size_t *which) {
    struct proc *p = proc_current();
    int64_t deadline = timeout_ms > 0 ? now_ns() + (int64_t)timeout_ms * 1000000 : 0;
    struct heap_block **scan = &p->queue.head;
    bool timed_out = false;
    for (;;) {
        /* The queue holds older messages than the inbox: scan it first, and
         * take the inbox (under its lock) only when nothing there matches. */
        for (; *scan; scan = &(*scan)->next) {
            long i = match_any((*scan)->body, patterns, n);
            if (i >= 0) {
                if (which)
                    *which = (size_t)i;
                return take(p, scan);
            }
        }
        /* Only a hint, read without the lock: a signal it misses is found
         * by the scheduler, under the lock, before the process may sleep. */
        if (atomic_load_explicit(&p->mail, memory_order_relaxed) && proc_take_inbox(p))
            continue;
        if (timeout_ms == 0) {  /* a poll that finds nothing costs one too */
            proc_spend(p);
            return NONE;
        }
        if (timed_out)
            return NONE;
        timed_out = !(p->fn ? wait_scheduled(p, deadline) : wait_thread(p, deadline));
    }
}

term erl_receive(term pattern, int timeout_ms) {
    return erl_receive_any(&pattern, 1, timeout_ms, NULL);
}

/* erl_receive(ANY, ERL_INFINITY) without a pattern to match, the wait
 * marked as one whose stack may be taken (SWITCH_AWAIT): while it waits,
 * wake_fn and wake_arg say where the process starts if it is (hibernate.c
 * says why that is safe). */
term erl_await(erl_fn fn, term arg) {
    struct proc *p = proc_current();
    if (!p->fn)
        panic("erl_await: a plain thread has no stack to give up");
    bool marked = false;
    while (!p->queue.head) {
        /* As erl_receive_any: the hint first, and the scheduler looks
         * again under the lock before p may sleep. */
        if (atomic_load_explicit(&p->mail, memory_order_relaxed) && proc_take_inbox(p))
            continue;
        if (!marked) {
            p->wake_arg = term_keep(arg);   /* as erl_hibernate's */
            p->wake_fn = fn;
            marked = true;
        }
        sched_switch(p, SWITCH_AWAIT);  /* returns if the stack stayed */
    }
    if (marked) {
        erl_drop(p->wake_arg);
        p->wake_fn = NULL;
        p->wake_arg = NONE;
    }
    return take(p, &p->queue.head);
}

size_t erl_queue_len(void) {
    return proc_queue_len(proc_current());
}

void erl_sleep(int ms) {
    erl_receive(erl_make_ref(), ms);    /* a fresh ref: no message matches */
}
