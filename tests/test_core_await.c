/*
 * test_core_await.c - erl_await: a wait whose stack the runtime may take,
 * and the idle servers that cost no stack because of it.
 *
 * Run: make -C tests test-core   (or build/plain/tests/test_core_await --verbose)
 *
 * On one scheduler, which ring of waits a wait joins is known: a wait is
 * pushed out of it by AWAIT_KEPT (16) later waits of other processes, and
 * CROWD of them are always enough. An awaiter says, for every message it
 * takes, whether it took it where it waited or after starting again.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "erl.h"
#include "fiber.h"
#include "gen_server.h"
#include "test_util.h"

TestSuite(await_one, .timeout = 60, .init = start_one_scheduler, .fini = stop_runtime);
TestSuite(await, .timeout = 60, .init = start_runtime, .fini = stop_runtime);

/* Later waits that push any wait out of its scheduler's ring: twice the
 * ring's AWAIT_KEPT (sched.c). */
#define CROWD 32

/* A canary on the awaiter's stack: it must read the same after a wait. */
#define CANARY 0x5eed

/* ---- The awaiter --------------------------------------------------------- */

static void restarted(term owner);

/* Takes every message with erl_await and tells owner {got, Self, Msg,
 * Restarted}: Restarted is true for the first message after it started
 * again in restarted (its stack was taken), false when erl_await returned
 * on the stack it waited on. stop ends it. */
static _Noreturn void serve(term owner, bool again)
{
    volatile int canary = CANARY;
    for (;;) {
        term m = erl_await(restarted, owner);
        if (canary != CANARY)
            erl_exit_self(ATOM("stack_changed_under_it"));
        erl_send(owner, TUPLE(ATOM("got"), erl_self(), m, bool_atom(again)));
        again = false;
        if (is_atom_named(m, "stop"))
            erl_exit_self(ATOM("normal"));
        erl_drop(m);
    }
}

static void awaiter(term owner) { serve(owner, false); }

/* Where an awaiter whose stack was taken starts again: it tells owner
 * {started, Self} first. */
static void restarted(term owner)
{
    erl_send(owner, TUPLE(ATOM("started"), erl_self()));
    serve(owner, true);
}

/* Waits in erl_await once and then never wakes into anything: a crowd. */
static void idler(term arg)
{
    (void)arg;
    erl_send(arg, TUPLE(ATOM("ready"), erl_self()));
    for (;;)
        erl_drop(erl_await(idler, arg));
}

/* Finds a pid's entry in erl_processes. */
static void find_info(const struct erl_proc_info *info, void *ctx)
{
    struct erl_proc_info *want = ctx;
    if (term_eq(info->pid, want->pid))
        *want = *info;
}

/* Waits until pid is listed as waiting, and returns its entry. */
static struct erl_proc_info await_waiting(term pid)
{
    int64_t deadline = now_ns() + (int64_t)WAIT_MS * 1000000;
    for (;;) {
        struct erl_proc_info info = {.pid = pid};
        erl_processes(find_info, &info);
        if (info.status && strcmp(info.status, "waiting") == 0)
            return info;
        cr_assert(now_ns() < deadline, "%s not waiting within %d ms", FMT(pid), WAIT_MS);
        erl_yield();
    }
}

/* Sends msg to pid and returns whether pid took it after starting again;
 * asserts it took that very message. */
static bool send_and_see(term pid, term msg)
{
    erl_send(pid, msg);
    term again;
    term m = await(TUPLE(ATOM("got"), pid, msg, VAR(&again)), "{got, Pid, Msg, _}");
    bool was = is_atom_named(again, "true");
    erl_drop(m);
    return was;
}

/* Starts n idlers, one after the other, each waiting before the next
 * starts, so that each wait comes after the last; returns the last. */
static term crowd(int n)
{
    term pid = NONE;
    for (int i = 0; i < n; i++) {
        pid = erl_spawn(idler, erl_self());
        erl_drop(await(TUPLE(ATOM("ready"), pid), "{ready, Pid}"));
        await_waiting(pid);
    }
    return pid;
}

/* An awaiter serving owner, waiting; then a crowd waits after it, which
 * takes its stack. */
static term stackless_awaiter_of(term owner)
{
    term pid = erl_spawn(awaiter, owner);
    await_waiting(pid);
    crowd(CROWD);
    return pid;
}

static term stackless_awaiter(void) { return stackless_awaiter_of(erl_self()); }

/* A relay: on {send, To, Msg}, sends Msg to To and waits for To's {got,
 * ...}, which it forwards to owner, and To's {started, ...} before it if
 * one comes. A process calling an awaiter: its scheduler hands off from
 * it to the awaiter (stackless or not) and back. */
static void relay(term owner)
{
    for (;;) {
        term to, msg;
        term m = erl_receive(TUPLE(ATOM("send"), VAR(&to), VAR(&msg)), ERL_INFINITY);
        erl_send(to, msg);
        for (;;) {
            size_t which = 0;
            term got = erl_receive_any((term[]){TUPLE(ATOM("got"), to, ANY, ANY),
                                                TUPLE(ATOM("started"), to)},
                                       2, ERL_INFINITY, &which);
            erl_send(owner, got);
            erl_drop(got);
            if (which == 0)
                break;
        }
        erl_drop(m);
    }
}

/* ---- Tests ---------------------------------------------------------------- */

Test(await_one, a_busy_awaiter_takes_every_message_where_it_waited)
{
    term pid = erl_spawn(awaiter, erl_self());
    for (int i = 0; i < 200; i++)
        cr_assert(!send_and_see(pid, TUPLE(ATOM("n"), INT(i))),
                  "message %d: it started again, with no crowd waiting after it", i);
    cr_assert(!send_and_see(pid, ATOM("stop")));
}

Test(await_one, a_wait_that_a_crowd_passed_starts_again_at_its_message)
{
    term pid = stackless_awaiter();
    cr_assert(send_and_see(pid, ATOM("first")), "its stack was not taken");
    /* Awake again and busy: it keeps the stack it started on. */
    cr_assert(!send_and_see(pid, ATOM("second")));
}

Test(await_one, messages_sent_while_stackless_all_arrive_in_order)
{
    term pid = stackless_awaiter();
    for (int i = 0; i < 5; i++)
        erl_send(pid, INT(i));
    erl_drop(await(TUPLE(ATOM("started"), pid), "{started, Pid}"));
    for (int i = 0; i < 5; i++) {
        term v, again;
        term m = await(TUPLE(ATOM("got"), pid, VAR(&v), VAR(&again)), "{got, Pid, _, _}");
        cr_assert(term_eq(v, INT(i)), "message %d came as %s", i, FMT(v));
        cr_assert_eq(is_atom_named(again, "true"), i == 0,
                     "message %d: restarted is %s", i, FMT(again));
        erl_drop(m);
    }
}

Test(await_one, a_process_hands_off_to_a_stackless_awaiter_and_back)
{
    term r = erl_spawn(relay, erl_self());
    term pid = stackless_awaiter_of(r);
    for (int i = 0; i < 3; i++) {
        erl_send(r, TUPLE(ATOM("send"), pid, INT(i)));
        if (i == 0)
            erl_drop(await(TUPLE(ATOM("started"), pid), "{started, Pid}"));
        term again;
        term m = await(TUPLE(ATOM("got"), pid, INT(i), VAR(&again)), "{got, Pid, I, _}");
        cr_assert_eq(is_atom_named(again, "true"), i == 0, "call %d: restarted is %s", i,
                     FMT(again));
        erl_drop(m);
    }
}

Test(await_one, an_awaiter_is_listed_waiting_and_not_hibernated)
{
    term pid = erl_spawn(awaiter, erl_self());
    cr_assert(!await_waiting(pid).hibernated, "listed hibernated with its stack");
    crowd(CROWD);
    cr_assert(!await_waiting(pid).hibernated, "listed hibernated without its stack");
}

Test(await_one, signals_reach_a_stackless_awaiter_without_waking_it_into_fn)
{
    term pid = stackless_awaiter();
    term ref = erl_monitor(pid);
    cr_assert_eq(erl_link(pid), 0);
    int64_t deadline = now_ns() + (int64_t)WAIT_MS * 1000000;
    for (;;) {
        struct erl_proc_info info = await_waiting(pid);
        if (info.links == 1)
            break;
        cr_assert(now_ns() < deadline, "the link never took effect in it");
        erl_yield();
    }
    /* Waiting again, the link taken: had it entered fn, it would have
     * said so before it waited. */
    expect_no_message(TUPLE(ATOM("started"), pid));
    expect_no_message(TUPLE(ATOM("got"), pid, ANY, ANY));
    cr_assert(send_and_see(pid, ATOM("ping")), "it did not start again in fn at its message");
    erl_drop(await(TUPLE(ATOM("started"), pid), "{started, Pid}"));
    erl_unlink(pid);
    erl_exit(pid, ATOM("kill"));
    expect_down(ref, ATOM("killed"));
}

Test(await_one, kill_ends_a_stackless_awaiter)
{
    term pid = stackless_awaiter();
    term ref = erl_monitor(pid);
    erl_exit(pid, ATOM("kill"));
    expect_down(ref, ATOM("killed"));
}

Test(await_one, a_crowd_of_idle_awaiters_holds_few_stacks)
{
    size_t before = stack_pool_made();
    crowd(1000);
    size_t made = stack_pool_made() - before;
    /* The ring's 16, the cache's 8, the pool's and a few in flight. */
    cr_assert_leq(made, 64, "1000 idle awaiters made %zu stacks", made);
}

/* ---- Idle servers -------------------------------------------------------- */

static gen_result keeper_init(term v) { return gen_ok(v); }

static gen_result keeper_call(term req, term from, term state)
{
    (void)from;
    term v;
    if (match(req, TUPLE(ATOM("set"), VAR(&v))))
        return gen_reply(ATOM("ok"), v);
    return gen_reply(state, state);     /* get */
}

/* A server that keeps one value: get, {set, V}. */
static const struct gen_server_module keeper = {
    .name = "keeper",
    .init = keeper_init,
    .handle_call = keeper_call,
};

static term keeper_start(term v)
{
    term error = NONE;
    term pid = gen_server_start(NONE, &keeper, v, 0, &error);
    cr_assert(is_pid(pid), "start failed: %s", FMT(error));
    return pid;
}

static term call(term pid, term req)
{
    term error = NONE;
    term r = gen_server_call(pid, req, WAIT_MS, &error);
    cr_assert(!is_none(r), "call failed: %s", FMT(error));
    return r;
}

/* Every server of a crowd keeps its state while idle, its stack taken,
 * and serves on: on every scheduler, whichever ring each wait joined. */
Test(await, idle_servers_behind_a_crowd_keep_their_state_and_serve)
{
    enum { SERVERS = 200 };
    term pids[SERVERS];
    size_t before = stack_pool_made();
    for (int i = 0; i < SERVERS; i++)
        pids[i] = keeper_start(TUPLE(ATOM("v"), INT(i), STR("kept in the heap")));
    /* Each scheduler's ring keeps 16 and its cache 8: the rest went. */
    size_t made = stack_pool_made() - before;
    cr_assert_lt(made, SERVERS / 2, "%d idle servers made %zu stacks", SERVERS, made);
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < SERVERS; i++) {
            term want = TUPLE(ATOM("v"), INT(i + round), STR("kept in the heap"));
            cr_assert(term_eq(call(pids[i], ATOM("get")), want), "server %d, round %d", i,
                      round);
            term next = TUPLE(ATOM("v"), INT(i + round + 1), STR("kept in the heap"));
            cr_assert(term_eq(call(pids[i], TUPLE(ATOM("set"), next)), ATOM("ok")));
        }
    for (int i = 0; i < SERVERS; i++) {
        term error = NONE;
        cr_assert_eq(gen_server_stop(pids[i], ATOM("normal"), WAIT_MS, &error), 0, "%s",
                     FMT(error));
    }
}
