/*
 * counter.c - the counter's callbacks and API. See counter.h.
 *
 * New since 05: nothing in the callbacks. They are 03's counter, run on
 * every member over its own copy of the count; the cluster layer decides
 * what reaches them, in which order, and who replies. Their stop, too,
 * is the original's; what it stops (every member) is the layer's rule.
 */
#include "counter.h"

static gen_result init(term initial) {
    return gen_ok(initial);
}

/* read -> Count; {tick, N} -> Count + N (the call form of tick). */
static gen_result handle_call(term request, term from, term count) {
    (void)from;
    term n;
    if (is_atom_named(request, "read"))
        return gen_reply(count, count);
    if (match(request, TUPLE(ATOM("tick"), VAR(&n))) && is_int(n)) {
        term next = INT(count.u.integer + n.u.integer);
        return gen_reply(next, next);
    }
    return gen_reply(TUPLE(ATOM("error"), ATOM("badarg")), count);
}

/* {tick, N}: Count + N; stop: stops (normal). Anything else changes
 * nothing. */
static gen_result handle_cast(term request, term count) {
    term n;
    if (match(request, TUPLE(ATOM("tick"), VAR(&n))) && is_int(n))
        return gen_noreply(INT(count.u.integer + n.u.integer));
    if (is_atom_named(request, "stop"))
        return gen_stop(ATOM("normal"), count);
    return gen_noreply(count);
}

const struct gen_server_module counter_module = {
    .name = "counter",
    .init = init,
    .handle_call = handle_call,
    .handle_cast = handle_cast,
};

term counter_start_cluster(const struct cluster_options *opts, term *error) {
    return cluster_start(COUNTER, &counter_module, INT(0), opts, error);
}

term counter_read(struct cluster_client *c, int timeout_ms, term *error) {
    return cluster_call(c, ATOM("read"), timeout_ms, error);
}

void counter_tick(struct cluster_client *c, int64_t n) {
    cluster_cast(c, TUPLE(ATOM("tick"), INT(n)));
}

term counter_tick_sync(struct cluster_client *c, int64_t n, int timeout_ms, term *error) {
    return cluster_call(c, TUPLE(ATOM("tick"), INT(n)), timeout_ms, error);
}

void counter_stop(struct cluster_client *c) {
    cluster_cast(c, ATOM("stop"));
}
