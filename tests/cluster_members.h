/*
 * cluster_members.h - what every 06_cluster suite keeps of its members,
 * wherever they run (loopback: cluster_util.h; network namespaces:
 * test_06_cluster_partition.c): the stage's config, the member children by
 * id, their data directories, and the waits on what the members say.
 * Liveness is waited for with generous deadlines only (LONG_MS).
 *
 * Include it once, from a suite file, after node_util.h.
 */
#ifndef CLUSTER_MEMBERS_H
#define CLUSTER_MEMBERS_H

#include <ftw.h>
#include <sys/stat.h>

#include "06_cluster/config.h"
#include "06_cluster/counter.h"

#define MEMBER_BIN BIN_ROOT "/06_cluster/counter"
#define LONG_MS 60000       /* the most a liveness step may take */

static struct stage_config cfg;
static struct child *member[MAX_MEMBER_ID + 1];    /* by id; NULL: not running */
static char data_root[64];

/* nftw's callback that removes a data directory's entries. */
static int rm_one(const char *p, const struct stat *s, int f, struct FTW *w) {
    (void)s, (void)f, (void)w;
    return remove(p);
}

/* The part of a suite's setup that does not depend on where its members
 * run: a fresh data directory /dev/shm/<prefix>-XXXXXX for the members
 * (COUNTER_DATA_DIR), timeouts a loaded machine under a sanitizer keeps up
 * with, the stage's config (cfg) read from the environment the caller set
 * up, the runtime, and this process's node under node_name. */
static void start_test_node(const char *prefix, const char *node_name) {
    snprintf(data_root, sizeof data_root, "/dev/shm/%s-XXXXXX", prefix);
    cr_assert_not_null(mkdtemp(data_root));
    setenv("COUNTER_DATA_DIR", data_root, 1);
    setenv("COUNTER_ELECTION_MS", "50", 1);
    setenv("COUNTER_HEARTBEAT_MS", "10", 1);
    cr_assert_eq(stage_config_load(&cfg), 0);
    start_runtime();
    struct node_options o = {.name = node_name, .cookie = COUNTER_COOKIE};
    cr_assert_eq(node_start(&o), 0, "node_start failed: %s", strerror(errno));
}

/* Starts member id as a child process, ready when it returns: each suite
 * has its own (loopback: cluster_util.h; the partition suite's, in a
 * network namespace). */
static void start_member(unsigned id);

/* Starts the MEMBERS members of the initial configuration, and makes *c a
 * client of theirs. */
static void start_all(struct cluster_client *c) {
    for (unsigned id = 1; id <= MEMBERS; id++)
        start_member(id);
    cluster_client_init(c, COUNTER, cfg.node_names, MEMBERS);
}

static unsigned id_of(term node) {
    for (unsigned i = 0; i < MAX_MEMBER_ID; i++)
        if (is_atom_named(node, cfg.nodes[i]))
            return i + 1;
    return 0;
}

/* The leading member's id, once one says it leads (within LONG_MS). */
static unsigned await_leader(struct cluster_client *c) {
    for (int64_t end = now_ns() + (int64_t)LONG_MS * 1000000; now_ns() < end;) {
        term l = cluster_leader(c, 2000);
        if (!is_none(l))
            return id_of(l);
        erl_sleep(10);      /* between rounds of asking */
    }
    cr_assert_fail("no member said it leads within %d ms", LONG_MS);
    return 0;
}

/* Waits until member id's own copy of the count is want. */
static void await_state(struct cluster_client *c, unsigned id, int64_t want) {
    term s = NONE, error = NONE;
    for (int64_t end = now_ns() + (int64_t)LONG_MS * 1000000; now_ns() < end;) {
        erl_drop(error);
        error = NONE;
        s = cluster_member_state(c, cfg.nodes[id - 1], 2000, &error);
        if (is_int(s) && s.u.integer == want)
            return;
        erl_sleep(10);      /* between two looks */
    }
    child_says(member[id], "\x01", 0);
    cr_assert_fail("c%u's count never became %lld (last seen %s, %s); it wrote:\n%s", id,
                   (long long)want, FMT(s), FMT(error), member[id]->text);
}

#endif
