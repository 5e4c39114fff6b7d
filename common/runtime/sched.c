/*
 * sched.c - scheduler threads and run queues.
 *
 * Each scheduler thread owns a run queue. A process made runnable by another
 * process goes on the sender's scheduler, so a call and its reply stay on one
 * core; a scheduler with nothing to do steals from the others, then sleeps.
 *
 * The progress guarantee, which every path here keeps:
 *
 *     every runnable process is seen by a scheduler that is awake, or that
 *     will wake within LOOK_MS, unless every scheduler is inside a process
 *     that neither calls the runtime nor can be preempted: one outside the
 *     preemptible code (in libc, a hot-loaded module) or with preemption
 *     off (the sanitizers, ERL_PREEMPT_US=0). With preemption on, a process
 *     in its own code keeps its thread one slice at most (preempt.c).
 *
 * (Due timers are timer.c's: its thread fires them on time and makes their
 * processes runnable; from there this guarantee takes over.) It holds by
 * these rules:
 *   - A scheduler checks its queue and the shutdown flag under its lock and
 *     waits on its condition variable without letting that lock go between
 *     the check and the wait; whoever queues work or stops takes that lock
 *     to signal. No wakeup is lost.
 *   - A scheduler sleeps without a time limit only while no scheduled
 *     process is alive ("deep"); a spawn wakes deep sleepers. Otherwise it
 *     sleeps LOOK_MS at most.
 *   - Every LOOK_MS, awake or woken, a scheduler looks at the others: one
 *     that is still inside the same run as at the last look, with work
 *     waiting in its runnext slot or queue, gives that work up (rescue).
 *     So work behind a process that computes waits about 2 * LOOK_MS.
 *   - runnext holds back the queue for RUNNEXT_STREAK runs at most, the
 *     runs a process's handoff starts counted with the others.
 *   - A handoff (one process switching straight to the next) chains
 *     HANDOFF_MAX runs at most before the scheduler's loop runs again:
 *     it looks, unpins and checks the shutdown flag as often as before.
 */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crash.h"
#include "dist.h"
#include "panic.h"
#include "preempt.h"
#include "proc.h"

/* Waits in erl_await whose stacks are kept: more, and a server that is
 * woken now and then in a crowd of idle ones more often wakes where it
 * waited; fewer, and fewer idle stacks stay resident. The ring's stacks
 * cost a page each (what an idle server touches), or what more they hold. */
#define AWAIT_KEPT 16

struct scheduler {
    pthread_t thread;           /* the scheduler's thread */
    int index;                  /* position in sched.v */
    struct fiber fiber;         /* the thread's own stack, to come back to */
    _Atomic(struct proc *) running; /* the process it runs now, or NULL */

    _Atomic(struct proc *) runnext; /* woken by the process it runs: runs
                                   next, without the queue's lock; another
                                   scheduler may rescue it; NULL if none */
    _Atomic uint64_t runs;      /* processes run so far (written by the owner) */

    /* Only the scheduler's own thread touches these: */
    struct proc *pinned_head, *pinned_tail; /* preempted processes, linked by
                                   run_next: they resume on this thread only
                                   (never stolen, never rescued; see pin) */
    void (*dist_flush)(void);   /* set by erl_dist_defer during a run: called
                                   when the run ends; else NULL */
    int streak;                 /* runs taken from runnext in a row */
    int handoffs;               /* handoffs since the scheduler's loop last
                                   ran a process (see handoff) */
    struct proc *handoff_from;  /* set by a handoff for the one switched to:
                                   the process that switched, whose run it
                                   ends when it resumes; else NULL */
    struct awaiting {
        struct proc *p;         /* a process that waited in erl_await here */
        uint64_t seq;           /* the number of that wait (its wait_seq) */
    } awaiting[AWAIT_KEPT];     /* the last AWAIT_KEPT such waits, a ring;
                                   an empty entry's p is NULL */
    int await_next;             /* the entry the next wait takes */
    char *stacks[SCHED_STACKS]; /* stacks taken from processes waiting in
                                   erl_await, pages and all, for the next
                                   stackless one to wake here, the latest
                                   on top */
    int nstacks;                /* how many stacks holds */
    uint64_t *seen;             /* the others' runs at its last look */
    int64_t next_look;          /* ns on CLOCK_MONOTONIC of its next look */

    /* s->lock must be held when using these: */
    struct lock lock;
    struct cond wake;           /* signalled when work arrives while asleep */
    struct proc *head, *tail;   /* the run queue, linked by run_next */
    _Atomic size_t len;         /* processes in the run queue; others may
                                   peek at it without the lock */
    _Atomic int64_t head_ns;    /* queued_ns of the queue's head (written
                                   under the lock; a hint for thieves) */
    bool sleeping;              /* waiting on wake */
};

static struct {
    struct scheduler *v;        /* the schedulers */
    int n;                      /* how many */
    _Atomic int sleeping;       /* how many are asleep */
    _Atomic(struct scheduler *) busy;   /* the one busy-waiting for work
                                   (busy_wait), or NULL: a plain thread's
                                   work goes there first */
    _Atomic int deep;           /* how many are (about to be) asleep without
                                   a time limit: a spawn must wake them */
    _Atomic bool shutdown;      /* set by sched_stop: leave the loop */
    _Atomic unsigned next;      /* round robin for plain threads' wake-ups */
} sched;

static _Thread_local struct scheduler *this_sched;

int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void cond_init_monotonic(pthread_cond_t *c) {
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(c, &ca);
    pthread_condattr_destroy(&ca);
}

/* ---- Run queues ---------------------------------------------------------- */

/* Appends p to s's queue; wakes s if it sleeps. Returns the queue length,
 * and sets *waited (if not NULL) to how long the queue's head has waited. */
static size_t push(struct scheduler *s, struct proc *p, int64_t *waited) {
    p->run_next = NULL;
    int64_t now = now_ns();
    p->queued_ns = now;
    lock_take(&s->lock);
    if (s->tail) {
        s->tail->run_next = p;
    } else {
        s->head = p;
        atomic_store_explicit(&s->head_ns, p->queued_ns, memory_order_relaxed);
    }
    s->tail = p;
    size_t len = atomic_fetch_add_explicit(&s->len, 1, memory_order_relaxed) + 1;
    if (waited)
        *waited = now - s->head->queued_ns;
    if (s->sleeping)
        cond_signal(&s->wake);
    lock_give(&s->lock);
    return len;
}

/* Takes the oldest process in s's queue, or NULL. */
static struct proc *pop(struct scheduler *s) {
    lock_take(&s->lock);
    struct proc *p = s->head;
    if (p) {
        s->head = p->run_next;
        if (!s->head)
            s->tail = NULL;
        else
            atomic_store_explicit(&s->head_ns, s->head->queued_ns, memory_order_relaxed);
        atomic_fetch_sub_explicit(&s->len, 1, memory_order_relaxed);
    }
    lock_give(&s->lock);
    return p;
}

/* Takes up to half of v's queue (at most STEAL_MAX), oldest first: returns
 * the first to run now and queues the others on self; or NULL. Taking many
 * at once keeps the two schedulers off each other's locks. */
#define STEAL_MAX 32
static struct proc *steal_from(struct scheduler *self, struct scheduler *v) {
    lock_take(&v->lock);
    size_t len = atomic_load_explicit(&v->len, memory_order_relaxed);
    size_t k = len < 2 ? 0 : len / 2 < STEAL_MAX ? len / 2 : STEAL_MAX;
    struct proc *first = v->head, *last = first;
    for (size_t i = 1; i < k; i++)
        last = last->run_next;
    if (k) {
        v->head = last->run_next;
        if (!v->head)
            v->tail = NULL;
        else
            atomic_store_explicit(&v->head_ns, v->head->queued_ns, memory_order_relaxed);
        atomic_store_explicit(&v->len, len - k, memory_order_relaxed);
    }
    lock_give(&v->lock);
    if (!k)
        return NULL;
    if (k > 1) {    /* the rest, first->run_next .. last, joins self's queue */
        last->run_next = NULL;
        lock_take(&self->lock);
        if (self->tail)
            self->tail->run_next = first->run_next;
        else
            self->head = first->run_next;
        self->tail = last;
        atomic_fetch_add_explicit(&self->len, k - 1, memory_order_relaxed);
        lock_give(&self->lock);
    }
    return first;
}

/* Takes work from another scheduler's queue, or NULL. A queue of one is
 * left alone: its owner runs it next, and moving it would split two
 * processes that talk to each other across two cores, where every message
 * costs a trip between caches.
 * Speed-up: nor is a queue whose oldest process has waited less than
 * STEAL_AGE_NS. Moving a process costs both cores cache misses on its slot
 * and stack (about a microsecond); one its own scheduler reaches that soon
 * runs sooner where it is. A spawn burst of empty processes runs at 1.2 M/s
 * when thieves take them young, at 2.4 M/s when they do not (spawn_per_s).
 * Work that waits longer is taken as before, and rescue still takes work
 * from behind a process that computes. */
#define STEAL_AGE_NS (250 * 1000)
static struct proc *steal(struct scheduler *self) {
    int64_t now = 0;
    for (int i = 1; i < sched.n; i++) {
        struct scheduler *v = &sched.v[(self->index + i) % sched.n];
        if (atomic_load_explicit(&v->len, memory_order_relaxed) < 2)
            continue;   /* only a hint: steal_from decides under the lock */
        if (!now)
            now = now_ns();
        if (now - atomic_load_explicit(&v->head_ns, memory_order_relaxed) < STEAL_AGE_NS)
            continue;
        struct proc *p = steal_from(self, v);
        if (p)
            return p;
    }
    return NULL;
}

/* Wakes one sleeping scheduler other than self, to steal from self. */
static void wake_helper(struct scheduler *self) {
    for (int i = 1; i < sched.n; i++) {
        struct scheduler *v = &sched.v[(self->index + i) % sched.n];
        lock_take(&v->lock);
        bool asleep = v->sleeping;
        if (asleep)
            cond_signal(&v->wake);
        lock_give(&v->lock);
        if (asleep)
            return;
    }
}

/* Puts p in s's runnext slot; whatever was there goes to the queue.
 * Speed-up: a process woken by the running one (a call's server, its reply's
 * caller) runs next on the same core without the queue's lock; the streak
 * in next_to_run bounds how long the queue waits for it, and rescue takes
 * it over if s then computes for long. When the queue grows past one, a
 * sleeping scheduler is woken to steal (the work is spread at once instead
 * of at the next look). */
static void make_next(struct scheduler *s, struct proc *p) {
    if (!atomic_load_explicit(&s->runnext, memory_order_relaxed)) {
        /* Empty: a rescuer can only swap NULL for NULL, so a store does. */
        atomic_store_explicit(&s->runnext, p, memory_order_release);
        return;
    }
    struct proc *old = atomic_exchange_explicit(&s->runnext, p, memory_order_acq_rel);
    int64_t waited;
    if (old && push(s, old, &waited) > 1 && waited >= STEAL_AGE_NS &&
        atomic_load(&sched.sleeping) > 0)
        wake_helper(s);
}

/* A scheduler for work from a plain thread (a test body, the timer
 * thread, a connection's reader): the one busy-waiting, if one is (see
 * busy_wait); else where p ran last, unless that one is running a process
 * and another is not; then the one that is not, which starts p at once. */
static struct scheduler *pick_for_thread(struct proc *p) {
    struct scheduler *s = p->sched;
    if (!s)
        s = &sched.v[atomic_fetch_add(&sched.next, 1) % (unsigned)sched.n];
    struct scheduler *busy = atomic_load(&sched.busy);
    if (busy)
        return busy;
    for (int i = 1; i < sched.n && atomic_load_explicit(&s->running, memory_order_relaxed); i++) {
        struct scheduler *v = &sched.v[(s->index + i) % sched.n];
        if (!atomic_load_explicit(&v->running, memory_order_relaxed))
            return v;
    }
    return s;
}

void sched_enqueue(struct proc *p) {
    struct scheduler *s = this_sched;
    if (s && current_proc) {    /* woken by the process s runs: it goes next */
        make_next(s, p);
        return;
    }
    p->from_thread = !s;
    push(s ? s : pick_for_thread(p), p, NULL);
}

/* Wakes every scheduler asleep without a time limit, when there is one:
 * a process now lives. Called after procs.scheduled grew; idle() counts
 * itself in sched.deep before it reads procs.scheduled (both sequentially
 * consistent), so one of the two sees the other. */
void sched_spawned(void) {
    if (atomic_load(&sched.deep) == 0)
        return;
    for (int i = 0; i < sched.n; i++) {
        struct scheduler *s = &sched.v[i];
        lock_take(&s->lock);
        if (s->sleeping)
            cond_signal(&s->wake);
        lock_give(&s->lock);
    }
}

/* The next process s should run: runnext first, then the queue. Two
 * processes calling each other would keep the queue waiting until their
 * reductions run out; the streak bounds that wait to a few round trips. */
#define RUNNEXT_STREAK 64
static struct proc *next_to_run(struct scheduler *s) {
    struct proc *p = atomic_load_explicit(&s->runnext, memory_order_relaxed);
    if (p)  /* taken with an exchange: a rescuer may take it first */
        p = atomic_exchange_explicit(&s->runnext, NULL, memory_order_acq_rel);
    if (p && s->streak < RUNNEXT_STREAK) {
        s->streak++;
        return p;
    }
    s->streak = 0;
    if (p)
        push(s, p, NULL);
    return pop(s);
}

/* ---- Preempted processes ------------------------------------------------- */

/* Keeps preempted p for s alone. The invariant: a preempted process
 * resumes on the thread it was preempted on, until its next ordinary
 * switch (yield, wait, hibernate). Its compiled code may hold a
 * thread-local's address in a register (errno's, say) at any instruction,
 * where an ordinary switch is a call the code made. s runs its pinned
 * processes in turn with the rest (scheduler_main): every other run, and
 * whenever nothing else waits. */
static void pin(struct scheduler *s, struct proc *p) {
    p->run_next = NULL;
    if (s->pinned_tail)
        s->pinned_tail->run_next = p;
    else
        s->pinned_head = p;
    s->pinned_tail = p;
}

/* The oldest pinned process of s, or NULL. */
static struct proc *unpin(struct scheduler *s) {
    struct proc *p = s->pinned_head;
    if (p) {
        s->pinned_head = p->run_next;
        if (!s->pinned_head)
            s->pinned_tail = NULL;
    }
    return p;
}

/* ---- Rescue -------------------------------------------------------------- */

/* Every scheduler looks at the others every LOOK_MS, awake or asleep. One
 * still inside the same run as at the last look, with a process waiting in
 * its runnext slot or its queue, is busy for a while: the waiting process is
 * taken over. Runs shorter than that (two processes calling each other) are
 * never split across cores. */
#define LOOK_MS 2

static struct proc *rescue(struct scheduler *self) {
    for (int i = 1; i < sched.n; i++) {
        struct scheduler *v = &sched.v[(self->index + i) % sched.n];
        uint64_t runs = atomic_load_explicit(&v->runs, memory_order_relaxed);
        bool stuck = runs == self->seen[v->index] &&
                     atomic_load_explicit(&v->running, memory_order_relaxed);
        self->seen[v->index] = runs;
        if (!stuck)
            continue;
        struct proc *p = atomic_exchange_explicit(&v->runnext, NULL, memory_order_acq_rel);
        if (!p)
            p = pop(v);
        if (p)
            return p;
    }
    return NULL;
}

/* A process to take over from a busy scheduler, if LOOK_MS have passed
 * since s last looked; or NULL. */
static struct proc *look(struct scheduler *s) {
    int64_t now = now_ns();
    if (now < s->next_look)
        return NULL;
    s->next_look = now + LOOK_MS * 1000000;
    return rescue(s);
}

/* ---- Running processes --------------------------------------------------- */

static void end_run(struct scheduler *s, struct proc *p);
static void give_stack(struct scheduler *s, struct proc *p);

/* p becomes s's running process, its run counted (what rescue and the
 * preemption ticker read): from run, or from a handoff to p. */
static void begin_run(struct scheduler *s, struct proc *p) {
    p->sched = s;
    current_proc = p;
    atomic_store_explicit(&s->runs, atomic_load_explicit(&s->runs, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    atomic_store_explicit(&s->running, p, memory_order_relaxed);
}

/* Speed-up: a process that waits, having woken the one in its scheduler's
 * runnext slot (a call's caller after sending the request, the server
 * after its reply), switches straight to it instead of through the
 * scheduler's fiber: one switch instead of two, and no pass through the
 * scheduler's loop. What the loop would do between the two runs is done
 * by the process switched to, first thing (sched_landed): it ends the waiting
 * process's run (end_run: park it, or queue it if a signal came). Not when
 * something else is due: a preempted process pinned here, a flush of
 * messages to other nodes, the queue's turn (RUNNEXT_STREAK), or the loop's
 * own (HANDOFF_MAX). Only to a process that waits inside sched_switch
 * (why SWITCH_WAIT or SWITCH_AWAIT, its stack kept), which is where it
 * resumes, or to one whose stack was taken (stackless), given one here to
 * start on, whose first call is sched_landed. The process switched to
 * becomes s's running process here, its run counted, as run() does.
 * call_rtt 343 -> 300 ns (means of 4 runs back to back). */
#define HANDOFF_MAX 16
__attribute__((noinline)) static struct proc *handoff(struct scheduler *s, struct proc *p) {
    if (s->pinned_head || s->dist_flush || s->streak >= RUNNEXT_STREAK ||
        s->handoffs >= HANDOFF_MAX || !atomic_load_explicit(&s->runnext, memory_order_relaxed))
        return NULL;
    /* Taken with an exchange, as next_to_run does: a rescuer may take it first. */
    struct proc *q = atomic_exchange_explicit(&s->runnext, NULL, memory_order_acq_rel);
    if (!q)
        return NULL;
    if (q->why != SWITCH_WAIT && q->why != SWITCH_AWAIT && !q->stackless) {
        /* Put back: only s's own thread fills the slot, rescuers empty it. */
        atomic_store_explicit(&s->runnext, q, memory_order_release);
        return NULL;
    }
    if (q->stackless)
        give_stack(s, q);
    s->streak++;
    s->handoffs++;
    s->handoff_from = p;
    begin_run(s, q);
    return q;
}

/* p resumed inside sched_switch: if a handoff switched to it, it ends the
 * run of the process that switched. Reads no thread-local: p may resume
 * on another thread than it stopped on; p->sched is where it runs now. */
__attribute__((noinline)) void sched_landed(struct proc *p) {
    struct scheduler *s = p->sched;
    struct proc *from = s->handoff_from;
    if (from) {
        s->handoff_from = NULL;
        end_run(s, from);
    }
}

void sched_switch(struct proc *p, enum proc_switch why) {
    p->why = why;
    struct proc *q = why == SWITCH_WAIT || why == SWITCH_AWAIT ? handoff(p->sched, p) : NULL;
    fiber_switch(&p->fiber, q ? &q->fiber : &p->sched->fiber, why == SWITCH_EXIT);
    sched_landed(p);
}

/* p asked to wait: park it unless a signal or its timer got there first.
 * Its receive timer, if any, is armed here, under p->lock: nothing can fire
 * or wake it before it is WAITING. Returns the number of the wait (its
 * wait_seq), or 0 when p was runnable at once. */
static uint64_t park(struct scheduler *s, struct proc *p) {
    lock_take(&p->lock);
    bool ready = p->inbox.head != NULL || p->timed_out;
    uint64_t seq = 0;
    if (!ready) {
        p->state = PROC_WAITING;
        seq = ++p->wait_seq;
        if (p->deadline)
            timer_arm(p, p->deadline, p->wait_seq);
    }
    lock_give(&p->lock);
    if (ready)
        push(s, p, NULL);
    return seq;
}

/* Without guard pages: panics when p wrote the red zone of stack, its
 * own. Checked where p's stack leaves it: at its exit, and where it gives
 * the stack up, so that another process's exit is never blamed for it. */
static void check_red_zone(const struct proc *p, const char *stack) {
    if (!stack_guarded() && !stack_intact(stack))
        panic("process %s <0.%u.%u> overflowed its %zu-byte stack", p->name,
              (unsigned)(p->pid.u.id >> 32), (unsigned)p->pid.u.id, p->fiber.size);
}

/* Ends p when it overflowed its stack, with {stack_overflow, Bytes}, and
 * no other process: its saved stack pointer is below its stack (or in the
 * red zone) now, so it cannot run on where it stopped; it runs once more,
 * from the top of its stack, only to die (crash_overflow_entry). With guard
 * pages a process faults the moment it reaches the gap, and this is a
 * second line. Without them (an older kernel) it is the first, and the red
 * zone is checked once more when a process exits (reading it costs a TLB
 * miss): written then, the process is dead already and what it overran is
 * unknown, so the node panics. */
static void check_stack(struct proc *p) {
    if (p->why != SWITCH_EXIT && fiber_overflowed(&p->fiber)) {
        fiber_restart(&p->fiber, crash_overflow_entry, p);
        p->why = SWITCH_YIELD;
    } else if (p->why == SWITCH_EXIT) {
        check_red_zone(p, p->fiber.stack);
    }
}

/* ---- Stacks given up ------------------------------------------------------
 *
 * A process waiting in erl_hibernate, or in erl_await once its stack has
 * been taken, holds no stack: it needs none until it wakes, and then
 * starts afresh (hibernate.c). Who holds a stack is fiber.c's invariant;
 * these are the moves:
 *   - erl_hibernate: at the end of its run, the stack's pages go back to
 *     the system and the stack to the pool.
 *   - erl_await: the process waits with its stack, and s remembers the
 *     wait in its ring of the last AWAIT_KEPT. When a newer wait pushes it
 *     out of the ring and the process still waits in it, its stack is
 *     taken, pages and all, into s's cache (the pool when the cache is
 *     full), under the process's lock, the same lock that a wakeup takes:
 *     a waiting process is switched out, so nobody runs on that stack, and
 *     the wakeup that makes it runnable comes after, so its next run sees
 *     it stackless. So a server that is busy wakes where it waited, as from
 *     any receive, and a server that waits while AWAIT_KEPT others waited
 *     after it costs its slot and heap only.
 *   - A stackless process's next run gives it a stack: s's cache's top
 *     (warm), else one from the pool.
 * Only s's own thread touches s's ring and cache. */

/* p, switched out in erl_hibernate, gives its stack up: the pages go back
 * to the system, the stack to the pool. It waits for a message: at once
 * runnable when its queue holds one (one a receive passed over), as
 * erlang:hibernate/3 wakes at once then. The queue is p's own, read here
 * while p is switched out, on the thread that ran it. */
static void hibernate(struct scheduler *s, struct proc *p) {
    check_red_zone(p, p->fiber.stack);
    fiber_discard(&p->fiber);
    stack_put(p->fiber.stack);
    p->fiber.stack = NULL;
    p->stackless = true;
    if (p->queue.head)
        push(s, p, NULL);
    else
        park(s, p);
}

/* Takes the stack of p, waiting in wait number seq of erl_await, into s's
 * cache (the pool when the cache is full), if it still waits there. */
static void take_stack(struct scheduler *s, struct proc *p, uint64_t seq) {
    char *stack = NULL;
    lock_take(&p->lock);
    if (p->state == PROC_WAITING && p->wait_seq == seq && p->why == SWITCH_AWAIT &&
        !p->stackless) {
        stack = p->fiber.stack;
        check_red_zone(p, stack);
        p->fiber.stack = NULL;
        p->stackless = true;
    }
    lock_give(&p->lock);
    if (stack && s->nstacks < SCHED_STACKS)
        s->stacks[s->nstacks++] = stack;
    else if (stack)
        stack_put(stack);   /* outside p's lock: it may make a system call */
}

/* p, switched out in erl_await with its queue empty, waits (at once
 * runnable when a signal came, as from any receive); the wait joins s's
 * ring as its newest, and the oldest, AWAIT_KEPT waits back, gives its
 * stack up if it still waits there. p's own last wait here, if the ring still holds it,
 * is over: its entry is emptied, so that a busy server pushes nobody's
 * wait out but its own. Other entries whose waits are over, their
 * processes woken or gone, need no clearing: an entry matches only a
 * process whose why is SWITCH_AWAIT, waiting in the very wait the entry
 * numbers. A scheduled process's waits are numbered on across the
 * processes of its slot (park), and a slot's next process, a plain
 * thread's too, starts with why SWITCH_YIELD. p's await_sched and
 * await_index are read and written only while p is switched out, before
 * it may wake. */
static void park_awaiting(struct scheduler *s, struct proc *p) {
    if (p->await_sched == s && s->awaiting[p->await_index].p == p)
        s->awaiting[p->await_index].p = NULL;
    struct awaiting *slot = &s->awaiting[s->await_next];
    p->await_sched = s;
    p->await_index = s->await_next;
    s->await_next = (s->await_next + 1) % AWAIT_KEPT;
    if (slot->p)
        take_stack(s, slot->p, slot->seq);
    uint64_t seq = park(s, p);
    *slot = (struct awaiting){.p = seq ? p : NULL, .seq = seq};
}

/* Gives stackless p, about to run on s, a stack: the one last put in s's
 * cache, else one from the pool. It starts there at proc_hibernate_entry.
 * Panics when out of memory: the process could not even run to die. */
__attribute__((noinline)) static void give_stack(struct scheduler *s, struct proc *p) {
    char *stack = s->nstacks ? s->stacks[--s->nstacks] : stack_get();
    if (!stack)
        panic("out of memory for a stack for %s <0.%u.%u> to wake on", p->name,
              (unsigned)(p->pid.u.id >> 32), (unsigned)p->pid.u.id);
    p->fiber.stack = stack;
    fiber_restart(&p->fiber, proc_hibernate_entry, p);  /* its sanitizer
                                   state clean there too */
    p->stackless = false;
}

/* Ends the run of p, which switched out of its fiber on s: what its
 * switch asked for. */
static void end_run(struct scheduler *s, struct proc *p) {
    if (s->dist_flush) {    /* what p sent to other nodes leaves now */
        void (*flush)(void) = s->dist_flush;
        s->dist_flush = NULL;
        flush();
    }
    check_stack(p);
    switch (p->why) {
    case SWITCH_YIELD: push(s, p, NULL); break;
    case SWITCH_WAIT: park(s, p); break;
    case SWITCH_HIBERNATE: hibernate(s, p); break;
    case SWITCH_AWAIT: park_awaiting(s, p); break;
    case SWITCH_PREEMPT: pin(s, p); break;
    case SWITCH_EXIT:     /* the slot keeps the stack for its next process */
        fiber_release(&p->fiber);
        proc_free_slot(p);
        break;
    }
}

/* Runs p until it, or the last process of the handoffs it began, yields,
 * waits, hibernates or exits. */
static void run(struct scheduler *s, struct proc *p) {
    if (p->stackless)
        give_stack(s, p);
    begin_run(s, p);
    fiber_switch(&s->fiber, &p->fiber, false);
    p = atomic_load_explicit(&s->running, memory_order_relaxed);  /* the one
                                   that switched back: p, or a handoff's */
    s->handoffs = 0;
    atomic_store_explicit(&s->running, NULL, memory_order_relaxed);
    current_proc = NULL;
    end_run(s, p);
}

/* Waits on s->wake: without a time limit while no scheduled process is
 * alive (a spawn wakes it, see sched_spawned), else until the next look.
 * s->lock held. */
static void sleep_locked(struct scheduler *s) {
    atomic_fetch_add(&sched.deep, 1);
    if (proc_scheduled() == 0) {
        cond_wait(&s->wake, &s->lock, 0);
        atomic_fetch_sub(&sched.deep, 1);
        return;
    }
    atomic_fetch_sub(&sched.deep, 1);
    cond_wait(&s->wake, &s->lock, s->next_look);
}

/* Sleeps until work arrives, or until the next look. The check for work
 * and the wait are one critical section under s->lock, which push and
 * sched_stop take to signal: no wakeup is lost. */
static void idle(struct scheduler *s) {
    lock_take(&s->lock);
    if (!s->head && !atomic_load_explicit(&s->runnext, memory_order_relaxed) &&
        !atomic_load(&sched.shutdown)) {
        s->sleeping = true;
        atomic_fetch_add(&sched.sleeping, 1);
        sleep_locked(s);
        atomic_fetch_sub(&sched.sleeping, 1);
        s->sleeping = false;
        lock_give(&s->lock);
        preempt_unpark();   /* after the count went down: see preempt.c */
        return;
    }
    lock_give(&s->lock);
}

/* Looks for work: its own queue, then the others', a few times over (once
 * when a preempted process of its own waits: unpin takes that next).
 * Speed-up: a sleep and its wakeup cost microseconds of system calls; work
 * often comes sooner than that. */
static struct proc *find_work(struct scheduler *s) {
    int tries = s->pinned_head ? 1 : 64;
    for (int spin = 0; spin < tries; spin++) {
        struct proc *p = pop(s);
        if (!p)
            p = steal(s);
        if (p || atomic_load_explicit(&s->len, memory_order_relaxed))
            return p;
    }
    return NULL;
}

/* Speed-up: a scheduler that ran work a plain thread made runnable (a
 * message a connection's reader delivered, a timer) busy-waits
 * BUSY_WAIT_NS for more before it sleeps, giving the CPU to any other
 * runnable thread between looks (sched_yield), as BEAM's schedulers
 * busy-wait before they sleep (+sbwt). The next message from the network -
 * a remote call's reply, the next call - then finds it awake: on a virtual
 * machine a sleep and its wakeup cost 20-40 us. A plain thread's work goes
 * to the busy-waiter first (pick_for_thread); one scheduler busy-waits at
 * a time, and only on its own queue (polling the others' slowed their
 * pushes). bench_dist (a C-to-C call over loopback, 2 cores, load 1):
 * 70-85 us median without it, 22-38 us with it and the readers'
 * READ_SPIN_NS, where BEAM's erl-to-erl call took 98-118 us. Work between
 * processes wakes no busy-wait: the local figures do not change. */
#define BUSY_WAIT_NS (int64_t)100000
static struct proc *busy_wait(struct scheduler *s) {
    struct scheduler *none = NULL;
    if (!atomic_compare_exchange_strong(&sched.busy, &none, s))
        return NULL;    /* one busy-waiter at a time is enough */
    int64_t until = now_ns() + BUSY_WAIT_NS;
    struct proc *p = NULL;
    while (!p && !atomic_load_explicit(&sched.shutdown, memory_order_relaxed) &&
           now_ns() < until) {
        sched_yield();
        if (atomic_load_explicit(&s->len, memory_order_relaxed))
            p = pop(s);
    }
    atomic_store(&sched.busy, NULL);
    return p;
}

static void *scheduler_main(void *arg) {
    struct scheduler *s = arg;
    this_sched = s;
    proc_scheduler_thread();
    fiber_of_thread(&s->fiber);
    crash_thread_init();
    block_cache_start();
    bool from_thread = false;   /* the last run was of work from a plain thread */
    for (unsigned tick = 0; !atomic_load_explicit(&sched.shutdown, memory_order_relaxed); tick++) {
        /* The clock is read for a look every 16 runs, not every run. */
        struct proc *p = (tick & 15) == 0 ? look(s) : NULL;
        if (!p && (tick & 1))
            p = unpin(s);
        if (!p)
            p = next_to_run(s);
        if (!p)
            p = find_work(s);
        if (!p)
            p = unpin(s);
        if (!p && from_thread)
            p = busy_wait(s);
        from_thread = false;
        if (!p) {
            idle(s);
            p = look(s);
        }
        if (p) {
            from_thread = p->from_thread;
            p->from_thread = false;
            run(s, p);
        }
    }
    block_cache_stop();
    crash_thread_exit();
    return NULL;
}

/* ---- Starting and stopping ----------------------------------------------- */

static int init_scheduler(struct scheduler *s, int index, int n) {
    memset(s, 0, sizeof *s);
    s->index = index;
    s->seen = calloc((size_t)n, sizeof *s->seen);
    if (!s->seen)
        return -1;
    return 0;
}

int sched_start(int n, int64_t slice_ns) {
    sched.v = calloc((size_t)n, sizeof *sched.v);
    if (!sched.v)
        return -1;
    sched.n = n;
    atomic_store(&sched.shutdown, false);
    for (int i = 0; i < n; i++) {
        if (init_scheduler(&sched.v[i], i, n) < 0) {
            while (i-- > 0)
                free(sched.v[i].seen);
            free(sched.v);
            errno = ENOMEM;
            return -1;
        }
    }
    if (timers_start() < 0) {
        for (int i = 0; i < n; i++)
            free(sched.v[i].seen);
        free(sched.v);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        int err = pthread_create(&sched.v[i].thread, NULL, scheduler_main, &sched.v[i]);
        if (err) {
            sched.n = i;
            sched_stop();
            errno = err;
            return -1;
        }
    }
    if (preempt_start(slice_ns) < 0) {
        int err = errno;
        sched_stop();
        errno = err;
        return -1;
    }
    return 0;
}

void sched_stop(void) {
    preempt_stop();     /* first: its thread signals the schedulers */
    timers_stop();      /* then: its thread queues work on the schedulers */
    atomic_store(&sched.shutdown, true);
    for (int i = 0; i < sched.n; i++) {
        struct scheduler *s = &sched.v[i];
        lock_take(&s->lock);
        cond_signal(&s->wake);
        lock_give(&s->lock);
    }
    for (int i = 0; i < sched.n; i++)
        pthread_join(sched.v[i].thread, NULL);
    for (int i = 0; i < sched.n; i++)
        free(sched.v[i].seen);
    free(sched.v);
    sched.v = NULL;
    sched.n = 0;
}

int erl_schedulers(void) { return sched.n; }

bool sched_kick_if_stuck(int i, int sig, int64_t slice_ns, uint64_t *runs, int64_t *since) {
    struct scheduler *s = &sched.v[i];
    uint64_t now_runs = atomic_load_explicit(&s->runs, memory_order_relaxed);
    if (!atomic_load_explicit(&s->running, memory_order_relaxed))
        return false;
    int64_t now = now_ns();
    if (now_runs != *runs) {    /* a run the ticker has not seen: its clock starts */
        *runs = now_runs;
        *since = now;
        return false;
    }
    if (now - *since < slice_ns)
        return false;
    *since = now;               /* a refused signal is tried again a slice later */
    return pthread_kill(s->thread, sig) == 0;
}

bool sched_all_asleep(void) {
    return atomic_load(&sched.sleeping) == sched.n;
}

bool erl_dist_defer(void (*flush)(void)) {
    struct scheduler *s = this_sched;
    if (!s || !current_proc)
        return false;
    s->dist_flush = flush;
    return true;
}

/* The status of p for listings: "running" if a scheduler runs it now. */
bool sched_is_running(const struct proc *p) {
    for (int i = 0; i < sched.n; i++)
        if (atomic_load_explicit(&sched.v[i].running, memory_order_relaxed) == p)
            return true;
    return false;
}
