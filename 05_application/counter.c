/*
 * counter.c - the counter's callbacks and API. See counter.h.
 *
 * New since 04_supervisor: the server also holds the global name counter,
 * and the API goes to it; the crashes are gone (the lesson here is where
 * the counter runs, not how it dies). terminate names the node.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#include "counter.h"
#include "global.h"

/* Prints one line "counter: ..." with t and count in Erlang syntax. */
static void say(const char *what, term t, term count)
{
    char a[256], b[64], n[256];
    term_format(a, sizeof a, t);
    term_format(b, sizeof b, count);
    term_format(n, sizeof n, erl_node());
    printf("counter: %s(%s, %s) on %s\n", what, a, b, n);
}

/* ---- The global name ----------------------------------------------------- */

#define STALE_WAIT_MS 2000  /* the most a registration waits for a stale holder */

int counter_register_global(term name, term pid)
{
    int64_t waited = 0;
    for (;;) {
        if (global_register_name(name, pid) == 0)
            return 0;
        /* Refused: a node holds the name. When this node knows no holder,
         * the holder is one a peer has not yet seen go (its node went
         * down, and the failover came first): that peer drops it within
         * milliseconds. A live holder, or waiting longer, is a clash. */
        if (errno != EEXIST || !is_none(global_whereis_name(name)) || waited >= STALE_WAIT_MS)
            return -1;
        erl_sleep(1);
        waited += 1;
    }
}

/* ---- Callbacks ----------------------------------------------------------- */

/* Registers the caller as global counter; a clash fails init with
 * {already_started, Pid}, as gen_server:start_link({global, ...}) does. */
static gen_result init(term initial)
{
    erl_trap_exit(true);    /* the supervisor's shutdown reaches terminate */
    if (counter_register_global(COUNTER, erl_self()) < 0)   /* kept: it outlives init */
        return gen_stop(term_keep(TUPLE(ATOM("already_started"),
                                        global_whereis_name(COUNTER))), initial);
    return gen_ok(initial);
}

static gen_result handle_call(term request, term from, term count)
{
    (void)from;
    if (is_atom_named(request, "read"))
        return gen_reply(count, count);
    return gen_stop(ATOM("function_clause"), count);
}

static gen_result handle_cast(term request, term count)
{
    term n;
    int64_t sum;
    if (match(request, TUPLE(ATOM("tick"), VAR(&n))) && is_int(n)) {
        if (__builtin_add_overflow(count.u.integer, n.u.integer, &sum))
            erl_exit_self(ATOM("badarith"));   /* C integers end; Erlang's don't */
        return gen_noreply(INT(sum));
    }
    if (is_atom_named(request, "stop"))
        return gen_stop(ATOM("normal"), count);
    return gen_stop(ATOM("function_clause"), count);
}

static gen_result handle_info(term info, term count)
{
    say("handle_info", info, count);
    return gen_noreply(count);
}

static void terminate(term reason, term count)
{
    say("terminate", reason, count);
}

static gen_result code_change(term old_vsn, term count, term extra)
{
    (void)old_vsn, (void)extra;
    return gen_ok(count);
}

const struct gen_server_module counter_module = {
    .name = "counter",
    .init = init,
    .handle_call = handle_call,
    .handle_cast = handle_cast,
    .handle_info = handle_info,
    .terminate = terminate,
    .code_change = code_change,
};

/* ---- API ----------------------------------------------------------------- */

#define GLOBAL_COUNTER TUPLE(ATOM("global"), COUNTER)

term counter_start_link(int64_t initial, term *error)
{
    return gen_server_start_link(COUNTER, &counter_module, INT(initial), error);
}

term counter_read(term *error)
{
    return gen_server_call(GLOBAL_COUNTER, ATOM("read"), GEN_DEFAULT_TIMEOUT, error);
}

void counter_tick(int64_t n)
{
    gen_server_cast(GLOBAL_COUNTER, TUPLE(ATOM("tick"), INT(n)));
}

void counter_stop(void)
{
    gen_server_cast(GLOBAL_COUNTER, ATOM("stop"));
}
