/*
 * kernel.c - the two processes every node runs for other nodes:
 *
 *   net_kernel  answers {'$gen_call', From, {is_auth, Node}} with yes, which
 *               is what net_adm:ping waits for;
 *   rex         runs {call | block_call, M, F, Args, GroupLeader} as a
 *               gen_server call (rpc:block_call; OTP 25's rpc:call goes
 *               through erpc's spawn request instead, which spawn.c takes
 *               and runs the same table's functions for: erl sees the
 *               same results) or
 *               as {From, {call, ...}} (libei's ei_rpc, old rpc), each in
 *               a process of its own, for the functions in the table that
 *               node_rpc_register fills; anything else is
 *               {badrpc, {'EXIT', {undef, [{M, F, Args, []}]}}}, as OTP.
 *
 * The table (kernel_lookup) is guarded by one lock; an entry is never removed (it outlives
 * node_stop, for the next node_start), so a looked-up function stays valid
 * for its call.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "erl.h"
#include "gen_server.h"
#include "node_impl.h"

struct rpc_entry {
    struct rpc_entry *next;     /* the next entry */
    term module, function;      /* atoms */
    int arity;                  /* the arguments it takes */
    node_rpc_fn fn;             /* what runs */
};

static struct {
    pthread_mutex_t lock;       /* guards entries */
    struct rpc_entry *entries;  /* every function rpc may call */
    term net_kernel, rex;       /* the processes' pids, or NONE */
} kernel = {.lock = PTHREAD_MUTEX_INITIALIZER};

int node_rpc_register(const char *module, const char *function, int arity, node_rpc_fn fn) {
    term m = module ? atom_from(module) : NONE, f = function ? atom_from(function) : NONE;
    if (is_none(m) || is_none(f) || arity < 0 || !fn) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&kernel.lock);
    for (struct rpc_entry *e = kernel.entries; e; e = e->next)
        if (term_eq(e->module, m) && term_eq(e->function, f) && e->arity == arity) {
            pthread_mutex_unlock(&kernel.lock);
            errno = EEXIST;
            return -1;
        }
    struct rpc_entry *e = malloc(sizeof *e);
    if (e) {
        *e = (struct rpc_entry){kernel.entries, m, f, arity, fn};
        kernel.entries = e;
    }
    pthread_mutex_unlock(&kernel.lock);
    if (!e)
        errno = ENOMEM;
    return e ? 0 : -1;
}

long kernel_list_length(term l) {
    long n = 0;
    while (is_list(l) && l.size > 0) {
        n += (long)l.size;
        l = l.u.elements[l.size];
    }
    return is_list(l) ? n : -1;
}

node_rpc_fn kernel_lookup(term m, term f, term args) {
    long arity = kernel_list_length(args);
    pthread_mutex_lock(&kernel.lock);
    node_rpc_fn fn = NULL;
    for (struct rpc_entry *e = kernel.entries; e && !fn && arity >= 0; e = e->next)
        if (term_eq(e->module, m) && term_eq(e->function, f) && e->arity == arity)
            fn = e->fn;
    pthread_mutex_unlock(&kernel.lock);
    return fn;
}

/* ---- One call ------------------------------------------------------------ */

struct call {
    node_rpc_fn fn;     /* what to run */
    term args;          /* its arguments */
    term result;        /* what it returned */
};

static void run_call(void *ctx) {
    struct call *c = ctx;
    c->result = c->fn(c->args);
}

bool kernel_run(node_rpc_fn fn, term args, term *result, term *reason) {
    struct call c = {fn, args, NONE};
    if (!erl_catch(run_call, &c, reason))
        return false;
    *result = c.result;
    return true;
}

/* A call's process: arg is {How, From, M, F, Args}; How is gen (reply
 * with gen_server_reply) or rex (From ! {rex, Result}). */
static void call_main(term arg) {
    term how = element(1, arg), from = element(2, arg), m = element(3, arg),
         f = element(4, arg), args = element(5, arg);
    node_rpc_fn fn = kernel_lookup(m, f, args);
    term reason = NONE, value = NONE;
    bool ok = fn && kernel_run(fn, args, &value, &reason);
    /* TUPLE lives to the end of its block: both are built here. */
    term undef = TUPLE(ATOM("undef"), LIST(TUPLE(m, f, args, NIL)));
    term bad = TUPLE(ATOM("badrpc"), TUPLE(ATOM("EXIT"), fn ? reason : undef));
    term result = ok ? value : bad;
    if (is_atom_named(how, "gen"))
        gen_server_reply(from, result);
    else
        erl_send(from, TUPLE(ATOM("rex"), result));
}

/* ---- The processes ------------------------------------------------------- */

static void net_kernel_main(term arg) {
    (void)arg;
    for (;;) {
        term from, m = erl_receive(ANY, ERL_INFINITY);
        if (match(m, TUPLE(ATOM("$gen_call"), VAR(&from), TUPLE(ATOM("is_auth"), ANY))))
            gen_server_reply(from, ATOM("yes"));
        erl_drop(m);
    }
}

static void rex_main(term arg) {
    (void)arg;
    for (;;) {
        term from, mod, fun, args;
        term call = TUPLE(ATOM("call"), VAR(&mod), VAR(&fun), VAR(&args), ANY);
        term block = TUPLE(ATOM("block_call"), VAR(&mod), VAR(&fun), VAR(&args), ANY);
        term m = erl_receive(ANY, ERL_INFINITY);
        if (match(m, TUPLE(ATOM("$gen_call"), VAR(&from), call)) ||
            match(m, TUPLE(ATOM("$gen_call"), VAR(&from), block)))
            erl_spawn(call_main, TUPLE(ATOM("gen"), from, mod, fun, args));
        else if (match(m, TUPLE(VAR(&from), call)) && is_pid(from))
            erl_spawn(call_main, TUPLE(ATOM("rex"), from, mod, fun, args));
        else if (match(m, TUPLE(VAR(&from), ATOM("features_request"))) && is_pid(from))
            erl_send(from, TUPLE(ATOM("features_reply"), erl_node(), NIL));
        erl_drop(m);
    }
}

/* Spawns fn and registers it as name. Returns its pid or NONE. */
static term spawn_named(erl_fn fn, const char *label, term name) {
    term pid = erl_spawn_opt(label, fn, NONE, ERL_QUIET, NULL);
    if (!is_none(pid) && erl_register(name, pid) < 0) {
        erl_exit(pid, ATOM("kill"));
        return NONE;
    }
    return pid;
}

int kernel_start(void) {
    kernel.net_kernel = spawn_named(net_kernel_main, "net_kernel", ATOM("net_kernel"));
    kernel.rex = spawn_named(rex_main, "rex", ATOM("rex"));
    if (is_none(kernel.net_kernel) || is_none(kernel.rex)) {
        fprintf(stderr, "node_start: cannot start net_kernel and rex (are the names taken?)\n");
        errno = EEXIST;
        return -1;
    }
    return 0;
}

void kernel_stop(void) {
    if (is_pid(kernel.net_kernel))
        erl_exit(kernel.net_kernel, ATOM("kill"));
    if (is_pid(kernel.rex))
        erl_exit(kernel.rex, ATOM("kill"));
    kernel.net_kernel = kernel.rex = NONE;
}
