/*
 * dist_policy.c - distributed applications' policy: kernel's config read
 * and checked, the choice of a node, takeover, and the events a dist_ac
 * feeds in. See dist_policy.h for the rules.
 */
#include <string.h>

#include "dist_policy.h"

/* ---- Reading kernel's config --------------------------------------------- */

static const char *shown(term t, char *buf, size_t n)
{
    if ((size_t)term_format(buf, n, t) >= n && n > 4)
        memcpy(buf + n - 4, "...", 4);
    return buf;
}

static bool is_node(term t)
{
    return is_atom(t) && strchr(t.u.atom, '@') != NULL;
}

static bool is_proper(term t)
{
    return is_list(t) && (t.size == 0 || (is_list(t.u.elements[t.size]) &&
                                          t.u.elements[t.size].size == 0));
}

/* Reads a list of node names at slot into v (*n of them). key names it. */
static int node_list(const struct config *cfg, const term *slot, const char *key,
                     term *v, size_t *n, char *err, size_t errlen)
{
    char buf[80];
    term l = *slot;
    if (!is_proper(l))
        return config_error(cfg, slot, err, errlen, "kernel: %s: expected a list of "
                            "nodes, found %s", key, shown(l, buf, sizeof buf));
    if (l.size > DIST_MAX_NODES)
        return config_error(cfg, slot, err, errlen, "kernel: %s: more than %d nodes",
                            key, DIST_MAX_NODES);
    for (*n = 0; *n < l.size; (*n)++) {
        const term *e = &l.u.elements[*n];
        if (!is_node(*e))
            return config_error(cfg, e, err, errlen, "kernel: %s: expected a node "
                                "name (name@host), found %s", key, shown(*e, buf, sizeof buf));
        v[*n] = *e;
    }
    return 0;
}

/* A timeout at slot: a non-negative integer, or infinity (-1). */
static int timeout_of(const struct config *cfg, const term *slot, const char *key,
                      int *ms, char *err, size_t errlen)
{
    char buf[80];
    if (is_atom_named(*slot, "infinity")) {
        *ms = -1;
        return 0;
    }
    if (!is_int(*slot) || slot->u.integer < 0 || slot->u.integer > 0x7fffffff)
        return config_error(cfg, slot, err, errlen, "kernel: %s: expected a time "
                            "in ms or infinity, found %s", key, shown(*slot, buf, sizeof buf));
    *ms = (int)slot->u.integer;
    return 0;
}

/* The nodes of one entry: [a, {b, c}] at slot. */
static int priority_list(const struct config *cfg, const term *slot, struct dist_app *a,
                         char *err, size_t errlen)
{
    char buf[80];
    if (!is_proper(*slot))
        return config_error(cfg, slot, err, errlen, "kernel: distributed: %s: expected "
                            "a list of nodes and {Node, ...} groups, found %s",
                            a->app.u.atom, shown(*slot, buf, sizeof buf));
    a->n = 0;
    for (size_t i = 0; i < slot->size; i++) {
        const term *e = &slot->u.elements[i];
        bool group = is_tuple(*e) && e->size > 0;
        size_t k = group ? e->size : 1;
        for (size_t j = 0; j < k; j++) {
            const term *nd = group ? &e->u.elements[j] : e;
            if (!is_node(*nd))
                return config_error(cfg, nd, err, errlen, "kernel: distributed: %s: "
                                    "expected a node name (name@host), found %s",
                                    a->app.u.atom, shown(*nd, buf, sizeof buf));
            for (size_t m = 0; m < a->n; m++)
                if (term_eq(a->nodes[m], *nd))
                    return config_error(cfg, nd, err, errlen, "kernel: distributed: "
                                        "%s: the node %s appears twice", a->app.u.atom,
                                        nd->u.atom);
            if (a->n == DIST_MAX_NODES)
                return config_error(cfg, nd, err, errlen, "kernel: distributed: %s: "
                                    "more than %d nodes", a->app.u.atom, DIST_MAX_NODES);
            a->nodes[a->n] = *nd;
            a->rank[a->n++] = (int)i;
        }
    }
    return 0;
}

/* One entry of distributed: {App, Nodes} or {App, Timeout, Nodes}. */
static int dist_entry(const struct config *cfg, const term *slot, struct dist_app *a,
                      char *err, size_t errlen)
{
    char buf[80];
    term e = *slot;
    if (!is_tuple(e) || (e.size != 2 && e.size != 3) || !is_atom(e.u.elements[0]))
        return config_error(cfg, slot, err, errlen, "kernel: distributed: expected "
                            "{App, Nodes} or {App, Timeout, Nodes}, found %s",
                            shown(e, buf, sizeof buf));
    a->app = e.u.elements[0];
    a->timeout_ms = 0;
    if (e.size == 3 && timeout_of(cfg, &e.u.elements[1], "distributed", &a->timeout_ms,
                                  err, errlen) < 0)
        return -1;
    return priority_list(cfg, &e.u.elements[e.size - 1], a, err, errlen);
}

int dist_config_read(const struct config *cfg, struct dist_config *out,
                     char *err, size_t errlen)
{
    char buf[80];
    memset(out, 0, sizeof *out);
    const term *d = config_get_slot(cfg, ATOM("kernel"), ATOM("distributed"));
    if (d && !is_proper(*d))
        return config_error(cfg, d, err, errlen, "kernel: distributed: expected a "
                            "list, found %s", shown(*d, buf, sizeof buf));
    for (size_t i = 0; d && i < d->size; i++) {
        if (out->napps == DIST_MAX_APPS)
            return config_error(cfg, d, err, errlen, "kernel: distributed: more "
                                "than %d applications", DIST_MAX_APPS);
        if (dist_entry(cfg, &d->u.elements[i], &out->apps[out->napps], err, errlen) < 0)
            return -1;
        for (size_t j = 0; j < out->napps; j++)
            if (term_eq(out->apps[j].app, out->apps[out->napps].app))
                return config_error(cfg, &d->u.elements[i], err, errlen, "kernel: "
                                    "distributed: %s appears twice",
                                    out->apps[j].app.u.atom);
        out->napps++;
    }
    const term *m = config_get_slot(cfg, ATOM("kernel"), ATOM("sync_nodes_mandatory"));
    if (m && node_list(cfg, m, "sync_nodes_mandatory", out->mandatory, &out->nmandatory,
                       err, errlen) < 0)
        return -1;
    const term *o = config_get_slot(cfg, ATOM("kernel"), ATOM("sync_nodes_optional"));
    if (o && node_list(cfg, o, "sync_nodes_optional", out->optional, &out->noptional,
                       err, errlen) < 0)
        return -1;
    const term *t = config_get_slot(cfg, ATOM("kernel"), ATOM("sync_nodes_timeout"));
    return t ? timeout_of(cfg, t, "sync_nodes_timeout", &out->sync_timeout_ms, err,
                          errlen) : 0;
}

const struct dist_app *dist_config_app(const struct dist_config *dc, term app)
{
    for (size_t i = 0; i < dc->napps; i++)
        if (term_eq(dc->apps[i].app, app))
            return &dc->apps[i];
    return NULL;
}

/* ---- The rules ----------------------------------------------------------- */

/* The rank of node in a's list, or -1. */
static int rank_of(const struct dist_app *a, term node)
{
    for (size_t i = 0; i < a->n; i++)
        if (term_eq(a->nodes[i], node))
            return a->rank[i];
    return -1;
}

/* node's entry among the live, or NULL. */
static const struct dist_node_load *live_entry(const struct dist_node_load *live,
                                               size_t n, term node)
{
    for (size_t i = 0; i < n; i++)
        if (term_eq(live[i].node, node))
            return &live[i];
    return NULL;
}

term dist_choose(const struct dist_app *a, const struct dist_node_load *live, size_t n)
{
    for (size_t i = 0; i < a->n;) {
        const struct dist_node_load *best = NULL;
        size_t j = i;
        for (; j < a->n && a->rank[j] == a->rank[i]; j++) {
            const struct dist_node_load *l = live_entry(live, n, a->nodes[j]);
            if (l && (!best || l->running < best->running))
                best = l;
        }
        if (best)
            return best->node;
        i = j;
    }
    return NONE;
}

bool dist_takes_over(const struct dist_app *a, term node, term current)
{
    int r = rank_of(a, node), c = rank_of(a, current);
    return r >= 0 && (c < 0 || r < c);
}

/* ---- Events -------------------------------------------------------------- */

static const struct dist_action nothing = {DIST_NOTHING, DIST_NORMAL, NONE, 0};

term dist_start_type(const struct dist_action *a, term v[2])
{
    if (a->start == DIST_NORMAL)
        return ATOM("normal");
    v[0] = a->start == DIST_FAILOVER ? ATOM("failover") : ATOM("takeover");
    v[1] = a->node;
    return term_tuple(v, 2);
}

void dist_state_init(struct dist_state *s, const struct dist_app *app, term self)
{
    *s = (struct dist_state){app, self, NONE, NONE, NONE};
}

/* Runs it on the chosen node, started as start with node; DIST_START when
 * that is us. */
static struct dist_action run_on(struct dist_state *s, term chosen,
                                 enum dist_start start, term node)
{
    s->running_on = chosen;
    if (!is_none(chosen) && term_eq(chosen, s->self))
        return (struct dist_action){DIST_START, start, node, 0};
    return nothing;
}

struct dist_action dist_event_start(struct dist_state *s,
                                    const struct dist_node_load *live, size_t n)
{
    return run_on(s, dist_choose(s->app, live, n), DIST_NORMAL, NONE);
}

struct dist_action dist_event_nodedown(struct dist_state *s, term node,
                                       const struct dist_node_load *live, size_t n)
{
    if (is_none(s->running_on) || !term_eq(s->running_on, node))
        return nothing;
    s->running_on = NONE;
    s->lost = node;
    if (s->app->timeout_ms == 0)
        return dist_event_timeout(s, live, n);
    return (struct dist_action){DIST_WAIT, DIST_NORMAL, NONE, s->app->timeout_ms};
}

struct dist_action dist_event_timeout(struct dist_state *s,
                                      const struct dist_node_load *live, size_t n)
{
    if (is_none(s->lost))
        return nothing;
    term lost = s->lost;
    s->lost = NONE;
    return run_on(s, dist_choose(s->app, live, n), DIST_FAILOVER, lost);
}

struct dist_action dist_event_nodeup(struct dist_state *s, term node)
{
    if (is_none(s->running_on) || !dist_takes_over(s->app, node, s->running_on))
        return nothing;
    term from = s->running_on;
    if (term_eq(from, s->self))
        s->moving_from = s->self;
    s->running_on = node;
    if (!term_eq(node, s->self))
        return nothing;
    return (struct dist_action){DIST_START, DIST_TAKEOVER, from, 0};
}

struct dist_action dist_event_started(struct dist_state *s, term node)
{
    if (!is_none(s->lost) && !term_eq(node, s->self)) {
        /* Another node's timer fired first and it failed over: this
         * node's failover is done, its own timeout will find nothing to
         * do (else it would choose again, with node's load counted, and
         * start a second instance). */
        s->lost = NONE;
        s->running_on = node;
        return nothing;
    }
    if (is_none(s->moving_from) || term_eq(node, s->self) ||
        !term_eq(node, s->running_on))
        return nothing;
    s->moving_from = NONE;
    return (struct dist_action){DIST_STOP, DIST_NORMAL, NONE, 0};
}
