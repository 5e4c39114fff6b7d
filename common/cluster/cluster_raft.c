/*
 * cluster_raft.c - a member's Raft thread: libuv's loop, libraft on it with
 * its own TCP transport, and the state machine's side that hands committed
 * entries to the member process.
 *
 * Invariants (cluster_impl.h says what the two threads share):
 *   - Only this thread touches the loop and Raft's structures (m->raft,
 *     m->io, m->transport, the handles): the member process reaches them
 *     only through the proposal queue and m->wake.
 *   - Committed entries are sent to the member process from here alone, in
 *     the order Raft applies them, so the process applies them in log
 *     order; a snapshot request and a restore travel the same way, so a
 *     snapshot is taken exactly after the entries Raft has applied.
 *   - Every proposal queued is either given to raft_apply (whose callback
 *     then runs once) or failed here; either way a failed call's nonce is
 *     sent back ({'$cluster_failed', Nonce}), so no caller waits forever on
 *     a proposal nobody holds. A change of the configuration likewise ends
 *     in exactly one {'$cluster_changed', Nonce, Result}.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_impl.h"
#include "etf.h"
#include "panic.h"

/* A raft_apply request and what its callback needs. */
struct apply_req {
    struct raft_apply req;      /* first: Raft hands this pointer back */
    struct member *m;
    uint64_t nonce;             /* the call's, or 0 */
};

const struct cluster_peer *member_peer(const struct member *m, unsigned id) {
    for (size_t i = 0; i < m->n_peers; i++)
        if (m->peers[i].id == id)
            return &m->peers[i];
    return NULL;
}

/* Tells the member process that the proposal nonce will never be applied
 * by this leader (0: a cast's, nobody waits). */
static void fail_nonce(struct member *m, uint64_t nonce) {
    if (nonce)
        erl_send(m->pid, TUPLE(ATOM("$cluster_failed"), INT((int64_t)nonce)));
}

/* Decodes len bytes of ETF at buf and sends {tag, Term} to the member
 * process ({tag, Term, Index} when index is not 0). Returns 0, or -1 after
 * a line on stderr naming what was wrong. */
static int send_decoded(struct member *m, const char *tag, const void *buf, size_t len,
                        uint64_t index) {
    struct etf_arena arena = {0};
    size_t pos = 0;
    term t;
    char why[160];
    int rc = etf_decode(buf, len, &pos, &arena, &t, why, sizeof why);
    if (rc == 0 && index)
        erl_send(m->pid, TUPLE(atom_from(tag), t, INT((int64_t)index)));
    else if (rc == 0)
        erl_send(m->pid, TUPLE(atom_from(tag), t));
    else
        fprintf(stderr, "cluster member %u: a log entry that is not a term (%s): skipped\n",
                m->id, why);
    etf_arena_free(&arena);
    return rc;
}

/* ---- The state machine (raft_fsm), run by Raft on this thread ------------ */

/* A committed entry: the member process applies it. Raft applies the
 * entries in index order and counts one as applied once this returns, so
 * this one's index is the last applied + 1 (test_06_cluster_fixture.c
 * checks that on the fixture). */
static int on_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result) {
    struct member *m = fsm->data;
    send_decoded(m, "$cluster_apply", buf->base, buf->len, raft_last_applied(&m->raft) + 1);
    *result = NULL;
    return 0;
}

/* A snapshot: asks the member process for its state, encoded, once it has
 * applied every entry sent before the request, and waits for it. Returns
 * RAFT_CANCELED when the member stops meanwhile. */
static int on_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs) {
    struct member *m = fsm->data;
    pthread_mutex_lock(&m->lock);
    m->snap_wanted = true;
    m->snap_buf = NULL;
    pthread_mutex_unlock(&m->lock);
    erl_send(m->pid, ATOM("$cluster_snapshot"));
    pthread_mutex_lock(&m->lock);
    while (!m->snap_buf && !m->stopping)
        pthread_cond_wait(&m->cond, &m->lock);
    void *snap = m->snap_buf;
    size_t len = m->snap_len;
    m->snap_buf = NULL;
    m->snap_wanted = false;
    pthread_mutex_unlock(&m->lock);
    if (!snap)
        return RAFT_CANCELED;
    *bufs = raft_malloc(sizeof **bufs);
    if (!*bufs) {
        raft_free(snap);
        return RAFT_NOMEM;
    }
    (*bufs)[0] = (struct raft_buffer){.base = snap, .len = len};
    *n_bufs = 1;
    return 0;
}

/* A snapshot from the leader (or from disk at start): the member process
 * replaces its state with it. The buffer is ours to free. */
static int on_restore(struct raft_fsm *fsm, struct raft_buffer *buf) {
    struct member *m = fsm->data;
    int rc = send_decoded(m, "$cluster_restore", buf->base, buf->len, 0);
    raft_free(buf->base);
    return rc == 0 ? 0 : RAFT_MALFORMED;
}

static void apply_done(struct raft_apply *req, int status, void *result);

/* ---- Changes of the configuration ---------------------------------------- */

/* A raft_add / raft_assign / raft_remove request and what its callback
 * needs. */
struct change_req {
    struct raft_change req;     /* first: Raft hands this pointer back */
    struct member *m;
    uint64_t nonce;             /* the waiting caller's */
    unsigned id;                /* the member changed */
    bool then_assign;           /* a join's raft_add: raft_assign follows */
};

/* Tells the member process how the change nonce ended: rc 0 (done),
 * RAFT_NOTLEADER, RAFT_LEADERSHIPLOST, RAFT_CANTCHANGE, RAFT_CANCELED or
 * RAFT_SHUTDOWN
 * (another leader, or later, may do it: retry), else Raft's error. */
static void change_done(struct member *m, uint64_t nonce, int rc) {
    term result = rc == 0 ? ATOM("ok")
                  : rc == RAFT_NOTLEADER || rc == RAFT_LEADERSHIPLOST || rc == RAFT_CANTCHANGE ||
                          rc == RAFT_CANCELED || rc == RAFT_SHUTDOWN
                      ? ATOM("retry")
                      : TUPLE(ATOM("error"), TUPLE(ATOM("raft"), INT(rc)));
    erl_send(m->pid, TUPLE(ATOM("$cluster_changed"), INT((int64_t)nonce), result));
}

/* The role of id in Raft's latest configuration, or -1 if it is not in it. */
static int role_of(struct member *m, unsigned id) {
    for (unsigned i = 0; i < m->raft.configuration.n; i++)
        if (m->raft.configuration.servers[i].id == id)
            return m->raft.configuration.servers[i].role;
    return -1;
}

static void changed(struct raft_change *req, int status);

/* Makes member c->id a voter: raft_assign, which catches it up first. */
static int assign_voter(struct change_req *c) {
    c->then_assign = false;
    return raft_assign(&c->m->raft, &c->req, c->id, RAFT_VOTER, changed);
}

/* A change's callback: a join's raft_add is followed by raft_assign; the
 * rest is told to the member process. */
static void changed(struct raft_change *req, int status) {
    struct change_req *c = (struct change_req *)req;
    if (status == 0 && c->then_assign && !c->m->closing && (status = assign_voter(c)) == 0)
        return;
    change_done(c->m, c->nonce, status);
    free(c);
}

static void start_change(struct member *m, const struct proposal *p);
static void handed_over(struct raft_transfer *req);

/* A change, or a handover, waiting for everything before it to be
 * committed. */
struct change_barrier {
    struct raft_barrier req;    /* first: Raft hands this pointer back */
    struct member *m;           /* whose Raft appended the barrier */
    struct proposal p;          /* the change (or handover), started after */
};

/* The barrier's callback: status 0 once it is applied (everything before
 * it committed), else Raft's error (leadership lost, closing). A handover
 * now asks Raft for the transfer; a change starts again. */
static void barrier_done(struct raft_barrier *req, int status) {
    struct change_barrier *b = (struct change_barrier *)req;
    struct member *m = b->m;
    bool go = status == 0 && !m->closing;
    if (b->p.kind == PROPOSE_HANDOVER)
        m->handing_over = go && !m->transferring &&
                          raft_transfer(&m->raft, &m->handover, 0, handed_over) == 0;
    else if (go)
        start_change(m, &b->p);
    else
        change_done(m, b->p.nonce, status);
    free(b);
}

/* Appends a barrier, then starts p (a change, or a handover) once it is
 * applied; false (a change's end told) when Raft refused the barrier.
 * libraft (0.15) commits an entry of an earlier term only with one of the
 * leader's own, and appends none when it is elected, so a barrier is
 * needed twice:
 *   - a leader elected while a change was under way would refuse every
 *     change after (RAFT_CANTCHANGE) until some other entry came;
 *   - a follower may hold an uncommitted entry of an earlier term that the
 *     new leader lacks (the old leader's configuration change, say). It
 *     ignores the leader's TimeoutNow, whose last index is not its own, so
 *     a handover would time out again and again until the leader's own
 *     entry replaced it: seen as a backup's stop_member that never ended.
 * Its callback runs once everything before it is committed and applied. */
static bool after_barrier(struct member *m, const struct proposal *p) {
    struct change_barrier *b = malloc(sizeof *b);
    if (!b)
        panic("out of memory for a cluster configuration change");
    *b = (struct change_barrier){.m = m, .p = *p};
    b->p.next = NULL;
    int rc = raft_barrier(&m->raft, &b->req, barrier_done);
    if (rc != 0) {
        if (p->kind != PROPOSE_HANDOVER)
            change_done(m, p->nonce, rc);
        free(b);
    }
    return rc == 0;
}

/* Starts the change p asks for (JOIN or LEAVE); its end is told. A change
 * already made and committed (a joiner that votes, a member not in the
 * configuration) is done at once: a retry after a lost answer, or a
 * joiner restarted on its log. Behind a configuration not yet committed,
 * it waits for that first (after_barrier). */
static void start_change(struct member *m, const struct proposal *p) {
    if (raft_state(&m->raft) != RAFT_LEADER) {
        change_done(m, p->nonce, RAFT_NOTLEADER);
        return;
    }
    if (m->raft.configuration_uncommitted_index) {
        after_barrier(m, p);
        return;
    }
    int role = role_of(m, p->peer_id);
    bool made = p->kind == PROPOSE_LEAVE ? role < 0 : role == RAFT_VOTER;
    if (made) {
        change_done(m, p->nonce, 0);
        return;
    }
    struct change_req *c = calloc(1, sizeof *c);
    if (!c)
        panic("out of memory for a cluster configuration change");
    *c = (struct change_req){.m = m, .nonce = p->nonce, .id = p->peer_id};
    int rc;
    if (p->kind == PROPOSE_LEAVE)
        rc = raft_remove(&m->raft, &c->req, p->peer_id, changed);
    else if (role >= 0)     /* added, not yet promoted */
        rc = assign_voter(c);
    else {
        c->then_assign = true;
        rc = raft_add(&m->raft, &c->req, p->peer_id, p->address, changed);
    }
    if (rc != 0) {
        change_done(m, p->nonce, rc);
        free(c);
    }
}

static void handed_over(struct raft_transfer *req) {
    struct member *m = req->data;
    m->handing_over = false;
}

/* One queued proposal to Raft, or failed when Raft is closing. */
static void take_proposal(struct member *m, struct proposal *p) {
    bool open = !m->closing && !m->transferring;
    if (p->kind == PROPOSE_HANDOVER) {
        /* on while its barrier is pending, then while Raft transfers */
        if (open && !m->handing_over && raft_state(&m->raft) == RAFT_LEADER)
            m->handing_over = after_barrier(m, p);
    } else if (p->kind != PROPOSE_ENTRY) {
        if (open)
            start_change(m, p);
        else
            change_done(m, p->nonce, RAFT_CANCELED);
    } else {
        struct apply_req *a = NULL;
        int rc = RAFT_CANCELED;
        if (open && (a = calloc(1, sizeof *a))) {
            a->m = m;
            a->nonce = p->nonce;
            struct raft_buffer b = {.base = p->buf, .len = p->len};
            rc = raft_apply(&m->raft, &a->req, &b, 1, apply_done);
        }
        if (rc != 0) {      /* not taken: the bytes are still ours */
            raft_free(p->buf);
            free(a);
            fail_nonce(m, p->nonce);
        }
    }
}

/* ---- The loop ------------------------------------------------------------ */

static void apply_done(struct raft_apply *req, int status, void *result) {
    (void)result;
    struct apply_req *a = (struct apply_req *)req;
    if (status != 0)
        fail_nonce(a->m, a->nonce);
    free(a);
}

static void handle_closed(uv_handle_t *h) {
    (void)h;
}

/* Raft has closed: its I/O and the transport go, then our handles, and
 * uv_run returns. */
static void raft_closed(struct raft *r) {
    struct member *m = r->data;
    raft_uv_close(&m->io);
    raft_uv_tcp_close(&m->transport);
    if (m->wake.data) {     /* set up: Raft started */
        uv_close((uv_handle_t *)&m->wake, handle_closed);
        uv_close((uv_handle_t *)&m->view_check, handle_closed);
    }
}

static void close_raft(struct member *m) {
    m->closing = true;
    raft_close(&m->raft, raft_closed);
}

/* The handover asked for at stop is done (or timed out): close. */
static void transferred(struct raft_transfer *req) {
    close_raft(req->data);
}

/* m->wake: hands queued proposals to Raft; closes Raft when stopping (a
 * leader after handing over). */
static void woken(uv_async_t *h) {
    struct member *m = h->data;
    pthread_mutex_lock(&m->lock);
    struct proposal *p = m->head;
    m->head = NULL;
    m->tail = &m->head;
    bool stop = m->stopping;
    pthread_mutex_unlock(&m->lock);
    while (p) {
        struct proposal *next = p->next;
        take_proposal(m, p);
        free(p);
        p = next;
    }
    if (stop && !m->closing && !m->transferring) {
        /* a leader hands over first, so the others need not wait an
         * election timeout to notice it is gone */
        m->transferring = raft_state(&m->raft) == RAFT_LEADER &&
                          raft_transfer(&m->raft, &m->transfer, 0, transferred) == 0;
        if (!m->transferring)
            close_raft(m);
    }
}

/* After every turn of the loop: the view the member process routes by,
 * and, when this member starts or stops leading, {'$cluster_role', leader
 * | follower} to the process (after the entries applied in that turn: one
 * sender, so in order with them; cluster_links.c links or unlinks). */
static void refresh_view(uv_check_t *h) {
    struct member *m = h->data;
    raft_id id;
    const char *address;
    raft_leader(&m->raft, &id, &address);
    int role = raft_state(&m->raft);
    pthread_mutex_lock(&m->lock);
    bool changed = (m->role == RAFT_LEADER) != (role == RAFT_LEADER);
    m->role = role;
    m->leader_id = (unsigned)id;
    m->raft_term = m->raft.current_term;
    m->n_conf = 0;
    for (unsigned i = 0; i < m->raft.configuration.n && i < CLUSTER_MAX_MEMBERS; i++)
        m->conf[m->n_conf++] = (struct conf_server){(unsigned)m->raft.configuration.servers[i].id,
                                                    m->raft.configuration.servers[i].role};
    pthread_mutex_unlock(&m->lock);
    if (changed)
        erl_send(m->pid, TUPLE(ATOM("$cluster_role"),
                               role == RAFT_LEADER ? ATOM("leader") : ATOM("follower")));
}

/* Reports the start's outcome to the waiting member process. */
static void report_start(struct member *m, int rc, const char *msg) {
    pthread_mutex_lock(&m->lock);
    m->start_rc = rc;
    snprintf(m->start_msg, sizeof m->start_msg, "%s", msg ? msg : "");
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
}

/* Bootstraps the initial configuration, every peer a voter: the same on
 * every member of it. Returns 0 (also when a log is there: the member
 * rejoins with it) or Raft's error. */
static int bootstrap(struct member *m) {
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    int rc = 0;
    for (size_t i = 0; i < m->n_peers && rc == 0; i++)
        rc = raft_configuration_add(&conf, m->peers[i].id, m->peers[i].raft_address,
                                    RAFT_VOTER);
    if (rc == 0) {
        rc = raft_bootstrap(&m->raft, &conf);
        if (rc == RAFT_CANTBOOTSTRAP)
            rc = 0;
    }
    raft_configuration_close(&conf);
    return rc;
}

/* Sets Raft up on the loop; returns 0 or Raft's error, with m->start_msg
 * filled by report_start. After a failure past raft_init, Raft is closed
 * and the loop must be run to let it finish. */
static int setup(struct member *m, bool *raft_inited) {
    const struct cluster_peer *self = member_peer(m, m->id);
    int rc = raft_uv_tcp_init(&m->transport, &m->loop);
    if (rc != 0) {
        report_start(m, rc, "the TCP transport failed to start");
        return rc;
    }
    rc = raft_uv_init(&m->io, &m->loop, m->data_dir, &m->transport);
    if (rc != 0) {
        char msg[1024];
        snprintf(msg, sizeof msg, "data directory %s: %s", m->data_dir, m->io.errmsg);
        raft_uv_tcp_close(&m->transport);
        report_start(m, rc, msg);
        return rc;
    }
    /* A restarted peer is found again within a few heartbeats, not after
     * the default second. */
    raft_uv_set_connect_retry_delay(&m->io, m->heartbeat_ms * 5);
    m->fsm = (struct raft_fsm){.version = 1, .data = m, .apply = on_apply,
                               .snapshot = on_snapshot, .restore = on_restore};
    rc = raft_init(&m->raft, &m->io, &m->fsm, m->id, self->raft_address);
    if (rc != 0) {
        report_start(m, rc, raft_errmsg(&m->raft));
        raft_uv_close(&m->io);
        raft_uv_tcp_close(&m->transport);
        return rc;
    }
    *raft_inited = true;
    m->raft.data = m;
    raft_set_election_timeout(&m->raft, m->election_ms);
    raft_set_heartbeat_timeout(&m->raft, m->heartbeat_ms);
    raft_set_pre_vote(&m->raft, true);
    raft_set_snapshot_threshold(&m->raft, m->snapshot_threshold);
    raft_set_snapshot_trailing(&m->raft, m->snapshot_threshold / 4 + 1);
    if (!m->join)   /* a joiner starts empty: the leader sends it the log */
        rc = bootstrap(m);
    if (rc == 0)
        rc = raft_start(&m->raft);
    if (rc == 0)    /* the log is loaded: what an earlier life may have applied */
        m->replay_until = raft_last_index(&m->raft);
    if (rc != 0) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s (%s)", raft_errmsg(&m->raft), raft_strerror(rc));
        report_start(m, rc, msg);
    }
    return rc;
}

static void *raft_main(void *arg) {
    struct member *m = arg;
    bool raft_inited = false;
    uv_loop_init(&m->loop);
    int rc = setup(m, &raft_inited);
    if (rc == 0) {
        uv_async_init(&m->loop, &m->wake, woken);
        m->wake.data = m;
        m->transfer.data = m;
        m->handover.data = m;
        uv_check_init(&m->loop, &m->view_check);
        m->view_check.data = m;
        uv_check_start(&m->view_check, refresh_view);
        report_start(m, 0, NULL);
    } else if (raft_inited) {
        m->closing = true;
        raft_close(&m->raft, raft_closed);
    }
    uv_run(&m->loop, UV_RUN_DEFAULT);
    uv_loop_close(&m->loop);
    return NULL;
}

int raft_thread_start(struct member *m) {
    m->start_rc = -1;
    m->tail = &m->head;
    int err = pthread_create(&m->thread, NULL, raft_main, m);
    if (err) {
        snprintf(m->start_msg, sizeof m->start_msg, "pthread_create: %s", strerror(err));
        return RAFT_NOMEM;
    }
    pthread_mutex_lock(&m->lock);
    while (m->start_rc == -1)
        pthread_cond_wait(&m->cond, &m->lock);
    int rc = m->start_rc;
    pthread_mutex_unlock(&m->lock);
    if (rc != 0)
        pthread_join(m->thread, NULL);
    return rc;
}

void raft_thread_stop(struct member *m) {
    pthread_mutex_lock(&m->lock);
    m->stopping = true;
    pthread_cond_broadcast(&m->cond);   /* a snapshot waiting gives up */
    pthread_mutex_unlock(&m->lock);
    uv_async_send(&m->wake);
    pthread_join(m->thread, NULL);
}

void raft_propose(struct member *m, void *buf, size_t len, uint64_t nonce) {
    struct proposal *p = malloc(sizeof *p);
    if (!p)
        panic("out of memory for a cluster proposal");
    *p = (struct proposal){.kind = PROPOSE_ENTRY, .buf = buf, .len = len, .nonce = nonce};
    pthread_mutex_lock(&m->lock);
    *m->tail = p;
    m->tail = &p->next;
    pthread_mutex_unlock(&m->lock);
    uv_async_send(&m->wake);
}

void raft_change(struct member *m, int kind, unsigned peer_id, const char *address,
                 uint64_t nonce) {
    struct proposal *p = calloc(1, sizeof *p);
    if (!p)
        panic("out of memory for a cluster configuration change");
    *p = (struct proposal){.kind = kind, .peer_id = peer_id, .nonce = nonce};
    if (address)
        snprintf(p->address, sizeof p->address, "%s", address);
    pthread_mutex_lock(&m->lock);
    *m->tail = p;
    m->tail = &p->next;
    pthread_mutex_unlock(&m->lock);
    uv_async_send(&m->wake);
}

/* ThreadSanitizer: libuv's threadpool opens Raft's files and its loop
 * thread then polls descriptors (epoll_ctl); the two synchronise inside
 * libuv, which is not instrumented, and ThreadSanitizer, now and then,
 * took a descriptor for raced, in a member's stderr. Only a report with
 * epoll_ctl on a stack is suppressed: this code never calls it, so its own
 * races, the callbacks libuv and Raft run included, are all still told. */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void) { return "race:epoll_ctl\n"; }
