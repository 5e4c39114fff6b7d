/*
 * erl.h - lightweight processes, as the erlang module has them.
 *
 * erl_spawn is erlang:spawn, erl_send is Pid ! Msg, erl_receive is receive.
 *
 * A few scheduler threads run many processes, each on its own small stack.
 * A process waiting in erl_receive holds no thread. Processes share nothing:
 * every message is copied into the receiver.
 *
 * Any plain thread (main(), a test body) may use this API too: on first use it
 * gets a pid and a mailbox of its own. A plain thread cannot be killed by an
 * exit signal; it always traps exits and gets {'EXIT', Pid, Reason} messages.
 *
 * Timeouts, everywhere: milliseconds; 0 = do not wait; ERL_INFINITY (or any
 * negative value) = forever.
 */
#ifndef ERL_H
#define ERL_H

#include <stdbool.h>
#include <stddef.h>

#include "term.h"

#define ERL_INFINITY (-1)

/* ---- The runtime --------------------------------------------------------- */

struct erl_options {
    int schedulers;     /* scheduler threads; 0 = one per online core */
    size_t stack_size;  /* bytes of stack per process; 0 = the default */
    size_t max_procs;   /* processes alive at once; 0 = the default (2^20) */
    int preempt_us;     /* time slice in µs: a process that runs this long
                           without calling the runtime is preempted; 0 = the
                           default (ERL_PREEMPT_US, else 1000), -1 = never.
                           Always off under the sanitizers. */
};

/* Starts the runtime. opts may be NULL for the defaults. Returns 0, or -1 with
 * errno set (EALREADY if it is running, ENOMEM, or pthread_create's error). */
int erl_start(const struct erl_options *opts);

/* Kills every process (reason kill), waits for them to go, joins the
 * schedulers and frees everything the runtime allocated. The calling plain
 * thread's own pid dies too. Call it from a plain thread while no other
 * plain thread is inside this API (it panics when called from a process).
 * Afterwards a pid names nothing. */
void erl_stop(void);

/* The number of scheduler threads, or 0 when the runtime is not running. */
int erl_schedulers(void);

/* Preemption's setting and counts since the program started. */
struct erl_preempt_stats {
    int64_t slice_us;       /* the running runtime's slice; 0 = off */
    uint64_t preemptions;   /* processes switched out by the ticker */
    uint64_t refusals;      /* ticks left alone: the process was outside
                               the preemptible code or short of stack */
};

/* Fills *st. This function can't fail. */
void erl_preempt_stats(struct erl_preempt_stats *st);

/* ---- Processes ----------------------------------------------------------- */

typedef void (*erl_fn)(term arg);

enum erl_spawn_flags {
    ERL_LINK = 1,       /* link the new process to the caller */
    ERL_MONITOR = 2,    /* monitor it; the reference goes to *ref */
    ERL_QUIET = 4,      /* no crash report when it ends (see erl_quiet) */
};

/* Starts a process running fn(arg); arg is copied into the new process. The
 * process ends normally when fn returns. name labels it in listings.
 * Returns its pid, or NONE with errno EAGAIN when max_procs are alive or the
 * runtime is stopping, ENOMEM when no stack can be mapped. */
term erl_spawn_opt(const char *name, erl_fn fn, term arg, int flags, term *ref);

#define erl_spawn(fn, arg) erl_spawn_opt(#fn, (fn), (arg), 0, NULL)
#define erl_spawn_link(fn, arg) erl_spawn_opt(#fn, (fn), (arg), ERL_LINK, NULL)
#define erl_spawn_monitor(fn, arg, ref) \
    erl_spawn_opt(#fn, (fn), (arg), ERL_MONITOR, (ref))

/* The caller's pid. In a plain thread, creates one on first use. */
term erl_self(void);

/* True when the caller is a process run by a scheduler (not a plain thread). */
bool erl_in_process(void);

/* True when pid names a process of this node that has not yet exited. */
bool erl_is_alive(term pid);

/* erlang:hibernate/3: the calling process gives its stack back to the
 * system and waits; at its next message it starts again in fn(arg), on an
 * empty stack (when fn returns, the process ends normally). It never
 * returns to its caller: everything on its stack is gone, the erl_catch
 * frames too. What it keeps stays: its heap (received messages, term_keep
 * copies), links, monitors, its name, trap_exit, and every message, in
 * order; arg is copied into the heap, so it may be built on the stack
 * (erl_drop it in fn to give that copy back). A message already in its
 * queue (one a receive passed over) wakes it at once. Signals that are not
 * messages (a link, a monitor) take effect without waking it into fn; an
 * exit signal ends it as it ends a process in receive. A hibernated
 * process costs no stack page: its slot and its heap only; it wakes on
 * whichever stack its scheduler gives it (the node panics when there is
 * no memory for one). A plain thread cannot hibernate: it panics. */
_Noreturn void erl_hibernate(erl_fn fn, term arg);

/* erl_receive(ANY, ERL_INFINITY), letting the runtime take the caller's
 * stack while it waits: returns the next message, on the same stack,
 * unless the stack was taken; then erl_await never returns, and fn(arg)
 * runs on another stack once a message is there, as after erl_hibernate
 * (everything that was on the stack is gone, the erl_catch frames too;
 * arg is copied into the heap, a copy fn owns and may erl_drop; the
 * message is still in the mailbox). Signals that are not messages take
 * effect while it waits. The runtime takes the stack of a wait that 16
 * later waits on its scheduler have passed (sched.c): a busy server keeps
 * its stack, an idle one costs its slot and heap only, as an idle
 * event-based actor does, whose callbacks run on its scheduler's stack.
 * Not listed as hibernated. Waking without a stack, the process panics
 * the node when there is no memory for one, as a hibernated one does.
 * What a server's loop does between messages; a plain thread panics. */
term erl_await(erl_fn fn, term arg);

/* Lets the other runnable processes run first. */
void erl_yield(void);

/* Waits ms milliseconds without holding a thread (receive after ms). */
void erl_sleep(int ms);

/* ---- Messages ------------------------------------------------------------ */

/* Sends a copy of msg to dest: a pid (of this node or another), an atom
 * naming a registered process, or {Name, Node} (see erl_resolve).
 * A send to a pid never fails: to a dead process, or to a node that cannot
 * be reached, the message is dropped. Returns 0, or -1 with errno ESRCH
 * when dest is a name that is not registered (Erlang raises badarg there),
 * ENOTCONN when it is {Name, Node} of another node and this node is not
 * distributed (no node started: common/node/node.h; a started node sends
 * it, connecting first if need be, and drops it if it cannot, as OTP
 * does), and EINVAL when it is none of these. */
int erl_send(term dest, term msg);

/* node(): this node's name, an atom; 'nonode@nohost' until the node is
 * distributed. This function can't fail. */
term erl_node(void);

/* node(Pid), node(Ref): the name of the node t belongs to; NONE when t is
 * neither a pid nor a reference. */
term erl_node_of(term t);

/* nodes(): fills v with up to n names of the nodes this one is connected
 * to, and returns how many there are (0 when it is not distributed). */
size_t erl_nodes(term *v, size_t n);

/* monitor_node(Node, On): while on, the caller gets {nodedown, Node} when
 * the connection to Node goes, or at once when it cannot be made (a node
 * that is not distributed: at once, for any other node). Each call with on
 * adds one monitor, each call without removes one. Returns 0, or -1 with
 * errno EINVAL when node is not an atom. */
int erl_monitor_node(term node, bool on);

/* net_kernel:monitor_nodes(On): while on, the caller gets {nodeup, Node}
 * and {nodedown, Node} for every connection that comes or goes. Returns 0,
 * or -1 with errno ENOTCONN when the node is not distributed. */
int erl_monitor_nodes(bool on);

/* The pid dest names: a pid (returned as it is), an atom naming a registered
 * process, {global, Name} (a name of the node layer's global registry:
 * ESRCH when none holds it, or no node is started), or {Name, Node} with
 * Node this node (erl_node()), which names what Name does. Returns NONE with errno ESRCH when no process is
 * registered under the name, ENOTCONN when Node is another node, EINVAL when
 * dest is none of these shapes. */
term erl_resolve(term dest);

/* alias(): a fresh reference that is an active alias of the caller. A
 * message sent through it (erl_send_alias) reaches the caller only while it
 * is active; the check is made when the caller takes its inbox, so no table
 * is shared. The caller's aliases go when it dies. This function can't fail
 * (it panics when out of memory). */
term erl_alias(void);

/* unalias(Alias): deactivates an alias of the caller. Every message sent
 * through it that the caller has not yet taken from its inbox is dropped;
 * one already taken (the caller's receive scanned past it) stays. Returns
 * true when alias was an active alias of the caller. */
bool erl_unalias(term alias);

/* Alias ! Msg: sends a copy of msg through alias to the process pid, whose
 * alias it is. Here, unlike on BEAM, a reference does not say whose it is,
 * so the sender names the process too (gen_server: the pid in From). The
 * message is dropped when alias is not (or no longer) active in pid when pid
 * takes it in, or pid is dead. A pid of another node (an Erlang caller of
 * a C server) gets the message as a send to its pid: its receive takes it
 * by the tag. Returns 0, or -1 with errno EINVAL when pid is not a pid or
 * alias not a reference. */
int erl_send_alias(term pid, term alias, term msg);

/* Takes the first message that matches pattern (ANY takes the first of all),
 * leaving the others in order; waits up to timeout_ms for one to arrive.
 * Returns the message, or NONE on timeout. The message is the caller's until
 * erl_drop or erl_heap_release; VARs in pattern are bound to its parts. */
term erl_receive(term pattern, int timeout_ms);

/* Takes the first message that matches any of the n patterns, as Erlang's
 * receive with several clauses; sets *which (if not NULL) to the index of
 * the pattern it matched. Otherwise as erl_receive. */
term erl_receive_any(const term *patterns, size_t n, int timeout_ms, size_t *which);

/* Gives a received message (or a term_keep copy) back. Only the whole
 * message erl_receive returned may be dropped, never a part of it (release
 * those with erl_heap_release). Immediate terms need no dropping; dropping
 * one does nothing. */
void erl_drop(term msg);

/* The process heap: received messages and kept terms, oldest first.
 * erl_heap_mark() names the current end; erl_heap_release(mark) drops
 * everything received or kept after it. The mark must still be in the heap
 * (not dropped since): a mark that is not releases the whole heap. */
typedef struct heap_block *erl_heap_mark_t;
erl_heap_mark_t erl_heap_mark(void);
void erl_heap_release(erl_heap_mark_t mark);

/* Copies t into the caller's heap (see term.h). Returns the copy; immediate
 * terms are returned as they are. */
term term_keep(term t);

/* Messages waiting in the caller's mailbox. */
size_t erl_queue_len(void);

/* A reference unique for the life of the node. This function can't fail. */
term erl_make_ref(void);

/* ---- Timers (erlang:send_after/3, start_timer/3, cancel_timer/1) -------- */

/* Sends a copy of msg (copied now) to dest after ms milliseconds. dest is a
 * pid or a registered name, resolved when the timer fires; a dead pid or a
 * name nobody holds then drops the message. A timer to a pid is cancelled
 * when that process exits. Returns the timer's reference, or NONE with
 * errno EINVAL when ms is negative or dest is neither a pid nor an atom. */
term erl_send_after(int ms, term dest, term msg);

/* As erl_send_after, but the message is {timeout, TimerRef, Msg}. */
term erl_start_timer(int ms, term dest, term msg);

/* Cancels the timer ref. Returns the milliseconds that were left (rounded
 * up), or -1 (OTP's false) when it already fired, was cancelled, or is not
 * a timer's reference. A cancelled timer's message never comes. This
 * function can't fail. */
long erl_cancel_timer(term ref);

/* ---- Names --------------------------------------------------------------- */

/* register(Name, Pid). Returns 0, or -1 with errno EEXIST if the name is
 * taken or the process already has a name, ESRCH if pid is not alive,
 * EINVAL if name is not an atom or is 'undefined' or pid is not a pid,
 * ENOMEM when out of memory. */
int erl_register(term name, term pid);

/* unregister(Name). Returns 0, or -1 with errno ESRCH if it is not
 * registered, EINVAL if name is not an atom. */
int erl_unregister(term name);

/* whereis(Name): the pid, or NONE. */
term erl_whereis(term name);

/* ---- Links, monitors and exits ------------------------------------------ */

/* link(Pid). Linking to a dead process ends the caller with reason noproc
 * at once, or, when it traps exits (a plain thread always does), gives it
 * {'EXIT', Pid, noproc}. Returns 0, or -1 with errno EINVAL if pid is not a
 * pid. */
int erl_link(term pid);

/* unlink(Pid). Returns 0. */
int erl_unlink(term pid);

/* monitor(process, PidOrName). Returns the monitor reference. When the target
 * ends (or is already gone: reason noproc) the caller gets
 * {'DOWN', Ref, process, Pid, Reason}, with {Name, Node} for Pid when it
 * was monitored by name. Returns NONE with errno EINVAL when target is
 * neither a pid, an atom, nor {Name, Node} with atoms. */
term erl_monitor(term target);

/* monitor(process, {Name, Node}) is erl_monitor too: with Node this node it
 * is the monitor of Name, whose 'DOWN' names {Name, Node}; with another
 * node it is the monitor of Name there (a distributed node), or a 'DOWN'
 * at once with reason noconnection (not distributed), as when OTP cannot
 * reach the node. A monitor or link to a process of another node gets
 * noconnection when the connection to its node goes. */

/* demonitor(Ref, [flush]) when flush: no 'DOWN' for ref is left behind. */
void erl_demonitor(term ref, bool flush);

/* process_flag(trap_exit, On). Returns the previous value. A plain thread
 * always traps exits: there it changes nothing and returns true. */
bool erl_trap_exit(bool on);

/* exit(Pid, Reason): sends an exit signal. Sent to the caller itself it
 * takes effect inside the call, as on BEAM: a process that does not trap
 * exits ends there (with normal too, and killed for kill), one that traps
 * gets {'EXIT', Self, Reason} (a plain thread always does). */
void erl_exit(term pid, term reason);

/* exit(Reason): ends the calling process with reason, or, inside erl_catch,
 * makes the innermost erl_catch return false with it. A plain thread cannot
 * end this way: it panics. A fault in a process's own code ends it the same
 * way, with reason badarith for SIGFPE (as Erlang's division by zero), or
 * {signal, segv | bus | ill}. */
_Noreturn void erl_exit_self(term reason);

/* Sets whether the calling process is quiet: a process that is not prints
 * Erlang's crash report to stderr when it ends itself (erl_exit_self, or a
 * fault) with a reason other than normal, shutdown or {shutdown, _}:
 *   =ERROR REPORT==== 1-Dec-2026::12:00:00.000000 ===
 *   Error in process <0.85.0> with exit value:
 *   badarith
 * Nothing is printed for a process an exit signal ends, as on BEAM. (BEAM
 * prints it for error/1 and faults, not for exit/1; erl_exit_self is both,
 * and reports.) A behaviour that prints its own reports (gen_server,
 * supervisor) sets this, or spawns with ERL_QUIET. Returns the previous
 * value. This function can't fail. */
bool erl_quiet(bool on);

/* catch fn(ctx), as Erlang's catch or try around a call: runs fn(ctx) and
 * returns true when it returns. Returns false, with *reason (if reason is not
 * NULL) set to a term_keep copy in the caller's heap, when the calling
 * process ended itself inside fn: erl_exit_self(Reason), or a fault in its
 * own code (badarith, {signal, segv | bus | ill}). The stack of fn is gone
 * then; what fn received or kept stays in the heap, to be released as usual.
 * Exit signals from other processes (erl_exit, links) are not caught, as in
 * Erlang, nor is a stack overflow. Catches nest: the innermost catches. In a
 * plain thread, which cannot end itself, fn just runs and true is returned.
 * This function can't fail. */
bool erl_catch(void (*fn)(void *ctx), void *ctx, term *reason);

/* ---- Looking around ------------------------------------------------------ */

struct erl_proc_info {
    term pid;               /* the process */
    const char *name;       /* the function it was spawned with */
    term registered;        /* registered name, or NONE */
    const char *status;     /* "running", "runnable" or "waiting" */
    size_t queue_len;       /* messages in its mailbox */
    size_t links;           /* processes linked to it */
    bool trap_exit;         /* process_flag(trap_exit) */
    bool hibernated;        /* waiting in erl_hibernate, its stack given
                               back (erlang:hibernate/3 as its
                               current_function) */
};

/* Calls fn for every live process (not one already exiting), in slot
 * order. Returns the count. */
size_t erl_processes(void (*fn)(const struct erl_proc_info *info, void *ctx),
                     void *ctx);

/* Registered names; calls fn for each (name, pid). Returns the count. */
size_t erl_registered(void (*fn)(term name, term pid, void *ctx), void *ctx);

/* Processes alive right now. */
size_t erl_process_count(void);

/* Marks a rarely run function (a report, a trace) to be kept out of line,
 * so that its buffers do not swell the stack frame of the loop that calls
 * it: an idle process should touch a single page of its stack. */
#define ERL_COLD __attribute__((noinline, cold))

/* Marks a function whose fault is deliberate (a demo of a crash), so that the
 * undefined-behaviour sanitizer lets the hardware report it instead, and the
 * optimiser keeps it whole (noipa: no clone that drops an unused result). */
#define ERL_DELIBERATE_FAULT __attribute__((noinline, noipa, no_sanitize("undefined")))

#endif
