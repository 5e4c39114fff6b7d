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
#include <stdint.h>

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

/* Makes the suspended fiber f run entry(arg) at the top of its stack when
 * next switched to, as fiber_make does, keeping its sanitizer state (the
 * fiber's, not the stack's: f->stack may just have been given a different
 * stack): what was on its stack is dropped. For a process that can no
 * longer run where it stopped (it overflowed, or its stack was taken
 * while it waited). entry must call fiber_started first and never return.
 * This function can't fail. */
void fiber_restart(struct fiber *f, void (*entry)(void *), void *arg);

/* Gives the pages of the suspended fiber f's stack back to the system
 * (madvise MADV_DONTNEED): afterwards they cost no memory and read as
 * zeros. What was on the stack is lost, so f must be fiber_restart-ed
 * before it is switched to again. The gap below stays as it was. This
 * function can't fail. */
void fiber_discard(struct fiber *f);

/* Tells the sanitizers that nothing on f's stack or in its gap is in use
 * any more: the frames there are dropped, and marks AddressSanitizer left on
 * them would fault code that runs there next. Safe in a signal handler.
 * This function can't fail. */
void fiber_drop_frames(const struct fiber *f);

/* True when addr lies in the gap below f's stack (STACK_GUARD bytes).
 * Safe in a signal handler. This function can't fail. */
bool fiber_in_gap(const struct fiber *f, uintptr_t addr);

/* True when the suspended fiber f's saved stack pointer is outside its
 * stack or in its lowest STACK_RED_ZONE bytes: it overflowed and must not
 * be resumed where it stopped. This function can't fail. */
bool fiber_overflowed(const struct fiber *f);

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

/*
 * Every stack has a gap of STACK_GUARD bytes right below it, which nothing
 * ever writes: an overflow by small frames, or by one large frame that
 * probes every page on its way down (-fstack-clash-protection, common.mk),
 * reaches the gap before it reaches the stack below. Where the kernel has
 * MADV_GUARD_INSTALL (Linux 6.13) the gap is guard pages (stack_guarded):
 * touching it raises SIGSEGV, which crash.c turns into the end of the
 * process that overflowed, with {stack_overflow, Bytes}. Guard pages live
 * inside the slab's one mapping: they cost no memory and no entry of
 * vm.max_map_count. Without them the gap is plain memory, still never
 * written by anyone else: an overflow into it is seen only at the process's
 * next switch (its stack pointer is below its stack) or at its exit (its
 * red zone, the lowest STACK_RED_ZONE bytes, was written).
 */
#define STACK_GUARD (16 * 1024)

/* The lowest bytes of every stack, which a process must never reach. */
#define STACK_RED_ZONE 64

/* True when the gaps below the stacks are guard pages; false when the
 * kernel lacks MADV_GUARD_INSTALL. Set by stack_pool_init. */
bool stack_guarded(void);

/* Sets the size of every stack (rounded up to pages) before the first
 * stack_get, and finds out whether the kernel installs guard pages.
 * max_stacks is the most stacks that will ever be held at once, by
 * processes, free slots and schedulers' caches together: the free list
 * has room for that many. Returns 0, or -1 with errno ENOMEM. */
int stack_pool_init(size_t size, size_t max_stacks);

/* The size of every stack, in bytes. */
size_t stack_pool_size(void);

/* A stack of the pool's size, with its gap below it, ready for a process
 * (as stack_reuse leaves it): the one last put on the free list, else a
 * fresh one; or NULL with errno ENOMEM. Stacks come from large mappings,
 * not one each, to stay far below vm.max_map_count; a stack costs memory
 * only for the pages a process touches. A stack is never unmapped before
 * stack_pool_free: the process slot that got it keeps it (and its guard)
 * for its next process, unless a process gives it up while it waits
 * (erl_hibernate, erl_await), and it goes to a scheduler's cache or back
 * here (stack_put). */
char *stack_get(void);

/* Puts a stack that nobody uses any more on the free list, for stack_get
 * to hand out next. Its pages stay as they are while the list is short;
 * on a long one (a burst of processes that gave their stacks up) they go
 * back to the system first. This function can't fail. */
void stack_put(char *stack);

/* How many stacks the pool has made so far (held or free). This function
 * can't fail. */
size_t stack_pool_made(void);

/* Makes a stack that ran a process ready for the next one (the sanitizers'
 * view of it and of its gap clean). Returns it. This function can't fail. */
char *stack_reuse(char *stack);

/* True when the stack's red zone, its lowest bytes, is untouched: false
 * means a process overflowed it. Meaningful only without guard pages (with
 * them, a process reaching the gap ends before it can switch). */
bool stack_intact(const char *stack);

/* Unmaps every stack. Only when no fiber runs. */
void stack_pool_free(void);

#endif
