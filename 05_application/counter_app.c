/*
 * counter_app.c - the application callback and resource. See counter_app.h.
 */
#include <stdio.h>

#include "counter_app.h"
#include "counter_sup.h"
#include "global.h"

/* Prints "counter_app: what on Node". */
static void say(const char *what, term arg)
{
    char a[256], n[256];
    term_format(a, sizeof a, arg);
    term_format(n, sizeof n, erl_node());
    printf("counter_app: %s(%s, []) on %s\n", what, a, n);
}

#define SYNC_WAIT_MS 2000   /* the most a takeover waits to learn the names */

/* global:sync(), as counter_app.erl calls it before a takeover: waits (up
 * to 2 s) until this node, just connected, has learnt the old instance's
 * global names from the other nodes. Unregistering them before they arrive
 * would be undone by their arrival, and the new supervisor's name refused. */
static void await_old_names(void)
{
    for (int waited = 0; waited < SYNC_WAIT_MS; waited++) {
        if (!is_none(global_whereis_name(COUNTER_SUP)) &&
            !is_none(global_whereis_name(ATOM("counter"))))
            return;
        erl_sleep(1);
    }
}

/* Module:start(StartType, []). */
static term start(term type, term args, term *state, term *error)
{
    (void)args, (void)state;
    say("start", type);
    term initial = application_get_env(ATOM(COUNTER_APP), ATOM("initial"));
    int64_t value = is_int(initial) ? initial.u.integer : 0;
    if (match(type, TUPLE(ATOM("takeover"), ANY))) {
        await_old_names();
        global_unregister_name(COUNTER_SUP);     /* the old instance's names */
        global_unregister_name(ATOM("counter"));
    }
    return counter_sup_start_link(value, error);
}

/* Module:stop(State). */
static void stop(term state)
{
    char n[256];
    (void)state;
    term_format(n, sizeof n, erl_node());
    printf("counter_app: stop([]) on %s\n", n);
}

static const struct application_module counter_app = {
    .name = "counter_app",
    .start = start,
    .stop = stop,
};

int counter_app_load(term *error)
{
    struct application resource = {
        .name = COUNTER_APP,
        .description = "The counter, distributed over nodes a, b and c",
        .vsn = "1.0",
        .modules = LIST(ATOM("counter"), ATOM("counter_sup"), ATOM("counter_app")),
        .registered = LIST(ATOM("counter_sup"), ATOM("counter")),
        .applications = LIST(ATOM("kernel")),
        .env = LIST(TUPLE(ATOM("initial"), INT(0))),
        .mod = &counter_app,
        .start_args = NIL,
    };
    return application_load(&resource, error);     /* it copies the terms */
}
