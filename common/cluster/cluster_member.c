/*
 * cluster_member.c - the member process: a gen_server around the callback
 * module, which routes requests to the log and applies the log's entries.
 *
 * The entries of the log and how one is applied are cluster_fsm.h's; this
 * file adds who proposes them and who is answered.
 *
 * Invariants:
 *   - A reply to a call is sent only from apply_call, when its entry has
 *     been committed and applied here, or from the failure path when this
 *     member's Raft says it will never apply it ({'$cluster_failed', _});
 *     a waiting caller is answered once: its entry in `waiting` is taken
 *     by whichever comes first, and a log replayed at restart answers
 *     nobody: its nonces are the last incarnation's, and an incarnation's
 *     nonces start at random.
 *   - Every member applies the same entries in the same order to the same
 *     state, with the same client table (fsm_apply), so the copies never
 *     differ.
 *   - A callback's stop returned when applying an entry stops the member
 *     (and, told by it, the others: every member stops at that point of
 *     the log), unless the entry was in this member's log when it started
 *     (index <= replay_until): a restarted member replays its log, and a
 *     stop it replays ended an earlier incarnation, not this one.
 *   - The member traps exits, and an 'EXIT' is the links' business
 *     (cluster_links.c), never the callbacks': it does not go into the log.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cluster_impl.h"
#include "etf.h"
#include "panic.h"

static struct member *member_of(term state) {
    return (struct member *)(intptr_t)element(1, state).u.integer;
}

/* The state the gen_server keeps: {Member, UserState}. */
static term wrap_state(struct member *m, term user) {
    return term_keep(TUPLE(INT((intptr_t)m), user));
}

/* ---- Routing ------------------------------------------------------------- */

/* The view: whether this member leads, and the leader's node atom (NONE
 * when none is known). */
static bool leads(struct member *m, term *leader_node) {
    pthread_mutex_lock(&m->lock);
    bool me = m->role == RAFT_LEADER;
    unsigned id = m->leader_id;
    pthread_mutex_unlock(&m->lock);
    const struct cluster_peer *p = id ? member_peer(m, id) : NULL;
    *leader_node = p ? atom_from(p->node) : NONE;
    return me;
}

uint64_t hold_waiting(struct member *m, term from, bool cluster_client, bool joiner) {
    if (m->n_waiting == m->cap_waiting) {
        m->cap_waiting = m->cap_waiting ? 2 * m->cap_waiting : 16;
        m->waiting = realloc(m->waiting, m->cap_waiting * sizeof *m->waiting);
        if (!m->waiting)
            panic("out of memory for the calls a cluster member holds");
    }
    uint64_t nonce = ++m->next_nonce;
    struct waiting *w = &m->waiting[m->n_waiting++];
    w->nonce = nonce;
    w->cluster_client = cluster_client;
    w->joiner = joiner;
    w->from = fsm_dup_term(from, &w->mem);
    return nonce;
}

/* Appends {call, ...} and remembers from until its entry answers it. */
static void propose_call(struct member *m, term from, term client, term request) {
    uint64_t nonce = hold_waiting(m, from, is_tuple(client), false);
    size_t len;
    void *buf = fsm_encode(TUPLE(ATOM("call"), INT(m->id), INT((int64_t)nonce), from, client,
                             request), &len);
    raft_propose(m, buf, len, nonce);
}

/* Takes the caller waiting for nonce out of the table: true and *from (a
 * copy whose storage *mem the caller frees) when there was one. */
static bool take_waiting(struct member *m, uint64_t nonce, term *from, void **mem,
                         int *kind) {
    for (size_t i = 0; i < m->n_waiting; i++)
        if (m->waiting[i].nonce == nonce) {
            *from = m->waiting[i].from;
            *kind = m->waiting[i].joiner           ? WAIT_JOINER
                    : m->waiting[i].cluster_client ? WAIT_CLUSTER_CLIENT
                                                   : WAIT_PLAIN;
            *mem = m->waiting[i].mem;
            m->waiting[i] = m->waiting[--m->n_waiting];
            return true;
        }
    return false;
}

/* A cluster client's request is {'$cluster_req', Id, Seq, Request}: sets
 * *client to {Id, Seq} (its elements in pair, the caller's) and *inner to
 * Request. */
static bool client_request(term req, term pair[2], term *client, term *inner) {
    if (!match(req, TUPLE(ATOM("$cluster_req"), VAR(&pair[0]), VAR(&pair[1]), VAR(inner))) ||
        !is_int(pair[0]) || !is_int(pair[1]))
        return false;
    *client = term_tuple(pair, 2);
    return true;
}

static term role_atom(int role) {
    switch (role) {
    case RAFT_LEADER: return ATOM("leader");
    case RAFT_FOLLOWER: return ATOM("follower");
    case RAFT_CANDIDATE: return ATOM("candidate");
    default: return ATOM("unavailable");
    }
}

/* What cluster_member_info shows: {Role, Leader, Term, Applied}, leader
 * the leader's node atom or NONE, in the process heap. */
static term member_info_term(struct member *m, term leader) {
    pthread_mutex_lock(&m->lock);
    term info = TUPLE(role_atom(m->role), is_none(leader) ? ATOM("none") : leader,
                      INT((int64_t)m->raft_term), INT((int64_t)m->applied));
    pthread_mutex_unlock(&m->lock);
    return term_keep(info);
}

/* ---- Applying entries ---------------------------------------------------- */

/* Replies to from: a cluster client's in the envelope cluster_call reads,
 * a joiner's as {'$cluster_joined', ok | retry | Error}. */
static void answer(term from, int who, term kind, term value) {
    if (who == WAIT_JOINER)
        erl_send(from, TUPLE(ATOM("$cluster_joined"),
                             is_atom_named(kind, "$cluster_ok") ? ATOM("ok")
                             : is_atom_named(kind, "$cluster_retry") ? ATOM("retry")
                                                                    : value));
    else if (who == WAIT_CLUSTER_CLIENT)
        gen_server_reply(from, TUPLE(kind, value));
    else if (is_atom_named(kind, "$cluster_ok"))
        gen_server_reply(from, value);
    else
        gen_server_reply(from, TUPLE(ATOM("error"), value));
}

/* Applies one committed entry to user, and answers the call's caller if
 * this member proposed it; returns the callback's result. */
static gen_result apply_entry(struct member *m, term entry, term user) {
    if (is_atom_named(element(1, entry), "member") && entry.size == 4) {
        apply_member_entry(m, entry);
        return gen_noreply(user);
    }
    struct fsm_answer a;
    gen_result r = fsm_apply(&m->machine, entry, user, &a);
    term waiter;
    void *mem;
    int ours;
    links_applied(m, &a);
    if (a.call && a.proposer == m->id && take_waiting(m, a.nonce, &waiter, &mem, &ours)) {
        if (!is_none(a.value))
            answer(waiter, ours, a.kind, a.value);
        free(mem);
    }
    return r;
}

/* ---- Snapshots ----------------------------------------------------------- */

/* Hands the loop {UserState, [{Id, Last, Broken, Reply}], [{PeerId, Node,
 * Address}], [LinkedPid]}, encoded. */
static void give_snapshot(struct member *m, term user) {
    size_t n = m->machine.n_clients;
    term *cl = malloc((n + 1) * sizeof *cl);
    term *parts = malloc((n + 1) * 4 * sizeof *parts);
    term *lcells = malloc((m->machine.n_links + 1) * sizeof *lcells);
    term pcells[CLUSTER_MAX_MEMBERS + 1], pparts[3 * CLUSTER_MAX_MEMBERS];
    if (!cl || !parts || !lcells)
        panic("out of memory for a cluster snapshot");
    size_t len;
    void *buf = fsm_encode(TUPLE(user, fsm_clients_term(&m->machine, cl, parts),
                                 peers_term(m, pcells, pparts),
                                 fsm_links_term(&m->machine, lcells)), &len);
    free(cl);
    free(parts);
    free(lcells);
    pthread_mutex_lock(&m->lock);
    if (m->snap_wanted) {
        m->snap_buf = buf;
        m->snap_len = len;
        buf = NULL;
        pthread_cond_broadcast(&m->cond);
    }
    pthread_mutex_unlock(&m->lock);
    if (buf)
        raft_free(buf);
}

/* Replaces the client table with a snapshot's; returns its user state. */
static term restore_snapshot(struct member *m, term snap) {
    fsm_clients_restore(&m->machine, element(2, snap));
    if (snap.size >= 3)     /* the peers (older snapshots have none) */
        peers_restore(m, element(3, snap));
    links_restore(m, snap.size >= 4 ? element(4, snap) : NIL);  /* and the links */
    return element(1, snap);
}

/* ---- The gen_server callbacks -------------------------------------------- */

/* The callbacks stopped at entry index: this member stops, and tells the
 * other members to ({'$cluster_stopped_at', Index}, stopped_elsewhere):
 * each would stop once it applied the entry, but one left without a
 * majority never learns that it is committed. A stop this member replays
 * (index <= replay_until) ended an earlier run of it, not this one: it
 * goes on with the state the callback stopped with. */
static gen_result stopped_at(struct member *m, gen_result r, term old_user, uint64_t index) {
    term user = is_none(r.state) ? old_user : r.state;
    if (index <= m->replay_until) {
        fprintf(stderr, "cluster member %u: entry %llu stopped an earlier run of this member: "
                        "replayed, not stopping\n", m->id, (unsigned long long)index);
        return gen_noreply(wrap_state(m, user));
    }
    for (size_t i = 0; i < m->n_peers; i++)
        if (m->peers[i].id != m->id)
            gen_server_cast(TUPLE(m->name, atom_from(m->peers[i].node)),
                            TUPLE(ATOM("$cluster_stopped_at"), INT((int64_t)index)));
    return gen_stop(r.reason, wrap_state(m, user));
}

/* The member's result for what applying entry index produced. */
static gen_result applied(struct member *m, gen_result r, term old_user, uint64_t index) {
    if (r.action == GEN_STOP)
        return stopped_at(m, r, old_user, index);
    return gen_noreply(wrap_state(m, r.state));
}

static gen_result member_init(term args) {
    struct member *m = (struct member *)(intptr_t)element(1, args).u.integer;
    m->pid = erl_self();
    erl_trap_exit(true);    /* a linked process's end is news, not ours */
    gen_result r = m->mod->init ? m->mod->init(element(2, args)) : gen_ok(element(2, args));
    if (r.action != GEN_OK)
        return r;
    int rc = raft_thread_start(m);
    if (rc != 0) {
        if (m->mod->terminate)
            m->mod->terminate(ATOM("shutdown"), r.state);
        term msg = term_binary(m->start_msg, strlen(m->start_msg));
        return gen_stop(term_keep(TUPLE(ATOM("raft"), INT(rc), msg)), NONE);
    }
    if (m->join)
        erl_send(m->pid, ATOM("$cluster_join_try"));
    return gen_ok(wrap_state(m, r.state));
}

static gen_result member_call(term request, term from, term state) {
    struct member *m = member_of(state);
    term user = element(2, state), leader, client, inner, pair[2];
    bool me = leads(m, &leader);
    if (is_atom_named(request, "$cluster_info"))
        return gen_reply(member_info_term(m, leader), state);
    if (is_atom_named(request, "$cluster_whoami"))  /* cluster_server_pids' question */
        return gen_reply(term_keep(TUPLE(m->pid, member_info_term(m, leader))), state);
    if (is_atom_named(request, "$cluster_state"))
        return gen_reply(user, state);
    if (is_atom_named(request, "$cluster_links"))
        return gen_reply(links_info(m), state);
    if (is_atom_named(request, "$cluster_configuration"))
        return gen_reply(configuration_term(m), state);
    if (is_atom_named(request, "$cluster_stop"))    /* cluster_stop_member's end */
        return gen_stop_reply(ATOM("normal"), ATOM("ok"), state);
    if (is_atom_named(request, "$cluster_leader"))  /* cluster_stop_leader's question */
        return gen_reply(term_keep(me ? TUPLE(ATOM("$cluster_ok"), erl_node())
                                      : TUPLE(ATOM("$cluster_retry"),
                                              is_none(leader) ? ATOM("none") : leader)),
                         state);
    term node;
    if (match(request, TUPLE(ATOM("$cluster_leave"), VAR(&node)))) {
        term r = leave_request(m, node, from, me, leader);
        return is_none(r) ? gen_noreply(state) : gen_reply(r, state);
    }
    bool ours = client_request(request, pair, &client, &inner);
    if (me) {
        propose_call(m, from, ours ? client : ATOM("none"), ours ? inner : request);
        return gen_noreply(state);
    }
    if (ours)   /* redirect: cluster_call goes to the leader itself */
        return gen_reply(term_keep(TUPLE(ATOM("$cluster_retry"),
                                         is_none(leader) ? ATOM("none") : leader)), state);
    if (is_none(leader))
        return gen_reply(term_keep(TUPLE(ATOM("error"), ATOM("no_leader"))), state);
    erl_send(TUPLE(m->name, leader), TUPLE(ATOM("$gen_call"), from, request));
    return gen_noreply(state);
}

/* Another member stopped at entry index: this one stops too, unless it
 * had that entry in its log when it started (it replays it, or did,
 * without stopping: see stopped_at). */
static gen_result stopped_elsewhere(struct member *m, uint64_t index, term state) {
    if (index > m->replay_until)
        return gen_stop(ATOM("normal"), state);
    return gen_noreply(state);
}

static gen_result member_cast(term request, term state) {
    struct member *m = member_of(state);
    term leader, client, inner, pair[2];
    term index;
    if (match(request, TUPLE(ATOM("$cluster_stopped_at"), VAR(&index))) && is_int(index))
        return stopped_elsewhere(m, (uint64_t)index.u.integer, state);
    if (leads(m, &leader)) {
        bool ours = client_request(request, pair, &client, &inner);
        size_t len;
        void *buf = fsm_encode(TUPLE(ATOM("cast"), ours ? client : ATOM("none"),
                                 ours ? inner : request), &len);
        raft_propose(m, buf, len, 0);
    } else if (!is_none(leader)) {  /* none known: lost, as a cast may be */
        erl_send(TUPLE(m->name, leader), TUPLE(ATOM("$gen_cast"), request));
    }
    return gen_noreply(state);
}

/* The membership messages: a change's end, a join request, a joiner's
 * next try and its answer. True when msg was one. */
static bool member_info_membership(struct member *m, term msg) {
    term nonce, result, leader;
    if (match(msg, TUPLE(ATOM("$cluster_changed"), VAR(&nonce), VAR(&result)))) {
        term from;
        void *mem;
        int who;
        if (take_waiting(m, (uint64_t)nonce.u.integer, &from, &mem, &who)) {
            bool ok = is_atom_named(result, "ok"), retry = is_atom_named(result, "retry");
            answer(from, who,
                   atom_from(ok ? "$cluster_ok" : retry ? "$cluster_retry" : "$cluster_error"),
                   ok ? ATOM("ok") : retry ? ATOM("none") : result);
            free(mem);
        }
        return true;
    }
    if (is_tuple(msg) && msg.size == 5 && is_atom_named(element(1, msg), "$cluster_join")) {
        bool me = leads(m, &leader);
        join_request(m, msg, me, leader);
        return true;
    }
    if (is_atom_named(msg, "$cluster_join_try")) {
        join_try(m);
        return true;
    }
    if (match(msg, TUPLE(ATOM("$cluster_joined"), VAR(&result)))) {
        join_answered(m, result);
        return true;
    }
    return false;
}

static gen_result member_info(term msg, term state) {
    struct member *m = member_of(state);
    term user = element(2, state), x, leader;
    term index;
    if (match(msg, TUPLE(ATOM("$cluster_apply"), VAR(&x), VAR(&index)))) {
        m->applied++;
        return applied(m, apply_entry(m, x, user), user, (uint64_t)index.u.integer);
    }
    if (match(msg, TUPLE(ATOM("$cluster_failed"), VAR(&x)))) {
        term from;
        void *mem;
        int ours;
        if (take_waiting(m, (uint64_t)x.u.integer, &from, &mem, &ours)) {
            /* not applied by this leader; maybe by the next, if it was
             * replicated before this one stepped down: a cluster client
             * retries with the same number, which fsm_seq sorts out */
            answer(from, ours, ATOM("$cluster_retry"),
                   ours != WAIT_PLAIN ? ATOM("none") : ATOM("leadership_lost"));
            free(mem);
        }
        return gen_noreply(state);
    }
    if (member_info_membership(m, msg))
        return gen_noreply(state);
    if (match(msg, TUPLE(ATOM("$cluster_role"), VAR(&x)))) {
        links_role(m, x);
        return gen_noreply(state);
    }
    if (match(msg, TUPLE(ATOM("EXIT"), VAR(&x), ANY))) {   /* never the callbacks' */
        links_exit(m, x);
        return gen_noreply(state);
    }
    if (is_atom_named(msg, "$cluster_snapshot")) {
        give_snapshot(m, user);
        return gen_noreply(state);
    }
    if (match(msg, TUPLE(ATOM("$cluster_restore"), VAR(&x))))
        return gen_noreply(wrap_state(m, restore_snapshot(m, x)));
    if (leads(m, &leader)) {
        size_t len;
        void *buf = fsm_encode(TUPLE(ATOM("info"), msg), &len);
        raft_propose(m, buf, len, 0);
    }
    return gen_noreply(state);
}

static void free_member(struct member *m) {
    while (m->head) {   /* none once the loop has ended; freed all the same */
        struct proposal *p = m->head;
        m->head = p->next;
        raft_free(p->buf);
        free(p);
    }
    for (size_t i = 0; i < m->n_waiting; i++)
        free(m->waiting[i].mem);
    free(m->waiting);
    fsm_free(&m->machine);
    for (size_t i = 0; i < m->n_peers; i++) {
        free((char *)m->peers[i].node);
        free((char *)m->peers[i].raft_address);
    }
    free(m->data_dir);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->cond);
    free(m);
}

static void member_terminate(term reason, term state) {
    struct member *m = member_of(state);
    raft_thread_stop(m);
    if (m->mod->terminate)
        m->mod->terminate(reason, element(2, state));
    free_member(m);
}

static const struct gen_server_module member_module = {
    .name = "gen_server_cluster",
    .init = member_init,
    .handle_call = member_call,
    .handle_cast = member_cast,
    .handle_info = member_info,
    .terminate = member_terminate,
};

/* ---- Starting and stopping ----------------------------------------------- */

/* Checks opts and copies them into a new member; NULL with *why set. */
static struct member *new_member(term name, const struct gen_server_module *mod,
                                 const struct cluster_options *o, char *why, size_t n) {
    if (!is_atom(name) || !mod || !o || !o->peers || o->n_peers == 0 ||
        o->n_peers > CLUSTER_MAX_MEMBERS) {
        snprintf(why, n, "a name (atom), a module and 1 to %d peers are needed",
                 CLUSTER_MAX_MEMBERS);
        return NULL;
    }
    bool found = false;
    for (size_t i = 0; i < o->n_peers; i++) {
        const struct cluster_peer *p = &o->peers[i];
        if (p->id == 0 || !p->node || !p->raft_address || !strchr(p->raft_address, ':')) {
            snprintf(why, n, "peer %zu: an id > 0, a node and an address host:port are needed",
                     i + 1);
            return NULL;
        }
        for (size_t j = 0; j < i; j++)
            if (o->peers[j].id == p->id) {
                snprintf(why, n, "peer id %u is listed twice", p->id);
                return NULL;
            }
        if (strlen(p->raft_address) >= sizeof ((struct proposal *)0)->address) {
            snprintf(why, n, "peer %zu: the address %s is too long", i + 1, p->raft_address);
            return NULL;
        }
        found = found || p->id == o->id;
    }
    if (!found) {
        snprintf(why, n, "this member's id %u is not among the peers", o->id);
        return NULL;
    }
    if (o->join && o->n_peers < 2) {
        snprintf(why, n, "a member that joins needs a member to ask among the peers");
        return NULL;
    }
    struct member *m = calloc(1, sizeof *m);
    if (!m)
        panic("out of memory for a cluster member");
    m->name = name;
    m->mod = mod;
    m->machine.mod = mod;
    m->id = o->id;
    m->join = o->join;
    /* Nonces of this incarnation start at random: a log replayed after a
     * restart holds the last incarnation's, which must not answer a call
     * of this one (2^40 starting points, each with 2^20 calls before it
     * could reach the next). */
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
        r = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 20;
    m->next_nonce = (r & ((1ull << 40) - 1)) << 20;
    m->n_peers = o->n_peers;
    for (size_t i = 0; i < o->n_peers; i++)
        m->peers[i] = (struct cluster_peer){o->peers[i].id, strdup(o->peers[i].node),
                                            strdup(o->peers[i].raft_address)};
    char dir[512];
    if (o->data_dir)
        snprintf(dir, sizeof dir, "%s", o->data_dir);
    else
        snprintf(dir, sizeof dir, "/dev/shm/cluster-%s-%u", name.u.atom, o->id);
    m->data_dir = strdup(dir);
    m->election_ms = o->election_ms ? o->election_ms : 4;
    m->heartbeat_ms = o->heartbeat_ms ? o->heartbeat_ms : 1;
    m->snapshot_threshold = o->snapshot_threshold ? o->snapshot_threshold : 65536;
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->cond, NULL);
    return m;
}

term cluster_start(term name, const struct gen_server_module *mod, term args,
                   const struct cluster_options *opts, term *error) {
    char why[256];
    struct member *m = new_member(name, mod, opts, why, sizeof why);
    if (!m) {
        if (error)
            *error = term_keep(TUPLE(ATOM("bad_config"), term_binary(why, strlen(why))));
        return NONE;
    }
    if (mkdir(m->data_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(why, sizeof why, "data directory %s: %s", m->data_dir, strerror(errno));
        free_member(m);
        if (error)
            *error = term_keep(TUPLE(ATOM("bad_config"), term_binary(why, strlen(why))));
        return NONE;
    }
    signal(SIGPIPE, SIG_IGN);   /* a write to a peer killed must not end us */
    term pid = gen_server_start(name, &member_module, TUPLE(INT((intptr_t)m), args), 0, error);
    if (is_none(pid))
        free_member(m);
    return pid;
}

int cluster_stop(term name, term *error) {
    return gen_server_stop(name, ATOM("normal"), ERL_INFINITY, error);
}
