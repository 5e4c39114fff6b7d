/*
 * counter_v1.c - the counter, version 1, built as counter_v1.so: the code
 * server loads it (common/code/code.h). The state is the count, an integer.
 *
 *   gen_server   cast {tick, N}; call read -> Count, call vsn -> 1;
 *                any other call -> {error, {unknown_call, Request}}
 *   raw loop     {tick, N}; {read, From}   From ! {read, Self, Count}
 *                {vsn, From}    From ! {vsn, Self, 1}
 *                {reset, From}  From ! {reset, Self, {error, unknown}}
 *
 * The object keeps nothing of its own: every atom that leaves it is made
 * with atom_from (host memory), never ATOM, whose name is this object's.
 */
#include "code.h"
#include "counter_proto.h"

/* The count a state holds. */
static int64_t count_of(term state) { return state.u.integer; }

static gen_result init(term args)
{
    return gen_ok(is_int(args) ? args : INT(0));
}

static gen_result handle_call(term request, term from, term state)
{
    (void)from;
    if (is_atom_named(request, "read"))
        return gen_reply(state, state);
    if (is_atom_named(request, "vsn"))
        return gen_reply(INT(1), state);
    return gen_reply(term_keep(TUPLE(A("error"), TUPLE(A("unknown_call"), request))),
                     state);
}

static gen_result handle_cast(term request, term state)
{
    term n;
    if (match(request, TUPLE(ATOM("tick"), VAR(&n))) && is_int(n))
        return gen_noreply(INT(count_of(state) + n.u.integer));
    return gen_noreply(state);
}

/* Version 1 knows no other layout: its state is its own. Extra {refuse, C}
 * makes it refuse to convert a count of C (the tests' lever). */
static gen_result code_change(term old_vsn, term state, term extra)
{
    (void)old_vsn;
    if (counter_refused(extra, count_of(state)))
        return gen_stop(A("refused"), state);
    return gen_ok(state);
}

static gen_result loop(term msg, term state)
{
    term n, from;
    if (match(msg, TUPLE(ATOM("tick"), VAR(&n))) && is_int(n))
        return gen_noreply(INT(count_of(state) + n.u.integer));
    if (match(msg, TUPLE(ATOM("read"), VAR(&from))))
        erl_send(from, TUPLE(A("read"), erl_self(), state));
    else if (match(msg, TUPLE(ATOM("vsn"), VAR(&from))))
        erl_send(from, TUPLE(A("vsn"), erl_self(), INT(1)));
    else if (match(msg, TUPLE(ATOM("reset"), VAR(&from))))
        erl_send(from, TUPLE(A("reset"), erl_self(),
                             TUPLE(A("error"), A("unknown"))));
    return gen_noreply(state);
}

CODE_EXPORT const struct code_module code_module = {
    .abi = CODE_ABI,
    .name = "counter",
    .vsn = 1,
    .server = {.init = init, .handle_call = handle_call,
               .handle_cast = handle_cast, .code_change = code_change},
    .loop = loop,
};
