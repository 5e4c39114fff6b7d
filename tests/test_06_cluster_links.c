/*
 * test_06_cluster_links.c - the rest of gen_server_cluster's API: the
 * servers' pids and nodes (get_all_server_pids/1, get_all_server_nodes/1),
 * is_running/1, and link/2, unlink/2 with links that follow whoever leads.
 * Real members on loopback, as in test_06_cluster.c (cluster_util.h).
 *
 * Each test waits for events (an 'EXIT', a 'DOWN', a leader, a state)
 * with generous deadlines only, and asserts what happened, never how soon.
 *
 * Run: make -C tests test-06   (or build/plain/tests/test_06_cluster_links --verbose)
 */
#include "node_util.h"

#include "cluster_util.h"

TestSuite(servers, .timeout = 600, .init = setup, .fini = teardown);

/* ---- Servers ------------------------------------------------------------- */

/* The backups of servers ({Leader, [Backup]}) in v (at most n); how many. */
static size_t backups_of(term servers, term *v, size_t n) {
    size_t k = 0;
    for (term l = element(2, servers); is_list(l) && l.size; l = l.u.elements[l.size])
        for (size_t i = 0; i < l.size; i++, k++)
            if (k < n)
                v[k] = l.u.elements[i];
    return k;
}

/* Waits until cluster_server_pids shows a leader and n backups; returns
 * it (the caller's). */
static term await_servers(struct cluster_client *c, size_t n) {
    term s = NONE, error = NONE, v[MEMBERS];
    for (int64_t end = now_ns() + (int64_t)LONG_MS * 1000000; now_ns() < end;) {
        erl_drop(s);
        erl_drop(error);
        error = NONE;
        s = cluster_server_pids(c, 2000, &error);
        if (!is_none(s) && backups_of(s, v, MEMBERS) == n)
            return s;
        erl_sleep(10);      /* between two looks */
    }
    cr_assert_fail("never a leader and %zu backups: last %s (%s)", n, FMT(s), FMT(error));
    return NONE;
}

/* Checks that nodes ({LeaderNode, [BackupNode]}) names the nodes of pids
 * ({LeaderPid, [BackupPid]}), in the same order. */
static void expect_same_nodes(term pids, term nodes) {
    term p[MEMBERS], n[MEMBERS];
    size_t np = backups_of(pids, p, MEMBERS), nn = backups_of(nodes, n, MEMBERS);
    cr_assert(term_eq(erl_node_of(element(1, pids)), element(1, nodes)),
              "the leader's pid %s is not on %s", FMT(element(1, pids)),
              FMT(element(1, nodes)));
    cr_assert_eq(np, nn, "%s against %s", FMT(pids), FMT(nodes));
    for (size_t i = 0; i < np; i++)
        cr_assert(term_eq(erl_node_of(p[i]), n[i]), "backup %s is not on %s", FMT(p[i]),
                  FMT(n[i]));
}

Test(servers, the_leaders_pid_comes_first_then_the_backups_and_they_follow_failover) {
    for (unsigned id = 1; id <= MEMBERS; id++)
        start_member(id);
    struct cluster_client c;
    cluster_client_init(&c, COUNTER, cfg.node_names, MEMBERS);
    await_leader(&c);
    term pids = await_servers(&c, MEMBERS - 1), error = NONE;
    unsigned leader = id_of(erl_node_of(element(1, pids)));
    cr_assert_neq(leader, 0, "the leader's pid %s is on no member's node", FMT(pids));
    term nodes = cluster_server_nodes(&c, LONG_MS, &error);
    cr_assert(!is_none(nodes), "get_all_server_nodes: %s", FMT(error));
    expect_same_nodes(pids, nodes);
    cr_assert(is_atom_named(element(1, nodes), cfg.nodes[leader - 1]));
    cr_assert(cluster_is_running(&c, LONG_MS), "not running with c%u leading", leader);
    /* the backups follow: a tick reaches each one's copy */
    cr_assert_eq(must(counter_tick_sync(&c, 1, LONG_MS, &error), error, "a tick"), 1);
    for (unsigned id = 1; id <= MEMBERS; id++)
        await_state(&c, id, 1);
    /* the pid is the leader's member process: it goes with its node */
    term ref = erl_monitor(element(1, pids));
    kill_member(leader);
    term down = erl_receive(TUPLE(ATOM("DOWN"), ref, ATOM("process"), element(1, pids), ANY),
                            LONG_MS);
    cr_assert(!is_none(down), "no 'DOWN' of the old leader %s", FMT(element(1, pids)));
    term after = await_servers(&c, MEMBERS - 2);
    cr_assert(!term_eq(element(1, after), element(1, pids)), "the dead leader still leads");
    unsigned next = id_of(erl_node_of(element(1, after)));
    unsigned last = 6 - leader - next;      /* ids 1 + 2 + 3 */
    cr_assert(next != 0 && next != leader, "the new leader %s", FMT(after));
    /* one of three left: none leads, and it says so */
    kill_member(next);
    for (int64_t end = now_ns() + (int64_t)LONG_MS * 1000000;
         cluster_is_running(&c, 2000) && now_ns() < end;)
        erl_sleep(10);      /* until the last one's Raft steps it down */
    cr_assert(!cluster_is_running(&c, 2000), "running with one member of three");
    term none = cluster_server_pids(&c, 2000, &error);
    cr_assert(is_none(none), "servers with one of three: %s", FMT(none));
    cr_assert(is_atom_named(error, "no_leader"), "the error was %s", FMT(error));
    cr_assert_eq(stop_member_cleanly(last), 0, "c%u's exit status", last);
}
