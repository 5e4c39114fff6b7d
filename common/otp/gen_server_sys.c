/*
 * gen_server_sys.c - the server side of the sys module: what a running
 * gen_server does with {system, From, Request}, and its debug output.
 * See sys.h for the contracts; the client side is in sys.c, the loop that
 * calls these in gen_server.c.
 *
 * Low level to high level: *DBG* lines; statistics; status; code change;
 * the dispatch of system requests.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gen_server_impl.h"
#include "sys.h"

/* ---- Tracing ------------------------------------------------------------- */

/* Prints one *DBG* line when tracing: fmt_ is printf's, with the label first. */
__attribute__((format(printf, 2, 3)))
ERL_COLD static void dbg_print(const struct server *s, const char *fmt_, ...)
{
    if (!s->trace)
        return;
    char who[64], line[1024];
    va_list ap;
    va_start(ap, fmt_);
    vsnprintf(line, sizeof line, fmt_, ap);
    va_end(ap);
    printf("*DBG* %s %s\n", server_label(s, who, sizeof who), line);   /* one call */
}

ERL_COLD void server_dbg_in(struct server *s, const char *kind, term msg, term from)
{
    if (s->stats)
        s->dbg.in++;
    if (!s->trace)
        return;
    char m[512], f[64];
    if (!kind)
        dbg_print(s, "got %s", server_fmt(m, sizeof m, msg));
    else if (is_none(from))
        dbg_print(s, "got %s %s", kind, server_fmt(m, sizeof m, msg));
    else
        dbg_print(s, "got %s %s from %s", kind, server_fmt(m, sizeof m, msg),
                  server_fmt(f, sizeof f, element(1, from)));
}

ERL_COLD void server_dbg_state(const struct server *s)
{
    char st[512];
    if (s->trace)
        dbg_print(s, "new state %s", server_fmt(st, sizeof st, s->state));
}

ERL_COLD void server_dbg_out(struct server *s, term reply, term from, term state)
{
    if (s->stats)
        s->dbg.out++;
    char r[512], f[64], st[512];
    if (s->trace)
        dbg_print(s, "sent %s to %s, new state %s", server_fmt(r, sizeof r, reply),
                  server_fmt(f, sizeof f, element(1, from)),
                  server_fmt(st, sizeof st, state));
}

/* ---- Statistics ---------------------------------------------------------- */

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
        if (s->stats)
            send_stats(s, from);
        else
            gen_server_reply(from, ATOM("no_statistics"));
        return;
    }
    s->stats = is_atom_named(flag, "true");
    s->dbg.start = time(NULL);
    s->dbg.in = s->dbg.out = 0;
    gen_server_reply(from, ATOM("ok"));
}

/* ---- Status -------------------------------------------------------------- */

/* get_status: OTP's shape, with binaries for its strings. */
ERL_COLD static void sys_status(struct server *s, term from)
{
    char who[64], header[128];
    snprintf(header, sizeof header, "Status for generic server %s",
             server_label(s, who, sizeof who));
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

/* ---- Code change --------------------------------------------------------- */

/* Why mod->code_change did not give a new state, for {error, Why}: what it
 * stopped with, {bad_return_value, R}, or {'EXIT', Reason} when it crashed
 * (as sys's catch Mod:system_code_change(...) sees it), kept in the heap
 * until the loop releases the message. Returns NONE when it returned
 * {ok, State}: v->r.state then. */
ERL_COLD static term code_change_error(struct invocation *v)
{
    term crash;
    if (!server_invoke(v, &crash))
        return term_keep(TUPLE(ATOM("EXIT"), crash));
    gen_result r = v->r;
    if (server_result_ok(&r, 1u << GEN_OK, CB_OTHER) && r.timeout_ms < 0 &&
        is_none(r.cont))
        return NONE;
    if (r.action == GEN_STOP && !is_none(r.reason))
        return r.reason;
    return term_keep(TUPLE(ATOM("bad_return_value"), server_result_term(r)));
}

/* {change_code, Module, OldVsn, Extra}: Module is a table's address or 0.
 * A code_change that fails leaves the table and the state as they were. */
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
    struct invocation v = {.mod = mod, .fn = FN_CODE_CHANGE, .a = element(3, req),
                           .b = s->state, .c = element(4, req)};
    term why = code_change_error(&v);
    if (!is_none(why)) {
        gen_server_reply(from, TUPLE(ATOM("error"), why));
        return;
    }
    s->mod = mod;
    gen_server_reply(from, ATOM("ok"));   /* before store frees the message */
    server_store(s, v.r.state, NONE);
}

/* ---- System requests ----------------------------------------------------- */

ERL_COLD void server_system(struct server *s, term msg, term from, term req)
{
    term fn, arg, flag, reason;
    if (is_atom_named(req, "get_state")) {
        gen_server_reply(from, s->state);
    } else if (match(req, TUPLE(ATOM("replace_state"), VAR(&fn), VAR(&arg)))) {
        sys_state_fn f = (sys_state_fn)(intptr_t)fn.u.integer;
        term next = f(s->state, arg);
        gen_server_reply(from, next);   /* before store frees the message */
        server_store(s, next, NONE);
    } else if (is_atom_named(req, "suspend") || is_atom_named(req, "resume")) {
        s->suspended = is_atom_named(req, "suspend");
        gen_server_reply(from, ATOM("ok"));
    } else if (match(req, TUPLE(ATOM("debug"), TUPLE(ATOM("trace"), VAR(&flag))))) {
        s->trace = is_atom_named(flag, "true");
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
