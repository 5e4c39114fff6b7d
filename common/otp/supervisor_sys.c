/*
 * supervisor_sys.c - what a supervisor answers the sys module (sys.h): its
 * state, its status, suspend and resume. A supervisor is a gen_server in
 * OTP, so it answers as one; its state is OTP's #state{} record, built
 * from struct sup when asked. sys:terminate is the loop's (it stops the
 * supervisor: supervisor_server.c).
 * See supervisor.h for the shapes, supervisor_internal.h for the split.
 */
#include <stdio.h>
#include <string.h>

#include "gen_server.h"
#include "supervisor_internal.h"

/* ---- The state, as OTP's #state{} ---------------------------------------- */

/* How many terms state_term writes. */
static size_t state_terms(const struct sup *s)
{
    size_t nc = s->template ? 1 : s->nkids, ni = s->template ? s->nkids : 0;
    return (nc + 1) + 14 * nc + (ni + 1) + 4 * ni + (s->nrestarts + 1) + 2 + 8;
}

/* [#child{}], newest first (the template alone for simple_one_for_one),
 * written into v; *used gets the number of terms written. */
static term children_term(const struct sup *s, term *v, size_t *used)
{
    size_t n = s->template ? 1 : s->nkids;
    v[n] = NIL;
    for (size_t i = 0; i < n; i++) {
        const struct child *c = s->template ? s->template : s->kids[n - 1 - i];
        v[i] = sup_child_record(c, v + n + 1 + 14 * i);
    }
    *used = n + 1 + 14 * n;
    return term_list(v, n);
}

/* simple_one_for_one: [{Pid | {restarting, OldPid}, Args}], newest first,
 * written into v; else undefined. *used gets the number of terms written. */
static term dynamics_term(const struct sup *s, term *v, size_t *used)
{
    *used = 0;
    if (!s->template)
        return ATOM("undefined");
    size_t n = s->nkids;
    v[n] = NIL;
    for (size_t i = 0; i < n; i++) {
        const struct child *c = s->kids[n - 1 - i];
        term *e = v + n + 1 + 4 * i;
        e[2] = ATOM("restarting");
        e[3] = c->pid;
        e[0] = c->state == CHILD_RESTARTING ? term_tuple(e + 2, 2) : c->pid;
        e[1] = c->arg;
        v[i] = term_tuple(e, 2);
    }
    *used = n + 1 + 4 * n;
    return term_list(v, n);
}

/* The times of the restarts that still count (ms, monotonic), newest
 * first, written into v. */
static term restarts_term(const struct sup *s, term *v)
{
    size_t n = s->nrestarts;
    v[n] = NIL;
    for (size_t i = 0; i < n; i++)
        v[i] = INT(s->restarts[n - 1 - i]);
    return term_list(v, n);
}

/* The state, written into v (state_terms(s) terms); see supervisor.h. */
static term state_term(const struct sup *s, term *v)
{
    size_t used;
    term *st = v, *name = v + 8, *rest = v + 10;
    name[0] = is_none(s->name) ? s->self : ATOM("local");
    name[1] = is_none(s->name) ? ATOM("undefined") : s->name;
    st[0] = ATOM("state");
    st[1] = term_tuple(name, 2);
    st[2] = sup_strategy_atom(s->flags.strategy);
    st[3] = children_term(s, rest, &used);
    rest += used;
    st[4] = dynamics_term(s, rest, &used);
    rest += used;
    st[5] = INT(s->flags.intensity);
    st[6] = INT(s->flags.period_s);
    st[7] = restarts_term(s, rest);
    return term_tuple(st, 8);
}

/* ---- Answers ------------------------------------------------------------- */

/* Through gen_server_reply, so that an [alias|Ref] tag is honoured. */
static void reply(term from, term tag, term r)
{
    gen_server_reply(TUPLE(from, tag), r);
}

/* A binary holding the C string text. */
static term binary(const char *text)
{
    return term_binary(text, strlen(text));
}

/* get_status: gen_server's shape, then the supervisor's own section, as
 * OTP's supervisor:format_status/2 adds it. */
static void reply_status(const struct sup *s, term from, term tag, term state)
{
    char who[128], header[160];
    term_format(who, sizeof who, is_none(s->name) ? s->self : s->name);
    snprintf(header, sizeof header, "Status for generic server %s", who);
    term status = s->suspended ? ATOM("suspended") : ATOM("running");
    reply(from, tag, TUPLE(ATOM("status"), s->self,
        TUPLE(ATOM("module"), ATOM("gen_server")),
        LIST(NIL, status, s->parent, NIL,
             LIST(TUPLE(ATOM("header"), binary(header)),
                  TUPLE(ATOM("data"),
                        LIST(TUPLE(binary("Status"), status),
                             TUPLE(binary("Parent"), s->parent))),
                  TUPLE(ATOM("data"), LIST(TUPLE(binary("State"), state))),
                  TUPLE(ATOM("supervisor"),
                        LIST(TUPLE(binary("Callback"), ATOM("undefined"))))))));
}

/* get_state or get_status: both carry the state. */
static void reply_with_state(const struct sup *s, term from, term tag, bool status)
{
    size_t size = state_terms(s) * sizeof(term);
    term *v = sup_alloc(size);
    term state = state_term(s, v);
    if (status)
        reply_status(s, from, tag, state);
    else
        reply(from, tag, state);
    sup_free(v, size);
}

void sup_system(struct sup *s, term from, term tag, term req)
{
    if (is_atom_named(req, "get_state") || is_atom_named(req, "get_status")) {
        reply_with_state(s, from, tag, is_atom_named(req, "get_status"));
    } else if (is_atom_named(req, "suspend") || is_atom_named(req, "resume")) {
        s->suspended = is_atom_named(req, "suspend");
        reply(from, tag, ATOM("ok"));
    } else {
        reply(from, tag, TUPLE(ATOM("error"), TUPLE(ATOM("unknown_system_msg"), req)));
    }
}
