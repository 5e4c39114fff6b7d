// bench_caf.cpp - the CAF side of `make bench`: the workloads of bench.c
// that the C++ Actor Framework (Debian's libcaf-dev, CAF 0.17) can express,
// each in CAF's fastest idiom (README.md names them), on a scheduler of 2
// threads, as the C side runs on 2 schedulers. Prints one line per metric:
//
//     caf <metric> <value>
//
// tests/bench/run merges these with the C and BEAM lines. Exit status: 0,
// 64 for an unknown metric, or 70 when a workload went wrong (a lost tick).
//
//   bench_caf [METRIC...]   every workload, or only the ones named
#include <caf/all.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>
#include <vector>

using namespace caf;

using tick_atom = atom_constant<atom("tick")>;
using read_atom = atom_constant<atom("read")>;

namespace {

// The same counts as bench.c's.
constexpr int CALLS = 200000;       // timed calls, after WARMUP untimed ones
constexpr int WARMUP = 20000;
constexpr int ROUNDS = 5;           // bursts of casts or spawns: the best counts
constexpr int64_t CASTS = 1000000;  // ticks cast in one burst
constexpr int SPAWNS = 200000;      // empty actors spawned in one burst
constexpr int IDLE = 100000;        // idle counters whose memory is measured
constexpr int MAX_PROCS = 1000000;  // idle actors held at once

using clock_type = std::chrono::steady_clock;

int64_t ns_since(clock_type::time_point t0) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now() - t0)
        .count();
}

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "bench_caf: %s\n", what);
    std::exit(70);
}

// The resident set of this program, in bytes (/proc/self/statm).
long rss_bytes() {
    long size = 0, resident = 0;
    FILE* f = std::fopen("/proc/self/statm", "r");
    if (f == nullptr || std::fscanf(f, "%ld %ld", &size, &resident) != 2)
        fail("cannot read /proc/self/statm");
    std::fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

// The p-th percentile of v, which it sorts.
int64_t percentile(std::vector<int64_t>& v, int p) {
    std::sort(v.begin(), v.end());
    size_t i = v.size() * static_cast<size_t>(p) / 100;
    return v[std::min(i, v.size() - 1)];
}

void report(const char* metric, double value) {
    std::printf("caf %s %.0f\n", metric, value);
    std::fflush(stdout);
}

// ---- The counter: an event-based actor, as 03's counter ------------------

struct counter_state {
    int64_t n = 0;  // ticks so far
};

// {tick, K} adds K; read answers the count.
behavior counter(stateful_actor<counter_state>* self) {
    return {
        [=](tick_atom, int64_t k) { self->state.n += k; },
        [=](read_atom) { return self->state.n; },
    };
}

// ---- call_rtt_ns: request().then() between two event-based actors --------

struct caller_state {
    actor server;               // the counter it calls
    std::vector<int64_t>* times;  // where the timed round trips go
    int done = 0;               // calls answered so far
};

// The next call, or the end once WARMUP + CALLS are answered.
void next_call(stateful_actor<caller_state>* self) {
    if (self->state.done == WARMUP + CALLS) {
        self->quit();
        return;
    }
    auto t0 = clock_type::now();
    self->request(self->state.server, infinite, read_atom::value).then([=](int64_t) {
        auto& st = self->state;
        if (st.done >= WARMUP)
            (*st.times)[static_cast<size_t>(st.done - WARMUP)] = ns_since(t0);
        st.done++;
        next_call(self);
    });
}

behavior caller(stateful_actor<caller_state>* self, actor server,
                std::vector<int64_t>* times) {
    self->state.server = std::move(server);
    self->state.times = times;
    next_call(self);
    return {[](read_atom) {}};  // it only waits for its replies
}

void call_rtt(actor_system& sys) {
    std::vector<int64_t> times(CALLS);
    auto server = sys.spawn(counter);
    scoped_actor self{sys};
    self->wait_for(sys.spawn(caller, server, &times));
    self->send_exit(server, exit_reason::user_shutdown);
    self->wait_for(server);     // gone before the next workload counts actors
    report("call_rtt_ns", static_cast<double>(percentile(times, 50)));
    report("call_rtt_p99_ns", static_cast<double>(percentile(times, 99)));
}

// ---- cast_per_s: CASTS sends into a counter, proven by one read ----------

// One burst into a fresh counter: ticks per second. CAF's fastest idiom
// here: anon_send from the main thread, then one request from a scoped
// actor (an event-based caster on the scheduler's 2 threads reached about a
// third of that rate: the counter then shares its thread with the caster).
double cast_burst(actor_system& sys) {
    auto target = sys.spawn(counter);
    scoped_actor self{sys};
    auto t0 = clock_type::now();
    for (int64_t i = 0; i < CASTS; i++)
        anon_send(target, tick_atom::value, int64_t{1});
    int64_t count = -1;
    self->request(target, infinite, read_atom::value)
        .receive([&](int64_t n) { count = n; }, [](error&) { fail("the counter died"); });
    int64_t ns = ns_since(t0);
    self->send_exit(target, exit_reason::user_shutdown);
    self->wait_for(target);     // gone before the next workload counts actors
    if (count != CASTS)
        fail("the counter lost ticks");
    return static_cast<double>(CASTS) * 1e9 / static_cast<double>(ns);
}

void cast_rate(actor_system& sys) {
    cast_burst(sys);
    double best = 0;
    for (int i = 0; i < ROUNDS; i++)
        best = std::max(best, cast_burst(sys));
    report("cast_per_s", best);
}

// ---- spawn_per_s: actors that end at once, from a scoped actor -----------

// An actor without a behavior: it ends as soon as it has run.
void nothing(event_based_actor*) {}

double spawn_burst(actor_system& sys, size_t base) {
    auto t0 = clock_type::now();
    for (int i = 0; i < SPAWNS; i++)
        sys.spawn(nothing);
    sys.registry().await_running_count_equal(base);
    return SPAWNS * 1e9 / static_cast<double>(ns_since(t0));
}

void spawn_rate(actor_system& sys) {
    size_t base = sys.registry().running();
    spawn_burst(sys, base);
    double best = 0;
    for (int i = 0; i < ROUNDS; i++)
        best = std::max(best, spawn_burst(sys, base));
    report("spawn_per_s", best);
}

// ---- Idle actors ----------------------------------------------------------

// Ends every actor of v and waits until only base actors run.
void end_all(actor_system& sys, std::vector<actor>& v, size_t base) {
    for (auto& a : v)
        anon_send_exit(a, exit_reason::kill);
    v.clear();
    sys.registry().await_running_count_equal(base);
}

// idle_bytes: resident memory grown by IDLE idle counters, per counter.
// Each is called once before the measure, so that every one has run its
// initialisation (a spawned actor's first run makes its behavior). CAF's
// event-based actor has no stack of its own, idle or not: it is also the
// figure for idle_hibernated_bytes.
void idle_memory(actor_system& sys, std::vector<actor>& v) {
    scoped_actor self{sys};     // first: a scoped actor counts as running
    size_t base = sys.registry().running();
    long rss0 = rss_bytes();
    for (int i = 0; i < IDLE; i++)
        v.push_back(sys.spawn(counter));
    for (auto& a : v)
        self->request(a, infinite, read_atom::value)
            .receive([](int64_t) {}, [](error&) { fail("an idle counter did not answer"); });
    long rss1 = rss_bytes();
    end_all(sys, v, base);
    double per = static_cast<double>(rss1 - rss0) / IDLE;
    report("idle_bytes", per);
    report("idle_hibernated_bytes", per);
}

// max_procs: up to MAX_PROCS idle counters held at once, then a count of
// those running.
void max_procs(actor_system& sys, std::vector<actor>& v) {
    size_t base = sys.registry().running();
    for (int i = 0; i < MAX_PROCS; i++)
        v.push_back(sys.spawn(counter));
    size_t alive = sys.registry().running() - base;
    end_all(sys, v, base);
    report("max_procs", static_cast<double>(alive));
}

// ---- The run ----------------------------------------------------------------

const char* const metrics[] = {"idle_bytes", "call_rtt_ns", "cast_per_s", "spawn_per_s",
                               "max_procs"};

bool chosen(const char* metric, int argc, char** argv) {
    for (int i = 1; i < argc; i++)
        if (std::strcmp(argv[i], metric) == 0)
            return true;
    return argc == 1;
}

void check_args(int argc, char** argv) {
    for (int i = 1; i < argc; i++) {
        bool known = false;
        for (const char* m : metrics)
            known = known || std::strcmp(argv[i], m) == 0;
        if (!known) {
            std::fprintf(stderr, "bench_caf: no metric '%s'. Usage: bench_caf [METRIC...], "
                         "METRIC one of:", argv[i]);
            for (const char* m : metrics)
                std::fprintf(stderr, " %s", m);
            std::fputc('\n', stderr);
            std::exit(64);
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    check_args(argc, argv);
    actor_system_config cfg;
    cfg.set("scheduler.max-threads", 2);    // as erl +S 2 and bench.c's 2 schedulers
    actor_system sys{cfg};
    std::vector<actor> v;
    v.reserve(MAX_PROCS);
    // Resident now, as bench.c touches its pid array: not counted as the
    // actors' memory.
    std::memset(static_cast<void*>(v.data()), 0, MAX_PROCS * sizeof(actor));
    if (chosen("idle_bytes", argc, argv))
        idle_memory(sys, v);
    if (chosen("call_rtt_ns", argc, argv))
        call_rtt(sys);
    if (chosen("cast_per_s", argc, argv))
        cast_rate(sys);
    if (chosen("spawn_per_s", argc, argv))
        spawn_rate(sys);
    if (chosen("max_procs", argc, argv))
        max_procs(sys, v);
    return 0;
}
