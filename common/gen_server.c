/*
 * gen_server.c - the generic server behaviour, as OTP's gen_server.
 * See gen_server.h and sys.h for the contracts.
 *
 * Low level to high level:
 *   waiting for one of two messages;
 *   the client side: start, call, cast, reply, stop;
 *   the server's bookkeeping: where the state lives, sys debugging;
 *   the server process: init, then a loop that dispatches each message.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gen_server.h"
#include "sys.h"


/* ---- Waiting for one of two messages ------------------------------------ */

/* Takes the first message that matches a or b, in mailbox order, as
 * Erlang's receive with two clauses. Sets *which to 0 (a) or 1 (b).
 * Returns NONE on timeout. */
static term receive_either(term a, term b, int timeout_ms, int *which)
{
    size_t i = 0;
    term m = erl_receive_any((term[]){a, b}, 2, timeout_ms, &i);
    *which = (int)i;
    return m;
}

/* ---- The client side ----------------------------------------------------- */

/* Stores why in *error when error is not NULL; returns NONE. */
static term fail(term *error, term why)
{
    if (error)
        *error = why;
    return NONE;
}

/* Stores a copy of why, the caller's own, in *error when error is not
 * NULL (see gen_server.h); returns NONE. */
static term fail_kept(term *error, term why)
{
    return fail(error, error ? term_keep(why) : why);
}

/* Hands part of message m to the caller as *error, a term of its own, and
 * drops m: a failed call leaves nothing behind. */
static void fail_from(term *error, term part, term m)
{
    fail_kept(error, part);
    erl_drop(m);
}

/* The pid behind a pid, a registered name or {Name, Node}, or NONE with
 * errno set (see erl_resolve). */
static term resolve(term server)
{
    return erl_resolve(server);
}

/* Fails a call to server, which resolve found nobody behind: with
 * {nodedown, Node} for {Name, Node} of another node, as OTP's gen:call when
 * the node cannot be reached; noproc otherwise. Reads errno. Returns NONE. */
static term fail_unreachable(term *error, term server)
{
    if (errno == ENOTCONN)
        return fail_kept(error, TUPLE(ATOM("nodedown"), element(2, server)));
    return fail(error, ATOM("noproc"));
}

/* The Tag of a call from this runtime: [alias|Alias], as OTP 24's. */
#define ALIAS_TAG(alias) term_list((term[]){ATOM("alias"), (alias)}, 1)

static void server_main(term arg);

term gen_server_start(term name, const struct gen_server_module *mod, term args,
                      int flags, term *error)
{
    if (!is_none(name) && !is_atom(name))
        return fail(error, ATOM("badarg"));
    /* The module table is code, not data: its address means the same thing
     * in every process, so it travels as an integer. */
    term arg = TUPLE(INT((intptr_t)mod), is_none(name) ? ATOM("undefined") : name,
                     args, erl_self());
    term ref;
    term pid = erl_spawn_opt(mod->name, server_main, arg,
                             (flags & ERL_LINK) | ERL_MONITOR, &ref);
    if (is_none(pid))
        return fail(error, ATOM("system_limit"));

    /* init runs in the new process; wait for its answer, or its death. */
    term result, reason;
    int which;
    term m = receive_either(TUPLE(ATOM("$gen_ack"), pid, VAR(&result)),
                            TUPLE(ATOM("DOWN"), ref, ANY, ANY, VAR(&reason)),
                            ERL_INFINITY, &which);
    erl_demonitor(ref, true);
    if (which == 1)
        return fail(error, reason);
    if (is_atom_named(result, "ok")) {
        erl_drop(m);
        return pid;
    }
    if (is_atom_named(result, "ignore"))
        return fail(error, result);
    return fail(error, element(2, result));     /* {error, Reason} */
}

/* Waits for the reply {Tag, Reply} or the 'DOWN' of mon, as gen:do_call:
 * after the timeout it looks once more for a reply that came meanwhile.
 * Returns the message, NONE on timeout; *which: 0 reply, 1 'DOWN'. */
static term await_reply(term tag, term mon, int timeout_ms, term *reply,
                        term *reason, int *which)
{
    term m = receive_either(TUPLE(tag, VAR(reply)),
                            TUPLE(ATOM("DOWN"), mon, ANY, ANY, VAR(reason)),
                            timeout_ms, which);
    if (is_none(m)) {
        *which = 0;
        m = erl_receive(TUPLE(tag, VAR(reply)), 0);
    }
    return m;
}

/*
 * OTP 24's gen:call: the request carries the tag [alias|Alias], the reply
 * comes back through the alias, and the alias goes on every way out, so a
 * reply that comes after the call gave up is dropped, never queued. The
 * 'DOWN' or reply message goes too: only what the caller is handed stays.
 */
term gen_call(term server, term label, term request, int timeout_ms, term *error)
{
    term pid = resolve(server);
    if (is_none(pid))
        return fail_unreachable(error, server);
    term self = erl_self();
    if (term_eq(pid, self))
        return fail(error, ATOM("calling_self"));

    term mon = erl_monitor(pid);
    term alias = erl_alias();
    term tag = ALIAS_TAG(alias);
    erl_send(pid, TUPLE(label, TUPLE(self, tag), request));
    term reply, reason;
    int which;
    term m = await_reply(tag, mon, timeout_ms, &reply, &reason, &which);
    erl_unalias(alias);     /* from here on, a late reply is dropped */
    if (!is_none(m) && which == 1) {
        fail_from(error, reason, m);    /* noproc if it was gone already */
        return NONE;
    }
    erl_demonitor(mon, true);
    if (is_none(m))
        return fail(error, ATOM("timeout"));
    term kept = term_keep(reply);   /* a term of its own, for erl_drop */
    erl_drop(m);
    return kept;
}

term gen_server_call(term server, term request, int timeout_ms, term *error)
{
    return gen_call(server, ATOM("$gen_call"), request, timeout_ms, error);
}

void gen_server_cast(term server, term request)
{
    erl_send(server, TUPLE(ATOM("$gen_cast"), request));  /* may fail: fine */
}

void gen_server_reply(term from, term reply)
{
    term pid = element(1, from), tag = element(2, from), alias;
    if (match(tag, ALIAS_TAG(VAR(&alias))) && is_ref(alias))
        erl_send_alias(pid, alias, TUPLE(tag, reply));
    else
        erl_send(pid, TUPLE(tag, reply));   /* an old-style or a node's tag */
}

int gen_server_stop(term server, term reason, int timeout_ms, term *error)
{
    term pid = resolve(server);
    if (is_none(pid)) {
        fail_unreachable(error, server);
        return -1;
    }
    term ref = erl_monitor(pid);
    erl_send(pid, TUPLE(ATOM("system"), TUPLE(erl_self(), ref),
                        TUPLE(ATOM("terminate"), reason)));
    term why;
    term m = erl_receive(TUPLE(ATOM("DOWN"), ref, ANY, ANY, VAR(&why)), timeout_ms);
    if (is_none(m)) {
        erl_demonitor(ref, true);
        fail(error, ATOM("timeout"));
        return -1;
    }
    if (term_eq(why, reason)) {
        erl_drop(m);
        return 0;
    }
    fail_from(error, why, m);   /* noproc, or another reason it died with */
    return -1;
}

/* ---- The server's bookkeeping -------------------------------------------- */

/* What sys_trace and sys_statistics switch on. */
struct debug {
    bool trace;             /* print *DBG* lines to stdout */
    bool stats;             /* count messages */
    time_t start;           /* stats: when counting started (wall clock) */
    int64_t in;             /* stats: calls, casts and infos handled */
    int64_t out;            /* stats: replies the loop sent */
};

/* A running server. Only the server's own process touches it: it lives on
 * that process's stack. */
struct server {
    const struct gen_server_module *mod;    /* the callbacks */
    term self;              /* this process */
    term name;              /* registered name, or NONE */
    term parent;            /* who started it: its exit stops the server */
    term state;             /* the callback state, kept at the heap's bottom */
    erl_heap_mark_t below;  /* heap end before the state's copy */
    erl_heap_mark_t above;  /* heap end after it: a message's garbage starts here */
    bool suspended;         /* sys_suspend: only system messages are handled */
    struct debug dbg;       /* sys debugging */
};

/*
 * Makes st the server's state and releases everything else the process
 * received or kept since the state was last stored. st may point anywhere
 * (into the old state, a message, a term_keep copy), so it goes first to a
 * scratch buffer, then back into the heap once the heap is emptied.
 * The scratch copy is freed before anything can block or fail, so a kill
 * cannot leak it.
 */
static void server_store(struct server *s, term st)
{
    if (!term_is_boxed(st)) {           /* an immediate: nothing to keep */
        erl_heap_release(s->below);
        s->state = st;
        s->above = s->below;
        return;
    }
    if (st.type == s->state.type && st.size == s->state.size &&
        st.u.id == s->state.u.id && term_is_boxed(st)) {
        erl_heap_release(s->above);     /* the same state: nothing to move */
        return;
    }
    term small[32];
    size_t n = term_heap_size(st);
    void *buf = n <= sizeof small ? (void *)small : malloc(n);
    if (!buf) {
        fprintf(stderr, "gen_server: out of memory for a %zu-byte state\n", n);
        abort();
    }
    term copy = term_copy_into(st, buf);
    erl_heap_release(s->below);
    s->state = term_keep(copy);
    s->above = erl_heap_mark();
    if (buf != small)
        free(buf);
}

/* Formats t for a log line, shortened with "..." past n - 1 bytes. */
static const char *fmt(char *buf, size_t n, term t)
{
    if ((size_t)term_format(buf, n, t) >= n && n > 4)
        strcpy(buf + n - 4, "...");
    return buf;
}

/* The server's name in log lines: its registered name, or its pid. */
static const char *label(const struct server *s, char *buf, size_t n)
{
    return fmt(buf, n, is_none(s->name) ? s->self : s->name);
}

/* Prints one *DBG* line when tracing: fmt_ is printf's, with the label first. */
__attribute__((format(printf, 2, 3)))
ERL_COLD static void dbg_print(const struct server *s, const char *fmt_, ...)
{
    if (!s->dbg.trace)
        return;
    char who[64], line[1024];
    va_list ap;
    va_start(ap, fmt_);
    vsnprintf(line, sizeof line, fmt_, ap);
    va_end(ap);
    printf("*DBG* %s %s\n", label(s, who, sizeof who), line);   /* one call */
}

/* A message came in: trace it and count it. kind is "call", "cast" or NULL. */
/* True when sys debugging is on: only then are the dbg_ functions called,
 * so a server that is not watched pays one test per message. */
static inline bool watched(const struct server *s)
{
    return s->dbg.trace || s->dbg.stats;
}

ERL_COLD static void dbg_in(struct server *s, const char *kind, term msg, term from)
{
    if (s->dbg.stats)
        s->dbg.in++;
    if (!s->dbg.trace)
        return;
    char m[512], f[64];
    if (!kind)
        dbg_print(s, "got %s", fmt(m, sizeof m, msg));
    else if (is_none(from))
        dbg_print(s, "got %s %s", kind, fmt(m, sizeof m, msg));
    else
        dbg_print(s, "got %s %s from %s", kind, fmt(m, sizeof m, msg),
                  fmt(f, sizeof f, element(1, from)));
}

/* A callback kept the server going with a new state. */
ERL_COLD static void dbg_state(const struct server *s)
{
    char st[512];
    if (s->dbg.trace)
        dbg_print(s, "new state %s", fmt(st, sizeof st, s->state));
}

/* The loop sent a reply and goes on with state. */
ERL_COLD static void dbg_out(struct server *s, term reply, term from, term state)
{
    if (s->dbg.stats)
        s->dbg.out++;
    char r[512], f[64], st[512];
    if (s->dbg.trace)
        dbg_print(s, "sent %s to %s, new state %s", fmt(r, sizeof r, reply),
                  fmt(f, sizeof f, element(1, from)), fmt(st, sizeof st, state));
}

/* ---- Stopping ------------------------------------------------------------ */

/* True for the reasons OTP does not report: normal, shutdown, {shutdown, _}. */
static bool quiet_reason(term reason)
{
    return is_atom_named(reason, "normal") || is_atom_named(reason, "shutdown") ||
           match(reason, TUPLE(ATOM("shutdown"), ANY));
}

/* OTP's crash report, to stderr, in one write. */
ERL_COLD static void error_report(const struct server *s, term reason, term last, term state)
{
    char who[64], m[512], st[512], r[512];
    fprintf(stderr,
            "=ERROR REPORT====\n** Generic server %s terminating\n"
            "** Last message in was %s\n** When Server state == %s\n"
            "** Reason for termination ==\n** %s\n",
            label(s, who, sizeof who), fmt(m, sizeof m, last),
            fmt(st, sizeof st, state), fmt(r, sizeof r, reason));
}

/*
 * Ends the server as OTP's terminate/8 does: terminate(Reason, State) first,
 * then the reply of a {stop, Reason, Reply, State} (so the caller has it
 * before the 'DOWN'), a report if the reason is abnormal, and the exit.
 * from and reply are NONE when there is no reply to send.
 */
static _Noreturn void server_stop(struct server *s, term reason, term state,
                                  term last, term from, term reply)
{
    if (s->mod->terminate)
        s->mod->terminate(reason, state);
    if (!is_none(reply))
        gen_server_reply(from, reply);
    if (!quiet_reason(reason))
        error_report(s, reason, last, state);
    erl_exit_self(reason);
}

/* OTP's view of what a callback returned, for {bad_return_value, R}. */
static term result_term(gen_result r)
{
    static const char *const names[] = {"ok", "ignore", "reply", "noreply", "stop"};
    term tag = (unsigned)r.action < 5 ? atom_from(names[r.action]) : INT(r.action);
    term v[4] = {tag};
    size_t n = 1;
    if (r.action == GEN_STOP)
        v[n++] = r.reason;
    if (!is_none(r.reply))
        v[n++] = r.reply;
    if (!is_none(r.state))
        v[n++] = r.state;
    return term_keep(term_tuple(v, n));
}

/* Stops the server with {bad_return_value, R}. */
static _Noreturn void bad_return(struct server *s, gen_result r, term last)
{
    term reason = term_keep(TUPLE(ATOM("bad_return_value"), result_term(r)));
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

/* Which callback returned a result: they allow different shapes. */
enum callback { CB_INIT, CB_CALL, CB_OTHER };

/* True when r is a well-formed result of callback cb, which may return the
 * actions in the mask (1 << GEN_...). Only handle_call may stop with a
 * reply; only init stops without a state ({stop, Reason}). */
static bool result_ok(gen_result r, unsigned mask, enum callback cb)
{
    if ((unsigned)r.action > GEN_STOP || !(mask & (1u << r.action)))
        return false;
    bool stateless = r.action == GEN_IGNORE || (cb == CB_INIT && r.action == GEN_STOP);
    if (!stateless && is_none(r.state))
        return false;
    bool reply_ok = r.action == GEN_REPLY || (cb == CB_CALL && r.action == GEN_STOP);
    if (r.action == GEN_REPLY ? is_none(r.reply) : !reply_ok && !is_none(r.reply))
        return false;
    return r.action != GEN_STOP || !is_none(r.reason);
}

/* ---- Handling messages --------------------------------------------------- */

#define NOREPLY_OR_STOP ((1u << GEN_NOREPLY) | (1u << GEN_STOP))

/* {'$gen_call', From, Request}. */
static void handle_call(struct server *s, term msg, term req, term from)
{
    if (watched(s))
        dbg_in(s, "call", req, from);
    if (!s->mod->handle_call)
        undef(s, "handle_call", LIST(req, from, s->state), msg);
    gen_result r = s->mod->handle_call(req, from, s->state);
    if (!result_ok(r, NOREPLY_OR_STOP | (1u << GEN_REPLY), CB_CALL))
        bad_return(s, r, msg);
    if (r.action == GEN_STOP)
        server_stop(s, r.reason, r.state, msg, from, r.reply);
    if (r.action == GEN_REPLY) {
        gen_server_reply(from, r.reply);
        if (watched(s))
            dbg_out(s, r.reply, from, r.state); /* before store frees the reply */
        server_store(s, r.state);
        return;
    }
    server_store(s, r.state);
    if (watched(s))
        dbg_state(s);
}

/* OTP's warning for a message no handle_info is there to take. */
ERL_COLD static void warn_unhandled(const struct server *s, term req)
{
    char who[64], m[512];
    fprintf(stderr, "=WARNING REPORT====\n** Undefined handle_info in %s\n"
            "** Unhandled message: %s\n",
            label(s, who, sizeof who), fmt(m, sizeof m, req));
}

/* {'$gen_cast', Request}, or any other message when cast is false. */
static void handle_async(struct server *s, term msg, term req, bool cast)
{
    if (watched(s))
        dbg_in(s, cast ? "cast" : NULL, req, NONE);
    gen_result (*fn)(term, term) = cast ? s->mod->handle_cast : s->mod->handle_info;
    if (!fn && cast)
        undef(s, "handle_cast", LIST(req, s->state), msg);
    if (!fn) {
        warn_unhandled(s, req);
        return;
    }
    gen_result r = fn(req, s->state);
    if (!result_ok(r, NOREPLY_OR_STOP, CB_OTHER))
        bad_return(s, r, msg);
    if (r.action == GEN_STOP)
        server_stop(s, r.reason, r.state, msg, NONE, NONE);
    server_store(s, r.state);
    if (watched(s))
        dbg_state(s);
}

/* Answers statistics get: {ok, [{start_time, {{Y,M,D},{H,Mi,S}}}, ...]}. */
ERL_COLD static void send_stats(const struct server *s, term from)
{
    struct tm st, now;
    time_t t = time(NULL);
    localtime_r(&s->dbg.start, &st);
    localtime_r(&t, &now);
#define DATETIME(x) TUPLE(TUPLE(INT(x.tm_year + 1900), INT(x.tm_mon + 1), \
                                INT(x.tm_mday)), \
                          TUPLE(INT(x.tm_hour), INT(x.tm_min), INT(x.tm_sec)))
    gen_server_reply(from, TUPLE(ATOM("ok"),
        LIST(TUPLE(ATOM("start_time"), DATETIME(st)),
             TUPLE(ATOM("current_time"), DATETIME(now)),
             TUPLE(ATOM("messages_in"), INT(s->dbg.in)),
             TUPLE(ATOM("messages_out"), INT(s->dbg.out)))));
#undef DATETIME
}

/* {debug, {statistics, Flag}}: true | false | get. */
ERL_COLD static void sys_stats(struct server *s, term from, term flag)
{
    if (is_atom_named(flag, "get")) {
        if (s->dbg.stats)
            send_stats(s, from);
        else
            gen_server_reply(from, ATOM("no_statistics"));
        return;
    }
    s->dbg.stats = is_atom_named(flag, "true");
    s->dbg.start = time(NULL);
    s->dbg.in = s->dbg.out = 0;
    gen_server_reply(from, ATOM("ok"));
}

/* get_status: OTP's shape, with binaries for its strings. */
ERL_COLD static void sys_status(struct server *s, term from)
{
    char who[64], header[128];
    snprintf(header, sizeof header, "Status for generic server %s",
             label(s, who, sizeof who));
    term status = s->suspended ? ATOM("suspended") : ATOM("running");
    gen_server_reply(from, TUPLE(ATOM("status"), s->self,
        TUPLE(ATOM("module"), ATOM("gen_server")),
        LIST(NIL, status, s->parent, NIL,
             LIST(TUPLE(ATOM("header"), term_binary(header, strlen(header))),
                  TUPLE(ATOM("data"),
                        LIST(TUPLE(STR("Status"), status),
                             TUPLE(STR("Parent"), s->parent))),
                  TUPLE(ATOM("data"), LIST(TUPLE(STR("State"), s->state)))))));
}

/* {change_code, Module, OldVsn, Extra}: Module is a table's address or 0. */
ERL_COLD static void sys_code_change(struct server *s, term from, term req)
{
    const struct gen_server_module *mod =
        (const struct gen_server_module *)(intptr_t)element(2, req).u.integer;
    if (!mod)
        mod = s->mod;
    if (!mod->code_change) {
        s->mod = mod;
        gen_server_reply(from, ATOM("ok"));
        return;
    }
    gen_result r = mod->code_change(element(3, req), s->state, element(4, req));
    if (!result_ok(r, 1u << GEN_OK, CB_OTHER)) {
        term why = r.action == GEN_STOP && !is_none(r.reason) ? r.reason
                   : TUPLE(ATOM("bad_return_value"), result_term(r));
        gen_server_reply(from, TUPLE(ATOM("error"), why));
        return;
    }
    s->mod = mod;
    gen_server_reply(from, ATOM("ok"));   /* before store frees the message */
    server_store(s, r.state);
}

/* {system, From, Request}: the sys module's requests, answered {Tag, Reply}. */
ERL_COLD static void handle_system(struct server *s, term msg, term from, term req)
{
    term fn, arg, flag, reason;
    if (is_atom_named(req, "get_state")) {
        gen_server_reply(from, s->state);
    } else if (match(req, TUPLE(ATOM("replace_state"), VAR(&fn), VAR(&arg)))) {
        sys_state_fn f = (sys_state_fn)(intptr_t)fn.u.integer;
        term next = f(s->state, arg);
        gen_server_reply(from, next);   /* before store frees the message */
        server_store(s, next);
    } else if (is_atom_named(req, "suspend") || is_atom_named(req, "resume")) {
        s->suspended = is_atom_named(req, "suspend");
        gen_server_reply(from, ATOM("ok"));
    } else if (match(req, TUPLE(ATOM("debug"), TUPLE(ATOM("trace"), VAR(&flag))))) {
        s->dbg.trace = is_atom_named(flag, "true");
        gen_server_reply(from, ATOM("ok"));
    } else if (match(req, TUPLE(ATOM("debug"),
                                TUPLE(ATOM("statistics"), VAR(&flag))))) {
        sys_stats(s, from, flag);
    } else if (is_atom_named(req, "get_status")) {
        sys_status(s, from);
    } else if (match(req, TUPLE(ATOM("change_code"), ANY, ANY, ANY))) {
        sys_code_change(s, from, req);
    } else if (match(req, TUPLE(ATOM("terminate"), VAR(&reason)))) {
        server_stop(s, reason, s->state, msg, NONE, NONE);
    } else {
        gen_server_reply(from, TUPLE(ATOM("error"),
                                     TUPLE(ATOM("unknown_system_msg"), req)));
    }
}

/* True when from is {Pid, Tag}, the only From a reply can go to. */
static bool is_from(term from)
{
    return is_tuple(from) && from.size == 2 && is_pid(element(1, from));
}

/* Hands one message to the handler its shape asks for. */
static void dispatch(struct server *s, term msg)
{
    term from, req, reason;
    if (match(msg, TUPLE(ATOM("$gen_call"), VAR(&from), VAR(&req))) && is_from(from))
        handle_call(s, msg, req, from);
    else if (match(msg, TUPLE(ATOM("$gen_cast"), VAR(&req))))
        handle_async(s, msg, req, true);
    else if (match(msg, TUPLE(ATOM("system"), VAR(&from), VAR(&req))) && is_from(from))
        handle_system(s, msg, from, req);
    else if (match(msg, TUPLE(ATOM("EXIT"), s->parent, VAR(&reason))))
        server_stop(s, reason, s->state, msg, NONE, NONE);  /* we trap exits */
    else
        handle_async(s, msg, msg, false);
}

/* ---- The server process -------------------------------------------------- */

/* The next message to handle: any, or while suspended only a system message
 * or the parent's exit (which beats it, see receive_either). */
static term next_message(const struct server *s)
{
    if (!s->suspended)
        return erl_receive(ANY, ERL_INFINITY);
    int which;
    return receive_either(TUPLE(ATOM("EXIT"), s->parent, ANY),
                          TUPLE(ATOM("system"), ANY, ANY), ERL_INFINITY, &which);
}

/* Handles messages until a callback stops the server. */
static _Noreturn void server_loop(struct server *s)
{
    for (;;) {
        dispatch(s, next_message(s));
        erl_heap_release(s->above);     /* the message and what it left behind */
    }
}

/* Tells the starter how init went: ok, ignore or {error, Reason}. */
static void ack(const struct server *s, term result)
{
    erl_send(s->parent, TUPLE(ATOM("$gen_ack"), s->self, result));
}

/* Registers the server's name. Returns false (and has told the starter
 * {already_started, Pid}) when the name is taken. */
static bool register_name(struct server *s)
{
    if (is_none(s->name) || erl_register(s->name, s->self) == 0)
        return true;
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

/* Acts on init's result; returns only when the server is to run. */
static void init_done(struct server *s, gen_result r)
{
    if (!result_ok(r, (1u << GEN_OK) | (1u << GEN_IGNORE) | (1u << GEN_STOP), CB_INIT)) {
        term reason = TUPLE(ATOM("bad_return_value"), result_term(r));
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
    server_store(s, r.state);
    ack(s, ATOM("ok"));
}

/* The server process: {Module, Name, Args, Parent} -> init, then the loop. */
static void server_main(term arg)
{
    erl_quiet(true);                    /* it prints its own reports */
    struct server s = {
        .mod = (const struct gen_server_module *)(intptr_t)element(1, arg).u.integer,
        .self = erl_self(),
        .name = is_atom_named(element(2, arg), "undefined") ? NONE : element(2, arg),
        .parent = element(4, arg),
        .state = NONE,
    };
    /* s holds the rest: keep only Args (for init), not the whole tuple for
     * the server's life. An immediate, like the counter's 0, keeps nothing. */
    term args = term_keep(element(3, arg));
    erl_drop(arg);
    if (!register_name(&s))
        return;                         /* exit normal, as OTP */
    s.below = s.above = erl_heap_mark();
    if (!s.mod->init) {
        term mfa = TUPLE(atom_from(s.mod->name), ATOM("init"), LIST(args), NIL);
        term reason = TUPLE(ATOM("undef"), LIST(mfa));
        init_failed(&s, TUPLE(ATOM("error"), reason));
        erl_exit_self(reason);
    }
    init_done(&s, s.mod->init(args));
    server_loop(&s);
}
