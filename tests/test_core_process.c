/*
 * test_core_process.c - processes: spawning, scale, fairness, timing.
 * Messages, names, listings and the runtime after erl_stop are in
 * test_core_messages.c; the processes both spawn in process_util.h.
 *
 * Run: make -C tests test-core   (or build/plain/tests/test_core_process --verbose)
 *
 * Under the sanitizers (ERL_SANITIZE) the 100 000-process churn and the
 * pid-reuse churn run a quarter of their counts (a twentieth under
 * ThreadSanitizer), and 2000 processes wait at once instead of 10 000 under
 * ThreadSanitizer: see SAN_DIVISOR and WAITING_PROCS in test_util.h.
 */
#include "process_util.h"

TestSuite(spawn, .timeout = 30, .init = start_runtime, .fini = stop_runtime);
TestSuite(scale, .timeout = 60, .fini = stop_runtime);
TestSuite(fairness, .timeout = 30, .fini = stop_runtime);
TestSuite(timing, .timeout = 30, .fini = stop_runtime);

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
