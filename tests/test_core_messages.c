/*
 * test_core_messages.c - messages, names, listings, and the runtime after
 * erl_stop. The processes spawned here are in process_util.h.
 *
 * Run: make -C tests test-core   (or build/plain/tests/test_core_messages --verbose)
 */
#include "process_util.h"

TestSuite(message, .timeout = 30, .init = start_runtime, .fini = stop_runtime);
TestSuite(name, .timeout = 30, .init = start_runtime, .fini = stop_runtime);
TestSuite(stopped, .timeout = 30);
TestSuite(listing, .timeout = 30, .init = start_runtime, .fini = stop_runtime);

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
