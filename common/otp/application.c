/*
 * application.c - the application controller (OTP's
 * application_controller): a gen_server registered as
 * application_controller, and the client calls of application.h.
 *
 * Its state is a term, kept by gen_server like any server's:
 *   {Config, Loaded, Running, Halt}
 *   Config   the sys.config term: [{App, [{Key, Value}]}]
 *   Loaded   [{App, Mod, Description, Vsn, Applications, Env, StartArgs}]
 *            Mod: the address of its struct application_module, or 0
 *   Running  [{App, Master, Top, Type, StartFrom, StopFrom}], newest first;
 *            Master, Top: undefined for a library application; StartFrom:
 *            the caller of a start still in progress, else undefined;
 *            StopFrom: the caller of a stop in progress, else undefined
 *   Halt     {Function, Context, Status}: application_options's halt
 * Starting and stopping are asynchronous, as on OTP: the controller hands
 * them to the application's master and answers the caller when the master
 * reports back, so it keeps answering (env lookups above all) meanwhile.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "application_impl.h"
#include "gen_server.h"

#define AC ATOM("application_controller")

enum { L_NAME = 1, L_MOD, L_DESC, L_VSN, L_DEPS, L_ENV, L_ARGS };
enum { R_NAME = 1, R_MASTER, R_TOP, R_TYPE, R_START_FROM, R_STOP_FROM };
enum { S_CONFIG = 1, S_LOADED, S_RUNNING, S_HALT };

#define UNDEFINED ATOM("undefined")

/* ---- Terms: lists edited by copy ----------------------------------------- */

/* The index of the tuple in list whose first element is key, or -1. */
static ssize_t find(term list, term key)
{
    for (size_t i = 0; i < list.size; i++)
        if (term_eq(element(1, list.u.elements[i]), key))
            return (ssize_t)i;
    return -1;
}

enum edit { PREPEND, REPLACE, DELETE, APPEND };

/* A kept copy of list with x prepended or appended, or element at replaced
 * by x or deleted. This function can't fail (term_keep panics when memory
 * runs out; so does this). */
static term edited(term list, enum edit op, size_t at, term x)
{
    term *v = malloc((list.size + 2) * sizeof *v);
    if (!v)
        abort();
    size_t n = 0;
    if (op == PREPEND)
        v[n++] = x;
    for (size_t i = 0; i < list.size; i++) {
        if (i == at && op == DELETE)
            continue;
        v[n++] = i == at && op == REPLACE ? x : list.u.elements[i];
    }
    if (op == APPEND)
        v[n++] = x;
    v[n] = NIL;
    term k = term_keep(term_list(v, n));
    free(v);
    return k;
}

/* A kept copy of tuple t with element i (from 1) replaced by x. */
static term with_element(term t, size_t i, term x)
{
    term v[16];
    for (size_t k = 0; k < t.size && k < 16; k++)
        v[k] = k + 1 == i ? x : t.u.elements[k];
    return term_keep(term_tuple(v, t.size));
}

/* The state with element i replaced: a kept copy. */
static term state_with(term s, size_t i, term x) { return with_element(s, i, x); }

/* env with every {Key, Value} of over put in: replacing the same key's, or
 * appended (OTP's merge of the config into the resource's env). */
static term merged_env(term env, term over)
{
    for (size_t i = 0; is_list(over) && i < over.size; i++) {
        term kv = over.u.elements[i];
        ssize_t at = find(env, element(1, kv));
        env = at >= 0 ? edited(env, REPLACE, (size_t)at, kv) : edited(env, APPEND, 0, kv);
    }
    return env;
}

static term error_of(const char *what, term app)
{
    return term_keep(TUPLE(ATOM("error"), TUPLE(atom_from(what), app)));
}

/* ---- The calls ----------------------------------------------------------- */

/* {load, Entry}: Entry is a Loaded entry with the resource's own env. */
static gen_result call_load(term entry, term s)
{
    term name = element(L_NAME, entry), loaded = element(S_LOADED, s);
    if (find(loaded, name) >= 0)
        return gen_reply(error_of("already_loaded", name), s);
    const term *conf = NULL;
    term config = element(S_CONFIG, s);
    ssize_t c = find(config, name);
    if (c >= 0)
        conf = &config.u.elements[c];
    term env = merged_env(element(L_ENV, entry), conf ? element(2, *conf) : NIL);
    entry = with_element(entry, L_ENV, env);
    return gen_reply(ATOM("ok"), state_with(s, S_LOADED, edited(loaded, PREPEND, 0, entry)));
}

static gen_result call_unload(term name, term s)
{
    term loaded = element(S_LOADED, s);
    ssize_t at = find(loaded, name);
    if (at < 0)
        return gen_reply(error_of("not_loaded", name), s);
    if (find(element(S_RUNNING, s), name) >= 0)
        return gen_reply(error_of("running", name), s);
    return gen_reply(ATOM("ok"), state_with(s, S_LOADED,
                                            edited(loaded, DELETE, (size_t)at, NONE)));
}

/* The first of deps that is not running (started and done starting), or
 * NONE. */
static term missing_dep(term deps, term running)
{
    for (size_t i = 0; is_list(deps) && i < deps.size; i++) {
        ssize_t at = find(running, deps.u.elements[i]);
        if (at < 0 || !is_atom_named(element(R_START_FROM, running.u.elements[at]),
                                     "undefined"))
            return deps.u.elements[i];
    }
    return NONE;
}

/* {start, App, Type, StartType}: answered now when it cannot start or is a
 * library application; else when its master reports. */
static gen_result call_start(term req, term from, term s)
{
    term name = element(2, req), type = element(3, req);
    term loaded = element(S_LOADED, s), running = element(S_RUNNING, s);
    ssize_t at = find(loaded, name);
    if (at < 0)
        return gen_reply(error_of("not_loaded", name), s);
    if (find(running, name) >= 0)
        return gen_reply(error_of("already_started", name), s);
    term entry = loaded.u.elements[at];
    term dep = missing_dep(element(L_DEPS, entry), running);
    if (!is_none(dep))
        return gen_reply(error_of("not_started", dep), s);
    term mod = element(L_MOD, entry), master = UNDEFINED;
    if (mod.u.integer != 0) {
        term arg = TUPLE(erl_self(), name, mod, element(4, req), element(L_ARGS, entry));
        master = erl_spawn_opt("application_master", app_master_main, arg,
                               ERL_LINK | ERL_QUIET, NULL);
        if (is_none(master))
            return gen_reply(term_keep(TUPLE(ATOM("error"), TUPLE(ATOM("spawn"),
                                                                  INT(errno)))), s);
    }
    term r = TUPLE(name, master, UNDEFINED, type, mod.u.integer ? from : UNDEFINED,
                   UNDEFINED);
    term ns = state_with(s, S_RUNNING, edited(running, PREPEND, 0, r));
    return mod.u.integer ? gen_noreply(ns) : gen_reply(ATOM("ok"), ns);
}

static gen_result call_stop(term name, term from, term s)
{
    term running = element(S_RUNNING, s);
    ssize_t at = find(running, name);
    term r = at >= 0 ? running.u.elements[at] : NONE;
    if (at < 0 || !is_atom_named(element(R_START_FROM, r), "undefined") ||
        !is_atom_named(element(R_STOP_FROM, r), "undefined"))
        return gen_reply(error_of("not_started", name), s);
    term master = element(R_MASTER, r);
    if (!is_pid(master)) {      /* a library application: nothing runs */
        app_report(name, ATOM("stopped"), element(R_TYPE, r));
        return gen_reply(ATOM("ok"), state_with(s, S_RUNNING,
                                                edited(running, DELETE, (size_t)at, NONE)));
    }
    erl_send(master, TUPLE(ATOM("ac_stop"), erl_self()));
    r = with_element(r, R_STOP_FROM, from);
    return gen_noreply(state_with(s, S_RUNNING, edited(running, REPLACE, (size_t)at, r)));
}

/* [{App, Description, Vsn}] of the Loaded entries named in list (all of
 * them when list is Loaded itself). */
static term app_list(term names, term loaded)
{
    term *v = malloc((names.size + 1) * sizeof *v);
    term *t = malloc((names.size + 1) * 3 * sizeof *t);
    if (!v || !t)
        abort();
    size_t n = 0;
    for (size_t i = 0; i < names.size; i++) {
        ssize_t at = find(loaded, element(1, names.u.elements[i]));
        if (at < 0)
            continue;
        term e = loaded.u.elements[at];
        t[3 * n] = element(L_NAME, e);
        t[3 * n + 1] = element(L_DESC, e);
        t[3 * n + 2] = element(L_VSN, e);
        v[n] = term_tuple(&t[3 * n], 3);
        n++;
    }
    v[n] = NIL;
    term k = term_keep(term_list(v, n));
    free(v);
    free(t);
    return k;
}

/* The env of app, or NONE when it is not loaded. */
static term env_of(term s, term app)
{
    term loaded = element(S_LOADED, s);
    ssize_t at = find(loaded, app);
    return at < 0 ? NONE : element(L_ENV, loaded.u.elements[at]);
}

/* get_env and get_all_env: answered from s; NONE when req is neither. */
static term env_reply(term req, term s)
{
    term app, key;
    if (match(req, TUPLE(ATOM("get_env"), VAR(&app), VAR(&key)))) {
        const term *kv = NULL;
        term env = env_of(s, app);
        ssize_t at = is_none(env) ? -1 : find(env, key);
        if (at >= 0)
            kv = &env.u.elements[at];
        return kv ? term_keep(TUPLE(ATOM("ok"), element(2, *kv))) : UNDEFINED;
    }
    if (match(req, TUPLE(ATOM("get_all_env"), VAR(&app)))) {
        term env = env_of(s, app);
        return is_none(env) ? NIL : env;
    }
    return NONE;
}

static gen_result call_set_env(term req, term s)
{
    term app = element(2, req), kv = TUPLE(element(3, req), element(4, req));
    term loaded = element(S_LOADED, s);
    ssize_t at = find(loaded, app);
    if (at < 0)
        return gen_reply(error_of("not_loaded", app), s);
    term e = loaded.u.elements[at];
    e = with_element(e, L_ENV, merged_env(element(L_ENV, e), LIST(kv)));
    return gen_reply(ATOM("ok"), state_with(s, S_LOADED,
                                            edited(loaded, REPLACE, (size_t)at, e)));
}

static gen_result ac_handle_call(term req, term from, term s)
{
    term arg, env = env_reply(req, s);
    if (!is_none(env))
        return gen_reply(env, s);
    if (match(req, TUPLE(ATOM("load"), VAR(&arg))))
        return call_load(arg, s);
    if (match(req, TUPLE(ATOM("unload"), VAR(&arg))))
        return call_unload(arg, s);
    if (match(req, TUPLE(ATOM("start"), ANY, ANY, ANY)))
        return call_start(req, from, s);
    if (match(req, TUPLE(ATOM("stop"), VAR(&arg))))
        return call_stop(arg, from, s);
    if (match(req, TUPLE(ATOM("set_env"), ANY, ANY, ANY)))
        return call_set_env(req, s);
    if (is_atom_named(req, "which_applications"))
        return gen_reply(app_list(element(S_RUNNING, s), element(S_LOADED, s)), s);
    if (is_atom_named(req, "loaded_applications"))
        return gen_reply(app_list(element(S_LOADED, s), element(S_LOADED, s)), s);
    bool top = match(req, TUPLE(ATOM("top"), VAR(&arg)));
    if (top || match(req, TUPLE(ATOM("master"), VAR(&arg)))) {
        term running = element(S_RUNNING, s);
        ssize_t at = find(running, arg);
        return gen_reply(at < 0 ? UNDEFINED : element(top ? R_TOP : R_MASTER,
                                                      running.u.elements[at]), s);
    }
    return gen_reply(term_keep(TUPLE(ATOM("error"), TUPLE(ATOM("bad_call"), req))), s);
}

/* ---- What the masters tell ----------------------------------------------- */

/* {ac_start_result, App, Master, Result}: the start's caller is answered. */
static gen_result started(term app, term master, term result, term s)
{
    term running = element(S_RUNNING, s), top, why;
    ssize_t at = find(running, app);
    if (at < 0 || !term_eq(element(R_MASTER, running.u.elements[at]), master))
        return gen_noreply(s);              /* a stopped controller's leftover */
    term r = running.u.elements[at];
    gen_server_reply(element(R_START_FROM, r),
                     match(result, TUPLE(ATOM("ok"), VAR(&top))) ? ATOM("ok") : result);
    if (match(result, TUPLE(ATOM("error"), VAR(&why)))) {
        app_report(app, why, element(R_TYPE, r));
        return gen_noreply(state_with(s, S_RUNNING,
                                      edited(running, DELETE, (size_t)at, NONE)));
    }
    r = with_element(with_element(r, R_TOP, top), R_START_FROM, UNDEFINED);
    return gen_noreply(state_with(s, S_RUNNING, edited(running, REPLACE, (size_t)at, r)));
}

/* {'EXIT', Master, Reason}: the application has ended, asked to or not. */
static gen_result ended(term master, term reason, term s)
{
    term running = element(S_RUNNING, s);
    ssize_t at = -1;
    for (size_t i = 0; i < running.size && at < 0; i++)
        if (term_eq(element(R_MASTER, running.u.elements[i]), master))
            at = (ssize_t)i;
    if (at < 0)
        return gen_noreply(s);              /* a failed start's master */
    term r = running.u.elements[at], app = element(R_NAME, r), type = element(R_TYPE, r);
    term ns = state_with(s, S_RUNNING, edited(running, DELETE, (size_t)at, NONE));
    term stop_from = element(R_STOP_FROM, r);
    if (!is_atom_named(stop_from, "undefined")) {
        app_report(app, ATOM("stopped"), type);
        gen_server_reply(stop_from, ATOM("ok"));
        return gen_noreply(ns);
    }
    if (!is_atom_named(element(R_START_FROM, r), "undefined")) {
        /* killed inside Module:start, before it could report */
        gen_server_reply(element(R_START_FROM, r), term_keep(TUPLE(ATOM("error"), reason)));
        app_report(app, reason, type);
        return gen_noreply(ns);
    }
    app_report(app, reason, type);
    if (is_atom_named(type, "temporary") ||
        (is_atom_named(type, "transient") && is_atom_named(reason, "normal")))
        return gen_noreply(ns);
    return gen_stop(term_keep(TUPLE(ATOM("application_terminated"), app, reason)), ns);
}

static gen_result ac_handle_info(term info, term s)
{
    term app, master, result, reason;
    if (match(info, TUPLE(ATOM("ac_start_result"), VAR(&app), VAR(&master), VAR(&result))))
        return started(app, master, result, s);
    if (match(info, TUPLE(ATOM("EXIT"), VAR(&master), VAR(&reason))))
        return ended(master, reason, s);
    return gen_noreply(s);
}

/* ---- Starting and stopping the controller -------------------------------- */

/* args: {Config, Halt}. Kernel is loaded and running from the start. */
static gen_result ac_init(term args)
{
    erl_trap_exit(true);
    term config = element(1, args);
    ssize_t k = find(config, ATOM("kernel"));
    term kenv = k >= 0 ? element(2, config.u.elements[k]) : NIL;
    term kernel = TUPLE(ATOM("kernel"), INT(0), app_string("the runtime's kernel"),
                        app_string("1.0"), NIL, kenv, NIL);
    term running = LIST(TUPLE(ATOM("kernel"), UNDEFINED, UNDEFINED, ATOM("permanent"),
                              UNDEFINED, UNDEFINED));
    return gen_ok(term_keep(TUPLE(config, LIST(kernel), running, element(2, args))));
}

/* Waits for master's exit, answering env calls meanwhile (a stop callback
 * may read its env: the controller must not be deaf while it waits). */
static void await_master(term master, term s)
{
    term from, req;
    term pats[] = {TUPLE(ATOM("EXIT"), master, ANY),
                   TUPLE(ATOM("$gen_call"), VAR(&from), VAR(&req))};
    for (;;) {
        erl_heap_mark_t mark = erl_heap_mark();
        size_t which;
        erl_receive_any(pats, 2, ERL_INFINITY, &which);
        if (which == 0)
            return;
        term r = env_reply(req, s);
        gen_server_reply(from, is_none(r) ? term_keep(TUPLE(ATOM("error"),
                                                            ATOM("stopping"))) : r);
        erl_heap_release(mark);
    }
}

/* Stops every running application, newest first, and halts when reason
 * says a permanent one ended. */
static void ac_terminate(term reason, term s)
{
    term running = element(S_RUNNING, s);
    for (size_t i = 0; i < running.size; i++) {
        term r = running.u.elements[i], master = element(R_MASTER, r);
        if (is_pid(master)) {
            erl_send(master, TUPLE(ATOM("ac_stop"), erl_self()));
            await_master(master, s);
        }
        if (!is_atom_named(element(R_NAME, r), "kernel"))
            app_report(element(R_NAME, r), ATOM("stopped"), element(R_TYPE, r));
    }
    term app, why, fn, ctx, status;
    if (!match(reason, TUPLE(ATOM("application_terminated"), VAR(&app), VAR(&why))) ||
        !match(element(S_HALT, s), TUPLE(VAR(&fn), VAR(&ctx), VAR(&status))))
        return;
    void (*halt)(term, term, void *) =
        (void (*)(term, term, void *))(uintptr_t)fn.u.integer;
    if (!halt)
        app_default_halt(app, why, (int)status.u.integer);
    halt(app, why, (void *)(uintptr_t)ctx.u.integer);
}

static const struct gen_server_module ac_module = {
    .name = "application_controller",
    .init = ac_init,
    .handle_call = ac_handle_call,
    .handle_info = ac_handle_info,
    .terminate = ac_terminate,
};

term application_controller_start(const struct application_options *opts,
                                  term *error)
{
    struct application_options none = {.config = NONE};
    if (!opts)
        opts = &none;
    term config = is_list(opts->config) ? opts->config : NIL;
    term halt = TUPLE(INT((int64_t)(uintptr_t)opts->halt),
                      INT((int64_t)(uintptr_t)opts->halt_ctx), INT(opts->halt_status));
    return gen_server_start(AC, &ac_module, TUPLE(config, halt), 0, error);
}
