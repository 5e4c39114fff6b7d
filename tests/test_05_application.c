/*
 * test_05_application.c - the distributed counter: three nodes of
 * 05_application/counter, each a child process on loopback with its shell
 * on a pipe (node_util.h: an epmd of each test's own, children killed in
 * the teardown, also when a test fails), and a real erl reading it.
 *
 * A node's shell prompts "N> "; the reply to its command N is what it
 * prints between "N> " and "N+1> " (node lines that come meanwhile, such
 * as counter_app's, are whole lines in it too).
 *
 * Run: make test-05   (or build/plain/tests/test_05_application --verbose)
 */
#pragma GCC diagnostic ignored "-Wunused-function"  /* node_util.h's peers: unused */
#define NODE_PEER "node_peer"
#include "node_util.h"

#include <stdarg.h>
#include <sys/stat.h>

#define PROG BIN_ROOT "/05_application/counter"
#define STAGE ROOT_DIR "/05_application"
#define COOKIE05 "test05_cookie"

static char tmpdir[64];     /* this test's configs; removed in the teardown */

static void setup(void) {
    start_epmd(44100);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test05.XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void teardown(void) {
    kill_children();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(dist_app, .timeout = 240, .init = setup, .fini = teardown);

/* ---- Nodes and their shells ---------------------------------------------- */

/* A node: its child and the number of its next prompt. */
struct node {
    struct child *c;
    int prompt;     /* the prompt its shell shows next */
    char name[32];  /* a@localhost */
};

/* Writes a config called file into tmpdir; returns its path (static). */
static const char *write_config(const char *file, const char *fmt, ...) {
    static char paths[8][128];
    static int next;
    char *path = paths[next++ % 8];
    snprintf(path, 128, "%s/%s", tmpdir, file);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
    return path;
}

/* Starts node name with config; when wait, waits until it is up. */
static struct node start_node(const char *name, const char *config, bool wait) {
    struct node n = {.prompt = 1};
    snprintf(n.name, sizeof n.name, "%s", name);
    n.c = spawn_child((char *[]){PROG, "--node", (char *)name, "--config", (char *)config,
                                 "--cookie", COOKIE05, NULL});
    if (wait) {
        char up[64];
        snprintf(up, sizeof up, "node %s: up;", name);
        expect_child_says(n.c, up);
    }
    return n;
}

/* The stage's own config for node letter l (a, b or c). */
static struct node stage_node(char l, bool wait) {
    char name[32], config[256];
    snprintf(name, sizeof name, "%c@localhost", l);
    snprintf(config, sizeof config, STAGE "/%c.config", l);
    return start_node(name, config, wait);
}

/* Reads what c writes until its text from offset from holds want, for up
 * to ms. True when it did. */
static bool says_after(struct child *c, size_t from, const char *want, int ms) {
    int64_t end = now_ns() + (int64_t)ms * 1000000;
    for (;;) {
        c->text[c->len] = '\0';
        if (strstr(c->text + from, want))
            return true;
        int left = (int)((end - now_ns()) / 1000000);
        if (left <= 0 || c->len + 1 >= sizeof c->text)
            return false;
        struct pollfd p = {c->out, POLLIN, 0};
        if (poll(&p, 1, left) <= 0)
            continue;
        ssize_t k = read(c->out, c->text + c->len, sizeof c->text - 1 - c->len);
        if (k <= 0)
            return strstr(c->text + from, want) != NULL;
        c->len += (size_t)k;
    }
}

/* Runs line in n's shell; returns its reply (a static buffer). */
static const char *cmd(struct node *n, const char *line) {
    static char reply[4096];
    char mine[16], next[16];
    snprintf(mine, sizeof mine, "%d> ", n->prompt);
    snprintf(next, sizeof next, "%d> ", n->prompt + 1);
    cr_assert(says_after(n->c, 0, mine, WAIT_MS), "%s never prompted %s:\n%s", n->name, mine,
              n->c->text);
    size_t from = (size_t)(strstr(n->c->text, mine) - n->c->text) + strlen(mine);
    cr_assert_gt(dprintf(n->c->in, "%s\n", line), 0);
    cr_assert(says_after(n->c, from, next, WAIT_MS), "%s did not answer %s:\n%s", n->name, line,
              n->c->text);
    const char *end = strstr(n->c->text + from, next);
    snprintf(reply, sizeof reply, "%.*s", (int)(end - (n->c->text + from)), n->c->text + from);
    n->prompt++;
    return reply;
}

/* Asserts that the reply to line on n has a line that is want. */
static void expect_reply(struct node *n, const char *line, const char *want) {
    const char *r = cmd(n, line);
    char w[256];
    snprintf(w, sizeof w, "%s\n", want);
    bool found = strncmp(r, w, strlen(w)) == 0;
    snprintf(w, sizeof w, "\n%s\n", want);
    found = found || strstr(r, w) != NULL;
    cr_assert(found, "%s: %s gave \"%s\", not %s", n->name, line, r, want);
}

/* Asks line on n until its reply has the line want (a node that has not
 * heard yet). */
static void eventually_reply(struct node *n, const char *line, const char *want) {
    char w[256];
    snprintf(w, sizeof w, "%s\n", want);
    for (int64_t end = now_ns() + (int64_t)WAIT_MS * 1000000; now_ns() < end;) {
        const char *r = cmd(n, line);
        if (strncmp(r, w, strlen(w)) == 0)
            return;
        says_after(n->c, n->c->len, "\x01", 20);    /* waits for output, or 20 ms */
    }
    cr_assert_fail("%s: %s never gave %s:\n%s", n->name, line, want, n->c->text);
}

/* Waits until c exits; returns its status. */
static int exit_status(struct child *c) {
    says_after(c, 0, "\x01", WAIT_MS);      /* reads to its end (EOF) */
    int st;
    cr_assert_eq(waitpid(c->pid, &st, 0), c->pid);
    c->pid = 0;
    close(c->in), close(c->out);
    cr_assert(WIFEXITED(st), "it did not exit; status %d", st);
    return WEXITSTATUS(st);
}

/* Three nodes of the stage's own configs, up. */
static void start_three(struct node n[3]) {
    for (int i = 0; i < 3; i++)
        n[i] = stage_node((char)('a' + i), false);
    for (int i = 0; i < 3; i++) {
        char up[64];
        snprintf(up, sizeof up, "node %s: up;", n[i].name);
        expect_child_says(n[i].c, up);
    }
}

/* ---- The tests ----------------------------------------------------------- */

Test(dist_app, runs_on_a_and_read_tick_work_from_every_node) {
    struct node n[3];
    start_three(n);
    cr_assert(child_says(n[0].c, "counter_app: start(normal, []) on a@localhost", WAIT_MS));
    for (int i = 0; i < 3; i++)
        expect_reply(&n[i], "where", "a@localhost");
    expect_reply(&n[2], "tick 5", "ok");
    expect_reply(&n[2], "read", "5");   /* one sender's cast, then call: in order */
    expect_reply(&n[1], "tick 2", "ok");
    expect_reply(&n[1], "read", "7");
    expect_reply(&n[0], "read", "7");
    cr_assert_null(strstr(n[1].c->text, "counter_app: start"), "b started it too");
    cr_assert_null(strstr(n[2].c->text, "counter_app: start"), "c started it too");
}

Test(dist_app, kill9_of_a_fails_over_to_b_after_the_timeout_with_the_count_reset) {
    struct node n[3];
    start_three(n);
    expect_reply(&n[1], "tick 4", "ok");
    expect_reply(&n[1], "read", "4");
    size_t from = n[1].c->len;
    int64_t t0 = now_ns();
    kill_child(n[0].c);
    cr_assert(says_after(n[1].c, from, "counter_app: start({failover,a@localhost}, []) on "
                         "b@localhost", 5000 + WAIT_MS), "no failover to b:\n%s", n[1].c->text);
    int64_t ms = (now_ns() - t0) / 1000000;
    cr_assert_geq(ms, 4990, "b started it after %lld ms, before the 5000 ms timeout",
                  (long long)ms);
    /* b's dist_ac answers where once the start has returned: the counter
     * holds its global name from then on. */
    expect_reply(&n[1], "where", "b@localhost");
    expect_reply(&n[1], "read", "0");
    expect_reply(&n[2], "read", "0");
    expect_reply(&n[2], "where", "b@localhost");
    cr_assert_null(strstr(n[2].c->text, "counter_app: start"), "c started it too");
}

/* A config for the quick failover tests: timeout ms, every node optional. */
static const char *quick_config(char l, int ms) {
    char file[16];
    snprintf(file, sizeof file, "%c.config", l);
    return write_config(file,
        "[{kernel, [{distributed, [{counter, %d, [a@localhost, {b@localhost, c@localhost}]}]},\n"
        "           {sync_nodes_optional, [a@localhost, b@localhost, c@localhost]},\n"
        "           {sync_nodes_timeout, 2000}]},\n"
        " {counter, [{initial, 10}]}].\n", ms);
}

Test(dist_app, a_returning_takes_over_its_instance_first_then_b_stops) {
    struct node b = start_node("b@localhost", quick_config('b', 300), false);
    struct node c = start_node("c@localhost", quick_config('c', 300), false);
    struct node a = start_node("a@localhost", quick_config('a', 300), true);
    expect_child_says(b.c, "node b@localhost: up;");
    expect_child_says(c.c, "node c@localhost: up;");
    expect_reply(&b, "read", "10");     /* the initial value, from the config's env */
    kill_child(a.c);
    cr_assert(child_says(b.c, "start({failover,a@localhost}, []) on b@localhost", WAIT_MS));
    expect_reply(&b, "where", "b@localhost");    /* the start has returned */
    expect_reply(&c, "tick 5", "ok");
    expect_reply(&c, "read", "15");
    size_t from = b.c->len;
    a = start_node("a@localhost", quick_config('a', 300), true);
    cr_assert(child_says(a.c, "counter_app: start({takeover,b@localhost}, []) on a@localhost",
                         WAIT_MS), "%s", a.c->text);
    cr_assert(says_after(b.c, from, "counter_app: stop([]) on b@localhost", WAIT_MS),
              "b did not stop its instance; b wrote:\n%s\na wrote:\n%s", b.c->text, a.c->text);
    cr_assert(strstr(b.c->text + from, "counter: terminate(shutdown, 15) on b@localhost"));
    eventually_reply(&c, "where", "a@localhost");
    expect_reply(&c, "read", "10");
    expect_reply(&b, "read", "10");
}

Test(dist_app, a_mandatory_node_missing_stops_the_node_naming_it) {
    const char *cfg = write_config("a.config",
        "[{kernel, [{distributed, [{counter, 5000, [a@localhost, {b@localhost, c@localhost}]}]},\n"
        "           {sync_nodes_mandatory, [b@localhost, c@localhost]},\n"
        "           {sync_nodes_timeout, 1000}]}].\n");
    struct node a = start_node("a@localhost", cfg, false);
    int st = exit_status(a.c);
    cr_assert_eq(st, 69, "status %d:\n%s", st, a.c->text);
    cr_assert(strstr(a.c->text, "counter: node a@localhost stops: sync_nodes_mandatory: "
                     "b@localhost, c@localhost did not come up within 1000 ms"), "%s", a.c->text);
    cr_assert_null(strstr(a.c->text, "counter_app: start"));
}

Test(dist_app, a_bad_config_exits_78_naming_file_line_and_what) {
    static const struct { const char *text, *want; } cases[] = {
        {"[{kernel, [{distributed, [{counter, 5000, [a@localhost}]}]}].\n",
         "bad.config:1:"},
        {"[{kernel, [{distributed, [{counter, 5000, [a@localhost, 42]}]}]}].\n",
         "bad.config:1:"},
        {"[{kernel, [{sync_nodes_timeout, 10}]}].\n",
         "bad.config: kernel: distributed has no entry for counter"},
        {"[{kernel,\n  [{distributed, [{counter, soon, [a@localhost]}]}]}].\n",
         "bad.config:2:"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *cfg = write_config("bad.config", "%s", cases[i].text);
        struct node a = start_node("a@localhost", cfg, false);
        int st = exit_status(a.c);
        cr_assert_eq(st, 78, "case %zu: status %d:\n%s", i, st, a.c->text);
        cr_assert(strstr(a.c->text, cases[i].want), "case %zu: no \"%s\" in:\n%s", i,
                  cases[i].want, a.c->text);
    }
    struct node a = start_node("a@localhost", "/nonexistent/a.config", false);
    cr_assert_eq(exit_status(a.c), 78);
    cr_assert(strstr(a.c->text, "/nonexistent/a.config"), "%s", a.c->text);
}

Test(dist_app, two_nodes_that_both_started_it_end_with_one_instance) {
    /* No sync: b starts alone and runs it; c starts alone and decides
     * before it hears from b. It may start it too (then it stops it when
     * the two meet), or fail to, when it has learnt b's global names
     * already: either way one instance is left, b's. */
    const char *text = "[{kernel, [{distributed, [{counter, 0, [{b@localhost, c@localhost}]}]}]}].\n";
    struct node b = start_node("b@localhost", write_config("b.config", "%s", text), true);
    cr_assert(child_says(b.c, "counter_app: start(normal, []) on b@localhost", WAIT_MS));
    struct node c = start_node("c@localhost", write_config("c.config", "%s", text), true);
    eventually_reply(&c, "where", "b@localhost");
    expect_reply(&b, "where", "b@localhost");
    const char *apps = cmd(&c, "apps");
    for (int64_t end = now_ns() + (int64_t)WAIT_MS * 1000000;
         strstr(apps, "{counter,") && now_ns() < end; apps = cmd(&c, "apps"))
        says_after(c.c, c.c->len, "\x01", 20);     /* waits for output, or 20 ms */
    cr_assert_null(strstr(apps, "{counter,"), "c still runs it:\n%s", c.c->text);
    expect_reply(&c, "tick 3", "ok");
    expect_reply(&c, "read", "3");
    cr_assert_null(strstr(b.c->text, "counter_app: stop"), "b stopped its instance:\n%s",
                   b.c->text);
}

Test(dist_app, an_erl_node_reads_and_ticks_the_c_counter) {
    struct node n[3];
    start_three(n);
    expect_reply(&n[0], "tick 6", "ok");
    expect_reply(&n[0], "read", "6");
    const char *eval =
        "io:format(\"booted~n\"),"
        "R1 = gen_server:call({counter, 'a@localhost'}, read),"
        "io:format(\"call ~p~n\", [R1]),"
        "ok = gen_server:cast({counter, 'a@localhost'}, {tick, 1}),"
        "R2 = rpc:block_call('a@localhost', counter, read, []),"
        "io:format(\"block_call ~p~n\", [R2]),"
        "R3 = rpc:block_call('b@localhost', counter, read, []),"
        "io:format(\"via b ~p~n\", [R3]),"
        "io:format(\"rpc_call ~p~n\", [rpc:call('b@localhost', counter, read, [])]),"
        "io:format(\"erpc_call ~p~n\", [erpc:call('a@localhost', counter, read, [])]),"
        "io:format(\"global ~p~n\", [global:whereis_name(counter)]),"
        "io:format(\"done~n\"), halt().";
    struct child *erl = spawn_child((char *[]){"erl", "-sname", "e5@localhost", "-setcookie",
                                               COOKIE05, "-hidden", "-noshell", "-eval",
                                               (char *)eval, NULL});
    cr_assert(child_says(erl, "done\n", 3 * WAIT_MS), "erl did not finish; it wrote:\n%s",
              erl->text);     /* erl boots slowly on a loaded machine */
    cr_assert(strstr(erl->text, "call 6\n"), "%s", erl->text);
    cr_assert(strstr(erl->text, "block_call 7\n"), "%s", erl->text);
    cr_assert(strstr(erl->text, "via b 7\n"), "%s", erl->text);
    cr_assert(strstr(erl->text, "rpc_call 7\n"), "%s", erl->text);
    cr_assert(strstr(erl->text, "erpc_call 7\n"), "%s", erl->text);
    cr_assert(strstr(erl->text, "global undefined\n"), "%s", erl->text);
}
