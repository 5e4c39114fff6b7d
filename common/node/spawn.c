/*
 * spawn.c - spawn requests from other nodes: what OTP 23+'s erpc:call,
 * rpc:call (erpc:call since OTP 23), erpc:cast and rpc:cast send. This
 * node announces DFLAG_SPAWN in its handshake (node.c) so they come here.
 *
 *   {29, ReqId, From, GroupLeader, {M, F, Arity}, OptList} + ArgList
 *   {30, ReqId, From, GroupLeader, {M, F, Arity}, OptList, Token} + ArgList
 *
 * are answered by {31, ReqId, From, Flags, Result}: Result the new process's
 * pid, Flags 1 when it is linked to From and 2 when From monitors it (with
 * ReqId as the monitor's reference), or an atom (system_limit) when no
 * process could be made. OTP 25 sends OptList [monitor] for a call, [] for a
 * cast, and link for spawn_link; the reply and reply_tag options stay on the
 * caller's side. What the process runs, as BEAM would run it:
 *
 *   erpc:execute_call(Ref, M, F, A)  M:F/length(A) from kernel.c's table
 *       (node_rpc_register): exits {Ref, return, Value}, or {Ref, exit,
 *       Reason} when the function exits; an M:F not in the table exits
 *       {Ref, error, undef, [{M, F, A, []}]}, what erpc's trim_stack leaves
 *       of BEAM's undef. erpc:call waits for the monitor's 'DOWN' with that
 *       reason; rpc:call turns it into Value, {badrpc, {'EXIT', Reason}} or
 *       {badrpc, {'EXIT', {undef, [{M, F, A, []}]}}}.
 *   erpc:execute_cast(M, F, A)  runs it, the result dropped; an M:F not in
 *       the table exits {exception, {undef, [{M, F, A, []}]}} (BEAM adds
 *       erpc's own stack frame, which a C node has none of).
 *   anything else  exits {undef, [{M, F, Args, []}]}, as a BEAM process
 *       spawned on a function that does not exist.
 *
 * Order: the monitor and the link are in the new process's signal queue,
 * and SPAWN_REPLY on the connection, before the process may run (it waits
 * for the message ReqId, which the reader sends it last), so the caller
 * gets the reply before any 'DOWN' or exit signal of the process.
 */
#include <stdio.h>
#include <string.h>

#include "erl.h"
#include "node_impl.h"

enum { OP_SPAWN_REPLY = 31, SPAWN_LINKED = 1, SPAWN_MONITORED = 2 };

/* Element i (from 0) of list l, or NONE past its end. */
static term list_nth(term l, size_t i) {
    for (; is_list(l) && l.size > 0; l = l.u.elements[l.size]) {
        if (i < l.size)
            return l.u.elements[i];
        i -= l.size;
    }
    return NONE;
}

/* ---- The process --------------------------------------------------------- */

/* erpc:execute_call(Ref, M, F, A): args is [Ref, M, F, A]. */
static _Noreturn void execute_call(term args) {
    term ref = list_nth(args, 0), m = list_nth(args, 1), f = list_nth(args, 2),
         a = list_nth(args, 3);
    node_rpc_fn fn = kernel_lookup(m, f, a);
    if (!fn)
        erl_exit_self(TUPLE(ref, ATOM("error"), ATOM("undef"), LIST(TUPLE(m, f, a, NIL))));
    term reason = NONE, result = NONE;
    if (!kernel_run(fn, a, &result, &reason))
        erl_exit_self(TUPLE(ref, ATOM("exit"), reason));
    erl_exit_self(TUPLE(ref, ATOM("return"), result));
}

/* erpc:execute_cast(M, F, A): args is [M, F, A]. */
static void execute_cast(term args) {
    term m = list_nth(args, 0), f = list_nth(args, 1), a = list_nth(args, 2);
    node_rpc_fn fn = kernel_lookup(m, f, a);
    if (!fn)
        erl_exit_self(TUPLE(ATOM("exception"),
                            TUPLE(ATOM("undef"), LIST(TUPLE(m, f, a, NIL)))));
    fn(a);
}

/* A spawned process: arg is {ReqId, What, M, F, Args}, What call, cast or
 * undef. It waits for the message ReqId, then runs. */
static void spawned_main(term arg) {
    term reqid = element(1, arg), what = element(2, arg), args = element(5, arg);
    erl_drop(erl_receive(reqid, ERL_INFINITY));
    if (is_atom_named(what, "call"))
        execute_call(args);
    else if (is_atom_named(what, "cast"))
        execute_cast(args);
    else
        erl_exit_self(TUPLE(ATOM("undef"), LIST(TUPLE(element(3, arg), element(4, arg), args,
                                                      NIL))));
}

/* ---- The request --------------------------------------------------------- */

/* What a request for m:f/arity runs: call, cast or undef (see above). */
static term what_runs(term m, term f, int64_t arity) {
    if (!is_atom_named(m, "erpc"))
        return ATOM("undef");
    if (is_atom_named(f, "execute_call") && arity == 4)
        return ATOM("call");
    if (is_atom_named(f, "execute_cast") && arity == 3)
        return ATOM("cast");
    return ATOM("undef");
}

/* True when opts (a list) holds the atom name or a tuple {name, _}. */
static bool has_option(term opts, const char *name) {
    for (size_t i = 0;; i++) {
        term o = list_nth(opts, i);
        if (is_none(o))
            return false;
        if (is_atom_named(o, name) ||
            (is_tuple(o) && o.size == 2 && is_atom_named(element(1, o), name)))
            return true;
    }
}

/* Links pid to from, recorded on c first (control.c's rule). True when
 * both took. */
static bool link_new(struct conn *c, term from, term pid) {
    pthread_mutex_lock(&c->lock);
    bool up = c->state != CONN_DOWN && crossings_add(&c->links, pid, from, NONE);
    pthread_mutex_unlock(&c->lock);
    if (up && erl_dist_deliver(DIST_LINK, from, pid, NONE, NONE, false))
        return true;
    if (up) {
        pthread_mutex_lock(&c->lock);
        crossings_remove(&c->links, pid, from, NONE);
        pthread_mutex_unlock(&c->lock);
    }
    return false;
}

int spawn_take(struct conn *c, term reqid, term from, term mfa, term opts, term args,
               char *why, size_t why_len) {
    term m = element(1, mfa), f = element(2, mfa), arity = element(3, mfa);
    if (mfa.size != 3 || !is_atom(m) || !is_atom(f) || !is_int(arity) ||
        kernel_list_length(args) != arity.u.integer || kernel_list_length(opts) < 0) {
        snprintf(why, why_len, "a spawn request whose {M, F, Arity}, arguments or options"
                               " are of the wrong shape");
        return -1;
    }
    term what = what_runs(m, f, arity.u.integer);
    term pid = erl_spawn_opt("spawn_request", spawned_main, TUPLE(reqid, what, m, f, args),
                             ERL_QUIET, NULL);
    int64_t flags = 0;
    if (is_pid(pid) && has_option(opts, "monitor") &&
        erl_dist_deliver(DIST_MONITOR, from, pid, reqid, NONE, false))
        flags |= SPAWN_MONITORED;
    if (is_pid(pid) && has_option(opts, "link") && link_new(c, from, pid))
        flags |= SPAWN_LINKED;
    term v[] = {INT(OP_SPAWN_REPLY), reqid, from, INT(flags),
                is_pid(pid) ? pid : ATOM("system_limit")};
    control_answer(c, term_tuple(v, 5));
    if (is_pid(pid))
        erl_dist_deliver(DIST_MESSAGE, NONE, pid, NONE, reqid, false);
    return 0;
}
