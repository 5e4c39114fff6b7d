/*
 * cluster_impl.h - what the cluster layer's files share: a member's state,
 * split between its two threads.
 *
 * A member is two things: the member process (cluster_member.c), a
 * gen_server that owns the callback module's state, the clients' sequence
 * numbers and the calls waiting for their entry; and the Raft thread
 * (cluster_raft.c), which runs libuv's loop with libraft on it and nothing
 * else. They meet in three ways only:
 *   - proposals: the process queues an encoded entry, or a change of the
 *     configuration (a member to add as a voter, one to remove, a
 *     leadership to hand over), under `lock` and wakes the loop
 *     (uv_async_send); the loop hands it to raft_apply, raft_add and
 *     raft_assign, raft_remove or raft_transfer (a change behind a
 *     configuration not yet committed after a raft_barrier), and sends the
 *     outcome of a change back ({'$cluster_changed', Nonce, Result});
 *   - messages: the loop sends the process each committed entry, in log
 *     order ({'$cluster_apply', Entry}), a failed proposal
 *     ({'$cluster_failed', Nonce}), a snapshot to restore, a request for a
 *     snapshot, and each start or end of its leadership ({'$cluster_role',
 *     leader | follower}, cluster_links.c): one sender, so the process
 *     sees them in that order;
 *   - the view: after every turn of the loop, the Raft thread copies its
 *     role, the leader, the term and the configuration (ids and roles)
 *     into the fields under `lock`, which the process reads to route
 *     requests.
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
#include "cluster_fsm.h"

/* What a proposal asks of the loop. */
enum proposal_kind {
    PROPOSE_ENTRY,          /* raft_apply(buf) */
    PROPOSE_JOIN,           /* peer_id at address: raft_add, then raft_assign
                               as a voter (libraft promotes it once it has
                               caught up) */
    PROPOSE_LEAVE,          /* raft_remove(peer_id) */
    PROPOSE_HANDOVER,       /* a barrier, then raft_transfer to any
                               up-to-date voter */
};

/* An entry or a change waiting for the loop. */
struct proposal {
    struct proposal *next;  /* the queue's next, oldest first */
    int kind;               /* enum proposal_kind */
    void *buf;              /* ENTRY: raft_malloc'd, versioned ETF, which
                               raft_apply will own; else NULL */
    size_t len;             /* its bytes, a multiple of 8 */
    unsigned peer_id;       /* JOIN, LEAVE: the member's Raft id */
    char address[64];       /* JOIN: its Raft address, host:port */
    uint64_t nonce;         /* names a call's (or a change's) waiting
                               reply; 0 for others */
};

/* One server of Raft's configuration, as the view shows it. */
struct conf_server {
    unsigned id;            /* its Raft id */
    int role;               /* RAFT_VOTER, RAFT_STANDBY or RAFT_SPARE */
};

/* Who waits in a struct waiting, and so how it is answered. */
enum waiter_kind {
    WAIT_PLAIN,             /* a gen_server client: the reply itself */
    WAIT_CLUSTER_CLIENT,    /* a struct cluster_client: an envelope */
    WAIT_JOINER,            /* a joining member: {'$cluster_joined', R} */
};

/* A call (or a change) this member proposed, waiting for its entry. */
struct waiting {
    uint64_t nonce;         /* as in the entry */
    bool cluster_client;    /* a struct cluster_client's: gets envelopes */
    bool joiner;            /* a joining member's: from is its pid, told
                               {'$cluster_joined', Result} */
    void *mem;              /* malloc'd storage of from */
    term from;              /* the caller's {Pid, Tag} (a joiner's pid) */
};

struct member {
    /* Set before the Raft thread starts, then read-only. */
    term name;                          /* the cluster's name */
    term pid;                           /* the member process */
    const struct gen_server_module *mod;    /* the callbacks */
    unsigned id;                        /* this member's Raft id */
    bool join;                          /* not bootstrapped: asks to join */
    char *data_dir;                     /* malloc'd */
    unsigned election_ms, heartbeat_ms; /* Raft's timeouts */
    unsigned snapshot_threshold;        /* entries between snapshots */
    uint64_t replay_until;              /* the last index of the log Raft
                                           loaded at start (set by the Raft
                                           thread before it reports the
                                           start): entries up to it may have
                                           been applied by an earlier
                                           incarnation */

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
    bool handing_over;                  /* a leaving leader's handover is on */
    struct raft_transfer handover;      /* that one (the member stays up) */

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
    struct conf_server conf[CLUSTER_MAX_MEMBERS]; /* Raft's configuration,
                                           the latest (maybe uncommitted) */
    size_t n_conf;                      /* servers in conf */
    bool snap_wanted;                   /* the loop waits for snap_buf */
    void *snap_buf;                     /* raft_malloc'd, handed to Raft */
    size_t snap_len;                    /* its bytes */

    /* The member process's alone (the peers: the Raft thread reads them
     * in setup only, while the process waits for its start). */
    struct cluster_peer peers[CLUSTER_MAX_MEMBERS]; /* every member known:
                                           the options', then those whose
                                           join was applied; strings
                                           malloc'd */
    size_t n_peers;
    bool joined;                        /* join: a leader said it votes */
    size_t join_next;                   /* join: the peer asked next */
    uint64_t applied;                   /* entries it applied */
    uint64_t next_nonce;                /* the last nonce given a call */
    struct waiting *waiting;            /* calls proposed, unanswered */
    size_t n_waiting, cap_waiting;      /* used, allocated */
    struct cluster_fsm machine;         /* the client table, the links,
                                           the callbacks */
    bool holding;                       /* it holds a link to every pid of
                                           machine's links: it leads, as
                                           the last {'$cluster_role', _}
                                           said (cluster_links.c) */
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

/* Queues a change of the configuration (PROPOSE_JOIN, _LEAVE, _HANDOVER)
 * of member peer_id at address (JOIN only, else NULL). A change that
 * finishes, fails, or is never taken is told to the member process as
 * {'$cluster_changed', Nonce, ok | retry | {error, {raft, Code}}} (none
 * for a handover, whose nonce is 0). Can't fail (panics out of memory). */
void raft_change(struct member *m, int kind, unsigned peer_id, const char *address,
                 uint64_t nonce);

/* The peer with Raft id, or NULL. */
const struct cluster_peer *member_peer(const struct member *m, unsigned id);

/* cluster_member.c. Keeps a copy of from waiting for an answer; returns
 * the nonce that names it. Can't fail (panics out of memory). */
uint64_t hold_waiting(struct member *m, term from, bool cluster_client, bool joiner);

/* cluster_members.c (the protocol is at its top). Records (or updates)
 * member id's node and address in the peers table. */
void peers_learn(struct member *m, unsigned id, const char *node, const char *address);

/* The peer on node (an atom), or NULL. */
const struct cluster_peer *peer_on(const struct member *m, term node);

/* Applies {member, Id, Node, Address}: the peers table learns it (an
 * entry of the wrong shape changes nothing). */
void apply_member_entry(struct member *m, term entry);

/* The peers as [{Id, Node, Address}], built in cells (n_peers + 1) and
 * parts (3 * n_peers), which must outlive the result. Can't fail. */
term peers_term(const struct member *m, term *cells, term *parts);

/* Learns every peer of a snapshot's list. */
void peers_restore(struct member *m, term list);

/* A joiner's next try: asks the next peer, and asks again later. */
void join_try(struct member *m);

/* A joiner is answered: ok ends the tries. */
void join_answered(struct member *m, term result);

/* {'$cluster_join', Id, Node, Address, Pid}: the leader proposes the
 * joiner's node and the change; another member forwards it to leader
 * (an atom, or NONE: dropped, the joiner asks again). */
void join_request(struct member *m, term msg, bool leads, term leader);

/* {'$cluster_leave', Node} from a cluster client at from: the reply to
 * send now (an envelope, in the process heap), or NONE when from waits
 * for the change. */
term leave_request(struct member *m, term node, term from, bool leads, term leader);

/* Raft's configuration as the view shows it, [{Id, Node, Role}] (Node
 * unknown when the peers table lacks it; Role voter, standby or spare),
 * in the process heap. */
term configuration_term(struct member *m);

/* cluster_links.c (the design is at its top). {'$cluster_role', Role}
 * from the Raft thread: a member that starts leading links every pid of
 * the links, one that stops leading unlinks them. */
void links_role(struct member *m, term role);

/* After an entry is applied: a leader links the pid a added to the links
 * and unlinks the one a took out. */
void links_applied(struct member *m, const struct fsm_answer *a);

/* {'EXIT', Pid, Reason}: a leader proposes {exited, Pid} when Pid is among
 * the links; any other 'EXIT' is dropped (one from a pid unlinked already,
 * or a link held before this member stopped leading). */
void links_exit(struct member *m, term pid);

/* Replaces the links with a snapshot's list, a leader's real links with
 * them. */
void links_restore(struct member *m, term list);

/* {Links, Held}, what cluster_member_links shows, in the process heap. */
term links_info(struct member *m);

#endif
