/*
 * test_06_cluster_members.c - the cluster's membership: a member joins and
 * votes, members leave (cluster_stop_member), and two members down of
 * three give a clear error. Real members on loopback, as in
 * test_06_cluster.c (cluster_util.h): member 4 is started with the join
 * option (06_cluster/counter --serve 4).
 *
 * Every test checks that no acknowledged tick is lost, and waits for
 * liveness with generous deadlines only: none needs an election to happen
 * within a short time.
 *
 * Run: make -C tests test-06   (or build/plain/tests/test_06_cluster_members --verbose)
 */
#include "node_util.h"

#include "cluster_util.h"

TestSuite(members, .timeout = 600, .init = setup, .fini = teardown);

#define JOINER (MEMBERS + 1)

/* The role (an atom) of member id in conf ([{Id, Node, Role}]), or NONE
 * when it is not there; *n counts the servers. */
static term role_in(term conf, unsigned id, size_t *n) {
    term role = NONE;
    *n = 0;
    for (term l = conf; is_list(l) && l.size; l = l.u.elements[l.size])
        for (size_t k = 0; k < l.size; k++, (*n)++)
            if (element(1, l.u.elements[k]).u.integer == id)
                role = element(3, l.u.elements[k]);
    return role;
}

/* Waits until the leader's configuration has n servers, member id among
 * them with role (an atom name), or not among them (role NULL). */
static void await_configuration(struct cluster_client *c, unsigned id, const char *role,
                                size_t n) {
    term conf = NONE, error = NONE;
    for (int64_t end = now_ns() + (int64_t)LONG_MS * 1000000; now_ns() < end;) {
        erl_drop(conf);
        erl_drop(error);
        error = NONE;
        unsigned leader = await_leader(c);
        conf = cluster_configuration(c, cfg.nodes[leader - 1], 2000, &error);
        size_t have;
        term r = role_in(conf, id, &have);
        if (have == n && (role ? is_atom_named(r, role) : is_none(r)))
            return;
        erl_sleep(10);      /* between two looks */
    }
    cr_assert_fail("the configuration never had %zu servers with c%u %s: last %s (%s)", n, id,
                   role ? role : "out", FMT(conf), FMT(error));
}

/* Ticks n times through c (each must be acknowledged); the last count. */
static int64_t ticks(struct cluster_client *c, int n) {
    term error = NONE;
    int64_t v = 0;
    for (int i = 0; i < n; i++)
        v = must(counter_tick_sync(c, 1, LONG_MS, &error), error, "a tick");
    return v;
}

/* ---- Joining ------------------------------------------------------------- */

Test(members, a_joiner_receives_the_state_and_its_vote_counts) {
    for (unsigned id = 1; id <= MEMBERS; id++)
        start_member(id);
    struct cluster_client c;
    cluster_client_init(&c, COUNTER, cfg.node_names, JOINER);
    cr_assert_eq(ticks(&c, 10), 10);
    start_member(JOINER);               /* not in the initial configuration */
    await_state(&c, JOINER, 10);        /* the state, from the leader */
    await_configuration(&c, JOINER, "voter", 4);
    cr_assert_eq(ticks(&c, 1), 11);
    await_state(&c, JOINER, 11);
    /* Its vote counts: one original member out of the configuration, a
     * second killed; of the three voters left, the third original and the
     * joiner are a majority only if the joiner votes. */
    unsigned leader = await_leader(&c);
    unsigned out = leader % MEMBERS + 1, dead = out % MEMBERS + 1;
    term error = NONE;
    cr_assert_eq(cluster_stop_member(&c, cfg.nodes[out - 1], LONG_MS, &error), 0,
                 "stop_member c%u: %s", out, FMT(error));
    cr_assert_eq(stop_member_cleanly(out), 0, "c%u's exit status", out);
    await_configuration(&c, out, NULL, 3);
    kill_member(dead);
    cr_assert_eq(ticks(&c, 1), 12, "two voters of three, the joiner one, took no tick");
    await_state(&c, JOINER, 12);
    /* A joiner stopped (cluster_stop: it stays in the configuration), or
     * killed, and started again on its directory rejoins with its log. */
    start_member(dead);
    cr_assert_eq(stop_member_cleanly(JOINER), 0, "c%u's exit status", JOINER);
    start_member(JOINER);
    cr_assert_eq(ticks(&c, 1), 13);
    await_state(&c, JOINER, 13);
    /* and after kill -9 too */
    kill_member(JOINER);
    start_member(JOINER);
    cr_assert_eq(ticks(&c, 1), 14);
    await_state(&c, JOINER, 14);
    await_configuration(&c, JOINER, "voter", 3);
}

/* Snapshots every 16 entries (trailing 5): the leader's log no longer
 * starts at 1 when the joiner comes, so the state reaches it as a
 * snapshot (InstallSnapshot), kept in its directory. */
Test(members, a_joiner_receives_the_state_from_a_snapshot) {
    setenv("COUNTER_SNAPSHOT_THRESHOLD", "16", 1);
    cr_assert_eq(stage_config_load(&cfg), 0);
    for (unsigned id = 1; id <= MEMBERS; id++)
        start_member(id);
    struct cluster_client c;
    cluster_client_init(&c, COUNTER, cfg.node_names, JOINER);
    cr_assert_eq(ticks(&c, 40), 40);
    start_member(JOINER);
    await_state(&c, JOINER, 40);
    await_configuration(&c, JOINER, "voter", 4);
    bool snapshot = false;
    DIR *d = opendir(cfg.dirs[JOINER - 1]);
    cr_assert_not_null(d);
    for (struct dirent *e; (e = readdir(d));)
        snapshot = snapshot || strncmp(e->d_name, "snapshot-", 9) == 0;
    closedir(d);
    cr_assert(snapshot, "c%u holds no snapshot in %s", JOINER, cfg.dirs[JOINER - 1]);
    cr_assert_eq(ticks(&c, 1), 41);
    await_state(&c, JOINER, 41);
}

/* ---- Leaving ------------------------------------------------------------- */

Test(members, stopping_a_backup_shrinks_the_configuration_and_the_two_left_go_on) {
    for (unsigned id = 1; id <= MEMBERS; id++)
        start_member(id);
    struct cluster_client c;
    cluster_client_init(&c, COUNTER, cfg.node_names, MEMBERS);
    cr_assert_eq(ticks(&c, 5), 5);
    unsigned leader = await_leader(&c), backup = leader % MEMBERS + 1;
    term error = NONE;
    cr_assert_eq(cluster_stop_member(&c, cfg.nodes[backup - 1], LONG_MS, &error), 0,
                 "stop_member c%u: %s", backup, FMT(error));
    /* stopped: its node is up, its member is gone */
    term info = cluster_member_info(&c, cfg.nodes[backup - 1], 2000, &error);
    cr_assert(is_none(info) && is_atom_named(error, "noproc"),
              "c%u's member after stop_member: %s (%s)", backup, FMT(info), FMT(error));
    cr_assert_eq(stop_member_cleanly(backup), 0, "c%u's exit status", backup);
    await_configuration(&c, backup, NULL, 2);
    cr_assert_eq(ticks(&c, 5), 10, "the two left (a majority of two) took no tick");
    for (unsigned id = 1; id <= MEMBERS; id++)
        if (id != backup)
            await_state(&c, id, 10);
}

Test(members, stopping_the_leader_member_hands_over_and_loses_nothing) {
    for (unsigned id = 1; id <= MEMBERS; id++)
        start_member(id);
    struct cluster_client c;
    cluster_client_init(&c, COUNTER, cfg.node_names, MEMBERS);
    cr_assert_eq(ticks(&c, 5), 5);
    unsigned leader = await_leader(&c);
    term error = NONE;
    cr_assert_eq(cluster_stop_member(&c, cfg.nodes[leader - 1], LONG_MS, &error), 0,
                 "stop_member c%u (the leader): %s", leader, FMT(error));
    cr_assert_eq(stop_member_cleanly(leader), 0, "c%u's exit status", leader);
    unsigned next = await_leader(&c);
    cr_assert(next != leader, "c%u still leads after it was stopped", leader);
    await_configuration(&c, leader, NULL, 2);
    cr_assert_eq(must(counter_read(&c, LONG_MS, &error), error, "the read after"), 5);
    cr_assert_eq(ticks(&c, 1), 6);
}

/* ---- Two down of three --------------------------------------------------- */

Test(members, two_down_of_three_give_no_leader_not_a_hang) {
    for (unsigned id = 1; id <= MEMBERS; id++)
        start_member(id);
    struct cluster_client c;
    cluster_client_init(&c, COUNTER, cfg.node_names, MEMBERS);
    cr_assert_eq(ticks(&c, 5), 5);
    kill_member(1);
    kill_member(2);
    term error = NONE;
    int64_t t0 = now_ns();
    term v = counter_tick_sync(&c, 1, 3000, &error);
    int64_t ms = (now_ns() - t0) / 1000000;
    cr_assert(is_none(v), "a tick with two of three down returned %s", FMT(v));
    cr_assert(is_atom_named(error, "no_leader"), "the error was %s, not no_leader", FMT(error));
    cr_assert_lt(ms, 3000 + 10000, "the call took %lld ms for a timeout of 3000", (long long)ms);
    cr_assert_eq(cluster_stop_member(&c, cfg.nodes[0], 3000, &error), -1);
    cr_assert(is_atom_named(error, "no_leader"), "stop_member's error was %s", FMT(error));
    /* one back: a majority again, and nothing acknowledged is lost (the
     * tick that failed may have been applied: it may have reached c3
     * while it still led; so c's next call, finding its number missing,
     * would fail with casts_lost: a fresh client reads) */
    start_member(1);
    struct cluster_client fresh;
    cluster_client_init(&fresh, COUNTER, cfg.node_names, MEMBERS);
    int64_t n = must(counter_read(&fresh, LONG_MS, &error), error, "the read after");
    cr_assert(n == 5 || n == 6, "count %lld after 5 acknowledged ticks and 1 failed",
              (long long)n);
}
