/*
 * test_core_signals.c - aliases, {Name, Node} destinations, the memory a
 * failed gen_server call leaves behind (none), and Erlang's crash report.
 *
 * Run: make -C tests test-core   (or build/plain/tests/test_core_signals --verbose)
 *
 * The calls here go to plain processes that speak gen_server's wire format
 * ({'$gen_call', {Pid, Tag}, Request}, answered with gen_server_reply), so
 * that each test decides exactly when a reply is sent, or that none is; a
 * few go to real gen_servers, to check both sides agree.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "erl.h"
#include "gen_server.h"
#include "test_util.h"

#ifdef ERL_SANITIZE
/* The sanitizers' allocator count (sanitizer/allocator_interface.h, which
 * not every compiler installs). */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

TestSuite(alias, .timeout = 30, .init = start_runtime, .fini = stop_runtime);
TestSuite(failed_call, .timeout = 180, .init = start_runtime, .fini = stop_runtime);
TestSuite(late_reply, .timeout = 60, .init = start_runtime, .fini = stop_runtime);
TestSuite(name_node, .timeout = 30, .init = start_runtime, .fini = stop_runtime);
TestSuite(crash_report, .timeout = 30, .init = start_runtime, .fini = stop_runtime);

/* ---- Helpers ------------------------------------------------------------- */

/* Bytes the allocator has handed out and not had back: malloc's count, or
 * the sanitizer's (whose allocator is not malloc's). */
static size_t bytes_in_use(void) {
#ifdef ERL_SANITIZE
    return __sanitizer_get_current_allocated_bytes();
#else
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
#endif
}

/* A loop leaking the 272 bytes of a 'DOWN' per failed call grows by 27 MB
 * in 100 000; caches filling up may account for this much. */
#define GROWTH_ALLOWED ((size_t)2 * 1024 * 1024)

static void returns(term arg) { (void)arg; }

/* The pid of a process that has ended. */
static term dead_pid(void) {
    term ref;
    term pid = erl_spawn_monitor(returns, NONE, &ref);
    expect_down(ref, ATOM("normal"));
    return pid;
}

/* Receives one {'$gen_call', From, Request}; binds both. */
static term await_call(term *from, term *req) {
    return erl_receive(TUPLE(ATOM("$gen_call"), VAR(from), VAR(req)), ERL_INFINITY);
}

/* A server that takes one call and dies with {crashed, 42} before it
 * answers. Spawned quiet: a crash report per loop turn says nothing. */
static void dies_in_the_call(term arg) {
    (void)arg;
    term from, req;
    await_call(&from, &req);
    erl_exit_self(TUPLE(ATOM("crashed"), INT(42)));
}

/* A server that takes one system terminate and dies with another reason
 * than asked, {stopped, otherwise}, as when terminate crashes. */
static void stops_otherwise(term arg) {
    (void)arg;
    erl_receive(TUPLE(ATOM("system"), ANY, TUPLE(ATOM("terminate"), ANY)), ERL_INFINITY);
    erl_exit_self(TUPLE(ATOM("stopped"), ATOM("otherwise")));
}

/*
 * late_server(Owner) answers calls:
 *   now     at once, with now
 *   later   once Owner sends {reply_now, Owner}: replies late, then tells
 *           Owner {replied, Self}
 *   stop    replies ok and returns
 */
static void late_server(term owner) {
    for (;;) {
        term from, req;
        term m = await_call(&from, &req);
        if (is_atom_named(req, "later")) {
            erl_drop(erl_receive(TUPLE(ATOM("reply_now"), owner), ERL_INFINITY));
            gen_server_reply(from, ATOM("late"));
            erl_send(owner, TUPLE(ATOM("replied"), erl_self()));
        } else {
            gen_server_reply(from, req);
        }
        erl_drop(m);
        if (is_atom_named(req, "stop"))
            return;
    }
}

/* Lets the late server reply to the call it holds, and waits until it has. */
static void release_late_reply(term server) {
    erl_send(server, TUPLE(ATOM("reply_now"), erl_self()));
    erl_drop(await(TUPLE(ATOM("replied"), server), "the late server's word that it replied"));
}

/* ---- alias --------------------------------------------------------------- */

/* Sends {Msg} through {Pid, Alias}, then tells Pid {sent, Self}. */
static void alias_sender(term arg) {
    term pid = element(1, arg), alias = element(2, arg);
    erl_send_alias(pid, alias, element(3, arg));
    erl_send(pid, TUPLE(ATOM("sent"), erl_self()));
}

/* Has another process send msg through alias to the caller; returns once
 * it has (the caller's inbox has been taken up to its word). */
static void send_through(term alias, term msg) {
    term pid = erl_spawn(alias_sender, TUPLE(erl_self(), alias, msg));
    erl_drop(await(TUPLE(ATOM("sent"), pid), "the sender's word"));
}

Test(alias, a_message_through_an_active_alias_arrives) {
    term alias = erl_alias();
    cr_assert(is_ref(alias));
    send_through(alias, TUPLE(ATOM("hello"), INT(1)));
    term m = erl_receive(TUPLE(ATOM("hello"), INT(1)), 0);
    cr_assert(!is_none(m), "the message sent through the alias is not there");
}

Test(alias, a_message_after_unalias_is_dropped) {
    term alias = erl_alias();
    cr_assert(erl_unalias(alias), "the alias was active");
    send_through(alias, ATOM("hello"));
    cr_assert_eq(erl_queue_len(), 0, "%zu messages left", erl_queue_len());
}

Test(alias, a_message_still_in_the_inbox_at_unalias_is_dropped) {
    term alias = erl_alias();
    erl_spawn(alias_sender, TUPLE(erl_self(), alias, ATOM("hello")));
    /* Wait, without taking the inbox, until both messages are in it. */
    int64_t deadline = now_ns() + (int64_t)WAIT_MS * 1000000;
    while (erl_queue_len() < 2 && now_ns() < deadline)
        erl_yield();
    cr_assert_eq(erl_queue_len(), 2, "the sender's two messages did not come");
    erl_unalias(alias);
    cr_assert(!is_none(erl_receive(TUPLE(ATOM("sent"), ANY), 0)));
    cr_assert(is_none(erl_receive(ATOM("hello"), 0)), "the unaliased message was kept");
    cr_assert_eq(erl_queue_len(), 0);
}

Test(alias, unalias_says_whether_it_was_active) {
    term alias = erl_alias();
    cr_assert(erl_unalias(alias));
    cr_assert_not(erl_unalias(alias), "an alias goes only once");
    cr_assert_not(erl_unalias(erl_make_ref()), "a plain ref is no alias");
}

Test(alias, is_one_of_the_receiver_only) {
    term mine = erl_alias();
    term other = erl_alias();
    erl_unalias(other);
    send_through(other, ATOM("to_other"));
    send_through(mine, ATOM("to_mine"));
    cr_assert(!is_none(erl_receive(ATOM("to_mine"), 0)));
    cr_assert_eq(erl_queue_len(), 0, "the message through the gone alias came");
}

Test(alias, send_rejects_what_is_not_a_pid_or_a_ref) {
    errno = 0;
    cr_assert_eq(erl_send_alias(ATOM("me"), erl_make_ref(), ATOM("x")), -1);
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_eq(erl_send_alias(erl_self(), INT(1), ATOM("x")), -1);
    cr_assert_eq(errno, EINVAL);
}

/* Makes n aliases and keeps them all active, then ends. */
static void many_aliases(term n) {
    for (int64_t i = 0; i < n.u.integer; i++)
        erl_alias();
}

Test(alias, go_with_their_process) {
    erl_self();
    for (int i = 0; i < 20; i++) {
        term ref;
        erl_spawn_monitor(many_aliases, INT(1000), &ref);
        expect_down(ref, ATOM("normal"));
    }
    stop_and_check_leaks();     /* under ASan: every alias list was freed */
}

/* ---- failed_call: nothing stays behind ----------------------------------- */

/* Calls a dead pid n times; returns how many failed otherwise than noproc. */
static int call_dead_pid(term pid, int n) {
    int wrong = 0;
    for (int i = 0; i < n; i++) {
        term error = NONE;
        term r = gen_server_call(pid, ATOM("hello"), WAIT_MS, &error);
        wrong += !is_none(r) || !is_atom_named(error, "noproc");
        erl_drop(error);
    }
    return wrong;
}

Test(failed_call, to_a_dead_pid_runs_in_constant_memory) {
    term pid = dead_pid();
    int n = 100000 / SAN_DIVISOR;
    cr_assert_eq(call_dead_pid(pid, n / 10), 0);       /* let caches fill */
    erl_heap_mark_t mark = erl_heap_mark();
    size_t before = bytes_in_use();
    cr_assert_eq(call_dead_pid(pid, n), 0, "a call failed otherwise than noproc");
    size_t after = bytes_in_use();
    cr_assert(erl_heap_mark() == mark, "the failed calls left blocks in the heap");
    cr_assert_eq(erl_queue_len(), 0, "the failed calls left %zu messages", erl_queue_len());
    cr_assert_lt(after, before + GROWTH_ALLOWED, "%zu KB more after %d failed calls",
                 (after - before) / 1024, n);
    stop_and_check_leaks();
}

/* n calls to servers that die during the call; returns how many failed
 * otherwise than with the server's reason. */
static int call_dying_servers(int n) {
    int wrong = 0;
    for (int i = 0; i < n; i++) {
        term pid = erl_spawn_opt("dies_in_the_call", dies_in_the_call, NONE, ERL_QUIET, NULL);
        term error = NONE;
        term r = gen_server_call(pid, ATOM("hello"), WAIT_MS, &error);
        wrong += !is_none(r) || !term_eq(error, TUPLE(ATOM("crashed"), INT(42)));
        erl_drop(error);    /* a boxed reason: the caller's own */
    }
    return wrong;
}

Test(failed_call, to_a_server_dying_in_the_call_runs_in_constant_memory) {
    int n = 100000 / SAN_DIVISOR;
    cr_assert_eq(call_dying_servers(n / 10), 0);
    erl_heap_mark_t mark = erl_heap_mark();
    size_t before = bytes_in_use();
    cr_assert_eq(call_dying_servers(n), 0, "a call failed otherwise than {crashed, 42}");
    size_t after = bytes_in_use();
    cr_assert(erl_heap_mark() == mark, "the failed calls left blocks in the heap");
    cr_assert_eq(erl_queue_len(), 0, "the failed calls left %zu messages", erl_queue_len());
    cr_assert_lt(after, before + GROWTH_ALLOWED, "%zu KB more after %d failed calls",
                 (after - before) / 1024, n);
    stop_and_check_leaks();
}

/* n failing stops, half to a dead pid (noproc), half to servers that die
 * with another reason; returns how many failed otherwise. */
static int failing_stops(term dead, int n) {
    int wrong = 0;
    for (int i = 0; i < n; i++) {
        bool to_dead = i % 2 == 0;
        term pid = to_dead ? dead
                           : erl_spawn_opt("stops_otherwise", stops_otherwise, NONE,
                                           ERL_QUIET, NULL);
        term error = NONE;
        int r = gen_server_stop(pid, ATOM("normal"), WAIT_MS, &error);
        term want = to_dead ? ATOM("noproc") : TUPLE(ATOM("stopped"), ATOM("otherwise"));
        wrong += r != -1 || !term_eq(error, want);
        erl_drop(error);
    }
    return wrong;
}

Test(failed_call, failing_stops_run_in_constant_memory) {
    term dead = dead_pid();
    int n = 100000 / SAN_DIVISOR;
    cr_assert_eq(failing_stops(dead, n / 10), 0);
    erl_heap_mark_t mark = erl_heap_mark();
    size_t before = bytes_in_use();
    cr_assert_eq(failing_stops(dead, n), 0, "a stop failed otherwise than expected");
    size_t after = bytes_in_use();
    cr_assert(erl_heap_mark() == mark, "the failed stops left blocks in the heap");
    cr_assert_eq(erl_queue_len(), 0, "the failed stops left %zu messages", erl_queue_len());
    cr_assert_lt(after, before + GROWTH_ALLOWED, "%zu KB more after %d failed stops",
                 (after - before) / 1024, n);
    stop_and_check_leaks();
}

Test(failed_call, a_timeout_leaves_nothing_behind) {
    term server = erl_spawn(late_server, erl_self());
    erl_heap_mark_t mark = erl_heap_mark();
    term error = NONE;
    cr_assert(is_none(gen_server_call(server, ATOM("later"), 0, &error)));
    cr_assert(is_atom_named(error, "timeout"), "error %s", FMT(error));
    cr_assert(erl_heap_mark() == mark, "the timed-out call left blocks in the heap");
    release_late_reply(server);
    cr_assert(erl_heap_mark() == mark);
    cr_assert_eq(erl_queue_len(), 0);
}

/* ---- late_reply: dropped, as with OTP 24's aliases ----------------------- */

Test(late_reply, after_a_50_ms_timeout_is_dropped) {
    term server = erl_spawn(late_server, erl_self());
    term error = NONE;
    int64_t t0 = now_ns();
    term r = gen_server_call(server, ATOM("later"), 50, &error);
    cr_assert(is_none(r), "the call returned %s", FMT(r));
    cr_assert(is_atom_named(error, "timeout"), "error %s", FMT(error));
    cr_assert_geq(now_ns() - t0, 50 * 1000000, "the call gave up before 50 ms");
    release_late_reply(server);     /* the reply has been sent */
    cr_assert_eq(erl_queue_len(), 0, "the late reply is in the mailbox");
    term now = gen_server_call(server, ATOM("now"), WAIT_MS, &error);
    cr_assert(is_atom_named(now, "now"), "the next call got %s", FMT(now));
}

Test(late_reply, thousands_of_timeouts_leave_the_caller_as_it_was) {
    term server = erl_spawn(late_server, erl_self());
    int n = 5000 / SAN_DIVISOR, wrong = 0;
    erl_heap_mark_t mark = erl_heap_mark();
    size_t before = 0;
    for (int i = 0; i < n + n / 10; i++) {
        if (i == n / 10)
            before = bytes_in_use();    /* caches filled */
        term error = NONE;
        term r = gen_server_call(server, ATOM("later"), 0, &error);
        wrong += !is_none(r) || !is_atom_named(error, "timeout");
        release_late_reply(server);
    }
    size_t after = bytes_in_use();
    cr_assert_eq(wrong, 0, "%d calls did not time out", wrong);
    cr_assert_eq(erl_queue_len(), 0, "%zu late replies are in the mailbox", erl_queue_len());
    cr_assert(erl_heap_mark() == mark, "the timed-out calls left blocks in the heap");
    cr_assert_lt(after, before + GROWTH_ALLOWED, "%zu KB more after %d timeouts",
                 (after - before) / 1024, n);
    term error = NONE;
    term r = gen_server_call(server, ATOM("now"), WAIT_MS, &error);
    cr_assert(is_atom_named(r, "now"), "a call after the timeouts got %s (error %s)",
              FMT(r), FMT(error));
}

/* A real gen_server whose handle_call(slow) keeps From as its state and
 * replies only when cast {reply_now, Pid}; then it tells Pid {replied, Self}. */
static gen_result slow_call(term req, term from, term state) {
    (void)req, (void)state;
    return gen_noreply(from);
}

static gen_result slow_cast(term req, term state) {
    term to;
    if (match(req, TUPLE(ATOM("reply_now"), VAR(&to)))) {
        gen_server_reply(state, ATOM("late"));
        erl_send(to, TUPLE(ATOM("replied"), erl_self()));
    }
    return gen_noreply(ATOM("idle"));
}

static gen_result slow_init(term args) { return gen_ok(args); }

static const struct gen_server_module slow = {
    .name = "slow", .init = slow_init, .handle_call = slow_call, .handle_cast = slow_cast,
};

Test(late_reply, from_a_gen_server_is_dropped) {
    term error = NONE;
    term server = gen_server_start(NONE, &slow, ATOM("idle"), 0, &error);
    cr_assert(is_pid(server), "start failed: %s", FMT(error));
    cr_assert(is_none(gen_server_call(server, ATOM("slow"), 50, &error)));
    cr_assert(is_atom_named(error, "timeout"), "error %s", FMT(error));
    gen_server_cast(server, TUPLE(ATOM("reply_now"), erl_self()));
    erl_drop(await(TUPLE(ATOM("replied"), server), "the server's word that it replied"));
    cr_assert_eq(erl_queue_len(), 0, "the late reply is in the mailbox");
}

Test(late_reply, an_old_style_tag_still_gets_tag_reply) {
    /* A caller that is not this runtime's (an Erlang node's gen:call of
     * before OTP 24) tags with a plain ref: the reply is {Tag, Reply}. */
    term tag = erl_make_ref();
    gen_server_reply(TUPLE(erl_self(), tag), ATOM("hi"));
    term m = await(ANY, "the reply");
    cr_assert(term_eq(m, TUPLE(tag, ATOM("hi"))), "got %s", FMT(m));
}

/* Forwards the first call it gets to Owner as {call, From, Request}. */
static void forward_call(term owner) {
    term from, req;
    await_call(&from, &req);
    erl_send(owner, TUPLE(ATOM("call"), from, req));
}

/* A plain thread calls: the tag on the wire is [alias|Ref], as OTP 24's. */
static void *call_forwarder(void *server) {
    term error;
    gen_server_call(*(term *)server, ATOM("ping"), 1000, &error);
    return NULL;
}

Test(late_reply, the_tag_on_the_wire_is_alias_ref) {
    term server = erl_spawn(forward_call, erl_self());
    pthread_t t;
    pthread_create(&t, NULL, call_forwarder, &server);
    term from, req;
    await(TUPLE(ATOM("call"), VAR(&from), VAR(&req)), "the forwarded call");
    term pid, alias;
    cr_assert(match(from, TUPLE(VAR(&pid), term_list((term[]){ATOM("alias"), VAR(&alias)}, 1))),
              "From is %s", FMT(from));
    cr_assert(is_pid(pid) && is_ref(alias), "From is %s", FMT(from));
    pthread_join(t, NULL);
}

/* ---- name_node: {Name, Node} wherever a name goes ------------------------- */

static term other_node(void) { return ATOM("other@elsewhere"); }

/* A fresh agent registered under name. */
static term registered_agent(term name) {
    term pid = agent_start();
    cr_assert_eq(erl_register(name, pid), 0);
    return pid;
}

Test(name_node, the_node_is_nonode_at_nohost) {
    cr_assert(is_atom_named(erl_node(), "nonode@nohost"));
}

Test(name_node, send_to_the_local_node_reaches_the_name) {
    term pid = registered_agent(ATOM("nn_agent"));
    cr_assert_eq(erl_send(TUPLE(ATOM("nn_agent"), erl_node()),
                          TUPLE(ATOM("ping"), erl_self())), 0);
    await(TUPLE(ATOM("pong"), pid), "the pong");
}

Test(name_node, send_to_an_unregistered_name_fails_esrch) {
    errno = 0;
    cr_assert_eq(erl_send(TUPLE(ATOM("nobody_here"), erl_node()), ATOM("x")), -1);
    cr_assert_eq(errno, ESRCH);
}

Test(name_node, send_to_another_node_fails_enotconn) {
    registered_agent(ATOM("nn_agent"));
    errno = 0;
    cr_assert_eq(erl_send(TUPLE(ATOM("nn_agent"), other_node()), ATOM("x")), -1);
    cr_assert_eq(errno, ENOTCONN);
}

Test(name_node, send_to_other_shapes_fails_einval) {
    term shapes[] = {TUPLE(ATOM("a"), INT(1)), TUPLE(INT(1), erl_node()),
                     TUPLE(ATOM("a"), erl_node(), ATOM("b")), INT(3)};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        errno = 0;
        cr_assert_eq(erl_send(shapes[i], ATOM("x")), -1, "%s", FMT(shapes[i]));
        cr_assert_eq(errno, EINVAL, "%s", FMT(shapes[i]));
    }
}

Test(name_node, resolve_gives_the_pid) {
    term pid = registered_agent(ATOM("nn_agent"));
    cr_assert(term_eq(erl_resolve(TUPLE(ATOM("nn_agent"), erl_node())), pid));
    cr_assert(term_eq(erl_resolve(ATOM("nn_agent")), pid));
    cr_assert(term_eq(erl_resolve(pid), pid));
}

Test(name_node, monitor_of_the_local_node_names_name_node_in_the_down) {
    term pid = registered_agent(ATOM("nn_agent"));
    term target = TUPLE(ATOM("nn_agent"), erl_node());
    term ref = erl_monitor(target);
    erl_exit(pid, ATOM("boom"));    /* a signal: no crash report */
    term m = await(TUPLE(ATOM("DOWN"), ref, ANY, ANY, ANY), "the 'DOWN'");
    cr_assert(term_eq(m, TUPLE(ATOM("DOWN"), ref, ATOM("process"), target, ATOM("boom"))),
              "got %s", FMT(m));
}

Test(name_node, monitor_of_an_unregistered_local_name_gives_noproc) {
    term target = TUPLE(ATOM("nobody_here"), erl_node());
    term ref = erl_monitor(target);
    term m = await(TUPLE(ATOM("DOWN"), ref, ANY, ANY, ANY), "the 'DOWN'");
    cr_assert(term_eq(m, TUPLE(ATOM("DOWN"), ref, ATOM("process"), target, ATOM("noproc"))),
              "got %s", FMT(m));
}

Test(name_node, monitor_of_another_node_gives_noconnection) {
    term target = TUPLE(ATOM("nn_agent"), other_node());
    term ref = erl_monitor(target);
    term m = await(TUPLE(ATOM("DOWN"), ref, ANY, ANY, ANY), "the 'DOWN'");
    cr_assert(term_eq(m, TUPLE(ATOM("DOWN"), ref, ATOM("process"), target,
                               ATOM("noconnection"))), "got %s", FMT(m));
}

Test(name_node, monitor_of_other_shapes_fails_einval) {
    errno = 0;
    cr_assert(is_none(erl_monitor(TUPLE(ATOM("a"), INT(1)))));
    cr_assert_eq(errno, EINVAL);
}

/* A real gen_server: calls echo the request; cast {tell, Pid} sends Pid
 * {told, Self}. */
static gen_result echo_call(term req, term from, term state) {
    (void)from;
    return gen_reply(req, state);
}

static gen_result echo_cast(term req, term state) {
    term to;
    if (match(req, TUPLE(ATOM("tell"), VAR(&to))))
        erl_send(to, TUPLE(ATOM("told"), erl_self()));
    return gen_noreply(state);
}

static const struct gen_server_module echo = {
    .name = "echo", .init = slow_init, .handle_call = echo_call, .handle_cast = echo_cast,
};

static term start_echo(term name) {
    term error = NONE;
    term pid = gen_server_start(name, &echo, INT(0), 0, &error);
    cr_assert(is_pid(pid), "start failed: %s", FMT(error));
    return pid;
}

Test(name_node, gen_server_call_and_cast_take_name_node) {
    term pid = start_echo(ATOM("nn_echo"));
    term dest = TUPLE(ATOM("nn_echo"), erl_node()), error = NONE;
    term r = gen_server_call(dest, ATOM("hi"), WAIT_MS, &error);
    cr_assert(is_atom_named(r, "hi"), "got %s (error %s)", FMT(r), FMT(error));
    gen_server_cast(dest, TUPLE(ATOM("tell"), erl_self()));
    await(TUPLE(ATOM("told"), pid), "the cast's effect");
}

/* gen_server_SUITE's stop5: stop({Name, node()}), then again: noproc. */
Test(name_node, gen_server_stop_takes_name_node) {
    term pid = start_echo(ATOM("to_stop"));
    term dest = TUPLE(ATOM("to_stop"), erl_node()), error = NONE;
    cr_assert_eq(gen_server_stop(dest, ATOM("normal"), WAIT_MS, &error), 0,
                 "stop failed: %s", FMT(error));
    cr_assert_not(erl_is_alive(pid));
    cr_assert_eq(gen_server_stop(dest, ATOM("normal"), WAIT_MS, &error), -1);
    cr_assert(is_atom_named(error, "noproc"), "error %s", FMT(error));
}

Test(name_node, gen_server_to_another_node_fails_nodedown) {
    start_echo(ATOM("nn_echo"));
    term dest = TUPLE(ATOM("nn_echo"), other_node()), error = NONE;
    term want = TUPLE(ATOM("nodedown"), other_node());
    cr_assert(is_none(gen_server_call(dest, ATOM("hi"), WAIT_MS, &error)));
    cr_assert(term_eq(error, want), "call: error %s", FMT(error));
    erl_drop(error);
    cr_assert_eq(gen_server_stop(dest, ATOM("normal"), WAIT_MS, &error), -1);
    cr_assert(term_eq(error, want), "stop: error %s", FMT(error));
    erl_drop(error);
    gen_server_cast(dest, ATOM("hi"));   /* never fails */
}

/* ---- crash_report: Erlang's, for a process that ends itself -------------- */

/* What fd 2 gets between capture_start and capture_end. */
static struct {
    int saved;      /* the real stderr, while captured */
    int pipe_rd;    /* the read end of the pipe fd 2 writes to */
} capture;

static void capture_start(void) {
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    fflush(stderr);
    capture.saved = dup(2);
    dup2(fds[1], 2);
    close(fds[1]);
    capture.pipe_rd = fds[0];
}

/* Ends the capture; returns what was written (the caller frees it). */
static char *capture_end(void) {
    fflush(stderr);
    dup2(capture.saved, 2);     /* closes the pipe's last write end */
    close(capture.saved);
    size_t cap = 1 << 16, n = 0;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    for (ssize_t r; n < cap - 1 && (r = read(capture.pipe_rd, text + n, cap - 1 - n)) > 0;)
        n += (size_t)r;
    text[n] = '\0';
    close(capture.pipe_rd);
    return text;
}

/* Ends itself with reason. */
static void exit_with(term reason) { erl_exit_self(reason); }

/* Sends itself an exit signal with reason. */
static void signal_self(term reason) { erl_exit(erl_self(), reason); }

/* Runs fn(arg) in a process spawned with flags, waits for its end, and
 * returns what stderr got meanwhile; *pid is the process. */
static char *stderr_of(erl_fn fn, term arg, int flags, term *pid) {
    term ref;
    capture_start();
    *pid = erl_spawn_opt("under_test", fn, arg, flags | ERL_MONITOR, &ref);
    erl_drop(await(TUPLE(ATOM("DOWN"), ref, ANY, ANY, ANY), "the process's end"));
    return capture_end();
}

/* Asserts text is exactly one report for pid with the reason's text. */
static void expect_report(const char *text, term pid, const char *reason) {
    char want[512];
    snprintf(want, sizeof want,
             "^=ERROR REPORT==== [0-9]{1,2}-[A-Z][a-z]{2}-[0-9]{4}::"
             "[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6} ===\n"
             "Error in process %s with exit value:\n%s\n\n$", FMT(pid), reason);
    regex_t re;
    cr_assert_eq(regcomp(&re, want, REG_EXTENDED | REG_NOSUB), 0, "pattern %s", want);
    int r = regexec(&re, text, 0, NULL, 0);
    regfree(&re);
    cr_assert_eq(r, 0, "stderr got:\n%s\nwanted a report matching:\n%s", text, want);
}

Test(crash_report, is_printed_for_a_self_exit_with_foo) {
    term pid;
    char *text = stderr_of(exit_with, ATOM("foo"), 0, &pid);
    expect_report(text, pid, "foo");
    free(text);
}

Test(crash_report, shows_a_boxed_reason_in_erlang_syntax) {
    term pid;
    char *text = stderr_of(exit_with, TUPLE(ATOM("bad"), LIST(INT(1), STR("x"))), 0, &pid);
    expect_report(text, pid, "\\{bad,\\[1,<<\"x\">>\\]\\}");
    free(text);
}

Test(crash_report, shortens_a_long_reason) {
    static char big[4000];
    memset(big, 'a', sizeof big);
    term pid;
    char *text = stderr_of(exit_with, term_binary(big, sizeof big), 0, &pid);
    expect_report(text, pid, "<<\"a+\\.\\.\\.");
    cr_assert_lt(strlen(text), 1024, "a report of %zu bytes", strlen(text));
    free(text);
}

Test(crash_report, is_printed_for_a_division_by_zero) {
    capture_start();
    term pid = agent_start();
    term ref = erl_monitor(pid);
    erl_send(pid, TUPLE(ATOM("divide"), INT(0)));
    expect_down(ref, ATOM("badarith"));
    char *text = capture_end();
    expect_report(text, pid, "badarith");
    free(text);
}

Test(crash_report, is_not_printed_for_normal_shutdown_or_shutdown_tuples) {
    term reasons[] = {ATOM("normal"), ATOM("shutdown"), TUPLE(ATOM("shutdown"), ATOM("x"))};
    for (size_t i = 0; i < 3; i++) {
        term pid;
        char *text = stderr_of(exit_with, reasons[i], 0, &pid);
        cr_assert_str_eq(text, "", "exit %s printed:\n%s", FMT(reasons[i]), text);
        free(text);
    }
}

Test(crash_report, is_not_printed_for_a_process_that_returns) {
    term pid;
    char *text = stderr_of(returns, NONE, 0, &pid);
    cr_assert_str_eq(text, "");
    free(text);
}

Test(crash_report, is_not_printed_for_a_process_killed_by_another) {
    term reasons[] = {ATOM("foo"), ATOM("kill")};
    for (size_t i = 0; i < 2; i++) {
        capture_start();
        term pid = agent_start();
        term ref = erl_monitor(pid);
        erl_exit(pid, reasons[i]);
        erl_drop(await(TUPLE(ATOM("DOWN"), ref, ANY, ANY, ANY), "the 'DOWN'"));
        char *text = capture_end();
        cr_assert_str_eq(text, "", "exit(Pid, %s) printed:\n%s", FMT(reasons[i]), text);
        free(text);
    }
}

Test(crash_report, is_not_printed_for_a_process_ended_by_its_own_exit_signal) {
    term pid;
    char *text = stderr_of(signal_self, ATOM("foo"), 0, &pid);
    cr_assert_str_eq(text, "", "exit(self(), foo) printed:\n%s", text);
    free(text);
}

Test(crash_report, is_not_printed_for_a_process_spawned_quiet) {
    term pid;
    char *text = stderr_of(exit_with, ATOM("foo"), ERL_QUIET, &pid);
    cr_assert_str_eq(text, "", "a quiet process printed:\n%s", text);
    free(text);
}

/* Sets itself quiet, then ends with reason foo. */
static void quiet_then_exit(term arg) {
    (void)arg;
    erl_quiet(true);
    erl_exit_self(ATOM("foo"));
}

Test(crash_report, erl_quiet_returns_the_previous_value) {
    cr_assert_not(erl_quiet(true), "a process starts not quiet");
    cr_assert(erl_quiet(false));
    cr_assert_not(erl_quiet(false));
}

Test(crash_report, is_not_printed_for_a_process_that_made_itself_quiet) {
    term pid;
    char *text = stderr_of(quiet_then_exit, NONE, 0, &pid);
    cr_assert_str_eq(text, "", "a quiet process printed:\n%s", text);
    free(text);
}

/* erl_catch's fn: ends itself with foo. */
static void exit_foo(void *ctx) {
    (void)ctx;
    erl_exit_self(ATOM("foo"));
}

/* Catches its own erl_exit_self(foo), then returns. */
static void catches_its_exit(term arg) {
    (void)arg;
    term reason;
    erl_catch(exit_foo, NULL, &reason);
}

Test(crash_report, is_not_printed_for_an_exit_caught_by_erl_catch) {
    term pid;
    char *text = stderr_of(catches_its_exit, NONE, 0, &pid);
    cr_assert_str_eq(text, "", "a caught exit printed:\n%s", text);
    free(text);
}

static gen_result stop_call(term req, term from, term state) {
    (void)from;
    return gen_stop_reply(req, ATOM("ok"), state);
}

static const struct gen_server_module stopper = {
    .name = "stopper", .init = slow_init, .handle_call = stop_call,
};

Test(crash_report, a_gen_server_prints_its_own_report_only) {
    term error = NONE;
    term pid = gen_server_start(NONE, &stopper, INT(0), 0, &error);
    cr_assert(is_pid(pid), "start failed: %s", FMT(error));
    term ref = erl_monitor(pid);
    capture_start();
    gen_server_call(pid, ATOM("foo"), WAIT_MS, &error);
    expect_down(ref, ATOM("foo"));
    char *text = capture_end();
    cr_assert(strstr(text, "Generic server"), "no gen_server report in:\n%s", text);
    cr_assert_null(strstr(text, "Error in process"), "a second report in:\n%s", text);
    free(text);
}
