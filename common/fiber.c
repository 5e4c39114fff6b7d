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

void fiber_make(struct fiber *f, void (*entry)(void *), void *arg) {
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
    f->asan_fake = NULL;
    f->tsan = san_fiber_create();
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

void fiber_switch(struct fiber *from, struct fiber *to, bool from_is_done) {
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
 * touches (an idle process touches one). The lowest STACK_RED_ZONE bytes of every
 * stack are a red zone that stays zero, read but never written: a process
 * that wrote there overflowed its stack. Reading an untouched page costs no
 * memory: it maps the kernel's shared zero page. */
#define STACKS_PER_SLAB 256

/* A mapping holding STACKS_PER_SLAB stacks, kept until the pool is freed.
 * Its first page holds this header; the stacks follow. */
struct slab {
    struct slab *next;      /* the slab mapped before this one */
    size_t bytes;           /* length of the mapping */
    size_t used;            /* stacks handed out, in order */
};

static struct {
    pthread_mutex_t lock;   /* guards everything below */
    size_t stack_size;      /* bytes per stack, a multiple of the page size */
    struct slab *slabs;     /* every mapping, newest first */
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER};

void stack_pool_init(size_t size) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    pool.stack_size = (size + page - 1) / page * page;
}

size_t stack_pool_size(void) { return pool.stack_size; }

/* Maps a new slab. Lock held. Returns 0, or -1 when out of memory. */
static int add_slab(void) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t bytes = page + STACKS_PER_SLAB * pool.stack_size;
    char *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return -1;
    struct slab *s = (struct slab *)m;
    *s = (struct slab){.next = pool.slabs, .bytes = bytes, .used = 0};
    pool.slabs = s;
    return 0;
}

char *stack_get(void) {
    pthread_mutex_lock(&pool.lock);
    if ((!pool.slabs || pool.slabs->used == STACKS_PER_SLAB) && add_slab() < 0) {
        pthread_mutex_unlock(&pool.lock);
        errno = ENOMEM;
        return NULL;
    }
    struct slab *s = pool.slabs;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *stack = (char *)s + page + s->used++ * pool.stack_size;
    pthread_mutex_unlock(&pool.lock);
    return stack;
}

char *stack_reuse(char *stack) {
    san_stack_clean(stack, pool.stack_size);
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
    pthread_mutex_unlock(&pool.lock);
}
