/*
 * fiber.h - stacks and the switch between them.
 *
 * A fiber is a stack plus a saved stack pointer. Processes run on fibers; each
 * scheduler thread keeps a fiber for its own native stack to return to. The
 * sanitizers are told about every switch (sanitize.h).
 */
#ifndef FIBER_H
#define FIBER_H

#include <stdbool.h>
#include <stddef.h>

struct fiber {
    void *sp;           /* saved stack pointer while suspended */
    char *stack;        /* lowest address of the stack; NULL: a thread's own */
    size_t size;        /* bytes of stack */
    void *asan_fake;    /* AddressSanitizer's fake stack while suspended */
    void *tsan;         /* ThreadSanitizer's fiber handle */
};

/* Prepares f, whose stack and size are set, to run entry(arg) when first
 * switched to. entry must never return. This function can't fail. */
void fiber_make(struct fiber *f, void (*entry)(void *), void *arg);

/* Describes the calling thread's own stack as a fiber to switch back to. */
void fiber_of_thread(struct fiber *f);

/* Suspends from and resumes to. Returns when something switches back to
 * from. If from_is_done, from will never be resumed: the sanitizers release
 * what they kept for it. */
void fiber_switch(struct fiber *from, struct fiber *to, bool from_is_done);

/* Must be the first call of a fiber's entry function. */
void fiber_started(struct fiber *f);

/* Forgets f's sanitizer state once it will never run again. */
void fiber_release(struct fiber *f);

/* ---- The stack pool ------------------------------------------------------ */

/* The lowest bytes of every stack, which a process must never reach. */
#define STACK_RED_ZONE 64

/* Sets the size of every stack (rounded up to pages) before the first
 * stack_get. */
void stack_pool_init(size_t size);

/* The size of every stack, in bytes. */
size_t stack_pool_size(void);

/* A fresh stack of the pool's size, or NULL with errno ENOMEM. Stacks come
 * from large mappings, not one each, to stay far below vm.max_map_count; a
 * stack costs memory only for the pages a process touches. A stack is not
 * given back: the process slot that got it keeps it for its next process. */
char *stack_get(void);

/* Makes a stack that ran a process ready for the next one (the sanitizers'
 * view of it clean). Returns it. This function can't fail. */
char *stack_reuse(char *stack);

/* True when the stack's red zone, its lowest bytes, is untouched: false
 * means a process overflowed it. */
bool stack_intact(const char *stack);

/* Unmaps every stack. Only when no fiber runs. */
void stack_pool_free(void);

#endif
