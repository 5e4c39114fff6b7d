/*
 * supervisor_restart.c - what a supervisor does when a child dies: restart
 * intensity (how many restarts within how long), then the strategies.
 * See supervisor.h for the contract, supervisor_internal.h for the split.
 */
#include "supervisor_internal.h"

/* ---- Restarts ------------------------------------------------------------ */

/*
 * Records a restart now, forgetting the ones older than the period. Returns
 * false when this one is one too many: intensity restarts are allowed within
 * period_s seconds, as OTP's add_restart counts them.
 */
static bool restart_allowed(struct sup *s)
{
    int64_t now = sup_now_ms(), period = (int64_t)s->flags.period_s * 1000;
    size_t keep = 0;
    for (size_t i = 0; i < s->nrestarts; i++)
        if (now - s->restarts[i] < period)
            s->restarts[keep++] = s->restarts[i];
    s->nrestarts = keep;
    if (s->nrestarts >= (size_t)s->flags.intensity)
        return false;
    if (s->nrestarts == s->restarts_cap) {
        size_t cap = s->restarts_cap ? 2 * s->restarts_cap : 8;
        s->restarts = sup_grow(s->restarts, s->restarts_cap * sizeof *s->restarts,
                                cap * sizeof *s->restarts);
        s->restarts_cap = cap;
    }
    s->restarts[s->nrestarts++] = now;
    return true;
}

/* Asks this supervisor to try c again once it has looked at its mailbox, as
 * OTP's try_again_restart: calls queued meanwhile (a stop, say) come first.
 * An instance is named {restarting, OldPid}, the others by id. */
static void try_again(const struct sup *s, const struct child *c)
{
    term key = s->template ? TUPLE(ATOM("restarting"), c->pid) : c->id;
    erl_send(s->self, TUPLE(ATOM("$gen_cast"), TUPLE(ATOM("try_again_restart"), key)));
}

/* A start failed during a restart: c waits for another try. Drops reason. */
static void restart_failed(const struct sup *s, struct child *c, term reason)
{
    sup_report(s, "start_error", reason, c);
    erl_drop(reason);
    c->state = CHILD_RESTARTING;
    try_again(s, c);
}

/* one_for_one and simple_one_for_one: starts c again, alone. */
static void restart_one(struct sup *s, struct child *c)
{
    term reason = NONE;
    switch (sup_child_start(c, &reason)) {
    case START_OK: break;
    case START_IGNORED: sup_child_del(s, c); break;
    case START_FAILED: restart_failed(s, c, reason); break;
    }
}

/* rest_for_one and one_for_all: stops the children from index from on,
 * newest first, then starts them again in order. A failure leaves that child
 * restarting and the later ones stopped, to be tried again from it. */
static void restart_from(struct sup *s, size_t from)
{
    sup_kids_stop_from(s, from);
    for (size_t i = from; i < s->nkids;) {
        struct child *c = s->kids[i];
        term reason = NONE;
        int r = sup_child_start(c, &reason);
        if (r == START_FAILED) {
            restart_failed(s, c, reason);
            return;
        }
        if (r == START_IGNORED && c->restart == SUP_TEMPORARY)
            sup_kids_remove(s, i);
        else
            i++;
    }
}

/* Restarts c (which is not running) and whatever the strategy takes along.
 * Returns false when that is one restart too many: the supervisor must give
 * up. */
bool sup_restart(struct sup *s, struct child *c)
{
    if (!restart_allowed(s)) {
        sup_report(s, "shutdown", ATOM("reached_max_restart_intensity"), c);
        sup_child_del(s, c);
        return false;
    }
    switch (s->flags.strategy) {
    case SUP_ONE_FOR_ONE:
    case SUP_SIMPLE_ONE_FOR_ONE: restart_one(s, c); break;
    case SUP_REST_FOR_ONE: restart_from(s, (size_t)sup_kid_index(s, c)); break;
    case SUP_ONE_FOR_ALL: restart_from(s, 0); break;
    }
    return true;
}

/* OTP's do_restart: the running child c has exited with reason. Returns
 * false when the supervisor must give up. */
bool sup_child_exited(struct sup *s, struct child *c, term reason)
{
    bool quiet = c->restart != SUP_PERMANENT && sup_is_normal_end(reason);
    if (!quiet)
        sup_report(s, "child_terminated", reason, c);
    c->state = CHILD_STOPPED;   /* c->pid stays: it names an instance */
    if (c->restart == SUP_PERMANENT || (c->restart == SUP_TRANSIENT && !quiet))
        return sup_restart(s, c);
    sup_child_del(s, c);
    return true;
}
