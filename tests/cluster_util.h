/*
 * cluster_util.h - what the 06_cluster suites share: real members
 * (06_cluster/counter --serve I, child processes) on loopback, each test
 * with its own epmd, Raft ports and data directories; the test's process
 * is a client node, t@localhost. Liveness is waited for with generous
 * deadlines only (LONG_MS).
 *
 * Include it once, from a suite file, after node_util.h.
 */
#ifndef CLUSTER_UTIL_H
#define CLUSTER_UTIL_H

#include <dirent.h>

#include "cluster_members.h"

static bool raft_ports_free(int base) {
    for (int i = 1; i <= MEMBERS + 1; i++)     /* the three and a joiner */
        if (node_port_answers(base + i))
            return false;
    return true;
}

static void setup(void) {
    start_epmd(43900);
    /* Raft ports near epmd's, which start_epmd chose for this test alone,
     * below the ephemeral range (32768-60999 here): at 47000 a member
     * started or restarted now and then found its port taken by another's
     * outgoing connection ({raft,18,<<" (I/O error)">>}) */
    int base = 24000 + (epmd_port_used - 43900) % 800 * 10;    /* 9 ids each */
    cr_assert(raft_ports_free(base), "Raft ports %d.. are taken", base + 1);
    char p[16];
    snprintf(p, sizeof p, "%d", base);
    setenv("COUNTER_RAFT_PORT", p, 1);
    start_test_node("t06", SELF_NAME);
}

static void teardown(void) {
    erl_stop();
    kill_children();
    nftw(data_root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Starts member id without waiting for it (over MEMBERS: it joins). */
static void spawn_member(unsigned id) {
    char ids[4];
    snprintf(ids, sizeof ids, "%u", id);
    member[id] = spawn_child((char *[]){MEMBER_BIN, "--serve", ids, NULL});
}

/* Waits (LONG_MS: a member loads its whole log before it says so) until
 * member id says it is up. */
static void await_ready(unsigned id) {
    char ready[16];
    snprintf(ready, sizeof ready, "ready c%u", id);
    int64_t t0 = now_ns();
    cr_assert(child_says(member[id], ready, LONG_MS), "c%u never said it was up; it wrote:\n%s",
              id, member[id]->text);
    int64_t ms = (now_ns() - t0) / 1000000;
    if (ms > 2000)
        cr_log_info("c%u took %lld ms to start", id, (long long)ms);
}

static void start_member(unsigned id) {
    spawn_member(id);
    await_ready(id);
}

static void kill_member(unsigned id) {
    kill_child(member[id]);
    member[id] = NULL;
}

/* A call that must succeed (within LONG_MS): its value. */
static int64_t must(term v, term error, const char *what) {
    cr_assert(!is_none(v), "%s failed: %s", what, FMT(error));
    cr_assert(is_int(v), "%s returned %s", what, FMT(v));
    return v.u.integer;
}

/* Closes member id's input, which makes it stop its member (cluster_stop)
 * and exit; returns its exit status once it has (within LONG_MS). */
static int stop_member_cleanly(unsigned id) {
    struct child *ch = member[id];
    close(ch->in);
    int status = -1;
    for (int64_t end = now_ns() + (int64_t)LONG_MS * 1000000; now_ns() < end;) {
        pid_t p = waitpid(ch->pid, &status, WNOHANG);
        cr_assert_neq(p, -1, "waitpid: %s", strerror(errno));
        if (p == ch->pid)
            break;
        child_says(ch, "\x01", 10);  /* reads what it writes meanwhile, 10 ms */
    }
    cr_assert(WIFEXITED(status), "c%u did not exit (status %d); it wrote:\n%s", id, status,
              ch->text);
    child_says(ch, "\x01", 0);
    cr_assert(!sanitizer_report(ch->text), "c%u's sanitizer report:\n%s", id, ch->text);
    if (WEXITSTATUS(status) != 0)
        cr_log_error("c%u exited with %d; it wrote:\n%s", id, WEXITSTATUS(status), ch->text);
    close(ch->out);
    ch->pid = 0;
    member[id] = NULL;
    return WEXITSTATUS(status);
}

#endif
