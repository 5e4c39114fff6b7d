/*
 * gen_server.c - the generic server behaviour, as OTP's gen_server.
 * See gen_server.h and sys.h for the contracts.
 *
 * Low level to high level:
 *   calling a callback, inside erl_catch;
 *   the server's bookkeeping: where the state lives, log lines, stopping;
 *   the server process: init, then a loop that dispatches each message.
 * The client side (start, call, cast, reply, stop) is in
 * gen_server_client.c, the server's side of sys (system messages, *DBG*
 * lines) in gen_server_sys.c.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen_server_impl.h"
#include "sys.h"


/* ---- Calling a callback -------------------------------------------------- */

/* The handlers (handle_call, handle_cast, handle_info, handle_continue)
 * run inside the one catch of the server's loop (server_loop); init,
 * code_change and terminate, which run outside it or must not end the
 * loop when they crash, each run in a catch of their own, here. */

/* Runs the callback v names; erl_catch's fn. */
static void invoke(void *ctx)
{
    struct invocation *v = ctx;
    const struct gen_server_module *m = v->mod;
    switch (v->fn) {
    case FN_INIT: v->r = m->init(v->a); break;
    case FN_CODE_CHANGE: v->r = m->code_change(v->a, v->b, v->c); break;
    case FN_TERMINATE: m->terminate(v->a, v->b); break;
    }
}

bool server_invoke(struct invocation *v, term *reason)
{
    return erl_catch(invoke, v, reason);
}

/* Notes the message a handler is about to handle, for the report if it
 * crashes (server_loop): the message itself, or for handle_continue the C
 * of {continue, C}. */
static void handling(struct server *s, term msg, bool cont)
{
    s->last = msg;
    s->last_continue = cont;
}

/* ---- The server's state -------------------------------------------------- */

/* Copies t to the bottom of the heap, releasing everything above the
 * state's mark, and returns the copy. t may point anywhere (into the old
 * state, a message, a term_keep copy), so it goes first to a scratch buffer,
 * then back into the heap once the heap is emptied. The scratch copy is
 * freed before anything can block or fail, so a kill cannot leak it. */
static term store_copy(struct server *s, term t)
{
    term small[32];
    size_t n = term_heap_size(t);
    void *buf = n <= sizeof small ? (void *)small : malloc(n);
    if (!buf) {
        fprintf(stderr, "gen_server: out of memory for a %zu-byte state\n", n);
        abort();
    }
    term copy = term_copy_into(t, buf);
    erl_heap_release(s->below);
    term kept = term_keep(copy);
    s->above = erl_heap_mark();
    if (buf != small)
        free(buf);
    return kept;
}

/*
 * Makes st the server's state and cont its pending continue, and releases
 * everything else the process received or kept since the state was last
 * stored. A boxed cont is stored with the state, as {State, Cont}, so that
 * it outlives the message its callback returned it from.
 */
void server_store(struct server *s, term st, term cont)
{
    if (term_is_boxed(cont)) {
        term pair = store_copy(s, TUPLE(st, cont));
        s->state = element(1, pair);
        s->cont = element(2, pair);
        return;
    }
    s->cont = cont;
    if (!term_is_boxed(st)) {           /* an immediate: nothing to keep */
        erl_heap_release(s->below);
        s->state = st;
        s->above = s->below;
        return;
    }
    if (st.type == s->state.type && st.size == s->state.size &&
        st.u.id == s->state.u.id) {
        erl_heap_release(s->above);     /* the same state: nothing to move */
        return;
    }
    s->state = store_copy(s, st);
}

/* Goes on after a callback returned r: its state, continue and timeout. */
static void server_next(struct server *s, const gen_result *r)
{
    server_store(s, r->state, r->cont);
    s->timeout_ms = r->timeout_ms;
    s->hibernate = r->hibernate;
}

/* ---- Log lines ----------------------------------------------------------- */

const char *server_fmt(char *buf, size_t n, term t)
{
    if ((size_t)term_format(buf, n, t) >= n && n > 4)
        strcpy(buf + n - 4, "...");
    return buf;
}

const char *server_label(const struct server *s, char *buf, size_t n)
{
    return server_fmt(buf, n, is_none(s->name) ? s->self : s->name);
}

/* Where reports go; see gen_server_set_report. report_chosen stays false
 * until it is first called: until then reports go to stderr. Atomic because
 * every server, on any scheduler thread, reads them. */
static FILE *_Atomic report_out;
static atomic_bool report_chosen;

void gen_server_set_report(FILE *out)
{
    atomic_store(&report_out, out);
    atomic_store(&report_chosen, true);
}

/* The stream for a report now, or NULL when reports are off. */
static FILE *report_file(void)
{
    return atomic_load(&report_chosen) ? atomic_load(&report_out) : stderr;
}

/* ---- Stopping ------------------------------------------------------------ */

/* True for the reasons OTP does not report: normal, shutdown, {shutdown, _}. */
static bool quiet_reason(term reason)
{
    return is_atom_named(reason, "normal") || is_atom_named(reason, "shutdown") ||
           match(reason, TUPLE(ATOM("shutdown"), ANY));
}

/* OTP 25's gen_server crash report, line for line (its trailing blank after
 * "terminating" included), in one write. OTP's timestamp after "=ERROR
 * REPORT====" and its "** Client Pid stacktrace" lines are left out: the
 * reason has no stack trace here, nor has the client. */
ERL_COLD static void error_report(const struct server *s, term reason, term last, term state)
{
    FILE *out = report_file();
    if (!out)
        return;
    char who[64], m[512], st[512], r[512];
    fprintf(out,
            "=ERROR REPORT====\n** Generic server %s terminating \n"
            "** Last message in was %s\n** When Server state == %s\n"
            "** Reason for termination ==\n** %s\n",
            server_label(s, who, sizeof who), server_fmt(m, sizeof m, last),
            server_fmt(st, sizeof st, state), server_fmt(r, sizeof r, reason));
    fflush(out);    /* in order with what the program prints next */
}

/* Calls terminate(reason, state), if there is one. Returns the reason the
 * server is to exit with: reason, or the crash's when terminate crashed. */
static term run_terminate(struct server *s, term reason, term state)
{
    if (!s->mod->terminate)
        return reason;
    struct invocation v = {.mod = s->mod, .fn = FN_TERMINATE, .a = reason, .b = state, .c = NONE};
    term crash;
    return server_invoke(&v, &crash) ? reason : crash;
}

/*
 * Ends the server as OTP's terminate/8 does: terminate(Reason, State) first,
 * then the reply of a {stop, Reason, Reply, State} (so the caller has it
 * before the 'DOWN'), a report if the reason is abnormal, and the exit.
 * A crash in terminate replaces the reason, as OTP's. from and reply are
 * NONE when there is no reply to send. Inside the loop's catch, the exit
 * ends the loop, which makes it again outside (server_loop).
 */
void server_stop(struct server *s, term reason, term state, term last,
                 term from, term reply)
{
    s->stopping = true;
    term why = run_terminate(s, reason, state);
    if (!is_none(reply))
        gen_server_reply(from, reply);
    if (!quiet_reason(why))
        error_report(s, why, last, state);
    erl_exit_self(why);
}

/* ---- Results ------------------------------------------------------------- */

/* The third element of a result that has one: Timeout or {continue, C}. */
static term result_extra(gen_result r)
{
    if (r.hibernate)
        return ATOM("hibernate");
    if (!is_none(r.cont))
        return term_keep(TUPLE(ATOM("continue"), r.cont));
    return r.timeout_ms < 0 ? NONE : INT(r.timeout_ms);
}

term server_result_term(gen_result r)
{
    static const char *const names[] = {"ok", "ignore", "reply", "noreply", "stop"};
    term tag = (unsigned)r.action < 5 ? atom_from(names[r.action]) : INT(r.action);
    term v[5] = {tag};
    size_t n = 1;
    if (r.action == GEN_STOP)
        v[n++] = r.reason;
    if (!is_none(r.reply))
        v[n++] = r.reply;
    if (!is_none(r.state))
        v[n++] = r.state;
    if (!is_none(result_extra(r)))
        v[n++] = result_extra(r);
    return term_keep(term_tuple(v, n));
}

/* Stops the server with {bad_return_value, R}. */
static _Noreturn void bad_return(struct server *s, gen_result r, term last)
{
    term reason = term_keep(TUPLE(ATOM("bad_return_value"), server_result_term(r)));
    server_stop(s, reason, s->state, last, NONE, NONE);
}

/* Stops the server the way a call to a missing callback would:
 * {undef, [{Module, Function, Args, []}]}. */
static _Noreturn void undef(struct server *s, const char *fn, term args, term last)
{
    term mfa = TUPLE(atom_from(s->mod->name), atom_from(fn), args, NIL);
    term reason = term_keep(TUPLE(ATOM("undef"), LIST(mfa)));
    server_stop(s, reason, s->state, last, NONE, NONE);
}

/* True when r is a well-formed result of callback cb, which may return the
 * actions in the mask (1 << GEN_...). Only handle_call may stop with a
 * reply; only init stops without a state ({stop, Reason}); a timeout, a
 * continue or hibernate (one at most: OTP's results have one place for
 * them) only goes with a result that runs on. */
bool server_result_ok(const gen_result *r, unsigned mask, enum callback cb)
{
    if ((unsigned)r->action > GEN_STOP || !(mask & (1u << r->action)))
        return false;
    /* Speed-up (cast path): {noreply, S}, the result of most messages, is
     * told at once; the general rules below agree. 19 instructions fewer
     * a cast (callgrind); see match_at in term.c for the cast path's
     * speed-ups together. */
    if (r->action == GEN_NOREPLY && r->timeout_ms < 0 && !r->hibernate &&
        r->state.type != TERM_NONE && r->reply.type == TERM_NONE && r->cont.type == TERM_NONE)
        return true;
    bool stateless = r->action == GEN_IGNORE || (cb == CB_INIT && r->action == GEN_STOP);
    if (!stateless && is_none(r->state))
        return false;
    bool reply_ok = r->action == GEN_REPLY || (cb == CB_CALL && r->action == GEN_STOP);
    if (r->action == GEN_REPLY ? is_none(r->reply) : !reply_ok && !is_none(r->reply))
        return false;
    bool goes_on = r->action == GEN_OK || r->action == GEN_REPLY || r->action == GEN_NOREPLY;
    int extras = (r->timeout_ms >= 0) + !is_none(r->cont) + r->hibernate;
    if (extras > (goes_on ? 1 : 0))
        return false;
    return r->action != GEN_STOP || !is_none(r->reason);
}

/* ---- Handling messages --------------------------------------------------- */

#define NOREPLY_OR_STOP ((1u << GEN_NOREPLY) | (1u << GEN_STOP))

/* {'$gen_call', From, Request}. The report's last message is the request,
 * as OTP 25's. */
static void handle_call(struct server *s, term req, term from)
{
    if (watched(s))
        server_dbg_in(s, "call", req, from);
    if (!s->mod->handle_call)
        undef(s, "handle_call", LIST(req, from, s->state), req);
    handling(s, req, false);
    gen_result result = s->mod->handle_call(req, from, s->state);
    const gen_result *r = &result;
    if (!server_result_ok(r, NOREPLY_OR_STOP | (1u << GEN_REPLY), CB_CALL))
        bad_return(s, *r, req);
    if (r->action == GEN_STOP)
        server_stop(s, r->reason, r->state, req, from, r->reply);
    if (r->action == GEN_REPLY) {
        gen_server_reply(from, r->reply);
        if (watched(s))
            server_dbg_out(s, r->reply, from, r->state); /* before store frees it */
        server_next(s, r);
        return;
    }
    server_next(s, r);
    if (watched(s))
        server_dbg_state(s);
}

/* OTP's warning for a message no handle_info is there to take. */
ERL_COLD static void warn_unhandled(const struct server *s, term req)
{
    FILE *out = report_file();
    if (!out)
        return;
    char who[64], m[512];
    fprintf(out, "=WARNING REPORT====\n** Undefined handle_info in %s\n"
            "** Unhandled message: %s\n",
            server_label(s, who, sizeof who), server_fmt(m, sizeof m, req));
}

/* Acts on the result of handle_cast, handle_info or handle_continue. */
static void handle_noreply(struct server *s, const gen_result *r, term last)
{
    if (!server_result_ok(r, NOREPLY_OR_STOP, CB_OTHER))
        bad_return(s, *r, last);
    if (r->action == GEN_STOP)
        server_stop(s, r->reason, r->state, last, NONE, NONE);
    server_next(s, r);
    if (watched(s))
        server_dbg_state(s);
}

/* handle_cast(Request, State), or handle_info when cast is false. Its own
 * function, so that its result is built in place in the caller's variable
 * (a return straight from either call passes the caller's slot on). */
static gen_result async_callback(const struct gen_server_module *m, bool cast, term req,
                                 term state)
{
    if (cast)
        return m->handle_cast(req, state);
    return m->handle_info(req, state);
}

/* {'$gen_cast', Request}, or any other message when cast is false (the
 * loop's timeout among them, as the atom timeout). */
static void handle_async(struct server *s, term msg, term req, bool cast)
{
    if (watched(s))
        server_dbg_in(s, cast ? "cast" : NULL, req, NONE);
    const struct gen_server_module *m = s->mod;
    if (cast && !m->handle_cast)
        undef(s, "handle_cast", LIST(req, s->state), msg);
    if (!cast && !m->handle_info) {
        warn_unhandled(s, req);
        s->timeout_ms = ERL_INFINITY;   /* OTP's default: {noreply, State} */
        return;
    }
    handling(s, msg, false);
    gen_result r = async_callback(m, cast, req, s->state);
    handle_noreply(s, &r, msg);
}

/* A {continue, C} result: handle_continue(C, State) before any message. The
 * report's last message is {continue, C}, as OTP's. */
static void handle_continue(struct server *s)
{
    term c = s->cont;
    s->cont = NONE;
    term last = TUPLE(ATOM("continue"), c);
    if (!s->mod->handle_continue)
        undef(s, "handle_continue", LIST(c, s->state), last);
    handling(s, c, true);
    gen_result r = s->mod->handle_continue(c, s->state);
    handle_noreply(s, &r, last);
}

/* True when from is {Pid, Tag}, the only From a reply can go to. */
static bool is_from(term from)
{
    return is_tuple(from) && from.size == 2 && is_pid(element(1, from));
}

/* True when msg is a tuple of n elements whose first is the atom tag: the
 * shape of {'$gen_call', From, Request} (n = 3) or {'$gen_cast', Request}.
 * Speed-up: looked at directly, not matched against a pattern, for the two
 * messages a server takes most: a cast's matching took 272 instructions,
 * 134 now (callgrind); cast_per_s 8.8 -> 9.5 M/s (means of 6 runs back to
 * back); a gen_server call 6520 -> 6370 instructions. */
static bool tagged(term msg, const char *tag, uint32_t n)
{
    return is_tuple(msg) && msg.size == n && is_atom_named(msg.u.elements[0], tag);
}

/* Hands one message to the handler its shape asks for. */
static void dispatch(struct server *s, term msg)
{
    term from, req, reason;
    if (tagged(msg, "$gen_call", 3) && is_from(msg.u.elements[1]))
        handle_call(s, msg.u.elements[2], msg.u.elements[1]);
    else if (tagged(msg, "$gen_cast", 2))
        handle_async(s, msg, msg.u.elements[1], true);
    else if (match(msg, TUPLE(ATOM("system"), VAR(&from), VAR(&req))) && is_from(from))
        server_system(s, msg, from, req);
    else if (match(msg, TUPLE(ATOM("EXIT"), s->parent, VAR(&reason))))
        server_stop(s, reason, s->state, msg, NONE, NONE);  /* we trap exits */
    else
        handle_async(s, msg, msg, false);
}

/* ---- The server process -------------------------------------------------- */

/* The next message to handle: any, or while suspended only a system message
 * or the parent's exit (which beats it, see receive_either). With no message
 * within the last result's timeout, the atom timeout, as OTP's loop. The
 * timeout is waited for whole again after a system message (as OTP's
 * sys:handle_system_msg resumes the loop with the same Time); while
 * suspended there is none. */
static _Noreturn void server_hibernate(struct server *s);
static term server_await(struct server *s);

static term next_message(struct server *s)
{
    if (!s->suspended && s->timeout_ms < 0 && s->hibernate_after < 0) {
        return server_await(s);
    }
    if (!s->suspended && s->timeout_ms < 0) {
        term m = erl_receive(ANY, s->hibernate_after);
        if (is_none(m))             /* idle for hibernate_after: as OTP's loop */
            server_hibernate(s);
        return m;
    }
    if (!s->suspended) {
        term m = erl_receive(ANY, s->timeout_ms);
        return is_none(m) ? ATOM("timeout") : m;
    }
    int which;
    return receive_either(TUPLE(ATOM("EXIT"), s->parent, ANY),
                          TUPLE(ATOM("system"), ANY, ANY), ERL_INFINITY, &which);
}

/* Handles messages until a callback stops the server; a pending continue
 * first, a pending hibernate before the next message. erl_catch's fn: it
 * never returns. */
static void serve(void *ctx)
{
    struct server *s = ctx;
    for (;;) {
        if (s->hibernate)
            server_hibernate(s);
        if (!is_none(s->cont))
            handle_continue(s);
        else
            dispatch(s, next_message(s));
        erl_heap_release(s->above);     /* the message and what it left behind */
    }
}

/* The loop, inside one erl_catch, as OTP's try_dispatch around each
 * handler: a handler that crashes ends the loop, and the server stops with
 * the crash's reason, the state the handler was given (still s->state: a
 * result is stored only once its handler has returned) and the message it
 * was handling. server_stop, when a result stops the server from inside
 * the loop, marks it stopping first: its exit ends the loop as a crash
 * would, and is made again here, outside the catch.
 * Speed-up: one catch for the loop, not one per callback: no setjmp per
 * message, and each handler's result is built in place in the variable
 * that reads it (through an invocation, it was copied, 16 bytes a load
 * from the handler's narrower stores, and every such load waited for those
 * stores to reach the cache). A cast took 1153 instructions, 1057 now
 * (callgrind); cast_per_s 15.0 -> 17.2 M/s (medians of 15 runs
 * interleaved). */
static _Noreturn void server_loop(struct server *s)
{
    term reason;
    erl_catch(serve, s, &reason);       /* returns only when the loop ended */
    if (s->stopping)
        erl_exit_self(reason);
    term last = s->last_continue ? TUPLE(ATOM("continue"), s->last) : s->last;
    server_stop(s, reason, s->state, last, NONE, NONE);
}

/* Where a server that gave its stack up starts again, at its next
 * message: arg is s's address (in its heap), and the loop goes on, on a
 * new stack, with nothing handled yet. */
static _Noreturn void server_wake(term arg)
{
    struct server *s = (struct server *)(intptr_t)arg.u.integer;
    s->last = NONE;
    s->last_continue = false;
    server_loop(s);
}

/* Hibernates the server (erlang:hibernate(gen_server, wake_hib, ...)): its
 * stack goes back to the system. Nothing of the server is on it: s, the
 * state, a pending continue and the marks live in the heap, the rest are
 * immediates and the module table. */
static _Noreturn void server_hibernate(struct server *s)
{
    s->hibernate = false;
    erl_hibernate(server_wake, INT((intptr_t)s));
}

/* Takes the next message, the stack free to be taken while it waits
 * (erl_await): a server idle while many others waited after it costs its
 * slot and heap only, where OTP's loop waits in receive, its stack a few
 * words of its heap. If the stack was taken, the loop goes on at
 * server_wake, for the same reason it can after hibernation. idle_bytes
 * 4820 -> 1012 B, against 1282 for an idle CAF actor (803 B with the
 * smaller heap of gen_server_impl.h and signals.c). */
static term server_await(struct server *s)
{
    return erl_await(server_wake, INT((intptr_t)s));
}

/* s, built on the stack, copied into the heap, where the server keeps it
 * for its life: below every mark, so no release takes it, and off the
 * stack, so that the server may give the stack up between messages. */
static struct server *server_home(const struct server *s)
{
    term home = term_keep(term_binary(s, sizeof *s));
    return (struct server *)home.u.bytes;
}

/* Tells the starter how init went: ok, ignore or {error, Reason}. */
static void ack(const struct server *s, term result)
{
    erl_send(s->starter, TUPLE(ATOM("$gen_ack"), s->self, result));
}

/* Registers the server's name. Returns false (and has told the starter
 * {already_started, Pid}) when the name is taken. It unlinks first, so that
 * its normal exit leaves no {'EXIT', Pid, normal} in a trapping starter's
 * mailbox: the start failed, there is nothing to hear about. */
static bool register_name(struct server *s)
{
    if (is_none(s->name) || erl_register(s->name, s->self) == 0)
        return true;
    erl_unlink(s->starter);
    ack(s, TUPLE(ATOM("error"),
                 TUPLE(ATOM("already_started"), erl_whereis(s->name))));
    return false;
}

/* A start that did not work: the name goes, the starter hears why. */
static void init_failed(struct server *s, term result)
{
    if (!is_none(s->name))
        erl_unregister(s->name);
    ack(s, result);
}

/* Runs init(args); a crash in it fails the start with {error, Reason} and
 * ends the server with Reason (no terminate: there is no state yet). */
static gen_result run_init(struct server *s, term args)
{
    if (!s->mod->init) {
        term mfa = TUPLE(atom_from(s->mod->name), ATOM("init"), LIST(args), NIL);
        term reason = TUPLE(ATOM("undef"), LIST(mfa));
        init_failed(s, TUPLE(ATOM("error"), reason));
        erl_exit_self(reason);
    }
    struct invocation v = {.mod = s->mod, .fn = FN_INIT, .a = args, .b = NONE, .c = NONE};
    term reason;
    if (server_invoke(&v, &reason))
        return v.r;
    init_failed(s, TUPLE(ATOM("error"), reason));
    erl_exit_self(reason);
}

/* Acts on init's result; returns only when the server is to run. */
static void init_done(struct server *s, gen_result r)
{
    if (!server_result_ok(&r, (1u << GEN_OK) | (1u << GEN_IGNORE) | (1u << GEN_STOP),
                          CB_INIT)) {
        term reason = TUPLE(ATOM("bad_return_value"), server_result_term(r));
        init_failed(s, TUPLE(ATOM("error"), reason));
        erl_exit_self(reason);
    }
    if (r.action == GEN_IGNORE) {
        init_failed(s, ATOM("ignore"));
        erl_exit_self(ATOM("normal"));
    }
    if (r.action == GEN_STOP) {
        init_failed(s, TUPLE(ATOM("error"), r.reason));
        erl_exit_self(r.reason);
    }
    server_next(s, &r);
    ack(s, ATOM("ok"));
}

/* The server process: {Module, Name, Args, Starter, Linked, HibernateAfter}
 * -> init, then
 * the loop. A server started without a link is its own parent, as OTP's
 * gen:do_spawn makes it: its starter's exit is then just a message. */
void server_main(term arg)
{
    erl_quiet(true);                    /* it prints its own reports */
    struct server built = {
        .mod = (const struct gen_server_module *)(intptr_t)element(1, arg).u.integer,
        .self = erl_self(),
        .name = is_atom_named(element(2, arg), "undefined") ? NONE : element(2, arg),
        .starter = element(4, arg),
        .parent = is_atom_named(element(5, arg), "true") ? element(4, arg) : erl_self(),
        .state = NONE,
        .cont = NONE,
        .last = NONE,
        .timeout_ms = ERL_INFINITY,
        .hibernate_after = is_int(element(6, arg)) ? (int)element(6, arg).u.integer
                                                   : ERL_INFINITY,
    };
    /* s holds the rest: keep only Args (for init), not the whole tuple for
     * the server's life. An immediate, like the counter's 0, keeps nothing. */
    term args = term_keep(element(3, arg));
    erl_drop(arg);
    struct server *s = server_home(&built);
    if (!register_name(s))
        return;                         /* exit normal, as OTP */
    s->below = s->above = erl_heap_mark();
    init_done(s, run_init(s, args));
    server_loop(s);
}
