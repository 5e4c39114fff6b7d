/*
 * bench_dist.c - the C side of the distribution benchmark: a gen_server
 * call from one C node to 03's counter on another, over loopback.
 *
 * Usage: bench_dist [CALLS]        (default 20000; prints the lines below)
 *        bench_dist serve NAME     (the server node; what the first starts)
 *
 * The first form starts an epmd of its own on a free port (ERL_EPMD_PORT),
 * the server node as a child process (this program again, "serve"), and its
 * own node; then, in a process, makes WARMUP untimed and CALLS timed
 * gen_server_call({global, counter}, read) calls (the server registers its
 * counter as global counter; bench_dist.erl calls the same way), and prints
 *
 *     c remote_call_rtt_us <median>
 *     c remote_call_rtt_p99_us <p99>
 *
 * (tenths of a microsecond are dropped: the lines carry whole µs, as the
 * BEAM's). Both nodes run on 2 schedulers (as erl +S 2). Everything it
 * started is stopped at the end, and when it fails or is interrupted: the
 * children die with it (PR_SET_PDEATHSIG), and exit paths kill them first.
 * Exit status: 0, or 70 when something failed (a line on stderr says what).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "03_gen_server/counter.h"
#include "erl.h"
#include "global.h"
#include "node.h"

enum {
    WARMUP = 2000,          /* untimed calls before the timed ones */
    DEFAULT_CALLS = 20000,  /* timed calls (issue 7: 20 000) */
    READY_MS = 20000,       /* the most the server may take to start */
    CALL_MS = 5000,         /* one call's timeout */
    EPMD_BASE = 24000,      /* epmd's port is in [EPMD_BASE, + EPMD_SPAN) */
    EPMD_SPAN = 2000,
};

#define COOKIE "bench_dist_cookie"
#define SERVER "bench_srv@localhost"
#define CLIENT "bench_cli@localhost"

/* ---- Children ------------------------------------------------------------ */

/* The children this run started, killed by kill_children on every way out:
 * 0 when none (written by the main thread only, read by the signal
 * handler). */
static volatile pid_t epmd_pid, server_pid;
static int server_out = -1;     /* the server's stdout, which we read */

static int64_t clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Kills and reaps the children. Async-signal-safe. */
static void kill_children(void)
{
    pid_t v[2] = {server_pid, epmd_pid};    /* epmd last */
    for (int i = 0; i < 2; i++) {
        if (v[i] > 0) {
            kill(v[i], SIGKILL);
            waitpid(v[i], NULL, 0);
        }
    }
    server_pid = epmd_pid = 0;
}

static void on_signal(int sig)
{
    kill_children();
    signal(sig, SIG_DFL);
    raise(sig);
}

static _Noreturn void fail(const char *fmt, const char *what)
{
    fprintf(stderr, "bench_dist: ");
    fprintf(stderr, fmt, what);
    fputc('\n', stderr);
    kill_children();
    exit(70);
}

/* Starts argv with its stdout and stderr on a pipe whose reading end goes
 * to *out (read until the child is ready; what it says later, such as its
 * log line when our node leaves, stays unread), or (out NULL) on
 * /dev/null; the child dies with us. Returns its pid. */
static pid_t start_child(char *const argv[], int *out)
{
    int p[2] = {-1, -1};
    if (out ? pipe2(p, O_CLOEXEC) < 0 : (p[1] = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0)
        fail("pipe: %s", strerror(errno));
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        fail("fork: %s", strerror(errno));
    if (pid == 0) {     /* only async-signal-safe calls until exec */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(70);
        dup2(p[1], 1);
        dup2(p[1], 2);  /* epmd logs every probe of its port */
        execvp(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    if (out)
        *out = p[0];
    return pid;
}

/* Starts an epmd of our own on a free port and points ERL_EPMD_PORT at it
 * (the children inherit it). */
static void start_epmd(void)
{
    for (int i = 0; i < 64; i++) {
        int port = EPMD_BASE + (int)(((unsigned)getpid() * 7919u + (unsigned)i) % EPMD_SPAN);
        if (node_port_answers(port))
            continue;
        char p[16];
        snprintf(p, sizeof p, "%d", port);
        epmd_pid = start_child((char *[]){"epmd", "-port", p, NULL}, NULL);
        int64_t end = clock_ns() + (int64_t)READY_MS * 1000000;
        while (!node_port_answers(port) && clock_ns() < end &&
               waitpid(epmd_pid, NULL, WNOHANG) == 0)
            poll(NULL, 0, 5);   /* epmd gives no sign of being ready but this */
        if (waitpid(epmd_pid, NULL, WNOHANG) == 0 && node_port_answers(port)) {
            setenv("ERL_EPMD_PORT", p, 1);
            return;
        }
        epmd_pid = 0;   /* it lost the port to another: the next */
    }
    fail("%s", "no free port for epmd");
}

/* Waits until the server prints "ready", or fails. */
static void await_server(void)
{
    char text[4096];
    size_t len = 0;
    int64_t end = clock_ns() + (int64_t)READY_MS * 1000000;
    while (len + 1 < sizeof text) {
        text[len] = '\0';
        if (strstr(text, "ready"))
            return;
        int left = (int)((end - clock_ns()) / 1000000);
        if (left <= 0)
            break;
        struct pollfd p = {server_out, POLLIN, 0};
        if (poll(&p, 1, left) <= 0)
            continue;
        ssize_t n = read(server_out, text + len, sizeof text - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    text[len] = '\0';
    fail("the server node never became ready; it wrote: %s", text);
}

/* ---- The server ---------------------------------------------------------- */

/* bench_dist serve NAME: 03's counter on node NAME until stdin closes or it
 * is killed. */
static int serve(const char *name)
{
    struct erl_options eo = {.schedulers = 2};
    struct node_options no = {.name = name, .cookie = COOKIE};
    term error = NONE;
    if (erl_start(&eo) < 0 || node_start(&no) < 0) {
        perror("bench_dist serve: starting the node");
        return 70;
    }
    term pid = gen_server_start(COUNTER, &counter_module, INT(0), 0, &error);
    if (is_none(pid)) {
        char why[256];
        term_format(why, sizeof why, error);
        fprintf(stderr, "bench_dist serve: the counter did not start: %s\n", why);
        return 70;
    }
    if (global_register_name(COUNTER, pid) < 0) {
        perror("bench_dist serve: global_register_name(counter)");
        return 70;
    }
    printf("ready %s\n", name);
    fflush(stdout);
    for (;;)
        pause();
}

/* ---- The client ---------------------------------------------------------- */

/* What the caller process fills in, main reads after its 'DOWN'. */
struct job {
    int64_t *times;     /* ns per timed call */
    int calls;          /* how many */
    char error[256];    /* a failed call's error, or "" */
};

/* The caller process: connects (a call to {counter, Server}), waits until
 * the server's global counter is known here, then WARMUP untimed and
 * job->calls timed calls of read to {global, counter}. */
static void caller(term arg)
{
    struct job *job = (struct job *)(intptr_t)arg.u.integer;
    term error = NONE;
    term n = gen_server_call(TUPLE(COUNTER, ATOM(SERVER)), ATOM("read"), CALL_MS, &error);
    if (is_none(n)) {
        term_format(job->error, sizeof job->error, error);
        return;
    }
    int64_t end = clock_ns() + (int64_t)READY_MS * 1000000;
    while (is_none(global_whereis_name(COUNTER)) && clock_ns() < end)
        erl_sleep(1);   /* the names come just after the connection */
    if (is_none(global_whereis_name(COUNTER))) {
        snprintf(job->error, sizeof job->error, "global counter never known here");
        return;
    }
    term server = TUPLE(ATOM("global"), COUNTER);
    for (int i = -WARMUP; i < job->calls; i++) {
        int64_t t0 = clock_ns();
        term n = gen_server_call(server, ATOM("read"), CALL_MS, &error);
        int64_t t = clock_ns() - t0;
        if (!is_int(n) || n.u.integer != 0) {
            term_format(job->error, sizeof job->error, is_none(n) ? error : n);
            return;
        }
        if (i >= 0)
            job->times[i] = t;
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The p-th percentile of the sorted n values at v. */
static int64_t percentile(const int64_t *v, size_t n, int p)
{
    size_t i = n * (size_t)p / 100;
    return v[i < n ? i : n - 1];
}

/* Runs the caller in a process and waits for it to end. */
static void measure(struct job *job)
{
    term ref, reason;
    term pid = erl_spawn_opt("bench_dist", caller, INT((intptr_t)job), ERL_MONITOR, &ref);
    if (is_none(pid))
        fail("%s", "cannot spawn the caller");
    erl_drop(erl_receive(TUPLE(ATOM("DOWN"), ref, ANY, ANY, VAR(&reason)), ERL_INFINITY));
    if (job->error[0])
        fail("a call failed: %s", job->error);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "serve") == 0)
        return serve(argv[2]);
    struct job job = {.calls = argc > 1 ? atoi(argv[1]) : DEFAULT_CALLS};
    if (argc > 2 || job.calls <= 0) {
        fprintf(stderr, "usage: bench_dist [CALLS] | bench_dist serve NAME\n");
        return 64;
    }
    job.times = calloc((size_t)job.calls, sizeof *job.times);
    if (!job.times)
        fail("%s", "out of memory");
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    start_epmd();
    server_pid = start_child((char *[]){argv[0], "serve", SERVER, NULL}, &server_out);
    await_server();

    struct erl_options eo = {.schedulers = 2};
    struct node_options no = {.name = CLIENT, .cookie = COOKIE};
    if (erl_start(&eo) < 0)
        fail("erl_start: %s", strerror(errno));
    if (node_start(&no) < 0)
        fail("node_start: %s", strerror(errno));
    measure(&job);
    erl_stop();
    kill_children();

    qsort(job.times, (size_t)job.calls, sizeof *job.times, cmp_i64);
    size_t n = (size_t)job.calls;
    fprintf(stderr, "bench_dist: %d calls: p50 %.1f p90 %.1f p99 %.1f p99.9 %.1f max %.1f us\n",
            job.calls, percentile(job.times, n, 50) / 1e3, percentile(job.times, n, 90) / 1e3,
            percentile(job.times, n, 99) / 1e3, job.times[n - 1 - n / 1000] / 1e3,
            job.times[n - 1] / 1e3);
    if (getenv("BENCH_DIST_HIST")) {   /* where the slow calls lie */
        static const int edge[] = {50, 100, 200, 500, 1000, 1500, 2000, 2500, 3000, 5000, 1 << 30};
        size_t k = 0;
        for (size_t e = 0; e < sizeof edge / sizeof *edge; e++) {
            size_t from = k;
            while (k < n && job.times[k] < (int64_t)edge[e] * 1000)
                k++;
            fprintf(stderr, "  < %d us: %zu\n", edge[e], k - from);
        }
    }
    printf("c remote_call_rtt_us %.0f\n", percentile(job.times, n, 50) / 1e3);
    printf("c remote_call_rtt_p99_us %.0f\n", percentile(job.times, n, 99) / 1e3);
    free(job.times);
    return 0;
}
