/*
 * tour.c - the chapter's tour. See tour.h.
 *
 * Each node is a child with two pipes: the tour writes shell commands to
 * its stdin and reads its stdout and stderr, merged. A node's shell
 * prompts "N> " without a newline; a command has run when the next prompt
 * has come. Whatever a node prints besides (counter_app's start and stop
 * lines, terminate's) is shown as it comes, marked with the node.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
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
#include "tour.h"

#define WAIT_MS 60000   /* the most any step waits for its event */

/* A child: a node (with its shell) or epmd. */
struct kid {
    const char *name;       /* a@localhost; "epmd" */
    pid_t pid;              /* 0: not running */
    int in, out;            /* its stdin (written), its output (read) */
    char buf[1 << 16];      /* what it wrote since it started */
    size_t len;
    size_t shown;           /* how much of buf is printed */
    int prompt;             /* the number of the prompt it shows next */
};

static struct kid kids[4];  /* a, b, c, epmd */
static volatile sig_atomic_t nkids;     /* how many of kids the handler kills */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- Children ------------------------------------------------------------ */

/* Starts argv as k, with pipes; the child dies with the tour. -1 on error. */
static int spawn(struct kid *k, char *const argv[])
{
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
        return -1;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {     /* only async-signal-safe calls until exec */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(70);
        dup2(in[0], 0), dup2(out[1], 1), dup2(out[1], 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    k->pid = pid, k->in = in[1], k->out = out[0], k->len = k->shown = 0, k->prompt = 1;
    k->buf[0] = '\0';          /* nothing of an earlier run of k */
    return 0;
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

/* SIGINT, SIGTERM: kill everything and leave (async-signal-safe calls only). */
static void on_signal(int sig)
{
    for (int i = 0; i < nkids; i++)
        if (kids[i].pid > 0)
            kill(kids[i].pid, SIGKILL);
    _exit(128 + sig);
}

/* ---- Reading what a node says -------------------------------------------- */

/* Reads what k wrote within ms (0: what is there). */
static void pump(struct kid *k, int ms)
{
    struct pollfd p = {k->out, POLLIN, 0};
    if (k->pid <= 0 || poll(&p, 1, ms) <= 0 || k->len + 1 >= sizeof k->buf)
        return;
    ssize_t n = read(k->out, k->buf + k->len, sizeof k->buf - 1 - k->len);
    if (n > 0)
        k->len += (size_t)n;
    k->buf[k->len] = '\0';
}

/* Prints k's whole new lines, each without the prompts at its start. */
static void show(struct kid *k, bool mark)
{
    char *line = k->buf + k->shown, *nl;
    while ((nl = memchr(line, '\n', k->len - (size_t)(line - k->buf))) != NULL) {
        char *s = line;
        for (char *p = s; p < nl && *p >= '0' && *p <= '9'; p++)
            if (p[1] == '>' && p[2] == ' ')
                s = p + 3, p = s - 1;
        if (nl > s && mark)
            printf("   [%c] %.*s\n", k->name[0], (int)(nl - s), s);
        else if (nl > s)
            printf("   %.*s\n", (int)(nl - s), s);
        line = nl + 1;
    }
    k->shown = (size_t)(line - k->buf);
    fflush(stdout);
}

/* Waits until k's output from offset from holds want, showing what comes.
 * True when it did within WAIT_MS. */
static bool await(struct kid *k, size_t from, const char *want)
{
    for (int64_t end = now_ms() + WAIT_MS; now_ms() < end;) {
        if (strstr(k->buf + from, want))
            return true;
        if (k->pid <= 0)
            return false;
        for (int i = 0; i < 3; i++)
            if (kids[i].pid > 0) {
                pump(&kids[i], &kids[i] == k ? 20 : 0);
                if (&kids[i] != k)
                    show(&kids[i], true);
            }
        if (k->pid > 0 && waitpid(k->pid, NULL, WNOHANG) == k->pid) {
            k->pid = 0;
            return strstr(k->buf + from, want) != NULL;
        }
    }
    return false;
}

/* Runs cmd in k's shell, shows it and what it printed. */
static bool run(struct kid *k, const char *cmd)
{
    show(k, true);
    printf("(%s)%d> %s\n", k->name, k->prompt, cmd);
    size_t from = k->len;
    char want[16];
    snprintf(want, sizeof want, "%d> ", ++k->prompt);
    if (dprintf(k->in, "%s\n", cmd) < 0 || !await(k, from, want)) {
        printf("tour: %s did not answer %s\n", k->name, cmd);
        return false;
    }
    show(k, false);
    return true;
}

/* ---- The steps ----------------------------------------------------------- */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%%%% ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

/* epmd on a port of the tour's own; sets ERL_EPMD_PORT. */
static bool start_epmd(struct kid *k)
{
    char p[16];
    snprintf(p, sizeof p, "%d", node_free_port());
    k->name = "epmd";
    if (spawn(k, (char *[]){"epmd", "-address", "127.0.0.1", "-port", p, NULL}) < 0)
        return false;
    for (int64_t end = now_ms() + WAIT_MS; now_ms() < end; pump(k, 5)) {
        if (node_port_answers(atoi(p)))
            return setenv("ERL_EPMD_PORT", p, 1) == 0;
        if (waitpid(k->pid, NULL, WNOHANG) == k->pid)
            break;      /* no epmd, or the port was taken meanwhile */
    }
    k->pid = 0;
    return false;
}

struct tour {
    const char *exe, *dir;  /* this program; the folder of the configs */
    char cookie[64];        /* the three nodes' cookie */
};

/* Starts node i (0 a, 1 b, 2 c) and, when wait, waits for it to be up. */
static bool start_node(const struct tour *t, int i, bool wait)
{
    static const char *names[] = {"a@localhost", "b@localhost", "c@localhost"};
    char config[4096];
    snprintf(config, sizeof config, "%s/%c.config", t->dir, names[i][0]);
    struct kid *k = &kids[i];
    k->name = names[i];
    say("$ counter --node %s --config %c.config --cookie ...", names[i], names[i][0]);
    if (spawn(k, (char *[]){(char *)t->exe, "--node", (char *)names[i], "--config", config,
                            "--cookie", (char *)t->cookie, NULL}) < 0)
        return false;
    return !wait || await(k, 0, ": up;");
}

static bool steps_start(const struct tour *t)
{
    say("Three nodes of this program, each with the same distributed entry:");
    say("{counter, 5000, [a@localhost, {b@localhost, c@localhost}]}, each waiting");
    say("for the other two (sync_nodes_mandatory) before it decides.");
    for (int i = 0; i < 3; i++)
        if (!start_node(t, i, false))
            return false;
    for (int i = 0; i < 3; i++)
        if (!await(&kids[i], 0, ": up;"))
            return false;
    for (int i = 0; i < 3; i++)
        show(&kids[i], true);
    say("a, first in the list, runs the counter; read and tick work from every node.");
    return run(&kids[0], "where") && run(&kids[2], "tick 5") && run(&kids[2], "read") &&
           run(&kids[1], "tick 2") && run(&kids[1], "read") && run(&kids[0], "read") &&
           run(&kids[0], "apps");
}

static bool steps_failover(void)
{
    say("kill -9 the node running the counter, a. b and c see it go at once;");
    say("they wait the failover timeout, 5000 ms, then b (equal to c, and");
    say("earlier in the list) starts it as {failover, a@localhost}.");
    size_t from = kids[1].len;
    int64_t t0 = now_ms();
    printf("$ kill -9 %d   # a@localhost\n", (int)kids[0].pid);
    kill_kid(&kids[0]);
    if (!await(&kids[1], from, "start({failover,a@localhost}"))
        return false;
    show(&kids[1], true);
    int64_t ms = now_ms() - t0;
    say("b started it %.1f s after the kill. The count is lost: back at 0.", (double)ms / 1000);
    return run(&kids[1], "where") && run(&kids[2], "read") && run(&kids[2], "tick 3") &&
           run(&kids[1], "read");
}

static bool steps_takeover(const struct tour *t)
{
    say("Start a again. It learns from b and c that b runs the counter, and");
    say("takes it over: its instance starts first ({takeover, b@localhost}),");
    say("then b stops its own.");
    size_t from = kids[1].len;
    if (!start_node(t, 0, true) || !await(&kids[0], 0, "start({takeover,b@localhost}") ||
        !await(&kids[1], from, "counter_app: stop"))
        return false;
    show(&kids[0], true);
    show(&kids[1], true);
    say("a runs it again, at 0.");
    return run(&kids[0], "where") && run(&kids[2], "where") && run(&kids[1], "read");
}

int tour_run(const char *exe, const char *dir)
{
    struct tour t = {.exe = exe, .dir = dir};
    snprintf(t.cookie, sizeof t.cookie, "tour_%d_%lld", (int)getpid(), (long long)now_ms());
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    nkids = 4;
    if (!start_epmd(&kids[3])) {
        fprintf(stderr, "tour: cannot start epmd (apt-get install erlang-base)\n");
        return 69;
    }
    bool ok = steps_start(&t) && steps_failover() && steps_takeover(&t);
    if (!ok)
        printf("tour: a step failed; stopping everything\n");
    else
        say("Stopping the three nodes and epmd: nothing is left running.");
    for (int i = 0; i < 4; i++)
        kill_kid(&kids[i]);
    return ok ? 0 : 1;
}
