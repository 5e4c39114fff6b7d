/*
 * sched.c - scheduler threads, run queues and receive timers.
 *
 * Each scheduler thread owns a run queue. A process made runnable by another
 * process goes on the sender's scheduler, so a call and its reply stay on one
 * core; a scheduler with nothing to do steals from the others, then sleeps
 * until woken or until the earliest receive timer is due.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crash.h"
#include "panic.h"
#include "proc.h"

/* An armed receive timer: fires for wait number seq of process p. */
struct timer {
    int64_t deadline;           /* ns on CLOCK_MONOTONIC */
    struct proc *p;             /* the waiting process */
    uint64_t seq;               /* its wait_seq when armed */
};

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
    int streak;                 /* runs taken from runnext in a row */
    uint64_t *seen;             /* the others' runs at its last rescue look */
    struct timer *pending;      /* timers of processes it parked, not armed yet */
    int npending;               /* how many */

    /* s->lock must be held when using these: */
    pthread_mutex_t lock;
    pthread_cond_t wake;        /* signalled when work arrives while asleep */
    struct proc *head, *tail;   /* the run queue, linked by run_next */
    _Atomic size_t len;         /* processes in the run queue; others may
                                   peek at it without the lock */
    bool sleeping;              /* waiting on wake */
};

static struct {
    struct scheduler *v;        /* the schedulers */
    int n;                      /* how many */
    _Atomic int sleeping;       /* how many are asleep */
    _Atomic bool shutdown;      /* set by sched_stop: leave the loop */
    _Atomic unsigned next;      /* round robin for plain threads' wake-ups */
} sched;

static _Thread_local struct scheduler *this_sched;

int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- Timers -------------------------------------------------------------- */

static struct {
    pthread_mutex_t lock;       /* guards heap, n, cap and every timer_index */
    struct timer *heap;         /* a binary min-heap on deadline */
    size_t n, cap;              /* timers armed; room for */
    _Atomic int64_t next;       /* earliest deadline, INT64_MAX if none */
} timers = {.lock = PTHREAD_MUTEX_INITIALIZER, .next = INT64_MAX};

static void heap_set(size_t i, struct timer t) {
    timers.heap[i] = t;
    t.p->timer_index = (long)i;
}

static void heap_up(size_t i) {
    struct timer t = timers.heap[i];
    while (i > 0 && timers.heap[(i - 1) / 2].deadline > t.deadline) {
        heap_set(i, timers.heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(i, t);
}

static void heap_down(size_t i) {
    struct timer t = timers.heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= timers.n)
            break;
        if (c + 1 < timers.n && timers.heap[c + 1].deadline < timers.heap[c].deadline)
            c++;
        if (timers.heap[c].deadline >= t.deadline)
            break;
        heap_set(i, timers.heap[c]);
        i = c;
    }
    heap_set(i, t);
}

/* Removes the timer at i. timers.lock held. */
static void heap_remove(size_t i) {
    timers.heap[i].p->timer_index = -1;
    timers.n--;
    if (i < timers.n) {
        /* The last timer moves into the hole: it may belong lower or higher
         * (one of these two does nothing). */
        heap_set(i, timers.heap[timers.n]);
        heap_down(i);
        heap_up(i);
    }
    atomic_store(&timers.next, timers.n ? timers.heap[0].deadline : INT64_MAX);
}

/* Arms timer t. p's lock held (the lock order is p->lock, then
 * timers.lock). */
static void timer_arm(struct timer t) {
    pthread_mutex_lock(&timers.lock);
    if (timers.n == timers.cap) {
        size_t cap = timers.cap ? 2 * timers.cap : 64;
        struct timer *h = realloc(timers.heap, cap * sizeof *h);
        if (!h)
            panic("out of memory for %zu receive timers", cap);
        timers.heap = h;
        timers.cap = cap;
    }
    timers.heap[timers.n] = t;
    heap_up(timers.n++);
    atomic_store(&timers.next, timers.heap[0].deadline);
    pthread_mutex_unlock(&timers.lock);
}

void timer_cancel(struct proc *p) {
    pthread_mutex_lock(&timers.lock);
    if (p->timer_index >= 0)
        heap_remove((size_t)p->timer_index);
    pthread_mutex_unlock(&timers.lock);
}

/* Wakes p with timed_out if it still waits in the receive the timer was for. */
static void timer_fire(struct proc *p, uint64_t seq) {
    pthread_mutex_lock(&p->lock);
    bool wake = p->wait_seq == seq && p->state == PROC_WAITING;
    if (wake) {
        p->timed_out = true;
        p->state = PROC_RUNNABLE;
    }
    pthread_mutex_unlock(&p->lock);
    if (wake)
        sched_enqueue(p);
}

/* Fires every timer that is due. */
static void timers_run(void) {
    if (atomic_load_explicit(&timers.next, memory_order_relaxed) == INT64_MAX)
        return;
    int64_t now = now_ns();
    while (atomic_load(&timers.next) <= now) {
        pthread_mutex_lock(&timers.lock);
        if (timers.n == 0 || timers.heap[0].deadline > now) {
            pthread_mutex_unlock(&timers.lock);
            break;
        }
        struct timer t = timers.heap[0];
        heap_remove(0);
        pthread_mutex_unlock(&timers.lock);
        timer_fire(t.p, t.seq);
    }
}

/* ---- Run queues ---------------------------------------------------------- */

/* Appends p to s's queue; wakes s if it sleeps. Returns the queue length. */
static size_t push(struct scheduler *s, struct proc *p) {
    p->run_next = NULL;
    pthread_mutex_lock(&s->lock);
    if (s->tail)
        s->tail->run_next = p;
    else
        s->head = p;
    s->tail = p;
    size_t len = atomic_fetch_add_explicit(&s->len, 1, memory_order_relaxed) + 1;
    if (s->sleeping)
        pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    return len;
}

/* Takes the oldest process in s's queue, or NULL. */
static struct proc *pop(struct scheduler *s) {
    pthread_mutex_lock(&s->lock);
    struct proc *p = s->head;
    if (p) {
        s->head = p->run_next;
        if (!s->head)
            s->tail = NULL;
        atomic_fetch_sub_explicit(&s->len, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&s->lock);
    return p;
}

/* Takes up to half of v's queue (at most STEAL_MAX), oldest first: returns
 * the first to run now and queues the others on self; or NULL. Taking many
 * at once keeps the two schedulers off each other's locks. */
#define STEAL_MAX 32
static struct proc *steal_from(struct scheduler *self, struct scheduler *v) {
    pthread_mutex_lock(&v->lock);
    size_t len = atomic_load_explicit(&v->len, memory_order_relaxed);
    size_t k = len < 2 ? 0 : len / 2 < STEAL_MAX ? len / 2 : STEAL_MAX;
    struct proc *first = v->head, *last = first;
    for (size_t i = 1; i < k; i++)
        last = last->run_next;
    if (k) {
        v->head = last->run_next;
        if (!v->head)
            v->tail = NULL;
        atomic_store_explicit(&v->len, len - k, memory_order_relaxed);
    }
    pthread_mutex_unlock(&v->lock);
    if (!k)
        return NULL;
    if (k > 1) {    /* the rest, first->run_next .. last, joins self's queue */
        last->run_next = NULL;
        pthread_mutex_lock(&self->lock);
        if (self->tail)
            self->tail->run_next = first->run_next;
        else
            self->head = first->run_next;
        self->tail = last;
        atomic_fetch_add_explicit(&self->len, k - 1, memory_order_relaxed);
        pthread_mutex_unlock(&self->lock);
    }
    return first;
}

/* Takes work from another scheduler's queue, or NULL. A queue of one is
 * left alone: its owner runs it next, and moving it would split two
 * processes that talk to each other across two cores, where every message
 * costs a trip between caches. */
static struct proc *steal(struct scheduler *self) {
    for (int i = 1; i < sched.n; i++) {
        struct scheduler *v = &sched.v[(self->index + i) % sched.n];
        if (atomic_load_explicit(&v->len, memory_order_relaxed) < 2)
            continue;   /* only a hint: steal_from decides under the lock */
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
        pthread_mutex_lock(&v->lock);
        bool asleep = v->sleeping;
        if (asleep)
            pthread_cond_signal(&v->wake);
        pthread_mutex_unlock(&v->lock);
        if (asleep)
            return;
    }
}

/* Puts p in s's runnext slot; whatever was there goes to the queue. */
static void make_next(struct scheduler *s, struct proc *p) {
    if (!atomic_load_explicit(&s->runnext, memory_order_relaxed)) {
        /* Empty: a rescuer can only swap NULL for NULL, so a store does. */
        atomic_store_explicit(&s->runnext, p, memory_order_release);
        return;
    }
    struct proc *old = atomic_exchange_explicit(&s->runnext, p, memory_order_acq_rel);
    if (old && push(s, old) > 1 && atomic_load(&sched.sleeping) > 0)
        wake_helper(s);
}

void sched_enqueue(struct proc *p) {
    struct scheduler *s = this_sched;
    if (s && current_proc) {    /* woken by the process s runs: it goes next */
        make_next(s, p);
        return;
    }
    if (!s) {   /* a plain thread: go where p ran last */
        s = p->sched;
        if (!s)
            s = &sched.v[atomic_fetch_add(&sched.next, 1) % (unsigned)sched.n];
    }
    push(s, p);
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
        push(s, p);
    return pop(s);
}

/* ---- Rescue -------------------------------------------------------------- */

/* An idle scheduler looks at the others every RESCUE_MS while processes
 * live. One still inside the same run as at the last look, with a process
 * waiting in its runnext slot or its queue, is busy for a while: the waiting
 * process is taken over. Runs shorter than that (two processes calling each
 * other) are never split across cores. */
#define RESCUE_MS 2

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

/* ---- Running processes --------------------------------------------------- */

void sched_switch(struct proc *p, enum proc_switch why) {
    p->why = why;
    fiber_switch(&p->fiber, &p->sched->fiber, why == SWITCH_EXIT);
}

/* ---- Timers armed late --------------------------------------------------- */

/* Most receives with a timeout end long before it: a call's reply comes in
 * microseconds. So park only notes the timer in its scheduler's pending
 * list, without a lock; the scheduler arms the ones still waiting every few
 * runs and before it sleeps. A receive that ends first never touches the
 * timer heap; a timer is armed at most PENDING_MAX runs late. */
#define PENDING_MAX 16

/* Arms every pending timer whose wait is still on. */
static void arm_pending(struct scheduler *s) {
    for (int i = 0; i < s->npending; i++) {
        struct timer t = s->pending[i];
        pthread_mutex_lock(&t.p->lock);
        if (t.p->wait_seq == t.seq && t.p->state == PROC_WAITING)
            timer_arm(t);
        pthread_mutex_unlock(&t.p->lock);
    }
    s->npending = 0;
}

/* p asked to wait: park it unless a signal or its timer got there first. */
static void park(struct scheduler *s, struct proc *p) {
    pthread_mutex_lock(&p->lock);
    bool ready = p->inbox.head != NULL || p->timed_out;
    struct timer t = {p->deadline, p, 0};
    if (!ready) {
        p->state = PROC_WAITING;
        t.seq = ++p->wait_seq;
    }
    pthread_mutex_unlock(&p->lock);
    if (ready) {
        push(s, p);
    } else if (t.deadline) {
        s->pending[s->npending++] = t;
        if (s->npending == PENDING_MAX)
            arm_pending(s);
    }
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
    } else if (p->why == SWITCH_EXIT && !stack_guarded() && !stack_intact(p->fiber.stack)) {
        panic("process %s <0.%u.%u> overflowed its %zu-byte stack", p->name,
              (unsigned)(p->pid.u.id >> 32), (unsigned)p->pid.u.id, p->fiber.size);
    }
}

/* Runs p until it yields, waits or exits. */
static void run(struct scheduler *s, struct proc *p) {
    p->sched = s;
    current_proc = p;
    atomic_store_explicit(&s->runs, atomic_load_explicit(&s->runs, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    atomic_store_explicit(&s->running, p, memory_order_relaxed);
    fiber_switch(&s->fiber, &p->fiber, false);
    atomic_store_explicit(&s->running, NULL, memory_order_relaxed);
    current_proc = NULL;
    check_stack(p);
    switch (p->why) {
    case SWITCH_YIELD: push(s, p); break;
    case SWITCH_WAIT: park(s, p); break;
    case SWITCH_EXIT:     /* the slot keeps the stack for its next process */
        fiber_release(&p->fiber);
        proc_free_slot(p);
        break;
    }
}

/* Sleeps until work arrives or the earliest timer is due, or, while
 * processes live, for RESCUE_MS at most. */
static void idle(struct scheduler *s) {
    pthread_mutex_lock(&s->lock);
    if (s->head || atomic_load(&sched.shutdown)) {
        pthread_mutex_unlock(&s->lock);
        return;
    }
    s->sleeping = true;
    atomic_fetch_add(&sched.sleeping, 1);
    pthread_mutex_unlock(&s->lock);
    arm_pending(s);     /* before sleeping: nobody else would */
    pthread_mutex_lock(&s->lock);
    int64_t next = atomic_load(&timers.next);
    if (proc_scheduled() > 0 && next > now_ns() + RESCUE_MS * 1000000)
        next = now_ns() + RESCUE_MS * 1000000;
    if (next == INT64_MAX) {
        pthread_cond_wait(&s->wake, &s->lock);
    } else {
        struct timespec ts = {next / 1000000000, next % 1000000000};
        pthread_cond_timedwait(&s->wake, &s->lock, &ts);
    }
    atomic_fetch_sub(&sched.sleeping, 1);
    s->sleeping = false;
    pthread_mutex_unlock(&s->lock);
}

/* Looks for work: its own queue, then the others', a few times over. */
static struct proc *find_work(struct scheduler *s) {
    for (int spin = 0; spin < 64; spin++) {
        struct proc *p = pop(s);
        if (!p)
            p = steal(s);
        if (p || atomic_load_explicit(&s->len, memory_order_relaxed))
            return p;
        timers_run();
    }
    return NULL;
}

static void *scheduler_main(void *arg) {
    struct scheduler *s = arg;
    this_sched = s;
    proc_scheduler_thread();
    fiber_of_thread(&s->fiber);
    crash_thread_init();
    block_cache_start();
    proc_slots_start();
    for (unsigned tick = 0; !atomic_load_explicit(&sched.shutdown, memory_order_relaxed); tick++) {
        if ((tick & 15) == 0) {
            arm_pending(s);
            timers_run();
        }
        struct proc *p = next_to_run(s);
        if (!p)
            p = find_work(s);
        if (p) {
            run(s, p);
            continue;
        }
        idle(s);
        p = rescue(s);
        if (p)
            run(s, p);
    }
    proc_slots_stop();
    block_cache_stop();
    crash_thread_exit();
    return NULL;
}

/* ---- Starting and stopping ----------------------------------------------- */

static int init_scheduler(struct scheduler *s, int index, int n) {
    memset(s, 0, sizeof *s);
    s->index = index;
    s->seen = calloc((size_t)n, sizeof *s->seen);
    s->pending = calloc(PENDING_MAX, sizeof *s->pending);
    if (!s->seen || !s->pending) {
        free(s->seen);
        free(s->pending);
        return -1;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->wake, &ca);
    pthread_condattr_destroy(&ca);
    return 0;
}

int sched_start(int n) {
    sched.v = calloc((size_t)n, sizeof *sched.v);
    if (!sched.v)
        return -1;
    sched.n = n;
    atomic_store(&sched.shutdown, false);
    for (int i = 0; i < n; i++) {
        if (init_scheduler(&sched.v[i], i, n) < 0) {
            while (i-- > 0) {
                free(sched.v[i].seen);
                free(sched.v[i].pending);
            }
            free(sched.v);
            errno = ENOMEM;
            return -1;
        }
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
    return 0;
}

void sched_stop(void) {
    atomic_store(&sched.shutdown, true);
    for (int i = 0; i < sched.n; i++) {
        struct scheduler *s = &sched.v[i];
        pthread_mutex_lock(&s->lock);
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->lock);
    }
    for (int i = 0; i < sched.n; i++)
        pthread_join(sched.v[i].thread, NULL);
    for (int i = 0; i < sched.n; i++) {
        pthread_mutex_destroy(&sched.v[i].lock);
        pthread_cond_destroy(&sched.v[i].wake);
        free(sched.v[i].seen);
        free(sched.v[i].pending);
    }
    free(sched.v);
    sched.v = NULL;
    sched.n = 0;
    pthread_mutex_lock(&timers.lock);
    free(timers.heap);
    timers.heap = NULL;
    timers.n = timers.cap = 0;
    atomic_store(&timers.next, INT64_MAX);
    pthread_mutex_unlock(&timers.lock);
}

int erl_schedulers(void) { return sched.n; }

/* The status of p for listings: "running" if a scheduler runs it now. */
bool sched_is_running(const struct proc *p) {
    for (int i = 0; i < sched.n; i++)
        if (atomic_load_explicit(&sched.v[i].running, memory_order_relaxed) == p)
            return true;
    return false;
}
