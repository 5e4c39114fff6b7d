/*
 * rpc.c - a functional interface over send and receive. See rpc.h.
 */
#include <errno.h>

#include "rpc.h"

term rpc_call(term server, term msg, int timeout_ms)
{
    term ref = erl_make_ref();      /* this call's tag, unique on the node */
    term reply;
    if (erl_send(server, TUPLE(msg, TUPLE(erl_self(), ref))) < 0)
        return NONE;
    term answer = erl_receive(TUPLE(ref, VAR(&reply)), timeout_ms);
    if (is_none(answer)) {
        errno = ETIMEDOUT;
        return NONE;
    }
    reply = term_keep(reply);       /* outlive the message it came in */
    erl_drop(answer);
    return reply;
}

int rpc_cast(term server, term msg)
{
    return erl_send(server, TUPLE(msg, erl_self()));
}

int rpc_reply(term from, term reply)
{
    term pid, ref;
    if (!match(from, TUPLE(VAR(&pid), VAR(&ref))) || !is_pid(pid) || !is_ref(ref)) {
        errno = EINVAL;
        return -1;
    }
    return erl_send(pid, TUPLE(ref, reply));
}
