/*
 * test_core_node.c - the node layer: this test's process is the node
 * t@localhost; C peers (tests/node_peer.c) and real erl nodes run as child
 * processes, each test with an epmd of its own (node_util.h).
 *
 * Run: make -C tests test-core   (or build/plain/tests/test_core_node --verbose)
 */
#include "node_util.h"

#include <ei.h>
#include <sys/stat.h>

#include "dist.h"
#include "gen_server.h"

static void setup(void) {
    start_epmd(42100);
    start_runtime();
    start_self(0);
}

/* A tick of FAST_TICK ms: a stopped node is down within seconds, and a
 * loaded machine's scheduling does not take a live one down (1 s ticks
 * did, once, at a load average of 27 on two cores). */
#define FAST_TICK 3000
static void setup_fast_tick(void) {
    start_epmd(42100);
    start_runtime();
    start_self(FAST_TICK);
}

/* Ticks of 3 s: a connection goes down only after about 2 s of silence,
 * which a loaded machine's scheduling never makes (with 1 s it did, once,
 * at a load average of 20 on two cores). */
static void setup_slow_tick(void) {
    start_epmd(42100);
    start_runtime();
    start_self(3000);
}

static void teardown(void) {
    erl_stop();
    kill_children();
}

TestSuite(node, .timeout = 120, .init = setup, .fini = teardown);
TestSuite(node_down, .timeout = 120, .init = setup_fast_tick, .fini = teardown);
TestSuite(node_ticks, .timeout = 120, .init = setup_slow_tick, .fini = teardown);
TestSuite(node_bad, .timeout = 120, .init = setup, .fini = teardown);
TestSuite(node_erl, .timeout = 180, .init = setup, .fini = teardown);

/* A send queue bound of QUEUE_BOUND bytes and the default tick (60 s). */
#define QUEUE_BOUND (1 << 20)
static void setup_small_queue(void) {
    start_epmd(42100);
    start_runtime();
    struct node_options o = {.name = SELF_NAME, .cookie = COOKIE, .max_queue = QUEUE_BOUND};
    cr_assert_eq(node_start(&o), 0, "node_start failed: %s", strerror(errno));
}
TestSuite(node_queue, .timeout = 120, .init = setup_small_queue, .fini = teardown);

/* ---- Helpers ------------------------------------------------------------- */

#define PEER "p1@localhost"

/* The pid of the agent on node peer, asked for by {agent, Peer}. */
static term agent_of(const char *peer) {
    erl_send(TUPLE(ATOM("agent"), atom_from(peer)), TUPLE(ATOM("ping"), erl_self()));
    term pid;
    term m = await(TUPLE(ATOM("pong"), VAR(&pid)), "the remote agent's pong");
    (void)m;
    cr_assert(is_pid(pid) && pid.node != 0, "the pong came from %s", FMT(pid));
    return pid;
}

/* A process that waits for {exit, Reason} and exits with it. */
static void victim(term arg) {
    (void)arg;
    term reason;
    term m = erl_receive(TUPLE(ATOM("exit"), VAR(&reason)), ERL_INFINITY);
    (void)m;
    erl_exit_self(reason);
}

/* ---- Starting ------------------------------------------------------------ */

Test(node, the_node_has_its_name_and_refuses_a_second_start) {
    cr_assert(is_atom_named(erl_node(), SELF_NAME), "erl_node() is %s", FMT(erl_node()));
    struct node_options o = {.name = "again@localhost", .cookie = COOKIE};
    errno = 0;
    cr_assert_eq(node_start(&o), -1);
    cr_assert_eq(errno, EALREADY);
}

Test(node, a_name_without_a_host_is_refused) {
    node_stop();
    struct node_options o = {.name = "nohost", .cookie = COOKIE};
    errno = 0;
    cr_assert_eq(node_start(&o), -1);
    cr_assert_eq(errno, EINVAL);
    cr_assert(is_atom_named(erl_node(), "nonode@nohost"));
}

Test(node, without_a_cookie_it_makes_and_reads_the_cookie_file) {
    node_stop();
    char home[] = "/tmp/node_home_XXXXXX";
    cr_assert_not_null(mkdtemp(home));
    setenv("HOME", home, 1);
    struct node_options o = {.name = "k@localhost"};
    cr_assert_eq(node_start(&o), 0);
    char path[200];
    snprintf(path, sizeof path, "%s/.erlang.cookie", home);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "no cookie file was made");
    cr_assert_eq(st.st_mode & 0777, 0400, "mode %o", st.st_mode & 0777);
    char cookie[64] = "";
    FILE *f = fopen(path, "r");
    cr_assert(fgets(cookie, sizeof cookie, f));
    fclose(f);
    cr_assert_eq(strlen(cookie), 20);
    start_peer(PEER, cookie, 0, NULL);     /* the cookie is the node's */
    agent_of(PEER);
    node_stop();
    unlink(path);
    rmdir(home);
}

Test(node, every_start_has_a_fresh_creation_of_at_least_4) {
    uint32_t first = node_creation(0);
    node_stop();
    start_self(0);
    uint32_t second = node_creation(0);
    cr_assert_geq(first, 4);
    cr_assert_geq(second, 4);
    cr_assert_neq(first, second, "two starts had creation %u", first);
}

Test(node, with_no_epmd_answering_it_starts_one) {
    node_stop();
    kill_child(&epmd_child);    /* nobody answers on this test's port now */
    cr_assert(!node_port_answers(epmd_port_used));
    daemon_port = epmd_port_used;   /* the teardown stops it, whatever happens */
    start_self(0);
    cr_assert(node_port_answers(epmd_port_used), "no epmd was started");
    char p[16];
    snprintf(p, sizeof p, "%d", epmd_port_used);
    struct child *names = spawn_child((char *[]){"epmd", "-port", p, "-names", NULL});
    expect_child_says(names, "name t at port");     /* and it knows this node */
    kill_child(names);
    node_stop();
    cr_assert(kill_epmd_daemon(), "the epmd started could not be stopped");
}

/* ---- Messages, calls, order ---------------------------------------------- */

Test(node, send_by_name_at_node_and_by_pid_both_arrive) {
    start_peer(PEER, COOKIE, 0, NULL);
    term agent = agent_of(PEER);
    cr_assert(is_atom_named(erl_node_of(agent), PEER));
    erl_send(agent, TUPLE(ATOM("ping"), erl_self()));
    await(TUPLE(ATOM("pong"), agent), "a pong for the send by pid");
    term nodes[4];
    cr_assert_eq(erl_nodes(nodes, 4), 1);
    cr_assert(is_atom_named(nodes[0], PEER));
}

Test(node, call_and_cast_by_name_at_node_and_by_pid) {
    start_peer(PEER, COOKIE, 0, NULL);
    term server = TUPLE(ATOM("counter"), ATOM(PEER)), error = NONE;
    term r = gen_server_call(server, ATOM("read"), WAIT_MS, &error);
    cr_assert(term_eq(r, INT(0)), "read gave %s (error %s)", FMT(r), FMT(error));
    gen_server_cast(server, ATOM("tick"));
    gen_server_cast(server, ATOM("tick"));
    r = gen_server_call(server, TUPLE(ATOM("add"), INT(10)), WAIT_MS, &error);
    cr_assert(term_eq(r, INT(12)), "add gave %s", FMT(r));
    term agent = agent_of(PEER);
    erl_send(agent, TUPLE(ATOM("whereis"), erl_self(), ATOM("counter")));
    term pid;
    await(TUPLE(ATOM("where"), agent, VAR(&pid)), "the counter's pid");
    gen_server_cast(pid, ATOM("tick"));
    r = gen_server_call(pid, ATOM("read"), WAIT_MS, &error);
    cr_assert(term_eq(r, INT(13)), "read by pid gave %s", FMT(r));
}

Test(node, a_remote_process_calls_a_server_here) {
    start_peer(PEER, COOKIE, 0, NULL);
    term agent = agent_of(PEER);
    term server = TUPLE(ATOM("here_server"), erl_node());
    erl_register(ATOM("here_server"), erl_self());
    erl_send(agent, TUPLE(ATOM("call"), erl_self(), server, ATOM("question")));
    term from;
    await(TUPLE(ATOM("$gen_call"), VAR(&from), ATOM("question")), "the remote call");
    gen_server_reply(from, ATOM("answer"));
    await(TUPLE(ATOM("called"), agent, ATOM("answer")), "the reply to reach the caller");
}

Test(node, messages_between_two_processes_keep_their_order) {
    start_peer(PEER, COOKIE, 0, NULL);
    term agent = agent_of(PEER);
    int n = 5000 / SAN_DIVISOR;
    erl_send(agent, TUPLE(ATOM("burst"), erl_self(), INT(n)));
    for (int i = 1; i <= n; i++) {
        term got;
        term m = await(TUPLE(ATOM("seq"), agent, VAR(&got)), "the next of the burst");
        cr_assert(term_eq(got, INT(i)), "message %d came as %s", i, FMT(got));
        erl_drop(m);
    }
}

/* Frames larger than a reader's buffer (64 KiB), between small ones, come
 * whole and in order, both ways. */
Test(node, large_and_small_messages_cross_whole_and_in_order) {
    start_peer(PEER, COOKIE, 0, NULL);
    term agent = agent_of(PEER);    /* the agent echoes to us from now on */
    static unsigned char big[300000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (unsigned char)(i * 7 + i / 251);
    const size_t sizes[] = {sizeof big, 10, 70000, 1, sizeof big};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++)
        erl_send(agent, TUPLE(ATOM("echo"), INT((int64_t)k), term_binary(big, sizes[k])));
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        term bin;
        term m = await(TUPLE(ATOM("got"), agent, TUPLE(ATOM("echo"), INT((int64_t)k), VAR(&bin))),
                       "the next echo, in order");
        cr_assert(is_binary(bin) && bin.size == sizes[k], "echo %zu came as %zu bytes", k,
                  (size_t)bin.size);
        cr_assert(memcmp(bin.u.bytes, big, sizes[k]) == 0, "echo %zu came changed", k);
        erl_drop(m);
    }
}

Test(node, a_connection_made_from_the_other_side_carries_both_ways) {
    erl_register(ATOM("peer_hello"), erl_self());
    start_peer(PEER, COOKIE, 0, SELF_NAME);
    term pid;
    await(TUPLE(ATOM("hello"), VAR(&pid)), "the peer's hello");
    erl_send(pid, TUPLE(ATOM("ping"), erl_self()));
    await(TUPLE(ATOM("pong"), pid), "the pong back on its connection");
    term nodes[4];
    cr_assert_eq(erl_nodes(nodes, 4), 1, "one connection, not two");
}

Test(node, connecting_from_both_sides_at_once_ends_with_one_connection) {
    erl_register(ATOM("peer_hello"), erl_self());
    for (int round = 0; round < 5; round++) {
        struct child *peer = start_peer(PEER, COOKIE, 0, SELF_NAME);
        /* The peer connects here as it starts; this side connects too,
         * at once, before its hello is seen. */
        term agent = agent_of(PEER);
        term pid;
        await(TUPLE(ATOM("hello"), VAR(&pid)), "the peer's hello");
        cr_assert(term_eq(pid, agent));
        term nodes[4];
        cr_assert_eq(erl_nodes(nodes, 4), 1, "round %d: not one connection", round);
        erl_send(pid, TUPLE(ATOM("burst"), erl_self(), INT(3)));
        for (int i = 1; i <= 3; i++)
            await(TUPLE(ATOM("seq"), pid, INT(i)), "the burst on the one connection");
        erl_monitor_node(ATOM(PEER), true);
        kill_child(peer);
        await(TUPLE(ATOM("nodedown"), ATOM(PEER)), "the round's nodedown");
    }
}

/* ---- Links and monitors -------------------------------------------------- */

Test(node, a_link_to_a_remote_process_brings_its_exit) {
    start_peer(PEER, COOKIE, 0, NULL);
    term agent = agent_of(PEER);
    erl_link(agent);
    erl_send(agent, TUPLE(ATOM("exit"), ATOM("boom")));
    await(TUPLE(ATOM("EXIT"), agent, ATOM("boom")), "the remote exit");
}

Test(node, a_remote_link_to_a_process_here_brings_its_exit_there) {
    start_peer(PEER, COOKIE, 0, NULL);
    term agent = agent_of(PEER);
    term v = erl_spawn(victim, NONE);
    erl_send(agent, TUPLE(ATOM("link"), erl_self(), v));
    await(TUPLE(ATOM("linked"), agent), "the remote link");
    erl_send(v, TUPLE(ATOM("exit"), ATOM("bang")));
    await(TUPLE(ATOM("got"), agent, TUPLE(ATOM("EXIT"), v, ATOM("bang"))),
          "the agent's {'EXIT', Victim, bang}");
}

Test(node, monitors_by_pid_and_by_name_bring_the_down) {
    start_peer(PEER, COOKIE, 0, NULL);
    term agent = agent_of(PEER);
    term by_pid = erl_monitor(agent);
    term by_name = erl_monitor(TUPLE(ATOM("agent"), ATOM(PEER)));
    erl_send(agent, TUPLE(ATOM("exit"), ATOM("gone")));
    expect_down(by_pid, ATOM("gone"));
    term obj;
    await(TUPLE(ATOM("DOWN"), by_name, ATOM("process"), VAR(&obj), ATOM("gone")),
          "the 'DOWN' by name");
    cr_assert(term_eq(obj, TUPLE(ATOM("agent"), ATOM(PEER))), "it names %s", FMT(obj));
}

Test(node, a_remote_monitor_of_a_process_here_brings_the_down_there) {
    start_peer(PEER, COOKIE, 0, NULL);
    term agent = agent_of(PEER);
    term v = erl_spawn(victim, NONE);
    erl_send(agent, TUPLE(ATOM("monitor"), erl_self(), v));
    term ref;
    await(TUPLE(ATOM("monitoring"), agent, VAR(&ref)), "the remote monitor");
    erl_send(v, TUPLE(ATOM("exit"), ATOM("bye")));
    await(TUPLE(ATOM("got"), agent, TUPLE(ATOM("DOWN"), ref, ATOM("process"), v, ATOM("bye"))),
          "the agent's 'DOWN'");
}

Test(node, a_monitor_of_a_name_nobody_holds_there_is_down_noproc) {
    start_peer(PEER, COOKIE, 0, NULL);
    term ref = erl_monitor(TUPLE(ATOM("nobody"), ATOM(PEER)));
    expect_down(ref, ATOM("noproc"));
}

Test(node, a_node_nobody_runs_gives_noconnection_and_nodedown) {
    term target = TUPLE(ATOM("x"), ATOM("ghost@localhost"));
    term ref = erl_monitor(target);
    expect_down(ref, ATOM("noconnection"));
    erl_monitor_node(ATOM("ghost@localhost"), true);
    await(TUPLE(ATOM("nodedown"), ATOM("ghost@localhost")), "the nodedown");
}

/* ---- A node that dies or hangs ------------------------------------------- */

/* A peer that stops reading (SIGSTOP) while we send to it: once the
 * socket's buffers are full, the connection's queue reaches the bound and
 * the connection goes down, long before the 60 s tick would notice. */
Test(node_queue, a_peer_that_does_not_read_is_taken_down_at_the_queue_bound) {
    struct child *peer = start_peer(PEER, COOKIE, 0, NULL);
    term agent = agent_of(PEER);
    term mon = erl_monitor(agent);
    erl_monitor_node(ATOM(PEER), true);
    cr_assert_eq(kill(peer->pid, SIGSTOP), 0);
    static unsigned char pad[65536];
    term nodedown = TUPLE(ATOM("nodedown"), ATOM(PEER));
    int64_t t0 = now_ns();
    size_t sent = 0;
    term m = NONE;
    while (is_none(m) && sent < ((size_t)512 << 20) &&
           now_ns() - t0 < (int64_t)WAIT_MS * 1000000) {
        erl_send(agent, TUPLE(ATOM("pad"), term_binary(pad, sizeof pad)));
        sent += sizeof pad;
        m = erl_receive(nodedown, 0);
    }
    cr_assert(!is_none(m), "no nodedown after %zu bytes sent to a stopped peer", sent);
    cr_assert_gt(sent, (size_t)QUEUE_BOUND, "down after only %zu bytes", sent);
    expect_down(mon, ATOM("noconnection"));
    term nodes[4];
    cr_assert_eq(erl_nodes(nodes, 4), 0, "the connection is gone");
}

Test(node_down, kill_9_gives_links_monitors_and_node_monitors_noconnection) {
    struct child *peer = start_peer(PEER, COOKIE, FAST_TICK, NULL);
    term agent = agent_of(PEER);
    erl_link(agent);
    term mon = erl_monitor(agent);
    erl_monitor_node(ATOM(PEER), true);
    erl_monitor_nodes(true);
    kill(peer->pid, SIGKILL);
    await(TUPLE(ATOM("EXIT"), agent, ATOM("noconnection")), "the link's noconnection");
    expect_down(mon, ATOM("noconnection"));
    await(TUPLE(ATOM("nodedown"), ATOM(PEER)), "monitor_node's nodedown");
    await(TUPLE(ATOM("nodedown"), ATOM(PEER)), "monitor_nodes' nodedown");
    term nodes[4];
    cr_assert_eq(erl_nodes(nodes, 4), 0);
}

/* Calls {counter, Peer} with {sleep, 60000, Test} (the counter tells the
 * test it sleeps) and tells the test how the call ended. */
static void slow_caller(term test) {
    term error = NONE;
    int64_t t0 = now_ns();
    term r = gen_server_call(TUPLE(ATOM("counter"), ATOM(PEER)),
                             TUPLE(ATOM("sleep"), INT(60000), test), ERL_INFINITY, &error);
    erl_send(test, TUPLE(ATOM("call_ended"), is_none(r) ? error : r,
                         INT((now_ns() - t0) / 1000000)));
}

Test(node_down, a_call_in_flight_to_a_killed_node_fails_at_once) {
    struct child *peer = start_peer(PEER, COOKIE, FAST_TICK, NULL);
    erl_spawn(slow_caller, erl_self());
    await(ATOM("sleeping"), "the counter to take the call");
    int64_t t0 = now_ns();
    kill(peer->pid, SIGKILL);
    term why, ms;
    await(TUPLE(ATOM("call_ended"), VAR(&why), VAR(&ms)), "the call to end");
    int64_t after_kill = (now_ns() - t0) / 1000000;
    cr_assert(term_eq(why, TUPLE(ATOM("nodedown"), ATOM(PEER))), "it ended with %s", FMT(why));
    /* At once: from the closed socket, not a missed tick. */
    cr_assert_lt(after_kill, FAST_TICK * 2 / 3, "it ended %lld ms after the kill",
                 (long long)after_kill);
}

Test(node_down, a_stopped_node_is_down_within_the_tick) {
    struct child *peer = start_peer(PEER, COOKIE, FAST_TICK, NULL);
    term agent = agent_of(PEER);
    term mon = erl_monitor(agent);
    kill(peer->pid, SIGSTOP);
    int64_t t0 = now_ns();
    expect_down(mon, ATOM("noconnection"));
    int64_t ms = (now_ns() - t0) / 1000000;
    kill(peer->pid, SIGCONT);
    cr_assert_lt(ms, 3 * FAST_TICK, "down after %lld ms with a tick of %d", (long long)ms,
                 FAST_TICK);
}

/* ---- Bad peers ------------------------------------------------------------ */

Test(node_bad, a_wrong_cookie_is_refused_both_ways_naming_the_peer) {
    struct child *peer = start_peer(PEER, "another_cookie", 0, NULL);
    term ref = erl_monitor(TUPLE(ATOM("agent"), ATOM(PEER)));
    expect_down(ref, ATOM("noconnection"));
    expect_child_says(peer, "refused a connection from " SELF_NAME ": wrong cookie");
    kill_child(peer);
    /* The other way: a peer with the wrong cookie connects here. Our log
     * goes to stderr, which is a pipe for the test's length. */
    int p[2], saved = dup(2);
    cr_assert_eq(pipe(p), 0);
    dup2(p[1], 2);
    start_peer("p2@localhost", "another_cookie", 0, SELF_NAME);
    struct child mine = {.out = p[0]};
    bool said = child_says(&mine, "refused a connection from p2@localhost: wrong cookie", WAIT_MS);
    dup2(saved, 2);
    close(p[1]);
    cr_assert(said, "our log said:\n%s", mine.text);
    close(p[0]);
    close(saved);
}

/* A connection made with libei alone, to write raw frames here. */
static int raw_connection(ei_cnode *ec) {
    cr_assert_eq(ei_connect_init(ec, "raw", COOKIE, 12345), 0);
    int fd = ei_connect(ec, SELF_NAME);
    cr_assert_geq(fd, 0, "libei could not connect");
    return fd;
}

/* Writes a frame of len bytes (its length header first). */
static void write_frame(int fd, const void *body, uint32_t len, uint32_t claimed) {
    unsigned char h[4] = {claimed >> 24, claimed >> 16, claimed >> 8, claimed};
    cr_assert_eq(write(fd, h, 4), 4);
    if (len)
        cr_assert_eq(write(fd, body, len), (ssize_t)len);
}

/* The connection to raw@... is taken down and the log says why; the node
 * and its other connection go on. */
static void expect_closed_for(const void *body, uint32_t len, uint32_t claimed,
                              const char *why) {
    start_peer(PEER, COOKIE, 0, NULL);
    term agent = agent_of(PEER);
    int p[2], saved = dup(2);
    cr_assert_eq(pipe(p), 0);
    dup2(p[1], 2);
    erl_monitor_nodes(true);
    ei_cnode ec;
    int fd = raw_connection(&ec);
    term raw = atom_from(ei_thisnodename(&ec));
    await(TUPLE(ATOM("nodeup"), raw), "the raw connection to come up");
    erl_monitor_node(raw, true);
    write_frame(fd, body, len, claimed);
    term m = erl_receive(TUPLE(ATOM("nodedown"), raw), WAIT_MS);
    struct child mine = {.out = p[0]};
    bool said = child_says(&mine, why, WAIT_MS);
    dup2(saved, 2);
    close(p[1]);
    close(p[0]);
    close(saved);
    cr_assert(!is_none(m), "the raw connection was not taken down");
    cr_assert(said, "the log did not say \"%s\":\n%s", why, mine.text);
    erl_send(agent, TUPLE(ATOM("ping"), erl_self()));
    await(TUPLE(ATOM("pong"), agent), "the other connection to go on");
    close(fd);
}

Test(node_bad, a_malformed_control_message_closes_that_connection) {
    expect_closed_for("p\x83\x68\x03\x6a", 5, 5, "a bad control message: a tuple of 3");
}

Test(node_bad, a_term_it_cannot_hold_closes_that_connection) {
    expect_closed_for("p\x83\x46\x40\x09\x21\xfb\x54\x44\x2d\x18", 11, 11, "a float");
}

Test(node_bad, an_oversized_frame_closes_that_connection) {
    expect_closed_for(NULL, 0, 0x7fffffff, "a frame of 2147483647 bytes");
}

Test(node_bad, a_frame_of_another_type_closes_that_connection) {
    expect_closed_for("q\x83\x6a", 3, 3, "a frame of type 113");
}

Test(node_bad, a_truncated_frame_closes_that_connection) {
    expect_closed_for("p\x83", 2, 2, "a bad control message");
}

/* ---- A real erl node ----------------------------------------------------- */

static gen_result count_init(term args) {
    (void)args;
    return gen_ok(INT(0));
}

static gen_result count_call(term req, term from, term state) {
    (void)from;
    return is_atom_named(req, "read") ? gen_reply(state, state) : gen_reply(ATOM("badreq"), state);
}

static gen_result count_cast(term req, term state) {
    return gen_noreply(is_atom_named(req, "tick") ? INT(state.u.integer + 1) : state);
}

static const struct gen_server_module counter = {
    .name = "counter", .init = count_init, .handle_call = count_call,
    .handle_cast = count_cast,
};

static term rpc_read(term args) {
    (void)args;
    term error;
    term r = gen_server_call(ATOM("counter"), ATOM("read"), WAIT_MS, &error);
    return is_none(r) ? ATOM("error") : r;
}

/* What erl does against this node, printing a line for each result. */
static const char erl_script[] =
    "T = 't@localhost',"
    "io:format(\"ping ~p~n\", [net_adm:ping(T)]),"
    "io:format(\"read ~p~n\", [gen_server:call({counter, T}, read)]),"
    "gen_server:cast({counter, T}, tick),"
    "io:format(\"after_cast ~p~n\", [gen_server:call({counter, T}, read)]),"
    "io:format(\"rpc_call ~p~n\", [rpc:call(T, counter, read, [])]),"
    "io:format(\"block_call ~p~n\", [rpc:block_call(T, counter, read, [])]),"
    "io:format(\"undef ~p~n\", [rpc:block_call(T, nope, nope, [])]),"
    "process_flag(trap_exit, true),"
    "{victim, T} ! {whois, self()},"
    "P = receive {victim_is, V} -> V end,"
    "link(P),"
    "{victim, T} ! {die, boom},"
    "receive {'EXIT', P, R} -> io:format(\"exit ~p~n\", [R])"
    " after 10000 -> io:format(\"no_exit~n\") end,"
    "Loop = fun L() -> receive {_, stop} -> exit(stopped);"
    " {'$gen_call', {P1, Tag}, Q} -> P1 ! {Tag, {got, Q}}, L();"
    " {From, M} -> From ! {echo, self(), M}, L() after 60000 -> ok end end,"
    "register(echo, spawn(Loop)),"
    "io:format(\"done~n\"),"
    "receive after 60000 -> halt() end.";

Test(node_erl, erl_pings_calls_casts_rpcs_and_links_to_a_c_process) {
    cr_assert(!is_none(gen_server_start(ATOM("counter"), &counter, NONE, 0, NULL)));
    node_rpc_register("counter", "read", 0, rpc_read);
    erl_register(ATOM("victim"), erl_spawn(erl_victim, NONE));
    struct child *erl = spawn_child((char *[]){"erl", "-sname", "e1@localhost", "-setcookie",
                                               COOKIE, "-noshell", "-eval",
                                               (char *)erl_script, NULL});
    expect_child_says(erl, "done\n");
    const char *want[] = {"ping pong", "read 0", "after_cast 1", "rpc_call 1",
                          "block_call 1", "undef {badrpc,{'EXIT',{undef,[{nope,nope,[],[]}]}}}",
                          "exit boom"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        cr_assert(strstr(erl->text, want[i]), "erl did not print \"%s\"; it printed:\n%s",
                  want[i], erl->text);
    /* This side to erl: a send to a registered name there, and a reply to
     * this process's pid. */
    term echo = TUPLE(ATOM("echo"), ATOM("e1@localhost"));
    erl_send(echo, TUPLE(erl_self(), ATOM("hello")));
    term pid;
    await(TUPLE(ATOM("echo"), VAR(&pid), ATOM("hello")), "erl's echo");
    erl_send(pid, TUPLE(erl_self(), ATOM("again")));
    await(TUPLE(ATOM("echo"), pid, ATOM("again")), "erl's echo by pid");
    /* A call from here to a process there that answers as gen:reply does. */
    term error = NONE;
    term r = gen_server_call(echo, ATOM("question"), WAIT_MS, &error);
    cr_assert(term_eq(r, TUPLE(ATOM("got"), ATOM("question"))), "the call gave %s (error %s)",
              FMT(r), FMT(error));
    /* A monitor from here on an erl process: its 'DOWN' comes with the
     * process's own reason (MONITOR_P_EXIT; the node announces monitor
     * names, which BEAM wants before it sends one). */
    term mon = erl_monitor(pid);
    erl_send(pid, TUPLE(erl_self(), ATOM("stop")));
    expect_down(mon, ATOM("stopped"));
}

Test(node_ticks, erl_and_this_node_keep_a_quiet_connection_up_with_ticks) {
    struct child *erl = spawn_child((char *[]){"erl", "-sname", "e2@localhost", "-setcookie",
        COOKIE, "-kernel", "net_ticktime", "3", "-noshell", "-eval",
        "io:format(\"~p~n\", [net_adm:ping('t@localhost')]), receive after 60000 -> ok end.",
        NULL});
    expect_child_says(erl, "pong");
    erl_monitor_node(ATOM("e2@localhost"), true);
    /* Quiet for over twice either side's tick time: only ticks keep it up. */
    term m = erl_receive(TUPLE(ATOM("nodedown"), ANY), 7000);
    cr_assert(is_none(m), "the quiet connection went down");
    term nodes[4];
    cr_assert_eq(erl_nodes(nodes, 4), 1);
}
