/*
 * fiber.c - stacks, and switching between them.
 */
#include "fiber.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "panic.h"
#include "sanitize.h"

/* In switch_<arch>.S. */
void ctx_switch(void **save_sp, void *load_sp);
void ctx_start(void);

/* ---- Switching ----------------------------------------------------------- */

/* Lays out, at the top of f's stack, the frame that starts entry(arg). */
static void make_frame(struct fiber *f, void (*entry)(void *), void *arg) {
    /* The frame ctx_switch pops: control words, r15, r14, r13, r12, rbx, rbp,
     * then the return address ctx_start; two more words above it leave
     * ctx_start's stack 16-byte aligned, as a call would. */
    uintptr_t top = ((uintptr_t)f->stack + f->size) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)top - 10;
    memset(sp, 0, 10 * sizeof *sp);
    sp[0] = 0x1F80 | (uint64_t)0x037F << 32;   /* MXCSR and x87 defaults */
    sp[3] = (uint64_t)(uintptr_t)arg;          /* r13 */
    sp[4] = (uint64_t)(uintptr_t)entry;        /* r12 */
    sp[7] = (uint64_t)(uintptr_t)ctx_start;    /* return address */
    f->sp = sp;
}

void fiber_make(struct fiber *f, void (*entry)(void *), void *arg) {
    make_frame(f, entry, arg);
    f->asan_fake = NULL;
    f->tsan = san_fiber_create();
}

void fiber_restart(struct fiber *f, void (*entry)(void *), void *arg) {
    fiber_drop_frames(f);
    make_frame(f, entry, arg);
}

void fiber_discard(struct fiber *f) {
    /* The stack is page-aligned and a whole number of pages (stack_get). A
     * refusal (EAGAIN, ENOMEM under memory pressure) only keeps the pages:
     * nothing reads them before fiber_restart rewrites the top frame. */
    (void)madvise(f->stack, f->size, MADV_DONTNEED);
    f->sp = NULL;
}

bool fiber_overflowed(const struct fiber *f) {
    const char *sp = f->sp;
    return sp < f->stack + STACK_RED_ZONE || sp > f->stack + f->size;
}

void fiber_of_thread(struct fiber *f) {
    memset(f, 0, sizeof *f);
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        void *lo;
        size_t size;
        if (pthread_attr_getstack(&attr, &lo, &size) == 0) {
            f->stack = lo;
            f->size = size;
        }
        pthread_attr_destroy(&attr);
    }
    f->tsan = san_fiber_current();
}

/* Stack the sanitizers' switch hooks may take below fiber_switch's frame.
 * A switch reads that far down first, so that a process about to overflow
 * faults in its gap (and dies of it, crash.c) before a hook has begun the
 * switch: a switch the sanitizers saw begin but never end would outlive the
 * process, and AddressSanitizer aborts at the next one. The plain build's
 * ctx_switch writes nothing below the stack pointer it saves, and a fault
 * in its pushes leaves no switch half done: it needs no such room. */
#ifdef ERL_SANITIZE
#define SWITCH_ROOM 4096
#else
#define SWITCH_ROOM 0
#endif

/* Reads the stack SWITCH_ROOM bytes below here: faults when that is in the
 * gap. Not seen by the sanitizers: it reads what no frame owns. */
__attribute__((noinline, no_sanitize("address", "thread")))
static void probe_switch_room(void) {
    const volatile char *below = (const char *)__builtin_frame_address(0) - SWITCH_ROOM;
    (void)*below;
}

void fiber_switch(struct fiber *from, struct fiber *to, bool from_is_done) {
    if (SWITCH_ROOM)
        probe_switch_room();
    san_switch_start(from_is_done ? NULL : &from->asan_fake, to->stack, to->size);
    san_fiber_switch(to->tsan);
    ctx_switch(&from->sp, to->sp);
    san_switch_finish(from->asan_fake);
}

void fiber_started(struct fiber *f) {
    san_switch_finish(f->asan_fake);
}

void fiber_release(struct fiber *f) {
    if (f->tsan)
        san_fiber_destroy(f->tsan);
    f->tsan = NULL;
}

/* ---- The stack pool ------------------------------------------------------ */

/* Stacks come from slabs: large mappings carved in order, never written by
 * the pool, so that a process's stack costs memory only for the pages it
 * touches (an idle process touches one). Below every stack lies its gap of
 * STACK_GUARD bytes (fiber.h), the slab's header page below the first:
 *
 *     | header | gap | stack 0 | gap | stack 1 | ... | gap | stack 255 |
 *     low                                                          high
 *
 * so a stack that overflows downwards runs into its own gap before it can
 * reach the top of the stack below. With guard pages (MADV_GUARD_INSTALL,
 * installed in every gap when the slab is mapped) touching a gap faults.
 * Without them, the lowest STACK_RED_ZONE bytes of every stack are a red zone
 * that stays zero, read but never written: a process that wrote there
 * overflowed its stack. Reading an untouched page costs no memory: it maps
 * the kernel's shared zero page. */
#define STACKS_PER_SLAB 256

/* Guard pages inside an existing mapping, without splitting it (Linux 6.13:
 * a touch raises SIGSEGV; MADV_DONTNEED keeps them). glibc 2.36's headers
 * do not have it yet; the value is the kernel's (uapi mman-common.h). */
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

/* A mapping holding STACKS_PER_SLAB stacks, kept until the pool is freed.
 * Its first page holds this header; the gaps and stacks follow. */
struct slab {
    struct slab *next;      /* the slab mapped before this one */
    size_t bytes;           /* length of the mapping */
    size_t used;            /* stacks handed out, in order */
};

/* Where every stack is, at any time: with a process (running, or waiting
 * on it), with a free process slot (for its next process), in a
 * scheduler's cache (sched.c), or on the free list here. A stack leaves the
 * free list only through stack_get, and goes back only through stack_put:
 * one holder at a time. A slot holds one stack at most and a cache
 * SCHED_STACKS, and a stack is made only when the free list is empty: so
 * the free list never holds more than max_stacks (stack_pool_init). */
static struct {
    pthread_mutex_t lock;   /* guards slabs, free and nfree */
    /* Set by stack_pool_init, before any thread uses the pool; read-only
     * after (the fault handler reads them too): */
    size_t stack_size;      /* bytes per stack, a multiple of the page size */
    size_t gap;             /* bytes of gap below each stack (STACK_GUARD) */
    bool guarded;           /* the gaps are guard pages */
    size_t max_stacks;      /* the most stacks there can be (free's room) */
    struct slab *slabs;     /* every mapping, newest first */
    char **free;            /* stacks nobody holds, the latest put on top;
                               mapped for max_stacks, touched as it fills */
    size_t nfree;           /* how many free holds */
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER};

static size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

/* True when this kernel installs guard pages: tried on a page of its own. */
static bool guards_work(void) {
    size_t page = page_size();
    void *m = mmap(NULL, page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return false;
    bool ok = madvise(m, page, MADV_GUARD_INSTALL) == 0;
    munmap(m, page);
    return ok;
}

int stack_pool_init(size_t size, size_t max_stacks) {
    size_t page = page_size();
    pool.stack_size = (size + page - 1) / page * page;
    pool.gap = (STACK_GUARD + page - 1) / page * page;
    pool.guarded = guards_work();
    pool.max_stacks = max_stacks;
    pool.nfree = 0;
    void *m = mmap(NULL, max_stacks * sizeof *pool.free, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    pool.free = m == MAP_FAILED ? NULL : m;
    return pool.free ? 0 : -1;
}

size_t stack_pool_size(void) { return pool.stack_size; }

bool stack_guarded(void) { return pool.guarded; }

/* Makes every gap of slab m guard pages. Returns 0, or -1 (ENOMEM: no
 * memory for the page tables that hold the guards). */
static int install_guards(char *m) {
    char *gap = m + page_size();
    for (int i = 0; i < STACKS_PER_SLAB; i++, gap += pool.gap + pool.stack_size)
        if (madvise(gap, pool.gap, MADV_GUARD_INSTALL) < 0)
            return -1;
    return 0;
}

/* Maps a new slab. Lock held. Returns 0, or -1 when out of memory. */
static int add_slab(void) {
    size_t bytes = page_size() + STACKS_PER_SLAB * (pool.gap + pool.stack_size);
    char *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return -1;
    if (pool.guarded && install_guards(m) < 0) {
        munmap(m, bytes);
        return -1;
    }
    struct slab *s = (struct slab *)m;
    *s = (struct slab){.next = pool.slabs, .bytes = bytes, .used = 0};
    pool.slabs = s;
    return 0;
}

char *stack_get(void) {
    pthread_mutex_lock(&pool.lock);
    if (pool.nfree) {
        char *stack = pool.free[--pool.nfree];
        pthread_mutex_unlock(&pool.lock);
        return stack_reuse(stack);
    }
    if ((!pool.slabs || pool.slabs->used == STACKS_PER_SLAB) && add_slab() < 0) {
        pthread_mutex_unlock(&pool.lock);
        errno = ENOMEM;
        return NULL;
    }
    struct slab *s = pool.slabs;
    char *slot = (char *)s + page_size() + s->used++ * (pool.gap + pool.stack_size);
    pthread_mutex_unlock(&pool.lock);
    return slot + pool.gap;
}

/* Free stacks kept with their pages: a stack put on the free list while
 * it holds more gives its pages back to the system first. Enough for the
 * stacks that a crowd of servers waking and waiting passes around (the
 * schedulers' caches take most of that), few enough that the stacks of a
 * burst of processes that all went idle do not stay resident. */
#define FREE_RESIDENT 64

void stack_put(char *stack) {
    pthread_mutex_lock(&pool.lock);
    bool discard = pool.nfree >= FREE_RESIDENT;
    pthread_mutex_unlock(&pool.lock);
    /* While the stack is still the caller's, and outside the lock (a
     * system call). A refusal (EAGAIN, ENOMEM) only keeps the pages. */
    if (discard)
        (void)madvise(stack, pool.stack_size, MADV_DONTNEED);
    pthread_mutex_lock(&pool.lock);
    /* Room for every stack there is: see stack_pool_init's contract. */
    if (pool.nfree == pool.max_stacks)
        panic("stack_put: more free stacks than the %zu there can be", pool.max_stacks);
    pool.free[pool.nfree++] = stack;
    pthread_mutex_unlock(&pool.lock);
}

size_t stack_pool_made(void) {
    pthread_mutex_lock(&pool.lock);
    size_t n = 0;
    for (const struct slab *s = pool.slabs; s; s = s->next)
        n += s->used;
    pthread_mutex_unlock(&pool.lock);
    return n;
}

void fiber_drop_frames(const struct fiber *f) {
    /* The gap too: AddressSanitizer may have marked a frame that overflowed
     * into it before the frame's first write faulted. */
    san_stack_clean(f->stack - pool.gap, pool.gap + f->size);
}

bool fiber_in_gap(const struct fiber *f, uintptr_t addr) {
    uintptr_t lo = (uintptr_t)f->stack;
    return addr < lo && addr >= lo - pool.gap;
}

char *stack_reuse(char *stack) {
    fiber_drop_frames(&(struct fiber){.stack = stack, .size = pool.stack_size});
    return stack;
}

bool stack_intact(const char *stack) {
    const uint64_t *zone = (const uint64_t *)stack;
    uint64_t any = 0;
    for (size_t i = 0; i < STACK_RED_ZONE / sizeof *zone; i++)
        any |= zone[i];
    return any == 0;
}

void stack_pool_free(void) {
    pthread_mutex_lock(&pool.lock);
    while (pool.slabs) {
        struct slab *s = pool.slabs;
        pool.slabs = s->next;
        munmap(s, s->bytes);
    }
    if (pool.free)
        munmap(pool.free, pool.max_stacks * sizeof *pool.free);
    pool.free = NULL;
    pool.nfree = 0;
    pthread_mutex_unlock(&pool.lock);
}
