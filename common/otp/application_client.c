/*
 * application_client.c - the calls of application.h: each is one
 * gen_server call to application_controller (application.c), and turns
 * its answer into a C result and an error of the caller's own.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "application_impl.h"
#include "gen_server.h"

#define AC ATOM("application_controller")

/* Calls the controller. Returns the reply (the caller's: erl_drop it), or
 * NONE with *error set. */
static term ac_call(term req, int timeout_ms, term *error)
{
    term e = NONE;
    term r = gen_server_call(AC, req, timeout_ms, &e);
    if (error)
        *error = e;
    else
        erl_drop(e);
    return r;
}

/* A call answered ok or {error, Why}: 0, or -1 with *error a copy of Why. */
static int ac_call_ok(term req, int timeout_ms, term *error)
{
    term r = ac_call(req, timeout_ms, error);
    if (is_none(r))
        return -1;
    term why;
    int rc = 0;
    if (!is_atom_named(r, "ok")) {
        rc = -1;
        if (error)
            *error = term_keep(match(r, TUPLE(ATOM("error"), VAR(&why))) ? why : r);
    }
    erl_drop(r);
    return rc;
}

/* ---- Loading ------------------------------------------------------------- */

/* True when t is a proper list of atoms. */
static bool atom_list(term t)
{
    if (!is_list(t) || (t.size && (!is_list(t.u.elements[t.size]) ||
                                   t.u.elements[t.size].size)))
        return false;
    for (size_t i = 0; i < t.size; i++)
        if (!is_atom(t.u.elements[i]))
            return false;
    return true;
}

/* True when t is a proper list of {Key, Value} with atom keys. */
static bool env_list(term t)
{
    if (!is_list(t) || (t.size && (!is_list(t.u.elements[t.size]) ||
                                   t.u.elements[t.size].size)))
        return false;
    for (size_t i = 0; i < t.size; i++)
        if (!is_tuple(t.u.elements[i]) || t.u.elements[i].size != 2 ||
            !is_atom(t.u.elements[i].u.elements[0]))
            return false;
    return true;
}

/* What is wrong with app, as {Field, Value} (kept in the caller's heap),
 * or NONE when nothing is. */
static term bad_field(const struct application *app, term name)
{
    term field = NONE, value = NONE;
    if (is_none(name)) {
        field = ATOM("name");
        value = app->name ? ATOM("too_long") : ATOM("undefined");
    } else if (!atom_list(app->modules)) {
        field = ATOM("modules");
        value = app->modules;
    } else if (!atom_list(app->registered)) {
        field = ATOM("registered");
        value = app->registered;
    } else if (!atom_list(app->applications)) {
        field = ATOM("applications");
        value = app->applications;
    } else if (!env_list(app->env)) {
        field = ATOM("env");
        value = app->env;
    } else if (app->mod && (!app->mod->name || !app->mod->start)) {
        field = ATOM("mod");
        value = ATOM("undefined");
    }
    return is_none(field) ? NONE : term_keep(TUPLE(field, value));
}

/* s as an Erlang string viewing v, which the caller frees. */
static term string_view(const char *s, term **v)
{
    size_t n = s ? strlen(s) : 0;
    *v = malloc((n + 1) * sizeof **v);
    if (!*v)
        abort();
    for (size_t i = 0; i < n; i++)
        (*v)[i] = INT((unsigned char)s[i]);
    (*v)[n] = NIL;
    return term_list(*v, n);
}

int application_load(const struct application *app, term *error)
{
    term name = app->name ? atom_from(app->name) : NONE;
    term bad = bad_field(app, name);
    if (!is_none(bad)) {
        if (error)
            *error = term_keep(TUPLE(ATOM("invalid_resource"), bad));
        erl_drop(bad);
        return -1;
    }
    term *d, *v;
    term desc = string_view(app->description, &d), vsn = string_view(app->vsn, &v);
    term entry = TUPLE(name, INT((int64_t)(uintptr_t)app->mod), desc, vsn,
                       app->applications, app->env,
                       is_none(app->start_args) ? NIL : app->start_args);
    int rc = ac_call_ok(TUPLE(ATOM("load"), entry), GEN_DEFAULT_TIMEOUT, error);
    free(d);
    free(v);
    return rc;
}

int application_unload(term app, term *error)
{
    return ac_call_ok(TUPLE(ATOM("unload"), app), GEN_DEFAULT_TIMEOUT, error);
}

/* ---- Starting and stopping ----------------------------------------------- */

int application_start_as(term app, enum app_type type, term start_type, term *error)
{
    return ac_call_ok(TUPLE(ATOM("start"), app, app_type_atom(type), start_type),
                      ERL_INFINITY, error);
}

int application_start(term app, enum app_type type, term *error)
{
    return application_start_as(app, type, ATOM("normal"), error);
}

int application_stop(term app, term *error)
{
    return ac_call_ok(TUPLE(ATOM("stop"), app), ERL_INFINITY, error);
}

int application_controller_stop(int timeout_ms, term *error)
{
    return gen_server_stop(AC, ATOM("normal"), timeout_ms, error);
}

/* ---- Looking around ------------------------------------------------------ */

term application_which_applications(term *error)
{
    return ac_call(ATOM("which_applications"), GEN_DEFAULT_TIMEOUT, error);
}

term application_loaded_applications(term *error)
{
    return ac_call(ATOM("loaded_applications"), GEN_DEFAULT_TIMEOUT, error);
}

term application_top(term app)
{
    term r = ac_call(TUPLE(ATOM("top"), app), GEN_DEFAULT_TIMEOUT, NULL);
    return is_pid(r) ? r : NONE;    /* immediate: nothing to drop */
}

term application_master(term app)
{
    term r = ac_call(TUPLE(ATOM("master"), app), GEN_DEFAULT_TIMEOUT, NULL);
    return is_pid(r) ? r : NONE;
}

term application_get_env(term app, term key)
{
    term r = ac_call(TUPLE(ATOM("get_env"), app, key), GEN_DEFAULT_TIMEOUT, NULL);
    term v;
    if (!match(r, TUPLE(ATOM("ok"), VAR(&v)))) {
        erl_drop(r);
        return NONE;
    }
    term k = term_keep(v);
    erl_drop(r);
    return k;
}

term application_get_all_env(term app)
{
    term r = ac_call(TUPLE(ATOM("get_all_env"), app), GEN_DEFAULT_TIMEOUT, NULL);
    return is_list(r) ? r : NIL;
}

int application_set_env(term app, term key, term value, term *error)
{
    if (!is_atom(key)) {
        if (error)
            *error = ATOM("badarg");
        return -1;
    }
    return ac_call_ok(TUPLE(ATOM("set_env"), app, key, value), GEN_DEFAULT_TIMEOUT,
                      error);
}
