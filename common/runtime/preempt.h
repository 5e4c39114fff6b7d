/*
 * preempt.h - preemption of a process that runs past its time slice.
 *
 * A ticker thread watches the schedulers; one that has been inside the same
 * run for a whole slice gets SIGURG. The handler, on the scheduler's
 * alternate signal stack, makes the process "call" erl_preempt_trampoline
 * (preempt_<arch>.S) only when the interrupted instruction is in the
 * preemptible range (the stages' and tests' own objects: section
 * erl_user_text) and the process's stack has room; the trampoline saves
 * every register and the vector state and yields like erl_yield. The
 * safety argument is in common/README.md ("Preemption").
 */
#ifndef PREEMPT_H
#define PREEMPT_H

#include <stdbool.h>
#include <stdint.h>

/* The slice when neither erl_options nor ERL_PREEMPT_US sets one, in µs. */
#define PREEMPT_DEFAULT_US 1000

/* The slice for erl_start, in ns, 0 = off: opt_us > 0 is the slice in µs,
 * opt_us < 0 turns preemption off, 0 reads ERL_PREEMPT_US (µs; 0 = off)
 * and else takes PREEMPT_DEFAULT_US. Always 0 under the sanitizers (see
 * README). Returns -1 with errno EINVAL, after a line on stderr naming the
 * bad value, when ERL_PREEMPT_US is not a number of microseconds. */
int64_t preempt_slice_ns(int opt_us);

/* Installs the SIGURG handler and starts the ticker for a slice of
 * slice_ns (0: does nothing). Call after the schedulers' threads exist.
 * Returns 0, or -1 with errno set (sigaction's or pthread_create's). */
int preempt_start(int64_t slice_ns);

/* Stops and joins the ticker and puts SIGURG's old action back. Call
 * before the schedulers' threads are joined. Safe when never started. */
void preempt_stop(void);

/* Called by the trampoline, on the preempted process's own stack, with
 * every register saved: switches to the scheduler as erl_yield does
 * (SWITCH_PREEMPT: the process resumes on this thread, see sched.c), and
 * acts on a pending exit signal when resumed (a kill ends it here). */
void erl_preempt_yield(void);

/* ---- More preemptible code ------------------------------------------------ */

/* At most this many ranges besides the program's own (preempt_add_text). */
#define PREEMPT_MAX_TEXTS 64

/* Makes [lo, hi) preemptible code too: the erl_user_text of a shared
 * object loaded at run time (common/code/). The caller vouches for it as
 * the build does for the program's (only a process's own code, no lock a
 * switch could strand). Returns the range's slot for preempt_remove_text,
 * or -1 when PREEMPT_MAX_TEXTS ranges are in use (the range then stays
 * unpreemptible). Thread-safe. */
int preempt_add_text(uintptr_t lo, uintptr_t hi);

/* Takes slot's range out (slot from preempt_add_text; -1 does nothing).
 * Call before the code is unmapped, when no process runs it (a purge
 * comes first): no interrupted instruction can lie in the range then, so
 * a handler that read it a moment before decides nothing by it; once the
 * address space is reused, no handler reads it at all. Thread-safe. */
void preempt_remove_text(int slot);

/* ---- What sched.c lends the ticker ---------------------------------------- */

/* Signals scheduler i with sig when it has been in its current run, inside
 * a process, for slice_ns or more; *runs and *since (ns on CLOCK_MONOTONIC)
 * are the ticker's memory of i's run count and when it first saw that run
 * (or last signalled it). Returns true when it signalled. Only the ticker
 * calls it, while the schedulers' threads exist. */
bool sched_kick_if_stuck(int i, int sig, int64_t slice_ns, uint64_t *runs, int64_t *since);

/* True when every scheduler is asleep (none can be running a process). */
bool sched_all_asleep(void);

/* ---- What the ticker lends sched.c ---------------------------------------- */

/* Called by a scheduler that has just woken (after its count left
 * sched.sleeping): wakes the ticker if it parked because every scheduler
 * slept. Cheap when it did not: one atomic load. */
void preempt_unpark(void);

#endif
