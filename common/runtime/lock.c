/*
 * lock.c - the slow paths of lock.h: sleeping on a held lock, waking a
 * sleeper, and the condition variable's wait and signal.
 */
#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "lock.h"

/* Spins before a sleep: a critical section here is a few dozen
 * instructions, shorter than a system call. */
#define SPINS 100

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* Sleeps while *word is val, until woken or the absolute deadline ts on
 * CLOCK_MONOTONIC (NULL: none). False only when the deadline passed. */
static bool futex_wait(_Atomic uint32_t *word, uint32_t val, const struct timespec *ts) {
    long rc = syscall(SYS_futex, word, FUTEX_WAIT_BITSET_PRIVATE, val, ts, NULL,
                      FUTEX_BITSET_MATCH_ANY);
    return rc == 0 || errno != ETIMEDOUT;
}

static void futex_wake(_Atomic uint32_t *word) {
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Takes l as 2 (sleepers possible), sleeping while another holds it. */
static void take_contended(struct lock *l) {
    while (atomic_exchange_explicit(&l->word, 2, memory_order_acquire) != 0)
        futex_wait(&l->word, 2, NULL);
}

void lock_wait(struct lock *l) {
    for (int i = 0; i < SPINS; i++) {
        uint32_t free = 0;
        if (atomic_load_explicit(&l->word, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_weak_explicit(&l->word, &free, 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return;
        cpu_relax();
    }
    take_contended(l);
}

void lock_wake(struct lock *l) { futex_wake(&l->word); }

bool cond_wait(struct cond *c, struct lock *l, int64_t deadline) {
    uint32_t seq = atomic_load_explicit(&c->seq, memory_order_relaxed);
    struct timespec ts = {deadline / 1000000000, deadline % 1000000000};
    lock_give(l);
    bool in_time = futex_wait(&c->seq, seq, deadline ? &ts : NULL);
    take_contended(l);
    return in_time;
}

void cond_signal(struct cond *c) {
    atomic_fetch_add_explicit(&c->seq, 1, memory_order_relaxed);
    futex_wake(&c->seq);
}
