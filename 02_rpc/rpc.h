/*
 * rpc.h - a functional interface over send and receive.
 *
 * rpc_call sends {Msg, From} with From = {self(), Ref}, Ref a fresh
 * reference, and takes only the message {Ref, Reply}: selective receive on
 * the tag. Nothing else in the mailbox can pass for the reply, and a caller
 * that waits too long gives up. rpc_cast sends {Msg, self()} and returns.
 *
 * The server side answers a call with rpc_reply(From, Reply).
 */
#ifndef RPC_H
#define RPC_H

#include "erl.h"

/* Sends {Msg, {self(), Ref}} to server (a pid or a registered name) and
 * waits up to timeout_ms for {Ref, Reply}. Other messages stay in the
 * mailbox, in order. Returns Reply, which the caller owns (erl_drop it if
 * boxed), or NONE with errno:
 *   ESRCH      server is a name nobody holds (Erlang: badarg)
 *   EINVAL     server is neither a pid nor an atom
 *   ETIMEDOUT  no reply in time: the server is gone, stuck or slow. A reply
 *              that comes later stays in the mailbox as {Ref, Reply}. */
term rpc_call(term server, term msg, int timeout_ms);

/* Sends {Msg, self()} to server. Returns 0 (ok), or -1 with errno ESRCH or
 * EINVAL as rpc_call. */
int rpc_cast(term server, term msg);

/* Answers a call: sends {Ref, Reply} to Pid, where from is the {Pid, Ref} of
 * the request. Returns 0, or -1 with errno EINVAL if from is not that shape
 * (for instance, the request was a cast). */
int rpc_reply(term from, term reply);

#endif
