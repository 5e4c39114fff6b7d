/*
 * gen_server_lite.c - a generic server written by hand. See gen_server_lite.h;
 * gen_server_lite.erl is the Erlang it mirrors.
 */
#include <errno.h>
#include <stdint.h>

#include "gen_server_lite.h"

/* ---- The server ---------------------------------------------------------- */

/* Sends {reply, Ref, Reply} to the Pid of from = {Pid, Ref}. */
static void reply(term from, term r)
{
    term pid, ref;
    if (match(from, TUPLE(VAR(&pid), VAR(&ref))))
        erl_send(pid, TUPLE(ATOM("reply"), ref, r));
}

/* Runs the callback msg asks for and replaces *state with a copy of the new
 * state it returns. Returns false when the server should end. Anything but
 * a request is dropped. */
static bool dispatch(const struct gen_server_lite_module *mod, term msg,
                     term *state)
{
    term req, from;
    struct gen_server_lite_result r;
    if (match(msg, TUPLE(ATOM("request"), VAR(&req), VAR(&from)))) {
        r = mod->handle_call(req, *state);
        reply(from, r.reply);
    } else if (match(msg, TUPLE(ATOM("request"), VAR(&req)))) {
        r = mod->handle_cast(req, *state);
    } else {
        return true;
    }
    term kept = term_keep(r.state);     /* may point into msg or *state */
    erl_drop(*state);
    *state = kept;
    return !r.stop;
}

/* The generic loop: arg is {Module, State}, the module's address carried
 * as an integer (both ends are in this one OS process). */
static void lite_loop(term arg)
{
    const struct gen_server_lite_module *mod =
        (const void *)(intptr_t)element(1, arg).u.integer;
    term state = term_keep(element(2, arg));
    bool running = true;
    while (running) {
        term msg = erl_receive(ANY, ERL_INFINITY);
        running = dispatch(mod, msg, &state);
        erl_drop(msg);
    }
}

/* ---- The client API ------------------------------------------------------ */

term gen_server_lite_start(term name, const struct gen_server_lite_module *mod,
                           term state)
{
    term arg = TUPLE(INT((intptr_t)mod), state);
    term pid = erl_spawn_opt(mod->name, lite_loop, arg, 0, NULL);
    if (is_none(pid))
        return NONE;
    if (erl_register(name, pid) < 0) {
        int saved = errno;
        erl_exit(pid, ATOM("kill"));    /* do not leave it running, unnamed */
        errno = saved;
        return NONE;
    }
    return pid;
}

term gen_server_lite_call(term server, term request, int timeout_ms)
{
    term ref = erl_make_ref();
    term r;
    if (erl_send(server, TUPLE(ATOM("request"), request,
                               TUPLE(erl_self(), ref))) < 0)
        return NONE;
    term answer = erl_receive(TUPLE(ATOM("reply"), ref, VAR(&r)), timeout_ms);
    if (is_none(answer)) {
        errno = ETIMEDOUT;
        return NONE;
    }
    r = term_keep(r);
    erl_drop(answer);
    return r;
}

int gen_server_lite_cast(term server, term request)
{
    return erl_send(server, TUPLE(ATOM("request"), request));
}
