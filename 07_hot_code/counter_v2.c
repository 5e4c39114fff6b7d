/*
 * counter_v2.c - the counter, version 2, built as counter_v2.so. It adds
 * reset and changes the state's layout: {counter, Count, Resets}, where
 * Resets counts the resets. code_change converts both ways:
 *   upgrade from 1     Count               -> {counter, Count, 0}
 *   downgrade {down,1} {counter, Count, _} -> Count
 *
 *   gen_server   as version 1, plus call reset -> ok, call resets -> Resets,
 *                call vsn -> 2
 *   raw loop     as version 1, plus {reset, From}  From ! {reset, Self, ok}
 *                and {vsn, From} answers 2
 */
#include "code.h"
#include "counter_proto.h"

/* A state of this layout. */
static term state_of(int64_t count, int64_t resets)
{
    return term_keep(TUPLE(A("counter"), INT(count), INT(resets)));
}

static int64_t count_of(term state) { return element(2, state).u.integer; }
static int64_t resets_of(term state) { return element(3, state).u.integer; }

static gen_result init(term args)
{
    return gen_ok(state_of(is_int(args) ? args.u.integer : 0, 0));
}

static gen_result handle_call(term request, term from, term state)
{
    (void)from;
    if (is_atom_named(request, "read"))
        return gen_reply(INT(count_of(state)), state);
    if (is_atom_named(request, "vsn"))
        return gen_reply(INT(2), state);
    if (is_atom_named(request, "resets"))
        return gen_reply(INT(resets_of(state)), state);
    if (is_atom_named(request, "reset"))
        return gen_reply(A("ok"), state_of(0, resets_of(state) + 1));
    return gen_reply(term_keep(TUPLE(A("error"), TUPLE(A("unknown_call"), request))),
                     state);
}

static gen_result handle_cast(term request, term state)
{
    term n;
    if (match(request, TUPLE(ATOM("tick"), VAR(&n))) && is_int(n))
        return gen_noreply(state_of(count_of(state) + n.u.integer, resets_of(state)));
    return gen_noreply(state);
}

/* Upgrade from 1: the count gains a reset counter. Downgrade to 1: the
 * count alone. Extra {refuse, C} refuses a counter at count C; an OldVsn it
 * does not know is refused too (the server keeps its state). */
static gen_result code_change(term old_vsn, term state, term extra)
{
    term down = TUPLE(ATOM("down"), INT(1));
    if (is_int(old_vsn) && old_vsn.u.integer == 1) {
        if (counter_refused(extra, state.u.integer))
            return gen_stop(A("refused"), state);
        return gen_ok(state_of(state.u.integer, 0));
    }
    if (term_eq(old_vsn, down)) {
        if (counter_refused(extra, count_of(state)))
            return gen_stop(A("refused"), state);
        return gen_ok(INT(count_of(state)));
    }
    if (is_int(old_vsn) && old_vsn.u.integer == 2)
        return gen_ok(state);
    return gen_stop(A("unknown_version"), state);
}

static gen_result loop(term msg, term state)
{
    term n, from;
    if (match(msg, TUPLE(ATOM("tick"), VAR(&n))) && is_int(n))
        return gen_noreply(state_of(count_of(state) + n.u.integer, resets_of(state)));
    if (match(msg, TUPLE(ATOM("read"), VAR(&from))))
        erl_send(from, TUPLE(A("read"), erl_self(), INT(count_of(state))));
    else if (match(msg, TUPLE(ATOM("vsn"), VAR(&from))))
        erl_send(from, TUPLE(A("vsn"), erl_self(), INT(2)));
    else if (match(msg, TUPLE(ATOM("reset"), VAR(&from)))) {
        erl_send(from, TUPLE(A("reset"), erl_self(), A("ok")));
        return gen_noreply(state_of(0, resets_of(state) + 1));
    }
    return gen_noreply(state);
}

CODE_EXPORT const struct code_module code_module = {
    .abi = CODE_ABI,
    .name = "counter",
    .vsn = 2,
    .server = {.init = init, .handle_call = handle_call,
               .handle_cast = handle_cast, .code_change = code_change},
    .loop = loop,
};
