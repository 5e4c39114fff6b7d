/*
 * hot_spin.c - a module the code server loads for test_07_hot_code's
 * preemption test: its loop computes forever on the message spin, in the
 * shared object's own code, without calling the runtime.
 *
 * tests/Makefile builds it as 07_hot_code's objects are built: its text
 * renamed to erl_user_text, so the code server makes it preemptible.
 */
#include "code.h"

static volatile unsigned long spins;    /* the loop's work, so it is kept */

static gen_result init(term args) { return gen_ok(args); }

static gen_result handle_call(term request, term from, term state)
{
    (void)from;
    return gen_reply(request, state);
}

static gen_result handle_cast(term request, term state)
{
    (void)request;
    return gen_noreply(state);
}

static gen_result code_change(term old_vsn, term state, term extra)
{
    (void)old_vsn, (void)extra;
    return gen_ok(state);
}

/* spin: for (;;) in this object's code; anything else is ignored. */
static gen_result loop(term msg, term state)
{
    if (is_atom_named(msg, "spin"))
        for (;;)
            spins++;
    return gen_noreply(state);
}

CODE_EXPORT const struct code_module code_module = {
    .abi = CODE_ABI,
    .name = "spinner",
    .vsn = 1,
    .server = {.init = init, .handle_call = handle_call,
               .handle_cast = handle_cast, .code_change = code_change},
    .loop = loop,
};
