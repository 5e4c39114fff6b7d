/*
 * counter_proto.h - what both versions of the counter share: how an atom
 * leaves the object, and the tests' lever on code_change. Header-only: each
 * version is a shared object of its own and links nothing but the host.
 */
#ifndef COUNTER_PROTO_H
#define COUNTER_PROTO_H

#include "erl.h"

/* An atom in host memory, for any atom that leaves the object (a reply, a
 * state, a reason): ATOM("x")'s name is the object's own string, gone when
 * the object is unloaded. Matching against ATOM(...) is fine: atoms compare
 * by name. */
#define A(s) atom_from(s)

/* True when extra is {refuse, Count}: code_change then refuses to convert a
 * counter at Count, so a test can make one upgrade of several fail. */
static inline bool counter_refused(term extra, int64_t count)
{
    term c;
    return match(extra, TUPLE(ATOM("refuse"), VAR(&c))) && is_int(c) &&
           c.u.integer == count;
}

#endif
