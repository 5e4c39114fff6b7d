/*
 * process_util.h - the processes test_core_process.c and
 * test_core_messages.c spawn.
 *
 * Everything here is static (see test_util.h); a suite that leaves some of
 * it unused is not warned (the pragma below).
 */
#ifndef PROCESS_UTIL_H
#define PROCESS_UTIL_H

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "erl.h"
#include "test_util.h"

#pragma GCC diagnostic ignored "-Wunused-function"

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

#endif
