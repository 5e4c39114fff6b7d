/*
 * supervisor.c - the supervisor behaviour, as OTP's supervisor: the client
 * side (starting a supervisor, the calls to it) and printing a tree.
 * See supervisor.h for the contract; the supervisor process itself is in
 * supervisor_server.c, and supervisor_internal.h says where the rest is.
 */
#include "gen_server.h"
#include "supervisor_internal.h"

/* ---- The client side ----------------------------------------------------- */

/* A call's answer, and where the caller's heap stood before the call, so
 * that everything the call left there can be given back at once. */
struct answer {
    erl_heap_mark_t mark;   /* the caller's heap before the call */
    term reply;             /* the reply; NONE when the call failed */
    term error;             /* why the call failed; else NONE */
};

/* Ends a call that failed with why: *error gets a copy of it (when error is
 * not NULL), the rest is given back. Returns NONE. */
static term settle_error(const struct answer *a, term why, term *error)
{
    if (error)
        *error = sup_settle(a->mark, why);
    else
        erl_heap_release(a->mark);
    return NONE;
}

/* The specs' wire forms as a list, written into v (n * 10 + 1 terms: the
 * list and its tail, then 9 a spec); valid as long as v and specs are. */
static term specs_to_list(const struct sup_child_spec *specs, size_t n, term *v)
{
    v[n] = NIL;
    for (size_t i = 0; i < n; i++)
        v[i] = sup_spec_to_term(&specs[i], v + n + 1 + 9 * i);
    return term_list(v, n);
}

/* Spawns the supervisor with its start argument, the specs as a wire list. */
static term sup_spawn(term name, struct sup_flags f, term specs, int link_flags,
                      term *mref)
{
    term arg = TUPLE(erl_self(), name,
                     TUPLE(sup_strategy_atom(f.strategy), INT(f.intensity), INT(f.period_s)),
                     specs);
    return erl_spawn_opt("supervisor", sup_main, arg,
                         (link_flags & ERL_LINK) | ERL_MONITOR, mref);
}

term supervisor_start(term name, struct sup_flags flags,
                      const struct sup_child_spec *specs, size_t n,
                      int link_flags, term *error)
{
    struct answer a = {erl_heap_mark(), NONE, NONE};
    size_t size = (n * 10 + 1) * sizeof(term);
    term *v = sup_alloc(size);          /* given back by settle_error too */
    term list = specs_to_list(specs, n, v);
    term why = sup_start_args_problem(flags, list);
    if (!is_none(why))
        return settle_error(&a, why, error);
    term mref;
    term pid = sup_spawn(name, flags, list, link_flags, &mref);
    sup_free(v, size);
    if (is_none(pid))
        return settle_error(&a, ATOM("system_limit"), error);
    erl_send(pid, TUPLE(ATOM("$supervisor_init"), mref));

    term tag, result;
    term m = erl_receive(TUPLE(VAR(&tag), mref, ATOM("process"), pid, VAR(&result)),
                         ERL_INFINITY);
    if (is_atom_named(tag, "ack") && is_atom_named(result, "ok")) {
        erl_demonitor(mref, true);
        erl_drop(m);
        return pid;
    }
    if (is_atom_named(tag, "ack")) {    /* {error, Why}: wait until it is gone */
        why = element(2, result);
        erl_receive(TUPLE(ATOM("DOWN"), mref, ANY, ANY, ANY), ERL_INFINITY);
    } else {
        why = result;                   /* it died while starting */
    }
    term flushed;                       /* given back by settle_error */
    if (link_flags & ERL_LINK)
        sup_unlink_flush(pid, NONE, &flushed);
    return settle_error(&a, why, error);
}

int supervisor_stop(term sup, term reason, int timeout_ms, term *error)
{
    return gen_server_stop(sup, reason, timeout_ms, error);
}

term supervisor_call(term sup, term request, int timeout_ms, term *error)
{
    return gen_server_call(sup, request, timeout_ms, error);
}

/* Calls sup without a time limit, as OTP's supervisor calls do. */
static struct answer call(term sup, term request)
{
    struct answer a = {erl_heap_mark(), NONE, NONE};
    a.reply = supervisor_call(sup, request, ERL_INFINITY, &a.error);
    return a;
}

/* Makes a C result of a reply {ok, X} | {error, Why}: returns X (an
 * immediate: a pid or undefined), or NONE with *error set. */
static term ok_value(struct answer a, term *error)
{
    term v;
    if (is_none(a.reply))
        return settle_error(&a, a.error, error);
    if (match(a.reply, TUPLE(ATOM("ok"), VAR(&v))) && !term_is_boxed(v)) {
        erl_heap_release(a.mark);
        return v;
    }
    if (match(a.reply, TUPLE(ATOM("error"), VAR(&v))))
        return settle_error(&a, v, error);
    return settle_error(&a, TUPLE(ATOM("bad_reply"), a.reply), error);
}

/* Makes a C result of a reply ok | {error, Why}: 0, or -1 with *error set. */
static int ok_status(struct answer a, term *error)
{
    if (is_atom_named(a.reply, "ok")) {
        erl_heap_release(a.mark);
        return 0;
    }
    ok_value(a, error);
    return -1;
}

term supervisor_start_child(term sup, const struct sup_child_spec *spec, term *error)
{
    term v[9];
    return ok_value(call(sup, TUPLE(ATOM("start_child"), sup_spec_to_term(spec, v))), error);
}

term supervisor_start_instance(term sup, term extra_args, term *error)
{
    return ok_value(call(sup, TUPLE(ATOM("start_child"), extra_args)), error);
}

int supervisor_terminate_child(term sup, term id_or_pid, term *error)
{
    return ok_status(call(sup, TUPLE(ATOM("terminate_child"), id_or_pid)), error);
}

int supervisor_delete_child(term sup, term id, term *error)
{
    return ok_status(call(sup, TUPLE(ATOM("delete_child"), id)), error);
}

term supervisor_restart_child(term sup, term id, term *error)
{
    return ok_value(call(sup, TUPLE(ATOM("restart_child"), id)), error);
}

term supervisor_which_children(term sup, term *error)
{
    struct answer a = call(sup, ATOM("which_children"));
    if (is_none(a.reply))
        return settle_error(&a, a.error, error);
    return sup_settle(a.mark, a.reply);
}

int supervisor_count_children(term sup, struct sup_counts *counts, term *error)
{
    struct answer a = call(sup, ATOM("count_children"));
    term specs, active, sups, workers;
    if (is_none(a.reply)) {
        settle_error(&a, a.error, error);
        return -1;
    }
    if (!match(a.reply, LIST(TUPLE(ATOM("specs"), VAR(&specs)),
                             TUPLE(ATOM("active"), VAR(&active)),
                             TUPLE(ATOM("supervisors"), VAR(&sups)),
                             TUPLE(ATOM("workers"), VAR(&workers))))) {
        settle_error(&a, TUPLE(ATOM("bad_reply"), a.reply), error);
        return -1;
    }
    *counts = (struct sup_counts){specs.u.integer, active.u.integer,
                                  sups.u.integer, workers.u.integer};
    erl_heap_release(a.mark);
    return 0;
}

/* ---- Printing the tree --------------------------------------------------- */

/* Prints sup's children, oldest first, each under its parent at depth.
 * Returns how many lines it printed, or -1 if sup did not answer. */
static int print_children(FILE *out, term sup, int depth, term *error)
{
    term kids = supervisor_which_children(sup, error);
    if (is_none(kids))
        return -1;
    int count = 0;
    for (size_t i = kids.size; i-- > 0;) {
        term id, pid, type;
        if (!match(kids.u.elements[i], TUPLE(VAR(&id), VAR(&pid), VAR(&type), ANY)))
            continue;
        fprintf(out, "%*s", 2 * depth, "");
        term_print(out, id);
        fputc(' ', out);
        term_print(out, pid);
        fputc(' ', out);
        term_print(out, type);
        fputc('\n', out);
        count++;
        if (is_pid(pid) && is_atom_named(type, "supervisor")) {
            int below = print_children(out, pid, depth + 1, NULL);
            count += below > 0 ? below : 0;
        }
    }
    erl_drop(kids);
    return count;
}

int supervisor_print_tree(FILE *out, term sup, term *error)
{
    term pid = is_atom(sup) ? erl_whereis(sup) : sup;
    if (is_none(pid)) {
        if (error)
            *error = ATOM("noproc");
        return -1;
    }
    term_print(out, sup);
    if (is_atom(sup)) {
        fputc(' ', out);
        term_print(out, pid);
    }
    fputc('\n', out);
    return print_children(out, pid, 1, error);
}
