/*
 * cluster_member.c - the member process: a gen_server around the callback
 * module, which routes requests to the log and applies the log's entries.
 *
 * Entries in the log (versioned ETF):
 *   {call, Proposer, Nonce, From, Client, Request}
 *   {cast, Client, Request}
 *   {info, Msg}
 *   {member, Id, Node, Address}     (a joiner's node: cluster_members.c)
 * Client is {Id, Seq} for a struct cluster_client's request, none for a
 * plain gen_server client's. Proposer is the Raft id of the member that
 * appended the entry, and Nonce names the caller it keeps waiting.
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
 *     state, with the same client table (apply_seq depends only on the
 *     table and the entry), so the copies never differ.
 *   - A client's call is applied only when every earlier request of the
 *     client was (apply_seq); a retry of the last call is answered from
 *     the cached reply and not applied again.
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

/* ---- Terms kept across callbacks ----------------------------------------- */

/* A malloc'd deep copy of t; *mem is what to free. */
static term dup_term(term t, void **mem) {
    size_t n = term_heap_size(t);
    *mem = n ? malloc(n) : NULL;
    if (n && !*mem)
        panic("out of memory for a cluster term");
    return n ? term_copy_into(t, *mem) : t;
}

/* t as versioned ETF in raft_malloc'd memory (Raft frees it), padded
 * with zeros to a multiple of 8 bytes: libraft 0.15 reads the entries of
 * a batch from disk at 8-byte boundaries but writes them unpadded, so an
 * entry of another length shifts every later one of its batch. The
 * decoder stops at the term's end and never sees the padding. */
void *encode_entry(term t, size_t *len) {
    ei_x_buff x;
    if (ei_x_new(&x) < 0 || etf_encode_versioned(&x, t) != 0)
        panic("cluster: cannot encode a log entry (a term without external form?)");
    size_t n = ((size_t)x.index + 7) & ~(size_t)7;
    void *buf = raft_malloc(n);
    if (!buf)
        panic("out of memory for a cluster log entry");
    memcpy(buf, x.buff, (size_t)x.index);
    memset((char *)buf + x.index, 0, n - (size_t)x.index);
    *len = n;
    ei_x_free(&x);
    return buf;
}

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
    w->from = dup_term(from, &w->mem);
    return nonce;
}

/* Appends {call, ...} and remembers from until its entry answers it. */
static void propose_call(struct member *m, term from, term client, term request) {
    uint64_t nonce = hold_waiting(m, from, is_tuple(client), false);
    size_t len;
    void *buf = encode_entry(TUPLE(ATOM("call"), INT(m->id), INT((int64_t)nonce), from, client,
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

/* ---- The client table (part of the replicated state) --------------------- */

enum seq_verdict {
    SEQ_APPLY,      /* in order: apply it */
    SEQ_LOST,       /* a call after a lost request: answer casts_lost */
    SEQ_REPEAT,     /* a retry of the last call: answer the cached reply */
    SEQ_STALE,      /* older than the last request: drop it */
};

static struct client_seq *client_slot(struct member *m, int64_t id) {
    for (size_t i = 0; i < m->n_clients; i++)
        if (m->clients[i].id == id)
            return &m->clients[i];
    if (m->n_clients == m->cap_clients) {
        m->cap_clients = m->cap_clients ? 2 * m->cap_clients : 16;
        m->clients = realloc(m->clients, m->cap_clients * sizeof *m->clients);
        if (!m->clients)
            panic("out of memory for a cluster's client table");
    }
    struct client_seq *c = &m->clients[m->n_clients++];
    *c = (struct client_seq){.id = id, .reply = NONE};
    return c;
}

/* What to do with a request of client ({Id, Seq}, or none: always apply)
 * that is a call or a cast; updates the table as every member does. */
static enum seq_verdict apply_seq(struct member *m, term client, bool call,
                                  struct client_seq **slot) {
    *slot = NULL;
    if (!is_tuple(client))
        return SEQ_APPLY;
    struct client_seq *c = *slot = client_slot(m, element(1, client).u.integer);
    int64_t seq = element(2, client).u.integer;
    if (seq < c->last || (seq == c->last && !call))
        return SEQ_STALE;
    if (seq == c->last)
        return SEQ_REPEAT;
    bool gap = seq != c->last + 1;
    c->last = seq;
    if (!call) {
        c->broken = c->broken || gap;
        return SEQ_APPLY;
    }
    bool lost = c->broken || gap;
    c->broken = false;
    return lost ? SEQ_LOST : SEQ_APPLY;
}

/* Remembers reply as the client's last call's. */
static void cache_reply(struct client_seq *c, term reply) {
    free(c->mem);
    c->reply = dup_term(reply, &c->mem);
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

/* {call, Proposer, Nonce, From, Client, Request}: applies it (or not, as
 * apply_seq says) and, if this member proposed it, answers the caller.
 * Returns the callback's result (with *user the new user state). */
static gen_result apply_call(struct member *m, term entry, term user) {
    term proposer = element(2, entry), nonce = element(3, entry), from = element(4, entry);
    term client = element(5, entry), request = element(6, entry);
    struct client_seq *c;
    enum seq_verdict v = apply_seq(m, client, true, &c);
    gen_result r = gen_noreply(user);
    term kind = ATOM("$cluster_ok"), value = NONE;
    if (v == SEQ_APPLY) {
        r = m->mod->handle_call ? m->mod->handle_call(request, from, user)
                                : gen_stop(ATOM("undef"), user);
        value = r.reply;
        if (c && !is_none(value))
            cache_reply(c, value);
    } else if (v == SEQ_LOST) {
        kind = ATOM("$cluster_error");
        value = ATOM("casts_lost");
        cache_reply(c, TUPLE(ATOM("$cluster_lost")));
    } else if (v == SEQ_REPEAT) {
        value = c->reply;
        if (match(value, TUPLE(ATOM("$cluster_lost")))) {
            kind = ATOM("$cluster_error");
            value = ATOM("casts_lost");
        }
    }
    term waiter;
    void *mem;
    int ours;
    if (proposer.u.integer == m->id &&
        take_waiting(m, (uint64_t)nonce.u.integer, &waiter, &mem, &ours)) {
        if (!is_none(value))
            answer(waiter, ours, kind, value);
        free(mem);
    }
    return r;
}

/* Applies one committed entry to user; returns the callback's result. */
static gen_result apply_entry(struct member *m, term entry, term user) {
    struct client_seq *c;
    if (is_atom_named(element(1, entry), "call"))
        return apply_call(m, entry, user);
    if (is_atom_named(element(1, entry), "cast")) {
        if (apply_seq(m, element(2, entry), false, &c) != SEQ_APPLY)
            return gen_noreply(user);
        return m->mod->handle_cast ? m->mod->handle_cast(element(3, entry), user)
                                   : gen_stop(ATOM("undef"), user);
    }
    if (is_atom_named(element(1, entry), "member") && entry.size == 4) {
        apply_member_entry(m, entry);
        return gen_noreply(user);
    }
    if (is_atom_named(element(1, entry), "info") && m->mod->handle_info)
        return m->mod->handle_info(element(2, entry), user);
    return gen_noreply(user);
}

/* ---- Snapshots ----------------------------------------------------------- */

/* Hands the loop {UserState, [{Id, Last, Broken, Reply}], [{PeerId, Node,
 * Address}]}, encoded. */
static void give_snapshot(struct member *m, term user) {
    term *cl = malloc((m->n_clients + 1) * sizeof *cl);
    term *parts = malloc((m->n_clients + 1) * 4 * sizeof *parts);
    term pcells[CLUSTER_MAX_MEMBERS + 1], pparts[3 * CLUSTER_MAX_MEMBERS];
    if (!cl || !parts)
        panic("out of memory for a cluster snapshot");
    for (size_t i = 0; i < m->n_clients; i++) {
        struct client_seq *c = &m->clients[i];
        term *p = &parts[4 * i];
        p[0] = INT(c->id);
        p[1] = INT(c->last);
        p[2] = c->broken ? ATOM("true") : ATOM("false");
        p[3] = is_none(c->reply) ? ATOM("none") : c->reply;
        cl[i] = term_tuple(p, 4);
    }
    cl[m->n_clients] = NIL;
    size_t len;
    void *buf = encode_entry(TUPLE(user, term_list(cl, m->n_clients),
                                  peers_term(m, pcells, pparts)), &len);
    free(cl);
    free(parts);
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

static void free_clients(struct member *m) {
    for (size_t i = 0; i < m->n_clients; i++)
        free(m->clients[i].mem);
    m->n_clients = 0;
}

/* Replaces the client table with a snapshot's; returns its user state. */
static term restore_snapshot(struct member *m, term snap) {
    free_clients(m);
    /* a list is chunks: size cells, then the tail, itself a list */
    for (term l = element(2, snap); is_list(l) && l.size; l = l.u.elements[l.size])
        for (size_t i = 0; i < l.size; i++) {
            term e = l.u.elements[i];
            struct client_seq *c = client_slot(m, element(1, e).u.integer);
            c->last = element(2, e).u.integer;
            c->broken = is_atom_named(element(3, e), "true");
            if (!is_atom_named(element(4, e), "none"))
                cache_reply(c, element(4, e));
        }
    if (snap.size == 3)     /* the peers (older snapshots have none) */
        peers_restore(m, element(3, snap));
    return element(1, snap);
}

/* ---- The gen_server callbacks -------------------------------------------- */

/* Ends what apply or init produced: the wrapper's result for r. */
static gen_result rewrap(struct member *m, gen_result r, term old_user) {
    if (r.action == GEN_STOP)
        return gen_stop(r.reason, wrap_state(m, is_none(r.state) ? old_user : r.state));
    return gen_noreply(wrap_state(m, r.state));
}

static gen_result member_init(term args) {
    struct member *m = (struct member *)(intptr_t)element(1, args).u.integer;
    m->pid = erl_self();
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
    if (is_atom_named(request, "$cluster_info")) {
        pthread_mutex_lock(&m->lock);
        term info = TUPLE(role_atom(m->role), is_none(leader) ? ATOM("none") : leader,
                          INT((int64_t)m->raft_term), INT((int64_t)m->applied));
        pthread_mutex_unlock(&m->lock);
        return gen_reply(term_keep(info), state);
    }
    if (is_atom_named(request, "$cluster_state"))
        return gen_reply(user, state);
    if (is_atom_named(request, "$cluster_configuration"))
        return gen_reply(configuration_term(m), state);
    if (is_atom_named(request, "$cluster_stop"))    /* cluster_stop_member's end */
        return gen_stop_reply(ATOM("normal"), ATOM("ok"), state);
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

static gen_result member_cast(term request, term state) {
    struct member *m = member_of(state);
    term leader, client, inner, pair[2];
    if (leads(m, &leader)) {
        bool ours = client_request(request, pair, &client, &inner);
        size_t len;
        void *buf = encode_entry(TUPLE(ATOM("cast"), ours ? client : ATOM("none"),
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
    if (match(msg, TUPLE(ATOM("$cluster_apply"), VAR(&x)))) {
        m->applied++;
        return rewrap(m, apply_entry(m, x, user), user);
    }
    if (match(msg, TUPLE(ATOM("$cluster_failed"), VAR(&x)))) {
        term from;
        void *mem;
        int ours;
        if (take_waiting(m, (uint64_t)x.u.integer, &from, &mem, &ours)) {
            /* not applied by this leader; maybe by the next, if it was
             * replicated before this one stepped down: a cluster client
             * retries with the same number, which apply_seq sorts out */
            answer(from, ours, ATOM("$cluster_retry"),
                   ours != WAIT_PLAIN ? ATOM("none") : ATOM("leadership_lost"));
            free(mem);
        }
        return gen_noreply(state);
    }
    if (member_info_membership(m, msg))
        return gen_noreply(state);
    if (is_atom_named(msg, "$cluster_snapshot")) {
        give_snapshot(m, user);
        return gen_noreply(state);
    }
    if (match(msg, TUPLE(ATOM("$cluster_restore"), VAR(&x))))
        return gen_noreply(wrap_state(m, restore_snapshot(m, x)));
    if (leads(m, &leader)) {
        size_t len;
        void *buf = encode_entry(TUPLE(ATOM("info"), msg), &len);
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
    free_clients(m);
    free(m->clients);
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
    m->election_ms = o->election_ms ? o->election_ms : 5;
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
