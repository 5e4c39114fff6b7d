/*
 * test_06_cluster_partition.c - a network partition of the three members
 * (06_cluster/counter --shell I), each in a network namespace of its own,
 * and what 06_cluster/README.md says of it: the minority refuses updates
 * with no_leader, the majority goes on, and when the link comes back the
 * minority rejoins and nothing acknowledged is lost.
 *
 *   namespace t06p<pid>-hub: bridge br0, 10.77.0.254 (this test's node,
 *                             t@10.77.0.254, and its epmd)
 *        |            |            |           veth pairs v1..v3 <-> eth0
 *   t06p<pid>-c1   t06p<pid>-c2   t06p<pid>-c3
 *   10.77.0.1      10.77.0.2      10.77.0.3    (each: an epmd, a member)
 *
 * This test's process moves itself into the hub (setns) before it starts
 * its runtime, so its threads and children are there too: every address
 * and port is private to the test, and nothing is added to the machine's
 * own network. The cut is `ip link set eth0 down` in one member's
 * namespace; the heal, `up`. Every namespace is deleted at teardown, also
 * when a test fails; one left by a test that was killed is deleted by the
 * next run (its pid is in its name).
 *
 * Network namespaces need root: as anyone else, and where `ip netns add`
 * fails (no iproute2, a container without CAP_SYS_ADMIN), the partition
 * tests skip and say why. The hosts tests need nothing.
 *
 * Run: make -C tests test-06   (or build/plain/tests/test_06_cluster_partition --verbose)
 */
#include "node_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "cluster_members.h"

#define MINORITY_MS 20000       /* the most the minority's refusal may take:
                                   the shell's call gives up after 5 s */
#define NET "10.77.0."          /* the members are NET1..NET3 */
#define HUB_IP NET "254"
#define NS_PREFIX "t06p"

/* ---- Commands ------------------------------------------------------------ */

/* Runs argv to its end, its stdout and stderr merged into out (size
 * bytes, the rest dropped). Returns its exit status, or -1 when it could
 * not be started or did not exit. */
static int run_cmd(char *const argv[], char *out, size_t size) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {     /* only async-signal-safe calls until exec */
        dup2(p[1], 1);
        dup2(p[1], 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    size_t len = 0;
    char drop[512];
    for (ssize_t n = 1; n > 0;) {
        bool room = len + 1 < size;
        n = read(p[0], room ? out + len : drop, room ? size - 1 - len : sizeof drop);
        if (n > 0 && room)
            len += (size_t)n;
    }
    close(p[0]);
    out[len] = '\0';
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Runs `ip ARGS`, ARGS the format's words (split at spaces); its output
 * into out. Returns ip's exit status (127: no ip). */
static int ip_out(char *out, size_t size, const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    char *argv[32] = {"ip"};
    int n = 1;
    for (char *save, *w = strtok_r(line, " ", &save); w && n < 31; w = strtok_r(NULL, " ", &save))
        argv[n++] = w;
    argv[n] = NULL;
    return run_cmd(argv, out, size);
}

/* `ip ARGS`, which must succeed. */
#define IP(fmt, ...)                                                                    \
    do {                                                                                \
        char out_[1024];                                                                \
        int rc_ = ip_out(out_, sizeof out_, fmt, __VA_ARGS__);                          \
        cr_assert_eq(rc_, 0, "ip " fmt ": status %d: %s", __VA_ARGS__, rc_, out_);       \
    } while (0)

/* ---- Namespaces ---------------------------------------------------------- */

static char ns[MEMBERS + 1][32];    /* [0] the hub, [i] member i's; "": none */
static int root_ns = -1;            /* the namespace this process came from */

/* Kills every process in namespace name but this one, then deletes it.
 * This function can't fail: what cannot be done is left. */
static void remove_ns(const char *name) {
    char pids[4096];
    if (ip_out(pids, sizeof pids, "netns pids %s", name) == 0)
        for (char *save, *w = strtok_r(pids, "\n", &save); w; w = strtok_r(NULL, "\n", &save))
            if (atoi(w) > 0 && atoi(w) != getpid())
                kill(atoi(w), SIGKILL);
    char out[512];
    ip_out(out, sizeof out, "netns del %s", name);
}

/* Deletes the namespaces of earlier runs whose process is gone. */
static void remove_stale_namespaces(void) {
    DIR *d = opendir("/run/netns");
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        int pid = 0;
        if (sscanf(e->d_name, NS_PREFIX "%d-", &pid) == 1 && pid > 0 &&
            kill(pid, 0) != 0 && errno == ESRCH)
            remove_ns(e->d_name);
    }
    closedir(d);
}

/* Makes the namespaces, the bridge and the veth pairs, member i at NET.i.
 * Skips the test, after removing what was made, when the machine does
 * not allow it. */
static void make_network(void) {
    if (geteuid() != 0)
        cr_skip_test("network namespaces need root (this runs as uid %d): run the suite as "
                     "root to test the partition", (int)geteuid());
    remove_stale_namespaces();
    for (unsigned i = 0; i <= MEMBERS; i++) {
        char out[1024], name[32];
        if (i == 0)
            snprintf(name, sizeof name, NS_PREFIX "%d-hub", (int)getpid());
        else
            snprintf(name, sizeof name, NS_PREFIX "%d-c%u", (int)getpid(), i);
        int rc = ip_out(out, sizeof out, "netns add %s", name);
        if (rc != 0) {
            for (unsigned j = 0; j < i; j++) {
                remove_ns(ns[j]);
                ns[j][0] = '\0';
            }
            cr_skip_test("`ip netns add %s` failed (status %d%s): %s", name, rc,
                         rc == 127 ? ": iproute2's ip is not installed" : "", out);
        }
        strcpy(ns[i], name);
    }
    IP("-n %s link set lo up", ns[0]);
    IP("-n %s link add br0 type bridge", ns[0]);
    IP("-n %s addr add " HUB_IP "/24 dev br0", ns[0]);
    IP("-n %s link set br0 up", ns[0]);
    for (unsigned i = 1; i <= MEMBERS; i++) {
        IP("-n %s link add v%u type veth peer name eth0 netns %s", ns[0], i, ns[i]);
        IP("-n %s link set v%u master br0 up", ns[0], i);
        IP("-n %s link set lo up", ns[i]);
        IP("-n %s addr add " NET "%u/24 dev eth0", ns[i], i);
        IP("-n %s link set eth0 up", ns[i]);
    }
}

/* Moves this process (its calling thread, and every thread and child it
 * starts from now on) into namespace name. */
static void enter_ns(const char *name) {
    char path[64];
    snprintf(path, sizeof path, "/run/netns/%s", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
    cr_assert_eq(setns(fd, CLONE_NEWNET), 0, "setns(%s): %s", name, strerror(errno));
    close(fd);
}

/* Cuts (up false) or heals member id's link to the others. */
static void set_link(unsigned id, bool up) {
    IP("-n %s link set eth0 %s", ns[id], up ? "up" : "down");
}

/* True when something accepts a TCP connection on host:port. */
static bool tcp_answers(const char *host, int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* ---- Fixture ------------------------------------------------------------- */

static unsigned prompts[MEMBERS + 1];       /* member id's last prompt's number */
static bool node_up;

/* Starts an epmd in member id's namespace on epmd_port_used; waits until
 * it answers at the member's address. */
static void start_member_epmd(unsigned id) {
    char port[16], host[16];
    snprintf(port, sizeof port, "%d", epmd_port_used);
    snprintf(host, sizeof host, NET "%u", id);
    struct child *e = spawn_child((char *[]){"ip", "netns", "exec", ns[id], "epmd", "-port",
                                             port, NULL});
    int64_t end = now_ns() + (int64_t)WAIT_MS * 1000000;
    while (!tcp_answers(host, epmd_port_used) && now_ns() < end)
        poll(NULL, 0, 5);   /* epmd gives no sign of being ready but this */
    cr_assert(tcp_answers(host, epmd_port_used), "c%u's epmd never answered; it wrote:\n%s", id,
              (child_says(e, "\x01", 0), e->text));
}

/* The network, this test in its hub, an epmd in every namespace, the
 * members' environment, and this test's node. Called first by each
 * partition test (it may skip). */
static void partition_setup(void) {
    make_network();
    root_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    cr_assert_geq(root_ns, 0, "/proc/self/ns/net: %s", strerror(errno));
    enter_ns(ns[0]);
    start_epmd(43900);      /* the hub's: this test's node registers there */
    for (unsigned id = 1; id <= MEMBERS; id++)
        start_member_epmd(id);
    setenv("COUNTER_HOSTS", NET "1," NET "2," NET "3", 1);
    setenv("COUNTER_RAFT_PORT", "9100", 1);     /* every namespace's own */
    start_test_node("t06p", "t@" HUB_IP);
    node_up = true;
}

static void partition_teardown(void) {
    if (node_up)
        erl_stop();
    kill_children();
    if (root_ns >= 0) {     /* back where `ip netns` lists this process in none */
        if (setns(root_ns, CLONE_NEWNET) != 0)
            fprintf(stderr, "setns back to the root namespace: %s\n", strerror(errno));
        close(root_ns);
    }
    for (unsigned i = 0; i <= MEMBERS; i++)
        if (ns[i][0])
            remove_ns(ns[i]);
    if (data_root[0])
        nftw(data_root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(partition, .timeout = 600, .fini = partition_teardown);

/* ---- Members and their shells -------------------------------------------- */

/* Reads member id's output until its shell's next prompt, within ms.
 * What it printed before the prompt goes into out (size bytes, the rest
 * dropped), but for the node layer's log lines ("node c1@...: ..."),
 * which a member cut off writes for every connection it cannot make; a
 * sanitizer's report goes to this test's stderr, where run_suites sees
 * it. True when the prompt came. */
static bool read_to_prompt(unsigned id, int ms, char *out, size_t size) {
    struct child *ch = member[id];
    char want[16], line[1024];
    size_t n = 0, len = 0;
    snprintf(want, sizeof want, "%u> ", prompts[id] + 1);
    out[0] = '\0';
    for (int64_t end = now_ns() + (int64_t)ms * 1000000;;) {
        char b;
        struct pollfd p = {ch->out, POLLIN, 0};
        int left = (int)((end - now_ns()) / 1000000);
        if (left <= 0 || poll(&p, 1, left) <= 0 || read(ch->out, &b, 1) != 1)
            return false;
        if (n + 1 < sizeof line)
            line[n++] = b;
        line[n] = '\0';
        if (strcmp(line, want) == 0) {
            prompts[id]++;
            return true;
        }
        if (b != '\n')
            continue;
        if (sanitizer_report(line))
            fprintf(stderr, "c%u: %s", id, line);
        if (strncmp(line, "node ", 5) != 0 && len + n < size) {
            memcpy(out + len, line, n + 1);
            len += n;
        }
        n = 0;
    }
}

/* Starts member id with a shell, in its namespace, and waits for the
 * shell's first prompt (LONG_MS: a member loads its log first). */
static void start_member(unsigned id) {
    char ids[4], out[2048];
    snprintf(ids, sizeof ids, "%u", id);
    member[id] = spawn_child((char *[]){"ip", "netns", "exec", ns[id], MEMBER_BIN, "--shell",
                                        ids, NULL});
    prompts[id] = 0;
    cr_assert(read_to_prompt(id, LONG_MS, out, sizeof out),
              "c%u's shell never prompted; it wrote:\n%s", id, out);
}

/* Runs line in member id's shell, inside its namespace. Returns what the
 * command printed (a static buffer, overwritten by the next call) and its
 * time in *ms. */
static const char *shell(unsigned id, const char *line, int64_t *ms) {
    static char out[4096];
    struct child *ch = member[id];
    int64_t t0 = now_ns();
    cr_assert_eq(write(ch->in, line, strlen(line)), (ssize_t)strlen(line));
    cr_assert_eq(write(ch->in, "\n", 1), 1);
    cr_assert(read_to_prompt(id, LONG_MS, out, sizeof out),
              "c%u's shell never finished `%s`; it wrote:\n%s", id, line, out);
    *ms = (now_ns() - t0) / 1000000;
    return out;
}

/* The count a shell printed, or -1 when it printed something else. */
static int64_t shell_count(const char *out) {
    char *end;
    long long v = strtoll(out, &end, 10);
    return end != out && strcmp(end, "\n") == 0 ? v : -1;
}

/* ---- The partition ------------------------------------------------------- */

/* What one run saw: every tick sent and acknowledged, on either side. */
struct tally {
    int64_t sent, acked;
};

/* n ticks from this test's client, each of which must be acknowledged
 * within LONG_MS; returns the last count. */
static int64_t majority_ticks(struct cluster_client *c, int n, struct tally *t) {
    int64_t v = 0;
    for (int i = 0; i < n; i++) {
        term error = NONE;
        t->sent++;
        term r = counter_tick_sync(c, 1, LONG_MS, &error);
        cr_assert(is_int(r), "a tick on the majority's side failed: %s", FMT(error));
        v = r.u.integer;
        t->acked++;
    }
    return v;
}

/* The minority's side while cut off: a tick in the member's own shell is
 * refused with no_leader within MINORITY_MS, and the member does not say
 * it leads. */
static void minority_refuses(unsigned cut, struct tally *t) {
    int64_t ms;
    t->sent++;      /* refused, but it may have reached a log: an upper bound */
    const char *out = shell(cut, "tick 1", &ms);
    cr_log_info("cut off, c%u's `tick 1` returned after %lld ms: %s", cut, (long long)ms, out);
    cr_assert(strstr(out, "no_leader"), "c%u's tick while cut off printed: %s", cut, out);
    cr_assert_lt(ms, MINORITY_MS, "c%u's refusal took %lld ms", cut, (long long)ms);
    out = shell(cut, "members", &ms);
    cr_log_info("cut off, c%u's `members`:\n%s", cut, out);
    const char *self = strstr(out, cfg.nodes[cut - 1]);
    cr_assert(self && strncmp(self + strlen(cfg.nodes[cut - 1]), "  {leader", 9) != 0,
              "c%u still leads while cut off:\n%s", cut, out);
}

/* After the heal: the minority's shell ticks until one is acknowledged
 * (within LONG_MS: its connections come back with TCP's retransmissions).
 * A refused one is retried; the one after a refused one fails casts_lost
 * (its client's numbers have a gap), as cluster.h says. Returns the ms
 * from the heal to the acknowledgment. */
static int64_t minority_rejoins(unsigned cut, int64_t healed, struct tally *t) {
    for (int64_t end = now_ns() + (int64_t)LONG_MS * 1000000; now_ns() < end;) {
        int64_t ms;
        t->sent++;
        const char *out = shell(cut, "tick 1", &ms);
        cr_log_info("healed, c%u's `tick 1` after %lld ms: %s", cut, (long long)ms, out);
        if (shell_count(out) >= 0) {
            t->acked++;
            return (now_ns() - healed) / 1000000;
        }
        cr_assert(strstr(out, "no_leader") || strstr(out, "timeout") ||
                  strstr(out, "casts_lost"), "c%u's tick after the heal printed: %s", cut, out);
    }
    cr_assert_fail("c%u's shell had no tick acknowledged within %d ms of the heal", cut, LONG_MS);
    return 0;
}

/* Waits until a member other than cut says it leads; returns its id. */
static unsigned await_majority_leader(struct cluster_client *c, unsigned cut) {
    for (int64_t end = now_ns() + (int64_t)LONG_MS * 1000000; now_ns() < end;) {
        for (unsigned id = 1; id <= MEMBERS; id++) {
            term error = NONE;
            term info = id == cut ? NONE : cluster_member_info(c, cfg.nodes[id - 1], 2000, &error);
            bool leads = is_atom_named(element(1, info), "leader");
            erl_drop(info);
            erl_drop(error);
            if (leads)
                return id;
        }
        erl_sleep(1);       /* between rounds of asking */
    }
    cr_assert_fail("no member of the majority said it leads within %d ms", LONG_MS);
    return 0;
}

/* The whole story, with the leader cut off (cut_leader) or a backup. */
static void partition_story(bool cut_leader) {
    partition_setup();
    struct cluster_client c;
    start_all(&c);
    struct tally t = {0, 0};
    majority_ticks(&c, 10, &t);
    unsigned leader = await_leader(&c), cut = cut_leader ? leader : leader % MEMBERS + 1;
    set_link(cut, false);
    int64_t cut_at = now_ns();
    unsigned next = await_majority_leader(&c, cut);
    int64_t elected_ms = (now_ns() - cut_at) / 1000000;
    majority_ticks(&c, 1, &t);
    int64_t first_ms = (now_ns() - cut_at) / 1000000;
    minority_refuses(cut, &t);
    int64_t during = majority_ticks(&c, 10, &t);
    cr_assert_neq(await_leader(&c), cut, "c%u leads while cut off", cut);
    set_link(cut, true);
    int64_t healed = now_ns(), rejoin_ms = minority_rejoins(cut, healed, &t);
    term error = NONE;
    term r = counter_read(&c, LONG_MS, &error);
    cr_assert(is_int(r), "the final read failed: %s", FMT(error));
    int64_t final = r.u.integer;
    cr_assert(final >= t.acked && final <= t.sent, "final count %lld, %lld acknowledged, "
              "%lld sent", (long long)final, (long long)t.acked, (long long)t.sent);
    cr_assert_gt(final, during);
    for (unsigned id = 1; id <= MEMBERS; id++)
        await_state(&c, id, final);
    cr_log_info("cut c%u (%s; c%u led, then c%u, leading %lld ms after the cut): the "
                "majority's first tick acknowledged %lld ms after the cut; c%u's first "
                "acknowledged tick %lld ms after the heal; %lld ticks acknowledged, %lld sent; "
                "every member's count %lld", cut, cut_leader ? "the leader" : "a backup",
                leader, next, (long long)elected_ms, (long long)first_ms, cut,
                (long long)rejoin_ms, (long long)t.acked, (long long)t.sent, (long long)final);
}

Test(partition, leader_cut_off_refuses_majority_elects_and_heal_loses_nothing) {
    partition_story(true);
}

Test(partition, backup_cut_off_refuses_majority_goes_on_and_heal_loses_nothing) {
    partition_story(false);
}

/* ---- Where the members are ----------------------------------------------- */

/* stage_config_load with COUNTER_HOSTS=hosts; its stderr into err. */
static int load_hosts(const char *hosts, char *err, size_t size) {
    setenv("COUNTER_HOSTS", hosts, 1);
    fflush(stderr);
    int saved = dup(2);
    FILE *f = tmpfile();
    cr_assert(saved >= 0 && f);
    dup2(fileno(f), 2);
    int rc = stage_config_load(&cfg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(f);
    size_t n = fread(err, 1, size - 1, f);
    err[n] = '\0';
    fclose(f);
    return rc;
}

TestSuite(hosts, .timeout = 60);

Test(hosts, each_member_gets_a_long_name_and_raft_address_on_its_host) {
    setenv("COUNTER_RAFT_PORT", "9200", 1);
    char err[256];
    cr_assert_eq(load_hosts("10.77.0.1,10.77.0.2,10.77.0.3", err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(cfg.nodes[1], "c2@10.77.0.2");
    cr_assert_str_eq(cfg.addresses[2], "10.77.0.3:9203");
    cr_assert_str_eq(cfg.peers[0].node, "c1@10.77.0.1");
    cr_assert_str_eq(cfg.peers[0].raft_address, "10.77.0.1:9201");
}

Test(hosts, unset_means_loopback) {
    unsetenv("COUNTER_HOSTS");
    unsetenv("COUNTER_RAFT_PORT");
    cr_assert_eq(stage_config_load(&cfg), 0);
    cr_assert_str_eq(cfg.nodes[0], "c1@localhost");
    cr_assert_str_eq(cfg.addresses[0], "127.0.0.1:9101");
}

Test(hosts, anything_but_three_ipv4_addresses_is_refused_by_name) {
    const char *bad[] = {"10.77.0.1,10.77.0.2", "10.77.0.1,10.77.0.2,10.77.0.3,10.77.0.4",
                         "10.77.0.1,,10.77.0.3", "a.example,b.example,c.example",
                         "10.77.0.1,10.77.0.2,10.77.0.300", "10.77.0.1,10.77.0.2,"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char err[256];
        cr_assert_eq(load_hosts(bad[i], err, sizeof err), -1, "COUNTER_HOSTS=%s taken", bad[i]);
        cr_assert(strstr(err, "COUNTER_HOSTS=") && strstr(err, bad[i]) && strstr(err, "IPv4"),
                  "COUNTER_HOSTS=%s: the error was: %s", bad[i], err);
    }
}
