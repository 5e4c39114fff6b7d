/*
 * test_06_cluster_members.c - the cluster's membership: a member joins and
 * votes, members leave (cluster_stop_member), stop(Name, global | all)
 * (cluster_stop_leader, cluster_stop_all) and the counter's stop, and two
 * members down of three give a clear error. Real members on loopback, as in
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
#include "06_cluster/shell_cmds.h"

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
    struct cluster_client c;
    start_all(&c);
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
    struct cluster_client c;
    start_all(&c);
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

/* ---- stop(Name, global | all), and the counter's stop --------------------- */

/* Whether member id's process is gone while its node is up. */
static bool member_gone(struct cluster_client *c, unsigned id) {
    term error = NONE;
    term info = cluster_member_info(c, cfg.nodes[id - 1], 2000, &error);
    bool gone = is_none(info) && is_atom_named(error, "noproc");
    erl_drop(info);
    erl_drop(error);
    return gone;
}

/* Waits (LONG_MS) until every member's process is gone, their nodes up. */
static void await_all_gone(struct cluster_client *c) {
    for (unsigned id = 1; id <= MEMBERS; id++) {
        int64_t end = now_ns() + (int64_t)LONG_MS * 1000000;
        while (!member_gone(c, id) && now_ns() < end)
            erl_sleep(10);      /* between two looks */
        cr_assert(member_gone(c, id), "c%u's member is still there (or its node is gone)",
                  id);
    }
}

/* With every member gone: a call fails with no_leader, and no member's
 * program ended for it (each exits 0 when its input closes). */
static void expect_no_cluster(struct cluster_client *c) {
    term error = NONE;
    term v = counter_tick_sync(c, 1, 3000, &error);
    cr_assert(is_none(v), "a tick with every member stopped returned %s", FMT(v));
    cr_assert(is_atom_named(error, "no_leader"), "the error was %s, not no_leader", FMT(error));
    for (unsigned id = 1; id <= MEMBERS; id++)
        cr_assert_eq(stop_member_cleanly(id), 0, "c%u's exit status", id);
}

Test(members, stop_global_stops_the_leader_and_a_new_leader_serves_the_state) {
    struct cluster_client c;
    start_all(&c);
    cr_assert_eq(ticks(&c, 5), 5);
    term error = NONE;
    cr_assert_eq(cluster_stop_leader(&c, LONG_MS, &error), 0, "stop global: %s", FMT(error));
    /* the member that led when asked is gone, and only it */
    unsigned old = 0, n_gone = 0;
    for (unsigned id = 1; id <= MEMBERS; id++)
        if (member_gone(&c, id))
            old = id, n_gone++;
    cr_assert_eq(n_gone, 1, "%u members gone after stop global", n_gone);
    unsigned next = await_leader(&c);
    cr_assert_neq(next, old, "c%u leads after it was stopped", old);
    await_configuration(&c, old, NULL, 2);
    cr_assert_eq(must(counter_read(&c, LONG_MS, &error), error, "the read after"), 5);
    cr_assert_eq(ticks(&c, 1), 6);
    cr_assert_eq(stop_member_cleanly(old), 0, "c%u's exit status", old);
}

/* Starts every member again on its directory and checks, through a fresh
 * client *c, that the count is the one they stopped at, then ticks it on
 * by one. */
static void restart_all_counting(struct cluster_client *c, int64_t count) {
    start_all(c);
    term error = NONE;
    cr_assert_eq(must(counter_read(c, LONG_MS, &error), error, "the read after"), count,
                 "the count after all three restarted");
    cr_assert_eq(ticks(c, 1), count + 1);
}

Test(members, stop_all_stops_every_member_and_a_restart_brings_the_count_back) {
    struct cluster_client c;
    start_all(&c);
    cr_assert_eq(ticks(&c, 7), 7);
    term error = NONE;
    cr_assert_eq(cluster_stop_all(&c, LONG_MS, &error), 0, "stop all: %s", FMT(error));
    for (unsigned id = 1; id <= MEMBERS; id++)      /* gone at once, nodes up */
        cr_assert(member_gone(&c, id), "c%u's member after stop all", id);
    expect_no_cluster(&c);
    struct cluster_client fresh;
    restart_all_counting(&fresh, 7);
    for (unsigned id = 1; id <= MEMBERS; id++)
        await_state(&fresh, id, 8);
}

/* counter:stop() casts stop; the callback stops on every member. Started
 * again on their logs, the members replay the stop without stopping. */
Test(members, the_counters_stop_stops_every_member_and_a_restart_goes_on) {
    struct cluster_client c;
    start_all(&c);
    cr_assert_eq(ticks(&c, 4), 4);
    counter_stop(&c);
    await_all_gone(&c);
    expect_no_cluster(&c);
    struct cluster_client fresh;
    restart_all_counting(&fresh, 4);
    /* the leader applied the stop again, from its log, and went on */
    unsigned leader = await_leader(&fresh);
    cr_assert(child_says(member[leader], "replayed, not stopping", LONG_MS),
              "c%u never said it replayed the stop; it wrote:\n%s", leader,
              member[leader]->text);
    await_state(&fresh, leader, 5);
}

/* The shell's stop_member global | all, typed as the Erlang they stand for.
 * The shell's client lists c1..c9: stop all finds no node for c4..c9 and
 * counts them stopped. */
Test(members, the_shell_stops_the_leader_then_every_member) {
    struct cluster_client c;
    start_all(&c);
    cr_assert_eq(ticks(&c, 3), 3);
    shell_cmds_init(&cfg);
    expect_shell(&counter_shell, "gen_server_cluster:stop(counter, global).", SHELL_OK, "ok\n");
    unsigned n_gone = 0;
    for (unsigned id = 1; id <= MEMBERS; id++)
        n_gone += member_gone(&c, id);
    cr_assert_eq(n_gone, 1, "%u members gone after stop global", n_gone);
    term error = NONE;
    cr_assert_eq(must(counter_read(&c, LONG_MS, &error), error, "the read after"), 3);
    expect_shell(&counter_shell, "stop_member all", SHELL_OK, "ok\n");
    for (unsigned id = 1; id <= MEMBERS; id++)
        cr_assert(member_gone(&c, id), "c%u's member after stop_member all", id);
    expect_no_cluster(&c);
}

/* ---- Two down of three --------------------------------------------------- */

Test(members, two_down_of_three_give_no_leader_not_a_hang) {
    struct cluster_client c;
    start_all(&c);
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
