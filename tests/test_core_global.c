/*
 * test_core_global.c - global names across C nodes: this test's process is
 * t@localhost, the other nodes are tests/node_peer.c children (node_util.h),
 * each test with an epmd of its own.
 *
 * Run: make -C tests test-core   (or build/plain/tests/test_core_global --verbose)
 */
#include "node_util.h"

#include "gen_server.h"
#include "global.h"

static void setup(void) {
    start_epmd(43100);
    start_runtime();
    start_self(0);
}

static void teardown(void) {
    erl_stop();
    kill_children();
}

TestSuite(global, .timeout = 180, .init = setup, .fini = teardown);

/* The pid of the agent on node peer. */
static term agent_of(const char *peer) {
    erl_send(TUPLE(ATOM("agent"), atom_from(peer)), TUPLE(ATOM("ping"), erl_self()));
    term pid;
    await(TUPLE(ATOM("pong"), VAR(&pid)), "the remote agent's pong");
    return pid;
}

/* What agent's node has for global name. */
static term where_at(term agent, term name) {
    erl_send(agent, TUPLE(ATOM("gwhere"), erl_self(), name));
    term pid;
    await(TUPLE(ATOM("gwhere"), agent, VAR(&pid)), "the agent's whereis");
    return pid;
}

/* Waits (WAIT_MS at most) until this node's whereis of name is want. */
static void expect_here(term name, term want) {
    int64_t end = now_ns() + (int64_t)WAIT_MS * 1000000;
    term got;
    while (!term_eq(got = global_whereis_name(name), want) && now_ns() < end)
        erl_sleep(2);   /* the table changes without a message to wait for */
    cr_assert(term_eq(got, want), "whereis %s is %s, not %s", FMT(name), FMT(got), FMT(want));
}

Test(global, a_name_registered_here_is_seen_there_and_unregistered_everywhere) {
    start_peer("p1@localhost", COOKIE, 0, NULL);
    term agent = agent_of("p1@localhost");
    cr_assert_eq(global_register_name(ATOM("mine"), erl_self()), 0);
    cr_assert(term_eq(where_at(agent, ATOM("mine")), erl_self()));
    errno = 0;
    cr_assert_eq(global_register_name(ATOM("mine"), agent), -1, "one name, two owners");
    cr_assert_eq(errno, EEXIST);
    cr_assert_eq(global_unregister_name(ATOM("mine")), 0);
    cr_assert(is_atom_named(where_at(agent, ATOM("mine")), "undefined"));
    cr_assert(is_none(global_whereis_name(ATOM("mine"))));
}

Test(global, global_send_and_a_global_name_as_a_server) {
    start_peer("p1@localhost", COOKIE, 0, NULL);
    term agent = agent_of("p1@localhost");
    erl_send(agent, TUPLE(ATOM("gcounter"), erl_self(), ATOM("gcounter")));
    await(TUPLE(ATOM("gcounter"), agent, ATOM("yes")), "the counter's registration");
    term server = TUPLE(ATOM("global"), ATOM("gcounter")), error = NONE;
    gen_server_cast(server, ATOM("tick"));
    term r = gen_server_call(server, ATOM("read"), WAIT_MS, &error);
    cr_assert(term_eq(r, INT(1)), "read gave %s (error %s)", FMT(r), FMT(error));
    erl_send(agent, TUPLE(ATOM("greg"), erl_self(), ATOM("agent_g")));
    await(TUPLE(ATOM("greg"), agent, ATOM("yes")), "the agent's registration");
    cr_assert_eq(global_send(ATOM("agent_g"), TUPLE(ATOM("ping"), erl_self())), 0);
    await(TUPLE(ATOM("pong"), agent), "the pong for global_send");
    errno = 0;
    cr_assert_eq(global_send(ATOM("nobody_g"), ATOM("x")), -1);
    cr_assert_eq(errno, ESRCH);
    r = gen_server_call(TUPLE(ATOM("global"), ATOM("nobody_g")), ATOM("read"), WAIT_MS, &error);
    cr_assert(is_none(r) && is_atom_named(error, "noproc"), "error %s", FMT(error));
}

/* A process here that registers a global name when told and reports. */
static void contender(term test) {
    term name;
    term m = erl_receive(TUPLE(ATOM("go"), VAR(&name)), ERL_INFINITY);
    (void)m;
    bool yes = global_register_name(name, erl_self()) == 0;
    erl_send(test, TUPLE(ATOM("greg"), erl_self(), yes ? ATOM("yes") : ATOM("no")));
    erl_receive(ATOM("stop"), ERL_INFINITY);
}

Test(global, three_nodes_registering_one_name_at_once_make_one_winner_every_round) {
    start_peer("p1@localhost", COOKIE, 0, NULL);
    start_peer("p2@localhost", COOKIE, 0, NULL);
    term a1 = agent_of("p1@localhost"), a2 = agent_of("p2@localhost");
    /* The peers connect to each other too, before the race. */
    erl_send(a1, TUPLE(ATOM("call"), erl_self(), TUPLE(ATOM("counter"), ATOM("p2@localhost")),
                       ATOM("read")));
    await(TUPLE(ATOM("called"), a1, ANY), "p1's call to p2");
    int rounds = 30 / (SAN_DIVISOR > 4 ? 3 : 1);
    for (int round = 0; round < rounds; round++) {
        char text[32];
        snprintf(text, sizeof text, "race_%d", round);
        term name = atom_from(text);
        term here = erl_spawn(contender, erl_self());
        erl_send(a1, TUPLE(ATOM("greg"), erl_self(), name));
        erl_send(a2, TUPLE(ATOM("greg"), erl_self(), name));
        erl_send(here, TUPLE(ATOM("go"), name));
        int yes = 0;
        term winner = NONE;
        for (int i = 0; i < 3; i++) {
            term who, said;
            term m = await(TUPLE(ATOM("greg"), VAR(&who), VAR(&said)), "a contender's answer");
            if (is_atom_named(said, "yes")) {
                yes++;
                winner = who;
            }
            erl_drop(m);
        }
        cr_assert_eq(yes, 1, "round %d: %d winners", round, yes);
        cr_assert(term_eq(global_whereis_name(name), winner), "round %d: here", round);
        cr_assert(term_eq(where_at(a1, name), winner), "round %d: on p1", round);
        cr_assert(term_eq(where_at(a2, name), winner), "round %d: on p2", round);
        erl_send(here, ATOM("stop"));
    }
}

Test(global, a_name_goes_when_its_owner_or_its_node_dies) {
    struct child *p1 = start_peer("p1@localhost", COOKIE, 0, NULL);
    term agent = agent_of("p1@localhost");
    erl_send(agent, TUPLE(ATOM("greg"), erl_self(), ATOM("owned")));
    await(TUPLE(ATOM("greg"), agent, ATOM("yes")), "the registration");
    expect_here(ATOM("owned"), agent);
    kill(p1->pid, SIGKILL);
    expect_here(ATOM("owned"), NONE);
    term v = erl_spawn(contender, erl_self());
    erl_send(v, TUPLE(ATOM("go"), ATOM("short_lived")));
    await(TUPLE(ATOM("greg"), v, ATOM("yes")), "the local registration");
    erl_exit(v, ATOM("kill"));
    expect_here(ATOM("short_lived"), NONE);
}

Test(global, a_node_that_connects_late_learns_the_names_and_a_clash_has_one_winner) {
    setenv("PEER_GLOBAL", "early", 1);  /* each peer registers it alone */
    start_peer("p1@localhost", COOKIE, 0, NULL);
    start_peer("p2@localhost", COOKIE, 0, NULL);
    unsetenv("PEER_GLOBAL");
    term a2 = agent_of("p2@localhost");
    expect_here(ATOM("early"), a2);     /* learnt when it connected */
    term a1 = agent_of("p1@localhost");
    expect_here(ATOM("early"), a1);     /* the clash: p1's name is smaller */
}
