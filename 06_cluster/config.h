/*
 * config.h - the three members' places, from the environment, so that a
 * tour, a test and a student's three terminals can each have their own.
 *
 *   ERL_EPMD_PORT          epmd's port (as erl reads it); default 4369
 *   COUNTER_HOSTS          three IPv4 addresses, comma-separated, one a
 *                          member: member I's node is cI@HOST_I (a long
 *                          name) and its Raft listens on HOST_I:PORT+I;
 *                          each host runs its own epmd on ERL_EPMD_PORT.
 *                          Unset: all on loopback, nodes cI@localhost
 *   COUNTER_RAFT_PORT      member I's Raft listens on HOST_I:PORT+I
 *                          (127.0.0.1 unless COUNTER_HOSTS); default 9100
 *   COUNTER_DATA_DIR       member I's Raft data is in DIR/cI; default
 *                          /dev/shm/counter06 (tmpfs: it survives kill -9,
 *                          not a reboot)
 *   COUNTER_ELECTION_MS, COUNTER_HEARTBEAT_MS   Raft's timeouts; 4 and 1
 *   COUNTER_SNAPSHOT_THRESHOLD   entries between snapshots; 0 (default):
 *                          the cluster layer's (rare)
 * The nodes are c1@localhost, c2@localhost, c3@localhost (or cI@HOST_I,
 * COUNTER_HOSTS below); the cookie is COUNTER_COOKIE. Members
 * 4..MAX_MEMBER_ID (c4@localhost ...) are not in the initial configuration:
 * they join it (counter --serve I), asking the first three.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include "cluster.h"

#define MEMBERS 3           /* the initial configuration: ids 1..3 */
#define MAX_MEMBER_ID 9     /* joiners: ids 4..9 */
#define COUNTER_COOKIE "counter06"

struct stage_config {
    char nodes[MAX_MEMBER_ID][32];      /* "c1@localhost" or "c1@10.77.0.1" */
    char addresses[MAX_MEMBER_ID][32];  /* "127.0.0.1:9101" ... */
    char dirs[MAX_MEMBER_ID][256];      /* each member's data directory */
    const char *node_names[MAX_MEMBER_ID];  /* nodes[i], for cluster_client */
    struct cluster_peer peers[MAX_MEMBER_ID];   /* ids 1..9; the first
                                                   MEMBERS: the initial
                                                   configuration */
    struct cluster_peer joiners[MAX_MEMBER_ID - MEMBERS][MEMBERS + 1];
                                        /* a joiner's peers: itself, then
                                           the three it asks */
    unsigned election_ms, heartbeat_ms;
    unsigned snapshot_threshold;        /* 0: the cluster layer's default */
};

/* Reads the environment into c. Returns 0, or -1 after a line on stderr
 * naming the variable that is not a number in range, or COUNTER_HOSTS
 * when it is not three IPv4 addresses. */
int stage_config_load(struct stage_config *c);

/* The options of member id (1..MAX_MEMBER_ID: over MEMBERS, a joiner) of
 * c; valid as long as c is. */
struct cluster_options stage_member_options(const struct stage_config *c, unsigned id);

#endif
