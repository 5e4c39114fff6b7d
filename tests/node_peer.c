/*
 * node_peer.c - a C node the node suites start as a child process.
 *
 * Usage: node_peer NAME COOKIE [TICK_MS [HELLO_NODE]]
 *
 * With PEER_GLOBAL=Name in its environment, its agent registers as global
 * Name before the node connects anywhere. With HELLO_NODE it sends {hello, Pid} to {peer_hello, HELLO_NODE} as it
 * starts (connecting from this side).
 * It starts a node called NAME, prints "ready NAME" on stdout, and runs
 * until its stdin closes (so it dies with the test that started it):
 *   counter   a gen_server: call read -> Count; call {add, N} -> new Count;
 *             call {sleep, Ms, Pid} -> Pid ! sleeping, then ok after Ms;
 *             cast tick -> Count + 1
 *   agent     a process that traps exits and serves, From being a pid:
 *               {ping, From}            From ! {pong, Self}
 *               {link, From, Pid}       link(Pid); From ! {linked, Self}
 *               {monitor, From, Target} From ! {monitoring, Self, Ref}
 *               {burst, From, N}        From ! {seq, Self, I} for I in 1..N
 *               {whereis, From, Name}   From ! {where, Self, Pid}
 *               {call, From, Server, Request}
 *                                       From ! {called, Self, Reply}, or
 *                                       {call_failed, Self, Error}
 *               {greg, From, Name}      From ! {greg, Self, yes | no}: the agent
 *                                       registered as global Name
 *               {gcounter, From, Name}  the same for the counter
 *               {gwhere, From, Name}    From ! {gwhere, Self, Pid | undefined}
 *               {exit, Reason}          exit(Reason)
 *             anything else goes to the last From as {got, Self, Msg}
 *   rpc       counter:read/0, math:add/2 (A + B), crash:now/0 (exits)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "erl.h"
#include "gen_server.h"
#include "global.h"
#include "node.h"

/* ---- counter ------------------------------------------------------------- */

static gen_result counter_init(term args) {
    (void)args;
    return gen_ok(INT(0));
}

static gen_result counter_call(term req, term from, term state) {
    (void)from;
    term n, pid;
    if (is_atom_named(req, "read"))
        return gen_reply(state, state);
    if (match(req, TUPLE(ATOM("sleep"), VAR(&n), VAR(&pid))) && is_int(n)) {
        erl_send(pid, ATOM("sleeping"));
        erl_sleep((int)n.u.integer);
        return gen_reply(ATOM("ok"), state);
    }
    if (match(req, TUPLE(ATOM("add"), VAR(&n))) && is_int(n))
        return gen_reply(INT(state.u.integer + n.u.integer), INT(state.u.integer + n.u.integer));
    return gen_reply(ATOM("badreq"), state);
}

static gen_result counter_cast(term req, term state) {
    if (is_atom_named(req, "tick"))
        return gen_noreply(INT(state.u.integer + 1));
    return gen_noreply(state);
}

static const struct gen_server_module counter = {
    .name = "counter", .init = counter_init, .handle_call = counter_call,
    .handle_cast = counter_cast,
};

/* ---- agent --------------------------------------------------------------- */

/* Runs one command; false when msg is none. *owner: the last From. */
static bool command(term msg, term *owner) {
    term from, pid, target, n, server, req, reason;
    term self = erl_self();
    if (match(msg, TUPLE(ATOM("ping"), VAR(&from)))) {
        erl_send(from, TUPLE(ATOM("pong"), self));
    } else if (match(msg, TUPLE(ATOM("link"), VAR(&from), VAR(&pid)))) {
        erl_link(pid);
        erl_send(from, TUPLE(ATOM("linked"), self));
    } else if (match(msg, TUPLE(ATOM("monitor"), VAR(&from), VAR(&target)))) {
        erl_send(from, TUPLE(ATOM("monitoring"), self, erl_monitor(target)));
    } else if (match(msg, TUPLE(ATOM("burst"), VAR(&from), VAR(&n)))) {
        for (int64_t i = 1; i <= n.u.integer; i++)
            erl_send(from, TUPLE(ATOM("seq"), self, INT(i)));
    } else if (match(msg, TUPLE(ATOM("whereis"), VAR(&from), VAR(&target)))) {
        erl_send(from, TUPLE(ATOM("where"), self, erl_whereis(target)));
    } else if (match(msg, TUPLE(ATOM("call"), VAR(&from), VAR(&server), VAR(&req)))) {
        term error = NONE, r = gen_server_call(server, req, 10000, &error);
        erl_send(from, is_none(r) ? TUPLE(ATOM("call_failed"), self, error)
                                  : TUPLE(ATOM("called"), self, r));
    } else if (match(msg, TUPLE(ATOM("greg"), VAR(&from), VAR(&target)))) {
        bool yes = global_register_name(target, self) == 0;
        erl_send(from, TUPLE(ATOM("greg"), self, yes ? ATOM("yes") : ATOM("no")));
    } else if (match(msg, TUPLE(ATOM("gcounter"), VAR(&from), VAR(&target)))) {
        bool yes = global_register_name(target, erl_whereis(ATOM("counter"))) == 0;
        erl_send(from, TUPLE(ATOM("gcounter"), self, yes ? ATOM("yes") : ATOM("no")));
    } else if (match(msg, TUPLE(ATOM("gwhere"), VAR(&from), VAR(&target)))) {
        term where = global_whereis_name(target);
        erl_send(from, TUPLE(ATOM("gwhere"), self, is_none(where) ? ATOM("undefined") : where));
    } else if (match(msg, TUPLE(ATOM("exit"), VAR(&reason)))) {
        erl_exit_self(reason);
    } else {
        return false;
    }
    *owner = term_keep(from);
    return true;
}

static void agent(term arg) {
    (void)arg;
    erl_trap_exit(true);
    term owner = NONE;
    for (;;) {
        term msg = erl_receive(ANY, ERL_INFINITY);
        if (!command(msg, &owner) && is_pid(owner))
            erl_send(owner, TUPLE(ATOM("got"), erl_self(), msg));
        erl_drop(msg);
    }
}

/* ---- rpc ----------------------------------------------------------------- */

static term rpc_read(term args) {
    (void)args;
    term error;
    term r = gen_server_call(ATOM("counter"), ATOM("read"), 5000, &error);
    return is_none(r) ? term_keep(TUPLE(ATOM("error"), error)) : r;   /* outlives the call */
}

static term rpc_add(term args) {
    if (args.size != 2 || !is_int(args.u.elements[0]) || !is_int(args.u.elements[1]))
        erl_exit_self(ATOM("badarg"));
    return INT(args.u.elements[0].u.integer + args.u.elements[1].u.integer);
}

static term rpc_crash(term args) {
    (void)args;
    erl_exit_self(ATOM("crashed_on_purpose"));
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: node_peer NAME COOKIE [TICK_MS]\n");
        return 64;
    }
    if (erl_start(NULL) < 0)
        return 70;
    struct node_options o = {.name = argv[1], .cookie = argv[2],
                             .tick_ms = argc > 3 ? atoi(argv[3]) : 0};
    if (node_start(&o) < 0)
        return 69;
    term error;
    if (is_none(gen_server_start(ATOM("counter"), &counter, NONE, 0, &error)))
        return 70;
    term pid = erl_spawn(agent, NONE);
    erl_register(ATOM("agent"), pid);
    node_rpc_register("counter", "read", 0, rpc_read);
    node_rpc_register("math", "add", 2, rpc_add);
    node_rpc_register("crash", "now", 0, rpc_crash);
    if (getenv("PEER_GLOBAL") && global_register_name(atom_from(getenv("PEER_GLOBAL")), pid) < 0)
        return 70;
    if (argc > 4)
        erl_send(TUPLE(ATOM("peer_hello"), atom_from(argv[4])), TUPLE(ATOM("hello"), pid));
    printf("ready %s\n", argv[1]);
    fflush(stdout);
    char buf[64];
    while (read(0, buf, sizeof buf) > 0) {
    }
    erl_stop();
    return 0;
}
