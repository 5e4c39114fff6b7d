/*
 * test_core_sched.c - the scheduler's progress guarantee, process slots,
 * the erlang module's timers, and erl_dist_defer's flush after a run.
 *
 * Run: make test-core   (or build/plain/tests/test_core_sched --verbose)
 *
 * The guarantee (common/runtime/sched.c): every runnable process and every due timer
 * is seen by a scheduler that is awake or will wake within a bound. The
 * progress tests keep one scheduler of two inside a C loop that does not
 * call the runtime for BUSY_MS, and check that the other one still runs what
 * must run: "on time" is well before the loop ends. One more runs a ring of
 * processes that switch straight to each other (handoffs) on one scheduler,
 * and counts the hops a process queued behind them waits.
 *
 * Under the sanitizers the slot test uses max_procs / SAN_DIVISOR and the
 * start/stop cycles run fewer times (test_util.h).
 */
#include <criterion/criterion.h>
#include <errno.h>

#include <sched.h>
#include <stdatomic.h>

#include "dist.h"
#include "erl.h"
#include "test_util.h"

TestSuite(progress, .timeout = 60, .fini = stop_runtime);
TestSuite(slots, .timeout = 60, .fini = stop_runtime);
TestSuite(timers, .timeout = 30, .init = start_two_schedulers, .fini = stop_runtime);
TestSuite(timer_owner, .timeout = 30, .fini = stop_and_check_leaks);

/* How long a busy process computes without calling the runtime, in ms. */
#define BUSY_MS 2000

/* Well before the busy loop ends: what "on time" means here, in ms. */
#define ON_TIME_MS (BUSY_MS / 2)

static int64_t ms_since(int64_t t0) { return (now_ns() - t0) / 1000000; }

/* Spins for ms without calling the runtime (a C loop that computes). */
static void compute_for(int ms) {
    int64_t end = now_ns() + (int64_t)ms * 1000000;
    while (now_ns() < end)
        ;
}

/* ---- Processes the tests spawn ------------------------------------------- */

/* Computes for BUSY_MS. */
static void busy(term arg) {
    (void)arg;
    compute_for(BUSY_MS);
}

/* {Owner, Ms}: spawns a busy process, which runs next on this scheduler,
 * then waits Ms in receive and tells Owner {waited, Self, ElapsedMs}. */
static void wait_behind_busy(term arg) {
    int ms = (int)element(2, arg).u.integer;
    erl_spawn(busy, NONE);
    int64_t t0 = now_ns();
    erl_receive(ATOM("never_sent"), ms);
    erl_send(element(1, arg), TUPLE(ATOM("waited"), erl_self(), INT(ms_since(t0))));
}

/* {Owner, Starter}: tells Starter {ready, Self}, waits for {go, SentAt},
 * then tells Owner {woke, Self, MsSinceGoWasSent}. */
static void wake_reporter(term arg) {
    term sent;
    erl_send(element(2, arg), TUPLE(ATOM("ready"), erl_self()));
    erl_drop(erl_receive(TUPLE(ATOM("go"), VAR(&sent)), ERL_INFINITY));
    erl_send(element(1, arg), TUPLE(ATOM("woke"), erl_self(), INT(ms_since(sent.u.integer))));
}

/* Owner: starts a wake_reporter, waits until it is ready, wakes it (it goes
 * to this scheduler's runnext slot), then computes for BUSY_MS. */
static void wake_then_compute(term owner) {
    term reporter = erl_spawn(wake_reporter, TUPLE(owner, erl_self()));
    erl_drop(erl_receive(TUPLE(ATOM("ready"), reporter), ERL_INFINITY));
    erl_send(reporter, TUPLE(ATOM("go"), INT(now_ns())));
    compute_for(BUSY_MS);
}

/* Returns at once. */
static void exit_at_once(term arg) { (void)arg; }

/* Spawns short-lived processes forever, ignoring failures (EAGAIN once the
 * runtime stops): erl_stop must still end it. */
static void spawn_churn(term arg) {
    (void)arg;
    for (;;)
        erl_spawn(exit_at_once, NONE);
}

/* Owner: tells Owner {hello, Self} and ends. */
static void say_hello(term owner) { erl_send(owner, TUPLE(ATOM("hello"), erl_self())); }

/* Waits for stop. */
static void wait_for_stop(term arg) {
    (void)arg;
    erl_drop(erl_receive(ATOM("stop"), ERL_INFINITY));
}

/* Owner: tells Owner {ready, Self}, then forwards the first message to Owner
 * as {got, Self, Msg}. */
static void forward_first(term owner) {
    erl_send(owner, TUPLE(ATOM("ready"), erl_self()));
    term msg = erl_receive(ANY, ERL_INFINITY);
    erl_send(owner, TUPLE(ATOM("got"), erl_self(), msg));
}

/* Hops the token has made around the ring (ring_member), all members
 * together. */
static _Atomic long ring_hops;

/* A member of a ring: takes {next, Pid}, then passes every token it gets
 * on to Pid, forever, counting the hop. It waits right after it woke the
 * next member: every switch around the ring is a handoff (sched.c). */
static void ring_member(term arg) {
    (void)arg;
    term next;
    erl_drop(erl_receive(TUPLE(ATOM("next"), VAR(&next)), ERL_INFINITY));
    for (;;) {
        erl_receive(ATOM("token"), ERL_INFINITY);
        atomic_fetch_add(&ring_hops, 1);
        erl_send(next, ATOM("token"));
    }
}

/* Owner: tells Owner {hops, N}, N the ring's hops when it ran. */
static void report_hops(term owner) {
    erl_send(owner, TUPLE(ATOM("hops"), INT(atomic_load(&ring_hops))));
}

/* ---- Progress ------------------------------------------------------------ */

/* Processes that wake each other and wait switch straight from one to the
 * next (handoffs), each spending only two reductions a hop: around a ring
 * of RING members, none yields before about 250 * RING hops. On one
 * scheduler, with no other to rescue its queue, a process queued behind
 * such a ring ran only once the members yielded, unless the handoffs keep
 * the queue's turn (RUNNEXT_STREAK: 64 runs from runnext, handoffs
 * included). Counted in hops, not in time, so a slow machine or a
 * sanitizer does not change the verdict. */
#define RING 2000
#define RING_QUEUE_HOPS 5000    /* hops the queue may wait: 64 expected */
static term ring[RING];
Test(progress, a_queued_process_runs_behind_a_ring_of_handoffs,
     .init = start_one_scheduler) {
    atomic_store(&ring_hops, 0);
    for (int i = 0; i < RING; i++)
        ring[i] = erl_spawn(ring_member, NONE);
    for (int i = 0; i < RING; i++)
        erl_send(ring[i], TUPLE(ATOM("next"), ring[(i + 1) % RING]));
    erl_send(ring[0], ATOM("token"));
    int64_t t0 = now_ns();
    while (atomic_load(&ring_hops) < 4 * RING && ms_since(t0) < WAIT_MS)
        sched_yield();  /* a plain thread beside the scheduler: it polls */
    cr_assert_geq(atomic_load(&ring_hops), 4 * RING, "the ring did not get going");
    term n;
    erl_spawn(report_hops, erl_self());     /* queued behind the ring */
    long queued_at = atomic_load(&ring_hops);
    await(TUPLE(ATOM("hops"), VAR(&n)), "the queued process's report");
    cr_assert_lt(n.u.integer - queued_at, RING_QUEUE_HOPS,
                 "queued behind the ring, it ran %ld hops later",
                 (long)(n.u.integer - queued_at));
}

/* The receive timer of a process parked by a scheduler that then computes
 * fired only after the computing was over (its timer was armed late, by
 * that scheduler alone). */
Test(progress, a_receive_timeout_fires_on_time_while_its_scheduler_computes,
     .init = start_two_schedulers) {
    term pid = erl_spawn(wait_behind_busy, TUPLE(erl_self(), INT(50)));
    term elapsed;
    await(TUPLE(ATOM("waited"), pid, VAR(&elapsed)), "the 50 ms receive timeout");
    cr_assert_geq(elapsed.u.integer, 50, "the timeout fired early: %ld ms",
                  (long)elapsed.u.integer);
    cr_assert_lt(elapsed.u.integer, ON_TIME_MS, "a 50 ms timeout took %ld ms",
                 (long)elapsed.u.integer);
}

/* A process woken into a busy scheduler's runnext slot waited for the whole
 * busy run while the other scheduler slept without a time limit. */
Test(progress, a_woken_process_runs_while_its_scheduler_computes,
     .init = start_two_schedulers) {
    erl_spawn(wake_then_compute, erl_self());
    term late;
    await(TUPLE(ATOM("woke"), ANY, VAR(&late)), "the woken process's report");
    cr_assert_lt(late.u.integer, ON_TIME_MS, "woken, it ran %ld ms later",
                 (long)late.u.integer);
}

/* A process retrying a failed spawn never yielded, so it never took the
 * kill erl_stop sent it: erl_stop hung. */
Test(progress, erl_stop_returns_during_spawn_churn) {
    for (int round = 0; round < 5; round++) {
        start_two_schedulers();
        for (int i = 0; i < 4; i++)
            erl_spawn(spawn_churn, NONE);
        term pid = erl_spawn(say_hello, erl_self());
        if (!is_none(pid))  /* the churn may hold every slot for a moment */
            await(TUPLE(ATOM("hello"), pid), "hello from a process among the churn");
        erl_stop();
    }
}

/* idle() let its lock go between its check for work (or shutdown) and its
 * wait: a wakeup or sched_stop sent then was lost, and a teardown hung in
 * pthread_join. Each cycle here stops right after a short-lived process. */
Test(progress, start_stop_cycles_with_a_short_lived_process_each) {
    for (int i = 0; i < 200 / SAN_DIVISOR + 10; i++) {
        start_two_schedulers();
        term pid = erl_spawn(say_hello, erl_self());
        await(TUPLE(ATOM("hello"), pid), "hello from the short-lived process");
        erl_stop();
    }
}

/* A plain thread's message wakes its process on time while one scheduler
 * computes. */
Test(progress, a_message_from_a_plain_thread_reaches_a_process_while_one_scheduler_computes,
     .init = start_two_schedulers) {
    erl_spawn(busy, NONE);
    term pid = erl_spawn(forward_first, erl_self());
    await(TUPLE(ATOM("ready"), pid), "the forwarder's ready");
    int64_t t0 = now_ns();
    erl_send(pid, ATOM("ping"));
    await(TUPLE(ATOM("got"), pid, ATOM("ping")), "the forwarded ping");
    cr_assert_lt(ms_since(t0), ON_TIME_MS, "the ping took %ld ms", (long)ms_since(t0));
}

/* ---- Slots --------------------------------------------------------------- */

/* Processes alive at once in the slot test: ThreadSanitizer counts each as
 * a thread (8128 at most). */
#define MAX_PROCS (16384 / SAN_DIVISOR)

/* Spawns a waiter, retrying while EAGAIN for at most WAIT_MS: a slot freed
 * by an exit comes back just after the exit's 'DOWN'. */
static term spawn_waiter_when_a_slot_frees(void) {
    int64_t t0 = now_ns();
    term pid;
    while (is_none(pid = erl_spawn(wait_for_stop, NONE)) && errno == EAGAIN &&
           ms_since(t0) < WAIT_MS)
        erl_sleep(1);
    return pid;
}

/* Slots held back in per-scheduler batches made spawns fail while slots
 * were free (16 364 alive of 16 384 after 20 exits). */
Test(slots, exactly_max_procs_live_and_each_exit_frees_one_slot) {
    struct erl_options opts = {.schedulers = 2, .max_procs = MAX_PROCS};
    cr_assert_eq(erl_start(&opts), 0);
    erl_self();     /* the test thread's own process takes a slot */
    static term pids[MAX_PROCS];
    for (int i = 1; i < MAX_PROCS; i++) {
        pids[i] = erl_spawn(wait_for_stop, NONE);
        cr_assert(!is_none(pids[i]), "spawn %d of %d failed: errno %d", i, MAX_PROCS, errno);
    }
    cr_assert_eq(erl_process_count(), (size_t)MAX_PROCS);
    cr_assert(is_none(erl_spawn(wait_for_stop, NONE)), "spawned past max_procs");
    cr_assert_eq(errno, EAGAIN);
    enum { EXITS = 20 };
    for (int i = 1; i <= EXITS; i++) {
        term ref = erl_monitor(pids[i]);
        erl_send(pids[i], ATOM("stop"));
        expect_down(ref, ATOM("normal"));
    }
    for (int i = 0; i < EXITS; i++)
        cr_assert(!is_none(spawn_waiter_when_a_slot_frees()),
                  "spawn %d of %d after %d exits failed: errno %d", i + 1, EXITS, EXITS, errno);
    cr_assert_eq(erl_process_count(), (size_t)MAX_PROCS);
    cr_assert(is_none(erl_spawn(wait_for_stop, NONE)), "spawned past max_procs");
    cr_assert_eq(errno, EAGAIN);
}

/* ---- Timers -------------------------------------------------------------- */

Test(timers, send_after_arrives_no_sooner_than_asked) {
    int64_t t0 = now_ns();
    term ref = erl_send_after(50, erl_self(), TUPLE(ATOM("tick"), STR("payload")));
    cr_assert(is_ref(ref));
    await(TUPLE(ATOM("tick"), STR("payload")), "the send_after message");
    cr_assert_geq(ms_since(t0), 50, "it came after %ld ms", (long)ms_since(t0));
}

Test(timers, start_timer_sends_timeout_with_its_ref) {
    int64_t t0 = now_ns();
    term ref = erl_start_timer(30, erl_self(), ATOM("tock"));
    await(TUPLE(ATOM("timeout"), ref, ATOM("tock")), "{timeout, Ref, tock}");
    cr_assert_geq(ms_since(t0), 30);
}

Test(timers, two_timers_fire_in_deadline_order) {
    erl_send_after(80, erl_self(), ATOM("second"));
    erl_send_after(20, erl_self(), ATOM("first"));
    term a = await(ANY, "the first timer");
    term b = await(ANY, "the second timer");
    cr_assert(is_atom_named(a, "first") && is_atom_named(b, "second"),
              "got %s then %s", FMT(a), FMT(b));
}

/* A marker sent after a later timer proves the earlier one did not come. */
static void expect_nothing_before_marker(void) {
    erl_send_after(60, erl_self(), ATOM("marker"));
    term m = await(ANY, "the marker");
    cr_assert(is_atom_named(m, "marker"), "unexpected message %s", FMT(m));
}

Test(timers, cancel_returns_the_time_left_and_the_message_never_comes) {
    term ref = erl_send_after(5000, erl_self(), ATOM("cancelled"));
    long left = erl_cancel_timer(ref);
    cr_assert(left > 4000 && left <= 5000, "time left %ld ms", left);
    cr_assert_eq(erl_cancel_timer(ref), -1, "cancelled twice");
    ref = erl_send_after(20, erl_self(), ATOM("cancelled"));
    cr_assert_geq(erl_cancel_timer(ref), 0);
    expect_nothing_before_marker();
}

Test(timers, cancel_after_it_fired_or_of_no_timer_returns_false) {
    term ref = erl_start_timer(10, erl_self(), ATOM("fired"));
    await(TUPLE(ATOM("timeout"), ref, ATOM("fired")), "the timer's message");
    cr_assert_eq(erl_cancel_timer(ref), -1);
    cr_assert_eq(erl_cancel_timer(erl_make_ref()), -1);
    cr_assert_eq(erl_cancel_timer(INT(7)), -1);
}

Test(timers, a_bad_destination_or_time_is_einval) {
    errno = 0;
    cr_assert(is_none(erl_send_after(10, INT(1), ATOM("x"))));
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert(is_none(erl_start_timer(-1, erl_self(), ATOM("x"))));
    cr_assert_eq(errno, EINVAL);
}

Test(timers, a_name_is_resolved_when_the_timer_fires) {
    erl_send_after(30, ATOM("timers_late_name"), ATOM("to_the_name"));
    erl_send_after(10, ATOM("timers_nobody"), ATOM("to_nobody"));
    cr_assert_eq(erl_register(ATOM("timers_late_name"), erl_self()), 0);
    await(ATOM("to_the_name"), "the message to the name registered after arming");
    expect_nothing_before_marker();
}

Test(timers, a_timer_to_a_dead_pid_is_dropped) {
    term ref, pid = erl_spawn_monitor(wait_for_stop, NONE, &ref);
    erl_send(pid, ATOM("stop"));
    expect_down(ref, ATOM("normal"));
    term t = erl_send_after(10, pid, ATOM("to_the_dead"));
    cr_assert(is_ref(t));
    cr_assert_eq(erl_cancel_timer(t), -1, "a timer to a dead pid was armed");
    expect_nothing_before_marker();
}

/* With room for one process besides the test thread, a spawn succeeds only
 * once the killed one's slot is free, which is after its timers went. */
Test(timer_owner, a_timer_to_a_pid_is_cancelled_when_the_process_exits) {
    struct erl_options opts = {.schedulers = 2, .max_procs = 2};
    cr_assert_eq(erl_start(&opts), 0);
    term mref, pid = erl_spawn_monitor(wait_for_stop, NONE, &mref);
    term t = erl_send_after(5000, pid, STR("a message that would leak"));
    erl_exit(pid, ATOM("kill"));
    expect_down(mref, ATOM("killed"));
    cr_assert(!is_none(spawn_waiter_when_a_slot_frees()), "the slot never came back");
    cr_assert_eq(erl_cancel_timer(t), -1, "the timer outlived its process");
}

Test(timers, a_message_timer_reaches_a_process_while_its_scheduler_computes) {
    term pid = erl_spawn(forward_first, erl_self());
    await(TUPLE(ATOM("ready"), pid), "the forwarder's ready");
    int64_t t0 = now_ns();
    erl_send_after(50, pid, ATOM("due"));
    erl_spawn(busy, NONE);
    await(TUPLE(ATOM("got"), pid, ATOM("due")), "the timer's message, forwarded");
    cr_assert_lt(ms_since(t0), ON_TIME_MS, "it came after %ld ms", (long)ms_since(t0));
}

Test(timers, timers_left_armed_are_freed_at_stop) {
    for (int i = 0; i < 100; i++)
        erl_send_after(60000, i % 2 ? erl_self() : ATOM("timers_nobody"),
                       TUPLE(ATOM("big"), STR("a payload that needs a block")));
    term pid = erl_spawn(wait_for_stop, NONE);
    erl_start_timer(60000, pid, STR("another payload"));
    stop_and_check_leaks();
}

/* ---- erl_dist_defer: a hook's flush after the run ------------------------ */

TestSuite(dist_defer, .timeout = 30, .init = start_two_schedulers, .fini = stop_runtime);

/* What flush saw: how often it ran, and how many defers came before it. */
static _Atomic int flushes, defers, defers_at_flush;

/* defers_at_flush is written before flushes counts the flush: the test
 * reads it once it sees the count. */
static void count_flush(void) {
    atomic_store(&defers_at_flush, atomic_load(&defers));
    atomic_fetch_add(&flushes, 1);
}

/* Defers twice in one run, tells Owner, waits for go, defers once more
 * and exits. */
static void deferrer(term owner) {
    for (int i = 0; i < 2; i++) {
        if (!erl_dist_defer(count_flush))
            erl_exit_self(ATOM("not_deferred"));
        atomic_fetch_add(&defers, 1);
    }
    erl_send(owner, TUPLE(ATOM("deferred"), erl_self()));
    term m = erl_receive(ATOM("go"), ERL_INFINITY);
    erl_drop(m);
    erl_dist_defer(count_flush);
    atomic_fetch_add(&defers, 1);
}

/* Waits (from the test's plain thread) until flushes reaches n, at most
 * WAIT_MS. */
static bool flushes_reach(int n) {
    int64_t end = now_ns() + (int64_t)WAIT_MS * 1000000;
    while (atomic_load(&flushes) < n && now_ns() < end)
        sched_yield();
    return atomic_load(&flushes) >= n;
}

Test(dist_defer, flush_runs_once_after_each_run_that_deferred_and_never_on_a_plain_thread) {
    cr_assert(!erl_dist_defer(count_flush), "a plain thread deferred");
    term ref;
    term pid = erl_spawn_opt("deferrer", deferrer, erl_self(), ERL_MONITOR, &ref);
    await(TUPLE(ATOM("deferred"), pid), "the deferrer's first run");
    cr_assert(flushes_reach(1), "no flush after the first run");
    cr_assert_eq(atomic_load(&defers_at_flush), 2, "the flush came before the run ended");
    erl_send(pid, ATOM("go"));
    expect_down(ref, ATOM("normal"));
    cr_assert(flushes_reach(2), "no flush after the run that ended in exit");
    cr_assert_eq(atomic_load(&flushes), 2, "one flush per run, not per defer");
    cr_assert_eq(atomic_load(&defers_at_flush), 3);
}
