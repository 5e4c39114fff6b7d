/*
 * dist_ac.c - the distributed application controller. See dist_ac.h for
 * what it does and the protocol's invariant.
 *
 * Messages between controllers, each sent to {dist_ac, Node}:
 *   {dist_ac, hello, From, Runs}    From's controller is up; Runs: the node
 *                                   it knows to run the application, or
 *                                   undefined. Answered with welcome.
 *   {dist_ac, welcome, From, Runs}  the answer; not answered.
 *   {dist_ac, started, From}        From runs the application now.
 * Local ones: {nodeup, N} and {nodedown, N} (erl_monitor_nodes), the
 * failover timer {dist_ac, timeout, Epoch}, {dist_ac, where, Pid, Ref} (the
 * answer: {Ref, Node | undefined}), {dist_ac, stop}, and the 'DOWN' of the
 * local application's master.
 *
 * Only the controller's own process touches struct dac.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist_ac.h"
#include "dist_policy.h"
#include "erl.h"

#define DIST_AC ATOM("dist_ac")
#define UNDEFINED ATOM("undefined")
#define GEN_WHERE_TIMEOUT_MS 5000   /* dist_ac_where's wait for the answer */

/* The controller's state; its own process's only. */
struct dac {
    struct dist_config dc;          /* kernel's settings, read at start */
    const struct dist_app *app;     /* the application's entry in dc */
    enum app_type type;             /* its start type */
    int hello_ms;                   /* greeting period during sync */
    struct dist_state s;            /* the policy's view (dist_policy.h) */
    term peers[DIST_MAX_NODES];     /* nodes whose controller answered and
                                       that are not down since */
    size_t npeers;
    term runs;                      /* the node known to run it (this one
                                       when it runs here), or NONE */
    bool running;                   /* it runs here */
    term master_mon;                /* monitor of its master, or NONE */
    int64_t epoch;                  /* the failover timer's generation: an
                                       older timer's message is ignored */
    term starter;                   /* the caller of dist_ac_start until the
                                       sync ends, then NONE */
    term ready_ref;                 /* the reference its answer carries */
};

/* ---- Small helpers ------------------------------------------------------- */

static term self_node(void) { return erl_node(); }

static bool listed(const term *v, size_t n, term node)
{
    for (size_t i = 0; i < n; i++)
        if (term_eq(v[i], node))
            return true;
    return false;
}

/* True when node takes part: it is in the application's list or a sync list. */
static bool concerned(const struct dac *d, term node)
{
    return listed(d->app->nodes, d->app->n, node) ||
           listed(d->dc.mandatory, d->dc.nmandatory, node) ||
           listed(d->dc.optional, d->dc.noptional, node);
}

static void peer_add(struct dac *d, term node)
{
    if (!listed(d->peers, d->npeers, node) && d->npeers < DIST_MAX_NODES)
        d->peers[d->npeers++] = node;
}

static void peer_remove(struct dac *d, term node)
{
    for (size_t i = 0; i < d->npeers; i++)
        if (term_eq(d->peers[i], node)) {
            d->peers[i] = d->peers[--d->npeers];
            return;
        }
}

/* The live nodes for the policy: this one and the peers, with their load
 * (1 for the node known to run the application). Returns how many. */
static size_t live_nodes(const struct dac *d, struct dist_node_load *v)
{
    size_t n = 0;
    v[n++] = (struct dist_node_load){self_node(), 0};
    for (size_t i = 0; i < d->npeers && n < DIST_MAX_NODES; i++)
        v[n++] = (struct dist_node_load){d->peers[i], 0};
    for (size_t i = 0; i < n; i++)
        v[i].running = !is_none(d->runs) && term_eq(v[i].node, d->runs);
    return n;
}

static term runs_term(const struct dac *d) { return is_none(d->runs) ? UNDEFINED : d->runs; }

/* Where it runs, for dist_ac_where: the node known to run it, else the one
 * the policy expects to (chosen, not yet announced), else undefined. */
static term where(const struct dac *d)
{
    if (!is_none(d->runs))
        return d->runs;
    return is_none(d->s.running_on) ? UNDEFINED : d->s.running_on;
}

static void say_to(term node, term msg) { erl_send(TUPLE(DIST_AC, node), msg); }

/* True when a should run the application rather than b, both running it:
 * a takes over from b, or neither from the other and a's name sorts first.
 * Every node computes the same answer for the same two nodes. */
static bool ranks_before(const struct dac *d, term a, term b)
{
    if (dist_takes_over(d->app, a, b))
        return true;
    if (dist_takes_over(d->app, b, a))
        return false;
    return strcmp(a.u.atom, b.u.atom) < 0;   /* node names are atoms */
}

/* ---- Carrying out the policy's actions ----------------------------------- */

static void announce(struct dac *d)
{
    for (size_t i = 0; i < d->npeers; i++)
        say_to(d->peers[i], TUPLE(DIST_AC, ATOM("started"), self_node()));
}

/* Starts the application here as act says (DIST_START); when it already
 * runs here, only announces it. */
static void start_here(struct dac *d, const struct dist_action *act)
{
    if (!d->running) {
        term v[2], error;
        term type = dist_start_type(act, v);
        term app = d->app->app;
        if (application_start_as(app, d->type, type, &error) < 0) {
            char why[256];
            term_format(why, sizeof why, error);
            fprintf(stderr, "dist_ac: %s could not start here: %s\n",
                    app.u.atom, why);
            erl_drop(error);
            return;
        }
        d->running = true;
        term master = application_master(app);
        d->master_mon = is_none(master) ? NONE : term_keep(erl_monitor(master));
    }
    d->runs = self_node();
    d->s.running_on = self_node();
    announce(d);
}

static void stop_here(struct dac *d)
{
    if (!d->running)
        return;
    d->running = false;
    if (!is_none(d->master_mon))
        erl_demonitor(d->master_mon, true);
    d->master_mon = NONE;
    term error;
    if (application_stop(d->app->app, &error) < 0)
        erl_drop(error);
}

static void carry_out(struct dac *d, struct dist_action act)
{
    switch (act.todo) {
    case DIST_START:
        start_here(d, &act);
        break;
    case DIST_WAIT:
        if (act.wait_ms >= 0)
            erl_send_after(act.wait_ms, DIST_AC,
                           TUPLE(DIST_AC, ATOM("timeout"), INT(++d->epoch)));
        break;
    case DIST_STOP:
        stop_here(d);
        break;
    case DIST_NOTHING:
        break;
    }
}

/* ---- Events -------------------------------------------------------------- */

/* node announced it runs the application. A running instance here stays
 * only when this node ranks before node; then it announces again so that
 * node's instance stops (dist_ac.h, the invariant). */
static void on_started(struct dac *d, term node)
{
    struct dist_action act = dist_event_started(&d->s, node);
    if (d->running && act.todo != DIST_STOP && ranks_before(d, self_node(), node)) {
        say_to(node, TUPLE(DIST_AC, ATOM("started"), self_node()));
        return;
    }
    d->runs = node;
    d->s.running_on = node;
    if (d->running)
        stop_here(d);
}

/* A hello or welcome from node, which knows runs to run the application. */
static void on_hello(struct dac *d, term node, term runs, bool answer)
{
    if (!concerned(d, node))
        return;
    peer_add(d, node);
    if (answer)
        say_to(node, TUPLE(DIST_AC, ATOM("welcome"), self_node(), runs_term(d)));
    if (!is_atom_named(runs, "undefined") && is_none(d->runs))
        d->runs = runs;     /* learnt from a peer */
    if (d->running && term_eq(runs, node))
        on_started(d, node);
}

static void on_nodeup(struct dac *d, term node)
{
    if (!concerned(d, node))
        return;
    say_to(node, TUPLE(DIST_AC, ATOM("hello"), self_node(), runs_term(d)));
    if (is_none(d->starter))
        carry_out(d, dist_event_nodeup(&d->s, node));
}

static void on_nodedown(struct dac *d, term node)
{
    peer_remove(d, node);
    if (!is_none(d->runs) && term_eq(d->runs, node))
        d->runs = NONE;
    if (!is_none(d->starter))
        return;
    struct dist_node_load live[DIST_MAX_NODES];
    size_t n = live_nodes(d, live);
    carry_out(d, dist_event_nodedown(&d->s, node, live, n));
}

static void on_timeout(struct dac *d, int64_t epoch)
{
    if (epoch != d->epoch)
        return;
    struct dist_node_load live[DIST_MAX_NODES];
    size_t n = live_nodes(d, live);
    carry_out(d, dist_event_timeout(&d->s, live, n));
}

/* The sync is over: decides from what the peers said. */
static void decide(struct dac *d)
{
    if (is_none(d->runs)) {
        struct dist_node_load live[DIST_MAX_NODES];
        size_t n = live_nodes(d, live);
        carry_out(d, dist_event_start(&d->s, live, n));
        return;
    }
    d->s.running_on = d->runs;      /* learnt: someone runs it already */
    carry_out(d, dist_event_nodeup(&d->s, self_node()));
}

/* ---- The sync ------------------------------------------------------------ */

/* Greets every concerned node not heard from yet. */
static void greet(const struct dac *d)
{
    const term *lists[3] = {d->app->nodes, d->dc.mandatory, d->dc.optional};
    size_t lens[3] = {d->app->n, d->dc.nmandatory, d->dc.noptional};
    for (int l = 0; l < 3; l++)
        for (size_t i = 0; i < lens[l]; i++)
            if (!term_eq(lists[l][i], self_node()) && !listed(d->peers, d->npeers, lists[l][i]))
                say_to(lists[l][i], TUPLE(DIST_AC, ATOM("hello"), self_node(), runs_term(d)));
}

/* Writes the mandatory nodes not heard from into buf; returns how many. */
static size_t missing(const struct dac *d, const term *v, size_t n, char *buf, size_t len)
{
    size_t count = 0, at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (term_eq(v[i], self_node()) || listed(d->peers, d->npeers, v[i]))
            continue;
        char name[256];
        term_format(name, sizeof name, v[i]);
        int w = snprintf(buf + at, len - at, "%s%s", count ? ", " : "", name);
        if (w > 0 && (size_t)w < len - at)
            at += (size_t)w;
        count++;
    }
    return count;
}

/* Ends the sync: decides and tells the starter ok, or tells it {missing,
 * Text} (the mandatory nodes not heard from) and returns false. */
static bool sync_end(struct dac *d)
{
    char text[1024];
    bool ok = missing(d, d->dc.mandatory, d->dc.nmandatory, text, sizeof text) == 0;
    term answer = ok ? ATOM("ok") : TUPLE(ATOM("missing"), term_binary(text, strlen(text)));
    if (ok)
        decide(d);
    erl_send(d->starter, TUPLE(ATOM("dist_ac_ready"), d->ready_ref, answer));
    d->starter = NONE;
    return ok;
}

/* True while the sync waits: a mandatory or optional node not heard from. */
static bool sync_waits(const struct dac *d)
{
    char text[1024];
    return missing(d, d->dc.mandatory, d->dc.nmandatory, text, sizeof text) > 0 ||
           missing(d, d->dc.optional, d->dc.noptional, text, sizeof text) > 0;
}

/* ---- The process --------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Takes one message, waiting up to timeout_ms, and handles it. Returns
 * false when told to stop. */
static bool handle(struct dac *d, int timeout_ms)
{
    term from, runs, node, epoch, pid, ref, reason;
    erl_heap_mark_t mark = erl_heap_mark();
    term msg = erl_receive(ANY, timeout_ms);
    bool go_on = true;
    if (is_none(msg))
        return true;
    if (match(msg, TUPLE(DIST_AC, ATOM("hello"), VAR(&from), VAR(&runs))))
        on_hello(d, from, runs, true);
    else if (match(msg, TUPLE(DIST_AC, ATOM("welcome"), VAR(&from), VAR(&runs))))
        on_hello(d, from, runs, false);
    else if (match(msg, TUPLE(DIST_AC, ATOM("started"), VAR(&from))))
        on_started(d, from);
    else if (match(msg, TUPLE(ATOM("nodeup"), VAR(&node))))
        on_nodeup(d, node);
    else if (match(msg, TUPLE(ATOM("nodedown"), VAR(&node))))
        on_nodedown(d, node);
    else if (match(msg, TUPLE(DIST_AC, ATOM("timeout"), VAR(&epoch))) && is_int(epoch))
        on_timeout(d, epoch.u.integer);
    else if (match(msg, TUPLE(DIST_AC, ATOM("where"), VAR(&pid), VAR(&ref))))
        erl_send(pid, TUPLE(ref, where(d)));
    else if (match(msg, TUPLE(ATOM("DOWN"), VAR(&ref), ANY, ANY, VAR(&reason))) &&
             !is_none(d->master_mon) && term_eq(ref, d->master_mon)) {
        d->running = false;     /* the application ended by itself */
        d->master_mon = NONE;
        if (!is_none(d->runs) && term_eq(d->runs, self_node()))
            d->runs = NONE;
    } else if (match(msg, TUPLE(DIST_AC, ATOM("stop"))))
        go_on = false;
    erl_heap_release(mark);     /* node names are atoms: nothing is kept */
    return go_on;
}

/* The sync: greets every hello_ms until every node of the sync lists
 * answered or sync_nodes_timeout passed. Returns false when the process
 * is to end (a mandatory node is missing, or it was told to stop). */
static bool sync_nodes(struct dac *d)
{
    int64_t deadline = d->dc.sync_timeout_ms < 0 ? -1 : now_ms() + d->dc.sync_timeout_ms;
    int64_t next = 0;
    while (sync_waits(d)) {
        int64_t now = now_ms();
        if (deadline >= 0 && now >= deadline)
            break;
        if (now >= next) {
            greet(d);
            next = now + d->hello_ms;
        }
        int64_t until = deadline >= 0 && deadline < next ? deadline : next;
        if (!handle(d, (int)(until - now)))
            return false;
    }
    greet(d);   /* a node it never heard from learns of it when it comes */
    return sync_end(d);
}

static void dac_main(term arg)
{
    struct dac *d = (struct dac *)(intptr_t)arg.u.integer;
    erl_register(DIST_AC, erl_self());
    erl_monitor_nodes(true);
    if (sync_nodes(d))
        while (handle(d, ERL_INFINITY))
            ;
    erl_monitor_nodes(false);
    free(d);
}

/* ---- The API ------------------------------------------------------------- */

/* Fills d from opts; -1 with errno EINVAL and err when the config is bad. */
static int dac_init(struct dac *d, const struct dist_ac_options *opts, char *err, size_t errlen)
{
    if (dist_config_read(opts->config, &d->dc, err, errlen) < 0) {
        errno = EINVAL;
        return -1;
    }
    d->app = dist_config_app(&d->dc, atom_from(opts->app));
    if (d->app == NULL) {
        snprintf(err, errlen, "%s: kernel: distributed has no entry for %s",
                 config_file(opts->config), opts->app);
        errno = EINVAL;
        return -1;
    }
    d->type = opts->type;
    d->hello_ms = opts->hello_ms > 0 ? opts->hello_ms : 100;
    dist_state_init(&d->s, d->app, erl_node());
    d->runs = d->master_mon = NONE;
    return 0;
}

int dist_ac_start(const struct dist_ac_options *opts, char *err, size_t errlen)
{
    if (!is_none(erl_whereis(DIST_AC))) {
        snprintf(err, errlen, "dist_ac: already started");
        errno = EALREADY;
        return -1;
    }
    struct dac *d = calloc(1, sizeof *d);
    if (d == NULL || dac_init(d, opts, err, errlen) < 0) {
        if (d == NULL)
            snprintf(err, errlen, "dist_ac: out of memory");
        free(d);
        return -1;
    }
    d->starter = erl_self();
    d->ready_ref = erl_make_ref();
    term mon, answer, why;
    term ready = d->ready_ref;
    int sync_ms = d->dc.sync_timeout_ms;    /* d is the process's from now on */
    if (is_none(erl_spawn_opt("dist_ac", dac_main, INT((intptr_t)d), ERL_MONITOR, &mon))) {
        free(d);
        snprintf(err, errlen, "dist_ac: cannot spawn: %s", strerror(errno));
        return -1;
    }
    size_t which;
    term got = erl_receive_any((term[]){TUPLE(ATOM("dist_ac_ready"), ready, VAR(&answer)),
                                        TUPLE(ATOM("DOWN"), mon, ANY, ANY, VAR(&why))},
                               2, ERL_INFINITY, &which);
    int rc = 0;
    if (which == 1) {
        term_format(err, errlen, why);
        errno = ESRCH;
        rc = -1;
    } else if (!is_atom_named(answer, "ok")) {
        term text = element(2, answer);
        snprintf(err, errlen, "sync_nodes_mandatory: %.*s did not come up within %d ms",
                 (int)text.size, (const char *)text.u.bytes, sync_ms);
        errno = ETIMEDOUT;
        rc = -1;
    }
    erl_demonitor(mon, true);
    erl_drop(got);
    return rc;
}

term dist_ac_where(void)
{
    term ref = erl_make_ref(), node;
    if (erl_send(DIST_AC, TUPLE(DIST_AC, ATOM("where"), erl_self(), ref)) < 0)
        return NONE;
    term got = erl_receive(TUPLE(ref, VAR(&node)), GEN_WHERE_TIMEOUT_MS);
    if (is_none(got))
        return NONE;
    erl_drop(got);      /* node is an atom: it outlives the message */
    return is_atom_named(node, "undefined") ? NONE : node;
}

void dist_ac_stop(void)
{
    term pid = erl_whereis(DIST_AC);
    if (is_none(pid))
        return;
    term mon = erl_monitor(pid);
    erl_send(pid, TUPLE(DIST_AC, ATOM("stop")));
    erl_drop(erl_receive(TUPLE(ATOM("DOWN"), mon, ANY, ANY, ANY), ERL_INFINITY));
}
