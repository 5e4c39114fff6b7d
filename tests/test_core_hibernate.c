/*
 * test_core_hibernate.c - erl_hibernate, erlang:hibernate/3.
 *
 * Run: make -C tests test-core   (or build/plain/tests/test_core_hibernate --verbose)
 *
 * A hibernated process's stack pages are seen with mincore(): the region a
 * process wrote before it hibernated is resident then, and none of it once
 * it has hibernated. A test waits for that (polling, with WAIT_MS as the
 * limit), never for a fixed time.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "erl.h"
#include "test_util.h"

TestSuite(hibernate, .timeout = 60, .init = start_runtime, .fini = stop_runtime);
TestSuite(hibernate_one, .timeout = 60, .init = start_one_scheduler, .fini = stop_runtime);

/* Bytes of stack a hibernator writes before it hibernates: half the plain
 * build's 64 KiB stack. */
#define DEEP_BYTES (32 * 1024)

/* The text a hibernator keeps in its heap across its hibernation. */
#define KEPT_TEXT "kept across hibernation"

/* ---- Stack pages --------------------------------------------------------- */

/* Pages of [lo, hi) resident in memory now (mincore). */
static size_t resident_pages(uintptr_t lo, uintptr_t hi) {
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    lo &= ~(page - 1);
    hi = (hi + page - 1) & ~(page - 1);
    size_t n = (hi - lo) / page, count = 0;
    unsigned char vec[n];
    cr_assert_eq(mincore((void *)lo, hi - lo, vec), 0, "mincore failed");
    for (size_t i = 0; i < n; i++)
        count += vec[i] & 1;
    return count;
}

/* Waits until no page of [lo, hi) is resident: the process whose stack it
 * is has hibernated. Fails the test after WAIT_MS. */
static void await_stack_given_back(uintptr_t lo, uintptr_t hi) {
    int64_t deadline = now_ns() + (int64_t)WAIT_MS * 1000000;
    while (resident_pages(lo, hi) != 0) {
        cr_assert(now_ns() < deadline, "%zu stack pages still resident after %d ms",
                  resident_pages(lo, hi), WAIT_MS);
        erl_yield();
    }
}

/* ---- The hibernating process --------------------------------------------- */

static void woken(term arg);

/* Where a hibernator's stack is: filled in from its {deep, ...} message. */
struct hibernator {
    term pid;
    uintptr_t lo;   /* the lowest byte it wrote */
    uintptr_t top;  /* a local of its entry function, near its stack's top */
};

/* Writes DEEP_BYTES of stack, keeps KEPT_TEXT in its heap, tells the owner
 * {deep, Self, Lo, Top, TrapExit}, waits for hibernate, and hibernates in
 * woken({Owner, KeptBytes, KeptSize}), KeptBytes the kept copy's address.
 * With trap_exit, it traps exits first. The hibernate call sits inside an
 * erl_catch frame that must be gone after it. */
struct deep_ctx {
    term owner;
    uintptr_t top;
};

static void go_deep(void *ctx) {
    struct deep_ctx *d = ctx;
    volatile char buf[DEEP_BYTES];
    for (size_t i = 0; i < sizeof buf; i += 64)
        buf[i] = 1;
    term kept = term_keep(STR(KEPT_TEXT));
    erl_send(d->owner, TUPLE(ATOM("deep"), erl_self(), INT((intptr_t)buf),
                             INT((intptr_t)d->top)));
    erl_drop(erl_receive(ATOM("hibernate"), ERL_INFINITY));
    erl_hibernate(woken, TUPLE(d->owner, INT((intptr_t)kept.u.bytes), INT(kept.size)));
}

static void hibernator(term arg) {
    volatile char top = 0;
    if (is_atom_named(element(2, arg), "trap"))
        erl_trap_exit(true);
    struct deep_ctx d = {element(1, arg), (uintptr_t)&top};
    erl_catch(go_deep, &d, NULL);
    erl_exit_self(ATOM("erl_hibernate_returned"));
}

/* The function a hibernator wakes in: tells the owner {woken, Self, Local,
 * HeapIntact, FirstMessage}, then serves: {count, K} (replies {counted,
 * Self, InOrder} once the next K messages are {n, 1} .. {n, K}),
 * hibernate (hibernates again in woken), {crash, R} (exit(R), outside any
 * catch: the one around the first hibernate is gone). */
static void woken(term arg) {
    volatile char local = 0;
    term owner = element(1, arg);
    const char *kept = (const char *)(intptr_t)element(2, arg).u.integer;
    bool intact = element(3, arg).u.integer == (int64_t)strlen(KEPT_TEXT) &&
                  memcmp(kept, KEPT_TEXT, strlen(KEPT_TEXT)) == 0;
    term first = erl_receive(ANY, 0);
    erl_send(owner, TUPLE(ATOM("woken"), erl_self(), INT((intptr_t)&local),
                          bool_atom(intact), is_none(first) ? ATOM("none") : first));
    erl_drop(first);
    for (;;) {
        term k, r;
        term m = erl_receive_any((term[]){TUPLE(ATOM("count"), VAR(&k)), ATOM("hibernate"),
                                          TUPLE(ATOM("crash"), VAR(&r))},
                                 3, ERL_INFINITY, NULL);
        if (is_atom_named(m, "hibernate")) {
            term again = TUPLE(owner, element(2, arg), element(3, arg));
            erl_drop(arg);          /* immediates only: again needs nothing of it */
            erl_hibernate(woken, again);
        }
        if (is_tuple(m) && is_atom_named(element(1, m), "crash"))
            erl_exit_self(r);
        bool in_order = true;
        for (int64_t i = 1; i <= k.u.integer; i++) {
            term n = erl_receive(ANY, 0);
            in_order = in_order && term_eq(n, TUPLE(ATOM("n"), INT(i)));
            erl_drop(n);
        }
        erl_send(owner, TUPLE(ATOM("counted"), erl_self(), bool_atom(in_order)));
        erl_drop(m);
    }
}

/* Spawns a hibernator (trapping exits when trap), waits for its {deep, ...}
 * and checks its deep stack is resident. */
static struct hibernator hibernator_start(bool trap) {
    term pid = erl_spawn_opt("hibernator", hibernator,
                             TUPLE(erl_self(), trap ? ATOM("trap") : ATOM("no")), ERL_QUIET, NULL);
    cr_assert(!is_none(pid));
    term lo, top;
    erl_drop(await(TUPLE(ATOM("deep"), pid, VAR(&lo), VAR(&top)), "{deep, ...}"));
    struct hibernator h = {pid, (uintptr_t)lo.u.integer, (uintptr_t)top.u.integer};
    size_t pages = (h.top - h.lo) / (size_t)sysconf(_SC_PAGESIZE);
    cr_assert_geq(resident_pages(h.lo, h.top), pages,
                  "the %d bytes it wrote are not resident", DEEP_BYTES);
    return h;
}

/* Tells h to hibernate and waits until it has given its stack back. */
static void hibernate_now(const struct hibernator *h) {
    erl_send(h->pid, ATOM("hibernate"));
    await_stack_given_back(h->lo, h->top);
}

/* Waits for h's {woken, ...}; checks its heap was intact and it runs at the
 * top of its stack; returns its first message (valid until the next
 * receive's drop: the caller drops the whole message through *msg). */
static term await_woken(const struct hibernator *h, term *msg) {
    term local, intact, first;
    *msg = await(TUPLE(ATOM("woken"), h->pid, VAR(&local), VAR(&intact), VAR(&first)),
                 "{woken, ...}");
    cr_assert(is_atom_named(intact, "true"), "its heap was not intact after waking");
    uintptr_t at = (uintptr_t)local.u.integer;
    cr_assert(at > h->lo + DEEP_BYTES / 2 && at < h->top + 2048 && at + 2048 > h->top,
              "woke with a local at %#lx: not at the top of an empty stack "
              "(entry's local %#lx, deep frame %#lx)",
              (unsigned long)at, (unsigned long)h->top, (unsigned long)h->lo);
    return first;
}

/* ---- Tests ---------------------------------------------------------------- */

Test(hibernate, gives_its_stack_back_and_wakes_in_fn_with_its_heap) {
    struct hibernator h = hibernator_start(false);
    hibernate_now(&h);
    cr_assert(erl_is_alive(h.pid));
    erl_send(h.pid, ATOM("ping"));
    term m, first = await_woken(&h, &m);
    cr_assert(is_atom_named(first, "ping"), "woke with %s, expected ping", FMT(first));
    erl_drop(m);
    erl_exit(h.pid, ATOM("kill"));
}

Test(hibernate, messages_sent_while_hibernated_all_arrive_in_order) {
    struct hibernator h = hibernator_start(false);
    hibernate_now(&h);
    int k = 20000 / SAN_DIVISOR;
    erl_send(h.pid, TUPLE(ATOM("n"), INT(0)));
    for (int i = 1; i <= k; i++)
        erl_send(h.pid, TUPLE(ATOM("n"), INT(i)));
    erl_send(h.pid, TUPLE(ATOM("count"), INT(k)));
    term m, first = await_woken(&h, &m);
    cr_assert(term_eq(first, TUPLE(ATOM("n"), INT(0))), "first message %s", FMT(first));
    erl_drop(m);
    term ok;
    erl_drop(await(TUPLE(ATOM("counted"), h.pid, VAR(&ok)), "{counted, ...}"));
    cr_assert(is_atom_named(ok, "true"), "the %d messages were not all there in order", k);
    erl_exit(h.pid, ATOM("kill"));
}

Test(hibernate, a_message_already_queued_wakes_it_at_once) {
    term pid = erl_spawn(hibernator, TUPLE(erl_self(), ATOM("no")));
    term lo, top;
    erl_drop(await(TUPLE(ATOM("deep"), pid, VAR(&lo), VAR(&top)), "{deep, ...}"));
    struct hibernator h = {pid, (uintptr_t)lo.u.integer, (uintptr_t)top.u.integer};
    /* early goes first: its receive of hibernate passes over it, so early
     * waits in its queue when it hibernates. */
    erl_send(pid, ATOM("early"));
    erl_send(pid, ATOM("hibernate"));
    term m, first = await_woken(&h, &m);
    cr_assert(is_atom_named(first, "early"), "woke with %s, expected early", FMT(first));
    erl_drop(m);
    erl_exit(pid, ATOM("kill"));
}

/* What erl_processes lists for one pid (ctx: its info, pid set). */
static void find_info(const struct erl_proc_info *info, void *ctx) {
    struct erl_proc_info *want = ctx;
    if (term_eq(info->pid, want->pid))
        *want = *info;
}

/* pid's entry in erl_processes; status NULL when it is not listed. */
static struct erl_proc_info info_of(term pid) {
    struct erl_proc_info info = {.pid = pid};
    erl_processes(find_info, &info);
    return info;
}

static size_t links_of(term pid) { return info_of(pid).links; }

/* Waits until erl_processes lists pid as hibernated, or not. */
static void await_listed_hibernated(term pid, bool hibernated) {
    int64_t deadline = now_ns() + (int64_t)WAIT_MS * 1000000;
    for (;;) {
        struct erl_proc_info i = info_of(pid);
        if (i.status && strcmp(i.status, "waiting") == 0 && i.hibernated == hibernated)
            return;
        cr_assert(now_ns() < deadline, "not listed as %s within %d ms",
                  hibernated ? "hibernated" : "waiting unhibernated", WAIT_MS);
        erl_yield();
    }
}

Test(hibernate, the_process_listing_says_which_processes_hibernate) {
    struct hibernator h = hibernator_start(false);
    await_listed_hibernated(h.pid, false);     /* in receive, its stack kept */
    hibernate_now(&h);
    await_listed_hibernated(h.pid, true);
    erl_send(h.pid, ATOM("ping"));
    term m;
    await_woken(&h, &m);
    erl_drop(m);
    await_listed_hibernated(h.pid, false);     /* in receive again, in woken */
    erl_exit(h.pid, ATOM("kill"));
}

Test(hibernate, links_monitors_and_exits_reach_a_hibernated_process) {
    struct hibernator h = hibernator_start(false);
    hibernate_now(&h);
    cr_assert_eq(erl_link(h.pid), 0);
    term ref = erl_monitor(h.pid);
    int64_t deadline = now_ns() + (int64_t)WAIT_MS * 1000000;
    while (links_of(h.pid) != 1) {
        cr_assert(now_ns() < deadline, "the link never took effect in it");
        erl_yield();
    }
    /* The link woke it, took effect, and it hibernated again without
     * entering woken: its stack goes back once more. */
    await_stack_given_back(h.lo, h.top);
    erl_send(h.pid, ATOM("ping"));
    term m, first = await_woken(&h, &m);
    cr_assert(is_atom_named(first, "ping"), "woke with %s, expected ping", FMT(first));
    erl_drop(m);
    erl_send(h.pid, ATOM("hibernate"));
    await_stack_given_back(h.lo, h.top);
    erl_exit(h.pid, ATOM("boom"));
    erl_drop(await(TUPLE(ATOM("EXIT"), h.pid, ATOM("boom")), "{'EXIT', Pid, boom}"));
    expect_down(ref, ATOM("boom"));
}

/* Waits in a receive that times out, then hibernates, to end at the next
 * message. */
static void hibernates_after_a_timeout(term arg) {
    erl_sleep(1);                   /* a receive whose timer fires */
    erl_hibernate(erl_drop, arg);
}

/* The timer of a receive that timed out is not taken for the next wait's:
 * the process sleeps, where it once found itself timed out at every look
 * and ran again and again, never waiting. */
Test(hibernate, a_process_hibernated_after_a_timeout_sleeps) {
    term pid = erl_spawn(hibernates_after_a_timeout, NONE);
    await_listed_hibernated(pid, true);
    erl_exit(pid, ATOM("kill"));
}

Test(hibernate, kill_ends_a_hibernated_process) {
    struct hibernator h = hibernator_start(false);
    term ref = erl_monitor(h.pid);
    hibernate_now(&h);
    erl_exit(h.pid, ATOM("kill"));
    expect_down(ref, ATOM("killed"));
}

Test(hibernate, an_exit_signal_wakes_a_trapping_process_as_a_message) {
    struct hibernator h = hibernator_start(true);
    hibernate_now(&h);
    erl_exit(h.pid, ATOM("boom"));
    term m, first = await_woken(&h, &m);
    cr_assert(term_eq(first, TUPLE(ATOM("EXIT"), erl_self(), ATOM("boom"))),
              "woke with %s, expected {'EXIT', Self, boom}", FMT(first));
    erl_drop(m);
    erl_exit(h.pid, ATOM("kill"));
}

Test(hibernate, no_catch_survives_hibernation) {
    struct hibernator h = hibernator_start(false);
    term ref = erl_monitor(h.pid);
    hibernate_now(&h);
    erl_send(h.pid, ATOM("ping"));
    term m;
    await_woken(&h, &m);
    erl_drop(m);
    erl_send(h.pid, TUPLE(ATOM("crash"), ATOM("boom")));
    expect_down(ref, ATOM("boom"));   /* not caught by the catch it hibernated in */
}

Test(hibernate_one, hibernates_again_and_again_on_one_scheduler) {
    struct hibernator h = hibernator_start(false);
    hibernate_now(&h);
    for (int i = 0; i < 2000 / SAN_DIVISOR; i++) {
        erl_send(h.pid, ATOM("ping"));
        term m, first = await_woken(&h, &m);
        cr_assert(is_atom_named(first, "ping"), "round %d: woke with %s", i, FMT(first));
        erl_drop(m);
        hibernate_now(&h);
    }
    erl_exit(h.pid, ATOM("kill"));
}

Test(hibernate, erl_stop_ends_hibernated_processes) {
    struct hibernator h = hibernator_start(false);
    hibernate_now(&h);
    erl_stop();     /* kills it: must not hang on it; .fini then does nothing */
}
