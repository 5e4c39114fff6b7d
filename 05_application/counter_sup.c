/*
 * counter_sup.c - the counter's supervisor. See counter_sup.h.
 *
 * New since 04_supervisor: the global name, taken once the supervisor
 * runs (supervisor_start registers local names only).
 */
#include "counter.h"
#include "counter_sup.h"
#include "global.h"

static const struct sup_flags flags = {
    .strategy = SUP_ONE_FOR_ONE,    /* restart only the child that died */
    .intensity = 10,                /* 10 restarts ... */
    .period_s = 3600,               /* ... per hour; the 11th: give up */
};

/* The child's start function: counter:start_link(Initial), run in the
 * supervisor's process, so the counter is linked to the supervisor. */
static term start_counter(term initial, term *error)
{
    return counter_start_link(initial.u.integer, error);
}

term counter_sup_start_link(int64_t initial, term *error)
{
    struct sup_child_spec counter = {
        .id = ATOM("counter"),
        .start = start_counter,
        .arg = INT(initial),
        .restart = SUP_PERMANENT,   /* always restarted */
        .shutdown = 2000,           /* ms from exit(shutdown) to kill */
        .type = SUP_WORKER,
    };
    term sup = supervisor_start_link(COUNTER_SUP, flags, &counter, 1, error);
    if (is_none(sup) || counter_register_global(COUNTER_SUP, sup) == 0)
        return sup;
    if (error)
        *error = term_keep(TUPLE(ATOM("already_started"), global_whereis_name(COUNTER_SUP)));
    supervisor_stop(sup, ATOM("shutdown"), ERL_INFINITY, NULL);
    return NONE;
}
