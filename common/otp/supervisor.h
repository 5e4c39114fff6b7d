/*
 * supervisor.h - the supervisor behaviour, as OTP's supervisor.
 *
 * A supervisor is a process that traps exits, starts its children in order,
 * restarts them by a strategy when they die, gives up (and exits with reason
 * shutdown) when they die too often, and stops them in reverse order when it
 * stops itself. A child may itself be a supervisor: that is a tree.
 *
 * Every request is a call with gen_server's wire format, and the requests are
 * OTP's, so an Erlang node could drive a C supervisor:
 *   {'$gen_call', {From, Tag}, Request}        answered by {Tag, Reply}
 *     {start_child, ChildSpec | ExtraArgs}     {ok, Pid} | {ok, undefined} |
 *                                              {error, Reason}: for a spec
 *                                              {Reason, Child} when its start
 *                                              fails (Child: #child{} below)
 *     {terminate_child, Id | Pid}              ok | {error, not_found |
 *                                              simple_one_for_one}
 *     {delete_child, Id}                       ok | {error, Reason}
 *     {restart_child, Id}                      {ok, Pid} | {ok, undefined} |
 *                                              {error, Reason}
 *     which_children                           [{Id, Pid | undefined |
 *                                                restarting, Type, []}]
 *     count_children                           [{specs, N}, {active, N},
 *                                               {supervisors, N}, {workers, N}]
 *   {system, {From, Tag}, Request}             answered by {Tag, Reply}
 *     {terminate, Reason}                      stops it (sys:terminate)
 *     get_state                                #state{}, below
 *     get_status                               {status, Pid, {module,
 *                                               gen_server}, [[], running |
 *                                               suspended, Parent, [], [
 *       {header, <<"Status for generic server Name">>},
 *       {data, [{<<"Status">>, running | suspended}, {<<"Parent">>, Parent}]},
 *       {data, [{<<"State">>, #state{}}]},
 *       {supervisor, [{<<"Callback">>, undefined}]}]]}
 *     suspend | resume                         ok
 *     anything else                            {error, {unknown_system_msg, R}}
 * A suspended supervisor handles only system messages and its parent's
 * 'EXIT' (as OTP's sys:suspend_loop): calls, and its children's 'EXIT's,
 * wait in its mailbox, in order, until resume. Use sys.h's sys_get_state,
 * sys_get_status, sys_suspend and sys_resume.
 *
 * get_state answers OTP's #state{} record, its first eight fields:
 *   {state, Name, Strategy, Children, Dynamics, Intensity, Period, Restarts}
 *     Name      {local, Name} when registered, else {Pid, undefined} (OTP
 *               has {Pid, Module}: a C supervisor has no callback module)
 *     Children  [#child{}], newest first; simple_one_for_one: the template
 *     Dynamics  simple_one_for_one: [{Pid | {restarting, OldPid}, Args}],
 *               newest first; else undefined
 *     Restarts  the restarts that still count against the intensity, when
 *               they were (ms on the monotonic clock), newest first
 * and a child is OTP's #child{} record:
 *   {child, Pid | undefined | {restarting, OldPid}, Id, {c, Start, Arg},
 *    Restart, false, Shutdown, Type, []}
 * (false is OTP's significant: there is no auto_shutdown here).
 *
 * On the wire a child spec is OTP's tuple form, with a C function where OTP
 * has {M, F, A}:
 *   {Id, {c, FunctionAddress, Arg}, Restart, Shutdown, Type, []}
 * Restart: permanent | transient | temporary. Shutdown: brutal_kill | Millis |
 * infinity. Type: worker | supervisor.
 *
 * Every function here is called from a process or a plain thread; the
 * supervisor itself runs in a process of its own, and keeps all its state in
 * that process's heap: a supervisor that is killed leaks nothing.
 *
 * A gen_server child needs only a start function:
 *     static term counter_start(term args, term *error) {
 *         return gen_server_start_link(ATOM("counter"), &counter_module,
 *                                      args, error);
 *     }
 *     struct sup_child_spec spec = {ATOM("counter"), counter_start, INT(0),
 *                                   SUP_PERMANENT, 2000, SUP_WORKER};
 *
 * A start function runs inside erl_catch, as OTP calls M:F(A) inside a
 * catch: one that exits or faults fails that start with {'EXIT', Reason}
 * (OTP's reason also holds a stack trace, which C has not), and the
 * supervisor goes on.
 *
 * Differences from OTP, because a C function is not an Erlang fun: the
 * Modules field of which_children is always []; a simple_one_for_one
 * start_child whose ExtraArgs is no list fails with {badarg, ExtraArgs}
 * (OTP's apply fails inside a catch: {'EXIT', {badarg, Stack}}); an unknown
 * call is answered {error, {bad_call, Request}} (OTP's supervisor crashes);
 * of sys, replace_state, trace, statistics and change_code are not answered
 * (there is no callback state to replace or code to change).
 */
#ifndef SUPERVISOR_H
#define SUPERVISOR_H

#include <stdio.h>

#include "erl.h"

/* ---- Child specs --------------------------------------------------------- */

/* Starts a child linked to the calling process (the supervisor) and returns
 * its pid: erl_spawn_link, or gen_server_start_link, or supervisor_start_link
 * for a sub-supervisor. On failure returns NONE and sets *error to the atom
 * ignore (the child chose not to start: OTP's ignore) or to the reason
 * (OTP's {error, Reason}). The error must outlive the function's frame: an
 * immediate, part of arg, or a term_keep() copy.
 * It runs in the supervisor's process, which waits for it: a start function
 * that never returns blocks the whole supervisor, as in OTP. */
typedef term (*sup_start_fn)(term arg, term *error);

enum sup_restart {
    SUP_PERMANENT,      /* always restarted */
    SUP_TRANSIENT,      /* restarted unless it exits normal, shutdown or
                           {shutdown, _} */
    SUP_TEMPORARY,      /* never restarted; forgotten when it ends */
};

enum sup_child_type {
    SUP_WORKER,         /* anything that is not a supervisor */
    SUP_SUPERVISOR,     /* a sub-supervisor: stopped with infinity by habit */
};

/* Shutdown: milliseconds to wait after exit(Child, shutdown) before killing;
 * these two values mean OTP's atoms. */
#define SUP_BRUTAL_KILL (-2)            /* exit(Child, kill) at once */
#define SUP_INFINITY ERL_INFINITY       /* exit(Child, shutdown), wait forever */

/* What to start and how to treat it. The supervisor copies id and arg, so
 * the spec may be built on the caller's stack (TUPLE, LIST) and die after
 * the call returns. */
struct sup_child_spec {
    term id;                    /* names the child within its supervisor: any
                                   term, usually an atom; ignored for
                                   simple_one_for_one */
    sup_start_fn start;         /* starts it; see sup_start_fn */
    term arg;                   /* passed to start; simple_one_for_one: a
                                   list, to which start_child appends */
    enum sup_restart restart;   /* when it is restarted */
    int shutdown;               /* ms, SUP_BRUTAL_KILL or SUP_INFINITY */
    enum sup_child_type type;   /* worker or supervisor */
};

/* ---- Supervisor flags ---------------------------------------------------- */

enum sup_strategy {
    SUP_ONE_FOR_ONE,            /* restart only the child that died */
    SUP_ONE_FOR_ALL,            /* stop the others, restart them all */
    SUP_REST_FOR_ONE,           /* stop those started after it, restart it
                                   and them, in start order */
    SUP_SIMPLE_ONE_FOR_ONE,     /* one template spec; start_child makes
                                   instances of it, started on demand */
};

struct sup_flags {
    enum sup_strategy strategy; /* how a death spreads */
    int intensity;              /* restarts allowed (>= 0) ... */
    int period_s;               /* ... within this many seconds (>= 1); one
                                   more makes the supervisor give up */
};

/* ---- Starting and stopping ----------------------------------------------- */

/* Starts a supervisor, which starts the n children in specs in order, and
 * waits until they have all started. name is an atom to register locally,
 * or NONE. link_flags: ERL_LINK links it to the caller (start_link); the
 * caller is its parent either way, and when a linked parent exits the
 * supervisor stops its children and exits with the same reason.
 * simple_one_for_one takes exactly one spec and starts nothing yet.
 * Returns the pid, or NONE with *error set (if error is not NULL) to:
 *   {shutdown, {failed_to_start_child, Id, Reason}}  a child failed; the
 *       ones already started were stopped, newest first, and the
 *       supervisor has exited (it sends the caller no exit signal)
 *   {already_started, Pid}   name is taken
 *   {supervisor_data, {invalid_strategy | invalid_intensity |
 *                      invalid_period, Value}}   bad flags
 *   {start_spec, Why}        a spec is bad, Why being
 *       {duplicate_child_name, Id}, {invalid_child_type, T},
 *       {invalid_mfa, {c, Start, Arg}} (start is NULL, or a
 *       simple_one_for_one arg is no list), {invalid_restart_type, R} or
 *       {invalid_shutdown, S} (an enum out of range shows as its integer)
 *   {bad_start_spec, Specs}  simple_one_for_one without exactly one spec
 *   or the reason the supervisor died with while starting.
 * The error is a copy in the caller's heap: erl_drop frees it. */
term supervisor_start(term name, struct sup_flags flags,
                      const struct sup_child_spec *specs, size_t n,
                      int link_flags, term *error);

/* A function, not a macro, so that flags can be a compound literal. */
static inline term supervisor_start_link(term name, struct sup_flags flags,
                                         const struct sup_child_spec *specs,
                                         size_t n, term *error)
{
    return supervisor_start(name, flags, specs, n, ERL_LINK, error);
}

/* Stops the supervisor: it stops its children, newest first, and exits with
 * reason (normal, usually). Waits until it has exited, up to timeout_ms.
 * Returns 0, or -1 with *error set to noproc or timeout. */
int supervisor_stop(term sup, term reason, int timeout_ms, term *error);

/* ---- Children ------------------------------------------------------------ */
/* sup is a pid or a registered name. Each call waits for the answer without
 * a time limit, as OTP's do. When the supervisor is gone or dies during the
 * call, they fail with *error set to noproc or its exit reason. An error is
 * a copy in the caller's heap, a block of its own: erl_drop frees it, and
 * nothing else the call received is left behind. */

/* Adds a child and starts it (supervisor:start_child(Sup, Spec)). Returns its
 * pid, or the atom undefined when its start function returned ignore, or
 * NONE with *error set to already_present (the id is known, not running),
 * {already_started, Pid}, what is wrong with the spec (as supervisor_start's
 * Why, without {start_spec, _}), or {Reason, Child} when the start failed:
 * Reason is the start error (or what start returned when it was no pid),
 * Child the spec as OTP's #child{} record, not running (see the top). */
term supervisor_start_child(term sup, const struct sup_child_spec *spec,
                            term *error);

/* simple_one_for_one: starts an instance (supervisor:start_child(Sup,
 * ExtraArgs)); its start function gets the template's arg list with
 * extra_args (a list) appended. Returns its pid, or undefined when it
 * ignored, or NONE with *error set to the start error alone (as OTP: no
 * child record) or to {badarg, ExtraArgs} when extra_args is no list. */
term supervisor_start_instance(term sup, term extra_args, term *error);

/* Stops a child: by id, or by pid for simple_one_for_one. A temporary child
 * (and an instance) is forgotten; any other keeps its spec, not running.
 * Returns 0, or -1 with *error set to not_found. */
int supervisor_terminate_child(term sup, term id_or_pid, term *error);

/* Forgets a child that is not running. Returns 0, or -1 with *error set to
 * running, restarting, not_found or simple_one_for_one. */
int supervisor_delete_child(term sup, term id, term *error);

/* Starts a child that is not running, keeping its spec. Returns its pid, or
 * undefined when it returned ignore, or NONE with *error set to running,
 * restarting, not_found, simple_one_for_one, or the start error. */
term supervisor_restart_child(term sup, term id, term *error);

/* ---- Looking around ------------------------------------------------------ */

/* The children, newest first, as OTP lists them: a list of
 * {Id, Pid | undefined | restarting, worker | supervisor, []}
 * (Id is undefined for simple_one_for_one instances). The list is a copy in
 * the caller's heap, a block of its own: erl_drop it when done. Returns NONE
 * with *error set when the call fails. */
term supervisor_which_children(term sup, term *error);

struct sup_counts {
    long specs;         /* child specs (1 for simple_one_for_one) */
    long active;        /* children running now */
    long supervisors;   /* specs (instances for simple_one_for_one) of
                           type supervisor */
    long workers;       /* specs (instances) of type worker */
};

/* Fills *counts (supervisor:count_children). Returns 0, or -1 with *error
 * set when the call fails. */
int supervisor_count_children(term sup, struct sup_counts *counts,
                              term *error);

/* Prints the tree under sup, one child a line, indented by depth:
 *     counter_sup <0.42.0>
 *       counter <0.43.0> worker
 * It asks each sub-supervisor for its children as it goes, so a tree that is
 * restarting as it is printed shows whatever each answered. Returns the
 * number of children printed, or -1 with *error set when sup fails to answer. */
int supervisor_print_tree(FILE *out, term sup, term *error);

/* Where supervisors write their reports (child_terminated, shutdown_error,
 * reached_max_restart_intensity, ...), as OTP's logger does. NULL silences
 * them. The default is stderr. Safe to call at any time. */
void supervisor_set_report(FILE *out);

/* ---- Raw calls ----------------------------------------------------------- */

/* Sends Request as a call and waits up to timeout_ms for the reply. Returns
 * the reply (in the caller's heap), or NONE with *error set to noproc,
 * timeout, or the reason the supervisor exited with during the call. */
term supervisor_call(term sup, term request, int timeout_ms, term *error);

#endif
