/*
 * gen_server_lite.h - a generic server written by hand: the road to 03.
 *
 * The process and its loop are generic; a callback module holds the logic,
 * as in OTP's gen_server. The messages:
 *
 *   call   {request, Req, {Pid, Ref}}   answered by {reply, Ref, Reply}
 *   cast   {request, Req}
 *
 * The study's original answers {reply, R}, untagged, and so has 01's
 * weakness: any {reply, _} in the caller's mailbox passes for the answer.
 * Here the reply carries the call's Ref, as rpc does and as OTP's
 * {'$gen_call', {Pid, Tag}, Req} does.
 *
 * What it still lacks, and 03_gen_server adds: an init callback and
 * synchronous start, links (start_link), a monitor on the server during a
 * call (so a dead server is noticed at once instead of by timeout),
 * terminate, handle_info, and the sys module.
 */
#ifndef GEN_SERVER_LITE_H
#define GEN_SERVER_LITE_H

#include <stdbool.h>

#include "erl.h"

/* What a callback returns. Terms must outlive the callback: immediates,
 * parts of its arguments, or term_keep() copies. */
struct gen_server_lite_result {
    bool stop;          /* true: the server ends after this message */
    term reply;         /* handle_call: the reply; handle_cast: unused */
    term state;         /* the new state */
};

/* A callback module. */
struct gen_server_lite_module {
    const char *name;   /* labels the process in listings (the shell's i) */
    /* a call's Req and the state: the reply, the new state, whether to stop */
    struct gen_server_lite_result (*handle_call)(term request, term state);
    /* a cast's Req and the state: the new state, whether to stop */
    struct gen_server_lite_result (*handle_cast)(term request, term state);
};

/* Spawns a server with the initial state and registers it as name (an
 * atom). Returns its pid, or NONE with errno EEXIST (name taken) or EAGAIN. */
term gen_server_lite_start(term name, const struct gen_server_lite_module *mod,
                           term state);

/* Sends {request, Req, {self(), Ref}} and waits up to timeout_ms for
 * {reply, Ref, Reply}. Returns Reply, which the caller owns (erl_drop it if
 * boxed), or NONE with errno ESRCH (no such name), EINVAL (server neither a
 * pid nor an atom) or ETIMEDOUT. */
term gen_server_lite_call(term server, term request, int timeout_ms);

/* Sends {request, Req}. Returns 0, or -1 with errno ESRCH or EINVAL. */
int gen_server_lite_cast(term server, term request);

#endif
