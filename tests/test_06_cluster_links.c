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

#include "cluster_fsm.h"
#include "cluster_util.h"
#include "06_cluster/shell_cmds.h"

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
    struct cluster_client c;
    start_all(&c);
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

/* The shell's servers and running, typed as the Erlang they stand for. The
 * shell's client lists c1..c9: c4..c9 have no node and are left out. */
Test(servers, the_shell_shows_the_servers_and_whether_it_runs) {
    struct cluster_client c;
    start_all(&c);
    term s = await_servers(&c, MEMBERS - 1), error = NONE;
    erl_drop(s);
    shell_cmds_init(&cfg);
    expect_shell(&counter_shell, "gen_server_cluster:is_running(counter).", SHELL_OK, "true\n");
    /* what the shell shows is what the API says (asked again until both
     * agree: an election in between would change it) */
    char want[512] = "", *text = NULL;
    for (int64_t end = now_ns() + (int64_t)LONG_MS * 1000000; now_ns() < end;) {
        free(text);
        enum shell_status st;
        text = shell_output(&counter_shell, "gen_server_cluster:get_all_server_nodes(counter).",
                            &st);
        cr_assert_eq(st, SHELL_OK, "servers: %s", text);
        term nodes = cluster_server_nodes(&c, LONG_MS, &error);
        cr_assert(!is_none(nodes), "get_all_server_nodes: %s", FMT(error));
        term_format(want, sizeof want - 1, nodes);
        strcat(want, "\n");
        erl_drop(nodes);
        if (strcmp(text, want) == 0)
            break;
    }
    cr_assert_str_eq(text, want);
    free(text);
    unsigned leader = await_leader(&c), next = leader % MEMBERS + 1;
    kill_member(leader);
    kill_member(next);
    for (int64_t end = now_ns() + (int64_t)LONG_MS * 1000000;
         cluster_is_running(&c, 2000) && now_ns() < end;)
        erl_sleep(10);      /* until the last one's Raft steps it down */
    expect_shell(&counter_shell, "running", SHELL_OK, "false\n");
    expect_shell(&counter_shell, "servers", SHELL_ERROR,
                 "** exception exit: {no_leader,{gen_server_cluster,get_all_server_nodes,"
                 "[counter]}}\n");
}

/* ---- Links that follow whoever leads -------------------------------------- */

TestSuite(links, .timeout = 600, .init = setup, .fini = teardown);

/* Whether list holds t. */
static bool list_has(term list, term t) {
    for (term l = list; is_list(l) && l.size; l = l.u.elements[l.size])
        for (size_t i = 0; i < l.size; i++)
            if (term_eq(l.u.elements[i], t))
                return true;
    return false;
}

/* Waits until member id's links ({Pids, Held}) hold pid (in) or not, and
 * its process holds held links (-1: any number). */
static void await_links(struct cluster_client *c, unsigned id, term pid, bool in, int held) {
    term l = NONE, error = NONE;
    for (int64_t end = now_ns() + (int64_t)LONG_MS * 1000000; now_ns() < end;) {
        erl_drop(l);
        erl_drop(error);
        error = NONE;
        l = cluster_member_links(c, cfg.nodes[id - 1], 2000, &error);
        if (!is_none(l) && list_has(element(1, l), pid) == in &&
            (held < 0 || element(2, l).u.integer == held)) {
            erl_drop(l);
            return;
        }
        erl_sleep(10);      /* between two looks */
    }
    cr_assert_fail("c%u's links never %s %s with %d held: last %s (%s)", id,
                   in ? "held" : "lost", FMT(pid), held, FMT(l), FMT(error));
}

/* The pid of the member that leads, once it leads with n backups, and its
 * id in *id. */
static term leader_pid(struct cluster_client *c, size_t n, unsigned *id) {
    term s = await_servers(c, n), pid = element(1, s);
    *id = id_of(erl_node_of(pid));
    cr_assert_neq(*id, 0, "the leader %s is on no member's node", FMT(s));
    erl_drop(s);
    return pid;     /* immediate: outlives s */
}

/* Waits for {'EXIT', from, Reason} in the caller's mailbox (or, with
 * sender a pid, {sender, {'EXIT', ...}}: what linked_proc forwards);
 * returns Reason (immediate atoms only are compared by the tests). */
static term expect_exit(term sender, term from) {
    term reason;
    term pattern = TUPLE(ATOM("EXIT"), from, VAR(&reason));
    term m = erl_receive(is_none(sender) ? pattern : TUPLE(sender, pattern), LONG_MS);
    cr_assert(!is_none(m), "no {'EXIT', %s, _}%s within %d ms", FMT(from),
              is_none(sender) ? "" : " forwarded", LONG_MS);
    return reason;
}

/* A process linked to the cluster: traps exits, forwards every message to
 * the test (parent) as {Self, Msg}, and ends normally at quit. */
static void linked_proc(term parent) {
    erl_trap_exit(true);
    for (;;) {
        term msg = erl_receive(ANY, ERL_INFINITY);
        if (is_atom_named(msg, "quit"))
            return;
        erl_send(parent, TUPLE(erl_self(), msg));
        erl_drop(msg);
    }
}

/* The state machine alone: a link is applied once per number, a non-pid
 * refused, an exit takes it out, and the set survives a snapshot. */
Test(links, the_state_machine_keeps_the_set_once_and_in_snapshots) {
    struct cluster_fsm f = {.mod = &counter_module};
    struct fsm_answer a;
    term p = erl_spawn(linked_proc, erl_self()), from = TUPLE(erl_self(), INT(1));
    term link = TUPLE(ATOM("call"), INT(1), INT(7), from, TUPLE(INT(42), INT(1)),
                      TUPLE(ATOM("$link"), p));
    fsm_apply(&f, link, INT(0), &a);
    cr_assert(is_atom_named(a.value, "true") && term_eq(a.linked, p), "%s", FMT(a.value));
    fsm_apply(&f, link, INT(0), &a);    /* a retry: answered, not applied */
    cr_assert(is_atom_named(a.value, "true") && is_none(a.linked));
    cr_assert_eq(f.n_links, 1);
    term bad = TUPLE(ATOM("call"), INT(1), INT(8), from, TUPLE(INT(42), INT(2)),
                     TUPLE(ATOM("$link"), ATOM("foo")));
    fsm_apply(&f, bad, INT(0), &a);
    cr_assert(is_atom_named(a.value, "badarg") && is_none(a.linked), "%s", FMT(a.value));
    term cells[2];
    term saved = term_keep(fsm_links_term(&f, cells));
    fsm_apply(&f, TUPLE(ATOM("exited"), p), INT(0), &a);
    cr_assert(term_eq(a.unlinked, p) && !fsm_linked(&f, p) && f.n_links == 0);
    fsm_links_restore(&f, saved);
    cr_assert(fsm_linked(&f, p) && f.n_links == 1, "restored %s", FMT(saved));
    fsm_free(&f);
    erl_send(p, ATOM("quit"));
}

/* Links this thread to the cluster c, and waits until its leader holds
 * the link. Returns the leader's pid, and its id in *l. */
static term link_to_leader(struct cluster_client *c, unsigned *l) {
    term self = erl_self(), error = NONE;
    cr_assert_eq(cluster_link(c, self, LONG_MS, &error), 0, "link: %s", FMT(error));
    term p = leader_pid(c, MEMBERS - 1, l);
    await_links(c, *l, self, true, 1);
    return p;
}

Test(links, a_linked_process_hears_each_dead_leader_and_the_next_one_links_it) {
    struct cluster_client c;
    start_all(&c);
    term self = erl_self(), error = NONE;     /* a plain thread: it traps exits */
    cr_assert_eq(cluster_link(&c, self, LONG_MS, &error), 0, "link: %s", FMT(error));
    for (unsigned id = 1; id <= MEMBERS; id++)
        await_links(&c, id, self, true, -1);    /* every member knows it */
    unsigned l1, l2;
    term p1 = leader_pid(&c, MEMBERS - 1, &l1);
    await_links(&c, l1, self, true, 1);         /* the leader holds the link */
    for (unsigned id = 1; id <= MEMBERS; id++)
        if (id != l1)
            await_links(&c, id, self, true, 0); /* the backups do not */
    kill_member(l1);
    term why = expect_exit(NONE, p1);
    cr_assert(is_atom_named(why, "noconnection"), "the old leader's 'EXIT' said %s", FMT(why));
    /* the next leader links it, and its death is heard too */
    term p2 = leader_pid(&c, MEMBERS - 2, &l2);
    cr_assert_neq(l2, l1);
    await_links(&c, l2, self, true, 1);
    kill_member(l2);
    why = expect_exit(NONE, p2);
    cr_assert(is_atom_named(why, "noconnection"), "the next leader's 'EXIT' said %s", FMT(why));
}

Test(links, a_linked_process_that_ends_leaves_the_set_and_the_cluster_goes_on) {
    struct cluster_client c;
    start_all(&c);
    term p = erl_spawn(linked_proc, erl_self()), error = NONE;
    cr_assert_eq(cluster_link(&c, p, LONG_MS, &error), 0, "link: %s", FMT(error));
    unsigned l1, l2;
    term p1 = leader_pid(&c, MEMBERS - 1, &l1);
    await_links(&c, l1, p, true, 1);
    kill_member(l1);
    expect_exit(p, p1);     /* it traps exits: it lives on */
    term p2 = leader_pid(&c, MEMBERS - 2, &l2);
    await_links(&c, l2, p, true, 1);
    term ref = erl_monitor(p);
    erl_send(p, ATOM("quit"));
    cr_assert(!is_none(erl_receive(TUPLE(ATOM("DOWN"), ref, ANY, ANY, ANY), LONG_MS)));
    /* the leader heard it end and took it out, on every member left */
    await_links(&c, l2, p, false, 0);
    for (unsigned id = 1; id <= MEMBERS; id++)
        if (id != l1)
            await_links(&c, id, p, false, 0);
    cr_assert_eq(must(counter_tick_sync(&c, 1, LONG_MS, &error), error, "a tick after"), 1);
    term s = await_servers(&c, MEMBERS - 2);
    cr_assert(term_eq(element(1, s), p2), "%s leads, not %s", FMT(s), FMT(p2));
}

Test(links, unlink_takes_it_out_and_no_later_leader_links_it) {
    struct cluster_client c;
    start_all(&c);
    term self = erl_self(), error = NONE;
    term bad = NONE;
    cr_assert_eq(cluster_link(&c, ATOM("foo"), LONG_MS, &bad), -1, "link(foo) worked");
    cr_assert(match(bad, TUPLE(ATOM("not_a_pid"), ATOM("foo"))), "link(foo): %s", FMT(bad));
    unsigned l1, l2;
    link_to_leader(&c, &l1);
    cr_assert_eq(cluster_unlink(&c, self, LONG_MS, &error), 0, "unlink: %s", FMT(error));
    for (unsigned id = 1; id <= MEMBERS; id++)
        await_links(&c, id, self, false, 0);
    cr_assert_eq(cluster_unlink(&c, self, LONG_MS, &error), 0, "unlink again: %s", FMT(error));
    /* a canary linked instead: the next leader holds its link, and only it */
    term canary = erl_spawn(linked_proc, erl_self());
    cr_assert_eq(cluster_link(&c, canary, LONG_MS, &error), 0, "link: %s", FMT(error));
    cr_assert_eq(cluster_link(&c, canary, LONG_MS, &error), 0, "link again: %s", FMT(error));
    await_links(&c, l1, canary, true, 1);
    kill_member(l1);
    leader_pid(&c, MEMBERS - 2, &l2);
    await_links(&c, l2, canary, true, 1);
    await_links(&c, l2, self, false, 1);
    erl_send(canary, ATOM("quit"));
}

/* A leader paused (SIGSTOP) loses its leadership without dying: the next
 * leader links the process, and the old one, let go on (SIGCONT), steps
 * down and unlinks it, knowing the set still. */
Test(links, a_leader_that_stops_leading_unlinks_and_the_next_leader_links) {
    struct cluster_client c;
    start_all(&c);
    term self = erl_self();
    unsigned l1, l2;
    link_to_leader(&c, &l1);
    cr_assert_eq(kill(member[l1]->pid, SIGSTOP), 0);
    /* a client of the other two: asking the paused one would take a
     * whole try each time */
    const char *others[MEMBERS - 1];
    for (unsigned id = 1, k = 0; id <= MEMBERS; id++)
        if (id != l1)
            others[k++] = cfg.nodes[id - 1];
    struct cluster_client two;
    cluster_client_init(&two, COUNTER, others, MEMBERS - 1);
    leader_pid(&two, MEMBERS - 2, &l2);
    cr_assert_neq(l2, l1);
    await_links(&two, l2, self, true, 1);
    cr_assert_eq(kill(member[l1]->pid, SIGCONT), 0);
    await_links(&c, l1, self, true, 0);
}

/* stop all: the leader's member ends (normal), holding the link. */
Test(links, stop_all_gives_the_linked_process_the_leaders_exit) {
    struct cluster_client c;
    start_all(&c);
    term error = NONE;
    unsigned l;
    term p = link_to_leader(&c, &l);
    cr_assert_eq(cluster_stop_all(&c, LONG_MS, &error), 0, "stop all: %s", FMT(error));
    term why = expect_exit(NONE, p);
    cr_assert(is_atom_named(why, "normal"), "the leader's 'EXIT' said %s", FMT(why));
    for (unsigned id = 1; id <= MEMBERS; id++)
        cr_assert_eq(stop_member_cleanly(id), 0, "c%u's exit status", id);
}

/* The counter's stop: every member stops, the leader holding the link. */
Test(links, the_counters_stop_gives_the_linked_process_the_leaders_exit) {
    struct cluster_client c;
    start_all(&c);
    unsigned l;
    term p = link_to_leader(&c, &l);
    counter_stop(&c);
    term why = expect_exit(NONE, p);
    cr_assert(is_atom_named(why, "normal"), "the leader's 'EXIT' said %s", FMT(why));
}

/* Snapshots every 16 entries (trailing 5): after 40 ticks the link's entry
 * is in the snapshots only. All three killed and started again on their
 * directories, the next leader links it from its snapshot. */
Test(links, the_links_live_in_snapshots_and_a_restarted_leader_links_them) {
    setenv("COUNTER_SNAPSHOT_THRESHOLD", "16", 1);
    cr_assert_eq(stage_config_load(&cfg), 0);
    struct cluster_client c;
    start_all(&c);
    term self = erl_self(), error = NONE;
    cr_assert_eq(cluster_link(&c, self, LONG_MS, &error), 0, "link: %s", FMT(error));
    for (int i = 1; i <= 40; i++)
        cr_assert_eq(must(counter_tick_sync(&c, 1, LONG_MS, &error), error, "a tick"), i);
    unsigned l;
    term p = leader_pid(&c, MEMBERS - 1, &l);
    await_links(&c, l, self, true, 1);
    for (unsigned id = 1; id <= MEMBERS; id++) {
        bool snapshot = false;
        DIR *d = opendir(cfg.dirs[id - 1]);
        cr_assert_not_null(d);
        for (struct dirent *e; (e = readdir(d));)
            snapshot = snapshot || strncmp(e->d_name, "snapshot-", 9) == 0;
        closedir(d);
        cr_assert(snapshot, "c%u holds no snapshot in %s", id, cfg.dirs[id - 1]);
    }
    for (unsigned id = 1; id <= MEMBERS; id++)
        kill_member(id);
    expect_exit(NONE, p);
    for (unsigned id = 1; id <= MEMBERS; id++)
        start_member(id);
    unsigned next;
    leader_pid(&c, MEMBERS - 1, &next);
    await_links(&c, next, self, true, 1);
    cr_assert_eq(must(counter_read(&c, LONG_MS, &error), error, "the read after"), 40);
}
