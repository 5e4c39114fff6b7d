/*
 * test_core_stack.c - a stack overflow ends the process that overflowed.
 *
 * Run: make -C tests test-core   (or build/plain/tests/test_core_stack --verbose)
 *
 * Every stack has a gap below it that nothing writes (guard pages where the
 * kernel has MADV_GUARD_INSTALL), and the code is built with
 * -fstack-clash-protection: an overflow by small frames or by one large
 * frame reaches the gap, and the process ends with {stack_overflow, Bytes},
 * Bytes being its stack's size. Its neighbours (the stacks just below and
 * above it in the same slab, spawned just before and after it) keep what
 * their stacks hold, and the slot's stack runs the next process.
 *
 * The suites start the runtime with a known stack size, so that the reason
 * can be checked to the byte. On a kernel without MADV_GUARD_INSTALL (before
 * Linux 6.13) the gap is plain memory, an overflow is seen only at a switch
 * or an exit (common/README.md), and every test here is skipped.
 */
#include <criterion/criterion.h>
#include <stdint.h>

#include "erl.h"
#include "fiber.h"      /* stack_guarded */
#include "test_util.h"
/* After test_util.h, whose static now_ns proc.h's declaration then names. */
#include "proc.h"       /* proc_me: a process's own fiber, for the switch check */

/* The stack size the suites ask for: the runtime's defaults. */
#ifdef ERL_SANITIZE
#define TEST_STACK ((size_t)256 * 1024)
#else
#define TEST_STACK ((size_t)64 * 1024)
#endif

/* The reason a process with a TEST_STACK stack dies of when it overflows. */
#define OVERFLOW_REASON TUPLE(ATOM("stack_overflow"), INT((int64_t)TEST_STACK))

/* Starts two schedulers with TEST_STACK stacks and at most max_procs
 * processes (0: the default). */
static void start_stacks(size_t max_procs) {
    struct erl_options opts = {.schedulers = 2, .stack_size = TEST_STACK,
                               .max_procs = max_procs};
    cr_assert_eq(erl_start(&opts), 0, "erl_start failed");
    if (!stack_guarded())
        cr_skip_test("this kernel has no MADV_GUARD_INSTALL: overflows are not caught");
}

static void start_default(void) { start_stacks(0); }

/* One slot besides the test thread's own: every spawn reuses it. */
static void start_one_slot(void) { start_stacks(2); }

TestSuite(stack, .timeout = 60, .init = start_default, .fini = stop_runtime);
TestSuite(stack_slot, .timeout = 60, .init = start_one_slot, .fini = stop_runtime);

/* ---- The culprits ---------------------------------------------------------- */

/* Never set: the compiler cannot tell that recurse has no way out. */
static volatile bool bottom_found;

/* Calls itself until the stack runs out, a small frame at a time. The
 * volatile local, used after the call, keeps it from becoming a loop. */
ERL_DELIBERATE_FAULT static int recurse(int depth) {
    volatile char frame[64];
    frame[0] = (char)depth;
    if (bottom_found)
        return frame[0];
    return recurse(depth + 1) + frame[0];
}

/* As recurse, yielding at every level: the deepest frames are the
 * runtime's switch, where the overflow then happens. */
ERL_DELIBERATE_FAULT static int recurse_yielding(int depth) {
    volatile char frame[64];
    frame[0] = (char)depth;
    erl_yield();
    if (bottom_found)
        return frame[0];
    return recurse_yielding(depth + 1) + frame[0];
}

/* One frame of 1 MiB, far more than a stack, written at its lowest address.
 * With -fstack-clash-protection its prologue touches every page on the way
 * down, so it faults in the gap below the stack. */
ERL_DELIBERATE_FAULT static void one_large_frame(void) {
    volatile char big[1 << 20];
    big[0] = 1;
    fault_sink = big[0];
}

/* One frame a little larger than the stack, its lowest 8 KiB written: without
 * the gap, those bytes would be the top of the stack below. */
ERL_DELIBERATE_FAULT static void frame_past_the_bottom(size_t bytes) {
    volatile char big[bytes];
    for (size_t i = 0; i < 8192; i++)
        big[i] = (char)i;
    fault_sink = big[0];
}

/* Recurses until the frames take bytes below top, then returns (legal use
 * of most of a stack) or, if fault, loads through NULL there. */
ERL_DELIBERATE_FAULT static int descend(const volatile char *top, size_t bytes, bool fault) {
    volatile char frame[64];
    frame[0] = 1;
    if ((size_t)(top - frame) >= bytes)
        return fault ? load_null() : frame[0];
    return descend(top, bytes, fault) + frame[0];
}

/* ---- A switch with the stack pointer at the bottom ------------------------ */

/* The calling process's fiber. Out of line: it reads a thread-local. */
__attribute__((noinline)) static struct fiber *my_fiber(void) { return &proc_me()->fiber; }

/* Calls erl_yield with the stack pointer at sp (16-byte aligned), then puts
 * the stack pointer back. */
ERL_DELIBERATE_FAULT static void yield_with_sp_at(uintptr_t sp) {
    __asm__ volatile("mov %%rsp, %%r12\n\t"
                     "mov %0, %%rsp\n\t"
                     "call erl_yield\n\t"
                     "mov %%r12, %%rsp"
                     :
                     : "r"(sp)
                     : "r12", "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10",
                       "r11", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",
                       "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",
                       "xmm14", "xmm15", "memory", "cc");
}

/* Yields once with the stack pointer 8 KiB down, to learn how far below
 * the caller's stack pointer a switch saves it; then yields with the stack
 * pointer placed so that the switch saves it in the lowest bytes of the
 * stack, the red zone, without touching the gap: a process the scheduler
 * must end at the switch (sched.c's check_stack), as it cannot go on. */
ERL_DELIBERATE_FAULT static void switch_at_the_bottom(void) {
    volatile char here = 0;
    uintptr_t probe = ((uintptr_t)&here - 8192) & ~(uintptr_t)15;
    yield_with_sp_at(probe);
    struct fiber *f = my_fiber();
    uintptr_t depth = probe - (uintptr_t)f->sp;
    uintptr_t at = ((uintptr_t)f->stack + depth + 16 + 15) & ~(uintptr_t)15;
    yield_with_sp_at(at);
}

/* How a culprit ends once told to go. */
enum how { SMALL_FRAMES, LARGE_FRAME, PAST_THE_BOTTOM, HALF_THE_STACK, NULL_NEAR_THE_BOTTOM,
           SWITCH_AT_THE_BOTTOM, YIELDING_FRAMES };

/* {Owner, How}: sends Owner {ready, Self, Address} (the address of a local
 * near the top of its stack), waits for go, then does How. */
static void culprit(term arg) {
    volatile char here = 0;
    erl_send(element(1, arg), TUPLE(ATOM("ready"), erl_self(), INT((intptr_t)&here)));
    erl_drop(erl_receive(ATOM("go"), ERL_INFINITY));
    switch ((enum how)element(2, arg).u.integer) {
    case SMALL_FRAMES: recurse(0); break;
    case LARGE_FRAME: one_large_frame(); break;
    case PAST_THE_BOTTOM: frame_past_the_bottom(TEST_STACK + 4096); break;
    case HALF_THE_STACK: descend(&here, TEST_STACK / 2, false); break;
    case NULL_NEAR_THE_BOTTOM: descend(&here, TEST_STACK - 6 * 1024, true); break;
    case SWITCH_AT_THE_BOTTOM: switch_at_the_bottom(); break;
    case YIELDING_FRAMES: recurse_yielding(0); break;
    }
}

/* ---- The neighbours ------------------------------------------------------ */

#define PATTERN 2048

/* The byte at i of a neighbour's pattern. */
static unsigned char pattern_at(size_t i) { return (unsigned char)(i * 7 + 1); }

/* Owner: fills a local array with the pattern, sends Owner {ready, Self,
 * Address}, waits for check, then sends {intact, Self, Bool}: whether the
 * pattern is still there. */
static void neighbour(term owner) {
    volatile unsigned char pattern[PATTERN];
    for (size_t i = 0; i < PATTERN; i++)
        pattern[i] = pattern_at(i);
    erl_send(owner, TUPLE(ATOM("ready"), erl_self(), INT((intptr_t)pattern)));
    erl_drop(erl_receive(ATOM("check"), ERL_INFINITY));
    bool intact = true;
    for (size_t i = 0; i < PATTERN; i++)
        intact &= pattern[i] == pattern_at(i);
    erl_send(owner, TUPLE(ATOM("intact"), erl_self(), bool_atom(intact)));
}

/* ---- Helpers ------------------------------------------------------------- */

/* Spawns a culprit that will do how, monitored under *ref. */
static term spawn_culprit(enum how how, term *ref) {
    term pid = erl_spawn_opt("culprit", culprit, TUPLE(erl_self(), INT(how)),
                             ERL_MONITOR, ref);
    cr_assert(is_pid(pid), "spawn failed");
    return pid;
}

/* Waits for pid's {ready, Pid, Address}; returns Address. */
static intptr_t await_ready(term pid) {
    term addr;
    term m = await(TUPLE(ATOM("ready"), pid, VAR(&addr)), "ready");
    intptr_t a = (intptr_t)addr.u.integer;
    erl_drop(m);
    return a;
}

/* Spawns a culprit that does how, lets it go and asserts it died of a
 * stack overflow. Returns the address it reported. */
static intptr_t overflow_once(enum how how) {
    term ref;
    term pid = spawn_culprit(how, &ref);
    intptr_t addr = await_ready(pid);
    erl_send(pid, ATOM("go"));
    expect_down(ref, OVERFLOW_REASON);
    return addr;
}

/* True when neighbour pid still holds its pattern (and so is alive). */
static bool still_intact(term pid) {
    term ok;
    erl_send(pid, ATOM("check"));
    term m = erl_receive(TUPLE(ATOM("intact"), pid, VAR(&ok)), WAIT_MS);
    return !is_none(m) && is_atom_named(ok, "true");
}

/* Spawns a neighbour, the culprit, and another neighbour, in that order,
 * so that their stacks are adjacent; lets the culprit do how; asserts it
 * died of a stack overflow and both neighbours kept their patterns. */
static void neighbours_survive(enum how how) {
    term below = erl_spawn(neighbour, erl_self()), ref;
    term c = spawn_culprit(how, &ref);
    term above = erl_spawn(neighbour, erl_self());
    intptr_t a = await_ready(below), b = await_ready(c), d = await_ready(above);
    cr_assert(a < b && b < d && b - a < (intptr_t)(2 * TEST_STACK) &&
                  d - b < (intptr_t)(2 * TEST_STACK),
              "the three stacks are not adjacent: %lx %lx %lx", (long)a, (long)b,
              (long)d);
    erl_send(c, ATOM("go"));
    expect_down(ref, OVERFLOW_REASON);
    cr_assert(still_intact(below), "the neighbour below lost its stack");
    cr_assert(still_intact(above), "the neighbour above lost its stack");
}

/* ---- Overflows ----------------------------------------------------------- */

Test(stack, small_frames_overflow_ends_the_process_with_stack_overflow) {
    overflow_once(SMALL_FRAMES);
}

Test(stack, one_large_frame_overflow_ends_the_process_with_stack_overflow) {
    overflow_once(LARGE_FRAME);
}

/* Less than crash.c's DYING_ROOM (8 KiB) is left below the fault: too
 * little to die there, so the process dies of the overflow it nearly had. */
Test(stack, a_fault_too_near_the_bottom_to_die_there_is_an_overflow) {
    overflow_once(NULL_NEAR_THE_BOTTOM);
}

Test(stack, an_overflow_while_switching_ends_the_process) {
    overflow_once(YIELDING_FRAMES);
}

/* Without the check at the switch, it would resume and end normally. Under
 * the sanitizers the switch first reads 4 KiB below itself (fiber.c's
 * SWITCH_ROOM), which is in the gap: the process dies of the same overflow
 * in the fault handler instead, before the check. */
Test(stack, a_switch_with_the_stack_pointer_in_the_red_zone_is_an_overflow) {
    overflow_once(SWITCH_AT_THE_BOTTOM);
}

Test(stack, neighbours_keep_their_stacks_when_small_frames_overflow) {
    neighbours_survive(SMALL_FRAMES);
}

Test(stack, neighbours_keep_their_stacks_when_a_frame_passes_the_bottom) {
    neighbours_survive(PAST_THE_BOTTOM);
}

Test(stack, the_node_keeps_running_and_spawning) {
    overflow_once(SMALL_FRAMES);
    overflow_once(LARGE_FRAME);
    term pid = agent_start();
    cr_assert(ping(pid), "a process spawned after the overflows does not answer");
    erl_send(pid, ATOM("stop"));
}

Test(stack, linked_processes_get_the_reason) {
    term ref, reason;
    term c = spawn_culprit(SMALL_FRAMES, &ref);
    await_ready(c);
    erl_link(c);                        /* the test thread traps exits */
    term bystander = agent_start();     /* does not trap: dies of it too */
    term bystander_ref = erl_monitor(bystander);
    agent_link(bystander, c);
    erl_send(c, ATOM("go"));
    expect_down(ref, OVERFLOW_REASON);
    await(TUPLE(ATOM("EXIT"), c, VAR(&reason)), "'EXIT' from the culprit");
    cr_assert(term_eq(reason, OVERFLOW_REASON), "'EXIT' reason %s", FMT(reason));
    expect_down(bystander_ref, OVERFLOW_REASON);
}

/* 1000 in a row, half of each kind: the process count comes back, and
 * LeakSanitizer finds nothing. */
Test(stack, a_thousand_overflows_leak_nothing) {
    erl_self();                         /* the test thread's own, first */
    size_t before = erl_process_count();
    for (int i = 0; i < 1000; i++)
        overflow_once(i % 2 ? LARGE_FRAME : SMALL_FRAMES);
    cr_assert_eq(erl_process_count(), before, "%zu processes, %zu before",
                 erl_process_count(), before);
    stop_and_check_leaks();
}

/* ---- The slot's stack after an overflow ---------------------------------- */

/* Spawns a culprit that does how on the one process slot, retrying while the
 * slot's last process is still being freed; returns its pid. */
static term spawn_on_the_slot(enum how how, term *ref) {
    int64_t deadline = now_ns() + (int64_t)WAIT_MS * 1000000;
    for (;;) {
        term pid = erl_spawn_opt("culprit", culprit, TUPLE(erl_self(), INT(how)),
                                 ERL_MONITOR, ref);
        if (is_pid(pid))
            return pid;
        cr_assert(now_ns() < deadline, "the slot was not freed within %d ms", WAIT_MS);
        erl_yield();
    }
}

Test(stack_slot, the_stack_of_an_overflowed_process_runs_the_next) {
    term ref;
    term first = spawn_on_the_slot(SMALL_FRAMES, &ref);
    intptr_t addr = await_ready(first);
    erl_send(first, ATOM("go"));
    expect_down(ref, OVERFLOW_REASON);

    term next = spawn_on_the_slot(HALF_THE_STACK, &ref);
    cr_assert_eq(await_ready(next), addr, "the next process got another stack");
    erl_send(next, ATOM("go"));
    expect_down(ref, ATOM("normal"));

    term last = spawn_on_the_slot(LARGE_FRAME, &ref);  /* the gap still guards */
    cr_assert_eq(await_ready(last), addr, "the last process got another stack");
    erl_send(last, ATOM("go"));
    expect_down(ref, OVERFLOW_REASON);
}
