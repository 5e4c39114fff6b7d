/*
 * code_run.c - the processes that run a module's code, and their switch
 * points: the raw loop, which re-enters through the current version after
 * each message, and a gen_server, which switches when sys:change_code runs
 * the code server's code_change shim inside it.
 *
 * Why a switch is safe: a process registered as running version V keeps V
 * loaded (purge kills it first; soft_purge refuses). A process runs V's
 * code only while registered as running V, or while it has V pinned (a
 * start, an upgrade). When a process on V (not current) converts to the
 * current version C, C cannot stop being current meanwhile: a load would
 * need V purged first, and that kills the process.
 */
#include <errno.h>
#include <stdlib.h>

#include "code_impl.h"
#include "supervisor.h"
#include "sys.h"

/* ---- Converting a state -------------------------------------------------- */

/* The code_change that converts a state from version from to version to,
 * and the OldVsn it takes: the new version's with from's number on an
 * upgrade, the old version's with {down, to's number} on a downgrade. */
static gen_result convert(const struct code_version *from,
                          const struct code_version *to, term state, term extra)
{
    term down[2] = {ATOM("down"), INT(to->vsn)};
    if (to->vsn < from->vsn)
        return from->table->server.code_change(term_tuple(down, 2), state, extra);
    return to->table->server.code_change(INT(from->vsn), state, extra);
}

/* Registers the caller as running v unless v is dying. Returns 0, or -1. */
static int register_self(struct code_version *v)
{
    pthread_mutex_lock(&code_tables.lock);
    int rc = v->dying ? -1 : code_register(erl_self(), v);
    pthread_mutex_unlock(&code_tables.lock);
    return rc;
}

/* ---- The gen_server shims ------------------------------------------------ */

/* init of every version's server table: args is {'$code', Id, Args}. Registers
 * the new server as running version Id, then runs that version's init. */
gen_result code_shim_init(term args)
{
    pthread_mutex_lock(&code_tables.lock);
    struct code_version *v = code_version_by_id((unsigned)element(2, args).u.integer);
    bool gone = !v || v->dying;
    int rc = gone ? -1 : code_register(erl_self(), v);
    pthread_mutex_unlock(&code_tables.lock);
    if (rc < 0)
        return gen_stop(gone ? ATOM("purged") : ATOM("enomem"), NONE);
    return v->table->server.init(element(3, args));
}

/* code_change of every version's server table: extra is
 * {'$code', FromId, ToId, Extra}. Runs the conversion in the server and, when
 * it succeeds, registers the server as running ToId: its switch point. */
gen_result code_shim_change(term old_vsn, term state, term extra)
{
    unsigned to_id = (unsigned)element(3, extra).u.integer;
    pthread_mutex_lock(&code_tables.lock);
    struct code_version *from = code_version_by_id((unsigned)element(2, extra).u.integer);
    struct code_version *to = code_version_by_id(to_id);
    bool gone = !from || !to || to->dying;
    pthread_mutex_unlock(&code_tables.lock);
    if (gone)
        return gen_stop(ATOM("purged"), state);
    (void)old_vsn;              /* convert works it out from the versions */
    gen_result r = convert(from, to, state, element(4, extra));
    if (r.action != GEN_OK)
        return r;
    if (register_self(to) < 0)
        return gen_stop(ATOM("purged"), state);
    return r;
}

/* ---- The raw loop -------------------------------------------------------- */

/* Keeps t alone in the process heap after mark: copies it out, releases
 * everything after mark (the last message, the old state, temporaries) and
 * keeps the copy. Returns the kept state. */
static term keep_only(erl_heap_mark_t mark, term t)
{
    size_t size = term_heap_size(t);
    if (size == 0) {
        erl_heap_release(mark);
        return t;
    }
    void *buf = malloc(size);
    if (!buf)
        erl_exit_self(ATOM("enomem"));
    term copy = term_copy_into(t, buf);
    erl_heap_release(mark);
    term kept = term_keep(copy);
    free(buf);
    return kept;
}

/* The ?MODULE:loop(State) call: when v is not module's current version,
 * converts *state to the current one and registers the caller as running
 * it. Returns the version to run next (v when there is nothing to switch to
 * or the conversion failed). */
static struct code_version *reenter(struct code_version *v, term *state,
                                    erl_heap_mark_t mark)
{
    pthread_mutex_lock(&code_tables.lock);
    struct code_slot *s = code_slot_of(v->module);
    struct code_version *cur = s ? s->current : NULL;
    pthread_mutex_unlock(&code_tables.lock);
    if (!cur || cur == v)
        return v;
    gen_result r = convert(v, cur, *state, NIL);
    if (r.action != GEN_OK || register_self(cur) < 0) {
        *state = keep_only(mark, *state);
        return v;
    }
    *state = keep_only(mark, r.state);
    return cur;
}

/* The current version of module, with the caller registered as running it;
 * NULL when none is loaded. */
static struct code_version *enter(const char *module)
{
    pthread_mutex_lock(&code_tables.lock);
    struct code_slot *s = code_slot_of(module);
    struct code_version *v = s ? s->current : NULL;
    if (v && code_register(erl_self(), v) < 0)
        v = NULL;
    pthread_mutex_unlock(&code_tables.lock);
    return v;
}

/* The raw loop's process: arg is {Module, Arg}. A loop result other than
 * GEN_STOP goes on with its state. */
static void loop_main(term arg)
{
    struct code_version *v = enter(element(1, arg).u.atom);
    if (!v)
        erl_exit_self(ATOM("undef"));
    erl_heap_mark_t mark = erl_heap_mark();
    gen_result r = v->table->server.init(element(2, arg));
    if (r.action == GEN_STOP)
        erl_exit_self(r.reason);
    if (r.action != GEN_OK)
        erl_exit_self(ATOM("normal"));
    term state = keep_only(mark, r.state);
    for (;;) {
        term msg = erl_receive(ANY, ERL_INFINITY);
        r = v->table->loop(msg, state);
        if (r.action == GEN_STOP)
            erl_exit_self(r.reason);
        state = keep_only(mark, r.state);
        v = reenter(v, &state, mark);
    }
}

term code_spawn_loop(const char *module, term arg, int flags, term *ref)
{
    term name = atom_from(module);
    if (is_none(name)) {
        errno = EINVAL;
        return NONE;
    }
    return erl_spawn_opt(name.u.atom, loop_main, TUPLE(name, arg), flags, ref);
}

/* ---- Starting a server --------------------------------------------------- */

/* module's current version, pinned; NULL when none is loaded. */
static struct code_version *pin_current(const char *module)
{
    term name = atom_from(module);
    pthread_mutex_lock(&code_tables.lock);
    struct code_slot *s = is_none(name) ? NULL : code_slot_of(name.u.atom);
    struct code_version *v = s ? s->current : NULL;
    if (v)
        v->pins++;
    pthread_mutex_unlock(&code_tables.lock);
    return v;
}

term code_start_server(term name, const char *module, term args, int flags,
                       term *error)
{
    struct code_version *v = pin_current(module);
    if (!v) {
        code_set_error(error, ATOM("undef"));
        return NONE;
    }
    term pid = gen_server_start(name, &v->server,
                                TUPLE(ATOM("$code"), INT(v->id), args), flags,
                                error);
    code_unpin(v);
    return pid;
}

term code_start_child(term arg, term *error)
{
    term name = element(2, arg);
    return code_start_server(is_atom_named(name, "undefined") ? NONE : name,
                             element(1, arg).u.atom, element(3, arg), ERL_LINK,
                             error);
}

/* ---- Upgrading servers --------------------------------------------------- */

/* One server to change: from the version it runs to the current one. */
struct change {
    term pid;                   /* the server */
    struct code_version *from;  /* what it runs (pinned) */
    struct code_version *to;    /* its module's current version (pinned) */
};

/* Fills *c for pid (under the lock) and pins both versions. Returns 0, or -1
 * when pid is not registered as running a module (or module is not NULL and
 * it runs another). */
static int plan_locked(term pid, const char *module, struct change *c)
{
    struct code_version *from = code_version_of(pid);
    if (!from || !erl_is_alive(pid) || (module && from->module != module))
        return -1;
    struct code_slot *s = code_slot_of(from->module);
    *c = (struct change){pid, from, s->current};
    from->pins++;
    s->current->pins++;
    return 0;
}

static void unpin_change(struct change *c)
{
    code_unpin(c->from);
    code_unpin(c->to);
}

/* sys:change_code for c, from c->from to c->to. Returns 0, or -1 with *error. */
static int change_one(const struct change *c, term extra, int timeout_ms,
                      term *error)
{
    term down[2] = {ATOM("down"), INT(c->to->vsn)};
    term old_vsn = c->to->vsn < c->from->vsn ? term_tuple(down, 2)
                                             : INT(c->from->vsn);
    return sys_change_code(c->pid, &c->to->server, old_vsn,
                           TUPLE(ATOM("$code"), INT(c->from->id),
                                 INT(c->to->id), extra),
                           timeout_ms, error);
}

/* c backwards: what rolls a changed server back. */
static struct change reversed(const struct change *c)
{
    return (struct change){c->pid, c->to, c->from};
}

int code_change_server(term server, term extra, int timeout_ms, term *error)
{
    term pid = is_atom(server) ? erl_whereis(server) : server;
    struct change c;
    pthread_mutex_lock(&code_tables.lock);
    int rc = plan_locked(pid, NULL, &c);
    pthread_mutex_unlock(&code_tables.lock);
    if (rc < 0) {
        code_set_error(error, ATOM("not_running_module"));
        return -1;
    }
    if (c.from != c.to && (rc = sys_suspend(pid, timeout_ms, error)) == 0) {
        rc = change_one(&c, extra, timeout_ms, error);
        term ignored;
        sys_resume(pid, timeout_ms, &ignored);
    }
    unpin_change(&c);
    return rc;
}

/* ---- Upgrading a supervisor's children ----------------------------------- */

/* The changes for sup's workers running module that do not run its current
 * version, pinned, in a malloc'd array; *n gets their count. Returns NULL
 * with *error set when the supervisor does not answer (or ENOMEM). */
static struct change *plan_children(term sup, const char *module, size_t *n,
                                    term *error)
{
    term kids = supervisor_which_children(sup, error);
    if (is_none(kids))
        return NULL;
    struct change *cs = malloc((kids.size + 1) * sizeof *cs);
    *n = 0;
    pthread_mutex_lock(&code_tables.lock);
    for (size_t i = 0; cs && i < kids.size; i++) {
        term pid = element(2, kids.u.elements[i]);
        if (!is_pid(pid) || plan_locked(pid, module, &cs[*n]) < 0)
            continue;
        if (cs[*n].from != cs[*n].to)
            (*n)++;
        else {                  /* runs the current version already */
            cs[*n].from->pins--;
            cs[*n].to->pins--;
        }
    }
    pthread_mutex_unlock(&code_tables.lock);
    erl_drop(kids);
    if (!cs)
        code_set_error(error, ATOM("enomem"));
    return cs;
}

/* Resumes the first n servers of cs. */
static void resume_all(const struct change *cs, size_t n, int timeout_ms)
{
    term ignored;
    for (size_t i = 0; i < n; i++)
        sys_resume(cs[i].pid, timeout_ms, &ignored);
}

/* Suspends the n servers; on a failure resumes those it suspended. Returns
 * 0, or -1 with *error set to {Pid, Reason}. */
static int suspend_all(const struct change *cs, size_t n, int timeout_ms,
                       term *error)
{
    for (size_t i = 0; i < n; i++) {
        term why;
        if (sys_suspend(cs[i].pid, timeout_ms, &why) < 0) {
            resume_all(cs, i, timeout_ms);
            code_set_error(error, TUPLE(cs[i].pid, why));
            return -1;
        }
    }
    return 0;
}

/* Changes the n (suspended) servers; when one fails, changes back those it
 * changed. Returns 0, or -1 with *error set to {Pid, Reason}. */
static int change_all(const struct change *cs, size_t n, term extra,
                      int timeout_ms, term *error)
{
    for (size_t i = 0; i < n; i++) {
        term why;
        if (change_one(&cs[i], extra, timeout_ms, &why) < 0) {
            code_set_error(error, TUPLE(cs[i].pid, why));
            while (i-- > 0) {
                struct change back = reversed(&cs[i]);
                change_one(&back, extra, timeout_ms, &why);
            }
            return -1;
        }
    }
    return 0;
}

int code_change_children(term sup, const char *module, term extra,
                         int timeout_ms, term *error)
{
    term name = atom_from(module);
    size_t n;
    struct change *cs = is_none(name) ? NULL
                        : plan_children(sup, name.u.atom, &n, error);
    if (!cs)
        return -1;
    int rc = suspend_all(cs, n, timeout_ms, error);
    if (rc == 0) {
        rc = change_all(cs, n, extra, timeout_ms, error);
        resume_all(cs, n, timeout_ms);
    }
    for (size_t i = 0; i < n; i++)
        unpin_change(&cs[i]);
    free(cs);
    return rc < 0 ? -1 : (int)n;
}
