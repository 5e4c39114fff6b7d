/*
 * counter_bad.c - shared objects the code server must refuse, one per
 * fault, built from this file with one of:
 *   -DBAD_NO_TABLE   exports no code_module table     (bad_notable.so)
 *   -DBAD_ABI        built for ABI number 99          (bad_abi.so)
 *   -DBAD_NAME       says it is module "timer"        (bad_name.so)
 *   -DBAD_CALLBACK   has no handle_call               (bad_callback.so)
 * Each would otherwise be a working version 3 of the counter.
 */
#include "code.h"
#include "counter_proto.h"

static gen_result init(term args) { (void)args; return gen_ok(INT(0)); }

__attribute__((unused))
static gen_result handle_call(term request, term from, term state)
{
    (void)request, (void)from;
    return gen_reply(state, state);
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

static gen_result loop(term msg, term state)
{
    (void)msg;
    return gen_noreply(state);
}

#ifdef BAD_NO_TABLE
#define TABLE_NAME not_the_table
#else
#define TABLE_NAME code_module
#endif

CODE_EXPORT const struct code_module TABLE_NAME = {
#ifdef BAD_ABI
    .abi = 99,
#else
    .abi = CODE_ABI,
#endif
#ifdef BAD_NAME
    .name = "timer",
#else
    .name = "counter",
#endif
    .vsn = 3,
    .server = {.init = init,
#ifndef BAD_CALLBACK
               .handle_call = handle_call,
#endif
               .handle_cast = handle_cast, .code_change = code_change},
    .loop = loop,
};
