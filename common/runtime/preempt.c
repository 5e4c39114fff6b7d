/*
 * preempt.c - the ticker, the SIGURG handler and the preempted yield.
 *
 * Which code is preemptible: only instructions between __start_erl_user_text
 * and __stop_erl_user_text, the section the build gives the text of the
 * stages' and tests' own objects (common.mk's USER_TEXT). The core, libc,
 * libei, libraft, libuv, the sanitizers' runtimes, Criterion and modules
 * that 07 loads with dlopen are outside it, so a process is never switched
 * while it holds one of their locks or stands in the middle of their state.
 * A program with no such object (the core's suites) has an empty range.
 */
#include "preempt.h"

#include <cpuid.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <ucontext.h>

#include "erl.h"
#include "panic.h"
#include "proc.h"

/* Set by the linker when some object has a section erl_user_text; else the
 * weak references are 0 and the range is empty. */
extern const char __start_erl_user_text[] __attribute__((weak));
extern const char __stop_erl_user_text[] __attribute__((weak));

/* In preempt_<arch>.S. */
void erl_preempt_trampoline(void);

/* Read by the trampoline; written by preempt_start before any signal: */
uint32_t erl_preempt_xsave;     /* 1: save with xsave, 0: with fxsave */
uint32_t erl_preempt_mask[2];   /* xsave's component mask (edx:eax) */
uint64_t erl_preempt_area;      /* bytes the trampoline reserves for the
                                   saved vector state, alignment included */

static struct {
    int64_t slice_ns;           /* the slice; 0 = off */
    pthread_t thread;           /* the ticker */
    bool started;               /* the ticker runs and the handler is set */
    struct sigaction old;       /* SIGURG's action before preempt_start */
    _Atomic uint64_t preemptions;   /* processes the handler preempted */
    _Atomic uint64_t refusals;      /* signals it left alone (not safe) */

    /* ticker.lock must be held when using these: */
    pthread_mutex_t lock;
    pthread_cond_t wake;        /* signalled by preempt_stop, and by
                                   preempt_unpark while parked */
    bool stop;                  /* preempt_stop asked the ticker to end */

    /* Set (under lock) while the ticker waits with no time limit because
     * every scheduler slept: the ticker then wakes only when a scheduler
     * does (measured: 03's idle shell used 23 clock ticks of CPU in 3 s
     * without parking, 15 with it, 9 with preemption off). It parks only after seeing
     * sched.sleeping == n with parked already set (seq_cst both), and a
     * scheduler leaving its sleep lowers sched.sleeping before it reads
     * parked (seq_cst both): so either the ticker sees a scheduler awake
     * and does not park, or the scheduler sees it parked and wakes it. A
     * scheduler runs a process only after leaving its sleep. */
    _Atomic bool parked;
} ticker = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- The slice ------------------------------------------------------------ */

#ifdef ERL_SANITIZE
int64_t preempt_slice_ns(int opt_us) {
    (void)opt_us;   /* off under the sanitizers: see common/README.md */
    return 0;
}
#else
int64_t preempt_slice_ns(int opt_us) {
    if (opt_us)
        return opt_us < 0 ? 0 : (int64_t)opt_us * 1000;
    const char *env = getenv("ERL_PREEMPT_US");
    if (!env || !*env)
        return (int64_t)PREEMPT_DEFAULT_US * 1000;
    char *end;
    errno = 0;
    long long us = strtoll(env, &end, 10);
    if (*end || errno || us < 0 || us > INT32_MAX) {
        fprintf(stderr, "ERL_PREEMPT_US=%s: not a number of microseconds "
                        "(0 turns preemption off)\n", env);
        errno = EINVAL;
        return -1;
    }
    return (int64_t)us * 1000;
}
#endif

/* ---- The handler ---------------------------------------------------------- */

/* The x86-64 System V red zone: the interrupted code may keep data in the
 * 128 bytes below its stack pointer, which the injected call must skip. */
#define RED_ZONE 128

/* Stack the preempted process needs below its stack pointer: the red
 * zone, the return address, 16 saved registers, the vector state, and
 * room to switch or, killed at once, to die (proc_die: 8 KiB, crash.c). */
static uintptr_t needed_room(void) {
    return RED_ZONE + 8 + 16 * 8 + erl_preempt_area + 12 * 1024;
}

/* The ranges preempt_add_text added (shared objects' erl_user_text), read
 * by the handler without a lock. Each slot is a sequence lock: seq is odd
 * while a writer (holding texts.lock) changes lo and hi, so a handler that
 * reads an odd seq, or a different seq after lo and hi, ignores the slot
 * (that signal is refused; the ticker tries again a slice later). lo == 0:
 * free. */
static struct {
    pthread_mutex_t lock;           /* serializes writers */
    struct text_slot {
        _Atomic unsigned seq;       /* even: stable; odd: being written */
        _Atomic uintptr_t lo, hi;   /* the range [lo, hi); lo 0 when free */
    } v[PREEMPT_MAX_TEXTS];
} texts = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Writes slot i's range (lo 0 frees it). texts.lock held. */
static void write_text(int i, uintptr_t lo, uintptr_t hi) {
    struct text_slot *t = &texts.v[i];
    atomic_fetch_add(&t->seq, 1);
    atomic_store(&t->lo, lo);
    atomic_store(&t->hi, hi);
    atomic_fetch_add(&t->seq, 1);
}

int preempt_add_text(uintptr_t lo, uintptr_t hi) {
    if (!lo || hi <= lo)
        return -1;
    pthread_mutex_lock(&texts.lock);
    int i = 0;
    while (i < PREEMPT_MAX_TEXTS && atomic_load(&texts.v[i].lo))
        i++;
    if (i < PREEMPT_MAX_TEXTS)
        write_text(i, lo, hi);
    pthread_mutex_unlock(&texts.lock);
    return i < PREEMPT_MAX_TEXTS ? i : -1;
}

void preempt_remove_text(int slot) {
    if (slot < 0 || slot >= PREEMPT_MAX_TEXTS)
        return;
    pthread_mutex_lock(&texts.lock);
    write_text(slot, 0, 0);
    pthread_mutex_unlock(&texts.lock);
}

/* True when pc lies in an added range, read consistently. Async-signal-safe
 * (sequentially consistent loads, no lock). */
static bool in_added_text(uintptr_t pc) {
    for (int i = 0; i < PREEMPT_MAX_TEXTS; i++) {
        struct text_slot *t = &texts.v[i];
        unsigned seq = atomic_load(&t->seq);
        uintptr_t lo = atomic_load(&t->lo), hi = atomic_load(&t->hi);
        if (!(seq & 1) && lo && pc >= lo && pc < hi && atomic_load(&t->seq) == seq)
            return true;
    }
    return false;
}

/* True when the interrupted instruction is in the preemptible range. */
static bool preemptible(uintptr_t pc) {
    if (pc >= (uintptr_t)__start_erl_user_text && pc < (uintptr_t)__stop_erl_user_text)
        return true;
    return in_added_text(pc);
}

/* True when sp is in p's stack with room below it, and the handler itself
 * is not on that stack (no alternate stack: the kernel's signal frame lies
 * right below the red zone, where the injected call would write). */
static bool room_on_stack(const struct proc *p, uintptr_t sp) {
    uintptr_t lo = (uintptr_t)p->fiber.stack, here = (uintptr_t)__builtin_frame_address(0);
    if (!lo || sp > lo + p->fiber.size || sp < lo + needed_room())
        return false;
    return here < lo || here > lo + p->fiber.size;
}

/* Async-signal-safe: reads a thread-local and the signal frame, writes one
 * word on the process's stack below its red zone, counts. */
static void on_preempt(int sig, siginfo_t *info, void *ctx) {
    (void)sig, (void)info;
    ucontext_t *uc = ctx;
    struct proc *p = current_proc;
    uintptr_t pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
    uintptr_t sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
    if (!p || !p->fn || !preemptible(pc) || !room_on_stack(p, sp)) {
        atomic_fetch_add_explicit(&ticker.refusals, 1, memory_order_relaxed);
        return;
    }
    /* As if the interrupted instruction called the trampoline, below the
     * red zone: the trampoline's `ret $128` comes back to pc, at sp. */
    sp -= RED_ZONE + 8;
    *(uint64_t *)sp = pc;
    uc->uc_mcontext.gregs[REG_RSP] = (greg_t)sp;
    uc->uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)erl_preempt_trampoline;
    atomic_fetch_add_explicit(&ticker.preemptions, 1, memory_order_relaxed);
}

void erl_preempt_yield(void) {
    struct proc *p = current_proc;
    p->reductions = REDUCTIONS;
    sched_switch(p, SWITCH_PREEMPT);
    if (atomic_load(&p->exit_pending))
        proc_take_inbox(p);
}

void preempt_unpark(void) {
    if (!atomic_load(&ticker.parked))
        return;
    pthread_mutex_lock(&ticker.lock);
    pthread_cond_signal(&ticker.wake);
    pthread_mutex_unlock(&ticker.lock);
}

void erl_preempt_stats(struct erl_preempt_stats *st) {
    st->slice_us = ticker.slice_ns / 1000;
    st->preemptions = atomic_load_explicit(&ticker.preemptions, memory_order_relaxed);
    st->refusals = atomic_load_explicit(&ticker.refusals, memory_order_relaxed);
}

/* ---- The vector state ----------------------------------------------------- */

/* XCR0's AMX components (tile config and data): left out of the mask, as
 * a process may use them only after asking the kernel (arch_prctl). */
#define XSTATE_AMX ((uint64_t)3 << 17)

/* Picks xsave (mask XCR0 without AMX, area from CPUID leaf 0xD) when the
 * OS enabled it, else fxsave's 512 bytes. The area has room to align the
 * save to 64 bytes. */
static void probe_vector_state(void) {
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_OSXSAVE) && __get_cpuid_max(0, NULL) >= 0xD) {
        uint32_t lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        uint64_t mask = ((uint64_t)hi << 32 | lo) & ~XSTATE_AMX;
        __cpuid_count(0xD, 0, a, b, c, d);
        erl_preempt_mask[0] = (uint32_t)mask;
        erl_preempt_mask[1] = (uint32_t)(mask >> 32);
        erl_preempt_area = b + 64;
        erl_preempt_xsave = 1;
        return;
    }
    erl_preempt_xsave = 0;
    erl_preempt_area = 512 + 64;
}

/* ---- The ticker ----------------------------------------------------------- */

/* Below this slice the ticker polls instead of sleeping (a test's setting:
 * a sleep cannot be shorter than about 60 µs). */
#define POLL_BELOW_NS (100 * 1000)

/* Waits half a slice, or less when preempt_stop asks. Returns false when
 * the ticker must end. */
static bool ticker_wait(void) {
    pthread_mutex_lock(&ticker.lock);
    atomic_store(&ticker.parked, true);
    while (!ticker.stop && sched_all_asleep())
        pthread_cond_wait(&ticker.wake, &ticker.lock);
    atomic_store(&ticker.parked, false);
    if (!ticker.stop && ticker.slice_ns >= POLL_BELOW_NS) {
        int64_t t = now_ns() + ticker.slice_ns / 2;
        struct timespec ts = {t / 1000000000, t % 1000000000};
        pthread_cond_timedwait(&ticker.wake, &ticker.lock, &ts);
    }
    bool go_on = !ticker.stop;
    pthread_mutex_unlock(&ticker.lock);
    if (go_on && ticker.slice_ns < POLL_BELOW_NS)
        sched_yield();
    return go_on;
}

static void *ticker_main(void *arg) {
    (void)arg;
    prctl(PR_SET_TIMERSLACK, 1000UL);   /* wake within 1 µs of the deadline */
    int n = erl_schedulers();
    uint64_t *runs = calloc((size_t)n, sizeof *runs);
    int64_t *since = calloc((size_t)n, sizeof *since);
    if (!runs || !since)
        panic("out of memory for the preemption ticker");
    while (ticker_wait())
        for (int i = 0; i < n; i++)
            sched_kick_if_stuck(i, SIGURG, ticker.slice_ns, &runs[i], &since[i]);
    free(runs);
    free(since);
    return NULL;
}

int preempt_start(int64_t slice_ns) {
    ticker.slice_ns = slice_ns;
    if (!slice_ns)
        return 0;
    probe_vector_state();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_preempt;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGURG, &sa, &ticker.old) < 0)
        return -1;
    cond_init_monotonic(&ticker.wake);
    ticker.stop = false;
    int err = pthread_create(&ticker.thread, NULL, ticker_main, NULL);
    if (err) {
        pthread_cond_destroy(&ticker.wake);
        sigaction(SIGURG, &ticker.old, NULL);
        errno = err;
        return -1;
    }
    ticker.started = true;
    return 0;
}

void preempt_stop(void) {
    if (!ticker.started)
        return;
    pthread_mutex_lock(&ticker.lock);
    ticker.stop = true;
    pthread_cond_signal(&ticker.wake);
    pthread_mutex_unlock(&ticker.lock);
    pthread_join(ticker.thread, NULL);
    pthread_cond_destroy(&ticker.wake);
    sigaction(SIGURG, &ticker.old, NULL);
    ticker.started = false;
}
