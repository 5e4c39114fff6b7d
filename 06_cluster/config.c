/*
 * config.c - the members' places from the environment. See config.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

/* The number in variable name, or dflt when it is unset; -1 after a line
 * on stderr when it is not a number in [lo, hi]. */
static long env_number(const char *name, long dflt, long lo, long hi) {
    const char *s = getenv(name);
    if (!s || !*s)
        return dflt;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) {
        fprintf(stderr, "%s=%s: not a number from %ld to %ld\n", name, s, lo, hi);
        return -1;
    }
    return v;
}

/* The members' hosts from COUNTER_HOSTS into hosts (each INET_ADDRSTRLEN
 * bytes): three IPv4 addresses, comma-separated. Unset: none, and *given
 * false. Returns 0, or -1 after a line on stderr saying what is wrong. */
static int env_hosts(char hosts[MEMBERS][INET_ADDRSTRLEN], bool *given) {
    const char *s = getenv("COUNTER_HOSTS");
    *given = s && *s;
    if (!*given)
        return 0;
    const char *p = s;
    for (unsigned i = 0; i < MEMBERS; i++) {
        size_t n = strcspn(p, ",");
        struct in_addr a;
        bool last = i + 1 == MEMBERS;
        if (n >= INET_ADDRSTRLEN || (last ? p[n] != '\0' : p[n] != ','))
            goto bad;
        memcpy(hosts[i], p, n);
        hosts[i][n] = '\0';
        if (inet_pton(AF_INET, hosts[i], &a) != 1)
            goto bad;
        p += n + 1;
    }
    return 0;
bad:
    fprintf(stderr, "COUNTER_HOSTS=%s: give %d IPv4 addresses, comma-separated "
                    "(10.77.0.1,10.77.0.2,10.77.0.3)\n", s, MEMBERS);
    return -1;
}

int stage_config_load(struct stage_config *c) {
    long port = env_number("COUNTER_RAFT_PORT", 9100, 1024, 65535 - MAX_MEMBER_ID);
    long election = env_number("COUNTER_ELECTION_MS", 4, 1, 60000);
    long heartbeat = env_number("COUNTER_HEARTBEAT_MS", 1, 1, 60000);
    long snapshot = env_number("COUNTER_SNAPSHOT_THRESHOLD", 0, 0, 1L << 30);
    char hosts[MEMBERS][INET_ADDRSTRLEN];
    bool spread;    /* the members are on hosts of their own */
    if (port < 0 || election < 0 || heartbeat < 0 || snapshot < 0 ||
        env_hosts(hosts, &spread) < 0)
        return -1;
    const char *dir = getenv("COUNTER_DATA_DIR");
    if (!dir || !*dir)
        dir = "/dev/shm/counter06";
    for (unsigned i = 0; i < MAX_MEMBER_ID; i++) {
        /* joiners (ids past MEMBERS) stay on loopback */
        bool own = spread && i < MEMBERS;
        snprintf(c->nodes[i], sizeof c->nodes[i], "c%u@%s", i + 1, own ? hosts[i] : "localhost");
        snprintf(c->addresses[i], sizeof c->addresses[i], "%s:%ld",
                 own ? hosts[i] : "127.0.0.1", port + i + 1);
        if (snprintf(c->dirs[i], sizeof c->dirs[i], "%s/c%u", dir, i + 1) >=
            (int)sizeof c->dirs[i]) {
            fprintf(stderr, "COUNTER_DATA_DIR=%s: too long\n", dir);
            return -1;
        }
        c->node_names[i] = c->nodes[i];
        c->peers[i] = (struct cluster_peer){i + 1, c->nodes[i], c->addresses[i]};
    }
    for (unsigned j = 0; j < MAX_MEMBER_ID - MEMBERS; j++) {
        c->joiners[j][0] = c->peers[MEMBERS + j];
        for (unsigned i = 0; i < MEMBERS; i++)
            c->joiners[j][i + 1] = c->peers[i];
    }
    c->election_ms = (unsigned)election;
    c->heartbeat_ms = (unsigned)heartbeat;
    c->snapshot_threshold = (unsigned)snapshot;
    return 0;
}

struct cluster_options stage_member_options(const struct stage_config *c, unsigned id) {
    bool join = id > MEMBERS;
    return (struct cluster_options){.id = id,
                                    .peers = join ? c->joiners[id - MEMBERS - 1] : c->peers,
                                    .n_peers = join ? MEMBERS + 1 : MEMBERS,
                                    .join = join,
                                    .data_dir = c->dirs[id - 1],
                                    .election_ms = c->election_ms,
                                    .heartbeat_ms = c->heartbeat_ms,
                                    .snapshot_threshold = c->snapshot_threshold};
}
