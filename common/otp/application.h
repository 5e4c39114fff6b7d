/*
 * application.h - OTP's applications: a resource (the .app file's
 * contents, as a C struct), a callback module (Module:start/2 and stop/1,
 * as function pointers), and the application controller, a process
 * registered as application_controller that loads, starts and stops them.
 *
 * As on OTP, each running application has a master process, linked to the
 * controller, which calls start and is linked to the process start
 * returns: the application's top process, its supervisor. When that top
 * process ends by itself, the application has ended, and its start type
 * decides what follows (application:start/2):
 *   APP_TEMPORARY   it is only reported:
 *                       =INFO REPORT====
 *                           application: counter
 *                           exited: shutdown
 *                           type: temporary
 *   APP_TRANSIENT   reported; with a reason other than normal, as permanent
 *   APP_PERMANENT   reported; then the controller stops every other
 *                   application (newest first) and the node halts: it calls
 *                   the program's halt function, or by default prints
 *                       Kernel pid terminated (application_controller)
 *                       ({application_terminated,counter,shutdown})
 *                   as erl does, and exits with halt_status (default 70,
 *                   EX_SOFTWARE). With a halt function that returns, the
 *                   controller exits with {application_terminated, App,
 *                   Reason} and the program goes on.
 * An application stopped by application_stop is reported with "exited:
 * stopped"; a start that fails is reported with its reason. The reports
 * leave out OTP's time stamp, as the other OTP reports here do.
 *
 * Env: an application's env is its resource's env, overridden and extended
 * by the config's entry for it ({App, [{Key, Value}]} of the sys.config
 * given to the controller), when it is loaded, as OTP's. Env lookups are
 * calls to the controller, which answers them at every moment, even while
 * it is stopping the applications (so a stop callback may read its env).
 *
 * Every call below is made from a process or a plain thread and waits for
 * the controller's answer (GEN_DEFAULT_TIMEOUT: 5 s, except start and stop,
 * which wait as long as the application's start or stop takes). Errors:
 * -1 or NONE, with *error (if error is not NULL) set to OTP's shape, a term
 * in the caller's heap (erl_drop it when done):
 *   {already_loaded, App}  {not_loaded, App}  {running, App}
 *   {already_started, App} {not_started, App} (stop; or a required
 *                          application that is not running, at start)
 *   {Reason, {Mod, start, [StartType, StartArgs]}}  start gave an error
 *   {bad_return, {{Mod, start, [StartType, StartArgs]}, Value}}  start
 *                          returned something that is not a pid; Value is
 *                          {'EXIT', Reason} when it crashed
 *   {invalid_resource, What}  application_load of a bad resource
 *   noproc, timeout        no controller, or it did not answer in time
 * An application that is not loaded cannot be started ({not_loaded, App}):
 * there are no .app files to load it from.
 *
 * Start types (what start gets as StartType): normal; {takeover, Node} and
 * {failover, Node} when a distributed application moves (dist_policy.h).
 */
#ifndef APPLICATION_H
#define APPLICATION_H

#include <stdio.h>

#include "erl.h"

/* An application's callback module (OTP's mod = {Module, StartArgs}). */
struct application_module {
    const char *name;   /* the module's name, as errors show it: counter_app */
    /* Module:start(StartType, StartArgs): starts the application's top
     * process (its supervisor) linked to the caller, the application's
     * master, and returns its pid. *state (NONE when left alone) is what
     * stop gets, as OTP's {ok, Pid, State}. On failure returns NONE with
     * *error set to the reason. Terms it returns must outlive its frame
     * (immediates, parts of its arguments, or term_keep copies). It runs
     * inside erl_catch: a crash fails the start with {bad_return, ...}. */
    term (*start)(term start_type, term start_args, term *state, term *error);
    /* Module:stop(State): called after the top process has ended (stopped,
     * or ended by itself). NULL: nothing to do. */
    void (*stop)(term state);
};

/* An application resource: what an .app file says. The controller copies
 * every term at application_load; mod must stay valid while the
 * application is loaded (a static const struct, usually). */
struct application {
    const char *name;           /* the application: counter */
    const char *description;    /* "The counter", or NULL for "" */
    const char *vsn;            /* "1.0", or NULL for "" */
    term modules;               /* [atom]: its modules, for the record; NIL */
    term registered;            /* [atom]: the names it registers; NIL */
    term applications;          /* [atom]: what must run before it starts */
    term env;                   /* [{Key, Value}] with atom keys; NIL */
    const struct application_module *mod;  /* NULL: a library application
                                               (starts nothing, as OTP's) */
    term start_args;            /* mod's StartArgs; NONE is [] */
};

enum app_type {
    APP_TEMPORARY,      /* application:start/1's default */
    APP_TRANSIENT,
    APP_PERMANENT,
};

/* ---- The controller ------------------------------------------------------ */

struct application_options {
    term config;        /* a checked sys.config term (config_check_sys), or
                           NONE: the env entries loads merge in. Copied */
    /* Called when a permanent application (or a transient one, abnormally)
     * has ended, after the other applications were stopped: app and the
     * reason its top process ended with. NULL: the default above. It runs
     * in the controller's process. */
    void (*halt)(term app, term reason, void *ctx);
    void *halt_ctx;     /* passed to halt */
    int halt_status;    /* the default halt's exit status; 0 means 70 */
};

/* Starts the application controller, registered as application_controller,
 * with kernel loaded and started (a library application, permanent, whose
 * env is the config's kernel entry). opts may be NULL (no config, the
 * default halt). The controller is not linked to the caller. Returns its
 * pid, or NONE with *error set ({already_started, Pid} when one runs). */
term application_controller_start(const struct application_options *opts,
                                  term *error);

/* Stops every application, newest first (each reported as stopped), and
 * then the controller. Returns 0, or -1 with *error (noproc, timeout). */
int application_controller_stop(int timeout_ms, term *error);

/* ---- Loading, starting, stopping ----------------------------------------- */

/* application:load/1. Returns 0, or -1 with *error: {already_loaded, App},
 * {invalid_resource, What}. */
int application_load(const struct application *app, term *error);

/* application:unload/1: forgets a loaded application that is not running.
 * Returns 0, or -1 with *error: {not_loaded, App}, {running, App}. */
int application_unload(term app, term *error);

/* application:start/2 with StartType normal. Waits until start has
 * returned. Returns 0, or -1 with *error (see the top). */
int application_start(term app, enum app_type type, term *error);

/* As application_start, with start_type given to Module:start: normal,
 * {takeover, Node} or {failover, Node} (what a distributed application's
 * controller passes; dist_start_type in dist_policy.h). */
int application_start_as(term app, enum app_type type, term start_type,
                         term *error);

/* application:stop/1: stops the top process (exit shutdown, waits for it),
 * calls Module:stop(State), and forgets that it runs (it stays loaded).
 * Returns 0, or -1 with *error {not_started, App}. */
int application_stop(term app, term *error);

/* ---- Looking around ------------------------------------------------------ */

/* application:which_applications/0: [{App, Description, Vsn}] for the
 * running ones, newest first; Description and Vsn are Erlang strings
 * (lists of characters), as OTP's. A term in the caller's heap (erl_drop),
 * or NONE with *error. */
term application_which_applications(term *error);

/* application:loaded_applications/0: as which_applications, for every
 * loaded application. */
term application_loaded_applications(term *error);

/* The top process (supervisor) of a running application: its pid, or NONE
 * (not running, a library application, or no controller). */
term application_top(term app);

/* Its master (application_controller:get_master/1): the process that ends
 * when the application does, with the reason its top process ended with
 * (normal when it was stopped). NONE as application_top. */
term application_master(term app);

/* application:get_env/2: the value, a term in the caller's heap (erl_drop
 * it), or NONE (OTP's undefined) when app is not loaded or has no key. */
term application_get_env(term app, term key);

/* application:get_all_env/1: [{Key, Value}] (the caller's), NIL when app is
 * not loaded. */
term application_get_all_env(term app);

/* application:set_env/3 for a loaded application. Returns 0, or -1 with
 * *error {not_loaded, App} (OTP accepts it and loses it when the
 * application is loaded; here it is refused), or badarg when key is no
 * atom. */
int application_set_env(term app, term key, term value, term *error);

/* Where the controller writes its reports (the INFO REPORTs above). NULL
 * silences them. The default is stderr. Safe to call at any time. */
void application_set_report(FILE *out);

#endif
