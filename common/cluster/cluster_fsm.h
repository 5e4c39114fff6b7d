/*
 * cluster_fsm.h - the replicated state machine on its own: the entries of
 * a member's log, and how one is applied to the callbacks' state and the
 * client table. No process, no thread, no Raft here: the member process
 * (cluster_member.c) applies each committed entry with fsm_apply and then
 * answers whoever waits for it, and tests/test_06_cluster_fixture.c drives
 * the same functions on libraft's in-memory fixture.
 *
 * Entries (versioned ETF, fsm_encode):
 *   {call, Proposer, Nonce, From, Client, Request}
 *   {cast, Client, Request}
 *   {info, Msg}
 *   {exited, Pid}                   (the leader saw Pid's 'EXIT': out of
 *                                    the links)
 *   {member, Id, Node, Address}     (a joiner's node: cluster_members.c,
 *                                    not fsm_apply's)
 * Client is {Id, Seq} for a struct cluster_client's request, none for a
 * plain gen_server client's. Proposer is the Raft id of the member that
 * appended the entry, and Nonce names the caller it keeps waiting. A
 * call's Request {'$link', Pid} or {'$unlink', Pid} (link/2, unlink/2)
 * is the state machine's, not the callbacks': it adds Pid to the links
 * (the set of pids linked to the cluster) or takes it out, and answers
 * true (badarg for an X that is not a pid, as link(X) raises).
 *
 * Invariants:
 *   - fsm_apply's outcome depends only on the entry, the client table,
 *     the links and the user state, and it changes only those: every
 *     member that applies the same entries in the same order to the same
 *     start has the same table and links, and goes through the same user
 *     states.
 *   - A client's call is applied only when every earlier request of the
 *     client was; a retry of its last call (the same Seq) is answered from
 *     the reply cached when it was applied, and not applied again; a
 *     request older than the last is dropped (fsm_seq).
 */
#ifndef CLUSTER_FSM_H
#define CLUSTER_FSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gen_server.h"

/* A client's place in the log, as every member's state machine keeps it. */
struct client_seq {
    int64_t id;             /* the client's random id */
    int64_t last;           /* the highest sequence number applied */
    bool broken;            /* a cast went missing since its last call */
    void *mem;              /* malloc'd storage of reply, or NULL */
    term reply;             /* what its call numbered last answered */
};

/* The state machine's own part of a member's state (the user state is
 * kept by whoever applies, and passed in). */
struct cluster_fsm {
    const struct gen_server_module *mod;    /* the callbacks */
    struct client_seq *clients;             /* every client seen, in the log */
    size_t n_clients, cap_clients;          /* used, allocated */
    term *links;                            /* the pids linked to the
                                               cluster, each once, in the
                                               order linked (pids are
                                               immediate: no storage) */
    size_t n_links, cap_links;              /* used, allocated */
};

/* What applying an entry tells the member that applies it. */
struct fsm_answer {
    bool call;              /* the entry was a call: the four below hold */
    int64_t proposer;       /* the Raft id of the member that appended it */
    uint64_t nonce;         /* names its waiting caller there */
    term kind;              /* $cluster_ok or $cluster_error */
    term value;             /* the reply (or the error: casts_lost); NONE
                               when there is none to send */
    term linked;            /* a pid the entry added to the links, or NONE */
    term unlinked;          /* a pid it took out of them, or NONE */
};

enum seq_verdict {
    SEQ_APPLY,      /* in order: apply it */
    SEQ_LOST,       /* a call after a lost request: answer casts_lost */
    SEQ_REPEAT,     /* a retry of the last call: answer the cached reply */
    SEQ_STALE,      /* older than the last request: drop it */
};

/* A malloc'd deep copy of t; *mem is what to free (NULL for an immediate
 * term). Can't fail (panics out of memory). */
term fsm_dup_term(term t, void **mem);

/* t as versioned ETF in raft_malloc'd memory (Raft frees it once given),
 * *len bytes, padded with zeros to a multiple of 8. Can't fail (panics:
 * a term without external form, out of memory). */
void *fsm_encode(term t, size_t *len);

/* What to do with a request of client ({Id, Seq}, or none: always apply)
 * that is a call (call) or a cast; updates the table as every member does.
 * *slot is the client's entry (NULL for none). */
enum seq_verdict fsm_seq(struct cluster_fsm *f, term client, bool call,
                         struct client_seq **slot);

/* Applies one committed entry ({call, ...}, {cast, ...}, {info, ...},
 * {exited, ...}; anything else changes nothing) to user. Returns the callback's result
 * (noreply with user when the entry was not applied: a stale or repeated
 * request, casts_lost); *a says what the call's proposer answers. The
 * callbacks' reply must come from handle_call (GEN_REPLY or a stop with a
 * reply): a call answered later is never answered. */
gen_result fsm_apply(struct cluster_fsm *f, term entry, term user, struct fsm_answer *a);

/* The table as [{Id, Last, Broken, Reply}], built in cells (n_clients + 1)
 * and parts (4 * n_clients), which must outlive the result. Can't fail. */
term fsm_clients_term(const struct cluster_fsm *f, term *cells, term *parts);

/* Replaces the table with the list fsm_clients_term made. */
void fsm_clients_restore(struct cluster_fsm *f, term list);

/* Whether pid is among the links. */
bool fsm_linked(const struct cluster_fsm *f, term pid);

/* The links as [Pid], built in cells (n_links + 1), which must outlive
 * the result. Can't fail. */
term fsm_links_term(const struct cluster_fsm *f, term *cells);

/* Replaces the links with the pids of list (what fsm_links_term made;
 * anything else in it is skipped). Can't fail (panics out of memory). */
void fsm_links_restore(struct cluster_fsm *f, term list);

/* Frees the table and the links (f can be used again, empty). */
void fsm_free(struct cluster_fsm *f);

#endif
