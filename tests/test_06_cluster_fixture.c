/*
 * test_06_cluster_fixture.c - Raft's safety with this project's state
 * machine, on libraft's in-memory fixture (raft/fixture.h: three servers,
 * a network and disks simulated on virtual time, deterministic).
 *
 * Each server's raft_fsm applies entries exactly as a member does
 * (cluster_fsm.c: the entries encoded by fsm_encode, the client table and
 * its sequence numbers, fsm_apply) to the counter's own callbacks
 * (06_cluster/counter.c), and records what it applied, index by index.
 * A client here proposes a call at whichever server leads, as a member
 * does for a cluster_client, and counts it acknowledged when Raft reports
 * it applied on that leader (the moment a member replies).
 *
 * Each test runs over many seeds; a seed picks the servers' election
 * timeouts, network and disk latencies, and (in the random one) the
 * faults. Asserted at every step (the fixture's hook), besides the
 * fixture's own check: no two leaders in one term. At the end of each
 * seed, every fault healed: every server applied the same entries at the
 * same indices with the same counts after them; every acknowledged call
 * is there, in the order it was acknowledged, applied once.
 *
 * Run: make -C tests test-06   (or build/plain/tests/test_06_cluster_fixture --verbose;
 * FX_SEEDS=N FX_FIRST=S runs the random test over seeds S..S+N-1)
 */
#include <criterion/criterion.h>
#include <raft.h>
#include <raft/fixture.h>
#include <stdlib.h>
#include <string.h>

#include "06_cluster/counter.h"
#include "cluster_fsm.h"
#include "etf.h"
#include "test_util.h"

#define N_SERVERS 3
#define MAX_RECORDS 4096    /* entries a server applies in one seed */
#define MAX_REQS 4096       /* proposals in one seed */
#define MAX_TERMS 4096      /* terms a seed may reach */
#define MAX_CLIENTS 8
#define HEAL_MS 60000       /* virtual time the heal may take */

static void start(void) {
    start_runtime();
}

TestSuite(fixture, .timeout = 300, .init = start, .fini = stop_runtime);

/* ---- The servers' state machines ----------------------------------------- */

/* One entry a server applied. */
struct record {
    uint64_t index;         /* its index in the log (last applied + 1) */
    int64_t client, seq;    /* its client's {Id, Seq}; -1 for none */
    int64_t count;          /* the count after it */
    int64_t reply;          /* a call's answer (a count), or -1 for none */
};

/* One server's state machine: this project's, around the counter. */
struct server {
    struct raft_fsm fsm;            /* what the fixture calls */
    struct cluster_fsm machine;     /* the client table, the callbacks */
    struct raft *raft;              /* the fixture's instance of it */
    int64_t count;                  /* the user state */
    struct record log[MAX_RECORDS]; /* what it applied, in order */
    size_t n_log;                   /* records used */
};

/* A proposal and its outcome. */
struct req {
    struct raft_apply apply;    /* first: Raft hands this pointer back */
    int64_t client, seq;        /* its {Id, Seq} */
    bool done;                  /* its callback ran */
    int status;                 /* 0: applied on the leader (acknowledged) */
    struct record rec;          /* the leader's record of it, when 0 */
};

/* A seed's world. Static: Criterion runs each test in a process of its own. */
static struct {
    struct raft_fixture f;              /* libraft's servers, network, disks */
    struct server srv[N_SERVERS];       /* their state machines, by index */
    uint64_t rng;                       /* xorshift64 state */
    raft_id leader_of[MAX_TERMS];       /* the leader seen in each term */
    struct req reqs[MAX_REQS];          /* every proposal made, in order */
    size_t n_reqs;                      /* used */
    struct req *acks[MAX_REQS];         /* acknowledged, in the order seen */
    size_t n_acks;                      /* used */
    struct req *last[MAX_CLIENTS];      /* each client's latest proposal */
    int64_t seq[MAX_CLIENTS];           /* each client's next number */
    unsigned steps;                     /* fixture steps taken */
} w;

static uint64_t rnd(void) {
    w.rng ^= w.rng << 13;
    w.rng ^= w.rng >> 7;
    w.rng ^= w.rng << 17;
    return w.rng;
}

static unsigned below(unsigned n) {
    return (unsigned)(rnd() % n);
}

/* The {Id, Seq} of a decoded entry, {-1, -1} when it has none. */
static void client_of(term entry, int64_t *client, int64_t *seq) {
    term c = is_atom_named(element(1, entry), "call") ? element(5, entry) : element(2, entry);
    *client = is_tuple(c) ? element(1, c).u.integer : -1;
    *seq = is_tuple(c) ? element(2, c).u.integer : -1;
}

/* raft_fsm.apply: decodes the entry, applies it with fsm_apply and
 * records it; *result is the record. */
static int server_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result) {
    struct server *s = fsm->data;
    struct etf_arena arena = {0};
    size_t pos = 0;
    term entry;
    char why[160];
    cr_assert_eq(etf_decode(buf->base, buf->len, &pos, &arena, &entry, why, sizeof why), 0,
                 "an entry that does not decode: %s", why);
    struct fsm_answer a;
    gen_result r = fsm_apply(&s->machine, entry, INT(s->count), &a);
    cr_assert_neq(r.action, GEN_STOP, "the counter stopped on %s", FMT(entry));
    cr_assert_lt(s->n_log, MAX_RECORDS);
    struct record *rec = &s->log[s->n_log++];
    rec->index = raft_last_applied(s->raft) + 1;
    client_of(entry, &rec->client, &rec->seq);
    s->count = rec->count = r.state.u.integer;
    rec->reply = a.call && is_int(a.value) ? a.value.u.integer : -1;
    etf_arena_free(&arena);
    *result = rec;
    return 0;
}

/* Snapshots are not taken in these tests (the threshold is never met). */
static int server_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n) {
    (void)fsm, (void)bufs, (void)n;
    cr_assert_fail("a snapshot was asked for");
    return RAFT_NOTFOUND;
}

static int server_restore(struct raft_fsm *fsm, struct raft_buffer *buf) {
    (void)fsm, (void)buf;
    cr_assert_fail("a snapshot was restored");
    return RAFT_NOTFOUND;
}

/* ---- The fixture --------------------------------------------------------- */

/* After every step: no two leaders in one term, ever in this seed. */
static void check_step(struct raft_fixture *f, struct raft_fixture_event *e) {
    (void)e;
    w.steps++;
    for (unsigned i = 0; i < N_SERVERS; i++) {
        struct raft *r = raft_fixture_get(f, i);
        if (raft_state(r) != RAFT_LEADER)
            continue;
        cr_assert_lt(r->current_term, MAX_TERMS);
        raft_id *seen = &w.leader_of[r->current_term];
        cr_assert(*seen == 0 || *seen == r->id,
                  "two leaders in term %llu: servers %llu and %llu",
                  (unsigned long long)r->current_term, (unsigned long long)*seen,
                  (unsigned long long)r->id);
        *seen = r->id;
    }
}

/* Three voters, bootstrapped and started; the seed picks distinct
 * election timeouts and the latencies. */
static void world_start(uint64_t seed) {
    memset(&w, 0, sizeof w);
    w.rng = seed * 0x9E3779B97F4A7C15ull + 1;
    cr_assert_eq(raft_fixture_initialize(&w.f), 0);
    unsigned first = below(N_SERVERS);
    for (unsigned i = 0; i < N_SERVERS; i++) {
        struct server *s = &w.srv[i];
        s->machine.mod = &counter_module;
        s->fsm = (struct raft_fsm){.version = 1, .data = s, .apply = server_apply,
                                   .snapshot = server_snapshot, .restore = server_restore};
        cr_assert_eq(raft_fixture_grow(&w.f, &s->fsm), 0);
        s->raft = raft_fixture_get(&w.f, i);
        raft_set_snapshot_threshold(s->raft, 1u << 30);
        /* distinct: 150 ms apart at least, so elections do not tie forever */
        unsigned slot = (i + N_SERVERS - first) % N_SERVERS;
        raft_fixture_set_randomized_election_timeout(&w.f, i, 1000 + 150 * slot + below(100));
        raft_fixture_set_network_latency(&w.f, i, 5 + below(30));
        raft_fixture_set_disk_latency(&w.f, i, 2 + below(20));
    }
    struct raft_configuration conf;
    cr_assert_eq(raft_fixture_configuration(&w.f, N_SERVERS, &conf), 0);
    cr_assert_eq(raft_fixture_bootstrap(&w.f, &conf), 0);
    raft_configuration_close(&conf);
    cr_assert_eq(raft_fixture_start(&w.f), 0);
    raft_fixture_hook(&w.f, check_step);
}

static void world_close(void) {
    raft_fixture_close(&w.f);
    for (unsigned i = 0; i < N_SERVERS; i++)
        fsm_free(&w.srv[i].machine);
}

/* The alive server in the leader state with the highest term, or -1. */
static int leader_now(void) {
    int best = -1;
    for (unsigned i = 0; i < N_SERVERS; i++) {
        struct raft *r = raft_fixture_get(&w.f, i);
        if (raft_fixture_alive(&w.f, i) && raft_state(r) == RAFT_LEADER &&
            (best < 0 || r->current_term > raft_fixture_get(&w.f, (unsigned)best)->current_term))
            best = (int)i;
    }
    return best;
}

static void proposed(struct raft_apply *apply, int status, void *result) {
    struct req *q = (struct req *)apply;
    q->done = true;
    q->status = status;
    if (status != 0)
        return;
    q->rec = *(struct record *)result;
    /* the index the state machine saw is the one Raft gave the entry: what
     * cluster_raft.c's on_apply relies on for replay_until */
    cr_assert_eq(q->rec.index, apply->index, "applied as %llu, proposed as %llu",
                 (unsigned long long)q->rec.index, (unsigned long long)apply->index);
    cr_assert_eq(q->rec.client, q->client);
    cr_assert_eq(q->rec.seq, q->seq);
    w.acks[w.n_acks++] = q;
}

/* Proposes, at server i, a call {tick, 1} (or a cast, when cast) of client
 * {client, seq}, as a member does. NULL when server i refused it (it does
 * not lead). */
static struct req *propose_at(unsigned i, int64_t client, int64_t seq, bool cast) {
    cr_assert_lt(w.n_reqs, MAX_REQS);
    struct req *q = &w.reqs[w.n_reqs];
    *q = (struct req){.client = client, .seq = seq};
    term who = TUPLE(INT(client), INT(seq)), tick = TUPLE(ATOM("tick"), INT(1));
    term entry = cast ? TUPLE(ATOM("cast"), who, tick)
                      : TUPLE(ATOM("call"), INT((int64_t)i + 1), INT((int64_t)w.n_reqs + 1),
                              ATOM("none"), who, tick);
    struct raft_buffer b;
    b.base = fsm_encode(entry, &b.len);
    if (raft_apply(raft_fixture_get(&w.f, i), &q->apply, &b, 1, proposed) != 0) {
        raft_free(b.base);
        return NULL;
    }
    w.n_reqs++;
    return q;
}

/* Steps until q's callback has run (within ms of virtual time). */
static bool q_done(struct raft_fixture *f, void *q) {
    (void)f;
    return ((struct req *)q)->done;
}

static bool await_done(struct req *q, unsigned ms) {
    return raft_fixture_step_until(&w.f, q_done, q, ms);
}

/* The servers that have applied index. */
static unsigned n_applied(raft_index index) {
    unsigned n = 0;
    for (unsigned i = 0; i < N_SERVERS; i++)
        n += raft_last_applied(raft_fixture_get(&w.f, i)) >= index;
    return n;
}

/* Every server alive and every link up; then a last call from a client
 * of its own is proposed until one is acknowledged, and the servers are
 * stepped until every one has applied it, or (when all is false) at
 * least a majority has within HEAL_MS: libraft 0.15 sometimes leaves one
 * follower behind for good after kills (see the random test). Returns the
 * servers left behind. */
static unsigned heal(bool all) {
    for (unsigned i = 0; i < N_SERVERS; i++) {
        if (!raft_fixture_alive(&w.f, i))
            raft_fixture_revive(&w.f, i);
        for (unsigned j = 0; j < N_SERVERS; j++)
            if (i != j) {
                raft_fixture_reconnect(&w.f, i, j);
                raft_fixture_desaturate(&w.f, i, j);
            }
    }
    int64_t client = MAX_CLIENTS - 1, seq = ++w.seq[client];
    struct req *q = NULL;
    for (raft_time end = raft_fixture_time(&w.f) + HEAL_MS;
         raft_fixture_time(&w.f) < end && !(q && q->done && q->status == 0);) {
        int l = leader_now();
        if (l >= 0 && (!q || q->done))
            q = propose_at((unsigned)l, client, seq, false);
        raft_fixture_step(&w.f);
    }
    cr_assert(q && q->done && q->status == 0, "no call was acknowledged after the heal");
    raft_index index = q->rec.index;
    raft_fixture_step_until_applied(&w.f, N_SERVERS, index, HEAL_MS);
    unsigned behind = N_SERVERS - n_applied(index);
    cr_assert(behind == 0 || (!all && behind <= (N_SERVERS - 1) / 2),
              "%u servers never applied index %llu after the heal", behind,
              (unsigned long long)index);
    return behind;
}

/* ---- The checks ---------------------------------------------------------- */

/* Every server applied the same entries, at the same indices, in
 * increasing index order, with the same count after each, as far as it
 * has applied: each history is a prefix of the longest. */
static void check_same_history(void) {
    const struct server *a = &w.srv[0];
    for (unsigned i = 1; i < N_SERVERS; i++)
        if (w.srv[i].n_log > a->n_log)
            a = &w.srv[i];
    for (unsigned i = 0; i < N_SERVERS; i++) {
        const struct server *s = &w.srv[i];
        for (size_t k = 0; k < s->n_log; k++) {
            const struct record *x = &s->log[k], *y = &a->log[k];
            cr_assert(k == 0 || x->index > s->log[k - 1].index, "server %u went back", i + 1);
            cr_assert(x->index == y->index && x->client == y->client && x->seq == y->seq &&
                          x->count == y->count,
                      "server %u's entry %zu: index %llu {%lld,%lld} count %lld; server %u's: "
                      "index %llu {%lld,%lld} count %lld",
                      i + 1, k, (unsigned long long)x->index, (long long)x->client,
                      (long long)x->seq, (long long)x->count, (unsigned)(a - w.srv) + 1,
                      (unsigned long long)y->index, (long long)y->client, (long long)y->seq,
                      (long long)y->count);
        }
    }
}

/* The record at index in server s's history, or NULL. */
static const struct record *record_at(const struct server *s, uint64_t index) {
    for (size_t k = 0; k < s->n_log; k++)
        if (s->log[k].index == index)
            return &s->log[k];
    return NULL;
}

/* Every acknowledged call is in every server's history, at its index, in
 * the order acknowledged; each {client, seq} was applied once (it moved
 * the count once), and every acknowledgement of it answered the same. */
static void check_acks(void) {
    for (size_t k = 0; k < w.n_acks; k++) {
        const struct req *q = w.acks[k];
        cr_assert(k == 0 || q->rec.index > w.acks[k - 1]->rec.index,
                  "acknowledged out of log order");
        for (unsigned i = 0; i < N_SERVERS; i++) {
            if (raft_last_applied(raft_fixture_get(&w.f, i)) < q->rec.index)
                continue;   /* left behind: its history is checked as a prefix */
            const struct record *r = record_at(&w.srv[i], q->rec.index);
            cr_assert(r && r->client == q->client && r->seq == q->seq,
                      "server %u lost the acknowledged call {%lld,%lld} at %llu", i + 1,
                      (long long)q->client, (long long)q->seq,
                      (unsigned long long)q->rec.index);
        }
        for (size_t j = 0; j < k; j++)     /* -1: stale, a member sends nothing */
            if (w.acks[j]->client == q->client && w.acks[j]->seq == q->seq &&
                w.acks[j]->rec.reply != -1 && q->rec.reply != -1)
                cr_assert_eq(w.acks[j]->rec.reply, q->rec.reply,
                             "two answers to the one call {%lld,%lld}", (long long)q->client,
                             (long long)q->seq);
    }
    const struct server *s = &w.srv[0];
    int64_t moved = 0;
    for (size_t k = 0; k < s->n_log; k++) {
        int64_t before = k ? s->log[k - 1].count : 0;
        if (s->log[k].count == before)
            continue;
        moved++;
        for (size_t j = 0; j < k; j++)
            cr_assert(s->log[j].count == (j ? s->log[j - 1].count : 0) ||
                          s->log[j].client != s->log[k].client || s->log[j].seq != s->log[k].seq,
                      "{%lld,%lld} applied twice", (long long)s->log[k].client,
                      (long long)s->log[k].seq);
    }
    cr_assert_eq(s->count, moved, "a count of %lld after %lld ticks applied",
                 (long long)s->count, (long long)moved);
}

/* ---- Random kills, revivals and disconnections --------------------------- */

#define SEEDS 40
#define ACTIONS 200
#define CLIENTS 3

/* Client c's next call, at the server that leads now: a new number once
 * its last call was acknowledged, else its last number again (a retry, as
 * cluster_client's after a timeout), now or after waiting a while. */
static void client_call(unsigned c) {
    struct req *last = w.last[c];
    if (last && !last->done && below(2))
        return;     /* still waiting */
    int64_t seq = !last || (last->done && last->status == 0) ? ++w.seq[c] : last->seq;
    int l = leader_now();
    struct req *q = l < 0 ? NULL : propose_at((unsigned)l, c, seq, false);
    if (q)
        w.last[c] = q;
    else if (!last || (last->done && last->status == 0))
        w.seq[c]--;     /* not sent: the number is still free */
}

static unsigned n_alive(void) {
    unsigned n = 0;
    for (unsigned i = 0; i < N_SERVERS; i++)
        n += raft_fixture_alive(&w.f, i);
    return n;
}

/* One fault, one repair or one call, then up to 300 ms of virtual time. */
static void random_action(void) {
    unsigned i = below(N_SERVERS), j = below(N_SERVERS);
    switch (below(10)) {
    case 0:
        if (raft_fixture_alive(&w.f, i) && n_alive() > 1)
            raft_fixture_kill(&w.f, i);
        break;
    case 1:
        if (!raft_fixture_alive(&w.f, i))
            raft_fixture_revive(&w.f, i);
        break;
    case 2:     /* one direction: i's messages to j are lost */
        if (i != j)
            raft_fixture_disconnect(&w.f, i, j);
        break;
    case 3:
        if (i != j)
            raft_fixture_reconnect(&w.f, i, j);
        break;
    default:
        client_call(below(CLIENTS));
    }
    raft_fixture_step_until_elapsed(&w.f, below(300));
}

/* 40 seeds of 200 actions (FX_SEEDS and FX_FIRST run others: 3000 seeds
 * take about 25 s). What libraft 0.15 does here, besides: in about one
 * seed of four a follower never catches up after the heal. Traced
 * (raft_tracer), the leader believes it matches an index whose entry the
 * follower holds from an older term: its result to a heartbeat whose
 * previous entry matched echoes its own last stored index, which the
 * leader takes as its match index (later libraft echoes prev_log_index +
 * n_entries instead), so every later rejection reads as stale ("match
 * index is up to date -> ignore") and the follower rejects forever.
 * So the leader may count that follower toward committing an entry it
 * does not hold. In 3000 seeds (76336 calls acknowledged, 697 seeds with
 * a follower left behind) no acknowledged call was lost and no two
 * histories differed. heal(false)
 * accepts one follower left behind, and the checks hold it to a prefix. */
Test(fixture, random_faults_keep_one_leader_per_term_and_every_acknowledged_call) {
    size_t acks = 0;
    unsigned stuck_seeds = 0;
    uint64_t first_seed = getenv("FX_FIRST") ? strtoull(getenv("FX_FIRST"), NULL, 10) : 1;
    uint64_t n_seeds = getenv("FX_SEEDS") ? strtoull(getenv("FX_SEEDS"), NULL, 10) : SEEDS;
    for (uint64_t seed = first_seed; seed < first_seed + n_seeds; seed++) {
        world_start(seed);
        for (int a = 0; a < ACTIONS; a++)
            random_action();
        unsigned behind = heal(false);
        check_same_history();
        check_acks();
        acks += w.n_acks;
        stuck_seeds += behind > 0;
        world_close();
    }
    /* the faults left room for work: most seeds acknowledged many calls */
    cr_assert_gt(acks, n_seeds * 10, "only %zu calls acknowledged in %llu seeds", acks,
                 (unsigned long long)n_seeds);
    cr_log_info("%zu calls acknowledged over %llu seeds; a follower left behind in %u", acks,
                (unsigned long long)n_seeds, stuck_seeds);
}

/* ---- A minority side ----------------------------------------------------- */

#define MINORITY_SEEDS 30

static bool other_leads(struct raft_fixture *f, void *old) {
    (void)f;
    int l = leader_now();
    return l >= 0 && l != *(int *)old;
}

/* Proposes n calls of client c at server i and steps until each is
 * acknowledged (within 10 s of virtual time each). */
static void acked_calls(unsigned i, int64_t c, int n) {
    for (int k = 0; k < n; k++) {
        struct req *q = propose_at(i, c, ++w.seq[c], false);
        cr_assert(q, "server %u refused a call", i + 1);
        cr_assert(await_done(q, 10000) && q->status == 0, "call %d at server %u: status %d",
                  k, i + 1, q->status);
    }
}

Test(fixture, a_minority_commits_nothing_the_majority_goes_on_and_the_heal_keeps_its_entries) {
    for (uint64_t seed = 1; seed <= MINORITY_SEEDS; seed++) {
        world_start(seed);
        int old = (int)below(N_SERVERS);
        raft_fixture_elect(&w.f, (unsigned)old);
        acked_calls((unsigned)old, 0, 5);
        /* the leader cut off from both others, both ways */
        for (unsigned j = 0; j < N_SERVERS; j++)
            if ((int)j != old) {
                raft_fixture_disconnect(&w.f, (unsigned)old, j);
                raft_fixture_disconnect(&w.f, j, (unsigned)old);
            }
        struct raft *cut = raft_fixture_get(&w.f, (unsigned)old);
        raft_index committed = cut->commit_index;
        size_t acked = w.n_acks, applied = w.srv[old].n_log;
        struct req *lost[3];
        for (int k = 0; k < 3; k++)
            cr_assert_not_null(lost[k] = propose_at((unsigned)old, 1, ++w.seq[1], false));
        cr_assert(raft_fixture_step_until(&w.f, other_leads, &old, 20000),
                  "seed %llu: the majority elected no one", (unsigned long long)seed);
        int next = leader_now();
        acked_calls((unsigned)next, 2, 3);
        cr_assert_eq(cut->commit_index, committed, "the cut-off leader committed");
        cr_assert_eq(w.srv[old].n_log, applied, "the cut-off leader applied");
        for (size_t k = acked; k < w.n_acks; k++)
            cr_assert_eq(w.acks[k]->client, 2, "a call of the minority side was acknowledged");
        heal(true);
        for (int k = 0; k < 3; k++)     /* each told it failed, none acknowledged */
            cr_assert(lost[k]->done && lost[k]->status != 0,
                      "seed %llu: the minority's call %d: done %d status %d",
                      (unsigned long long)seed, k, lost[k]->done, lost[k]->status);
        for (unsigned i = 0; i < N_SERVERS; i++)
            for (size_t k = 0; k < w.srv[i].n_log; k++)
                cr_assert_neq(w.srv[i].log[k].client, 1,
                              "server %u applied the minority's uncommitted call", i + 1);
        check_same_history();
        check_acks();
        cr_assert_eq(w.srv[old].count, 5 + 3 + 1, "the count after the heal");
        world_close();
    }
}

/* ---- Duplicates ---------------------------------------------------------- */

#define DUP_SEEDS 30

/* A call and a cast each sent twice under one number, and a call applied
 * by a leader that died before answering, retried at the next: each is
 * applied once, and the call's every answer is the same. */
Test(fixture, a_request_retried_under_its_number_is_applied_once) {
    for (uint64_t seed = 1; seed <= DUP_SEEDS; seed++) {
        world_start(seed);
        unsigned first = below(N_SERVERS);
        raft_fixture_elect(&w.f, first);
        struct req *a = propose_at(first, 3, 1, false), *b = propose_at(first, 3, 1, false);
        struct req *c = propose_at(first, 4, 1, true), *d = propose_at(first, 4, 1, true);
        cr_assert(a && b && c && d);
        cr_assert(await_done(b, 10000) && await_done(d, 10000));
        cr_assert(a->status == 0 && b->status == 0 && c->status == 0 && d->status == 0);
        cr_assert_eq(a->rec.reply, b->rec.reply, "one call, two answers");
        cr_assert_eq(w.srv[first].count, 2, "a call and a cast, each twice: count %lld",
                     (long long)w.srv[first].count);
        /* applied everywhere, then the leader dies before its answer is seen */
        struct req *e = propose_at(first, 3, 2, false);
        cr_assert(e && await_done(e, 10000) && e->status == 0);
        cr_assert(raft_fixture_step_until_applied(&w.f, N_SERVERS, e->rec.index, 10000));
        raft_fixture_kill(&w.f, first);
        int was = (int)first;
        cr_assert(raft_fixture_step_until(&w.f, other_leads, &was, 20000), "seed %llu: no new leader",
                  (unsigned long long)seed);
        int next = leader_now();
        cr_assert(next >= 0 && next != (int)first);
        struct req *retry = propose_at((unsigned)next, 3, 2, false);
        cr_assert(retry && await_done(retry, 10000) && retry->status == 0);
        cr_assert_eq(retry->rec.reply, e->rec.reply, "the retry answered %lld, the call %lld",
                     (long long)retry->rec.reply, (long long)e->rec.reply);
        cr_assert_eq(w.srv[next].count, 3, "the retry applied again: count %lld",
                     (long long)w.srv[next].count);
        heal(true);
        check_same_history();
        check_acks();
        world_close();
    }
}
