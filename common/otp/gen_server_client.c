/*
 * gen_server_client.c - gen_server's client side, as OTP's gen_server:
 * start (and the options it takes), call, cast, reply, stop; a call or a
 * cast to a remote server goes through the same send, the node layer
 * carrying it. The server process is in gen_server.c. See gen_server.h for
 * the contracts.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen_server_impl.h"
#include "sys.h"

/* ---- The client side ----------------------------------------------------- */

/* Stores why in *error when error is not NULL; returns NONE. */
static term fail(term *error, term why)
{
    if (error)
        *error = why;
    return NONE;
}

/* Stores a copy of why, the caller's own, in *error when error is not
 * NULL (see gen_server.h); returns NONE. */
static term fail_kept(term *error, term why)
{
    return fail(error, error ? term_keep(why) : why);
}

/* Hands part of message m to the caller as *error, a term of its own, and
 * drops m: a failed call leaves nothing behind. */
static void fail_from(term *error, term part, term m)
{
    fail_kept(error, part);
    erl_drop(m);
}

/* The pid behind a pid, a registered name or {Name, Node}, or NONE with
 * errno set (see erl_resolve). */
static term resolve(term server)
{
    return erl_resolve(server);
}

/* Fails a call to server, which resolve found nobody behind: with
 * {nodedown, Node} for {Name, Node} of another node, as OTP's gen:call when
 * the node cannot be reached; noproc otherwise. Reads errno. Returns NONE. */
static term fail_unreachable(term *error, term server)
{
    if (errno == ENOTCONN)
        return fail_kept(error, TUPLE(ATOM("nodedown"), element(2, server)));
    return fail(error, ATOM("noproc"));
}

/* The Tag of a call from this runtime: [alias|Alias], as OTP 24's. */
#define ALIAS_TAG(alias) term_list((term[]){ATOM("alias"), (alias)}, 1)


/* True when o is not a start option this server knows; else sets
 * *hibernate_after from it. */
static bool bad_option(term o, int *hibernate_after)
{
    term ms;
    if (!match(o, TUPLE(ATOM("hibernate_after"), VAR(&ms))))
        return true;
    if (is_atom_named(ms, "infinity"))
        *hibernate_after = ERL_INFINITY;
    else if (is_int(ms) && ms.u.integer >= 0 && ms.u.integer <= INT32_MAX)
        *hibernate_after = (int)ms.u.integer;
    else
        return true;
    return false;
}

/* Reads OTP's start options (see gen_server_start_opt) into
 * *hibernate_after (ms, or ERL_INFINITY). Returns NONE when they are good,
 * else the offending option (opts itself when it is not a proper list). */
static term read_options(term opts, int *hibernate_after)
{
    *hibernate_after = ERL_INFINITY;
    /* A list's cells may come in chunks: each chunk's tail is the next. */
    for (term l = opts; l.size; l = l.u.elements[l.size]) {
        if (!is_list(l))
            return opts;
        if (!is_list(l.u.elements[l.size]))   /* an improper tail */
            return opts;
        for (uint32_t i = 0; i < l.size; i++)
            if (bad_option(l.u.elements[i], hibernate_after))
                return l.u.elements[i];
    }
    return is_list(opts) ? NONE : opts;
}

term gen_server_start(term name, const struct gen_server_module *mod, term args,
                      int flags, term *error)
{
    return gen_server_start_opt(name, mod, args, flags, NIL, error);
}

term gen_server_start_opt(term name, const struct gen_server_module *mod, term args,
                          int flags, term opts, term *error)
{
    if (!is_none(name) && !is_atom(name))
        return fail(error, ATOM("badarg"));
    int hibernate_after;
    term bad = read_options(opts, &hibernate_after);
    if (!is_none(bad))
        return fail_kept(error, TUPLE(ATOM("bad_option"), bad));
    /* The module table is code, not data: its address means the same thing
     * in every process, so it travels as an integer. */
    bool linked = flags & ERL_LINK;
    term arg = TUPLE(INT((intptr_t)mod), is_none(name) ? ATOM("undefined") : name,
                     args, erl_self(), linked ? ATOM("true") : ATOM("false"),
                     hibernate_after < 0 ? ATOM("infinity") : INT(hibernate_after));
    term ref;
    term pid = erl_spawn_opt(mod->name, server_main, arg,
                             (flags & ERL_LINK) | ERL_MONITOR, &ref);
    if (is_none(pid))
        return fail(error, ATOM("system_limit"));

    /* init runs in the new process; wait for its answer, or its death. The
     * ack comes before the server's 'DOWN', and the demonitor flushes that:
     * nothing of the start is left in the mailbox, and only *error (a copy)
     * in the heap. */
    term result, reason;
    int which;
    term m = receive_either(TUPLE(ATOM("$gen_ack"), pid, VAR(&result)),
                            TUPLE(ATOM("DOWN"), ref, ANY, ANY, VAR(&reason)),
                            ERL_INFINITY, &which);
    erl_demonitor(ref, true);
    if (which == 0 && is_atom_named(result, "ok")) {
        erl_drop(m);
        return pid;
    }
    term why = which == 1 ? reason
               : is_atom_named(result, "ignore") ? result
               : element(2, result);            /* {error, Reason} */
    fail_kept(error, why);
    erl_drop(m);
    return NONE;
}

/* Waits for the reply {Tag, Reply} or the 'DOWN' of mon, as gen:do_call:
 * after the timeout it looks once more for a reply that came meanwhile.
 * Returns the message, NONE on timeout; *which: 0 reply, 1 'DOWN'. */
static term await_reply(term tag, term mon, int timeout_ms, term *reply,
                        term *reason, int *which)
{
    term m = receive_either(TUPLE(tag, VAR(reply)),
                            TUPLE(ATOM("DOWN"), mon, ANY, ANY, VAR(reason)),
                            timeout_ms, which);
    if (is_none(m)) {
        *which = 0;
        m = erl_receive(TUPLE(tag, VAR(reply)), 0);
    }
    return m;
}

/*
 * OTP 24's gen:call: the request carries the tag [alias|Alias], the reply
 * comes back through the alias, and the alias goes on every way out, so a
 * reply that comes after the call gave up is dropped, never queued. The
 * 'DOWN' or reply message goes too: only what the caller is handed stays.
 */
/* The node server is on when it is another node's, or NONE: a pid of
 * another node, or {Name, Node} of another node on a distributed node. */
static term remote_node(term server)
{
    if (is_pid(server))
        return server.node ? erl_node_of(server) : NONE;
    term node = element(2, server);
    if (!is_atom(element(1, server)) || !is_atom(node) || server.size != 2 ||
        term_eq(node, erl_node()) || is_atom_named(erl_node(), "nonode@nohost"))
        return NONE;
    return node;
}

/*
 * A call to another node: OTP 23's gen:call. The tag is the monitor's
 * reference, and the reply an ordinary message to the caller's pid: a BEAM
 * server answers [alias|Ref] through the alias, and BEAM drops a send to
 * an alias of a node that does not announce aliases, as libei's nodes do
 * not. So a reply that comes after the call gave up lands in the caller's
 * mailbox, as it did with OTP 23. When the connection goes, the 'DOWN'
 * says noconnection and the call fails at once with {nodedown, Node}.
 */
static term remote_call(term server, term node, term label, term request, int timeout_ms,
                        term *error)
{
    term mon = erl_monitor(server);
    erl_send(server, TUPLE(label, TUPLE(erl_self(), mon), request));
    term reply, reason;
    int which;
    term m = await_reply(mon, mon, timeout_ms, &reply, &reason, &which);
    if (!is_none(m) && which == 1) {
        term why = is_atom_named(reason, "noconnection") ? TUPLE(ATOM("nodedown"), node)
                                                          : reason;
        fail_from(error, why, m);
        return NONE;
    }
    erl_demonitor(mon, true);
    if (is_none(m))
        return fail(error, ATOM("timeout"));
    term kept = term_keep(reply);
    erl_drop(m);
    return kept;
}

term gen_call(term server, term label, term request, int timeout_ms, term *error)
{
    if (is_tuple(server) && is_atom_named(element(1, server), "global")) {
        server = erl_resolve(server);   /* {global, Name}: whose pid, anywhere */
        if (is_none(server))
            return fail(error, ATOM("noproc"));
    }
    term node = remote_node(server);
    if (!is_none(node))
        return remote_call(server, node, label, request, timeout_ms, error);
    term pid = resolve(server);
    if (is_none(pid))
        return fail_unreachable(error, server);
    term self = erl_self();
    if (term_eq(pid, self))
        return fail(error, ATOM("calling_self"));

    term mon = erl_monitor(pid);
    term alias = erl_alias();
    term tag = ALIAS_TAG(alias);
    erl_send(pid, TUPLE(label, TUPLE(self, tag), request));
    term reply, reason;
    int which;
    term m = await_reply(tag, mon, timeout_ms, &reply, &reason, &which);
    erl_unalias(alias);     /* from here on, a late reply is dropped */
    if (!is_none(m) && which == 1) {
        fail_from(error, reason, m);    /* noproc if it was gone already */
        return NONE;
    }
    erl_demonitor(mon, true);
    if (is_none(m))
        return fail(error, ATOM("timeout"));
    term kept = term_keep(reply);   /* a term of its own, for erl_drop */
    erl_drop(m);
    return kept;
}

term gen_server_call(term server, term request, int timeout_ms, term *error)
{
    return gen_call(server, ATOM("$gen_call"), request, timeout_ms, error);
}

void gen_server_cast(term server, term request)
{
    erl_send(server, TUPLE(ATOM("$gen_cast"), request));  /* may fail: fine */
}

void gen_server_reply(term from, term reply)
{
    term pid = element(1, from), tag = element(2, from), alias;
    if (match(tag, ALIAS_TAG(VAR(&alias))) && is_ref(alias))
        erl_send_alias(pid, alias, TUPLE(tag, reply));
    else
        erl_send(pid, TUPLE(tag, reply));   /* an old-style or a node's tag */
}

int gen_server_stop(term server, term reason, int timeout_ms, term *error)
{
    term pid = resolve(server);
    if (is_none(pid)) {
        fail_unreachable(error, server);
        return -1;
    }
    term ref = erl_monitor(pid);
    erl_send(pid, TUPLE(ATOM("system"), TUPLE(erl_self(), ref),
                        TUPLE(ATOM("terminate"), reason)));
    term why;
    term m = erl_receive(TUPLE(ATOM("DOWN"), ref, ANY, ANY, VAR(&why)), timeout_ms);
    if (is_none(m)) {
        erl_demonitor(ref, true);
        fail(error, ATOM("timeout"));
        return -1;
    }
    if (term_eq(why, reason)) {
        erl_drop(m);
        return 0;
    }
    fail_from(error, why, m);   /* noproc, or another reason it died with */
    return -1;
}
