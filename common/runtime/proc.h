/*
 * proc.h - the runtime's insides: processes, signals, schedulers.
 *
 * Not for stage code: stages use erl.h.
 */
#ifndef PROC_H
#define PROC_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "erl.h"
#include "fiber.h"
#include "lock.h"

/* ---- Signals: what one process sends another ----------------------------- */

enum signal_kind {
    SIG_MESSAGE,    /* an ordinary message: body */
    SIG_EXIT,       /* exit signal from a link or exit/2: body is the reason */
    SIG_LINK,       /* from wants to be linked */
    SIG_UNLINK,     /* from unlinked */
    SIG_MONITOR,    /* from monitors us under ref */
    SIG_DEMONITOR,  /* from no longer monitors us under ref */
    SIG_DOWN,       /* the process from, monitored under ref, ended: body */
};

/* A signal in a mailbox, and, once received, a block of the process heap.
 * Allocated by the sender with the body's boxed contents behind it. */
struct heap_block {
    struct heap_block *next;    /* mailbox: the next signal; heap: newer block */
    struct heap_block *prev;    /* heap: the older block; mailbox: unused */
    uint8_t kind;               /* enum signal_kind */
    bool linked;                /* SIG_EXIT: sent because of a link, not exit/2 */
    bool small;                 /* BLOCK_SMALL bytes: a block cache may keep it */
    term from;                  /* the sending process */
    term ref;                   /* MONITOR, DEMONITOR, DOWN: the reference;
                                   MESSAGE: the alias it was sent to, or NONE */
    term body;                  /* MESSAGE: the message; EXIT, DOWN: reason */
    _Alignas(16) char data[];   /* body's boxed contents (term_copy_into) */
};

/* A queue of signals, oldest first. */
struct signal_queue {
    struct heap_block *head;    /* oldest, or NULL */
    struct heap_block **tail;   /* where the next one is linked */
};

/* ---- Processes ----------------------------------------------------------- */

enum proc_state {
    PROC_FREE,      /* the slot holds no process */
    PROC_RUNNING,   /* a plain thread's process, not waiting */
    PROC_RUNNABLE,  /* a scheduled process in a run queue, or running */
    PROC_WAITING,   /* in receive, with nothing to take */
    PROC_EXITING,   /* dying: takes no more signals */
};

/* Why a process switched back to its scheduler. */
enum proc_switch {
    SWITCH_YIELD,   /* still runnable: queue it again */
    SWITCH_WAIT,    /* waiting for a signal or its timer */
    SWITCH_EXIT,    /* gone: free its stack and slot */
    SWITCH_HIBERNATE, /* erl_hibernate: give its stack's pages back and
                         the stack to the pool, wait for a message, then
                         start afresh on any stack (hibernate.c) */
    SWITCH_AWAIT,   /* erl_await: waiting for a message with its stack,
                       which its scheduler may take later (sched.c); then
                       it starts afresh as from SWITCH_HIBERNATE */
    SWITCH_PREEMPT, /* preempted (preempt.c): runnable, and resumes on the
                       same scheduler thread (sched.c says why) */
};

/* A link or a monitor: the other process, and the monitor's reference. */
struct relation {
    term pid;       /* the other process; NONE for a name nobody held */
    term ref;       /* monitors: the reference; links: NONE */
    term name;      /* a monitor taken by name: the name (an atom); else NONE */
    term node;      /* a monitor taken by {Name, Node}: Node; else NONE */
};

/* A growable array of relations. */
struct relations {
    struct relation *v;     /* items, or NULL */
    size_t n;               /* items used */
    size_t cap;             /* items allocated */
};

struct scheduler;

struct proc {
    /* p->lock must be held when using these: */
    struct lock lock;
    uint32_t serial;            /* pid serial; bumped when the slot is freed */
    uint8_t state;              /* enum proc_state */
    bool timed_out;             /* the receive timer fired for wait_seq */
    struct signal_queue inbox;  /* signals not yet looked at by the process */
    struct cond *wakeup;        /* plain threads: signalled on a new signal;
                                   NULL for processes run by schedulers */

    /* Set at spawn; read-only while the process lives: */
    term pid;                   /* its own pid */
    const char *name;           /* the function it was spawned with */
    erl_fn fn;                  /* entry function; NULL for a plain thread */
    struct fiber fiber;         /* stack and saved context (not for threads) */
    term arg;                   /* fn's argument (boxed parts in the heap) */

    /* Only the process itself touches these: */
    struct signal_queue queue;  /* messages taken from the inbox, in order */
    struct heap_block *heap_oldest, *heap_newest;  /* received and kept terms */
    struct relations links;     /* processes linked to it */
    struct relations watchers;  /* monitors others hold on it */
    struct relations monitors;  /* monitors it holds on others */
    struct relations aliases;   /* its active aliases: ref set, pid NONE */
    bool quiet;                 /* no crash report at its end (erl_quiet) */
    _Atomic bool trap_exit;     /* process_flag(trap_exit); read by listings */
    int reductions;             /* work left before it must yield */
    struct catch_frame *catch_top;  /* innermost erl_catch on its stack, or
                                       NULL (process.c says who pops it) */


    /* The registry's lock must be held when using this (see registry.c): */
    term registered;            /* its registered name, or NONE */
    _Atomic bool named;         /* registered is not NONE; read without the lock */

    /* The scheduler and the timer touch these (see sched.c): */
    enum proc_switch why;       /* why it last switched to its scheduler;
                                   SWITCH_YIELD (0) before its first run */
    bool stackless;             /* its stack went (erl_hibernate, or taken
                                   in erl_await): its next run starts it at
                                   proc_hibernate_entry on another. Also
                                   written by another scheduler, under
                                   p->lock while p waits (take_stack) */
    struct scheduler *sched;    /* the scheduler running or last running it */
    struct proc *run_next;      /* next in a run queue */
    int64_t queued_ns;          /* ns on CLOCK_MONOTONIC it joined that queue */
    bool from_thread;           /* a plain thread (a connection's reader, the
                                   timer) made it runnable: its scheduler
                                   busy-waits after running it */
    uint64_t wait_seq;          /* counts the waits; a timer fires for one */
    int64_t deadline;           /* ns on CLOCK_MONOTONIC of the armed timer */
    long timer_index;           /* position in the timer heap, -1 if none */
    _Atomic size_t msg_timers;  /* send_after/start_timer timers to it;
                                   written under timers.lock (timer.c) */

    /* Anyone may read these at any time: */
    _Atomic size_t inbox_len;   /* messages in the inbox; written under p->lock */
    _Atomic size_t queue_len;   /* messages in the queue; written by the process */
    _Atomic size_t link_count;  /* links.n, for listings */
    _Atomic bool exit_pending;  /* an exit signal waits in the inbox */
    _Atomic bool mail;          /* the inbox holds something: a hint, set and
                                   cleared under p->lock, read without it */

    /* The process itself, and hibernate.c; last, as they are rarely used.
     * Speed-up: placed after the registry's fields they moved the hot ones
     * across cache lines (cast_per_s 8.5 M/s there, 9.1 M/s here). */
    erl_fn wake_fn;             /* in erl_hibernate or erl_await: what it
                                   starts in at its next message if its
                                   stack went; NULL when not (hibernate.c) */
    term wake_arg;              /* wake_fn's argument (boxed parts in the heap) */
    bool hibernating;           /* wake_fn is erl_hibernate's, not
                                   erl_await's: listed as hibernated (read
                                   by erl_processes under p->lock while p
                                   waits) */

    /* The scheduler that ends a run of it in erl_await, while it is
     * switched out (sched.c, park_awaiting); last, to leave the hot
     * fields where they were: */
    struct scheduler *await_sched;  /* the scheduler whose ring of waits
                                   holds its last erl_await wait, or NULL */
    int await_index;            /* that wait's entry in the ring */
};

/* Adds d to a counter that one thread at a time writes (under a lock, or
 * its owner's): a load and a store, not an atomic read-modify-write, which
 * would cost a locked instruction per message. Readers see it whole. */
static inline void count_add(_Atomic size_t *c, long d) {
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + (size_t)d,
                          memory_order_relaxed);
}

/* Messages waiting for p: in its inbox and its queue (a snapshot). */
static inline size_t proc_queue_len(struct proc *p) {
    return atomic_load_explicit(&p->inbox_len, memory_order_relaxed) +
           atomic_load_explicit(&p->queue_len, memory_order_relaxed);
}

/* The process running on this thread: a scheduled process, or the plain
 * thread's own; NULL for a scheduler between processes.
 *
 * A process may resume on another thread after any switch, and a compiler
 * may keep a thread-local's address in a register across a call. So code
 * that runs in a process reads thread-locals only in functions that do not
 * switch, kept out of line where they could be inlined into one that does
 * (block_free, block_alloc). */
extern _Thread_local struct proc *current_proc;

/* The process a pid names, locked, or NULL if it is gone. */
struct proc *proc_lock_pid(term pid);

/* Spends one reduction of scheduled process p; yields when the budget is
 * gone, so that a process that loops sending cannot starve the others. */
void proc_spend(struct proc *p);

/* Ends the calling process with reason: its links and monitors are told,
 * everything it owned is freed. The process ends itself (erl_exit_self, a
 * fault, its function returning): the crash report comes first (see
 * proc_report_exit). Never returns. */
_Noreturn void proc_die(term reason);

/* As proc_die, for a process that an exit signal ends (Erlang prints
 * nothing then): no crash report. Never returns. */
_Noreturn void proc_killed(term reason);

/* Prints Erlang's crash report for scheduled process p ending itself with
 * reason, unless the reason is normal, shutdown or {shutdown, _}, or p is
 * quiet. One write to stderr (report.c). This function can't fail. */
void proc_report_exit(const struct proc *p, term reason);

/* Takes what is in the inbox: messages move to the queue, other signals take
 * effect (links, monitors, exit signals — which may end the process).
 * Returns false when the inbox was empty. */
bool proc_take_inbox(struct proc *p);

/* A stackless process's first code on its new stack (hibernate.c): takes
 * what came, gives the stack up again if no message did, else runs
 * wake_fn(wake_arg). Never returns. */
void proc_hibernate_entry(void *p);

/* ---- Schedulers (sched.c) ----------------------------------------------- */

/* The most stacks a scheduler keeps in its cache: those of processes that
 * gave theirs up while they wait (erl_await), for the next that wakes. */
#define SCHED_STACKS 8

/* Starts n scheduler threads, preempting a process after slice_ns in its
 * own code (0: never; preempt.h). Returns 0, or -1 with errno set. */
int sched_start(int n, int64_t slice_ns);

/* Stops and joins the schedulers once no scheduled process is left. */
void sched_stop(void);

/* Queues a runnable process (its state is PROC_RUNNABLE) on a scheduler and
 * wakes one if needed. This function can't fail. */
void sched_enqueue(struct proc *p);

/* From a process: switch to its scheduler for why. Returns when resumed
 * where it stopped: never for SWITCH_EXIT and SWITCH_HIBERNATE, and for
 * SWITCH_AWAIT only if its stack was not taken meanwhile. */
void sched_switch(struct proc *p, enum proc_switch why);

/* The first call of a process that starts on a new stack after it gave its
 * own up (proc_hibernate_entry), after fiber_started: does what a return
 * from sched_switch does (ends the run of a process that handed off to
 * it). */
void sched_landed(struct proc *p);

/* Wakes the schedulers asleep without a time limit, if any: call it after
 * a spawn made procs.scheduled grow. This function can't fail. */
void sched_spawned(void);

/* ---- Timers (timer.c) ---------------------------------------------------- */

/* Starts the timer thread. Returns 0, or -1 with errno set. */
int timers_start(void);

/* Stops the timer thread; frees every timer still armed, and the messages
 * of send_after/start_timer with them. */
void timers_stop(void);

/* Arms p's receive timer: at deadline (ns on CLOCK_MONOTONIC), wait number
 * seq of p ends with timed_out, if p still waits in it. p->lock held.
 * Panics when out of memory. */
void timer_arm(struct proc *p, int64_t deadline, uint64_t seq);

/* Disarms p's receive timer if it is still armed. */
void timer_cancel(struct proc *p);

/* Cancels and frees every send_after/start_timer timer whose destination is
 * the pid of p, which is exiting (as OTP does). This function can't fail. */
void timers_forget(struct proc *p);

/* Monotonic time in nanoseconds. */
int64_t now_ns(void);

/* Initializes c to time its waits on CLOCK_MONOTONIC, the clock of now_ns
 * (pthread_cond_timedwait's deadlines here are now_ns values). */
void cond_init_monotonic(pthread_cond_t *c);

/* True when a scheduler is running p at this moment (for listings). */
bool sched_is_running(const struct proc *p);

/* ---- Process internals shared by the core's files ----------------------- */

/* Processes run by schedulers that are alive now (process.c). */
size_t proc_scheduled(void);

/* Called by a scheduler when a process it ran has exited (process.c). */
void proc_free_slot(struct proc *p);

/* Counts erl_start and erl_stop calls; a thread's current_proc is valid
 * only while its thread_generation is the runtime's. */
extern uint64_t runtime_generation;
extern _Thread_local uint64_t thread_generation;

/* The caller's process, or NULL if it has none (yet). */
static inline struct proc *proc_me(void) {
    return thread_generation == runtime_generation ? current_proc : NULL;
}

/* Creates the calling plain thread's process: proc_current's first use. */
struct proc *proc_thread_new(void);

/* The caller's process, creating a plain thread's on first use.
 * Speed-up (cast path): inline, as proc_me is; a cast asks for it three
 * times. 11 instructions fewer a cast (callgrind), and cast_per_s 13.7 ->
 * 14.8 M/s (medians of 7 runs interleaved). */
static inline struct proc *proc_current(void) {
    struct proc *p = proc_me();
    return p ? p : proc_thread_new();
}

/* Marks the calling thread as one of this runtime's schedulers. */
void proc_scheduler_thread(void);

/* Adds a link or monitor to r; panics when out of memory. */
void relations_add(struct relations *r, term pid, term ref);

/* Frees p's links, monitors and inbox without telling anyone. */
void signals_free(struct proc *p);

/* Registry: the name of p, when p still is the process pid names; or NONE. */
term registry_name_of(struct proc *p, term pid);

/* The slot of a pid of this node, without any check: for a caller that
 * knows the process cannot be freed meanwhile. */
struct proc *proc_slot(term pid);

/* A new signal block holding a copy of body, or panics when out of memory. */
struct heap_block *block_new(enum signal_kind kind, term from, term ref, term body);

/* Frees a block, into this scheduler thread's cache when it is small. */
void block_free(struct heap_block *b);

/* Sends, spawns and messages taken by receive between two yields. Small
 * enough that the messages one burst leaves in flight (a process that casts
 * sends this many before the receiver runs) stay in the caches. */
#define REDUCTIONS 500

/* What a spawn costs its caller of them: a spawn is about ten sends' work.
 * So a process spawning in a loop yields every 50 spawns, and its children
 * (queued behind it on its scheduler, where each starts and, if it is
 * short, ends) wait a few microseconds, not hundreds: an idle scheduler
 * steals only work that waited STEAL_AGE_NS (sched.c). Charged one
 * reduction, a burst of short children sometimes waited that long, the
 * other scheduler stole, the two fought over the slot table's lock, and
 * spawn_per_s fell from 3.5-5 M/s to 1-2.4 M/s for the whole run (1 run
 * in 4). Charged ten, the slowest of 20 runs went from 0.94 to 2.38 M/s,
 * the median stayed 3.6 M/s. */
#define SPAWN_REDUCTIONS 10

/* Small blocks (most messages) are all BLOCK_SMALL bytes, and each scheduler
 * thread keeps up to BLOCK_CACHE_MAX freed ones to reuse: no malloc, no free,
 * and no trimming and refaulting of malloc's heap after every burst. The
 * sanitizer builds keep none, so that every free is seen. */
#define BLOCK_SMALL 256
#ifdef ERL_SANITIZE
#define BLOCK_CACHE_MAX 0
#else
#define BLOCK_CACHE_MAX 4096
#endif

/* Turns the calling thread's block cache on (schedulers only). */
void block_cache_start(void);

/* Frees the calling thread's cached blocks and turns its cache off. */
void block_cache_stop(void);

/* Puts b in the mailbox of the process pid names. Returns false (and keeps
 * b) when there is no such live process. */
bool signal_deliver(term pid, struct heap_block *b);

/* Sends a signal of kind to pid; a copy of body goes. Returns false when pid
 * is not alive. */
bool signal_send(term pid, enum signal_kind kind, term ref, term body, bool linked);

/* Unlinks the message at *at (a link in p's queue) from the queue; returns
 * it. Only p itself calls this. */
struct heap_block *queue_remove(struct proc *p, struct heap_block **at);

/* Puts b in the caller's own heap, newest. */
void heap_link(struct proc *p, struct heap_block *b);

/* Frees every block of p's heap and its queue. */
void heap_free_all(struct proc *p);

/* Settles p's links, monitors and pending signals for its death by reason. */
void signals_settle(struct proc *p, term reason);

/* Registry: drops p's name if it has one. */
void registry_forget(struct proc *p);

/* Registry: frees every entry (at erl_stop). */
void registry_clear(void);

/* Hands a signal for another node's pid (or {Name, Node} of another node)
 * to the node layer's hooks (dist.h). Returns 0, or -1 with errno ENOTCONN
 * when no node layer is installed or it refuses (nodes.c). */
int dist_signal(enum signal_kind kind, term from, term dest, term ref, term body,
                bool linked);

/* Tells the node layer, if one is installed, that the runtime stops. */
void dist_stop(void);

/* Atoms the core uses often. */
#define A_NORMAL ATOM("normal")
#define A_KILL ATOM("kill")
#define A_KILLED ATOM("killed")
#define A_NOPROC ATOM("noproc")

/* True once erl_stop has begun: processes are being killed. */
extern _Atomic bool runtime_stopping;

#endif
