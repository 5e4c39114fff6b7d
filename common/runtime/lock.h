/*
 * lock.h - the runtime's hot lock and its condition variable: one futex
 * word each, the uncontended paths inline.
 *
 * A process's lock (every message delivered, received and waited for) and a
 * scheduler's (its run queue) are taken several times a message. The
 * lock's states are those of Drepper's "Futexes Are Tricky" (mutex 3):
 *
 *     0  free
 *     1  held, nobody sleeps on it
 *     2  held, and someone may sleep on it: the holder wakes one on release
 *
 * Taking is one compare-and-swap from 0 to 1 (acquire), giving is one
 * exchange to 0 (release); only a 2 seen at release costs a system call.
 * A thread that finds it held spins a little, then sets 2 and sleeps; it
 * takes the lock as 2, since it cannot know whether others still sleep.
 * Memory is ordered by the atomics alone, so ThreadSanitizer sees each
 * critical section's edges as it sees a pthread mutex's.
 *
 * The condition variable is a sequence number: a waiter reads it under the
 * lock, lets the lock go and sleeps while it is unchanged; a signal bumps it
 * and wakes a sleeper. A signal after the waiter's read changes the number
 * its sleep compares with, so no wakeup between the two is lost. Waits may
 * end without a signal: every caller checks its condition again, as with
 * pthread_cond_wait.
 *
 * Speed-up: they replace pthread_mutex_t and pthread_cond_t for these two
 * locks, whose glibc paths check the mutex's kind, owner and user count on
 * every call. Callgrind, per round trip of call_rtt: 2 575 -> 2 235
 * instructions; per cast, about 70 fewer. Timed, alternating the two builds
 * 15 times on 2 cores: call_rtt_ns best 231 -> 200 ns, median 240 -> 211 ns
 * in the machine's fast phase. The runtime's other locks, taken once per
 * timer, spawn or name, stay pthread's.
 */
#ifndef ERL_LOCK_H
#define ERL_LOCK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct lock {
    _Atomic uint32_t word;      /* 0 free, 1 held, 2 held with sleepers */
};

struct cond {
    _Atomic uint32_t seq;       /* bumped by every signal */
};

#define LOCK_INIT {0}
#define COND_INIT {0}

/* The slow paths (lock.c): the lock was held; a 2 was seen at release. */
void lock_wait(struct lock *l);
void lock_wake(struct lock *l);

static inline void lock_take(struct lock *l) {
    uint32_t free = 0;
    if (!atomic_compare_exchange_strong_explicit(&l->word, &free, 1, memory_order_acquire,
                                                 memory_order_relaxed))
        lock_wait(l);
}

static inline void lock_give(struct lock *l) {
    if (atomic_exchange_explicit(&l->word, 0, memory_order_release) == 2)
        lock_wake(l);
}

/* With l held: lets it go, sleeps until a signal on c or deadline (ns on
 * CLOCK_MONOTONIC, as now_ns; 0: none), takes l again. False when the
 * deadline passed; true may also be a wakeup without a signal. */
bool cond_wait(struct cond *c, struct lock *l, int64_t deadline);

/* Wakes one waiter of c, if any; best called with its lock held. */
void cond_signal(struct cond *c);

#endif
