/*
 * supervisor_child.c - a supervisor's hands on one child: reports, starting
 * a child, and stopping one or many as their shutdown says.
 * See supervisor.h for the contract, supervisor_internal.h for the split.
 */
#include <stdatomic.h>

#include "supervisor_internal.h"

/* ---- Reports ------------------------------------------------------------- */

/* Where reports go. report_chosen stays false until supervisor_set_report is
 * first called: until then reports go to stderr. Atomic because any
 * supervisor process, on any scheduler thread, reads them. */
static FILE *_Atomic report_out;
static atomic_bool report_chosen;

void supervisor_set_report(FILE *out)
{
    atomic_store(&report_out, out);
    atomic_store(&report_chosen, true);
}

static FILE *report_file(void)
{
    return atomic_load(&report_chosen) ? atomic_load(&report_out) : stderr;
}

/* ---- Reports (need the child) -------------------------------------------- */

/* Writes one report as OTP's logger does, in one piece. */
void sup_report(const struct sup *s, const char *context, term reason,
                   const struct child *c)
{
    FILE *out = report_file();
    if (!out)
        return;
    char who[128], why[512], id[128], pid[64];
    term_format(who, sizeof who, is_none(s->name) ? s->self : s->name);
    term_format(why, sizeof why, reason);
    term_format(id, sizeof id, c ? c->id : ATOM("undefined"));
    term_format(pid, sizeof pid, c && !is_none(c->pid) ? c->pid : ATOM("undefined"));
    fprintf(out, "=SUPERVISOR REPORT====\n"
                 "    supervisor: %s\n"
                 "    errorContext: %s\n"
                 "    reason: %s\n"
                 "    offender: [{pid,%s},{id,%s}]\n",
            who, context, why, pid, id);
}

void sup_report_unexpected(const struct sup *s, term msg)
{
    FILE *out = report_file();
    if (!out)
        return;
    char who[128], what[512];
    term_format(who, sizeof who, is_none(s->name) ? s->self : s->name);
    term_format(what, sizeof what, msg);
    fprintf(out, "=ERROR REPORT==== supervisor %s received unexpected "
                 "message: %s\n", who, what);
}

/* ---- Starting and stopping one child ------------------------------------- */

/* A start function's call, as erl_catch runs it. */
struct start_call {
    const struct child *c;  /* whose start function */
    term pid;               /* what it returned */
    term err;               /* what it set *error to; NONE if nothing */
};

static void call_start(void *ctx)
{
    struct start_call *sc = ctx;
    sc->pid = sc->c->start(sc->c->arg, &sc->err);
}

/*
 * Runs c's start function here, in the supervisor's process (which is why a
 * child can link to it), inside erl_catch, as OTP's supervisor calls
 * M:F(A) inside a catch: a start function that exits or faults fails the
 * start with {'EXIT', Reason} and the supervisor goes on. Returns START_OK
 * with c running, START_IGNORED, or START_FAILED with *reason set to a kept
 * copy the caller must erl_drop. Whatever the start function left in this
 * process's heap is given back. On IGNORED and FAILED, c is left as it was.
 */
int sup_child_start(struct child *c, term *reason)
{
    erl_heap_mark_t mark = erl_heap_mark();
    struct start_call sc = {c, NONE, NONE};
    term crash;
    if (!erl_catch(call_start, &sc, &crash)) {
        *reason = sup_settle(mark, TUPLE(ATOM("EXIT"), crash));
        return START_FAILED;
    }
    term err = sc.err, pid = sc.pid;
    if (is_pid(pid)) {
        erl_heap_release(mark);
        c->state = CHILD_RUNNING;
        c->pid = pid;
        return START_OK;
    }
    if (is_none(pid) && is_atom_named(err, "ignore")) {
        erl_heap_release(mark);
        return START_IGNORED;
    }
    if (!is_none(pid))
        *reason = sup_settle(mark, pid);    /* OTP: What -> {error, What} */
    else
        *reason = sup_settle(mark, is_none(err) ? ATOM("undefined") : err);
    return START_FAILED;
}

/* OTP's unlink_flush: unlinking makes sure a dead child's 'EXIT' has
 * arrived; takes it (into *msg, for the caller to erl_drop) and returns its
 * reason, or reason when there is none (*msg is NONE then). */
term sup_unlink_flush(term pid, term reason, term *msg)
{
    term r;
    erl_unlink(pid);
    *msg = erl_receive(TUPLE(ATOM("EXIT"), pid, VAR(&r)), 0);
    return is_none(*msg) ? reason : r;
}

/* normal, shutdown and {shutdown, _}: the ends a transient child may have
 * without being restarted (and without a report). */
bool sup_is_normal_end(term reason)
{
    return is_atom_named(reason, "normal") || is_atom_named(reason, "shutdown") ||
           (is_tuple(reason) && reason.size == 2 &&
            is_atom_named(element(1, reason), "shutdown"));
}

/* True when a child ended the way a shutdown asked it to, as OTP's
 * shutdown/1 judges: anything else is reported as a shutdown_error. */
static bool ended_as_asked(const struct child *c, term reason, bool brutal)
{
    if (is_atom_named(reason, brutal ? "killed" : "shutdown"))
        return true;
    return c->restart != SUP_PERMANENT && sup_is_normal_end(reason);
}

/*
 * Stops a running child as its shutdown says, and waits until it is gone.
 * A monitor tells us, not its 'EXIT': a child that unlinked itself could
 * otherwise hang the supervisor (OTP does the same). Afterwards c is STOPPED;
 * the caller decides whether to forget it.
 */
void sup_child_stop(const struct sup *s, struct child *c)
{
    if (c->state != CHILD_RUNNING) {
        c->state = CHILD_STOPPED;
        c->pid = NONE;
        return;
    }
    term pid = c->pid, reason = NONE;
    bool brutal = c->shutdown == SUP_BRUTAL_KILL;
    term mon = erl_monitor(pid);
    term down = TUPLE(ATOM("DOWN"), mon, ATOM("process"), pid, VAR(&reason));
    erl_exit(pid, brutal ? ATOM("kill") : ATOM("shutdown"));
    term down_msg = erl_receive(down, brutal ? ERL_INFINITY : c->shutdown);
    if (is_none(down_msg)) {
        erl_exit(pid, ATOM("kill"));    /* it took longer than allowed */
        down_msg = erl_receive(down, ERL_INFINITY);
    }
    term exit_msg;
    reason = sup_unlink_flush(pid, reason, &exit_msg);
    if (!ended_as_asked(c, reason, brutal))
        sup_report(s, "shutdown_error", reason, c);
    erl_drop(exit_msg);
    erl_drop(down_msg);
    c->state = CHILD_STOPPED;
    c->pid = NONE;
}

/* Stops the children from index from to the last, newest first, as OTP's
 * terminate_children; the ones forgotten when stopped are removed. */
void sup_kids_stop_from(struct sup *s, size_t from)
{
    for (size_t i = s->nkids; i-- > from;) {
        sup_child_stop(s, s->kids[i]);
        if (sup_forgotten_when_stopped(s, s->kids[i]))
            sup_kids_remove(s, i);
    }
}

/*
 * Stops every simple_one_for_one instance at once, as OTP's
 * terminate_dynamic_children: each is sent its exit signal first, then they
 * are waited for under one deadline, so a thousand slow instances cost one
 * shutdown time, not a thousand.
 */
void sup_instances_stop_all(struct sup *s)
{
    const struct child *t = s->template;
    bool brutal = t->shutdown == SUP_BRUTAL_KILL;
    term *mons = sup_alloc(s->nkids * sizeof *mons);
    for (size_t i = 0; i < s->nkids; i++) {
        if (s->kids[i]->state != CHILD_RUNNING)
            continue;
        mons[i] = erl_monitor(s->kids[i]->pid);
        erl_exit(s->kids[i]->pid, brutal ? ATOM("kill") : ATOM("shutdown"));
    }
    int64_t deadline = t->shutdown >= 0 ? sup_now_ms() + t->shutdown : -1;
    bool killed = false;
    for (size_t i = 0; i < s->nkids; i++) {
        struct child *c = s->kids[i];
        if (c->state != CHILD_RUNNING)
            continue;
        term reason = NONE;
        term down = TUPLE(ATOM("DOWN"), mons[i], ATOM("process"), c->pid, VAR(&reason));
        int wait = ERL_INFINITY;
        if (deadline >= 0 && !killed) {
            int64_t left = deadline - sup_now_ms();
            wait = left > 0 ? (int)left : 0;
        }
        term down_msg = erl_receive(down, wait);
        if (is_none(down_msg)) {
            for (size_t j = i; j < s->nkids; j++)     /* time is up for all */
                if (s->kids[j]->state == CHILD_RUNNING)
                    erl_exit(s->kids[j]->pid, ATOM("kill"));
            killed = true;
            down_msg = erl_receive(down, ERL_INFINITY);
        }
        term exit_msg;
        reason = sup_unlink_flush(c->pid, reason, &exit_msg);
        if (!ended_as_asked(c, reason, brutal))
            sup_report(s, "shutdown_error", reason, c);
        erl_drop(exit_msg);
        erl_drop(down_msg);
        c->state = CHILD_STOPPED;
    }
    sup_free(mons, s->nkids * sizeof *mons);
    while (s->nkids > 0)
        sup_kids_remove(s, s->nkids - 1);
}
