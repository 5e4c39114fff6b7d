/*
 * cluster_impl.h - what the cluster layer's files share: a member's state,
 * split between its two threads.
 *
 * A member is two things: the member process (cluster_member.c), a
 * gen_server that owns the callback module's state, the clients' sequence
 * numbers and the calls waiting for their entry; and the Raft thread
 * (cluster_raft.c), which runs libuv's loop with libraft on it and nothing
 * else. They meet in three ways only:
 *   - proposals: the process queues an encoded entry under `lock` and
 *     wakes the loop (uv_async_send); the loop hands it to raft_apply;
 *   - messages: the loop sends the process each committed entry, in log
 *     order ({'$cluster_apply', Entry}), a failed proposal
 *     ({'$cluster_failed', Nonce}), a snapshot to restore, and a request
 *     for a snapshot: one sender, so the process sees them in that order;
 *   - the view: after every turn of the loop, the Raft thread copies its
 *     role, the leader and the term into the fields under `lock`, which
 *     the process reads to route requests.
 * Raft's own structures are touched by the Raft thread alone.
 */
#ifndef CLUSTER_IMPL_H
#define CLUSTER_IMPL_H

#include <pthread.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdbool.h>
#include <uv.h>

#include "cluster.h"

/* An entry waiting for the loop: the bytes raft_apply will own. */
struct proposal {
    struct proposal *next;  /* the queue's next, oldest first */
    void *buf;              /* raft_malloc'd: {call, ...} etc., versioned ETF */
    size_t len;             /* its bytes, a multiple of 8 */
    uint64_t nonce;         /* names a call's waiting reply; 0 for others */
};

/* A call this member proposed, waiting for its entry (its reply). */
struct waiting {
    uint64_t nonce;         /* as in the entry */
    bool cluster_client;    /* a struct cluster_client's: gets envelopes */
    void *mem;              /* malloc'd storage of from */
    term from;              /* the caller's {Pid, Tag} */
};

/* A client's place in the log, as every member's state machine keeps it. */
struct client_seq {
    int64_t id;             /* the client's random id */
    int64_t last;           /* the highest sequence number applied */
    bool broken;            /* a cast went missing since its last call */
    void *mem;              /* malloc'd storage of reply, or NULL */
    term reply;             /* what its call numbered last answered */
};

struct member {
    /* Set before the Raft thread starts, then read-only. */
    term name;                          /* the cluster's name */
    term pid;                           /* the member process */
    const struct gen_server_module *mod;    /* the callbacks */
    unsigned id;                        /* this member's Raft id */
    struct cluster_peer peers[CLUSTER_MAX_MEMBERS]; /* strings malloc'd */
    size_t n_peers;
    char *data_dir;                     /* malloc'd */
    unsigned election_ms, heartbeat_ms; /* Raft's timeouts */
    unsigned snapshot_threshold;        /* entries between snapshots */

    /* The Raft thread's alone. */
    pthread_t thread;                   /* runs raft_main */
    uv_loop_t loop;                     /* libuv's loop, Raft's I/O on it */
    uv_async_t wake;                    /* proposals queued, or stopping */
    uv_check_t view_check;              /* refreshes the view each turn */
    struct raft_uv_transport transport; /* raft_uv_tcp: the peers' sockets */
    struct raft_io io;                  /* raft_uv: the log on disk, timers */
    struct raft_fsm fsm;                /* the state machine's side */
    struct raft raft;                   /* the Raft instance */
    bool closing;                       /* raft_close called */
    bool transferring;                  /* stopping: handing leadership over */
    struct raft_transfer transfer;      /* that handover */

    /* Under lock. */
    pthread_mutex_t lock;
    pthread_cond_t cond;                /* start result, snapshot bytes */
    struct proposal *head, **tail;      /* queued proposals; tail: where
                                           the next one goes */
    bool stopping;                      /* the process asked the loop to end */
    int start_rc;                       /* -1: starting; 0: up; else Raft's */
    char start_msg[1024];               /* why the start failed */
    int role;                           /* RAFT_LEADER etc. */
    unsigned leader_id;                 /* 0: none known */
    uint64_t raft_term;                 /* Raft's current term */
    bool snap_wanted;                   /* the loop waits for snap_buf */
    void *snap_buf;                     /* raft_malloc'd, handed to Raft */
    size_t snap_len;                    /* its bytes */

    /* The member process's alone. */
    uint64_t applied;                   /* entries it applied */
    uint64_t next_nonce;                /* the last nonce given a call */
    struct waiting *waiting;            /* calls proposed, unanswered */
    size_t n_waiting, cap_waiting;      /* used, allocated */
    struct client_seq *clients;         /* every client seen, in the log */
    size_t n_clients, cap_clients;      /* used, allocated */
};

/* cluster_raft.c. Starts the Raft thread of m (every field above `thread`
 * set) and waits for Raft to start. Returns 0, or Raft's error code with
 * m->start_msg saying why (the thread is then gone). */
int raft_thread_start(struct member *m);

/* Asks the loop to close Raft and end, and joins the thread. */
void raft_thread_stop(struct member *m);

/* Queues an encoded entry (len bytes of buf, raft_malloc'd, now the
 * loop's) for raft_apply. Can't fail (panics out of memory). */
void raft_propose(struct member *m, void *buf, size_t len, uint64_t nonce);

/* The peer with Raft id, or NULL. */
const struct cluster_peer *member_peer(const struct member *m, unsigned id);

#endif
