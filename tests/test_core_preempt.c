/*
 * test_core_preempt.c - preemption of a process that never calls the
 * runtime (common/runtime/preempt.c).
 *
 * Every test runs on one scheduler, where a process in `for (;;) {}` would
 * keep the only thread without preemption. Preemption is off under the
 * sanitizers (common/README.md, "Preemption"): the tests that need it skip
 * there, saying so.
 */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <string.h>

#include "supervisor.h"
#include "test_util.h"

TestSuite(preempt, .timeout = 120, .fini = stop_runtime);

/* Starts one scheduler with a slice of slice_us (0: the default), and skips
 * the test when preemption is off (the sanitizer builds). */
static void start_preempting(int slice_us) {
    struct erl_options opts = {.schedulers = 1, .preempt_us = slice_us};
    cr_assert_eq(erl_start(&opts), 0, "erl_start(.preempt_us = %d) failed", slice_us);
    struct erl_preempt_stats st;
    erl_preempt_stats(&st);
    if (!st.slice_us)
        cr_skip_test("preemption is off in this build (the sanitizers: see common/README.md)");
}

static uint64_t preemptions(void) {
    struct erl_preempt_stats st;
    erl_preempt_stats(&st);
    return st.preemptions;
}

static uint64_t refusals(void) {
    struct erl_preempt_stats st;
    erl_preempt_stats(&st);
    return st.refusals;
}

/* ---- Processes that never call the runtime ------------------------------- */

static volatile uint64_t spins;     /* the spinners' work, so it is not dropped */

/* for (;;) {}: never returns, never calls the runtime. */
static void spin(term arg) {
    (void)arg;
    for (;;)
        spins++;
}

/* As spin, trapping exits first: a shutdown becomes a message it never
 * reads, so only a kill ends it. */
static void spin_trapping(term arg) {
    erl_trap_exit(true);
    spin(arg);
}

static void say_hello(term owner) { erl_send(owner, TUPLE(ATOM("hello"), erl_self())); }

/* Owner: arms a 20 ms erl_send_after to itself and waits for it, then waits
 * 30 ms for nothing; tells Owner of each. */
static void wait_for_timers(term owner) {
    erl_send_after(20, erl_self(), ATOM("ping"));
    term m = erl_receive(ATOM("ping"), WAIT_MS);
    erl_send(owner, TUPLE(ATOM("timer"), bool_atom(!is_none(m))));
    m = erl_receive(ATOM("never"), 30);
    erl_send(owner, TUPLE(ATOM("timeout"), bool_atom(is_none(m))));
}

Test(preempt, a_spinning_process_does_not_stop_another_from_running) {
    start_preempting(0);
    erl_spawn(spin, NONE);
    term pid = erl_spawn(say_hello, erl_self());
    await(TUPLE(ATOM("hello"), pid), "hello from a process behind the spinner");
    cr_assert_gt(preemptions(), 0, "the spinner was never preempted");
}

Test(preempt, timers_and_receive_timeouts_fire_behind_a_spinning_process) {
    start_preempting(0);
    erl_spawn(spin, NONE);
    erl_spawn(wait_for_timers, erl_self());
    await(TUPLE(ATOM("timer"), ATOM("true")), "the erl_send_after message");
    await(TUPLE(ATOM("timeout"), ATOM("true")), "the receive timeout");
}

Test(preempt, erl_stop_returns_with_spinning_processes) {
    start_preempting(0);
    for (int i = 0; i < 3; i++)
        erl_spawn(spin, NONE);
    term pid = erl_spawn(say_hello, erl_self());
    await(TUPLE(ATOM("hello"), pid), "hello from a process behind the spinners");
    erl_stop();     /* kills the spinners: they take the kill when preempted */
}

Test(preempt, exit_kill_ends_a_spinning_process_at_once) {
    start_preempting(0);
    term pid = erl_spawn(spin_trapping, NONE);
    term ref = erl_monitor(pid);
    erl_exit(pid, ATOM("kill"));
    expect_down(ref, ATOM("killed"));
}

Test(preempt, an_exit_signal_ends_a_spinning_process_that_does_not_trap) {
    start_preempting(0);
    term pid = erl_spawn(spin, NONE);
    term ref = erl_monitor(pid);
    erl_exit(pid, ATOM("stop_spinning"));
    expect_down(ref, ATOM("stop_spinning"));
}

/* ---- A supervisor's shutdown --------------------------------------------- */

static term start_spinner(term arg, term *error) {
    (void)arg, (void)error;
    return erl_spawn_link(spin_trapping, NONE);
}

/* Shutdown 100 ms: exit(Child, shutdown) is ignored (it traps exits and
 * never reads), so the supervisor kills it when the 100 ms are over. */
Test(preempt, a_supervisor_kills_a_spinning_child_when_its_shutdown_time_is_up) {
    start_preempting(0);
    struct sup_child_spec spec = {ATOM("spinner"), start_spinner, NONE, SUP_PERMANENT, 100,
                                  SUP_WORKER};
    term error = NONE;
    term sup = supervisor_start(NONE, (struct sup_flags){SUP_ONE_FOR_ONE, 1, 5}, &spec, 1, 0,
                                &error);
    cr_assert(!is_none(sup), "the supervisor did not start: %s", FMT(error));
    term children = supervisor_which_children(sup, &error);
    term child = NONE;
    cr_assert(match(children, LIST(TUPLE(ATOM("spinner"), VAR(&child), ANY, ANY))),
              "which_children: %s", FMT(children));
    term ref = erl_monitor(child);
    int64_t t0 = now_ns();
    cr_assert_eq(supervisor_terminate_child(sup, ATOM("spinner"), &error), 0,
                 "terminate_child failed: %s", FMT(error));
    expect_down(ref, ATOM("killed"));
    cr_assert_geq((now_ns() - t0) / 1000000, 100, "killed before its 100 ms shutdown");
    cr_assert_eq(supervisor_stop(sup, ATOM("normal"), WAIT_MS, &error), 0,
                 "the supervisor did not stop: %s", FMT(error));
}

/* ---- Registers survive ------------------------------------------------------ */

typedef double v2d __attribute__((vector_size(16)));
typedef double v4d __attribute__((vector_size(32)));

/* What a computation carries from one chunk to the next. */
struct sums {
    uint64_t a, b;      /* integer state (general registers in the loop) */
    v2d x, y;           /* packed doubles (xmm registers in the loop) */
    v4d z;              /* four doubles (ymm registers, with AVX) */
};

#define CHUNK 4096

/* CHUNK steps of integer and floating-point work on s, kept in registers
 * for the whole chunk. Deterministic: the same steps give the same bits,
 * preempted or not. */
__attribute__((noinline)) static void step_sse(struct sums *s) {
    uint64_t a = s->a, b = s->b;
    v2d x = s->x, y = s->y;
    const v2d k = {0.999999, 1.000001}, c = {0.5, 0.25};
    for (int i = 0; i < CHUNK; i++) {
        a = a * 6364136223846793005ULL + 1442695040888963407ULL;
        b ^= a >> 17;
        x = x * k + c;
        y = y * x - c * k;
    }
    s->a = a, s->b = b, s->x = x, s->y = y;
}

__attribute__((noinline, target("avx"))) static void step_avx(struct sums *s) {
    v4d z = s->z;
    const v4d k = {0.999999, 1.000001, 0.9999995, 1.0000005}, c = {0.5, 0.25, 0.125, 2.0};
    for (int i = 0; i < CHUNK; i++)
        z = z * k + c;
    s->z = z;
}

static void sums_init(struct sums *s) {
    *s = (struct sums){.a = 1, .b = 2, .x = {1.0, 2.0}, .y = {3.0, 4.0}, .z = {1, 2, 3, 4}};
}

static void sums_step(struct sums *s, bool avx) {
    step_sse(s);
    if (avx)
        step_avx(s);
}

/* What the preempted computation hands the test thread (read after its
 * 'done' message, which orders the writes before the reads). */
static struct sums computed;
static uint64_t computed_chunks;
static uint64_t preemptions_wanted;
static bool use_avx;
static atomic_bool computing;   /* the clobberer goes on while it is true */

/* Owner: steps until the node has preempted preemptions_wanted times,
 * leaves the sums in computed, then tells Owner done. */
static void compute_until_preempted(term owner) {
    struct sums s;
    sums_init(&s);
    uint64_t chunks = 0;
    while (preemptions() < preemptions_wanted) {
        sums_step(&s, use_avx);
        chunks++;
    }
    computed = s;
    computed_chunks = chunks;
    atomic_store(&computing, false);
    erl_send(owner, ATOM("done"));
}

/* Puts other values in every caller-saved general register and in every
 * vector register (all of ymm with AVX). */
__attribute__((noinline)) static void clobber_sse(void) {
    __asm__ volatile("movq $-1, %%rax\n\tmovq $-1, %%rcx\n\tmovq $-1, %%rdx\n\t"
                     "movq $-1, %%rsi\n\tmovq $-1, %%rdi\n\tmovq $-1, %%r8\n\t"
                     "movq $-1, %%r9\n\tmovq $-1, %%r10\n\tmovq $-1, %%r11\n\t"
                     "pcmpeqd %%xmm0, %%xmm0\n\tpcmpeqd %%xmm1, %%xmm1\n\t"
                     "pcmpeqd %%xmm2, %%xmm2\n\tpcmpeqd %%xmm3, %%xmm3\n\t"
                     "pcmpeqd %%xmm4, %%xmm4\n\tpcmpeqd %%xmm5, %%xmm5\n\t"
                     "pcmpeqd %%xmm6, %%xmm6\n\tpcmpeqd %%xmm7, %%xmm7\n\t"
                     "pcmpeqd %%xmm8, %%xmm8\n\tpcmpeqd %%xmm9, %%xmm9\n\t"
                     "pcmpeqd %%xmm10, %%xmm10\n\tpcmpeqd %%xmm11, %%xmm11\n\t"
                     "pcmpeqd %%xmm12, %%xmm12\n\tpcmpeqd %%xmm13, %%xmm13\n\t"
                     "pcmpeqd %%xmm14, %%xmm14\n\tpcmpeqd %%xmm15, %%xmm15"
                     ::: "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11",
                     "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
                     "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
                     "xmm15", "cc");
}

__attribute__((noinline, target("avx"))) static void clobber_avx(void) {
    __asm__ volatile("vpcmpeqd %%ymm0, %%ymm0, %%ymm0\n\tvpcmpeqd %%ymm1, %%ymm1, %%ymm1\n\t"
                     "vpcmpeqd %%ymm2, %%ymm2, %%ymm2\n\tvpcmpeqd %%ymm3, %%ymm3, %%ymm3\n\t"
                     "vpcmpeqd %%ymm4, %%ymm4, %%ymm4\n\tvpcmpeqd %%ymm5, %%ymm5, %%ymm5\n\t"
                     "vpcmpeqd %%ymm6, %%ymm6, %%ymm6\n\tvpcmpeqd %%ymm7, %%ymm7, %%ymm7\n\t"
                     "vpcmpeqd %%ymm8, %%ymm8, %%ymm8\n\tvpcmpeqd %%ymm9, %%ymm9, %%ymm9\n\t"
                     "vpcmpeqd %%ymm10, %%ymm10, %%ymm10\n\tvpcmpeqd %%ymm11, %%ymm11, %%ymm11\n\t"
                     "vpcmpeqd %%ymm12, %%ymm12, %%ymm12\n\tvpcmpeqd %%ymm13, %%ymm13, %%ymm13\n\t"
                     "vpcmpeqd %%ymm14, %%ymm14, %%ymm14\n\tvpcmpeqd %%ymm15, %%ymm15, %%ymm15"
                     ::: "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
                     "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
                     "xmm15");
}

/* Runs between the computation's slices: clobbers, yields, until the
 * computation is done; counts its turns in *arg's place. */
static uint64_t clobber_turns;

static void clobberer(term arg) {
    (void)arg;
    while (atomic_load(&computing)) {
        clobber_sse();
        if (use_avx)
            clobber_avx();
        clobber_turns++;
        erl_yield();
    }
}

/* Preemptions the register test waits for: PREEMPT_TEST_COUNT, else a
 * million, as the issue asks. A million take about 66 s on the loaded
 * 2-core machine: each preemption costs about 65 µs of signals and
 * switches, mostly in the kernel (PREEMPT_TEST_COUNT=100000 for a quick
 * run). */
static uint64_t preemptions_to_test(void) {
    const char *env = getenv("PREEMPT_TEST_COUNT");
    return env && atoll(env) > 0 ? (uint64_t)atoll(env) : 1000000;
}

/* Many preemptions with a 1 µs slice, and between them a process that
 * overwrites every register: the sums come out bit for bit as the same
 * number of chunks computed on the test thread, never preempted. */
Test(preempt, a_process_preempted_many_times_computes_what_an_unpreempted_one_does,
     .timeout = 600) {
    start_preempting(1);
    __builtin_cpu_init();
    use_avx = __builtin_cpu_supports("avx");
    preemptions_wanted = preemptions() + preemptions_to_test();
    atomic_store(&computing, true);
    erl_spawn(compute_until_preempted, erl_self());
    erl_spawn(clobberer, NONE);
    cr_assert(!is_none(erl_receive(ATOM("done"), 550000)),
              "%lu preemptions did not happen within 550 s",
              (unsigned long)preemptions_to_test());
    cr_assert_gt(clobber_turns, 1000, "the clobberer ran only %lu times",
                 (unsigned long)clobber_turns);
    struct sums ref;
    sums_init(&ref);
    for (uint64_t i = 0; i < computed_chunks; i++)
        sums_step(&ref, use_avx);
    cr_assert_eq(computed.a, ref.a, "the integer state differs");
    cr_assert_eq(computed.b, ref.b, "the integer state differs");
    cr_assert(!memcmp(&computed.x, &ref.x, sizeof ref.x), "the xmm sums differ");
    cr_assert(!memcmp(&computed.y, &ref.y, sizeof ref.y), "the xmm sums differ");
    cr_assert(!memcmp(&computed.z, &ref.z, sizeof ref.z), "the ymm sums differ");
}

/* ---- Code outside the preemptible range ---------------------------------- */

/* Set while plain_work runs; the watcher must never see it set. */
static volatile int in_plain_work;
static atomic_bool watching;
static volatile bool watcher_saw_it;

/* Outside the preemptible range: its own section, which the build leaves
 * alone (only .text* becomes erl_user_text), as if it were libc. Sets the
 * flag, runs long memsets (libc) and a long loop here, clears the flag. */
__attribute__((noinline, noipa, section("preempt_test_plain")))
static void plain_work(char *buf, size_t n) {
    in_plain_work = 1;
    for (int r = 0; r < 4; r++)
        memset(buf, r, n);
    for (volatile long i = 0; i < 20 * 1000 * 1000; i++)
        ;
    in_plain_work = 0;
}

/* Owner: runs plain_work five times, yielding in between, then tells
 * Owner done. */
static void plain_worker(term owner) {
    size_t n = 32u << 20;
    char *buf = malloc(n);
    for (int i = 0; i < 5 && buf; i++) {
        plain_work(buf, n);
        erl_yield();
    }
    free(buf);
    atomic_store(&watching, false);
    erl_send(owner, buf ? ATOM("done") : ATOM("no_memory"));
}

/* Spins in its own (preemptible) code, looking at the flag. */
static void watcher(term arg) {
    (void)arg;
    while (atomic_load(&watching))
        if (in_plain_work)
            watcher_saw_it = true;
}

Test(preempt, code_outside_the_preemptible_range_is_never_switched_mid_call) {
    start_preempting(0);
    atomic_store(&watching, true);
    uint64_t refused = refusals();
    erl_spawn(watcher, NONE);
    erl_spawn(plain_worker, erl_self());
    await(ATOM("done"), "the plain worker's done");
    cr_assert(!watcher_saw_it, "another process ran while plain_work was inside its call");
    cr_assert_gt(refusals(), refused, "the ticker never tried to preempt plain_work");
}
