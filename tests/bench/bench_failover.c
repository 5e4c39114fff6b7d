/*
 * bench_failover.c - the C side of 05's failover benchmarks: three nodes of
 * 05_application/counter on loopback (an epmd of its own), driven through
 * their shells, as the tour drives them. Prints, for tests/bench/run:
 *
 *   c failover_extra_ms V   kill -9 of a (running the counter) to the first
 *                           read from c that b's new instance answers (c's
 *                           shell polls every 1 ms), minus the
 *                           configured failover timeout; median of ROUNDS
 *                           (10) after one untimed
 *   c takeover_ms V         a started again (fork + exec) to the first read
 *                           that a's new instance answers; median
 *
 * The configs are the chapter's, with the failover timeout
 * BENCH_FAILOVER_MS (default 0, as BEAM's figure was measured). A read
 * through a shell costs a pipe round trip (tens of microseconds): the
 * figures are in milliseconds. Which instance answers is told by the
 * count: b's instance is ticked to 7 before the takeover, a's new one
 * answers 0.
 *
 * Usage: bench_failover PROG [ROUNDS]   Exit status: 0, 70 when a step failed.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "node.h"

#define WAIT_MS 60000       /* the most one step waits */
#define MAX_ROUNDS 50

/* A child: a node with its shell, or epmd. */
struct kid {
    pid_t pid;              /* 0: not running */
    int in, out;            /* its stdin; its stdout and stderr */
    char buf[1 << 18];      /* what it wrote since it started */
    size_t len;
    int prompt;             /* the number of its next prompt */
};

static struct kid kids[4];  /* a, b, c, epmd */
static char dir[64];        /* the configs */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void fail(const char *what)
{
    fprintf(stderr, "bench_failover: %s\n", what);
    for (int i = 0; i < 3; i++)
        if (kids[i].len)
            fprintf(stderr, "node %c wrote, last:\n%s\n", 'a' + i,
                    kids[i].buf + (kids[i].len > 600 ? kids[i].len - 600 : 0));
    for (int i = 0; i < 4; i++)
        if (kids[i].pid > 0)
            kill(kids[i].pid, SIGKILL);
    exit(70);
}

static void spawn(struct kid *k, char *const argv[])
{
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
        fail("pipe");
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        fail("fork");
    if (pid == 0) {     /* async-signal-safe calls only, until exec */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(70);
        dup2(in[0], 0), dup2(out[1], 1), dup2(out[1], 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(in[0]), close(out[1]);
    k->pid = pid, k->in = in[1], k->out = out[0], k->len = 0, k->prompt = 1;
    k->buf[0] = '\0';
}

static void kill_kid(struct kid *k)
{
    if (k->pid <= 0)
        return;
    kill(k->pid, SIGKILL);
    waitpid(k->pid, NULL, 0);
    close(k->in), close(k->out);
    k->pid = 0;
}

/* Reads what k writes until buf from offset from holds want. */
static void await(struct kid *k, size_t from, const char *want)
{
    for (double end = now_ms() + WAIT_MS; !strstr(k->buf + from, want);) {
        struct pollfd p = {k->out, POLLIN, 0};
        if (now_ms() > end || k->len + 1 >= sizeof k->buf)
            fail(want);
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = read(k->out, k->buf + k->len, sizeof k->buf - 1 - k->len);
        if (n <= 0)
            fail("a node ended");
        k->len += (size_t)n;
        k->buf[k->len] = '\0';
    }
}

/* Runs line in k's shell; returns where its reply starts in buf. */
static const char *run(struct kid *k, const char *line)
{
    char mine[16], next[16];
    snprintf(mine, sizeof mine, "%d> ", k->prompt);
    snprintf(next, sizeof next, "%d> ", ++k->prompt);
    await(k, 0, mine);
    if (getenv("BENCH_FAILOVER_LOG"))
        fprintf(stderr, "[%d] %.*s", (int)(k - kids), (int)k->len, k->buf);
    size_t keep = (size_t)(strstr(k->buf, mine) - k->buf);  /* drops what came before */
    memmove(k->buf, k->buf + keep, k->len - keep + 1);
    k->len -= keep;
    size_t from = k->len;
    if (dprintf(k->in, "%s\n", line) < 0)
        fail("write");
    await(k, from, next);
    return k->buf + from;
}

/* Reads on k every millisecond until the count is want; returns the time
 * it answered so. (A 1 ms pause, as bench_dist.erl's poller: a poller that
 * spins takes a core from the nodes it measures, on 2 cores.) */
static double read_until(struct kid *k, const char *want)
{
    char w[32];
    snprintf(w, sizeof w, "%s\n", want);
    for (double end = now_ms() + WAIT_MS; now_ms() < end;) {
        const char *r = run(k, "read");
        if (strncmp(r, w, strlen(w)) == 0)
            return now_ms();
        struct pollfd none = {-1, 0, 0};
        poll(&none, 1, 1);      /* the poll interval, not a synchronisation */
    }
    fail("the counter never answered");
    return 0;
}

static void start_epmd(void)
{
    char p[16];
    snprintf(p, sizeof p, "%d", node_free_port());
    spawn(&kids[3], (char *[]){"epmd", "-address", "127.0.0.1", "-port", p, NULL});
    for (double end = now_ms() + WAIT_MS; !node_port_answers(atoi(p));) {
        struct pollfd none = {-1, 0, 0};
        if (now_ms() > end || waitpid(kids[3].pid, NULL, WNOHANG) == kids[3].pid)
            fail("epmd did not start");
        poll(&none, 1, 5);      /* epmd gives no sign of being ready but this */
    }
    setenv("ERL_EPMD_PORT", p, 1);
}

/* Writes node l's config, failover timeout ms. */
static void write_config(char l, int ms)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%c.config", dir, l);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        fail("cannot write a config");
    fprintf(f, "[{kernel, [{distributed, [{counter, %d, [a@localhost, {b@localhost, "
               "c@localhost}]}]},\n  {sync_nodes_mandatory, [", ms);
    for (char o = 'a', n = 0; o <= 'c'; o++)
        if (o != l)
            fprintf(f, "%s%c@localhost", n++ ? ", " : "", o);
    fprintf(f, "]},\n  {sync_nodes_timeout, 30000}]}].\n");
    fclose(f);
}

/* Starts node i (0 a, 1 b, 2 c); returns when its shell is up. */
static void start_node(const char *prog, int i, bool wait)
{
    char name[32], config[128];
    snprintf(name, sizeof name, "%c@localhost", 'a' + i);
    snprintf(config, sizeof config, "%s/%c.config", dir, 'a' + i);
    spawn(&kids[i], (char *[]){(char *)prog, "--node", name, "--config", config, "--cookie",
                               "bench_failover_cookie", NULL});
    if (wait)
        await(&kids[i], 0, ": up;");
}

static int cmp(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_failover PROG [ROUNDS]\n");
        return 64;
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 10;
    rounds = rounds < 1 ? 1 : rounds > MAX_ROUNDS ? MAX_ROUNDS : rounds;
    const char *env = getenv("BENCH_FAILOVER_MS");
    int timeout = env ? atoi(env) : 0;
    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof dir, "/tmp/bench_failover.XXXXXX");
    if (mkdtemp(dir) == NULL)
        fail("mkdtemp");
    for (char l = 'a'; l <= 'c'; l++)
        write_config(l, timeout);
    start_epmd();
    for (int i = 0; i < 3; i++)
        start_node(argv[1], i, false);
    for (int i = 0; i < 3; i++)
        await(&kids[i], 0, ": up;");
    read_until(&kids[0], "0");
    double failover[MAX_ROUNDS + 1], takeover[MAX_ROUNDS + 1];
    for (int r = 0; r <= rounds; r++) {     /* round 0 warms up, untimed */
        double t0 = now_ms();
        kill_kid(&kids[0]);                     /* a runs it */
        failover[r] = read_until(&kids[2], "0") - t0 - timeout;   /* from c */
        run(&kids[1], "tick 7");                /* b's instance: 7 */
        read_until(&kids[1], "7");
        t0 = now_ms();
        start_node(argv[1], 0, false);
        takeover[r] = read_until(&kids[2], "0") - t0;   /* a's new instance */
        double end = now_ms() + WAIT_MS;       /* b has seen it move */
        while (strncmp(run(&kids[1], "where"), "a@localhost\n", 12) != 0)
            if (now_ms() > end)
                fail("b never saw the takeover");
    }
    for (int i = 0; i < 4; i++)
        kill_kid(&kids[i]);
    char rm[96];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    if (system(rm) != 0)
        fprintf(stderr, "bench_failover: could not remove %s\n", dir);
    qsort(failover + 1, (size_t)rounds, sizeof failover[0], cmp);
    qsort(takeover + 1, (size_t)rounds, sizeof takeover[0], cmp);
    printf("c failover_extra_ms %.1f\n", failover[1 + rounds / 2]);
    printf("c takeover_ms %.1f\n", takeover[1 + rounds / 2]);
    return 0;
}
