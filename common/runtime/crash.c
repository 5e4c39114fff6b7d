/*
 * crash.c - a fault in a process kills the process, not the node.
 *
 * The handler runs on the scheduler thread's alternate signal stack. When the
 * fault happened in a process, on that process's own stack, it rewrites the
 * saved registers so that returning from the handler "calls" fault_exit on
 * the process's stack, which ends the process like erl_exit_self. The kernel
 * restores the signal mask on the way out, as for any handler that returns.
 *
 * A fault in the gap below the process's stack (fiber.h), or with the stack
 * pointer in the gap or too near the bottom to die there, is an overflow:
 * the process resumes at the top of its own stack instead (nothing on it is
 * needed any more) in overflow_exit, which ends it with
 * {stack_overflow, Bytes}. An overflow cannot be caught: the frames a catch
 * would return to are the ones that ran out of room.
 */
#include "crash.h"

#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include "panic.h"
#include "proc.h"

static const int fault_signals[] = {SIGFPE, SIGSEGV, SIGBUS, SIGILL};

/* The signal that hit the process running on this thread. */
static _Thread_local volatile sig_atomic_t fault_signal;

/* This thread's alternate signal stack, or NULL. */
static _Thread_local void *alt_stack;

/* The name a fault goes by in an exit reason. */
static const char *fault_name(int sig) {
    switch (sig) {
    case SIGSEGV: return "segv";
    case SIGBUS: return "bus";
    default: return "ill";
    }
}

/* Where a faulting process resumes, on its own stack: it exits with badarith
 * (as Erlang's division by zero does) or {signal, Name}, as erl_exit_self,
 * so that an erl_catch around the faulting code catches it. */
static _Noreturn void fault_exit(void) {
    if (fault_signal == SIGFPE)
        erl_exit_self(ATOM("badarith"));
    term name = {.type = TERM_ATOM, .u.atom = fault_name(fault_signal)};
    erl_exit_self(TUPLE(ATOM("signal"), name));
}

/* Ends the calling process, which overflowed its stack, with
 * {stack_overflow, Bytes}; runs at the top of that stack. A process that
 * overflowed while dying cannot die again: its death is half told. */
static _Noreturn void die_of_overflow(struct proc *p) {
    if (p->state == PROC_EXITING)
        panic("process %s <0.%u.%u> overflowed its %zu-byte stack while exiting",
              p->name, (unsigned)(p->pid.u.id >> 32), (unsigned)p->pid.u.id,
              p->fiber.size);
    proc_die(TUPLE(ATOM("stack_overflow"), INT((int64_t)p->fiber.size)));
}

/* Where the handler resumes a process that overflowed. Out of line: it
 * reads a thread-local before anything switches. */
__attribute__((noinline)) static _Noreturn void overflow_exit(void) {
    die_of_overflow(current_proc);
}

void crash_overflow_entry(void *proc) {
    struct proc *p = proc;
    fiber_started(&p->fiber);
    die_of_overflow(p);
}

/* The stack pointer and program counter saved in the signal frame. */
#if defined(__x86_64__)
static uintptr_t saved_sp(ucontext_t *uc) { return (uintptr_t)uc->uc_mcontext.gregs[REG_RSP]; }
static void resume_at(ucontext_t *uc, void (*fn)(void), uintptr_t sp) {
    uc->uc_mcontext.gregs[REG_RSP] = (greg_t)(sp - 8);  /* as if called */
    uc->uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)fn;
}
#else
#error "crash.c: the saved registers are known for x86-64 only (as is switch_x86_64.S)"
#endif

/* Stack a faulting process needs left to die in (proc_die sends its
 * notices: it allocates, locks and copies). Less means it overflowed. */
#define DYING_ROOM (8 * 1024)

/* Room left above where an overflowed process resumes: the frames that
 * started it (fiber_make) stay as they were. */
#define TOP_ROOM 256

/* True when sp lies in the stack of the process this thread runs. */
static bool on_process_stack(const struct proc *p, uintptr_t sp) {
    uintptr_t lo = (uintptr_t)p->fiber.stack;
    return p->fn && lo && sp > lo && sp <= lo + p->fiber.size;
}

/* True when the fault overflowed p's stack: sp is in the gap below it or
 * within DYING_ROOM of its bottom, or, with sp in the stack, the faulting
 * address is in the gap. */
static bool overflowed(const struct proc *p, uintptr_t sp, const siginfo_t *info) {
    uintptr_t lo = (uintptr_t)p->fiber.stack;
    if (!p->fn || !lo)
        return false;
    if (fiber_in_gap(&p->fiber, sp) || (sp >= lo && sp < lo + DYING_ROOM))
        return true;
    return on_process_stack(p, sp) && fiber_in_gap(&p->fiber, (uintptr_t)info->si_addr);
}

static void on_fault(int sig, siginfo_t *info, void *ctx) {
    ucontext_t *uc = ctx;
    struct proc *p = current_proc;
    uintptr_t sp = saved_sp(uc);
    if (p && overflowed(p, sp, info)) {
        uintptr_t top = (uintptr_t)p->fiber.stack + p->fiber.size - TOP_ROOM;
        fiber_drop_frames(&p->fiber);   /* before anything runs there */
        resume_at(uc, overflow_exit, top & ~(uintptr_t)15);
        return;
    }
    if (!p || !on_process_stack(p, sp)) {
        signal(sig, SIG_DFL);   /* the node's own fault: let it happen */
        return;
    }
    fault_signal = sig;
    /* Below the red zone, 16-byte aligned. */
    resume_at(uc, (void (*)(void))fault_exit, (sp - 256) & ~(uintptr_t)15);
}

int crash_init(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof fault_signals / sizeof *fault_signals; i++)
        if (sigaction(fault_signals[i], &sa, NULL) < 0)
            return -1;
    return 0;
}

void crash_thread_init(void) {
    size_t size = 64 * 1024;
    alt_stack = malloc(size);
    if (!alt_stack)
        return;     /* faults are still handled, on the faulting stack */
    stack_t ss = {.ss_sp = alt_stack, .ss_size = size, .ss_flags = 0};
    sigaltstack(&ss, NULL);
}

void crash_thread_exit(void) {
    stack_t ss = {.ss_flags = SS_DISABLE};
    sigaltstack(&ss, NULL);
    free(alt_stack);
    alt_stack = NULL;
}

/* The sanitizers must let the handlers above see the faults. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
    return "handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0:"
           "allow_user_segv_handler=1:detect_leaks=1";
}
const char *__tsan_default_options(void);
const char *__tsan_default_options(void) {
    return "handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0:"
           "allow_user_segv_handler=1";
}
