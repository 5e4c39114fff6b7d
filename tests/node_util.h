/*
 * node_util.h - what the node suites share: an epmd of each test's own,
 * child processes (C peers, erl) that die with the test, and the node
 * under test started in the test's process.
 *
 * Every test gets its own epmd on a port of its own (ERL_EPMD_PORT), so
 * tests and suites running at once never see each other's nodes. Children
 * are started with fork + exec (the child does nothing but prctl, dup2 and
 * exec between the two) and told to die with the test (PR_SET_PDEATHSIG);
 * the fixture's fini kills those still alive, epmd last.
 */
#ifndef NODE_UTIL_H
#define NODE_UTIL_H

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "erl.h"
#include "node.h"
#include "test_util.h"

#define COOKIE "node_suite_cookie"
#define SELF_NAME "t@localhost"

/* A child process and its pipes. */
struct child {
    pid_t pid;          /* 0: none */
    int in;             /* its stdin (we write; closing it ends a peer) */
    int out;            /* its stdout and stderr, merged (we read) */
    char text[16384];   /* what it wrote so far */
    size_t len;
};

#define MAX_CHILDREN 6
static struct child children[MAX_CHILDREN];
static struct child epmd_child;
static int epmd_port_used;

/* Starts argv as a child with pipes; returns it, or fails the test. */
static struct child *spawn_into(struct child *c, char *const argv[]) {
    int in[2], out[2];
    cr_assert_eq(pipe2(in, O_CLOEXEC), 0);
    cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
    pid_t parent = getpid();
    pid_t pid = fork();
    cr_assert_neq(pid, -1, "fork: %s", strerror(errno));
    if (pid == 0) {     /* only async-signal-safe calls until exec */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(70);
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(out[1], 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    *c = (struct child){.pid = pid, .in = in[1], .out = out[0]};
    return c;
}

static struct child *spawn_child(char *const argv[]) {
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i].pid == 0)
            return spawn_into(&children[i], argv);
    cr_assert_fail("more than %d children", MAX_CHILDREN);
    return NULL;
}

/* Reads what c wrote, for up to ms; true once text holds want. */
static bool child_says(struct child *c, const char *want, int ms) {
    int64_t end = now_ns() + (int64_t)ms * 1000000;
    for (;;) {
        c->text[c->len] = '\0';
        if (strstr(c->text, want))
            return true;
        int left = (int)((end - now_ns()) / 1000000);
        if (left <= 0 || c->len + 1 >= sizeof c->text)
            return false;
        struct pollfd p = {c->out, POLLIN, 0};
        if (poll(&p, 1, left) <= 0)
            continue;
        ssize_t n = read(c->out, c->text + c->len, sizeof c->text - 1 - c->len);
        if (n <= 0)
            return strstr(c->text, want) != NULL;
        c->len += (size_t)n;
    }
}

/* Asserts that c writes want within WAIT_MS. */
static inline void expect_child_says(struct child *c, const char *want) {
    cr_assert(child_says(c, want, WAIT_MS), "the child never wrote \"%s\"; it wrote:\n%s",
              want, c->text);
}

/* True when text holds a sanitizer's report (the patterns run_suites
 * looks for). */
static bool sanitizer_report(const char *text) {
    return strstr(text, "ERROR: AddressSanitizer") || strstr(text, "ERROR: LeakSanitizer") ||
           strstr(text, "WARNING: ThreadSanitizer") || strstr(text, "runtime error:");
}

/* Kills c and reads what it wrote to the end: a sanitizer's report in a
 * child goes to this test's stderr, where run_suites sees it. */
static void kill_child(struct child *c) {
    if (c->pid <= 0)
        return;
    kill(c->pid, SIGKILL);
    waitpid(c->pid, NULL, 0);
    c->text[c->len] = '\0';
    bool report = sanitizer_report(c->text);
    char rest[4096];
    ssize_t n;
    while ((n = read(c->out, rest, sizeof rest - 1)) > 0) {
        rest[n] = '\0';
        report = report || sanitizer_report(rest);
    }
    if (report)
        fprintf(stderr, "a child's sanitizer report:\n%s\n", c->text);
    close(c->in);
    close(c->out);
    c->pid = 0;
}

/* Starts an epmd of this test's own, on a port in [base, base + 800) that
 * nobody else holds, and points ERL_EPMD_PORT at it. */
static void start_epmd(int base) {
    unsigned h = 2166136261u;
    for (const char *s = criterion_current_test->name; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    for (int i = 0; i < 800; i++) {
        int port = base + (int)((h + (unsigned)i) % 800);
        if (node_port_answers(port))
            continue;
        char p[16];
        snprintf(p, sizeof p, "%d", port);
        spawn_into(&epmd_child, (char *[]){"epmd", "-port", p, NULL});
        int64_t end = now_ns() + (int64_t)WAIT_MS * 1000000;
        while (!node_port_answers(port) && now_ns() < end &&
               waitpid(epmd_child.pid, NULL, WNOHANG) == 0)
            poll(NULL, 0, 5);   /* epmd gives no sign of being ready but this */
        if (waitpid(epmd_child.pid, NULL, WNOHANG) == 0 && node_port_answers(port)) {
            setenv("ERL_EPMD_PORT", p, 1);
            epmd_port_used = port;
            return;
        }
        epmd_child.pid = 0;     /* it lost the port to another: the next */
    }
    cr_assert_fail("no free port for epmd");
}

/* The port of an epmd a test let node_start start as a daemon (not our
 * child: it is stopped with epmd -kill), or 0. */
static int daemon_port;

/* Stops the daemon on daemon_port. epmd kills itself only once it has
 * seen every node's registration close, which it may not have yet: ask
 * until it does. True when it stopped. */
static bool kill_epmd_daemon(void);

/* Kills every child, then epmd (and a daemon a test started). */
static void kill_children(void) {
    for (int i = 0; i < MAX_CHILDREN; i++)
        kill_child(&children[i]);
    kill_child(&epmd_child);
    if (daemon_port)
        kill_epmd_daemon();
}

static bool kill_epmd_daemon(void) {
    char p[16];
    snprintf(p, sizeof p, "%d", daemon_port);
    bool killed = false;
    for (int64_t end = now_ns() + (int64_t)WAIT_MS * 1000000; !killed && now_ns() < end;) {
        struct child *k = spawn_child((char *[]){"epmd", "-port", p, "-kill", NULL});
        killed = child_says(k, "Killed", WAIT_MS);
        kill_child(k);
    }
    if (killed)
        daemon_port = 0;
    return killed;
}

#ifdef NODE_PEER     /* the suites that run tests/node_peer.c */
/* Starts a C peer called name; waits for it to be ready. */
static struct child *start_peer(const char *name, const char *cookie, int tick_ms,
                                const char *hello) {
    char tick[16];
    snprintf(tick, sizeof tick, "%d", tick_ms);
    struct child *c = spawn_child((char *[]){NODE_PEER, (char *)name, (char *)cookie, tick,
                                             (char *)hello, NULL});
    char ready[128];
    snprintf(ready, sizeof ready, "ready %s", name);
    expect_child_says(c, ready);
    return c;
}

#endif

/* Starts this process's node, SELF_NAME, with the given tick. */
static inline void start_self(int tick_ms) {
    struct node_options o = {.name = SELF_NAME, .cookie = COOKIE, .tick_ms = tick_ms};
    cr_assert_eq(node_start(&o), 0, "node_start failed: %s", strerror(errno));
}

/* The interop suites' process for erl to watch (registered as victim):
 * {whois, From} -> From ! {victim_is, Self}; {die, R} -> exit(R). */
static inline void erl_victim(term arg) {
    (void)arg;
    for (;;) {
        term from, reason;
        term m = erl_receive(ANY, ERL_INFINITY);
        if (match(m, TUPLE(ATOM("whois"), VAR(&from))))
            erl_send(from, TUPLE(ATOM("victim_is"), erl_self()));
        else if (match(m, TUPLE(ATOM("die"), VAR(&reason))))
            erl_exit_self(reason);
        erl_drop(m);
    }
}

#endif
