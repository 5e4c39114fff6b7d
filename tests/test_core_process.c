/*
 * test_core_process.c - processes, messages and names.
 *
 * Run: make -C tests test-core   (or build/plain/tests/test_core_process --verbose)
 *
 * Under the sanitizers (ERL_SANITIZE) the 100 000-process churn and the
 * pid-reuse churn run a quarter of their counts (a twentieth under
 * ThreadSanitizer), and 2000 processes wait at once instead of 10 000 under
 * ThreadSanitizer: see SAN_DIVISOR and WAITING_PROCS in test_util.h.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "erl.h"
#include "test_util.h"

TestSuite(spawn, .timeout = 30, .init = start_runtime, .fini = stop_runtime);
TestSuite(scale, .timeout = 60, .fini = stop_runtime);
TestSuite(fairness, .timeout = 30, .fini = stop_runtime);
TestSuite(timing, .timeout = 30, .fini = stop_runtime);
TestSuite(message, .timeout = 30, .init = start_runtime, .fini = stop_runtime);
TestSuite(name, .timeout = 30, .init = start_runtime, .fini = stop_runtime);
TestSuite(stopped, .timeout = 30);
TestSuite(listing, .timeout = 30, .init = start_runtime, .fini = stop_runtime);

/* ---- Processes the tests spawn ------------------------------------------- */

/* Returns at once: ends with reason normal. */
static void exit_at_once(term arg) { (void)arg; }

/* {Owner, Payload}: waits for go, then sends Owner {arg, Self, Payload}. */
static void report_arg_after_go(term arg) {
    erl_drop(erl_receive(ATOM("go"), ERL_INFINITY));
    erl_send(element(1, arg), TUPLE(ATOM("arg"), erl_self(), element(2, arg)));
}

/* Sends Owner {self, Self, Self again, InProcess}. */
static void report_self(term owner) {
    term first = erl_self();
    term second = erl_self();
    erl_send(owner, TUPLE(ATOM("self"), first, second, bool_atom(erl_in_process())));
}

/* Sends Owner the first message it gets: {first, Self, Msg}. */
static void report_first_message(term owner) {
    term msg = erl_receive(ANY, ERL_INFINITY);
    erl_send(owner, TUPLE(ATOM("first"), erl_self(), msg));
}

/* {Owner, Bytes}: checks its argument arrived whole, then ends. */
static void check_arg(term arg) {
    if (!term_eq(element(2, arg), STR("argument bytes")))
        erl_exit_self(ATOM("bad_argument"));
}

/* Tells Owner {ready, Self}, waits for {go, From}, answers From {done, Self}. */
static void blocked_waiter(term owner) {
    term from;
    erl_send(owner, TUPLE(ATOM("ready"), erl_self()));
    erl_receive(TUPLE(ATOM("go"), VAR(&from)), ERL_INFINITY);
    erl_send(from, TUPLE(ATOM("done"), erl_self()));
}

/* Never waits: sends itself a message and takes it, forever. */
static void hog_sending(term arg) {
    (void)arg;
    term self = erl_self();
    for (;;) {
        erl_send(self, ATOM("spin"));
        erl_drop(erl_receive(ANY, 0));
    }
}

/* Never waits: yields, forever. */
static void hog_yielding(term arg) {
    (void)arg;
    for (;;)
        erl_yield();
}

/* One of a pair that bounce a ball between them forever. Each wakes the
 * other, so on one scheduler the other always runs next, and neither ever
 * yields of its own accord. The first of the pair gets NONE, learns its
 * partner and waits for the ball; the second serves. */
static void bouncer(term partner) {
    if (is_pid(partner)) {
        erl_send(partner, TUPLE(ATOM("partner"), erl_self()));
        erl_send(partner, ATOM("ball"));
    } else {
        term p;
        erl_receive(TUPLE(ATOM("partner"), VAR(&p)), ERL_INFINITY);
        partner = p;    /* a pid is a value: it outlives the message */
    }
    for (;;) {
        erl_receive(ATOM("ball"), ERL_INFINITY);
        erl_send(partner, ATOM("ball"));
    }
}

/* {Owner, Echo}: wakes Echo with {ping, Owner}, then computes for two
 * seconds without a call into the runtime, then tells Owner done. */
static void busy_after_waking(term arg) {
    erl_send(element(2, arg), TUPLE(ATOM("ping"), element(1, arg)));
    int64_t until = now_ns() + 2000 * 1000000LL;
    while (now_ns() < until)
        ;
    erl_send(element(1, arg), ATOM("done"));
}

/* Tells Owner ready, then answers one {ping, From} with pong. */
static void echo_once(term owner) {
    term from;
    erl_send(owner, ATOM("ready"));
    erl_receive(TUPLE(ATOM("ping"), VAR(&from)), ERL_INFINITY);
    erl_send(from, ATOM("pong"));
}

/* Waits for go, registers itself as racy, and returns at once. */
static void register_and_end(term arg) {
    (void)arg;
    erl_receive(ATOM("go"), ERL_INFINITY);
    erl_register(ATOM("racy"), erl_self());
}

/* Sends its argument, a pid, {note, Self}. */
static void send_note(term to) { erl_send(to, TUPLE(ATOM("note"), erl_self())); }

/* Starts send_note towards itself, yields until the note is in its mailbox
 * (at most a million times), then tells Owner {yielded, GotNote}. */
static void yield_until_note(term owner) {
    erl_spawn(send_note, erl_self());
    for (int i = 0; i < 1000000 && erl_queue_len() == 0; i++)
        erl_yield();
    erl_send(owner, TUPLE(ATOM("yielded"), bool_atom(erl_queue_len() > 0)));
}

/* {Owner, Ms}: sleeps Ms and tells Owner {slept, Nanoseconds}. */
static void timed_sleep(term arg) {
    int64_t t0 = now_ns();
    erl_sleep((int)element(2, arg).u.integer);
    erl_send(element(1, arg), TUPLE(ATOM("slept"), INT(now_ns() - t0)));
}

/* Tells Owner {sleeping, Self}, sleeps 5 s, tells Owner {woke, Self}. */
static void long_sleeper(term owner) {
    erl_send(owner, TUPLE(ATOM("sleeping"), erl_self()));
    erl_sleep(5000);
    erl_send(owner, TUPLE(ATOM("woke"), erl_self()));
}

/* {Owner, Ms}: receives with timeout Ms from an empty mailbox and tells Owner
 * {timed, GotNone, Nanoseconds}. */
static void timed_receive(term arg) {
    int64_t t0 = now_ns();
    term m = erl_receive(ANY, (int)element(2, arg).u.integer);
    erl_send(element(1, arg),
             TUPLE(ATOM("timed"), bool_atom(is_none(m)), INT(now_ns() - t0)));
}

/* Tells Owner {waiting, Self}, receives {wake, _} with no timeout, then tells
 * Owner {woken, Self, Msg} (Msg is NONE if the receive gave up). */
static void wait_forever(term owner) {
    erl_send(owner, TUPLE(ATOM("waiting"), erl_self()));
    term m = erl_receive(TUPLE(ATOM("wake"), ANY), ERL_INFINITY);
    erl_send(owner, TUPLE(ATOM("woken"), erl_self(), is_none(m) ? ATOM("none") : m));
}

/* Sleeps 100 ms, then sends Owner {later}. */
static void send_later(term owner) {
    erl_sleep(100);
    erl_send(owner, TUPLE(ATOM("later")));
}

/* {Owner, N}: sends Owner {seq, Self, I} for I = 0..N-1. */
static void send_sequence(term arg) {
    term owner = element(1, arg);
    for (int64_t i = 0; i < element(2, arg).u.integer; i++)
        erl_send(owner, TUPLE(ATOM("seq"), erl_self(), INT(i)));
}

/* {Owner, N}: receives N {seq, I} and tells Owner {checked, InOrder}. */
static void check_sequence(term arg) {
    bool in_order = true;
    for (int64_t i = 0; i < element(2, arg).u.integer; i++) {
        term n;
        erl_receive(TUPLE(ATOM("seq"), VAR(&n)), ERL_INFINITY);
        in_order = in_order && n.u.integer == i;
    }
    erl_send(element(1, arg), TUPLE(ATOM("checked"), bool_atom(in_order)));
}

/* {Owner, N}: makes N refs and sends Owner {refs, [Ref...]}. */
static void make_refs(term arg) {
    int64_t n = element(2, arg).u.integer;
    term *refs = malloc((size_t)(n + 1) * sizeof *refs);
    for (int64_t i = 0; i < n; i++)
        refs[i] = erl_make_ref();
    refs[n] = NIL;
    erl_send(element(1, arg), TUPLE(ATOM("refs"), term_list(refs, (size_t)n)));
    free(refs);
}

/* {Owner, N}: receives N {n, I, <<"payload">>}, giving each back with
 * erl_drop (even I) or a heap mark (odd I); tells Owner {drained, Good}. */
static void drain_and_check(term arg) {
    int64_t good = 0;
    for (int64_t i = 0; i < element(2, arg).u.integer; i++) {
        erl_heap_mark_t mark = erl_heap_mark();
        term m = erl_receive(ANY, ERL_INFINITY);
        if (term_eq(m, TUPLE(ATOM("n"), INT(i), STR("payload"))))
            good++;
        if (i % 2 == 0)
            erl_drop(m);
        else
            erl_heap_release(mark);
    }
    erl_send(element(1, arg), TUPLE(ATOM("drained"), INT(good)));
}

/* Waits for the atom wanted and nothing else, then ends. */
static void wait_for_wanted(term arg) {
    (void)arg;
    erl_receive(ATOM("wanted"), ERL_INFINITY);
}

/* ---- spawn --------------------------------------------------------------- */

Test(spawn, child_runs_with_a_copy_of_its_argument) {
    char buf[] = "before";
    term pid = erl_spawn(report_arg_after_go, TUPLE(erl_self(), term_binary(buf, 6)));
    memcpy(buf, "after!", 6);           /* after the spawn, before the child looks */
    erl_send(pid, ATOM("go"));
    term got;
    await(TUPLE(ATOM("arg"), pid, VAR(&got)), "the child's argument");
    cr_assert(term_eq(got, STR("before")), "child saw %s", FMT(got));
}

Test(spawn, self_is_stable_and_differs_per_process) {
    term me = erl_self();
    term a = erl_spawn(report_self, me);
    term b = erl_spawn(report_self, me);
    bool seen_a = false, seen_b = false;
    for (int i = 0; i < 2; i++) {
        term first, second, in_process;
        await(TUPLE(ATOM("self"), VAR(&first), VAR(&second), VAR(&in_process)),
              "a child's self()");
        cr_assert(term_eq(first, second), "self() changed within a process");
        cr_assert(is_atom_named(in_process, "true"), "erl_in_process false in a process");
        seen_a = seen_a || term_eq(first, a);
        seen_b = seen_b || term_eq(first, b);
    }
    cr_assert(seen_a && seen_b, "self() in the children is not what spawn returned");
    cr_assert_not(term_eq(a, b));
    cr_assert_not(term_eq(a, me));
    cr_assert(term_eq(me, erl_self()), "the test thread's self() changed");
}

struct thread_report {
    term owner;         /* the test thread's pid */
    term first;         /* the thread's erl_self(), first call */
    term second;        /* and second call */
    bool in_process;    /* erl_in_process() in the thread */
    term received;      /* what it received from the owner, or NONE */
};

static void *plain_thread(void *p) {
    struct thread_report *r = p;
    r->first = erl_self();
    r->second = erl_self();
    r->in_process = erl_in_process();
    erl_send(r->owner, TUPLE(ATOM("hello"), r->first));
    term m = erl_receive(TUPLE(ATOM("reply"), ANY), WAIT_MS);
    r->received = is_none(m) ? NONE : element(2, m);  /* an integer: immediate */
    return NULL;
}

Test(spawn, a_plain_thread_gets_a_pid_and_a_mailbox) {
    cr_assert_not(erl_in_process(), "the test thread is not a process");
    struct thread_report r = {.owner = erl_self()};
    pthread_t thread;
    cr_assert_eq(pthread_create(&thread, NULL, plain_thread, &r), 0);
    term from;
    await(TUPLE(ATOM("hello"), VAR(&from)), "hello from the plain thread");
    erl_send(from, TUPLE(ATOM("reply"), INT(7)));
    pthread_join(thread, NULL);
    cr_assert(is_pid(r.first), "a plain thread's self() is %s", FMT(r.first));
    cr_assert(term_eq(r.first, r.second), "a plain thread's self() changed");
    cr_assert(term_eq(r.first, from));
    cr_assert_not(term_eq(r.first, r.owner), "two threads share a pid");
    cr_assert_not(r.in_process, "erl_in_process true in a plain thread");
    cr_assert(term_eq(r.received, INT(7)), "the thread received %s", FMT(r.received));
}

Test(spawn, is_alive_until_the_process_ends) {
    term pid = agent_start();
    cr_assert(erl_is_alive(pid));
    term ref = erl_monitor(pid);
    erl_send(pid, ATOM("stop"));
    expect_down(ref, ATOM("normal"));
    cr_assert_not(erl_is_alive(pid));
}

Test(spawn, returns_distinct_pids) {
    enum { N = 200 };
    term pids[N];
    for (int i = 0; i < N; i++) {
        pids[i] = agent_start();
        cr_assert(is_pid(pids[i]));
    }
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            cr_assert_not(term_eq(pids[i], pids[j]), "pids %d and %d equal", i, j);
}

Test(spawn, a_dead_pid_is_never_given_again) {
    term ref;
    term old = erl_spawn_monitor(exit_at_once, INT(0), &ref);
    expect_down(ref, ATOM("normal"));

    int churn = 20000 / SAN_DIVISOR;
    for (int i = 0; i < churn; i++) {       /* spawn and end, reusing slots */
        term pid = erl_spawn_monitor(exit_at_once, INT(i), &ref);
        cr_assert_not(term_eq(pid, old), "pid %s given again", FMT(old));
        erl_drop(await(TUPLE(ATOM("DOWN"), ref, ANY, ANY, ANY), "a 'DOWN'"));
    }
    enum { LIVE = 100 };
    term live[LIVE];
    for (int i = 0; i < LIVE; i++) {
        live[i] = erl_spawn(report_first_message, erl_self());
        cr_assert_not(term_eq(live[i], old), "pid %s given again", FMT(old));
    }
    cr_assert_not(erl_is_alive(old));
    cr_assert_eq(erl_send(old, TUPLE(ATOM("for_the_dead"))), 0);
    for (int i = 0; i < LIVE; i++)
        erl_send(live[i], TUPLE(ATOM("hello"), INT(i)));
    for (int i = 0; i < LIVE; i++) {
        term msg;
        await(TUPLE(ATOM("first"), live[i], VAR(&msg)), "a live process's first message");
        cr_assert(term_eq(msg, TUPLE(ATOM("hello"), INT(i))),
                  "process %d got %s first", i, FMT(msg));
    }
}

/* ---- scale --------------------------------------------------------------- */

Test(scale, many_processes_spawn_and_exit_leaving_nothing, .init = start_runtime) {
    enum { BATCH = 1000 };
    int total = 100000 / SAN_DIVISOR;
    erl_self();
    size_t baseline = erl_process_count();
    for (int done = 0; done < total; done += BATCH) {
        for (int i = 0; i < BATCH; i++) {
            term ref;
            term pid = erl_spawn_monitor(check_arg, TUPLE(INT(i), STR("argument bytes")),
                                         &ref);
            cr_assert(is_pid(pid), "spawn %d failed: %s", done + i, strerror(errno));
        }
        for (int i = 0; i < BATCH; i++) {
            term reason;
            term m = await(TUPLE(ATOM("DOWN"), ANY, ATOM("process"), ANY, VAR(&reason)),
                           "a 'DOWN'");
            cr_assert(is_atom_named(reason, "normal"), "exit reason %s", FMT(reason));
            erl_drop(m);
        }
    }
    cr_assert_eq(erl_process_count(), baseline,
                 "%zu processes alive after all ended, %zu before",
                 erl_process_count(), baseline);
    cr_assert_eq(erl_queue_len(), 0);
    stop_and_check_leaks();
}

Test(scale, ten_thousand_processes_wait_at_once_on_two_schedulers,
     .init = start_two_schedulers) {
    enum { N = WAITING_PROCS };
    cr_assert_eq(erl_schedulers(), 2);
    term me = erl_self();
    size_t baseline = erl_process_count();
    term *pids = malloc(N * sizeof *pids);
    for (int i = 0; i < N; i++) {
        pids[i] = erl_spawn(blocked_waiter, me);
        cr_assert(is_pid(pids[i]), "spawn %d failed: %s", i, strerror(errno));
    }
    for (int i = 0; i < N; i++)
        erl_drop(await(TUPLE(ATOM("ready"), ANY), "a waiter's ready"));
    cr_assert_geq(erl_process_count(), baseline + N, "waiters ended early");
    for (int i = 0; i < N; i++)
        erl_send(pids[i], TUPLE(ATOM("go"), me));
    for (int i = 0; i < N; i++)
        erl_drop(await(TUPLE(ATOM("done"), ANY), "a waiter's done"));
    cr_assert_eq(erl_queue_len(), 0, "more answers than waiters");
    free(pids);
}

/* ---- fairness ------------------------------------------------------------ */

/* Starts one more hog than there are schedulers, then checks a responder
 * still answers 100 pings; finally kills the hogs. */
static void responder_answers_beside_hogs(erl_fn hog) {
    int n = erl_schedulers() + 1;
    term hogs[8];
    for (int i = 0; i < n; i++)
        hogs[i] = erl_spawn_opt("hog", hog, INT(0), 0, NULL);
    term responder = agent_start();
    for (int i = 0; i < 100; i++)
        cr_assert(ping(responder), "ping %d went unanswered beside %d hogs", i, n);
    for (int i = 0; i < n; i++) {
        term ref = erl_monitor(hogs[i]);
        erl_exit(hogs[i], ATOM("kill"));
        expect_down(ref, ATOM("killed"));
    }
}

Test(fairness, a_process_sending_to_itself_does_not_starve_one_scheduler,
     .init = start_one_scheduler) {
    cr_assert_eq(erl_schedulers(), 1);
    responder_answers_beside_hogs(hog_sending);
}

Test(fairness, a_process_sending_to_itself_does_not_starve_two_schedulers,
     .init = start_two_schedulers) {
    cr_assert_eq(erl_schedulers(), 2);
    responder_answers_beside_hogs(hog_sending);
}

Test(fairness, a_yielding_process_does_not_starve_one_scheduler,
     .init = start_one_scheduler) {
    responder_answers_beside_hogs(hog_yielding);
}

Test(fairness, two_processes_calling_each_other_do_not_starve_one_scheduler,
     .init = start_one_scheduler) {
    term a = erl_spawn_opt("bouncer", bouncer, NONE, 0, NULL);
    term b = erl_spawn_opt("bouncer", bouncer, a, 0, NULL);
    term responder = agent_start();
    for (int i = 0; i < 100; i++)
        cr_assert(ping(responder), "ping %d went unanswered beside the bouncers", i);
    term pair[] = {a, b};
    for (int i = 0; i < 2; i++) {
        term ref = erl_monitor(pair[i]);
        erl_exit(pair[i], ATOM("kill"));
        expect_down(ref, ATOM("killed"));
    }
}

/* The process a busy one wakes waits behind it on that scheduler; the idle
 * scheduler must take it over rather than let it wait out the computation. */
Test(fairness, a_process_woken_by_a_busy_one_runs_on_the_idle_scheduler,
     .init = start_two_schedulers) {
    term echo = erl_spawn_opt("echo_once", echo_once, erl_self(), 0, NULL);
    await(ATOM("ready"), "the echo's start");
    erl_spawn_opt("busy_after_waking", busy_after_waking, TUPLE(erl_self(), echo), 0, NULL);
    size_t which = 9;
    term m = erl_receive_any((term[]){ATOM("pong"), ATOM("done")}, 2, WAIT_MS, &which);
    cr_assert(!is_none(m), "neither pong nor done came");
    cr_assert_eq(which, 0, "the echo ran only after the busy process finished");
    await(ATOM("done"), "the busy process's end");
}

/* ---- timing -------------------------------------------------------------- */

Test(timing, yield_lets_another_process_run, .init = start_one_scheduler) {
    erl_spawn(yield_until_note, erl_self());
    term got;
    await(TUPLE(ATOM("yielded"), VAR(&got)), "the yielder's report");
    cr_assert(is_atom_named(got, "true"), "a million yields and the note never came");
    erl_yield();                        /* a plain thread may yield too */
}

Test(timing, sleep_in_a_process_waits_at_least_the_time, .init = start_runtime) {
    erl_spawn(timed_sleep, TUPLE(erl_self(), INT(50)));
    term ns;
    await(TUPLE(ATOM("slept"), VAR(&ns)), "the sleeper's report");
    cr_assert_geq(ns.u.integer, 50 * 1000000LL, "slept %lld ns", (long long)ns.u.integer);
    cr_assert_lt(ns.u.integer, WAIT_MS * 1000000LL);
}

Test(timing, sleep_in_a_plain_thread_waits_at_least_the_time, .init = start_runtime) {
    int64_t t0 = now_ns();
    erl_sleep(30);
    int64_t ns = now_ns() - t0;
    cr_assert_geq(ns, 30 * 1000000LL, "slept %lld ns", (long long)ns);
    cr_assert_lt(ns, WAIT_MS * 1000000LL);
}

Test(timing, a_sleeping_process_holds_no_scheduler, .init = start_one_scheduler) {
    term responder = agent_start();
    term sleeper = erl_spawn(long_sleeper, erl_self());
    await(TUPLE(ATOM("sleeping"), sleeper), "the sleeper going to sleep");
    cr_assert(ping(responder), "the only scheduler is held by a sleeper");
    expect_no_message(TUPLE(ATOM("woke"), sleeper));
}

Test(timing, receive_timeout_fires_in_a_process, .init = start_runtime) {
    erl_spawn(timed_receive, TUPLE(erl_self(), INT(100)));
    term none, ns;
    await(TUPLE(ATOM("timed"), VAR(&none), VAR(&ns)), "the receiver's report");
    cr_assert(is_atom_named(none, "true"), "receive returned a message");
    cr_assert_geq(ns.u.integer, 100 * 1000000LL, "gave up after %lld ns",
                  (long long)ns.u.integer);
    cr_assert_lt(ns.u.integer, WAIT_MS * 1000000LL);
}

Test(timing, receive_timeout_fires_in_a_plain_thread, .init = start_runtime) {
    int64_t t0 = now_ns();
    term m = erl_receive(ANY, 100);
    int64_t ns = now_ns() - t0;
    cr_assert(is_none(m), "an empty mailbox gave %s", FMT(m));
    cr_assert_geq(ns, 100 * 1000000LL, "gave up after %lld ns", (long long)ns);
    cr_assert_lt(ns, WAIT_MS * 1000000LL);
}

Test(timing, receive_with_timeout_zero_returns_at_once, .init = start_runtime) {
    int64_t t0 = now_ns();
    cr_assert(is_none(erl_receive(ANY, 0)));
    erl_send(erl_self(), ATOM("unwanted"));
    cr_assert(is_none(erl_receive(ATOM("wanted"), 0)));
    cr_assert_lt(now_ns() - t0, 1000 * 1000000LL, "a poll waited");
    cr_assert_eq(erl_queue_len(), 1, "a failed poll lost a message");
}

Test(timing, infinity_waits_until_a_message_comes, .init = start_runtime) {
    term waiter = erl_spawn(wait_forever, erl_self());
    await(TUPLE(ATOM("waiting"), waiter), "the waiter waiting");
    erl_sleep(200);                     /* time passes; it must still wait */
    expect_no_message(TUPLE(ATOM("woken"), waiter, ANY));
    erl_send(waiter, TUPLE(ATOM("wake"), INT(42)));
    term got;
    await(TUPLE(ATOM("woken"), waiter, VAR(&got)), "the waiter waking");
    cr_assert(term_eq(got, TUPLE(ATOM("wake"), INT(42))), "woke with %s", FMT(got));
}

Test(timing, infinity_in_a_plain_thread_waits_until_a_message_comes,
     .init = start_runtime) {
    erl_spawn(send_later, erl_self());
    term m = erl_receive(TUPLE(ATOM("later")), ERL_INFINITY);
    cr_assert(term_eq(m, TUPLE(ATOM("later"))), "got %s", FMT(m));
}

/* ---- message ------------------------------------------------------------- */

Test(message, order_from_one_sender_is_kept) {
    enum { N = 1000 };
    term a = erl_spawn(send_sequence, TUPLE(erl_self(), INT(N)));
    term b = erl_spawn(send_sequence, TUPLE(erl_self(), INT(N)));
    int64_t next_a = 0, next_b = 0;
    for (int i = 0; i < 2 * N; i++) {
        term from, n;
        term m = await(TUPLE(ATOM("seq"), VAR(&from), VAR(&n)), "a sequence message");
        int64_t *next = term_eq(from, a) ? &next_a : &next_b;
        cr_assert(term_eq(from, a) || term_eq(from, b));
        cr_assert_eq(n.u.integer, *next, "from %s: got %lld, expected %lld",
                     FMT(from), (long long)n.u.integer, (long long)*next);
        (*next)++;
        erl_drop(m);
    }
}

Test(message, order_to_one_receiver_is_kept) {
    enum { N = 1000 };
    term checker = erl_spawn(check_sequence, TUPLE(erl_self(), INT(N)));
    for (int i = 0; i < N; i++)
        erl_send(checker, TUPLE(ATOM("seq"), INT(i)));
    term in_order;
    await(TUPLE(ATOM("checked"), VAR(&in_order)), "the checker's verdict");
    cr_assert(is_atom_named(in_order, "true"), "messages arrived out of order");
}

Test(message, selective_receive_takes_the_first_match_and_keeps_the_rest) {
    term me = erl_self();
    erl_send(me, TUPLE(ATOM("a"), INT(1)));
    erl_send(me, TUPLE(ATOM("b"), INT(2)));
    erl_send(me, TUPLE(ATOM("a"), INT(3)));
    erl_send(me, TUPLE(ATOM("b"), INT(4)));
    erl_send(me, TUPLE(ATOM("c"), INT(5)));
    term n;
    erl_receive(TUPLE(ATOM("b"), VAR(&n)), 0);
    cr_assert(term_eq(n, INT(2)), "took %s, not the first {b, _}", FMT(n));
    cr_assert_eq(erl_queue_len(), 4);
    term rest[] = {TUPLE(ATOM("a"), INT(1)), TUPLE(ATOM("a"), INT(3)),
                   TUPLE(ATOM("b"), INT(4)), TUPLE(ATOM("c"), INT(5))};
    for (int i = 0; i < 4; i++) {
        term m = erl_receive(ANY, 0);
        cr_assert(term_eq(m, rest[i]), "message %d is %s, expected %s", i, FMT(m),
                  FMT(rest[i]));
    }
    cr_assert_eq(erl_queue_len(), 0);
}

Test(message, queue_len_counts_waiting_messages) {
    term me = erl_self();
    cr_assert_eq(erl_queue_len(), 0);
    for (int i = 0; i < 3; i++)
        erl_send(me, INT(i));
    cr_assert_eq(erl_queue_len(), 3);
    erl_receive(INT(2), 0);
    cr_assert_eq(erl_queue_len(), 2);
    erl_receive(ANY, 0);
    erl_receive(ANY, 0);
    cr_assert_eq(erl_queue_len(), 0);
}

Test(message, make_ref_is_unique) {
    enum { N = 2000, CHILD = 200 };
    term *refs = malloc(N * sizeof *refs);
    for (int i = 0; i < N; i++) {
        refs[i] = erl_make_ref();
        cr_assert(is_ref(refs[i]));
        cr_assert(term_eq(refs[i], refs[i]));
    }
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            cr_assert_not(term_eq(refs[i], refs[j]), "refs %d and %d equal", i, j);
    erl_spawn(make_refs, TUPLE(erl_self(), INT(CHILD)));
    term list;
    await(TUPLE(ATOM("refs"), VAR(&list)), "the child's refs");
    cr_assert_eq(list.size, CHILD);
    for (int c = 0; c < CHILD; c++)
        for (int i = 0; i < N; i++)
            cr_assert_not(term_eq(list.u.elements[c], refs[i]),
                          "a child's ref equals the parent's ref %d", i);
    free(refs);
}

Test(message, send_to_a_dead_pid_is_dropped_silently) {
    term pid = agent_start();
    term ref = erl_monitor(pid);
    erl_send(pid, ATOM("stop"));
    expect_down(ref, ATOM("normal"));
    cr_assert_eq(erl_send(pid, TUPLE(ATOM("hello"), STR("lost"))), 0);
}

Test(message, send_to_an_unregistered_name_fails_esrch) {
    errno = 0;
    cr_assert_eq(erl_send(ATOM("nobody_here"), ATOM("hello")), -1);
    cr_assert_eq(errno, ESRCH);
    errno = 0;
    cr_assert_eq(erl_send(INT(5), ATOM("hello")), -1);
    cr_assert_eq(errno, EINVAL);
}

Test(message, drop_and_release_keep_later_receives_whole) {
    term me = erl_self();
    for (int i = 0; i < 10; i++)
        erl_send(me, TUPLE(ATOM("n"), INT(i), STR("payload")));
    term first = erl_receive(ANY, 0);           /* kept across the release */
    erl_heap_mark_t mark = erl_heap_mark();
    for (int i = 1; i < 5; i++)
        erl_receive(ANY, 0);
    term_keep(TUPLE(STR("kept after the mark")));
    erl_heap_release(mark);
    cr_assert(term_eq(first, TUPLE(ATOM("n"), INT(0), STR("payload"))),
              "a message received before the mark is now %s", FMT(first));
    term m5 = erl_receive(ANY, 0), m6 = erl_receive(ANY, 0), m7 = erl_receive(ANY, 0);
    erl_drop(m6);                               /* out of order */
    cr_assert(term_eq(m5, TUPLE(ATOM("n"), INT(5), STR("payload"))), "%s", FMT(m5));
    cr_assert(term_eq(m7, TUPLE(ATOM("n"), INT(7), STR("payload"))), "%s", FMT(m7));
    erl_drop(m5);
    erl_drop(m7);
    erl_drop(INT(3));                           /* an immediate: nothing to do */
    for (int i = 8; i < 10; i++) {
        term m = erl_receive(ANY, 0);
        cr_assert(term_eq(m, TUPLE(ATOM("n"), INT(i), STR("payload"))), "%s", FMT(m));
        erl_drop(m);
    }
    erl_send(me, TUPLE(STR("after")));
    cr_assert(term_eq(erl_receive(ANY, 0), TUPLE(STR("after"))));
    erl_drop(first);
}

Test(message, a_process_dropping_and_releasing_receives_every_message_whole) {
    enum { N = 1000 };
    term pid = erl_spawn(drain_and_check, TUPLE(erl_self(), INT(N)));
    for (int i = 0; i < N; i++)
        erl_send(pid, TUPLE(ATOM("n"), INT(i), STR("payload")));
    term good;
    await(TUPLE(ATOM("drained"), VAR(&good)), "the drainer's count");
    cr_assert_eq(good.u.integer, N, "only %lld of %d messages arrived whole",
                 (long long)good.u.integer, N);
}

/* ---- name ---------------------------------------------------------------- */

Test(name, register_whereis_unregister) {
    term pid = agent_start();
    cr_assert(is_none(erl_whereis(ATOM("name_a"))));
    cr_assert_eq(erl_register(ATOM("name_a"), pid), 0, "%s", strerror(errno));
    cr_assert(term_eq(erl_whereis(ATOM("name_a")), pid));
    cr_assert_eq(erl_unregister(ATOM("name_a")), 0);
    cr_assert(is_none(erl_whereis(ATOM("name_a"))));
    errno = 0;
    cr_assert_eq(erl_unregister(ATOM("name_a")), -1);
    cr_assert_eq(errno, ESRCH);
}

Test(name, a_taken_name_fails_eexist) {
    term first = agent_start(), second = agent_start();
    cr_assert_eq(erl_register(ATOM("name_b"), first), 0);
    errno = 0;
    cr_assert_eq(erl_register(ATOM("name_b"), second), -1);
    cr_assert_eq(errno, EEXIST);
    cr_assert(term_eq(erl_whereis(ATOM("name_b")), first));
}

Test(name, a_process_has_only_one_name) {
    term pid = agent_start();
    cr_assert_eq(erl_register(ATOM("name_c"), pid), 0);
    errno = 0;
    cr_assert_eq(erl_register(ATOM("name_d"), pid), -1);
    cr_assert_eq(errno, EEXIST);
    cr_assert(is_none(erl_whereis(ATOM("name_d"))));
}

Test(name, registering_a_dead_pid_fails_esrch) {
    term pid = agent_start();
    term ref = erl_monitor(pid);
    erl_send(pid, ATOM("stop"));
    expect_down(ref, ATOM("normal"));
    errno = 0;
    cr_assert_eq(erl_register(ATOM("name_e"), pid), -1);
    cr_assert_eq(errno, ESRCH);
    cr_assert(is_none(erl_whereis(ATOM("name_e"))));
}

Test(name, undefined_and_non_atoms_fail_einval) {
    term pid = agent_start();
    errno = 0;
    cr_assert_eq(erl_register(ATOM("undefined"), pid), -1);
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_eq(erl_register(INT(1), pid), -1);
    cr_assert_eq(errno, EINVAL);
    cr_assert_eq(erl_register(ATOM("name_f"), pid), 0, "the failures used up its name");
}

Test(name, send_to_a_name_reaches_the_process) {
    term pid = agent_start();
    cr_assert_eq(erl_register(ATOM("name_g"), pid), 0);
    cr_assert_eq(erl_send(ATOM("name_g"), TUPLE(ATOM("ping"), erl_self())), 0);
    await(TUPLE(ATOM("pong"), pid), "a pong from the named process");
}

Test(name, a_process_that_ends_loses_its_name) {
    term pid = agent_start();
    cr_assert_eq(erl_register(ATOM("name_h"), pid), 0);
    term ref = erl_monitor(pid);
    erl_send(pid, TUPLE(ATOM("exit"), ATOM("boom")));
    expect_down(ref, ATOM("boom"));
    cr_assert(is_none(erl_whereis(ATOM("name_h"))), "a dead process keeps its name");
    errno = 0;
    cr_assert_eq(erl_send(ATOM("name_h"), ATOM("hello")), -1);
    cr_assert_eq(errno, ESRCH);
    term next = agent_start();
    cr_assert_eq(erl_register(ATOM("name_h"), next), 0, "the name is still taken");
}

struct seen_names {
    term names[3];      /* the names to look for */
    term pids[3];       /* the pid each must map to */
    int found[3];       /* times each name was reported */
    size_t calls;       /* callbacks in all */
};

static void note_name(term name, term pid, void *ctx) {
    struct seen_names *s = ctx;
    s->calls++;
    for (int i = 0; i < 3; i++)
        if (term_eq(name, s->names[i]) && term_eq(pid, s->pids[i]))
            s->found[i]++;
}

Test(name, registered_lists_every_name) {
    struct seen_names s = {
        .names = {ATOM("name_i"), ATOM("name_j"), ATOM("name_k")},
    };
    for (int i = 0; i < 3; i++) {
        s.pids[i] = agent_start();
        cr_assert_eq(erl_register(s.names[i], s.pids[i]), 0);
    }
    size_t n = erl_registered(note_name, &s);
    cr_assert_eq(n, s.calls, "returned %zu, called back %zu times", n, s.calls);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(s.found[i], 1, "%s listed %d times", FMT(s.names[i]), s.found[i]);

    erl_unregister(ATOM("name_j"));
    struct seen_names after = s;
    after.calls = 0;
    memset(after.found, 0, sizeof after.found);
    cr_assert_eq(erl_registered(note_name, &after), n - 1);
    cr_assert_eq(after.found[1], 0, "an unregistered name is still listed");
}

/* ---- listing ------------------------------------------------------------- */

struct seen_proc {
    term pid;                       /* the process to look for */
    bool found;                     /* it was listed */
    struct erl_proc_info info;      /* its entry; strings copied below */
    char name[64];                  /* info.name */
    char status[16];                /* info.status */
    size_t calls;                   /* callbacks in all */
};

static void note_proc(const struct erl_proc_info *info, void *ctx) {
    struct seen_proc *s = ctx;
    s->calls++;
    if (!term_eq(info->pid, s->pid))
        return;
    s->found = true;
    s->info = *info;
    snprintf(s->name, sizeof s->name, "%s", info->name ? info->name : "(null)");
    snprintf(s->status, sizeof s->status, "%s", info->status ? info->status : "(null)");
}

/* Lists the processes, looking for pid; asserts the count is the calls. */
static struct seen_proc list_one(term pid) {
    struct seen_proc s = {.pid = pid};
    size_t n = erl_processes(note_proc, &s);
    cr_assert_eq(n, s.calls, "returned %zu, called back %zu times", n, s.calls);
    return s;
}

Test(listing, processes_shows_status_queue_and_links) {
    term pid = erl_spawn_opt("wait_for_wanted", wait_for_wanted, INT(0), ERL_LINK, NULL);
    cr_assert_eq(erl_register(ATOM("listed"), pid), 0);
    for (int i = 0; i < 3; i++)
        erl_send(pid, TUPLE(ATOM("other"), INT(i)));

    /* A state, not an event: look until it has scanned the three and waits. */
    struct seen_proc s;
    int64_t deadline = now_ns() + WAIT_MS * 1000000LL;
    do {
        s = list_one(pid);
        cr_assert(s.found, "a live process is not listed");
        if (s.info.queue_len == 3 && strcmp(s.status, "waiting") == 0)
            break;
        erl_sleep(1);
    } while (now_ns() < deadline);

    cr_assert_eq(s.info.queue_len, 3);
    cr_assert_str_eq(s.status, "waiting");
    cr_assert_str_eq(s.name, "wait_for_wanted");
    cr_assert(term_eq(s.info.registered, ATOM("listed")), "registered %s",
              FMT(s.info.registered));
    cr_assert_eq(s.info.links, 1);
    cr_assert_not(s.info.trap_exit);

    term ref = erl_monitor(pid);
    erl_send(pid, ATOM("wanted"));
    expect_down(ref, ATOM("normal"));
    cr_assert_not(list_one(pid).found, "a dead process is still listed");
}

Test(listing, processes_shows_unregistered_and_trapping) {
    term pid = agent_start();
    agent_trap(pid, true);
    struct seen_proc s = list_one(pid);
    cr_assert(s.found);
    cr_assert(is_none(s.info.registered), "registered %s", FMT(s.info.registered));
    cr_assert(s.info.trap_exit);
    cr_assert_eq(s.info.links, 0);
    cr_assert_str_eq(s.name, "agent");
}

Test(listing, process_count_follows_spawns_and_exits) {
    erl_self();
    size_t before = erl_process_count();
    term a = agent_start(), b = agent_start();
    cr_assert_eq(erl_process_count(), before + 2);
    term ref = erl_monitor(a);
    erl_send(a, ATOM("stop"));
    expect_down(ref, ATOM("normal"));
    cr_assert_eq(erl_process_count(), before + 1);
    (void)b;
}

/* ---- names and exits racing ---------------------------------------------- */

/* The owner of a name exits while another process unregisters it: whoever
 * is first removes it, once, and the name is free afterwards. */
Test(name, unregister_racing_the_owner_s_exit_leaves_the_name_free) {
    for (int i = 0; i < 2000 / SAN_DIVISOR; i++) {
        term ref;
        term pid = erl_spawn_opt("register_and_end", register_and_end, NONE,
                                 ERL_MONITOR, &ref);
        erl_send(pid, ATOM("go"));
        while (erl_unregister(ATOM("racy")) != 0 && erl_is_alive(pid))
            ;
        await(TUPLE(ATOM("DOWN"), ref, ANY, ANY, ANY), "the owner's end");
        cr_assert(is_none(erl_whereis(ATOM("racy"))), "round %d: the name outlived its owner", i);
    }
    cr_assert_eq(erl_register(ATOM("racy"), erl_self()), 0);
}

/* ---- after erl_stop --------------------------------------------------------- */

Test(stopped, a_pid_names_nothing_after_the_runtime_stops) {
    start_runtime();
    term pid = agent_start();
    cr_assert(erl_is_alive(pid));
    erl_stop();
    cr_assert_not(erl_is_alive(pid));
    cr_assert_eq(erl_send(pid, ATOM("hello")), 0, "a send to a pid never fails");
}
