/*
 * cluster_client.c - the client side: calls and casts to a cluster by its
 * name, through the node layer, to whichever member leads.
 *
 * A request goes as {'$cluster_req', Id, Seq, Request} to {Name, Node} of
 * one member. The member answers a call with an envelope: {'$cluster_ok',
 * Reply}, {'$cluster_retry', Hint} (it does not lead, or its leadership
 * ended before the entry was committed; Hint is the leader's node or
 * none), or {'$cluster_error', Why}. A call is retried, under the same
 * Seq, until one member answers it or the time is up: the state machine
 * applies a number once (cluster_fsm.c, fsm_seq).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "cluster.h"
#include "panic.h"

/* Each try of a call waits at most this long for one member: a member
 * that leads answers within a commit; only a leader cut off from the
 * others takes this long (until its Raft steps it down). */
#define TRY_MS 1000
/* ...and at least this long, or as long as the call has already taken if
 * that is more (so the tries of a call on a slow cluster grow, each at
 * least doubling the call's time). A member killed with kill -9 does not
 * fail a call at once: its sockets close only when its process is gone,
 * and a process with a kernel AIO context (libraft's, raft_uv) takes an
 * RCU grace period to go, measured 28-31 ms here. Waiting for that
 * {nodedown, _} made failover 38 ms median; trying the next member after
 * 5 ms made it 12 ms (tests/bench, cluster_failover_ms, 20 rounds). A try
 * given up may still be answered: the reply lands in the caller's mailbox
 * (remote_call, as OTP 23's gen:call), and the request, retried under the
 * same number, is applied once. */
#define FIRST_TRY_MS 5
/* Between two rounds of the nodes with no leader found: elections take
 * a few election timeouts. */
#define BACKOFF_MS 2

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cluster_client_init(struct cluster_client *c, term name, const char *const *nodes,
                         size_t n_nodes) {
    uint64_t id = 0;
    if (getrandom(&id, sizeof id, 0) != (ssize_t)sizeof id)
        id = (uint64_t)now_ms() ^ (uint64_t)(uintptr_t)c;  /* unique enough */
    *c = (struct cluster_client){.name = name, .nodes = nodes, .n_nodes = n_nodes,
                                 .id = (int64_t)(id >> 1), .seq = 0};
}

/* Points the hint at the node whose atom is node; false if none is. */
static bool follow_hint(struct cluster_client *c, term node) {
    if (!is_atom(node))
        return false;
    for (size_t i = 0; i < c->n_nodes; i++)
        if (strcmp(c->nodes[i], node.u.atom) == 0) {
            c->hint = i;
            return true;
        }
    return false;
}

/* The next node after c->hint that has not failed in this round (down:
 * a bit per node, set also for a node resting, see call_leader); false
 * when every node has. */
static bool next_node(struct cluster_client *c, unsigned down) {
    for (size_t k = 1; k <= c->n_nodes; k++) {
        size_t i = (c->hint + k) % c->n_nodes;
        if (!(down & (1u << i))) {
            c->hint = i;
            return true;
        }
    }
    return false;
}

/* Sends msg to the leader, as cluster_call says, until a member answers
 * it with {'$cluster_ok', V} (returns V, the caller's) or {'$cluster_error',
 * Why}, or the time is up (NONE with *error no_leader or timeout). */
static term call_leader(struct cluster_client *c, term msg, int timeout_ms, term *error) {
    int64_t end = now_ms() + timeout_ms;
    unsigned down = 0;      /* nodes that failed (not answered) this round */
    size_t redirects = 0;   /* redirects followed this round */
    bool led = false;       /* a member took it this round and did not
                               answer within a whole try */
    /* A node whose try timed out rests until rest[i] (as long again as that
     * try): the rounds in between skip it, also when the others still name
     * it leader, as they do for an election timeout after a kill -9. So the
     * client asks the others until one leads, instead of giving the dead
     * leader a second, longer try. A leader that was only slow is tried
     * again when its rest ends, with a longer try. Measured with
     * `06_cluster/counter --bench-failover 20` at 5 ms / 1 ms, runs
     * alternated on 2 shared cores: cluster_failover_ms median 8.8-11.1 ms
     * in five runs (10.0 typical), against 8.8-16.9 ms without it. */
    int64_t rest[8 * sizeof down] = {0};
    for (;;) {
        int64_t now = now_ms(), left = end - now;
        for (size_t i = 0; i < c->n_nodes && i < 8 * sizeof down; i++)
            if (rest[i] > now)
                down |= 1u << i;
        if (left > 0 && down & (1u << c->hint) && !next_node(c, down)) {
            /* every node failed or rests: wait for the next round */
            down = 0;
            redirects = 0;
            led = false;
            erl_sleep(BACKOFF_MS);
            continue;
        }
        if (left <= 0) {
            if (error)
                *error = led ? ATOM("timeout") : ATOM("no_leader");
            return NONE;
        }
        term err = NONE, v, why;
        int64_t try_ms = timeout_ms - left;     /* the time the call has taken */
        try_ms = try_ms < FIRST_TRY_MS ? FIRST_TRY_MS : try_ms > TRY_MS ? TRY_MS : try_ms;
        term r = gen_server_call(TUPLE(c->name, atom_from(c->nodes[c->hint])), msg,
                                 (int)(left < try_ms ? left : try_ms), &err);
        if (match(r, TUPLE(ATOM("$cluster_ok"), VAR(&v)))) {
            v = term_keep(v);
            erl_drop(r);
            return v;
        }
        if (match(r, TUPLE(ATOM("$cluster_error"), VAR(&why)))) {
            if (error)
                *error = term_keep(why);
            erl_drop(r);
            return NONE;
        }
        bool answered = !is_none(r);
        /* a try cut short by the deadline proves no leader took it */
        bool whole_try = is_atom_named(err, "timeout") && left >= try_ms;
        led = led || whole_try;
        if (whole_try && c->hint < 8 * sizeof down)
            rest[c->hint] = now_ms() + try_ms;
        size_t was = c->hint;
        bool redirected = match(r, TUPLE(ATOM("$cluster_retry"), VAR(&v))) &&
                          follow_hint(c, v) && c->hint != was && !(down & (1u << c->hint)) &&
                          redirects++ < c->n_nodes;
        erl_drop(r);
        erl_drop(err);
        if (!answered)
            down |= 1u << was;
        if (redirected)
            continue;
        c->hint = was;
        if (!next_node(c, down) || c->hint <= was) {
            /* a round without a leader: an election is under way */
            down = 0;
            redirects = 0;
            led = false;
            erl_sleep(BACKOFF_MS);
        }
    }
}

term cluster_call(struct cluster_client *c, term request, int timeout_ms, term *error) {
    int64_t seq = ++c->seq;
    return call_leader(c, TUPLE(ATOM("$cluster_req"), INT(c->id), INT(seq), request),
                       timeout_ms, error);
}

/* link/2 or unlink/2 (what: $link or $unlink) of pid, a call through the
 * log: 0 when answered true, else -1 with *error. */
static int link_call(struct cluster_client *c, const char *what, term pid, int timeout_ms,
                     term *error) {
    if (!is_pid(pid)) {     /* before it is numbered: a gap would be a lost cast */
        if (error)
            *error = term_keep(TUPLE(ATOM("not_a_pid"), pid));
        return -1;
    }
    term r = cluster_call(c, TUPLE(atom_from(what), pid), timeout_ms, error);
    if (is_none(r))
        return -1;
    bool ok = is_atom_named(r, "true");
    if (!ok && error)
        *error = r;
    else
        erl_drop(r);
    return ok ? 0 : -1;
}

int cluster_link(struct cluster_client *c, term pid, int timeout_ms, term *error) {
    return link_call(c, "$link", pid, timeout_ms, error);
}

int cluster_unlink(struct cluster_client *c, term pid, int timeout_ms, term *error) {
    return link_call(c, "$unlink", pid, timeout_ms, error);
}

/* Stops the member on node: 0 when it stopped or none is there (its node
 * down, or no member on it), else -1 with *error gen_server_call's. */
static int stop_one(struct cluster_client *c, const char *node, int timeout_ms, term *error) {
    term err = NONE;
    term r = gen_server_call(TUPLE(c->name, atom_from(node)), ATOM("$cluster_stop"),
                             timeout_ms > 0 ? timeout_ms : 1, &err);
    bool stopped = !is_none(r) || is_atom_named(err, "noproc") ||
                   match(err, TUPLE(ATOM("nodedown"), ANY));
    erl_drop(r);
    if (stopped) {
        erl_drop(err);
        return 0;
    }
    *error = err;
    return -1;
}

int cluster_stop_member(struct cluster_client *c, const char *node, int timeout_ms,
                        term *error) {
    int64_t end = now_ms() + timeout_ms;
    term r = call_leader(c, TUPLE(ATOM("$cluster_leave"), atom_from(node)), timeout_ms, error);
    if (is_none(r))
        return -1;
    erl_drop(r);
    int64_t left = end - now_ms();
    term err = NONE;
    if (stop_one(c, node, (int)left, &err) != 0) {
        if (error)
            *error = err;
        else
            erl_drop(err);
        return -1;
    }
    return 0;
}

int cluster_stop_leader(struct cluster_client *c, int timeout_ms, term *error) {
    int64_t end = now_ms() + timeout_ms;
    term node = call_leader(c, ATOM("$cluster_leader"), timeout_ms, error);
    if (is_none(node))
        return -1;
    char name[256];
    snprintf(name, sizeof name, "%s", is_atom(node) ? node.u.atom : "");
    erl_drop(node);
    int64_t left = end - now_ms();
    return cluster_stop_member(c, name, left > 0 ? (int)left : 1, error);
}

int cluster_stop_all(struct cluster_client *c, int timeout_ms, term *error) {
    int64_t end = now_ms() + timeout_ms;
    int rc = 0;
    for (size_t i = 0; i < c->n_nodes; i++) {
        term err = NONE;
        if (stop_one(c, c->nodes[i], (int)(end - now_ms()), &err) == 0)
            continue;
        if (rc == 0 && error)
            *error = term_keep(TUPLE(atom_from(c->nodes[i]), err));
        erl_drop(err);
        rc = -1;
    }
    return rc;
}

void cluster_cast(struct cluster_client *c, term request) {
    int64_t seq = ++c->seq;
    gen_server_cast(TUPLE(c->name, atom_from(c->nodes[c->hint])),
                    TUPLE(ATOM("$cluster_req"), INT(c->id), INT(seq), request));
}

term cluster_member_info(struct cluster_client *c, const char *node, int timeout_ms,
                         term *error) {
    return gen_server_call(TUPLE(c->name, atom_from(node)), ATOM("$cluster_info"), timeout_ms,
                           error);
}

term cluster_configuration(struct cluster_client *c, const char *node, int timeout_ms,
                           term *error) {
    return gen_server_call(TUPLE(c->name, atom_from(node)), ATOM("$cluster_configuration"),
                           timeout_ms, error);
}

term cluster_member_links(struct cluster_client *c, const char *node, int timeout_ms,
                          term *error) {
    return gen_server_call(TUPLE(c->name, atom_from(node)), ATOM("$cluster_links"), timeout_ms,
                           error);
}

term cluster_member_state(struct cluster_client *c, const char *node, int timeout_ms,
                          term *error) {
    return gen_server_call(TUPLE(c->name, atom_from(node)), ATOM("$cluster_state"), timeout_ms,
                           error);
}

/* What the member on one node says of itself, '$cluster_whoami'. */
struct whoami {
    term pid;               /* the member process; NONE: no answer */
    term role;              /* leader | follower | candidate | unavailable */
    int64_t raft_term;      /* its Raft term */
};

/* Asks the member on each of c's nodes who it is, in turn, within
 * timeout_ms in all, into who[i] for node i. Returns the node index of
 * the one that says it leads with the highest Raft term (a leader cut
 * off from the others may not know yet that a later term has another),
 * or -1 when none says it leads. This function can't fail. */
static int ask_members(struct cluster_client *c, int timeout_ms, struct whoami *who) {
    int best = -1;
    int64_t end = now_ms() + timeout_ms;
    for (size_t i = 0; i < c->n_nodes; i++) {
        int64_t left = end - now_ms();
        term err = NONE, pid, info;
        term r = gen_server_call(TUPLE(c->name, atom_from(c->nodes[i])),
                                 ATOM("$cluster_whoami"), left > 0 ? (int)left : 1, &err);
        who[i] = (struct whoami){.pid = NONE, .role = NONE, .raft_term = -1};
        if (match(r, TUPLE(VAR(&pid), VAR(&info))) && is_pid(pid) && is_tuple(info) &&
            info.size == 4)     /* pids and atoms are immediate: they outlive r */
            who[i] = (struct whoami){pid, element(1, info), element(3, info).u.integer};
        if (is_atom_named(who[i].role, "leader") &&
            (best < 0 || who[i].raft_term > who[best].raft_term))
            best = (int)i;
        erl_drop(r);
        erl_drop(err);
    }
    return best;
}

/* Room for what every node of c says. Can't fail (panics out of memory). */
static struct whoami *whoami_table(const struct cluster_client *c) {
    struct whoami *who = malloc((c->n_nodes + 1) * sizeof *who);
    if (!who)
        panic("out of memory asking a cluster's members who they are");
    return who;
}

term cluster_leader(struct cluster_client *c, int timeout_ms) {
    struct whoami *who = whoami_table(c);
    int l = ask_members(c, timeout_ms, who);
    free(who);
    return l < 0 ? NONE : atom_from(c->nodes[l]);
}

/* {Leader, [Backup]} of the members' pids (of their nodes when nodes),
 * as cluster_server_pids says. */
static term servers(struct cluster_client *c, int timeout_ms, bool nodes, term *error) {
    struct whoami *who = whoami_table(c);
    term *cells = malloc((c->n_nodes + 1) * sizeof *cells);
    if (!cells)
        panic("out of memory for a cluster's server list");
    int l = ask_members(c, timeout_ms, who);
    term r = NONE;
    if (l >= 0) {
        size_t n = 0;
        for (size_t i = 0; i < c->n_nodes; i++)
            if ((int)i != l && is_atom_named(who[i].role, "follower"))
                cells[n++] = nodes ? atom_from(c->nodes[i]) : who[i].pid;
        cells[n] = NIL;
        r = term_keep(TUPLE(nodes ? atom_from(c->nodes[l]) : who[l].pid,
                            term_list(cells, n)));
    } else if (error) {
        *error = ATOM("no_leader");
    }
    free(who);
    free(cells);
    return r;
}

term cluster_server_pids(struct cluster_client *c, int timeout_ms, term *error) {
    return servers(c, timeout_ms, false, error);
}

term cluster_server_nodes(struct cluster_client *c, int timeout_ms, term *error) {
    return servers(c, timeout_ms, true, error);
}

bool cluster_is_running(struct cluster_client *c, int timeout_ms) {
    return !is_none(cluster_leader(c, timeout_ms));
}
