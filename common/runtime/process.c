/*
 * process.c - the process table, spawning, dying, and the runtime's life.
 *
 * Every process lives in a slot of one big table. A pid is the slot's index
 * and the slot's serial, which grows each time the slot is freed, so a stale
 * pid never reaches the slot's next process. The table is mapped once and
 * never moves, so a sender may lock a slot even while its process dies.
 */
#include <errno.h>
#include <setjmp.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "crash.h"
#include "panic.h"
#include "preempt.h"
#include "proc.h"

#define DEFAULT_MAX_PROCS ((size_t)1 << 20)
#define DEFAULT_STACK ((size_t)64 * 1024)
#define SANITIZER_STACK ((size_t)256 * 1024)
/* A freed slot waits behind this many others before it is used again, so
 * its serial wraps only after billions of spawns (once all max_procs slots
 * have been used, a freed slot may come back at once: the serial still
 * keeps a stale pid from naming its new process). */
#define QUARANTINE 4096

_Thread_local struct proc *current_proc;
_Atomic bool runtime_stopping;

static struct {
    struct proc *table;         /* max slots, mapped once */
    size_t max;                 /* slots in table */
    _Atomic bool running;       /* between erl_start and erl_stop */
    pthread_key_t thread_key;   /* ends a plain thread's process at its exit */

    /* procs.lock must be held when using these: */
    pthread_mutex_t lock;
    pthread_cond_t all_gone;    /* signalled when scheduled drops to 0 */
    uint32_t *free_ring;        /* freed slots in quarantine, oldest first */
    size_t free_head, free_count;   /* ring position and length */
    uint32_t *free_stack;       /* freed slots past quarantine, newest on top */
    size_t free_top;            /* how many free_stack holds */

    /* Written under procs.lock (used) or not at all; anyone may read: */
    _Atomic size_t used;        /* slots ever handed out (a high-water mark) */
    _Atomic size_t scheduled;   /* live processes run by schedulers */
    _Atomic size_t live;        /* live processes, plain threads' included */
} procs = {.lock = PTHREAD_MUTEX_INITIALIZER, .all_gone = PTHREAD_COND_INITIALIZER};

_Thread_local uint64_t thread_generation;
uint64_t runtime_generation;

static term make_pid(uint32_t num, uint32_t serial) {
    return (term){.type = TERM_PID, .u.id = (uint64_t)num << 32 | serial};
}

static uint32_t pid_num(term pid) { return (uint32_t)(pid.u.id >> 32); }

/* ---- Slots --------------------------------------------------------------- */

/* Takes the oldest slot out of the quarantine ring. procs.lock held. */
static uint32_t ring_take(void) {
    uint32_t i = procs.free_ring[procs.free_head];
    procs.free_head = (procs.free_head + 1) % procs.max;
    procs.free_count--;
    return i;
}

/* The index of a free slot, or -1 when max_procs are alive. procs.lock
 * held. The slot that left quarantine last first, then a fresh one, then
 * (every slot has been used) the oldest in quarantine.
 * Speed-up: the newest slot past quarantine is still in the caches, with
 * its stack. After 100 000 processes had come and gone, taking the oldest
 * freed one (cold) spawned 1.2 M/s; this order, 3.2 M/s (spawn_per_s). */
static long slot_next(void) {
    if (procs.free_top)
        return procs.free_stack[--procs.free_top];
    size_t used = atomic_load(&procs.used);
    if (used == procs.max)
        return procs.free_count ? (long)ring_take() : -1;
    procs.table[used].lock = (struct lock)LOCK_INIT;
    atomic_store(&procs.used, used + 1);    /* after the init: senders look */
    return (long)used;
}

/* Puts slot i at the tail of the quarantine ring; the slot that has waited
 * behind QUARANTINE others goes on the free stack. procs.lock held. */
static void slot_append(uint32_t i) {
    procs.free_ring[(procs.free_head + procs.free_count) % procs.max] = i;
    if (++procs.free_count > QUARANTINE)
        procs.free_stack[procs.free_top++] = ring_take();
}

/* The index of a free slot, or -1 when max_procs are alive. Every slot is
 * in one place, the table's ring, under one lock: a slot freed anywhere can
 * be taken at once by a spawn anywhere, and a spawn fails only when
 * max_procs are alive. (Batches of slots held per scheduler saved the lock
 * but made spawns fail while slots were free.) */
static long slot_take(void) {
    pthread_mutex_lock(&procs.lock);
    long i = slot_next();
    pthread_mutex_unlock(&procs.lock);
    return i;
}

/* A free slot, locked, or NULL when max_procs are alive. */
static struct proc *slot_alloc(void) {
    long i = slot_take();
    if (i < 0)
        return NULL;
    struct proc *p = &procs.table[i];
    lock_take(&p->lock);
    return p;
}

/* Gives slot p (already PROC_FREE) back. */
static void slot_release(struct proc *p) {
    pthread_mutex_lock(&procs.lock);
    slot_append((uint32_t)(p - procs.table));
    pthread_mutex_unlock(&procs.lock);
}

struct proc *proc_slot(term pid) { return &procs.table[pid_num(pid)]; }

struct proc *proc_lock_pid(term pid) {
    if (pid.type != TERM_PID || pid.node != 0 || pid_num(pid) >= atomic_load(&procs.used))
        return NULL;
    struct proc *p = &procs.table[pid_num(pid)];
    lock_take(&p->lock);
    if (p->pid.u.id == pid.u.id && p->state != PROC_FREE && p->state != PROC_EXITING)
        return p;
    lock_give(&p->lock);
    return NULL;
}

/* Fills a freshly allocated, locked slot for a new process. */
static void proc_init(struct proc *p, const char *name, erl_fn fn) {
    uint32_t serial = p->serial;
    /* wait_seq keeps counting across processes: a timer popped for the
     * slot's last process may fire late, and must find no wait of its. */
    uint64_t wait_seq = p->wait_seq;
    char *stack = p->fiber.stack;       /* a slot keeps its stack, if it has
                                           one, for reuse */
    /* Everything after the (held) lock starts from zero. */
    memset((char *)p + sizeof p->lock, 0, sizeof *p - sizeof p->lock);
    p->serial = serial;
    p->wait_seq = wait_seq;
    p->fiber.stack = stack;
    p->pid = make_pid((uint32_t)(p - procs.table), serial);
    p->name = name;
    p->fn = fn;
    p->inbox.tail = &p->inbox.head;
    p->queue.tail = &p->queue.head;
    p->registered = NONE;
    p->reductions = REDUCTIONS;
    p->timer_index = -1;
    atomic_fetch_add(&procs.live, 1);
}

void proc_free_slot(struct proc *p) {
    timers_forget(p);
    lock_take(&p->lock);
    bool scheduled = p->fn != NULL;     /* read before the slot is reused */
    p->serial++;
    p->pid = make_pid((uint32_t)(p - procs.table), p->serial);
    p->state = PROC_FREE;
    if (p->wakeup) {    /* a plain thread's: nobody signals a free slot */
        free(p->wakeup);
        p->wakeup = NULL;
    }
    lock_give(&p->lock);
    slot_release(p);
    if (scheduled && atomic_fetch_sub(&procs.scheduled, 1) == 1 &&
        atomic_load(&runtime_stopping)) {
        pthread_mutex_lock(&procs.lock);
        pthread_cond_broadcast(&procs.all_gone);
        pthread_mutex_unlock(&procs.lock);
    }
}

/* ---- Spawning ------------------------------------------------------------ */

/* The first code a process runs, on its own stack. */
static void proc_entry(void *arg) {
    struct proc *p = arg;
    fiber_started(&p->fiber);
    p->fn(p->arg);
    proc_die(A_NORMAL);
}

/* Gives the new process its copy of arg: boxed parts go in its heap. */
static void give_arg(struct proc *p, term arg) {
    p->arg = arg;
    if (!term_is_boxed(arg))
        return;
    struct heap_block *b = block_new(SIG_MESSAGE, NONE, NONE, arg);
    heap_link(p, b);
    p->arg = b->body;
}

/* Links or monitors child to parent as the spawn flags ask. */
static void relate_at_spawn(struct proc *parent, struct proc *child, int flags, term *ref) {
    if (flags & ERL_LINK) {
        relations_add(&parent->links, child->pid, NONE);
        relations_add(&child->links, parent->pid, NONE);
        atomic_store(&parent->link_count, parent->links.n);
        atomic_store(&child->link_count, 1);
    }
    if (flags & ERL_MONITOR) {
        term r = erl_make_ref();
        relations_add(&parent->monitors, child->pid, r);
        relations_add(&child->watchers, parent->pid, r);
        if (ref)
            *ref = r;
    }
}

/* A failed spawn still costs its caller a reduction: a process retrying
 * it yields in time, so a slot can free up and an exit signal reach it. */
static term spawn_failed(int err) {
    struct proc *me = proc_me();
    if (me)
        proc_spend(me);
    errno = err;
    return NONE;
}

term erl_spawn_opt(const char *name, erl_fn fn, term arg, int flags, term *ref) {
    if (!procs.running || atomic_load(&runtime_stopping))
        return spawn_failed(EAGAIN);
    struct proc *parent = (flags & (ERL_LINK | ERL_MONITOR)) ? proc_current() : proc_me();
    struct proc *p = slot_alloc();
    if (!p)
        return spawn_failed(EAGAIN);
    proc_init(p, name, fn);
    p->quiet = flags & ERL_QUIET;
    char *stack = p->fiber.stack ? stack_reuse(p->fiber.stack) : stack_get();
    if (!stack) {               /* errno is ENOMEM */
        p->state = PROC_FREE;
        atomic_fetch_sub(&procs.live, 1);
        lock_give(&p->lock);
        slot_release(p);
        return spawn_failed(ENOMEM);
    }
    p->state = PROC_RUNNABLE;
    term pid = p->pid;
    p->fiber.stack = stack;
    p->fiber.size = stack_pool_size();
    fiber_make(&p->fiber, proc_entry, p);
    give_arg(p, arg);
    relate_at_spawn(parent, p, flags, ref);
    atomic_fetch_add(&procs.scheduled, 1);
    lock_give(&p->lock);
    sched_enqueue(p);
    sched_spawned();    /* after scheduled grew: see sched.c */
    if (parent && parent->fn) {
        parent->reductions -= SPAWN_REDUCTIONS - 1;
        proc_spend(parent);
    }
    return pid;
}

/* ---- Plain threads ------------------------------------------------------- */

void proc_scheduler_thread(void) { thread_generation = runtime_generation; }

/* Ends a plain thread's process at the thread's exit. */
static void thread_done(void *arg) {
    struct proc *p = arg;
    if (!procs.running || proc_me() != p)
        return;
    atomic_fetch_sub(&procs.live, 1);
    signals_settle(p, A_NORMAL);
    heap_free_all(p);
    current_proc = NULL;
    proc_free_slot(p);
}

struct proc *proc_thread_new(void) {
    if (!procs.running)
        panic("the runtime is not running: call erl_start first");
    struct proc *p = slot_alloc();
    if (!p)
        panic("no process slot left for a plain thread (max_procs reached)");
    proc_init(p, "(thread)", NULL);
    p->state = PROC_RUNNING;
    atomic_store(&p->trap_exit, true);
    p->wakeup = malloc(sizeof *p->wakeup);
    if (!p->wakeup)
        panic("out of memory for a plain thread's process");
    *p->wakeup = (struct cond)COND_INIT;
    lock_give(&p->lock);
    current_proc = p;
    thread_generation = runtime_generation;
    pthread_setspecific(procs.thread_key, p);
    return p;
}

term erl_self(void) { return proc_current()->pid; }

bool erl_in_process(void) {
    struct proc *p = proc_me();
    return p && p->fn;
}

bool erl_is_alive(term pid) {
    struct proc *p = proc_lock_pid(pid);
    if (p)
        lock_give(&p->lock);
    return p != NULL;
}

size_t erl_process_count(void) { return atomic_load(&procs.live); }

size_t proc_scheduled(void) { return atomic_load(&procs.scheduled); }

/* ---- Dying --------------------------------------------------------------- */

/* The calling scheduled process, which is about to die. */
static struct proc *dying(void) {
    struct proc *p = proc_me();
    if (!p || !p->fn)
        panic("erl_exit_self called from a plain thread, which cannot exit");
    return p;
}

/* Ends p, the calling process, with reason. */
static _Noreturn void proc_end(struct proc *p, term reason) {
    atomic_fetch_sub(&procs.live, 1);  /* before anyone hears of the death */
    signals_settle(p, reason);
    heap_free_all(p);
    sched_switch(p, SWITCH_EXIT);
    panic("a dead process was resumed");
}

void proc_die(term reason) {
    struct proc *p = dying();
    proc_report_exit(p, reason);    /* before the 'DOWN's: a watcher sees it */
    proc_end(p, reason);
}

void proc_killed(term reason) { proc_end(dying(), reason); }

/* ---- Catching ----------------------------------------------------------- */

/*
 * An erl_catch in progress: a frame on the catching process's own stack.
 *
 * Invariant: p->catch_top is the innermost frame whose erl_catch has not yet
 * returned, and each frame's outer is the one around it. Only the process
 * itself reads or writes the chain (no lock). A frame is popped exactly once,
 * before its erl_catch returns: by erl_catch itself when fn returns, or by
 * erl_exit_self just before it jumps back into the frame's setjmp. So a
 * frame is never reached after its stack is gone. A process killed from
 * outside dies in proc_die with its frames unpopped: its stack goes too.
 */
struct catch_frame {
    jmp_buf env;                /* where erl_exit_self resumes erl_catch */
    struct catch_frame *outer;  /* the enclosing catch, or NULL */
    term *reason;               /* where the reason goes, or NULL */
};

bool erl_catch(void (*fn)(void *ctx), void *ctx, term *reason) {
    struct proc *p = proc_me();     /* the one thread-local read: fn may switch */
    if (!p || !p->fn) {             /* a plain thread cannot end itself */
        fn(ctx);
        return true;
    }
    /* Nothing below changes f or p after setjmp: they are valid after the
     * jump back, and *reason lives outside this function.
     * Speed-up: f is not zeroed first (an initializer would clear its
     * 200-byte jmp_buf, which setjmp fills, with a rep stos on every
     * gen_server callback): cast_per_s 7.1 -> 8.8 M/s (means of 6 runs
     * back to back). */
    struct catch_frame f;
    f.outer = p->catch_top;
    f.reason = reason;
    if (setjmp(f.env) != 0)
        return false;               /* erl_exit_self popped f */
    p->catch_top = &f;
    fn(ctx);
    p->catch_top = f.outer;
    return true;
}

void erl_exit_self(term reason) {
    struct proc *p = proc_me();
    struct catch_frame *f = p ? p->catch_top : NULL;
    if (!f)
        proc_die(reason);
    p->catch_top = f->outer;
    /* The reason may live in the frames the jump discards: keep a copy. */
    term kept = term_keep(reason);
    if (f->reason)
        *f->reason = kept;
    longjmp(f->env, 1);
}

/* ---- Listings ------------------------------------------------------------ */

static const char *status_name(const struct proc *p, bool scheduled, int state) {
    if (scheduled && sched_is_running(p))
        return "running";
    switch (state) {
    case PROC_RUNNING: return "running";
    case PROC_RUNNABLE: return "runnable";
    default: return "waiting";
    }
}

size_t erl_processes(void (*fn)(const struct erl_proc_info *, void *), void *ctx) {
    size_t count = 0, used = atomic_load(&procs.used);
    for (size_t i = 0; i < used; i++) {
        struct proc *p = &procs.table[i];
        lock_take(&p->lock);
        int state = p->state;
        bool scheduled = p->fn != NULL;
        struct erl_proc_info info = {.pid = p->pid, .name = p->name};
        /* Read only while it waits: the process sets hibernating before it
         * switches out; stackless is set before park takes this lock to
         * make it wait (erl_hibernate), or under this lock while it waits
         * (a stack taken in erl_await); both are cleared only after a
         * wakeup has made it runnable, under this lock too. A server in
         * erl_await may be stackless too, but is not hibernated, as OTP's
         * loop between messages is not. */
        info.hibernated = state == PROC_WAITING && p->stackless && p->hibernating;
        lock_give(&p->lock);
        if (state == PROC_FREE || state == PROC_EXITING)
            continue;   /* gone, as erl_is_alive says, once it is exiting */
        info.registered = registry_name_of(p, info.pid);
        info.status = status_name(p, scheduled, state);
        info.queue_len = proc_queue_len(p);
        info.links = atomic_load(&p->link_count);
        info.trap_exit = atomic_load(&p->trap_exit);
        count++;
        if (fn)
            fn(&info, ctx);
    }
    return count;
}

/* ---- Starting and stopping ----------------------------------------------- */

static size_t stack_size_for(const struct erl_options *o) {
    if (o && o->stack_size)
        return o->stack_size;
#ifdef ERL_SANITIZE
    return SANITIZER_STACK;
#else
    return DEFAULT_STACK;
#endif
}

/* Unmaps the process table and the free lists, if they are mapped. */
static void unmap_tables(void) {
    if (procs.table)
        munmap(procs.table, procs.max * sizeof *procs.table);
    if (procs.free_ring)
        munmap(procs.free_ring, procs.max * sizeof *procs.free_ring);
    if (procs.free_stack)
        munmap(procs.free_stack, procs.max * sizeof *procs.free_stack);
    procs.table = NULL;
    procs.free_ring = NULL;
    procs.free_stack = NULL;
}

static void *map_lazily(size_t bytes) {
    void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return m == MAP_FAILED ? NULL : m;
}

/* Maps the process table and the free lists for max slots. Returns 0, or -1
 * with errno ENOMEM. */
static int map_tables(size_t max) {
    procs.max = max;
    procs.table = map_lazily(max * sizeof *procs.table);
    procs.free_ring = map_lazily(max * sizeof *procs.free_ring);
    procs.free_stack = map_lazily(max * sizeof *procs.free_stack);
    if (procs.table && procs.free_ring && procs.free_stack)
        return 0;
    unmap_tables();
    errno = ENOMEM;
    return -1;
}

int erl_start(const struct erl_options *opts) {
    if (procs.running) {
        errno = EALREADY;
        return -1;
    }
    if (map_tables(opts && opts->max_procs ? opts->max_procs : DEFAULT_MAX_PROCS) < 0)
        return -1;
    procs.free_head = procs.free_count = procs.free_top = 0;
    atomic_store(&procs.scheduled, 0);
    atomic_store(&procs.used, 0);
    atomic_store(&procs.live, 0);
    int n = opts && opts->schedulers > 0 ? opts->schedulers : (int)sysconf(_SC_NPROCESSORS_ONLN);
    n = n > 0 ? n : 1;
    /* Who can hold a stack: a slot each, and each scheduler's cache. */
    if (stack_pool_init(stack_size_for(opts), procs.max + (size_t)n * SCHED_STACKS) < 0)
        goto error1;
    int err = pthread_key_create(&procs.thread_key, thread_done);
    if (err) {
        errno = err;
        goto error1;
    }
    int64_t slice_ns = preempt_slice_ns(opts ? opts->preempt_us : 0);
    if (slice_ns < 0 || crash_init() < 0)
        goto error2;
    atomic_store(&runtime_stopping, false);
    runtime_generation++;
    procs.running = true;
    if (sched_start(n, slice_ns) < 0)
        goto error3;
    return 0;
error3:
    procs.running = false;
error2:
    pthread_key_delete(procs.thread_key);
error1:
    stack_pool_free();
    unmap_tables();
    return -1;
}

/* Sends kill to every scheduled process still alive. */
static void kill_all(void) {
    size_t used = atomic_load(&procs.used);
    for (size_t i = 0; i < used; i++) {
        struct proc *p = &procs.table[i];
        lock_take(&p->lock);
        term pid = p->pid;
        bool alive = p->fn && p->state != PROC_FREE && p->state != PROC_EXITING;
        lock_give(&p->lock);
        if (alive)
            erl_exit(pid, A_KILL);
    }
}

/* Frees what plain threads' processes still hold. */
static void free_thread_procs(void) {
    size_t used = atomic_load(&procs.used);
    for (size_t i = 0; i < used; i++) {
        struct proc *p = &procs.table[i];
        if (p->state != PROC_FREE && !p->fn) {
            heap_free_all(p);
            signals_free(p);
            p->state = PROC_FREE;
        }
        if (p->wakeup) {
            free(p->wakeup);
            p->wakeup = NULL;
        }
    }
    current_proc = NULL;
}

void erl_stop(void) {
    if (!procs.running)
        return;
    if (erl_in_process())
        panic("erl_stop called from a process: call it from a plain thread");
    dist_stop();    /* the node layer's connections go first */
    atomic_store(&runtime_stopping, true);
    pthread_mutex_lock(&procs.lock);
    while (atomic_load(&procs.scheduled) > 0) {
        pthread_mutex_unlock(&procs.lock);
        kill_all();
        pthread_mutex_lock(&procs.lock);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&procs.all_gone, &procs.lock, &ts);
    }
    pthread_mutex_unlock(&procs.lock);
    sched_stop();
    free_thread_procs();
    registry_clear();
    stack_pool_free();
    atomic_store(&procs.used, 0);   /* a pid now names no slot */
    unmap_tables();
    pthread_key_delete(procs.thread_key);
    procs.running = false;
    runtime_generation++;     /* every thread's old process is gone */
}
