/*
 * test_core_node_erl.c - a real erl (OTP 25) against this node, t@localhost:
 * rpc:call, erpc:call, rpc:cast and erpc:cast, which OTP 25 sends as spawn
 * requests (common/node/spawn.c), spawn_link and spawn_monitor of a
 * function a C node does not have, and a BEAM monitor of a C process. Each
 * test runs one erl with a script that prints one line per result.
 *
 * Run: make test-core_node_erl   (or build/plain/tests/test_core_node_erl --verbose)
 */
#include "node_util.h"

#include "gen_server.h"

static void setup(void) {
    start_epmd(42200);
    start_runtime();
    start_self(0);
}

static void teardown(void) {
    erl_stop();
    kill_children();
}

TestSuite(node_rpc, .timeout = 180, .init = setup, .fini = teardown);

/* ---- What erl calls here ------------------------------------------------- */

/* counter: read gives the count, tick adds one and gives the new count. */
static gen_result count_init(term args) {
    (void)args;
    return gen_ok(INT(0));
}

static gen_result count_call(term req, term from, term state) {
    (void)from;
    if (is_atom_named(req, "tick"))
        return gen_reply(INT(state.u.integer + 1), INT(state.u.integer + 1));
    return gen_reply(state, state);
}

static const struct gen_server_module counter = {
    .name = "counter", .init = count_init, .handle_call = count_call,
};

/* counter:read/0 and counter:tick/0: a call to the C server. */
static term call_counter(const char *what) {
    term error;
    term r = gen_server_call(ATOM("counter"), atom_from(what), WAIT_MS, &error);
    return is_none(r) ? TUPLE(ATOM("error"), term_keep(error)) : r;
}

static term rpc_read(term args) {
    (void)args;
    return call_counter("read");
}

static term rpc_tick(term args) {
    (void)args;
    return call_counter("tick");
}

/* counter:crash/0 exits {crashed, 42}. */
static term rpc_crash(term args) {
    (void)args;
    erl_exit_self(TUPLE(ATOM("crashed"), INT(42)));
}

/* counter:note/1 sends {noted, X} to the process registered as tester. */
static term rpc_note(term args) {
    erl_send(ATOM("tester"), TUPLE(ATOM("noted"), args.u.elements[0]));  /* [X] */
    return ATOM("ok");
}

static void register_all(void) {
    cr_assert(!is_none(gen_server_start(ATOM("counter"), &counter, NONE, 0, NULL)));
    cr_assert_eq(node_rpc_register("counter", "read", 0, rpc_read), 0);
    cr_assert_eq(node_rpc_register("counter", "tick", 0, rpc_tick), 0);
    cr_assert_eq(node_rpc_register("counter", "crash", 0, rpc_crash), 0);
    cr_assert_eq(node_rpc_register("counter", "note", 1, rpc_note), 0);
    cr_assert_eq(erl_register(ATOM("tester"), erl_self()), 0);
}

/* Runs erl (node name e@localhost) with script, which ends by printing
 * done, and asserts that it printed each line of want. */
static struct child *run_erl(const char *name, const char *script, const char *const *want,
                             size_t n) {
    struct child *erl = spawn_child((char *[]){"erl", "-sname", (char *)name, "-setcookie",
                                               COOKIE, "-noshell", "-eval", (char *)script,
                                               NULL});
    expect_child_says(erl, "done\n");
    for (size_t i = 0; i < n; i++)
        cr_assert(strstr(erl->text, want[i]), "erl did not print \"%s\"; it printed:\n%s",
                  want[i], erl->text);
    return erl;
}

/* ---- rpc and erpc -------------------------------------------------------- */

static const char rpc_script[] =
    "T = 't@localhost',"
    "P = fun(L, V) -> io:format(\"~s ~0p~n\", [L, V]) end,"
    "P(\"read\", rpc:call(T, counter, read, [])),"
    "P(\"tick\", rpc:call(T, counter, tick, [])),"
    "P(\"read_again\", rpc:call(T, counter, read, [])),"
    "P(\"erpc\", erpc:call(T, counter, tick, [])),"
    "P(\"unexported\", rpc:call(T, counter, nope, [])),"
    "P(\"wrong_arity\", rpc:call(T, counter, read, [x])),"
    "P(\"crash\", rpc:call(T, counter, crash, [])),"
    "P(\"erpc_crash\", try erpc:call(T, counter, crash, []) catch C1:R1 -> {C1, R1} end),"
    "P(\"erpc_undef\", try erpc:call(T, counter, nope, []) catch C2:R2 -> {C2, R2} end),"
    "P(\"cast\", rpc:cast(T, counter, note, [hello])),"
    "P(\"erpc_cast\", erpc:cast(T, counter, note, [again])),"
    "io:format(\"done~n\"),"
    "receive after 60000 -> halt() end.";

Test(node_rpc, rpc_call_erpc_call_and_casts_from_erl_run_the_registered_functions) {
    register_all();
    const char *want[] = {
        "read 0\n", "tick 1\n", "read_again 1\n", "erpc 2\n",
        "unexported {badrpc,{'EXIT',{undef,[{counter,nope,[],[]}]}}}\n",
        "wrong_arity {badrpc,{'EXIT',{undef,[{counter,read,[x],[]}]}}}\n",
        "crash {badrpc,{'EXIT',{crashed,42}}}\n",
        "erpc_crash {exit,{exception,{crashed,42}}}\n",
        "erpc_undef {error,{exception,undef,[{counter,nope,[],[]}]}}\n",
        "cast true\n", "erpc_cast ok\n",
    };
    run_erl("e1@localhost", rpc_script, want, sizeof want / sizeof *want);
    await(TUPLE(ATOM("noted"), ATOM("hello")), "rpc:cast's note");
    await(TUPLE(ATOM("noted"), ATOM("again")), "erpc:cast's note");
    /* The counter moved exactly twice: the undef and crash calls ran nothing. */
    term error;
    term n = gen_server_call(ATOM("counter"), ATOM("read"), WAIT_MS, &error);
    cr_assert(term_eq(n, INT(2)), "the counter is %s", FMT(n));
}

/* ---- Spawns and monitors ------------------------------------------------- */

/* erlang:monitor(process, CPid) from erl, by pid and by name: 'DOWN' with
 * the C process's reason when it dies (MONITOR_P, then MONITOR_P_EXIT
 * back), not only when the connection goes; the node's own monitor of the
 * erl shell process sees it stop the same way. */
static const char spawn_script[] =
    "T = 't@localhost',"
    "P = fun(L, V) -> io:format(\"~s ~0p~n\", [L, V]) end,"
    "process_flag(trap_exit, true),"
    "L = spawn_link(T, nope, nope, [1]),"
    "P(\"linked\", receive {'EXIT', L, R1} -> R1 after 10000 -> no_exit end),"
    "{M, MRef} = spawn_monitor(T, nope, nope, []),"
    "P(\"spawn_down\", receive {'DOWN', MRef, process, M, R2} -> R2 after 10000 -> no_down end),"
    "{victim, T} ! {whois, self()},"
    "V = receive {victim_is, Pid} -> Pid end,"
    "VRef = erlang:monitor(process, V),"
    "NRef = erlang:monitor(process, {victim, T}),"
    "{victim, T} ! {die, boom},"
    "P(\"monitor_down\", receive {'DOWN', VRef, process, V, R3} -> R3 after 10000 -> no_down end),"
    "P(\"name_down\", receive {'DOWN', NRef, process, {victim, T}, R4} -> R4"
    " after 10000 -> no_down end),"
    "VRef2 = erlang:monitor(process, V),"
    "P(\"noproc\", receive {'DOWN', VRef2, process, V, R5} -> R5"
    " after 10000 -> no_down end),"
    "P(\"connected\", lists:member(T, nodes(connected))),"
    "io:format(\"done~n\"),"
    "receive after 60000 -> halt() end.";

Test(node_rpc, spawn_link_spawn_monitor_and_a_beam_monitor_of_a_c_process) {
    register_all();
    cr_assert_eq(erl_register(ATOM("victim"), erl_spawn(erl_victim, NONE)), 0);
    const char *want[] = {
        "linked {undef,[{nope,nope,[1],[]}]}\n",
        "spawn_down {undef,[{nope,nope,[],[]}]}\n",
        "monitor_down boom\n", "name_down boom\n", "noproc noproc\n",
        "connected true\n",
    };
    run_erl("e2@localhost", spawn_script, want, sizeof want / sizeof *want);
}
