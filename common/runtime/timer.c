/*
 * timer.c - receive timers, erlang:send_after/start_timer, and the thread
 * that fires them.
 *
 * Every timer of the node, a receive's timeout or a message to send later,
 * is one entry of one min-heap on its deadline. One thread, the timer
 * thread, fires them. Its invariant:
 *
 *     the timer thread is awake, or asleep until a time no later than the
 *     earliest deadline in the heap.
 *
 * Arming a timer earlier than the time the thread sleeps until wakes it;
 * nothing else may change the earliest deadline to an earlier one. So a due
 * timer is fired within the time a woken thread takes to run, whatever the
 * schedulers are busy with. A fired receive timer makes its process
 * runnable; from there, sched.c's guarantee takes over.
 *
 * The lock order is p->lock, then timers.lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "panic.h"
#include "proc.h"

/* A message to send when its timer fires (send_after, start_timer). */
struct msg_timer {
    term ref;                   /* the timer's reference */
    term dest;                  /* a pid or a registered name */
    struct proc *to;            /* dest's slot when dest is a pid, else NULL */
    struct heap_block *msg;     /* the message, copied at the call */
    int64_t deadline;           /* ns on CLOCK_MONOTONIC */
    long index;                 /* position in the heap */
    struct msg_timer *next, *prev;  /* the list of all message timers */
};

/* An armed timer: a receive timer (m NULL) fires for wait number seq of
 * process p; a message timer sends m. */
struct timer {
    int64_t deadline;           /* ns on CLOCK_MONOTONIC */
    struct proc *p;             /* receive timer: the waiting process */
    uint64_t seq;               /* receive timer: its wait_seq when armed */
    struct msg_timer *m;        /* message timer, or NULL */
};

static struct {
    /* timers.lock must be held when using these, and every timer_index: */
    pthread_mutex_t lock;
    pthread_cond_t wake;        /* wakes the timer thread */
    struct timer *heap;         /* a binary min-heap on deadline */
    size_t n, cap;              /* timers armed; room for */
    struct msg_timer *msgs;     /* every armed message timer, newest first */
    int64_t sleep_until;        /* the timer thread sleeps until this (ns;
                                   INT64_MAX: until woken); 0 while awake */
    bool stop;                  /* timers_stop: the thread leaves */

    pthread_t thread;           /* the timer thread (between start and stop) */
} timers = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- The heap ------------------------------------------------------------ */

static void heap_set(size_t i, struct timer t) {
    timers.heap[i] = t;
    if (t.m)
        t.m->index = (long)i;
    else
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

/* Removes the timer at i and returns it. timers.lock held. */
static struct timer heap_remove(size_t i) {
    struct timer t = timers.heap[i];
    if (t.m)
        t.m->index = -1;
    else
        t.p->timer_index = -1;
    timers.n--;
    if (i < timers.n) {
        /* The last timer moves into the hole: it may belong lower or higher
         * (one of these two does nothing). */
        heap_set(i, timers.heap[timers.n]);
        heap_down(i);
        heap_up(i);
    }
    return t;
}

/* Puts t in the heap, and wakes the timer thread if t is due before it
 * would wake (the invariant above). timers.lock held. */
static void heap_insert(struct timer t) {
    if (timers.n == timers.cap) {
        size_t cap = timers.cap ? 2 * timers.cap : 64;
        struct timer *h = realloc(timers.heap, cap * sizeof *h);
        if (!h)
            panic("out of memory for %zu timers", cap);
        timers.heap = h;
        timers.cap = cap;
    }
    timers.heap[timers.n] = t;
    heap_up(timers.n++);
    if (t.deadline < timers.sleep_until) {
        timers.sleep_until = 0;     /* signalled once: it is waking */
        pthread_cond_signal(&timers.wake);
    }
}

/* ---- Receive timers ------------------------------------------------------ */

void timer_arm(struct proc *p, int64_t deadline, uint64_t seq) {
    pthread_mutex_lock(&timers.lock);
    heap_insert((struct timer){deadline, p, seq, NULL});
    pthread_mutex_unlock(&timers.lock);
}

void timer_cancel(struct proc *p) {
    pthread_mutex_lock(&timers.lock);
    if (p->timer_index >= 0)
        heap_remove((size_t)p->timer_index);
    pthread_mutex_unlock(&timers.lock);
}

/* Wakes p with timed_out if it still waits in the receive the timer was for
 * (wait_seq keeps counting across a slot's processes: a late timer finds no
 * wait of a later process). */
static void receive_timer_fire(struct proc *p, uint64_t seq) {
    lock_take(&p->lock);
    bool wake = p->wait_seq == seq && p->state == PROC_WAITING;
    if (wake) {
        p->timed_out = true;
        p->state = PROC_RUNNABLE;
    }
    lock_give(&p->lock);
    if (wake)
        sched_enqueue(p);
}

/* ---- Message timers ------------------------------------------------------ */

/* Takes m out of the list of message timers. timers.lock held. */
static void msgs_unlink(struct msg_timer *m) {
    if (m->prev)
        m->prev->next = m->next;
    else
        timers.msgs = m->next;
    if (m->next)
        m->next->prev = m->prev;
    if (m->to)
        count_add(&m->to->msg_timers, -1);
}

/* Takes m out of the heap and the list. timers.lock held. */
static void msg_timer_remove(struct msg_timer *m) {
    if (m->index >= 0)
        heap_remove((size_t)m->index);
    msgs_unlink(m);
}

static void msg_timer_free(struct msg_timer *m) {
    block_free(m->msg);
    free(m);
}

/* Sends m's message to its destination, resolved now: a name nobody holds,
 * or a process that is gone, drops it. Then frees m. */
static void msg_timer_fire(struct msg_timer *m) {
    term pid = is_atom(m->dest) ? erl_whereis(m->dest) : m->dest;
    if (!is_none(pid) && signal_deliver(pid, m->msg))
        m->msg = NULL;
    if (m->msg)
        block_free(m->msg);
    free(m);
}

/* Arms a message timer: msg (copied) goes to dest in ms. Returns its ref,
 * or NONE with errno EINVAL (ms negative, dest neither a pid nor an atom). */
static term msg_timer_start(int ms, term dest, term msg, bool wrap) {
    if (ms < 0 || (!is_pid(dest) && !is_atom(dest))) {
        errno = EINVAL;
        return NONE;
    }
    term ref = erl_make_ref();
    struct msg_timer *m = malloc(sizeof *m);
    if (!m)
        panic("out of memory for a timer");
    *m = (struct msg_timer){.ref = ref, .dest = dest, .index = -1,
                            .deadline = now_ns() + (int64_t)ms * 1000000};
    term body = wrap ? TUPLE(ATOM("timeout"), ref, msg) : msg;
    m->msg = block_new(SIG_MESSAGE, NONE, NONE, body);
    struct proc *p = is_pid(dest) ? proc_lock_pid(dest) : NULL;
    if (is_pid(dest) && !p) {   /* a dead pid: the message would be dropped */
        msg_timer_free(m);
        return ref;
    }
    m->to = p;
    pthread_mutex_lock(&timers.lock);   /* p->lock held: no exit meanwhile */
    m->next = timers.msgs;
    if (m->next)
        m->next->prev = m;
    timers.msgs = m;
    if (p)
        count_add(&p->msg_timers, 1);
    heap_insert((struct timer){m->deadline, NULL, 0, m});
    pthread_mutex_unlock(&timers.lock);
    if (p)
        lock_give(&p->lock);
    return ref;
}

term erl_send_after(int ms, term dest, term msg) {
    return msg_timer_start(ms, dest, msg, false);
}

term erl_start_timer(int ms, term dest, term msg) {
    return msg_timer_start(ms, dest, msg, true);
}

long erl_cancel_timer(term ref) {
    pthread_mutex_lock(&timers.lock);
    struct msg_timer *m = timers.msgs;
    while (m && !(is_ref(ref) && m->ref.u.id == ref.u.id))
        m = m->next;
    if (m)
        msg_timer_remove(m);
    pthread_mutex_unlock(&timers.lock);
    if (!m)
        return -1;
    int64_t left = m->deadline - now_ns();
    msg_timer_free(m);
    return left > 0 ? (long)((left + 999999) / 1000000) : 0;
}

void timers_forget(struct proc *p) {
    if (atomic_load_explicit(&p->msg_timers, memory_order_relaxed) == 0)
        return;
    struct msg_timer *gone = NULL;
    pthread_mutex_lock(&timers.lock);
    for (struct msg_timer *m = timers.msgs, *next; m; m = next) {
        next = m->next;
        if (m->to == p) {
            msg_timer_remove(m);
            m->next = gone;
            gone = m;
        }
    }
    pthread_mutex_unlock(&timers.lock);
    while (gone) {
        struct msg_timer *next = gone->next;
        msg_timer_free(gone);
        gone = next;
    }
}

/* ---- The timer thread ---------------------------------------------------- */

/* Fires every timer that is due, letting timers.lock go for each (the lock
 * order). timers.lock held. */
static void fire_due(void) {
    while (timers.n > 0 && timers.heap[0].deadline <= now_ns()) {
        struct timer t = heap_remove(0);
        if (t.m)
            msgs_unlink(t.m);
        pthread_mutex_unlock(&timers.lock);
        if (t.m)
            msg_timer_fire(t.m);
        else
            receive_timer_fire(t.p, t.seq);
        pthread_mutex_lock(&timers.lock);
    }
}

/* Sleeps until the earliest deadline, or until woken. timers.lock held. */
static void sleep_until_due(void) {
    int64_t next = timers.n ? timers.heap[0].deadline : INT64_MAX;
    timers.sleep_until = next;
    if (next == INT64_MAX) {
        pthread_cond_wait(&timers.wake, &timers.lock);
    } else {
        struct timespec ts = {next / 1000000000, next % 1000000000};
        pthread_cond_timedwait(&timers.wake, &timers.lock, &ts);
    }
    timers.sleep_until = 0;
}

static void *timer_main(void *arg) {
    (void)arg;
    pthread_mutex_lock(&timers.lock);
    while (!timers.stop) {
        fire_due();
        if (!timers.stop)   /* checked under the lock: timers_stop signals */
            sleep_until_due();
    }
    pthread_mutex_unlock(&timers.lock);
    return NULL;
}

int timers_start(void) {
    cond_init_monotonic(&timers.wake);
    timers.stop = false;
    timers.sleep_until = 0;
    int err = pthread_create(&timers.thread, NULL, timer_main, NULL);
    if (err) {
        pthread_cond_destroy(&timers.wake);
        errno = err;
        return -1;
    }
    return 0;
}

void timers_stop(void) {
    pthread_mutex_lock(&timers.lock);
    timers.stop = true;
    pthread_cond_signal(&timers.wake);
    pthread_mutex_unlock(&timers.lock);
    pthread_join(timers.thread, NULL);
    pthread_cond_destroy(&timers.wake);
    while (timers.msgs) {
        struct msg_timer *m = timers.msgs;
        msgs_unlink(m);
        msg_timer_free(m);
    }
    free(timers.heap);
    timers.heap = NULL;
    timers.n = timers.cap = 0;
}
