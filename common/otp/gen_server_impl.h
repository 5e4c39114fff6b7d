/*
 * gen_server_impl.h - a running server's insides, shared by gen_server.c
 * (the loop, the callbacks, stopping) and gen_server_sys.c (what the sys
 * module asks of the loop: debugging, status, code change).
 *
 * Not for stage code: stages use gen_server.h and sys.h.
 */
#ifndef GEN_SERVER_IMPL_H
#define GEN_SERVER_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "gen_server.h"

/* What sys_statistics counts. */
struct debug {
    time_t start;           /* when counting started (wall clock) */
    int64_t in;             /* calls, casts and infos handled */
    int64_t out;            /* replies the loop sent */
};

/* A running server. Only the server's own process touches it: it lives in
 * that process's heap, below the state (gen_server.c, server_home), so
 * that the server can give its stack up between messages. last,
 * last_continue and stopping matter only while a message is handled.
 * Ordered so that it packs into 176 bytes, which with its heap block's
 * header fill one small block (BLOCK_SMALL): an idle server's heap is that
 * block (idle_bytes 818 -> 803 B). */
struct server {
    const struct gen_server_module *mod;    /* the callbacks */
    term self;              /* this process */
    term name;              /* registered name, or NONE */
    term starter;           /* who called gen_server_start: init's ack goes there */
    term parent;            /* the starter when linked, else self (OTP's
                               gen:do_spawn): its exit stops the server */
    term state;             /* the callback state, kept at the heap's bottom */
    term cont;              /* a {continue, C}'s C, kept with the state: run
                               before the next message; NONE: none */
    term last;              /* the message a handler was last given (for
                               handle_continue, the C of {continue, C}), for
                               the report when it crashes */
    erl_heap_mark_t below;  /* heap end before the state's copy */
    erl_heap_mark_t above;  /* heap end after it: a message's garbage starts here */
    struct debug dbg;       /* sys_statistics' counts */
    int timeout_ms;         /* the last result's timeout: with no message in
                               that long, handle_info(timeout); ERL_INFINITY */
    int hibernate_after;    /* {hibernate_after, Ms}: hibernate after Ms
                               with no message; ERL_INFINITY: never */
    bool hibernate;         /* the last result said hibernate: the loop
                               hibernates before it takes the next message */
    bool suspended;         /* sys_suspend: only system messages are handled */
    bool trace;             /* sys_trace: print *DBG* lines to stdout */
    bool stats;             /* sys_statistics: count messages (dbg) */
    bool last_continue;     /* last is a continue's C */
    bool stopping;          /* server_stop has begun: the exit that ends the
                               loop's catch is the server's own */
};

/* ---- Calling a callback (gen_server.c) ----------------------------------- */

/* Which callback an invocation runs: those outside the loop's catch (the
 * handlers run inside it, gen_server.c). */
enum callback_fn {
    FN_INIT, FN_CODE_CHANGE, FN_TERMINATE,
};

/* One callback call, as erl_catch runs it: the callback, its arguments in
 * order (a, b, c; unused ones NONE) and what it returned. */
struct invocation {
    const struct gen_server_module *mod;    /* whose callback */
    enum callback_fn fn;    /* which */
    term a, b, c;           /* its arguments */
    gen_result r;           /* its result (not for FN_TERMINATE) */
};

/* Takes the first message that matches a or b, in mailbox order, as
 * Erlang's receive with two clauses. Sets *which to 0 (a) or 1 (b).
 * Returns NONE on timeout. */
static inline term receive_either(term a, term b, int timeout_ms, int *which)
{
    size_t i = 0;
    term m = erl_receive_any((term[]){a, b}, 2, timeout_ms, &i);
    *which = (int)i;
    return m;
}

/* The server process (gen_server.c), which gen_server_start_opt spawns:
 * arg is {Module, Name, Args, Starter, Linked, HibernateAfter}; it runs
 * init, acks its starter, then loops. */
void server_main(term arg);

/* Runs v's callback inside erl_catch. Returns true when it returned (its
 * result in v->r); false, with *reason set (a term in the heap), when it
 * crashed. This function can't fail. */
bool server_invoke(struct invocation *v, term *reason);

/* Which callback returned a result: they allow different shapes. */
enum callback { CB_INIT, CB_CALL, CB_OTHER };

/* True when r is a well-formed result of callback cb, which may return the
 * actions in the mask (1 << GEN_...). */
bool server_result_ok(const gen_result *r, unsigned mask, enum callback cb);

/* OTP's view of what a callback returned, kept in the heap, for
 * {bad_return_value, R}. */
term server_result_term(gen_result r);

/* Makes st the server's state (and cont its pending continue, or NONE) and
 * releases everything else received or kept since the state was stored. */
void server_store(struct server *s, term st, term cont);

/* Ends the server as OTP's terminate/8: terminate(Reason, State), the reply
 * of a {stop, Reason, Reply, State} (from, reply: NONE when none), a report
 * if the reason is abnormal, the exit. last is the last message in. */
_Noreturn void server_stop(struct server *s, term reason, term state,
                           term last, term from, term reply);

/* Formats t for a log line, shortened with "..." past n - 1 bytes. */
const char *server_fmt(char *buf, size_t n, term t);

/* The server's name in log lines: its registered name, or its pid. */
const char *server_label(const struct server *s, char *buf, size_t n);

/* ---- sys (gen_server_sys.c) ---------------------------------------------- */

/* True when sys debugging is on: only then are the server_dbg_ functions
 * called, so a server that is not watched pays one test per message. */
static inline bool watched(const struct server *s)
{
    return s->trace || s->stats;
}

/* A message came in: trace it and count it. kind is "call", "cast" or NULL. */
void server_dbg_in(struct server *s, const char *kind, term msg, term from);

/* A callback kept the server going with a new state. */
void server_dbg_state(const struct server *s);

/* The loop sent a reply and goes on with state. */
void server_dbg_out(struct server *s, term reply, term from, term state);

/* {system, From, Request}: the sys module's requests, answered {Tag, Reply}.
 * msg is the whole message (for sys:terminate's report). */
void server_system(struct server *s, term msg, term from, term req);

#endif
