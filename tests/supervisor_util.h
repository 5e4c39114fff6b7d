/*
 * supervisor_util.h - what the supervisor's suites share
 * (test_core_supervisor.c, test_core_supervisor_children.c).
 *
 * The children here are plain linked processes, not gen_servers, so these
 * suites test the supervisor alone. Each child reports to a collector (the
 * test thread) as {event, started, Id, Pid} when it starts and, if it traps
 * exits, {event, stopping, Id, Reason} when its supervisor tells it to go.
 * The order of those events is the order the supervisor did things in:
 * a child reports its start before its start function returns, and a
 * stopping child reports before it dies, which is before the supervisor
 * moves on to the next one.
 *
 * Everything here is static (see test_util.h); a suite that leaves some of
 * it unused is not warned (the pragma below).
 */
#ifndef SUPERVISOR_UTIL_H
#define SUPERVISOR_UTIL_H

#pragma GCC diagnostic ignored "-Wunused-function"
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "supervisor.h"
#include "sys.h"
#include "test_util.h"

static void setup(void)
{
    start_runtime();
    supervisor_set_report(NULL);    /* the crashes here are on purpose */
}

/* ---- Children ------------------------------------------------------------ */

/* How long a "hold" child takes to stop, ms. */
#define HOLD_MS 300

/*
 * A child: arg is {Supervisor, {Collector, Id, Mode}}. Modes:
 *   plain   does not trap exits: an exit signal kills it
 *   trap    traps exits; on {'EXIT', _, R} reports stopping, exits with R
 *   hold    as trap, but takes HOLD_MS to stop
 *   slow    as trap, but never stops: only kill ends it
 * Any mode obeys {exit, Reason} (exits with Reason) from the test.
 */
static void child_main(term arg)
{
    term sup, collector, id, mode;
    cr_assert(match(arg, TUPLE(VAR(&sup), TUPLE(VAR(&collector), VAR(&id), VAR(&mode)))));
    if (!is_atom_named(mode, "plain"))
        erl_trap_exit(true);
    erl_send(collector, TUPLE(ATOM("event"), ATOM("started"), id, erl_self()));
    erl_send(sup, TUPLE(ATOM("ready"), erl_self()));
    for (;;) {
        term reason;
        term m = erl_receive(ANY, ERL_INFINITY);
        if (match(m, TUPLE(ATOM("exit"), VAR(&reason))))
            erl_exit_self(reason);
        if (match(m, TUPLE(ATOM("EXIT"), ANY, VAR(&reason)))) {
            erl_send(collector, TUPLE(ATOM("event"), ATOM("stopping"), id, reason));
            if (is_atom_named(mode, "slow"))
                erl_receive(ATOM("never_sent"), ERL_INFINITY);
            if (is_atom_named(mode, "hold"))
                erl_sleep(HOLD_MS);
            erl_exit_self(reason);
        }
        erl_drop(m);
    }
}

/*
 * The start function: arg is {Collector, Id, Mode}. Mode fail makes it
 * return {error, no_luck}, ignore makes it ignore, bogus makes it return
 * 42 (neither a pid nor NONE), exit and divzero make it crash (exit
 * gave_up, a division by zero); any other starts a child
 * linked to the supervisor and waits until it is ready, as proc_lib does.
 */
static term child_start(term arg, term *error)
{
    term mode = element(3, arg);
    if (is_atom_named(mode, "fail")) {
        *error = ATOM("no_luck");
        return NONE;
    }
    if (is_atom_named(mode, "ignore")) {
        *error = ATOM("ignore");
        return NONE;
    }
    if (is_atom_named(mode, "bogus"))
        return INT(42);
    if (is_atom_named(mode, "exit"))
        erl_exit_self(ATOM("gave_up"));
    if (is_atom_named(mode, "divzero"))
        return INT(divide_by(0));
    term pid = erl_spawn_link(child_main, TUPLE(erl_self(), arg));
    erl_drop(erl_receive(TUPLE(ATOM("ready"), pid), ERL_INFINITY));
    return pid;
}

/* How many of flaky_start's next calls fail. Each test runs in a process
 * of its own, so one counter per test. */
static atomic_int flaky_failures;

/* child_start, but while flaky_failures is above zero it counts it down,
 * reports {event, failed, Id, Left} and fails. */
static term flaky_start(term arg, term *error)
{
    int left = atomic_load(&flaky_failures);
    if (left > 0) {
        atomic_store(&flaky_failures, left - 1);
        erl_send(element(1, arg), TUPLE(ATOM("event"), ATOM("failed"), element(2, arg),
                                        INT(left - 1)));
        *error = ATOM("flaky");
        return NONE;
    }
    return child_start(arg, error);
}

/* simple_one_for_one: arg is the list [Collector, Mode, Id]. */
static term instance_start(term arg, term *error)
{
    cr_assert(is_list(arg) && arg.size == 3);
    const term *v = arg.u.elements;
    return child_start(TUPLE(v[0], v[2], v[1]), error);
}

/* A worker spec reporting to the caller; valid in the enclosing block. */
#define WORKER(id, mode, restart, shutdown)                                   \
    ((struct sup_child_spec){(id), child_start,                               \
                             TUPLE(erl_self(), (id), ATOM(mode)), (restart),  \
                             (shutdown), SUP_WORKER})

#define FLAGS(strategy, intensity, period) \
    ((struct sup_flags){(strategy), (intensity), (period)})

/* ---- Watching ------------------------------------------------------------ */

/* Takes the next event and checks it is kind for id. Returns its data. */
static term expect_event(const char *kind, term id)
{
    term k, who, data;
    term m = erl_receive(TUPLE(ATOM("event"), VAR(&k), VAR(&who), VAR(&data)), WAIT_MS);
    cr_assert(!is_none(m), "no event within %d ms; expected %s %s", WAIT_MS, kind,
              FMT(id));
    cr_assert(is_atom_named(k, kind) && term_eq(who, id),
              "event %s %s, expected %s %s", FMT(k), FMT(who), kind, FMT(id));
    return data;
}

static term expect_started(term id)
{
    term pid = expect_event("started", id);
    cr_assert(is_pid(pid));
    return pid;
}

static void expect_stopping(term id, term reason)
{
    term r = expect_event("stopping", id);
    cr_assert(term_eq(r, reason), "%s stopping with %s, expected %s", FMT(id),
              FMT(r), FMT(reason));
}

/* No event is waiting. */
static void expect_no_event(void)
{
    expect_no_message(TUPLE(ATOM("event"), ANY, ANY, ANY));
}

/* The Pid field which_children gives for id (a pid, undefined or
 * restarting), or NONE when id is not among the children. */
static term child_pid(term sup, term id)
{
    term error = NONE;
    term kids = supervisor_which_children(sup, &error);
    cr_assert(!is_none(kids), "which_children failed: %s", FMT(error));
    term found = NONE;
    for (size_t i = 0; i < kids.size; i++)
        if (term_eq(element(1, kids.u.elements[i]), id))
            found = element(2, kids.u.elements[i]);
    erl_drop(kids);
    return found;
}

/* Waits until the supervisor has handled old's exit: its entry for id no
 * longer shows old. Returns what it shows now. */
static term await_handled(term sup, term id, term old)
{
    term ref = erl_monitor(old);
    await_down(ref);
    term now;
    while (term_eq(now = child_pid(sup, id), old))
        erl_yield();
    return now;
}

/* Starts a linked supervisor and fails the test if it does not start. */
static term start_sup(struct sup_flags flags, const struct sup_child_spec *specs, size_t n)
{
    term error = NONE;
    term sup = supervisor_start_link(NONE, flags, specs, n, &error);
    cr_assert(is_pid(sup), "supervisor_start_link failed: %s", FMT(error));
    return sup;
}

static void stop_sup(term sup)
{
    term error = NONE;
    cr_assert_eq(supervisor_stop(sup, ATOM("normal"), WAIT_MS, &error), 0,
                 "supervisor_stop failed: %s", FMT(error));
}

/* Starts a, b, c (and d when n is 4), trapping, under strategy. */
static term start_abcd(enum sup_strategy strategy, size_t n, term pids[4])
{
    struct sup_child_spec specs[] = {
        WORKER(ATOM("a"), "trap", SUP_PERMANENT, 5000),
        WORKER(ATOM("b"), "trap", SUP_PERMANENT, 5000),
        WORKER(ATOM("c"), "trap", SUP_PERMANENT, 5000),
        WORKER(ATOM("d"), "trap", SUP_PERMANENT, 5000),
    };
    term sup = start_sup(FLAGS(strategy, 5, 60), specs, n);
    pids[0] = expect_started(ATOM("a"));
    pids[1] = expect_started(ATOM("b"));
    pids[2] = expect_started(ATOM("c"));
    if (n == 4)
        pids[3] = expect_started(ATOM("d"));
    return sup;
}

#endif
