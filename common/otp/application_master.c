/*
 * application_master.c - the master process of a running application
 * (OTP's application_master): it calls Module:start, watches the top
 * process, stops it on request and calls Module:stop; and the reports and
 * the default halt of application.h.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "application_impl.h"

/* ---- Reports ------------------------------------------------------------- */

/* The report stream: set once by application_set_report (report_chosen),
 * read by any process; both atomic, so no lock is needed. */
static FILE *_Atomic report_out;
static atomic_bool report_chosen;

void application_set_report(FILE *out)
{
    atomic_store(&report_out, out);
    atomic_store(&report_chosen, true);
}

/* t in Erlang syntax into buf, cut with "..." when it does not fit. */
static const char *shown(term t, char *buf, size_t n)
{
    if ((size_t)term_format(buf, n, t) >= n)
        snprintf(buf + n - 4, 4, "...");
    return buf;
}

ERL_COLD void app_report(term app, term reason, term type)
{
    FILE *out = atomic_load(&report_chosen) ? atomic_load(&report_out) : stderr;
    if (!out)
        return;
    char a[300], r[1024], t[32];
    fprintf(out, "=INFO REPORT====\n    application: %s\n    exited: %s\n"
            "    type: %s\n\n", shown(app, a, sizeof a), shown(reason, r, sizeof r),
            shown(type, t, sizeof t));
}

_Noreturn void app_default_halt(term app, term reason, int status)
{
    char a[300], r[1024];
    fprintf(stderr, "Kernel pid terminated (application_controller) "
            "({application_terminated,%s,%s})\n", shown(app, a, sizeof a),
            shown(reason, r, sizeof r));
    fflush(NULL);
    _exit(status ? status : 70);    /* from a scheduler thread: no atexit */
}

term app_type_atom(enum app_type type)
{
    switch (type) {
    case APP_TRANSIENT: return ATOM("transient");
    case APP_PERMANENT: return ATOM("permanent");
    default: return ATOM("temporary");
    }
}

term app_string(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    term *v = malloc((n + 1) * sizeof *v);
    if (!v)
        abort();
    for (size_t i = 0; i < n; i++)
        v[i] = INT((unsigned char)s[i]);
    v[n] = NIL;
    term k = term_keep(term_list(v, n));
    free(v);
    return k;
}

/* ---- Starting ------------------------------------------------------------ */

/* Module:start's arguments and results, across erl_catch. */
struct start_call {
    const struct application_module *mod;   /* whose start */
    term type, args;                        /* StartType, StartArgs */
    term top;                               /* what it returned */
    term state;                             /* its State, or NONE */
    term error;                             /* its error, or NONE */
};

static void run_start(void *ctx)
{
    struct start_call *c = ctx;
    c->top = c->mod->start(c->type, c->args, &c->state, &c->error);
}

/* Calls Module:start; returns {ok, Top} or {error, Why} in OTP's shapes. */
static term call_start(struct start_call *c)
{
    term mfa = TUPLE(atom_from(c->mod->name), ATOM("start"), LIST(c->type, c->args));
    term crash;
    if (!erl_catch(run_start, c, &crash))
        return term_keep(TUPLE(ATOM("error"), TUPLE(ATOM("bad_return"),
                               TUPLE(mfa, TUPLE(ATOM("EXIT"), crash)))));
    if (is_pid(c->top)) {
        erl_link(c->top);   /* start linked it to us, usually; now surely */
        return term_keep(TUPLE(ATOM("ok"), c->top));
    }
    if (!is_none(c->top))
        return term_keep(TUPLE(ATOM("error"), TUPLE(ATOM("bad_return"),
                                                    TUPLE(mfa, c->top))));
    term why = is_none(c->error) ? ATOM("undefined") : c->error;
    return term_keep(TUPLE(ATOM("error"), TUPLE(why, mfa)));
}

/* ---- Running ------------------------------------------------------------- */

/* Calls Module:stop(State), if there is one, inside a catch: a crash in it
 * is ignored, as OTP's catch Mod:stop(State). */
static void run_stop(void *ctx)
{
    struct start_call *c = ctx;
    c->mod->stop(is_none(c->state) ? NIL : c->state);
}

static void call_stop(struct start_call *c)
{
    if (c->mod->stop)
        erl_catch(run_stop, c, NULL);
}

/* Stops the top process: exit(Top, shutdown), then waits for it to end.
 * A supervisor stops its children first, so this waits as long as they
 * take, as OTP's master does. */
static void stop_tree(term top)
{
    erl_exit(top, ATOM("shutdown"));
    erl_receive(TUPLE(ATOM("EXIT"), top, ANY), ERL_INFINITY);
}

/* Serves a running application until it ends: its top process ends (the
 * master exits with its reason), the controller asks it to stop (it exits
 * normal), or the controller dies (it exits with the controller's reason). */
static _Noreturn void serve(struct start_call *c, term ctrl, term top)
{
    for (;;) {
        term reason;
        term m = erl_receive(ANY, ERL_INFINITY);
        if (match(m, TUPLE(ATOM("EXIT"), top, VAR(&reason)))) {
            call_stop(c);
            erl_exit_self(reason);
        }
        if (match(m, TUPLE(ATOM("ac_stop"), ctrl))) {
            stop_tree(top);
            call_stop(c);
            erl_exit_self(ATOM("normal"));
        }
        if (match(m, TUPLE(ATOM("EXIT"), ctrl, VAR(&reason)))) {
            stop_tree(top);
            call_stop(c);
            erl_exit_self(reason);
        }
        erl_drop(m);    /* anything else: not for the master */
    }
}

void app_master_main(term arg)
{
    term ctrl, app, mod, type, args;
    if (!match(arg, TUPLE(VAR(&ctrl), VAR(&app), VAR(&mod), VAR(&type), VAR(&args))))
        return;
    erl_trap_exit(true);
    struct start_call c = {(const struct application_module *)(uintptr_t)mod.u.integer,
                           type, args, NONE, NONE, NONE};
    term result = call_start(&c);
    erl_send(ctrl, TUPLE(ATOM("ac_start_result"), app, erl_self(), result));
    term top;
    if (match(result, TUPLE(ATOM("ok"), VAR(&top))))
        serve(&c, ctrl, top);
}
