/*
 * gen_server.h - the generic server behaviour, as OTP's gen_server.
 *
 * The behaviour owns the process: spawning, the receive loop, replies,
 * timeouts and termination. A callback module holds only the logic.
 *
 * Messages on the wire are OTP's, so an Erlang node can talk to a C server:
 *   call   {'$gen_call', {From, Tag}, Request}   answered by {Tag, Reply}
 *          Tag is [alias|Ref] (OTP 24's), the reply goes through the alias
 *   cast   {'$gen_cast', Request}
 *   system {system, {From, Tag}, Request}        (the sys module)
 *
 * Lifetimes: callbacks return terms that must outlive their stack frame:
 * immediates (integers, atoms, pids, refs), parts of the request or state they
 * were given, or term_keep() copies. The behaviour copies the new state into
 * storage of its own and releases everything else after each callback.
 *
 * Errors of the client calls (start, call, stop): *error is the caller's own. It is
 * an immediate (noproc, timeout, calling_self, an atom the server exited
 * with), or a boxed term ({nodedown, Node}, a tuple the server exited with)
 * kept in the caller's heap: erl_drop(*error) once done with it (dropping an
 * immediate does nothing, so always dropping it is fine). Nothing else of a
 * failed call stays behind: a client that fails in a loop runs in constant
 * memory.
 */
#ifndef GEN_SERVER_H
#define GEN_SERVER_H

#include <stdio.h>

#include "erl.h"

#define GEN_DEFAULT_TIMEOUT 5000    /* ms, as gen_server:call/2 */

/* Where servers write their reports (the "Generic server terminating" crash
 * report, the unhandled-message warning), as OTP's logger does. NULL
 * silences them. The default is stderr. Safe to call at any time. */
void gen_server_set_report(FILE *out);

enum gen_action {
    GEN_OK,             /* init: {ok, State} */
    GEN_IGNORE,         /* init: ignore */
    GEN_REPLY,          /* {reply, Reply, State} */
    GEN_NOREPLY,        /* {noreply, State} */
    GEN_STOP,           /* {stop, Reason, State} or {stop, Reason, Reply, State} */
};

/* What a callback returns: one of OTP's return tuples as a C value.
 * Build it with the constructors below: a result built by hand must set
 * timeout_ms (ERL_INFINITY for none) and cont (NONE for none); hibernate
 * is false unless set. The terms come first and the small fields last, so
 * that no unnamed bytes lie between fields (see gen_result_of). */
typedef struct gen_result {
    term state;         /* the new state (not for GEN_IGNORE) */
    term reply;         /* GEN_REPLY; GEN_STOP from handle_call; else NONE */
    term reason;        /* GEN_STOP, and init's {stop, Reason}; else NONE */
    term cont;          /* GEN_OK, GEN_REPLY, GEN_NOREPLY: the C of
                           {noreply, S, {continue, C}}: handle_continue(C, S)
                           runs before any message. NONE: none */
    enum gen_action action;
    int timeout_ms;     /* GEN_OK, GEN_REPLY, GEN_NOREPLY: the Timeout of
                           {noreply, S, Timeout}: with no message in that many
                           ms, handle_info(timeout, S) runs; any message
                           cancels it (a sys request only restarts it, as on
                           OTP). ERL_INFINITY: none */
    bool hibernate;     /* GEN_OK, GEN_REPLY, GEN_NOREPLY: the hibernate of
                           {noreply, S, hibernate}: the server hibernates
                           (erl_hibernate) until its next message; its state
                           stays. At most one of a timeout, a continue and
                           hibernate, as OTP's results have one place */
} gen_result;

/* A result with every field given: the one way every constructor below
 * builds one.
 * Speed-up: one compound literal, which the compiler writes field by field
 * straight into the callback's return slot. With action first, the padding
 * after it made gcc clear the whole result first (a rep stos), and built
 * field by field, or built and then changed, gcc made it on the stack and
 * copied it out in 16-byte loads of 8- and 4-byte stores, each load stalled
 * as no store could be forwarded to it: make bench's cast_per_s 10.2 ->
 * 12.2 M/s (medians of 15 runs, taken in turn with the old build's). */
static inline gen_result gen_result_of(enum gen_action action, term state, term reply,
                                       term reason, int timeout_ms, term cont,
                                       bool hibernate) {
    return (gen_result){.action = action, .state = state, .reply = reply, .reason = reason,
                        .timeout_ms = timeout_ms, .cont = cont, .hibernate = hibernate};
}
/* Every result that runs on: state, with no timeout and no continue. */
#define GEN_RESULT(action_, state_, reply_, reason_) \
    gen_result_of((action_), (state_), (reply_), (reason_), ERL_INFINITY, NONE, false)

static inline gen_result gen_ok(term state) {
    return GEN_RESULT(GEN_OK, state, NONE, NONE);
}
static inline gen_result gen_ignore(void) {
    return GEN_RESULT(GEN_IGNORE, NONE, NONE, NONE);
}
static inline gen_result gen_reply(term reply, term state) {
    return GEN_RESULT(GEN_REPLY, state, reply, NONE);
}
static inline gen_result gen_noreply(term state) {
    return GEN_RESULT(GEN_NOREPLY, state, NONE, NONE);
}
static inline gen_result gen_stop(term reason, term state) {
    return GEN_RESULT(GEN_STOP, state, NONE, reason);
}
static inline gen_result gen_stop_reply(term reason, term reply, term state) {
    return GEN_RESULT(GEN_STOP, state, reply, reason);
}

/* With a timeout: {ok, S, Ms}, {reply, R, S, Ms}, {noreply, S, Ms}. */
static inline gen_result gen_ok_timeout(term state, int ms) {
    return gen_result_of(GEN_OK, state, NONE, NONE, ms, NONE, false);
}
static inline gen_result gen_reply_timeout(term reply, term state, int ms) {
    return gen_result_of(GEN_REPLY, state, reply, NONE, ms, NONE, false);
}
static inline gen_result gen_noreply_timeout(term state, int ms) {
    return gen_result_of(GEN_NOREPLY, state, NONE, NONE, ms, NONE, false);
}

/* With a continue: {ok, S, {continue, C}}, {reply, R, S, {continue, C}},
 * {noreply, S, {continue, C}}. C follows the state's lifetime rules. */
static inline gen_result gen_ok_continue(term state, term cont) {
    return gen_result_of(GEN_OK, state, NONE, NONE, ERL_INFINITY, cont, false);
}
static inline gen_result gen_reply_continue(term reply, term state, term cont) {
    return gen_result_of(GEN_REPLY, state, reply, NONE, ERL_INFINITY, cont, false);
}
static inline gen_result gen_noreply_continue(term state, term cont) {
    return gen_result_of(GEN_NOREPLY, state, NONE, NONE, ERL_INFINITY, cont, false);
}

/* With hibernate: {ok, S, hibernate}, {reply, R, S, hibernate},
 * {noreply, S, hibernate}. The reply goes first, then the server gives its
 * stack back and waits; the next message wakes it with its state. */
static inline gen_result gen_ok_hibernate(term state) {
    return gen_result_of(GEN_OK, state, NONE, NONE, ERL_INFINITY, NONE, true);
}
static inline gen_result gen_reply_hibernate(term reply, term state) {
    return gen_result_of(GEN_REPLY, state, reply, NONE, ERL_INFINITY, NONE, true);
}
static inline gen_result gen_noreply_hibernate(term state) {
    return gen_result_of(GEN_NOREPLY, state, NONE, NONE, ERL_INFINITY, NONE, true);
}

/* A callback module. NULL callbacks get OTP's defaults: handle_info logs and
 * ignores, terminate does nothing, code_change is the identity; a missing
 * handle_call, handle_cast or handle_continue that is needed stops the
 * server with {undef, [{Module, Function, Args, []}]}.
 *
 * A callback that crashes (erl_exit_self, a division by zero, a NULL
 * dereference) stops the server as a {stop, Reason, State} with the state it
 * was given would: terminate(Reason, State) runs, then OTP's "Generic server
 * terminating" report is printed, and the server exits with Reason. Where
 * OTP 25's reason is {Reason, Stacktrace}, here it is the C reason alone
 * (boom, badarith, {signal, segv}): C has no stack trace to give. A crash in
 * init fails the start with {error, Reason} (no terminate, as OTP); a crash
 * in terminate makes its reason the exit reason, as OTP's. */
struct gen_server_module {
    const char *name;   /* module name, shown by sys and in crash reports */
    gen_result (*init)(term args);                      /* ok | ignore | stop */
    gen_result (*handle_call)(term request, term from, term state);
    gen_result (*handle_cast)(term request, term state);
    gen_result (*handle_info)(term info, term state);
    void (*terminate)(term reason, term state);
    gen_result (*code_change)(term old_vsn, term state, term extra); /* ok */
    gen_result (*handle_continue)(term cont, term state);   /* as handle_cast */
};

/* Starts a server and waits for init to return. name is an atom to register
 * locally, or NONE. flags: ERL_LINK links it to the caller (start_link), who
 * is then its parent; without it the server is its own parent, as OTP's
 * gen:do_spawn makes it, and its starter's exit is only a message to it.
 * Returns the pid, or NONE with *error set (if error is not NULL) to: ignore,
 * the reason init stopped or crashed with, {bad_return_value, R}, or
 * {already_started, Pid}; *error is then a term of the caller's own
 * (erl_drop it when done). A failed start leaves nothing else behind: no
 * ack, no 'DOWN' in the mailbox (a linked caller that traps exits still gets
 * the {'EXIT', Pid, Reason} of an init that failed, as on OTP; none when the
 * name was taken). */
term gen_server_start(term name, const struct gen_server_module *mod, term args,
                      int flags, term *error);

/* gen_server_start with OTP's start options, a list: [] is
 * gen_server_start; {hibernate_after, Ms} (Ms an integer >= 0, or the atom
 * infinity, the default) makes the server hibernate when it has waited Ms
 * for a message with no timeout of its own pending (a callback's timeout
 * wins, as on OTP). An option that is not one of these, or opts that are
 * not a proper list, fail the start with {bad_option, Opt} (opts itself
 * when not a list), and nothing is spawned. */
term gen_server_start_opt(term name, const struct gen_server_module *mod, term args,
                          int flags, term opts, term *error);

#define gen_server_start_link(name, mod, args, error) \
    gen_server_start((name), (mod), (args), ERL_LINK, (error))

/* Sends Request and waits for the reply. server: a pid (of this node or
 * another), a registered name, {Name, Node}, or {global, Name} (a global
 * name of the node layer: noproc when nobody holds it). Returns the reply, a term
 * of the caller's own (erl_drop it when done), or NONE with *error (see
 * above) set to noproc, timeout, {nodedown, Node} when Node is another
 * node and this one is not distributed or the connection to it goes
 * during the call (at once, not at the timeout), or the reason the server
 * exited with during the call. A reply from this node that comes after the
 * timeout is dropped, never left in the mailbox (OTP 24's aliases); one
 * from another node lands in the mailbox, as with OTP 23 (see gen_call). */
term gen_server_call(term server, term request, int timeout_ms, term *error);

/* Sends Request without waiting; server as gen_server_call's. Never fails,
 * as gen_server:cast. */
void gen_server_cast(term server, term request);

/* Replies to a call whose handle_call returned GEN_NOREPLY; from is the From
 * the callback was given, {Pid, Tag}. A Tag [alias|Ref] sends {Tag, Reply}
 * through the alias Ref to Pid (erl_send_alias): dropped if the caller gave
 * up. Any other Tag (an old-style ref, an Erlang node's) sends {Tag, Reply}
 * to Pid. */
void gen_server_reply(term from, term reply);

/* Stops the server with reason and waits until it has terminated; server
 * as gen_server_call's. Returns 0, or -1 with *error (see above) set to
 * noproc, timeout or {nodedown, Node}, or to the reason the
 * server exited with if that was not the reason asked for (terminate crashed,
 * or something else killed it first), as proc_lib:stop exits with it. */
int gen_server_stop(term server, term reason, int timeout_ms, term *error);

/* gen:call/4: sends {Label, {self(), Tag}, Request} and waits for {Tag, Reply}.
 * gen_server_call is gen_call with the label '$gen_call'; sys.c uses 'system'.
 * The caller monitors the server, so it also learns when it dies. Tag is
 * [alias|Alias] with Alias a fresh alias of the caller (erl_alias), which
 * goes on every way out: a reply that arrives after a timeout is dropped,
 * as on OTP 24+. A reply that came by the time the call gave up is still
 * returned, as OTP's after-timeout look. Returns and fails as
 * gen_server_call (and with calling_self when server is the caller).
 * A server on another node is called as OTP 23 did: the Tag is the
 * monitor's reference, and the reply an ordinary message to the caller's
 * pid, because a BEAM server replies to [alias|Ref] through the alias and
 * BEAM drops what is sent to an alias of a node that does not announce
 * aliases, as libei's do not (gen_server.c, remote_call). */
term gen_call(term server, term label, term request, int timeout_ms, term *error);

#endif
