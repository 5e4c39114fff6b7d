/*
 * bench.c - the C side of `make bench`: what the counter costs on this core.
 *
 * Runs the workloads of bench.erl, in the same order, each in a process of
 * its own, on 2 schedulers, and prints one line per metric:
 *
 *     c <metric> <value>
 *
 * tests/bench/run merges these with the BEAM's lines into the BENCH lines and
 * judges them. README.md describes each workload. Exit status: 0, or 70 when
 * a workload failed (a lost tick, a process that could not start).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "02_rpc/rpc.h"
#include "03_gen_server/counter.h"
#include "code.h"
#include "erl.h"
#include "gen_server.h"
#include "supervisor.h"

enum {
    CALLS = 200000,         /* timed calls, after WARMUP untimed ones */
    WARMUP = 20000,
    ROUNDS = 5,             /* bursts of casts or spawns: the best counts */
    CASTS = 1000000,        /* ticks cast in one burst */
    SPAWNS = 200000,        /* empty processes spawned in one burst */
    IDLE = 100000,          /* idle counters whose memory is measured */
    MAX_PROCS = 1000000,    /* idle processes held at once */
    RESTARTS = 5000,        /* timed kills of the supervised counter ... */
    INTENSITY = 10,         /* ... in rounds of counter_sup's intensity */
    UPGRADES = 100,         /* timed upgrades of 07's counter under load */
    UPGRADES_LOST = 1000,   /* upgrades across which no tick may be lost */
    HOT_TICKERS = 2,        /* processes loading the upgraded counter ... */
    HOT_BATCH = 100,        /* ... with this many casts, then a call */
};

/* What a workload gets from main and gives back: main owns it, the workload's
 * process fills it in; the 'DOWN' message main waits for orders the two. */
struct job {
    int64_t *times;         /* CALLS or RESTARTS timings, ns, or ROUNDS
                               rates; main sorts them */
    size_t ntimes;          /* how many of times were filled in */
    term *pids;             /* room for MAX_PROCS pids, already touched */
    double value;           /* the workload's single result, if it has one */
};

/* ---- Clocks and memory --------------------------------------------------- */

/* Monotonic nanoseconds. */
static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The resident set of this program, in bytes (/proc/self/statm). */
static long rss_bytes(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL || fscanf(f, "%ld %ld", &size, &resident) != 2) {
        perror("bench: /proc/self/statm");
        exit(70);
    }
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The p-th percentile of the n values at v, which it sorts. */
static int64_t percentile(int64_t *v, size_t n, int p)
{
    qsort(v, n, sizeof *v, cmp_i64);
    size_t i = n * p / 100;
    return v[i < n ? i : n - 1];
}

/* ---- Processes ----------------------------------------------------------- */

/* Gives up on the whole run: a workload went wrong. */
static _Noreturn void fail(const char *what)
{
    fprintf(stderr, "bench: %s\n", what);
    exit(70);
}

/* Waits until at most base processes are alive. Only from a process: it
 * yields to the ones it waits for. */
static void wait_count(size_t base)
{
    while (erl_process_count() > base)
        erl_yield();
}

/* Runs fn(job) in a process of its own and waits until it has ended. A
 * workload that ends abnormally ends the run. */
static void in_process(erl_fn fn, struct job *job)
{
    term ref, reason;
    term pid = erl_spawn_opt("bench", fn, INT((intptr_t)job), ERL_MONITOR, &ref);
    if (is_none(pid))
        fail("cannot spawn a workload");
    term down = erl_receive(TUPLE(ATOM("DOWN"), ref, ANY, ANY, VAR(&reason)),
                            ERL_INFINITY);
    if (!is_atom_named(reason, "normal")) {
        char why[256];
        term_format(why, sizeof why, reason);
        fprintf(stderr, "bench: a workload exited with %s\n", why);
        exit(70);
    }
    erl_drop(down);
}

/* The job a workload was spawned with. */
static struct job *job_of(term arg)
{
    return (struct job *)(intptr_t)arg.u.integer;
}

/* Prints a metric the way run expects it. */
static void report(const char *metric, double value)
{
    printf("c %s %.0f\n", metric, value);
    fflush(stdout);
}

/* ---- 02_rpc's counter ---------------------------------------------------- */

/* The loop of 02_rpc's counter, reduced to what is timed: {read, From} is
 * answered with rpc_reply(From, Count); {stop, From} with ok, and it ends. */
static void rpc_counter(term arg)
{
    int64_t count = arg.u.integer;
    for (;;) {
        term req, from;
        term msg = erl_receive(TUPLE(VAR(&req), VAR(&from)), ERL_INFINITY);
        bool stop = is_atom_named(req, "stop");
        rpc_reply(from, stop ? ATOM("ok") : INT(count));
        erl_drop(msg);
        if (stop)
            return;
    }
}

/* call_rtt_ns: rpc_call(Pid, read) round trips, each timed. */
static void call_rtt(term arg)
{
    struct job *job = job_of(arg);
    term pid = erl_spawn(rpc_counter, INT(0));
    for (int i = 0; i < WARMUP; i++)
        rpc_call(pid, ATOM("read"), ERL_INFINITY);
    for (int i = 0; i < CALLS; i++) {
        int64_t t0 = now_ns();
        term n = rpc_call(pid, ATOM("read"), ERL_INFINITY);
        job->times[i] = now_ns() - t0;
        if (!is_int(n) || n.u.integer != 0)
            erl_exit_self(ATOM("bad_read"));
    }
    job->ntimes = CALLS;
    rpc_call(pid, ATOM("stop"), ERL_INFINITY);
}

/* ---- 03_gen_server's counter --------------------------------------------- */

/* start_link(): 03's counter, registered as counter, linked to the caller. */
static term start_counter(void)
{
    term error;
    term pid = counter_start_link(&error);
    if (is_none(pid))
        erl_exit_self(ATOM("counter_start_failed"));
    return pid;
}

/* stop(), then waits until the counter has gone, name and all. */
static void stop_counter(term pid)
{
    term ref = erl_monitor(pid);
    counter_stop();
    erl_drop(erl_receive(TUPLE(ATOM("DOWN"), ref, ANY, ANY, ANY), ERL_INFINITY));
}

/* gen_server:call(counter, read, infinity): the count. */
static int64_t read_counter(void)
{
    term error;
    term n = gen_server_call(COUNTER, ATOM("read"), ERL_INFINITY, &error);
    if (!is_int(n))
        erl_exit_self(ATOM("read_failed"));
    return n.u.integer;
}

/* CASTS tick(1)s, then a read that must show every one. Returns ticks/s. */
static int64_t cast_burst(void)
{
    int64_t before = read_counter(), t0 = now_ns();
    for (int i = 0; i < CASTS; i++)
        counter_tick(1);
    int64_t after = read_counter(), t1 = now_ns();
    if (after - before != CASTS) {
        fprintf(stderr, "bench: %lld ticks of %d counted\n",
                (long long)(after - before), CASTS);
        erl_exit_self(ATOM("ticks_lost"));
    }
    return (int64_t)(CASTS * 1e9 / (double)(t1 - t0));
}

/* cast_per_s: ROUNDS bursts of ticks, after one untimed; the best counts. */
static void cast_rate(term arg)
{
    struct job *job = job_of(arg);
    term pid = start_counter();
    cast_burst();
    for (int i = 0; i < ROUNDS; i++)
        job->times[i] = cast_burst();
    job->ntimes = ROUNDS;
    stop_counter(pid);
}

/* gen_call_rtt_ns: read() round trips (gen_server_call by name), each timed. */
static void gen_call_rtt(term arg)
{
    struct job *job = job_of(arg);
    term pid = start_counter(), error;
    for (int i = 0; i < WARMUP; i++)
        counter_read(&error);
    for (int i = 0; i < CALLS; i++) {
        int64_t t0 = now_ns();
        term n = counter_read(&error);
        job->times[i] = now_ns() - t0;
        if (!is_int(n) || n.u.integer != 0)
            erl_exit_self(ATOM("bad_read"));
    }
    job->ntimes = CALLS;
    stop_counter(pid);
}

/* The supervisor's start function for the counter: 03's start_link. */
static term start_child(term arg, term *error)
{
    (void)arg;
    return counter_start_link(error);
}

/* exit(Pid, kill) the registered counter, then polls whereis(counter),
 * yielding, until it names a new pid. Returns the time that took, ns. */
static int64_t time_kill(void)
{
    term old = erl_whereis(COUNTER), now;
    int64_t t0 = now_ns();
    erl_exit(old, ATOM("kill"));
    while (is_none(now = erl_whereis(COUNTER)) || term_eq(now, old))
        erl_yield();
    return now_ns() - t0;
}

/* Starts a supervisor configured as 04's counter_sup (whose library cannot
 * be linked beside 03's: both define counter_*), kills its counter INTENSITY
 * times (one more and it would give up), stops it. Stores the times at t
 * unless t is NULL. */
static void restart_round(int64_t *t)
{
    struct sup_flags flags = {SUP_ONE_FOR_ONE, INTENSITY, 3600};
    struct sup_child_spec child = {
        ATOM("counter"), start_child, INT(0), SUP_PERMANENT, 2000, SUP_WORKER,
    };
    term error;
    term sup = supervisor_start_link(NONE, flags, &child, 1, &error);
    if (is_none(sup))
        erl_exit_self(ATOM("supervisor_start_failed"));
    for (int i = 0; i < INTENSITY; i++) {
        int64_t ns = time_kill();
        if (t != NULL)
            t[i] = ns;
    }
    if (supervisor_stop(sup, ATOM("normal"), ERL_INFINITY, &error) < 0)
        erl_exit_self(ATOM("supervisor_stop_failed"));
}

/* restart_ns: RESTARTS kills of the supervised counter, after a tenth as
 * many untimed. */
static void restart(term arg)
{
    struct job *job = job_of(arg);
    for (int r = 0; r < RESTARTS / INTENSITY / 10; r++)
        restart_round(NULL);
    for (int r = 0; r < RESTARTS / INTENSITY; r++)
        restart_round(job->times + r * INTENSITY);
    job->ntimes = RESTARTS;
}

/* Counts into *ctx the processes erl_processes lists as hibernated. */
static void count_hibernated(const struct erl_proc_info *info, void *ctx)
{
    *(size_t *)ctx += info->hibernated;
}

/* Waits until n processes have hibernated (between looks, a yield: a look
 * reads every slot). */
static void wait_hibernated(size_t n)
{
    for (;;) {
        size_t hibernated = 0;
        erl_processes(count_hibernated, &hibernated);
        if (hibernated >= n)
            return;
        erl_yield();
    }
}

/* Resident memory grown by IDLE idle counters (03's callbacks,
 * unregistered) started with opts, per counter, into job->value. With
 * hibernating, it is measured once every one of them has hibernated. */
static void idle_counters(struct job *job, term opts, bool hibernating)
{
    size_t base = erl_process_count();
    term error;
    long rss0 = rss_bytes();
    for (int i = 0; i < IDLE; i++) {
        job->pids[i] = gen_server_start_opt(NONE, &counter_module, INT(0), 0, opts, &error);
        if (is_none(job->pids[i]))
            erl_exit_self(ATOM("counter_start_failed"));
    }
    if (hibernating)
        wait_hibernated(IDLE);
    long rss1 = rss_bytes();
    for (int i = 0; i < IDLE; i++)
        erl_exit(job->pids[i], ATOM("kill"));
    wait_count(base);
    job->value = (double)(rss1 - rss0) / IDLE;
}

/* idle_bytes: IDLE idle counters, per counter. */
static void idle_memory(term arg)
{
    idle_counters(job_of(arg), NIL, false);
}

/* idle_hibernated_bytes: IDLE counters started with {hibernate_after, 0},
 * which hibernate as soon as init is done, measured once all have (as
 * bench.erl does). */
static void idle_hibernated_memory(term arg)
{
    idle_counters(job_of(arg), LIST(TUPLE(ATOM("hibernate_after"), INT(0))), true);
}

/* ---- Processes that do nothing ------------------------------------------- */

/* Returns at once: the process ends normally. */
static void nothing(term arg)
{
    (void)arg;
}

/* Blocks in receive until any message comes. */
static void idle(term arg)
{
    (void)arg;
    erl_drop(erl_receive(ANY, ERL_INFINITY));
}

/* Spawns n processes that do nothing. */
static void spawn_n(int n)
{
    for (int i = 0; i < n; i++)
        if (is_none(erl_spawn(nothing, NONE)))
            erl_exit_self(ATOM("spawn_failed"));
}

/* SPAWNS empty processes, then waits until all are gone. Returns procs/s. */
static int64_t spawn_burst(size_t base)
{
    int64_t t0 = now_ns();
    spawn_n(SPAWNS);
    wait_count(base);
    return (int64_t)(SPAWNS * 1e9 / (double)(now_ns() - t0));
}

/* spawn_per_s: ROUNDS bursts from one spawner, after one untimed; the best
 * counts. */
static void spawn_rate(term arg)
{
    struct job *job = job_of(arg);
    size_t base = erl_process_count();
    spawn_burst(base);
    for (int i = 0; i < ROUNDS; i++)
        job->times[i] = spawn_burst(base);
    job->ntimes = ROUNDS;
}

/* max_procs: up to MAX_PROCS processes blocked in receive, then a count of
 * those alive while all of them should be. Stops at the first spawn that
 * fails. */
static void max_procs(term arg)
{
    struct job *job = job_of(arg);
    size_t base = erl_process_count(), n = 0, alive = 0;
    while (n < MAX_PROCS && !is_none(job->pids[n] = erl_spawn(idle, NONE)))
        n++;
    for (size_t i = 0; i < n; i++)
        alive += erl_is_alive(job->pids[i]);
    job->value = (double)alive;
    for (size_t i = 0; i < n; i++)
        erl_send(job->pids[i], ATOM("stop"));
    wait_count(base);
}

/* ---- 07_hot_code's counter, upgraded under load -------------------------- */

#ifndef HOT_DIR
#error "tests/bench/Makefile passes HOT_DIR, where 07_hot_code's objects are"
#endif

/* A ticker: HOT_BATCH tick(1) casts to the server, then a read call (which
 * bounds the server's mailbox), until {stop, From}; then From ! {ticked,
 * Self, Sent}. */
static void hot_ticker(term server)
{
    int64_t sent = 0;
    term from, error;
    while (is_none(erl_receive(TUPLE(ATOM("stop"), VAR(&from)), 0))) {
        for (int i = 0; i < HOT_BATCH; i++)
            gen_server_cast(server, TUPLE(ATOM("tick"), INT(1)));
        sent += HOT_BATCH;
        if (!is_int(gen_server_call(server, ATOM("read"), ERL_INFINITY, &error)))
            erl_exit_self(ATOM("read_failed"));
    }
    erl_send(from, TUPLE(ATOM("ticked"), erl_self(), INT(sent)));
}

/* The prober: read calls back to back. {gap, From}: From ! {gap, Self, Ns},
 * the longest time between two replies since the last {gap, _}, answered
 * after the read under way. stop: it ends. */
static void hot_prober(term server)
{
    int64_t last = now_ns(), longest = 0;
    term from, error;
    const term asks[] = {TUPLE(ATOM("gap"), VAR(&from)), ATOM("stop")};
    for (;;) {
        if (!is_int(gen_server_call(server, ATOM("read"), ERL_INFINITY, &error)))
            erl_exit_self(ATOM("read_failed"));
        int64_t t = now_ns();
        longest = t - last > longest ? t - last : longest;
        last = t;
        size_t which;
        if (is_none(erl_receive_any(asks, 2, 0, &which)))
            continue;
        if (which == 1)
            return;
        erl_send(from, TUPLE(ATOM("gap"), erl_self(), INT(longest)));
        longest = 0;
    }
}

/* Asks the prober for its longest gap (and so starts a new one). */
static int64_t prober_gap(term prober)
{
    term ns;
    erl_send(prober, TUPLE(ATOM("gap"), erl_self()));
    erl_drop(erl_receive(TUPLE(ATOM("gap"), prober, VAR(&ns)), ERL_INFINITY));
    return ns.u.integer;
}

/* Makes counter_v<vsn>.so current (the old version purged first) and moves
 * the server to it: sys:suspend, change_code, resume. */
static void hot_switch(term server, int vsn)
{
    char path[512];
    snprintf(path, sizeof path, "%s/counter_v%d.so", HOT_DIR, vsn);
    term error;
    if (!code_soft_purge("counter") || code_load_file("counter", path, &error) < 0 ||
        code_change_server(server, NIL, ERL_INFINITY, &error) < 0)
        erl_exit_self(ATOM("upgrade_failed"));
}

/* Version 1 loaded, its server started, HOT_TICKERS tickers on it. */
static term hot_start(term *tickers)
{
    char path[512];
    snprintf(path, sizeof path, "%s/counter_v1.so", HOT_DIR);
    term error;
    if (code_load_file("counter", path, &error) < 0)
        erl_exit_self(ATOM("load_failed"));
    term server = code_start_server(NONE, "counter", INT(0), 0, &error);
    if (is_none(server))
        erl_exit_self(ATOM("counter_start_failed"));
    for (int i = 0; i < HOT_TICKERS; i++)
        tickers[i] = erl_spawn(hot_ticker, server);
    return server;
}

/* Stops the tickers and the server, unloads the code; returns the ticks
 * lost: sent minus counted. */
static int64_t hot_stop(term server, const term *tickers)
{
    int64_t sent = 0;
    term n, error;
    for (int i = 0; i < HOT_TICKERS; i++) {
        erl_send(tickers[i], TUPLE(ATOM("stop"), erl_self()));
        erl_drop(erl_receive(TUPLE(ATOM("ticked"), tickers[i], VAR(&n)), ERL_INFINITY));
        sent += n.u.integer;
    }
    int64_t counted = gen_server_call(server, ATOM("read"), ERL_INFINITY, &error).u.integer;
    gen_server_stop(server, ATOM("normal"), ERL_INFINITY, &error);
    code_unload_all();
    return sent - counted;
}

/* upgrade_pause_us: the longest gap between two served reads around each
 * of UPGRADES upgrades (1 to 2, 2 to 1, ...) under the tickers' load. */
static void upgrade_pause(term arg)
{
    struct job *job = job_of(arg);
    term tickers[HOT_TICKERS];
    term server = hot_start(tickers);
    term prober = erl_spawn(hot_prober, server);
    for (int i = 0; i < UPGRADES; i++) {
        prober_gap(prober);
        hot_switch(server, 2 - i % 2);
        job->times[i] = prober_gap(prober) / 1000;
    }
    job->ntimes = UPGRADES;
    term ref = erl_monitor(prober);
    erl_send(prober, ATOM("stop"));
    erl_drop(erl_receive(TUPLE(ATOM("DOWN"), ref, ANY, ANY, ANY), ERL_INFINITY));
    hot_stop(server, tickers);
}

/* upgrade_lost: ticks lost across UPGRADES_LOST upgrades under load. */
static void upgrade_lost(term arg)
{
    term tickers[HOT_TICKERS];
    term server = hot_start(tickers);
    for (int i = 0; i < UPGRADES_LOST; i++)
        hot_switch(server, 2 - i % 2);
    job_of(arg)->value = (double)hot_stop(server, tickers);
}

/* ---- The run ------------------------------------------------------------- */

/* The workloads, in the order they run (bench.erl's order). */
static const struct workload {
    const char *metric;     /* what it reports */
    erl_fn fn;              /* runs it, in a process of its own */
    int percentile;         /* reports this percentile of job->times (50:
                               the median, 100: the best rate); 0: reports
                               job->value */
    const char *p99_metric; /* also reports their p99 as this; or NULL */
    bool fresh;             /* runs on a runtime started for it: a memory
                               workload must not count (or see given back)
                               the stack pages a freed slot keeps resident
                               for its next process */
} workloads[] = {
    {"idle_bytes", idle_memory, 0, NULL, true},
    {"idle_hibernated_bytes", idle_hibernated_memory, 0, NULL, true},
    {"call_rtt_ns", call_rtt, 50, "call_rtt_p99_ns", false},
    {"cast_per_s", cast_rate, 100, NULL, false},
    {"gen_call_rtt_ns", gen_call_rtt, 50, "gen_call_rtt_p99_ns", false},
    {"restart_ns", restart, 50, NULL, false},
    {"spawn_per_s", spawn_rate, 100, NULL, false},
    {"max_procs", max_procs, 0, NULL, false},
    {"upgrade_pause_us", upgrade_pause, 50, NULL, false},
    {"upgrade_lost", upgrade_lost, 0, NULL, false},
};

static const struct erl_options bench_opts = {
    .schedulers = 2,                    /* as erl +S 2 */
    .max_procs = (1 << 20) + 4096,      /* MAX_PROCS and the rest */
};

/* Starts the runtime as every workload has it. */
static void start(void)
{
    if (erl_start(&bench_opts) < 0) {
        perror("bench: erl_start");
        exit(70);
    }
    supervisor_set_report(NULL);    /* as the BEAM side silences its logger */
}
#define NWORKLOADS (sizeof workloads / sizeof workloads[0])

/* Runs w and reports what it measured. */
static void run(const struct workload *w, struct job *job)
{
    job->ntimes = 0;
    if (w->fresh) {
        erl_stop();
        start();
    }
    in_process(w->fn, job);
    if (w->percentile == 0) {
        report(w->metric, job->value);
        return;
    }
    report(w->metric, (double)percentile(job->times, job->ntimes, w->percentile));
    if (w->p99_metric != NULL)
        report(w->p99_metric, (double)percentile(job->times, job->ntimes, 99));
}

/* True when w is to run: no metric was named, or w's was. */
static bool chosen(const struct workload *w, int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], w->metric) == 0)
            return true;
    return argc == 1;
}

/* Exits 64 unless every argument names a metric. */
static void check_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        size_t k = 0;
        while (k < NWORKLOADS && strcmp(argv[i], workloads[k].metric) != 0)
            k++;
        if (k == NWORKLOADS) {
            fprintf(stderr, "bench: no metric '%s'. Usage: bench [METRIC...], "
                    "METRIC one of:", argv[i]);
            for (k = 0; k < NWORKLOADS; k++)
                fprintf(stderr, " %s", workloads[k].metric);
            fputc('\n', stderr);
            exit(64);
        }
    }
}

/* bench [METRIC...]: every workload, or only the ones named (to profile one:
 * perf record build/plain/bench/bench cast_per_s). */
int main(int argc, char **argv)
{
    struct job job = {
        .times = calloc(CALLS, sizeof(int64_t)),
        .pids = calloc(MAX_PROCS, sizeof(term)),
    };
    check_args(argc, argv);
    if (job.times == NULL || job.pids == NULL)
        fail("out of memory");
    memset(job.pids, 0xff, MAX_PROCS * sizeof(term));   /* resident now */
    start();
    for (size_t i = 0; i < NWORKLOADS; i++)
        if (chosen(&workloads[i], argc, argv))
            run(&workloads[i], &job);
    erl_stop();
    free(job.times);
    free(job.pids);
    return 0;
}
