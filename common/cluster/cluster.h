/*
 * cluster.h - a gen_server replicated on several nodes, in the shape of
 * gen_server_cluster (the study's chapter 06), with Raft underneath.
 *
 * Every node of the cluster runs one member: a process registered locally
 * under the cluster's name, running the callback module's gen_server
 * callbacks over its own copy of the state. One member leads (Raft's
 * leader). Each call and cast a client sends is appended to the Raft log
 * by the leader, and every member applies the log's entries, in log
 * order, to its copy: the callbacks run once per member per entry, with
 * the same state and the same request, so every copy goes through the same
 * states (the callbacks must be deterministic, and must reply from
 * handle_call with GEN_REPLY: a member cannot know which reply a callback
 * sent itself). The leader replies to a call once its entry is committed
 * (held by a majority of the members) and applied; a read is a call, so it
 * is in the log too, and no read is older than an acknowledged write.
 *
 * A callback that stops (returns GEN_STOP) while an entry is applied stops
 * every member, not only the leader: each member applies the entry, and
 * the first to stop there tells the others to stop too (one left without
 * a majority could never learn that the entry is committed). A member
 * restarted on its data directory replays such an entry without stopping
 * again (the entry was in its log when it started: it ended an earlier
 * run), and is not stopped by another's telling; one that never had it in
 * its log stops when it receives it.
 *
 * The promise: once cluster_call has returned a reply, the call's effect,
 * and that of every cast the same client sent before it, is in every
 * later state of the cluster, whichever leaders die. Why it holds: the
 * reply is sent only after the entry is committed (cluster_member.c,
 * apply_entry), a committed entry is in the log of every later leader
 * (Raft's leader completeness), and a call is applied only when every
 * earlier request of its client was (the client's sequence numbers,
 * checked in log order by cluster_fsm.c's fsm_seq: a cast lost on the way
 * makes the next call fail
 * with casts_lost instead of returning).
 *
 * Clients: cluster_call and cluster_cast (below) take a struct
 * cluster_client, which numbers its requests and knows the members' nodes;
 * a member that does not lead redirects them to the leader. A plain
 * gen_server_call({Name, Node}, Request) also works, as the original's
 * gen_server:call({global, Name}, ...): a member that does not lead
 * forwards it to the leader, but such a client gets no sequence numbers
 * (a cast of it may be lost without a later call noticing) and a call of
 * it that times out may or may not have been applied.
 *
 * Transport and threads: Raft runs on canonical's library (libraft, over
 * libuv, with its own TCP transport, raft_uv_tcp), on a thread of each
 * member's own, never on a scheduler thread (cluster_raft.c says what the
 * two threads share). SIGPIPE is ignored process-wide by cluster_start: a
 * write to a peer that died would otherwise end the node.
 *
 * The log and Raft's metadata live in the member's data directory (by
 * default under /dev/shm: a tmpfs, so it survives kill -9 of the process,
 * not a reboot). A member restarted on the same directory rejoins with its
 * log. Snapshots are rare (every snapshot_threshold entries): taking one
 * stalls the member's loop for tens of milliseconds.
 */
#ifndef CLUSTER_H
#define CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "gen_server.h"

#define CLUSTER_MAX_MEMBERS 9

/* One member of the cluster, as every member's configuration lists it. */
struct cluster_peer {
    unsigned id;                /* Raft id, 1.. (unique in the cluster) */
    const char *node;           /* its node's name, "c1@localhost" */
    const char *raft_address;   /* where its Raft listens: "127.0.0.1:9001" */
};

/* A member's configuration. Every member of the initial configuration must
 * be given the same peers. A member that joins later is given join, itself
 * among the peers, and any members to ask (it need not know them all). */
struct cluster_options {
    unsigned id;                        /* this member's id among peers */
    const struct cluster_peer *peers;   /* every member, this one included */
    size_t n_peers;                     /* 1..CLUSTER_MAX_MEMBERS */
    const char *data_dir;               /* Raft's directory (created if
                                           missing); NULL:
                                           /dev/shm/cluster-<name>-<id> */
    unsigned election_ms;               /* election timeout; 0: 4 */
    unsigned heartbeat_ms;              /* heartbeat (and tick); 0: 1 */
    unsigned snapshot_threshold;        /* entries between snapshots;
                                           0: 65536 */
    bool join;                          /* not in the initial configuration:
                                           asks the leader (through the
                                           other peers) to add it as a
                                           voter; it then receives the
                                           state from the leader, by the
                                           log or a snapshot. Harmless when
                                           it already is one (a joiner
                                           restarted on its directory). */
};

/* gen_server_cluster:start(Name, Mod, Args, Opts) on this node: starts
 * the member, registered locally as name (an atom), with mod's callbacks
 * and mod->init(args) as its state before the log is applied. The node
 * must be started (node_start) under the node name of its peer entry.
 * Returns the member's pid, or NONE with *error (the caller's: erl_drop
 * it) set to: {bad_config, Why} (a string naming what is wrong), {raft,
 * Code, Message} when Raft could not start (its directory, its port), the
 * reason init stopped with, or {already_started, Pid}. */
term cluster_start(term name, const struct gen_server_module *mod, term args,
                   const struct cluster_options *opts, term *error);

/* A program with a member calls this before erl_stop: the member's Raft
 * thread sends to the member process and must end first.
 *
 * Stops this node's member of the cluster name: a leader first hands
 * leadership to another member (raft_transfer, within an election
 * timeout), then its Raft closes (it stays in the configuration, so a
 * cluster of three with one member stopped tolerates no other loss; to
 * take it out, cluster_stop_member), and terminate runs.
 * Returns 0, or -1 with *error as gen_server_stop's. */
int cluster_stop(term name, term *error);

/* ---- Clients ------------------------------------------------------------- */

/* A client of one cluster. Not shared between processes: the requests of
 * one client are numbered in the order it sends them. Every member keeps
 * a record of each client's last number and last reply (a few words) for
 * as long as the cluster lives, in its snapshots too: make a client once
 * per process, not once per request. */
struct cluster_client {
    term name;              /* the cluster's name (an atom) */
    const char *const *nodes;   /* the members' nodes (not copied) */
    size_t n_nodes;         /* how many */
    size_t hint;            /* the node tried first: the last known leader */
    int64_t id;             /* random, names this client in the log */
    int64_t seq;            /* the number of the last request sent */
};

/* Makes a client of the cluster name, whose members are on nodes (the
 * array must outlive the client). This function can't fail. */
void cluster_client_init(struct cluster_client *c, term name, const char *const *nodes,
                         size_t n_nodes);

/* gen_server:call({global, Name}, Request) on the cluster: sends the
 * request to the leader (following redirects, trying the other nodes when
 * one is down or none leads) until it is answered or timeout_ms has
 * passed. A retry carries the same sequence number, so a call is applied
 * once however often it is sent. Returns the callback's reply (the
 * caller's: erl_drop it), or NONE with *error set to no_leader (no member
 * led in the last round of tries before the time was up: fewer than a
 * majority of the members are up, two of three say, or an election did
 * not end in time), timeout (a leader took the call but did not answer in
 * time); after either the call may have been applied, or may be later,
 * casts_lost (an earlier cast of this client never reached the log; this
 * call was not applied), or the reason a member exited with. */
term cluster_call(struct cluster_client *c, term request, int timeout_ms, term *error);

/* gen_server:cast on the cluster: sends the request to the last known
 * leader (or, through it, to the leader), without waiting. A cast can be
 * lost when the leader dies; the next cluster_call of this client then
 * fails with casts_lost. */
void cluster_cast(struct cluster_client *c, term request);

/* The node whose member leads, as an atom, asked of the members in turn
 * (within timeout_ms): the one that says it leads with the highest Raft
 * term. NONE when none answers that it leads. */
term cluster_leader(struct cluster_client *c, int timeout_ms);

/* gen_server_cluster:get_all_server_pids/1: {LeaderPid, [BackupPid]},
 * asked of the member on each of the client's nodes in turn (within
 * timeout_ms in all): the leader is the one that says it leads with the
 * highest Raft term (as cluster_leader), the backups the others that
 * answer as followers, in the order of the client's nodes (a member that
 * does not answer, or is a candidate, is left out). NONE with *error
 * no_leader when none says it leads. The result is the caller's. */
term cluster_server_pids(struct cluster_client *c, int timeout_ms, term *error);

/* gen_server_cluster:get_all_server_nodes/1: cluster_server_pids with the
 * members' nodes, {LeaderNode, [BackupNode]}. */
term cluster_server_nodes(struct cluster_client *c, int timeout_ms, term *error);

/* gen_server_cluster:is_running/1: true when a member says it leads
 * (cluster_leader within timeout_ms). In the original, whether the global
 * name is registered; here a cluster without a majority up has members
 * but none leads, and is not running: no call would be answered. */
bool cluster_is_running(struct cluster_client *c, int timeout_ms);

/* gen_server_cluster:link(Name, Pid): links pid to the cluster, with a
 * link that follows whoever leads (the original's lives in the leader
 * alone and dies with it). The request is a call in the log, so every
 * member knows the set of pids linked (in snapshots too); the member that
 * leads holds a real link to each, made when it starts leading, undone
 * when it stops leading without dying. So pid gets {'EXIT', Leader,
 * Reason} when a leader dies (noconnection after kill -9 of its node) and
 * is linked to the next leader once it leads; when the cluster stops
 * (cluster_stop_all, a callback's stop) it gets the 'EXIT' of each member
 * that led while it was linked. A process that should outlive a leader's
 * death must trap exits (erl_trap_exit): one that does not dies with the
 * first leader, as with any link. Members trap exits: when pid ends, the
 * leader takes it out of the set (by an entry in the log) and the cluster
 * goes on, as the original's leader ignores that 'EXIT'. Linking a pid
 * already linked changes nothing. Returns 0, or -1 with *error (the
 * caller's) {not_a_pid, Pid}, or as cluster_call's (after no_leader or
 * timeout the link may still be made). The common/cluster/cluster_links.c
 * comment says more. */
int cluster_link(struct cluster_client *c, term pid, int timeout_ms, term *error);

/* gen_server_cluster:unlink(Name, Pid): takes pid out of the set, and the
 * leader unlinks it (one not linked: nothing changes). An 'EXIT' already
 * sent to pid before may still arrive, as with unlink/1. Returns as
 * cluster_link. */
int cluster_unlink(struct cluster_client *c, term pid, int timeout_ms, term *error);

/* What the member on node holds of the links: {Pids, Held}, Pids the set
 * of pids linked to the cluster as far as it has applied the log, Held
 * how many links its process holds (the runtime's count: as many as Pids
 * while it leads, once linked, 0 otherwise). NONE with *error as
 * gen_server_call's. The result is the caller's. */
term cluster_member_links(struct cluster_client *c, const char *node, int timeout_ms,
                          term *error);

/* What the member on node says of itself: {Role, Leader, Term, Applied}:
 * Role leader | follower | candidate | unavailable, Leader the node it
 * believes leads (or none), Term its Raft term, Applied the index of the
 * last entry it applied. NONE with *error as gen_server_call's when it
 * cannot be asked. The result is the caller's: erl_drop it. */
term cluster_member_info(struct cluster_client *c, const char *node, int timeout_ms,
                         term *error);

/* gen_server_cluster:stop(Name, Node): takes the member on node out of the
 * cluster's configuration and stops it. The leader removes it
 * (raft_remove) and answers once the smaller configuration is committed;
 * if node's member leads, it first hands leadership over (raft_transfer)
 * and the next leader removes it. Then node's member is stopped
 * (terminate runs); one already gone counts as stopped. The others go on:
 * of three, the two left are a majority of two. Returns 0, or -1 with
 * *error (the caller's) as cluster_call's (no_leader, timeout: it may
 * still be removed later), or {not_a_member, Node}, or {raft, Code}
 * when Raft refused the change. */
int cluster_stop_member(struct cluster_client *c, const char *node, int timeout_ms,
                        term *error);

/* gen_server_cluster:stop(Name, global): stops the member that leads when
 * asked, as cluster_stop_member of its node: it hands leadership over,
 * the next leader takes it out of the configuration (as in the original,
 * where the stopped leader is gone from the backups), and it stops. The
 * others go on with the state: of three, two, a majority of two. Returns
 * 0, or -1 with *error as cluster_stop_member's. */
int cluster_stop_leader(struct cluster_client *c, int timeout_ms, term *error);

/* gen_server_cluster:stop(Name, all): stops the member on each of the
 * client's nodes (a request to each {Name, Node}, through the node
 * layer): its Raft closes and terminate runs; the nodes go on without a
 * member, and a later cluster_call fails with no_leader. Nothing leaves
 * the configuration and the data directories stay: members started again
 * on them come back with the state (in the original the state is gone
 * with the last member). A node that is down or runs no member counts as
 * stopped. Returns 0, or -1 with *error (the caller's) {Node, Why} for
 * the first node whose member could not be stopped (the others were
 * still asked). */
int cluster_stop_all(struct cluster_client *c, int timeout_ms, term *error);

/* The configuration as the member on node's Raft holds it (the latest,
 * maybe not yet committed): [{Id, Node, Role}], Role voter | standby |
 * spare, Node unknown when that member has not learned it. NONE with
 * *error as gen_server_call's. The result is the caller's. */
term cluster_configuration(struct cluster_client *c, const char *node, int timeout_ms,
                           term *error);

/* gen_server_cluster:get_target_state/1 on one node: the callback's state
 * in that node's member (its own copy, as far as it has applied the log).
 * NONE with *error as gen_server_call's. The result is the caller's. */
term cluster_member_state(struct cluster_client *c, const char *node, int timeout_ms,
                          term *error);

#endif
