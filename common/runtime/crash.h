/*
 * crash.h - turning a fault in a process's own code into that process's exit.
 *
 * SIGFPE, SIGSEGV, SIGBUS and SIGILL raised while a process runs on its own
 * stack end that process with a reason naming the fault; the node goes on.
 * A fault in the gap below a process's stack, or with too little of the
 * stack left to die on, is an overflow: that process ends with
 * {stack_overflow, Bytes} (Bytes: its stack's size), not its neighbours.
 * A fault anywhere else is the node's own bug: it gets the default action.
 */
#ifndef CRASH_H
#define CRASH_H

/* Installs the fault handlers. Returns 0, or -1 with errno set. */
int crash_init(void);

/* Gives the calling scheduler thread a stack to handle faults on (a process
 * that overflowed its own stack cannot host the handler). */
void crash_thread_init(void);

/* Frees what crash_thread_init allocated. */
void crash_thread_exit(void);

/* The entry (for fiber_restart, with the process's struct proc as proc) of
 * a suspended process found overflowed at a switch: ends it with
 * {stack_overflow, Bytes} when it next runs. Never returns. */
void crash_overflow_entry(void *proc);

#endif
