/*
 * tour.c - the tour. See tour.h.
 *
 * Nothing here sleeps to wait for something: every wait polls for the
 * event (a line from a child, a port that answers, a leader, a member's
 * state) with a generous deadline, and says what it waited for when the
 * deadline passes.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "counter.h"
#include "node.h"
#include "shell.h"
#include "tour.h"

#define WAIT_MS 20000       /* the most any one step may take */

/* A process the tour started. */
struct kid {
    pid_t pid;      /* 0: not running */
    int in;         /* its stdin: closing it stops a member */
    int out;        /* its stdout */
};

/* What the tour started: the interrupt handler kills these. */
static volatile pid_t started[MEMBERS + 1];     /* members 1..3, epmd at 0 */
static struct kid kids[MEMBERS + 1];
static char data_root[128];

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Ctrl-C or kill: ends what the tour started, removes the data (with rm:
 * only async-signal-safe calls here), then ends the tour. */
static void interrupted(int sig) {
    (void)sig;
    for (int i = 0; i <= MEMBERS; i++)
        if (started[i] > 0) {
            kill(started[i], SIGKILL);
            waitpid(started[i], NULL, 0);
        }
    if (data_root[0]) {
        pid_t rm = fork();
        if (rm == 0) {
            execl("/bin/rm", "rm", "-rf", data_root, (char *)NULL);
            _exit(127);
        }
        if (rm > 0)
            waitpid(rm, NULL, 0);
    }
    _exit(130);
}

/* Starts argv as kids[slot], stdin and stdout piped, stderr ours. It dies
 * with the tour (PR_SET_PDEATHSIG). */
static int spawn(int slot, char *const argv[], bool quiet) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0)
        return -1;
    pid_t parent = getpid(), pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(70);
        dup2(in[0], 0);
        dup2(out[1], 1);
        if (quiet)      /* epmd's chatter about the probes of its port */
            dup2(out[1], 2);
        execv(argv[0], argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    kids[slot] = (struct kid){pid, in[1], out[0]};
    started[slot] = pid;
    return 0;
}

/* Waits until kids[slot] writes a line holding want. */
static bool kid_says(int slot, const char *want) {
    char text[4096];
    size_t len = 0;
    for (int64_t end = now_ms() + WAIT_MS; now_ms() < end;) {
        struct pollfd p = {kids[slot].out, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = read(kids[slot].out, text + len, sizeof text - 1 - len);
        if (n <= 0)
            return false;
        len += (size_t)n;
        text[len] = '\0';
        if (strstr(text, want))
            return true;
    }
    return false;
}

/* Ends kids[slot]: closes its stdin (a member stops cleanly), then kills
 * it if it is still there after a while. */
static void stop_kid(int slot, bool hard) {
    struct kid *k = &kids[slot];
    if (k->pid <= 0)
        return;
    if (hard)
        kill(k->pid, SIGKILL);
    close(k->in);
    int64_t end = now_ms() + 5000;
    while (waitpid(k->pid, NULL, WNOHANG) == 0) {
        if (now_ms() > end) {
            kill(k->pid, SIGKILL);
            waitpid(k->pid, NULL, 0);
            break;
        }
        poll(NULL, 0, 10);  /* a child gives no other sign of its end */
    }
    close(k->out);
    started[slot] = 0;
    k->pid = 0;
}

/* True when a TCP port on loopback can be bound now (nobody holds it). */
static bool port_free(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *f) {
    (void)st, (void)flag, (void)f;
    remove(path);
    return 0;
}

/* Picks free ports, starts epmd, sets the environment the members read. */
static int setup_places(void) {
    int epmd = 0, raft = 0;
    for (int p = 43690; p < 44690 && !epmd; p++)
        if (port_free(p))
            epmd = p;
    for (int p = 44700; p < 46700 && !raft; p += 4)
        if (port_free(p + 1) && port_free(p + 2) && port_free(p + 3))
            raft = p;
    if (!epmd || !raft) {
        fprintf(stderr, "tour: no free ports on loopback\n");
        return -1;
    }
    char e[16], r[16];
    snprintf(e, sizeof e, "%d", epmd);
    snprintf(r, sizeof r, "%d", raft);
    setenv("ERL_EPMD_PORT", e, 1);
    setenv("COUNTER_RAFT_PORT", r, 1);
    snprintf(data_root, sizeof data_root, "/dev/shm/counter06-tour-%d", (int)getuid());
    nftw(data_root, remove_one, 16, FTW_DEPTH | FTW_PHYS);   /* an interrupted tour's */
    if (mkdir(data_root, 0700) != 0) {
        fprintf(stderr, "tour: %s: %s\n", data_root, strerror(errno));
        return -1;
    }
    setenv("COUNTER_DATA_DIR", data_root, 1);
    if (spawn(0, (char *[]){"/usr/bin/epmd", "-port", e, NULL}, true) != 0)
        return -1;
    for (int64_t end = now_ms() + WAIT_MS; !node_port_answers(epmd);)
        if (now_ms() > end || waitpid(kids[0].pid, NULL, WNOHANG) != 0) {
            fprintf(stderr, "tour: epmd did not start on port %d\n", epmd);
            return -1;
        }
    return 0;
}

/* Starts member id and waits for it to say it is up. */
static int start_member(const char *self, unsigned id) {
    char ids[4];
    snprintf(ids, sizeof ids, "%u", id);
    char ready[16];
    snprintf(ready, sizeof ready, "ready c%u", id);
    if (spawn((int)id, (char *[]){(char *)self, "--serve", ids, NULL}, false) != 0 ||
        !kid_says((int)id, ready)) {
        fprintf(stderr, "tour: member %u did not start\n", id);
        return -1;
    }
    return 0;
}

/* The leader's node, asked until one answers. */
static term await_leader(struct cluster_client *c) {
    for (int64_t end = now_ms() + WAIT_MS; now_ms() < end;) {
        term l = cluster_leader(c, 1000);
        if (!is_none(l))
            return l;
        erl_sleep(5);   /* between rounds of asking: elections take a few ms */
    }
    return NONE;
}

static unsigned member_id(const struct stage_config *c, term node) {
    for (unsigned i = 0; i < MEMBERS; i++)
        if (is_atom_named(node, c->nodes[i]))
            return i + 1;
    return 0;
}

/* tick(n) as a call, shown; returns the count, or -1. */
static int64_t show_tick(struct cluster_client *c, int64_t n) {
    term error = NONE;
    term v = counter_tick_sync(c, n, WAIT_MS, &error);
    char expr[64];
    snprintf(expr, sizeof expr, "counter:tick_sync(%lld).", (long long)n);
    if (is_none(v)) {
        char why[256];
        term_format(why, sizeof why, error);
        demo_show_text(expr, "** exception exit: %s", why);
        return -1;
    }
    demo_show_term(expr, v);
    return v.u.integer;
}

/* The acknowledged part of the tour: returns the count, or -1. */
static int64_t drive(struct cluster_client *c) {
    int64_t count = 0;
    for (int i = 1; i <= 3 && count >= 0; i++)
        count = show_tick(c, i);
    counter_tick(c, 10);
    demo_show_term("counter:tick(10).", ATOM("ok"));
    demo_say("A cast is not acknowledged; the read after it (a call, in the log");
    demo_say("behind the cast) is, and it holds the cast:");
    term error = NONE;
    term v = counter_read(c, WAIT_MS, &error);
    if (is_none(v) && is_atom_named(error, "casts_lost")) {
        demo_show_text("counter:read().", "** exception exit: casts_lost");
        demo_say("The leader changed before the cast was committed: it is lost, and");
        demo_say("the read says so instead of answering a count without it. Again:");
        v = counter_read(c, WAIT_MS, &error);
    }
    if (is_none(v)) {
        char why[256];
        term_format(why, sizeof why, error);
        demo_show_text("counter:read().", "** exception exit: %s", why);
        return -1;
    }
    demo_show_term("counter:read().", v);
    return v.u.integer;
}

/* The kill: returns the count the new leader reads, or -1. */
static int64_t failover(const struct stage_config *cfg, struct cluster_client *c, term leader,
                        int64_t acked) {
    unsigned id = member_id(cfg, leader);
    demo_say("kill -9 of the leader's OS process, %s:", leader.u.atom);
    int64_t t0 = now_ms();
    kill(kids[id].pid, SIGKILL);
    term error = NONE;
    term v = counter_read(c, WAIT_MS, &error);
    int64_t ms = now_ms() - t0;
    stop_kid((int)id, true);    /* reaps it */
    if (is_none(v))
        return -1;
    demo_show_term("counter:read().", v);
    term now = await_leader(c);
    demo_say("%s leads now; it answered %lld ms after the kill,",
             is_none(now) ? "?" : now.u.atom, (long long)ms);
    demo_say("with %lld, every acknowledged tick (%lld): %s.", (long long)v.u.integer,
             (long long)acked, v.u.integer == acked ? "nothing lost" : "LOST SOME");
    return v.u.integer == acked ? v.u.integer : -1;
}

/* Restarts member id and waits until its copy holds count. */
static int rejoin(const char *self, const struct stage_config *cfg, struct cluster_client *c,
                  unsigned id, int64_t count) {
    demo_say("%s restarts on its data directory, %s:", cfg->nodes[id - 1], cfg->dirs[id - 1]);
    if (start_member(self, id) != 0)
        return -1;
    for (int64_t end = now_ms() + WAIT_MS; now_ms() < end;) {
        term error = NONE;
        term s = cluster_member_state(c, cfg->nodes[id - 1], 1000, &error);
        bool there = is_int(s) && s.u.integer == count;
        erl_drop(error);
        if (there) {
            char expr[96];
            snprintf(expr, sizeof expr, "gen_server_cluster:get_target_state({counter, '%s'}).",
                     cfg->nodes[id - 1]);
            demo_show_term(expr, s);
            demo_say("It rejoined with its log and caught up from the leader.");
            return 0;
        }
        erl_sleep(5);   /* between two looks at its state */
    }
    fprintf(stderr, "tour: %s never caught up to %lld\n", cfg->nodes[id - 1], (long long)count);
    return -1;
}

static int tour_body(const char *self, const struct stage_config *cfg) {
    struct cluster_client c;
    cluster_client_init(&c, COUNTER, cfg->node_names, MEMBERS);
    demo_say("Three nodes, c1 c2 c3, each running a member of the cluster counter,");
    demo_say("Raft underneath (election timeout %u ms, heartbeat %u ms).", cfg->election_ms,
             cfg->heartbeat_ms);
    for (unsigned id = 1; id <= MEMBERS; id++)
        if (start_member(self, id) != 0)
            return 1;
    term leader = await_leader(&c);
    if (is_none(leader)) {
        fprintf(stderr, "tour: no leader was elected\n");
        return 1;
    }
    demo_show_term("gen_server_cluster:leader(counter).", leader);
    int64_t acked = drive(&c);
    if (acked < 0)
        return 1;
    leader = await_leader(&c);  /* the one that leads now */
    unsigned dead = member_id(cfg, leader);
    int64_t count = failover(cfg, &c, leader, acked);
    if (count < 0)
        return 1;
    count = show_tick(&c, 5);
    if (count < 0 || rejoin(self, cfg, &c, dead, count) != 0)
        return 1;
    demo_say("Every member, asked itself:");
    for (unsigned i = 0; i < MEMBERS; i++) {
        term error = NONE;
        term info = cluster_member_info(&c, cfg->nodes[i], 1000, &error);
        char text[160];
        term_format(text, sizeof text, is_none(info) ? error : info);
        printf("%s  %s\n", cfg->nodes[i], text);
        erl_drop(info);
        erl_drop(error);
    }
    return 0;
}

/* What both the tour and the bench do first: signals, places, epmd, the
 * runtime and the client node called self_name. Returns 0, or -1 after
 * saying why (with what it started stopped). */
static int begin(struct stage_config *cfg, const char *self_name) {
    struct sigaction sa = {.sa_handler = interrupted};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (stage_config_load(cfg) != 0 || setup_places() != 0 || stage_config_load(cfg) != 0)
        interrupted(0);
    if (erl_start(&(struct erl_options){0}) != 0) {
        fprintf(stderr, "%s: the runtime did not start\n", self_name);
        interrupted(0);
    }
    struct node_options o = {.name = self_name, .cookie = COUNTER_COOKIE};
    if (node_start(&o) != 0) {
        erl_stop();
        interrupted(0);
    }
    return 0;
}

/* Stops the runtime, every member, epmd, and removes the data. */
static void end(void) {
    erl_stop();
    for (int i = MEMBERS; i >= 0; i--)
        stop_kid(i, false);
    nftw(data_root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

int tour_run(const char *self) {
    static struct stage_config cfg;
    begin(&cfg, "tour@localhost");
    int status = tour_body(self, &cfg);
    end();
    printf("%s\n", status == 0 ? "The tour is over: the members, epmd and the data are gone."
                               : "The tour failed (above: why); what it started is stopped.");
    return status;
}

/* ---- The failover benchmark ---------------------------------------------- */

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* One round: ticks (acknowledged), kill -9 of the leader, the time to the
 * first call the new leader answers; then the dead member restarted and
 * caught up. *lost gets the acknowledged ticks the read missed. Returns
 * the failover in microseconds, or -1. */
static int64_t bench_round(const char *self, const struct stage_config *cfg,
                           struct cluster_client *c, int64_t *lost) {
    term error = NONE;
    term v = NONE;
    for (int i = 0; i < 10; i++) {
        erl_drop(v);
        v = counter_tick_sync(c, 1, WAIT_MS, &error);
        if (is_none(v))
            return -1;
    }
    int64_t acked = v.u.integer;
    term leader = await_leader(c);
    unsigned id = member_id(cfg, leader);
    if (!id)
        return -1;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    kill(kids[id].pid, SIGKILL);
    v = counter_read(c, WAIT_MS, &error);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    stop_kid((int)id, true);
    if (is_none(v))
        return -1;
    *lost += v.u.integer < acked ? acked - v.u.integer : 0;
    if (start_member(self, id) != 0)
        return -1;
    for (int64_t end_at = now_ms() + WAIT_MS; now_ms() < end_at;) {
        term s = cluster_member_state(c, cfg->nodes[id - 1], 1000, &error);
        bool there = is_int(s) && s.u.integer >= v.u.integer;
        erl_drop(error);
        if (there)
            return (t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
        erl_sleep(5);   /* between two looks at its state */
    }
    return -1;
}

/* The median of n committed calls (reads), in microseconds; -1 if one
 * failed. */
static double call_rtt_us(struct cluster_client *c, int n) {
    static int64_t us[1000];
    for (int i = 0; i < n && i < 1000; i++) {
        struct timespec t0, t1;
        term error = NONE;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        term v = counter_read(c, WAIT_MS, &error);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (is_none(v))
            return -1;
        us[i] = (t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
    }
    qsort(us, (size_t)n, sizeof us[0], cmp_i64);
    return (double)us[n / 2];
}

/* CPU time (user + system, in clock ticks) the members used so far, from
 * /proc/PID/stat; -1 if one cannot be read. */
static long members_cpu_ticks(void) {
    long sum = 0;
    for (int i = 1; i <= MEMBERS; i++) {
        char path[64], buf[1024];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)kids[i].pid);
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f)
            fclose(f);
        buf[n] = '\0';
        const char *p = strrchr(buf, ')');  /* the name may hold blanks */
        unsigned long ut, st;
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
                         &st) != 2)
            return -1;
        sum += (long)(ut + st);
    }
    return sum;
}

int failover_bench(const char *self, int rounds) {
    static struct stage_config cfg;
    begin(&cfg, "bench@localhost");
    struct cluster_client c;
    cluster_client_init(&c, COUNTER, cfg.node_names, MEMBERS);
    int64_t us[64], lost = 0;
    int n = 0, status = 0;
    for (unsigned id = 1; id <= MEMBERS && status == 0; id++)
        status = start_member(self, id);
    for (; status == 0 && n < rounds && n < 64; n++)
        if ((us[n] = bench_round(self, &cfg, &c, &lost)) < 0) {
            fprintf(stderr, "bench: round %d failed\n", n + 1);
            status = 1;
        } else {
            fprintf(stderr, "bench: round %d: %.1f ms\n", n + 1, us[n] / 1000.0);
        }
    double rtt = status == 0 ? call_rtt_us(&c, 1000) : -1;
    /* three idle members over 2 s: the time is the measurement */
    long cpu0 = members_cpu_ticks();
    erl_sleep(2000);
    long cpu1 = members_cpu_ticks();
    end();
    if (status != 0)
        return 1;
    qsort(us, (size_t)n, sizeof us[0], cmp_i64);
    printf("c cluster_failover_ms %.1f\n", us[n / 2] / 1000.0);
    printf("c cluster_failover_ms_p99 %.1f\n", us[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] / 1000.0);
    printf("c cluster_acked_lost %lld\n", (long long)lost);
    if (rtt >= 0)
        printf("c cluster_call_rtt_us %.0f\n", rtt);
    if (cpu0 >= 0 && cpu1 >= cpu0)
        printf("c cluster_idle_cpu_pct %.1f\n",
               100.0 * (double)(cpu1 - cpu0) / (2.0 * (double)sysconf(_SC_CLK_TCK)));
    return 0;
}
