/*
 * cluster_members.c - membership: the peers table, a member joining (its
 * own side and the leader's), a member leaving, and the configuration as
 * Raft shows it.
 *
 * Joining: a member started with the join option has no configuration of
 * its own (it does not bootstrap). Its process sends {'$cluster_join', Id,
 * Node, Address, Pid} to the members of its options in turn, every
 * JOIN_RETRY_MS, until a leader answers {'$cluster_joined', ok}. A member
 * that does not lead forwards the request to the leader it knows. The
 * leader appends {member, Id, Node, Address} to the log (so every member,
 * and every later snapshot, knows the joiner's node), then asks its Raft
 * thread to add the joiner and assign it the voter role: libraft catches
 * it up (by the log, or by InstallSnapshot when the log was compacted past
 * it) before the configuration that makes it a voter is appended. The
 * leader answers once that configuration is committed; it refuses, with
 * {error, {id_taken, Id, Node}}, a joiner whose id another node has (the
 * joiner says so on stderr and asks again). A joiner restarted
 * on its directory has its log, so its Raft knows the configuration, and
 * its request is answered at once.
 *
 * Leaving: {'$cluster_leave', Node} from a cluster client (cluster_stop_member).
 * The leader removes that member (raft_remove) and answers once the new
 * configuration is committed; if it is the member asked to leave, it
 * first hands its leadership over (raft_transfer) and answers retry, so
 * the client asks the next leader. The client then stops the member.
 *
 * Either change waits while Raft holds a configuration not yet committed:
 * the Raft thread appends a barrier first (cluster_raft.c), since a leader
 * elected in the middle of a change would otherwise never commit it. A
 * handover always waits behind a barrier, so that the member it hands to
 * holds the leader's log exactly.
 *
 * The peers table is the member process's own (cluster_impl.h): the
 * options' peers, then those learned from {member, ...} entries.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_impl.h"
#include "panic.h"

/* A joiner asks again after this long without an answer: a leader's
 * answer waits for the joiner to catch up and for a commit. */
#define JOIN_RETRY_MS 500

/* ---- The peers table ------------------------------------------------------ */

void peers_learn(struct member *m, unsigned id, const char *node, const char *address) {
    struct cluster_peer *p = (struct cluster_peer *)member_peer(m, id);
    if (!p) {
        if (m->n_peers == CLUSTER_MAX_MEMBERS) {
            fprintf(stderr, "cluster member %u: member %u (%s) not recorded: more than %d\n",
                    m->id, id, node, CLUSTER_MAX_MEMBERS);
            return;
        }
        p = &m->peers[m->n_peers++];
        *p = (struct cluster_peer){.id = id};
    } else if (strcmp(p->node, node) == 0 && strcmp(p->raft_address, address) == 0) {
        return;
    } else {
        free((char *)p->node);
        free((char *)p->raft_address);
    }
    p->node = strdup(node);
    p->raft_address = strdup(address);
    if (!p->node || !p->raft_address)
        panic("out of memory for a cluster peer");
}

const struct cluster_peer *peer_on(const struct member *m, term node) {
    for (size_t i = 0; is_atom(node) && i < m->n_peers; i++)
        if (strcmp(m->peers[i].node, node.u.atom) == 0)
            return &m->peers[i];
    return NULL;
}

/* An address in a term (a binary) as a string in buf; false if it is not
 * a binary that fits. */
static bool address_of(term t, char *buf, size_t n) {
    if (!is_binary(t) || t.size == 0 || t.size >= n)
        return false;
    memcpy(buf, t.u.bytes, t.size);
    buf[t.size] = '\0';
    return strchr(buf, ':') != NULL;
}

void apply_member_entry(struct member *m, term entry) {
    term id = element(2, entry), node = element(3, entry);
    char address[64];
    if (is_int(id) && id.u.integer > 0 && is_atom(node) &&
        address_of(element(4, entry), address, sizeof address))
        peers_learn(m, (unsigned)id.u.integer, node.u.atom, address);
}

term peers_term(const struct member *m, term *cells, term *parts) {
    for (size_t i = 0; i < m->n_peers; i++) {
        const struct cluster_peer *p = &m->peers[i];
        term *e = &parts[3 * i];
        e[0] = INT(p->id);
        e[1] = atom_from(p->node);
        e[2] = term_binary(p->raft_address, strlen(p->raft_address));
        cells[i] = term_tuple(e, 3);
    }
    cells[m->n_peers] = NIL;
    return term_list(cells, m->n_peers);
}

void peers_restore(struct member *m, term list) {
    /* a list is chunks: size cells, then the tail, itself a list */
    for (term l = list; is_list(l) && l.size; l = l.u.elements[l.size])
        for (size_t i = 0; i < l.size; i++)
            if (is_tuple(l.u.elements[i]) && l.u.elements[i].size == 3)
                apply_member_entry(m, TUPLE(ATOM("member"), element(1, l.u.elements[i]),
                                            element(2, l.u.elements[i]),
                                            element(3, l.u.elements[i])));
}

/* ---- Joining: the joiner's side ------------------------------------------ */

void join_try(struct member *m) {
    if (m->joined)
        return;
    const struct cluster_peer *self = member_peer(m, m->id);
    for (size_t k = 0; k < m->n_peers; k++) {
        const struct cluster_peer *p = &m->peers[m->join_next++ % m->n_peers];
        if (p->id == m->id)
            continue;
        erl_send(TUPLE(m->name, atom_from(p->node)),
                 TUPLE(ATOM("$cluster_join"), INT(m->id), atom_from(self->node),
                       term_binary(self->raft_address, strlen(self->raft_address)), m->pid));
        break;
    }
    erl_send_after(JOIN_RETRY_MS, m->pid, ATOM("$cluster_join_try"));
}

void join_answered(struct member *m, term result) {
    if (m->joined || is_atom_named(result, "retry"))
        return;     /* the next try asks again */
    if (!is_atom_named(result, "ok")) {
        char why[256];
        term_format(why, sizeof why, result);
        fprintf(stderr, "cluster member %u: refused to join: %s; asking again\n", m->id, why);
        return;
    }
    m->joined = true;
    fprintf(stderr, "cluster member %u: joined as a voter\n", m->id);
}

/* ---- Joining: the leader's side ------------------------------------------ */

void join_request(struct member *m, term msg, bool leads, term leader) {
    term id = element(2, msg), node = element(3, msg), pid = element(5, msg);
    char address[64];
    if (!is_int(id) || id.u.integer <= 0 || id.u.integer > UINT32_MAX || !is_atom(node) ||
        !address_of(element(4, msg), address, sizeof address) || !is_pid(pid)) {
        fprintf(stderr, "cluster member %u: a join request of the wrong shape: dropped\n",
                m->id);
        return;
    }
    if (!leads) {   /* none known: dropped, the joiner asks again */
        if (!is_none(leader))
            erl_send(TUPLE(m->name, leader), msg);
        return;
    }
    const struct cluster_peer *known = member_peer(m, (unsigned)id.u.integer);
    if (known && strcmp(known->node, node.u.atom) != 0) {   /* a joiner's id is taken */
        term taken = TUPLE(ATOM("id_taken"), id, atom_from(known->node));
        erl_send(pid, TUPLE(ATOM("$cluster_joined"), TUPLE(ATOM("error"), taken)));
        return;
    }
    size_t len;
    void *buf = fsm_encode(TUPLE(ATOM("member"), id, node, element(4, msg)), &len);
    raft_propose(m, buf, len, 0);
    uint64_t nonce = hold_waiting(m, pid, false, true);
    raft_change(m, PROPOSE_JOIN, (unsigned)id.u.integer, address, nonce);
}

/* ---- Leaving ------------------------------------------------------------- */

term leave_request(struct member *m, term node, term from, bool leads, term leader) {
    if (!leads)
        return term_keep(
            TUPLE(ATOM("$cluster_retry"), is_none(leader) ? ATOM("none") : leader));
    const struct cluster_peer *p = peer_on(m, node);
    if (!p)
        return term_keep(TUPLE(ATOM("$cluster_error"), TUPLE(ATOM("not_a_member"), node)));
    if (p->id == m->id) {   /* hand over first; the next leader removes us */
        raft_change(m, PROPOSE_HANDOVER, 0, NULL, 0);
        return term_keep(TUPLE(ATOM("$cluster_retry"), ATOM("none")));
    }
    raft_change(m, PROPOSE_LEAVE, p->id, NULL, hold_waiting(m, from, true, false));
    return NONE;
}

/* ---- The configuration --------------------------------------------------- */

static term conf_role(int role) {
    switch (role) {
    case RAFT_VOTER: return ATOM("voter");
    case RAFT_STANDBY: return ATOM("standby");
    default: return ATOM("spare");
    }
}

term configuration_term(struct member *m) {
    struct conf_server conf[CLUSTER_MAX_MEMBERS];
    pthread_mutex_lock(&m->lock);
    size_t n = m->n_conf;
    memcpy(conf, m->conf, n * sizeof *conf);
    pthread_mutex_unlock(&m->lock);
    term cells[CLUSTER_MAX_MEMBERS + 1], parts[3 * CLUSTER_MAX_MEMBERS];
    for (size_t i = 0; i < n; i++) {
        const struct cluster_peer *p = member_peer(m, conf[i].id);
        parts[3 * i] = INT(conf[i].id);
        parts[3 * i + 1] = p ? atom_from(p->node) : ATOM("unknown");
        parts[3 * i + 2] = conf_role(conf[i].role);
        cells[i] = term_tuple(&parts[3 * i], 3);
    }
    cells[n] = NIL;
    return term_keep(term_list(cells, n));
}
