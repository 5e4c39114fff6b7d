/*
 * supervisor_server.c - the supervisor process: the calls it answers, its
 * init (registering, starting the children, answering the starter) and the
 * loop that dispatches each message.
 * See supervisor.h for the contract, supervisor_internal.h for the split.
 */
#include "gen_server.h"
#include "panic.h"
#include "supervisor_internal.h"

/* ---- The calls ----------------------------------------------------------- */

/* Who asked: a call's {From, Tag}. */
struct caller {
    term from;      /* the caller's pid */
    term tag;       /* what the reply is tagged with */
};

/* Through gen_server_reply: a caller's [alias|Ref] tag is answered through
 * the alias, so a reply that comes after the call gave up is dropped. */
static void reply(const struct caller *to, term r)
{
    gen_server_reply(TUPLE(to->from, to->tag), r);
}

static void reply_error(const struct caller *to, term why)
{
    reply(to, TUPLE(ATOM("error"), why));
}

/* Answers a start: {ok, Pid}, {ok, undefined} when it ignored, or
 * {error, Reason}; child_start's reason is given back then. */
static void reply_start(const struct caller *to, int r, term pid, term reason)
{
    if (r == START_FAILED) {
        reply_error(to, reason);
        erl_drop(reason);
        return;
    }
    reply(to, TUPLE(ATOM("ok"), r == START_OK ? pid : ATOM("undefined")));
}

/* Answers start_child of a new child spec, as OTP's handle_start_child: a
 * failure is {error, {Reason, Child}}, Child being c as OTP's #child{}
 * record (not running). */
static void reply_new_child(const struct caller *to, int r, const struct child *c,
                            term reason)
{
    if (r != START_FAILED) {
        reply_start(to, r, c->pid, reason);
        return;
    }
    term v[14];
    reply_error(to, TUPLE(reason, sup_child_record(c, v)));
    erl_drop(reason);
}

/* start_child for simple_one_for_one: a new instance. */
static void call_start_instance(struct sup *s, const struct caller *to, term extra)
{
    struct child *c = sup_instance_new(s->template, extra);
    if (!c) {
        reply_error(to, TUPLE(ATOM("badarg"), extra));
        return;
    }
    term reason = NONE;
    int r = sup_child_start(c, &reason);
    reply_start(to, r, c->pid, reason);
    if (r == START_OK)
        sup_kids_append(s, c);
    else
        sup_child_free(c);
}

/* start_child: a new child, with a new id, started at the end of the order. */
static void call_start_child(struct sup *s, const struct caller *to, term spec)
{
    term why;
    struct child *c = sup_spec_from_term(spec, &why);
    if (!c) {
        reply_error(to, why);
        erl_drop(why);
        return;
    }
    ssize_t i = sup_kid_by_id(s, c->id);
    if (i >= 0) {
        const struct child *old = s->kids[i];
        if (old->state == CHILD_RUNNING)
            reply_error(to, TUPLE(ATOM("already_started"), old->pid));
        else
            reply_error(to, ATOM("already_present"));
        sup_child_free(c);
        return;
    }
    term reason = NONE;
    int r = sup_child_start(c, &reason);
    reply_new_child(to, r, c, reason);
    if (r == START_OK || (r == START_IGNORED && c->restart != SUP_TEMPORARY))
        sup_kids_append(s, c);
    else
        sup_child_free(c);
}

/* terminate_child: by id, or by pid for simple_one_for_one. */
static void call_terminate_child(struct sup *s, const struct caller *to, term key)
{
    if (s->template && !is_pid(key)) {
        reply_error(to, ATOM("simple_one_for_one"));
        return;
    }
    ssize_t i = s->template ? sup_instance_by_pid(s, key) : sup_kid_by_id(s, key);
    if (i < 0) {
        /* OTP: an instance that is already dead counts as terminated */
        if (s->template && !erl_is_alive(key))
            reply(to, ATOM("ok"));
        else
            reply_error(to, ATOM("not_found"));
        return;
    }
    struct child *c = s->kids[i];
    sup_child_stop(s, c);
    sup_child_del(s, c);
    reply(to, ATOM("ok"));
}

/* The index of the child id names when it is not running, as delete_child
 * and restart_child need; otherwise replies the error OTP gives and
 * returns -1. */
static ssize_t stopped_kid(struct sup *s, const struct caller *to, term id)
{
    ssize_t i = s->template ? -1 : sup_kid_by_id(s, id);
    if (s->template)
        reply_error(to, ATOM("simple_one_for_one"));
    else if (i < 0)
        reply_error(to, ATOM("not_found"));
    else if (s->kids[i]->state == CHILD_RUNNING)
        reply_error(to, ATOM("running"));
    else if (s->kids[i]->state == CHILD_RESTARTING)
        reply_error(to, ATOM("restarting"));
    else
        return i;
    return -1;
}

/* delete_child: forgets a child that is not running. */
static void call_delete_child(struct sup *s, const struct caller *to, term id)
{
    ssize_t i = stopped_kid(s, to, id);
    if (i < 0)
        return;
    sup_kids_remove(s, (size_t)i);
    reply(to, ATOM("ok"));
}

/* restart_child: starts a child that is not running, keeping its spec. */
static void call_restart_child(struct sup *s, const struct caller *to, term id)
{
    ssize_t i = stopped_kid(s, to, id);
    if (i < 0)
        return;
    term reason = NONE;
    int r = sup_child_start(s->kids[i], &reason);
    reply_start(to, r, s->kids[i]->pid, reason);
}

/* which_children: [{Id, Pid | undefined | restarting, Type, []}], newest
 * first as OTP lists them. */
static void call_which_children(const struct sup *s, const struct caller *to)
{
    size_t n = s->nkids;
    size_t size = (n * 5 + 1) * sizeof(term);    /* list and tail, 4 a tuple */
    term *v = sup_alloc(size);
    v[n] = NIL;
    for (size_t i = 0; i < n; i++) {
        const struct child *c = s->kids[n - 1 - i];
        term *e = v + n + 1 + 4 * i;
        e[0] = c->id;
        e[1] = c->state == CHILD_RUNNING ? c->pid
             : c->state == CHILD_RESTARTING ? ATOM("restarting")
             : ATOM("undefined");
        e[2] = sup_type_atom(c->type);
        e[3] = NIL;
        v[i] = term_tuple(e, 4);
    }
    reply(to, term_list(v, n));
    sup_free(v, size);
}

/* count_children: [{specs, N}, {active, N}, {supervisors, N}, {workers, N}]. */
static void call_count_children(const struct sup *s, const struct caller *to)
{
    long specs = 0, active = 0, sups = 0, workers = 0;
    for (size_t i = 0; i < s->nkids; i++) {
        const struct child *c = s->kids[i];
        specs++;
        active += c->state == CHILD_RUNNING && erl_is_alive(c->pid);
        if (c->type == SUP_SUPERVISOR)
            sups++;
        else
            workers++;
    }
    if (s->template)
        specs = 1;
    reply(to, LIST(TUPLE(ATOM("specs"), INT(specs)), TUPLE(ATOM("active"), INT(active)),
                   TUPLE(ATOM("supervisors"), INT(sups)),
                   TUPLE(ATOM("workers"), INT(workers))));
}

/* Dispatches one {'$gen_call', {From, Tag}, Request}. */
static void handle_call(struct sup *s, const struct caller *to, term req)
{
    term arg;
    if (match(req, TUPLE(ATOM("start_child"), VAR(&arg)))) {
        if (s->template)
            call_start_instance(s, to, arg);
        else
            call_start_child(s, to, arg);
    } else if (match(req, TUPLE(ATOM("terminate_child"), VAR(&arg)))) {
        call_terminate_child(s, to, arg);
    } else if (match(req, TUPLE(ATOM("delete_child"), VAR(&arg)))) {
        call_delete_child(s, to, arg);
    } else if (match(req, TUPLE(ATOM("restart_child"), VAR(&arg)))) {
        call_restart_child(s, to, arg);
    } else if (is_atom_named(req, "which_children")) {
        call_which_children(s, to);
    } else if (is_atom_named(req, "count_children")) {
        call_count_children(s, to);
    } else {
        reply_error(to, TUPLE(ATOM("bad_call"), req));
    }
}

/* ---- The supervisor process ---------------------------------------------- */

/* OTP's terminate: stops every child, newest first, and exits with reason.
 * Its memory goes with its heap. */
static _Noreturn void sup_exit(struct sup *s, term reason)
{
    if (s->template)
        sup_instances_stop_all(s);
    else
        sup_kids_stop_from(s, 0);
    erl_exit_self(reason);
}

static void handle_exit(struct sup *s, term pid, term reason)
{
    if (term_eq(pid, s->parent))
        sup_exit(s, reason);
    ssize_t i = sup_kid_by_pid(s, pid);
    if (i >= 0 && !sup_child_exited(s, s->kids[i], reason))
        sup_exit(s, ATOM("shutdown"));
    /* else: a child we already let go (its late 'EXIT'): nothing to do */
}

/* {try_again_restart, Key}: a restart that failed is tried once more. */
static void handle_try_again(struct sup *s, term key)
{
    term old;
    for (size_t i = 0; i < s->nkids; i++) {
        struct child *c = s->kids[i];
        if (c->state != CHILD_RESTARTING)
            continue;
        bool it = match(key, TUPLE(ATOM("restarting"), VAR(&old)))
                  ? s->template && term_eq(c->pid, old)
                  : !s->template && term_eq(c->id, key);
        if (it) {
            if (!sup_restart(s, c))
                sup_exit(s, ATOM("shutdown"));
            return;
        }
    }
}

/* {system, {From, Tag}, Request}: sys:terminate (gen_server_stop) stops
 * the supervisor; supervisor_sys.c answers the others. */
static void handle_system(struct sup *s, const struct caller *to, term req)
{
    term reason;
    if (match(req, TUPLE(ATOM("terminate"), VAR(&reason))))
        sup_exit(s, reason);
    sup_system(s, to->from, to->tag, req);
}

/* Dispatches one message; any message it takes is released by the loop. */
static void sup_handle(struct sup *s, term m)
{
    struct caller to;
    term req, pid, reason, key;
    if (match(m, TUPLE(ATOM("$gen_call"), TUPLE(VAR(&to.from), VAR(&to.tag)), VAR(&req))))
        handle_call(s, &to, req);
    else if (match(m, TUPLE(ATOM("EXIT"), VAR(&pid), VAR(&reason))))
        handle_exit(s, pid, reason);
    else if (match(m, TUPLE(ATOM("$gen_cast"), TUPLE(ATOM("try_again_restart"), VAR(&key)))))
        handle_try_again(s, key);
    else if (match(m, TUPLE(ATOM("system"), TUPLE(VAR(&to.from), VAR(&to.tag)), VAR(&req))))
        handle_system(s, &to, req);
    else
        sup_report_unexpected(s, m);
}

/* Starts the children in order. On a failure stops the started ones, newest
 * first, and returns -1 with *why = {failed_to_start_child, Id, Reason}. */
static int start_children(struct sup *s, term *why)
{
    for (size_t i = 0; i < s->nkids;) {
        struct child *c = s->kids[i];
        term reason = NONE;
        int r = sup_child_start(c, &reason);
        if (r == START_FAILED) {
            sup_report(s, "start_error", reason, c);
            *why = term_keep(TUPLE(ATOM("failed_to_start_child"), c->id, reason));
            sup_kids_stop_from(s, 0);
            return -1;
        }
        if (r == START_IGNORED && c->restart == SUP_TEMPORARY)
            sup_kids_remove(s, i);
        else
            i++;
    }
    return 0;
}

/* Reads the start argument: {Parent, Name, {Strategy, Intensity, Period},
 * Specs}. The client checked it already (supervisor_start). */
static void sup_init_state(struct sup *s, term arg)
{
    static const char *const strategies[] = {
        "one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one"};
    term strategy, intensity, period, specs;
    *s = (struct sup){.self = erl_self()};
    if (!match(arg, TUPLE(VAR(&s->parent), VAR(&s->name),
                          TUPLE(VAR(&strategy), VAR(&intensity), VAR(&period)),
                          VAR(&specs))))
        panic("supervisor: bad start argument");
    s->flags = (struct sup_flags){
        (enum sup_strategy)sup_atom_index(strategy, strategies, 4),
        (int)intensity.u.integer, (int)period.u.integer};
    for (size_t i = 0; i < specs.size; i++) {
        term why;
        struct child *c = sup_spec_from_term(specs.u.elements[i], &why);
        if (!c)
            panic("supervisor: bad child spec at start");
        sup_kids_append(s, c);
    }
    if (s->flags.strategy == SUP_SIMPLE_ONE_FOR_ONE) {
        s->template = s->kids[0];
        s->nkids = 0;
    }
}

/*
 * The starter waits for a message shaped like the 'DOWN' its monitor would
 * send, {ack, Ref, process, Pid, Result}: one pattern then catches the
 * answer and the supervisor's death alike (erl_receive takes one pattern).
 */
static void ack(const struct sup *s, term mref, term result)
{
    erl_send(s->parent, TUPLE(ATOM("ack"), mref, ATOM("process"), s->self, result));
}

/* Registers the name, starts the children. Returns 0, or -1 with *why set
 * and *exit_reason to what the supervisor should exit with. */
static int sup_init(struct sup *s, term *why, term *exit_reason)
{
    if (!is_none(s->name) && erl_register(s->name, s->self) < 0) {
        term other = erl_whereis(s->name);
        *why = term_keep(TUPLE(ATOM("already_started"), other));
        *exit_reason = ATOM("normal");
        return -1;
    }
    if (start_children(s, why) < 0) {
        *why = term_keep(TUPLE(ATOM("shutdown"), *why));
        *exit_reason = *why;
        return -1;
    }
    return 0;
}

/* The next message to handle: any, or while suspended only a system message
 * or the parent's 'EXIT', as OTP's sys:suspend_loop; the rest (children's
 * 'EXIT's too) waits in the mailbox, in order, until resume. */
static term next_message(const struct sup *s)
{
    if (!s->suspended)
        return erl_receive(ANY, ERL_INFINITY);
    term either[] = {TUPLE(ATOM("system"), ANY, ANY),
                     TUPLE(ATOM("EXIT"), s->parent, ANY)};
    return erl_receive_any(either, 2, ERL_INFINITY, NULL);
}

/*
 * The supervisor process. It first waits for the starter's monitor reference
 * (the starter only learns it from erl_spawn_opt, after the spawn), so that
 * its answer can look like that monitor's 'DOWN'; then it traps exits,
 * starts its children, answers, and serves messages until it exits.
 */
void sup_main(term arg)
{
    struct sup s;
    term mref, why, exit_reason;
    erl_quiet(true);    /* it prints its own reports, not erlang's */
    erl_receive(TUPLE(ATOM("$supervisor_init"), VAR(&mref)), ERL_INFINITY);
    erl_trap_exit(true);
    sup_init_state(&s, arg);
    if (sup_init(&s, &why, &exit_reason) < 0) {
        erl_unlink(s.parent);   /* the starter hears it from the ack */
        ack(&s, mref, TUPLE(ATOM("error"), why));
        erl_exit_self(exit_reason);
    }
    ack(&s, mref, ATOM("ok"));
    for (;;) {
        term m = next_message(&s);
        sup_handle(&s, m);
        erl_drop(m);
    }
}
