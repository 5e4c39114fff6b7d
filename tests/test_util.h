/*
 * test_util.h - helpers the suites share.
 *
 * Fixtures that start and stop the runtime, waiting for a message or a
 * death with a generous deadline, a clock, "agent": a process the test
 * thread drives by messages (link, trap exits, crash, answer pings), so a
 * suite can put a process in any state and watch what happens to it, and
 * running lines in a stage's shell.
 *
 * Everything here is static, because tests/Makefile links each suite from
 * its own .c file alone.
 */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "erl.h"
#include "shell.h"

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>   /* the leak check in stop_and_check_leaks */
#endif

/* How long a test waits for something that must happen, in ms. Generous
 * because the machine may be loaded; a passing test never waits this long. */
#define WAIT_MS 10000

/* Heavy counts are divided by this under the sanitizers, which make every
 * spawn and message several times slower: AddressSanitizer about 3 times,
 * ThreadSanitizer (a fiber is a thread to it) about 30 times. */
#if defined(__SANITIZE_THREAD__)
#define SAN_DIVISOR 20
#elif defined(ERL_SANITIZE)
#define SAN_DIVISOR 4
#else
#define SAN_DIVISOR 1
#endif

/* Processes alive at once in the scale tests. ThreadSanitizer counts every
 * process as a thread of its own, allows 8128 at a time, and takes about
 * 2 ms to start each. */
#ifdef __SANITIZE_THREAD__
#define WAITING_PROCS 2000
#else
#define WAITING_PROCS 10000
#endif

/* ---- Fixtures ------------------------------------------------------------ */

static inline void start_with(int schedulers) {
    struct erl_options opts = {.schedulers = schedulers};
    cr_assert_eq(erl_start(&opts), 0, "erl_start(.schedulers = %d) failed",
                 schedulers);
}

/* The default runtime: one scheduler per core. */
static inline void start_runtime(void) { start_with(0); }
static inline void start_one_scheduler(void) { start_with(1); }
static inline void start_two_schedulers(void) { start_with(2); }
static inline void stop_runtime(void) { erl_stop(); }

/* Stops the runtime and asserts LeakSanitizer finds nothing left behind
 * (under ASan; elsewhere it only stops). Criterion does not fail a test for
 * a leak report printed when its process exits, so tests about reclaiming
 * memory call this at their end. erl_stop in .fini then does nothing. */
static inline void stop_and_check_leaks(void) {
    erl_stop();
#ifdef __SANITIZE_ADDRESS__
    cr_assert_eq(__lsan_do_recoverable_leak_check(), 0,
                 "LeakSanitizer found leaks: see its report above");
#endif
}

/* ---- Small tools --------------------------------------------------------- */

/* Formats t into a buffer that lives to the end of the enclosing statement;
 * for assertion messages. */
static inline const char *test_fmt(term t, char *buf, size_t n) {
    term_format(buf, n, t);
    return buf;
}
#define FMT(t) test_fmt((t), (char[512]){0}, 512)

/* Monotonic time in nanoseconds. */
static inline int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline term bool_atom(bool b) { return b ? ATOM("true") : ATOM("false"); }

/* Receives the first message matching pattern, failing the test when none
 * comes within WAIT_MS. what names the awaited message in the failure. */
static inline term await(term pattern, const char *what) {
    term m = erl_receive(pattern, WAIT_MS);
    cr_assert(!is_none(m), "no %s within %d ms", what, WAIT_MS);
    return m;
}

/* Waits for {'DOWN', ref, process, _, Reason} and returns Reason, which
 * stays valid until the message is dropped. */
static inline term await_down(term ref) {
    term reason = NONE;
    term m = erl_receive(TUPLE(ATOM("DOWN"), ref, ATOM("process"), ANY,
                               VAR(&reason)), WAIT_MS);
    cr_assert(!is_none(m), "no 'DOWN' for %s within %d ms", FMT(ref), WAIT_MS);
    return reason;
}

/* Waits for the 'DOWN' of ref and asserts its reason is expected. */
static inline void expect_down(term ref, term expected) {
    term reason = await_down(ref);
    cr_assert(term_eq(reason, expected), "'DOWN' reason %s, expected %s",
              FMT(reason), FMT(expected));
}

/* No message matching pattern is waiting (checked without waiting). */
static inline void expect_no_message(term pattern) {
    term m = erl_receive(pattern, 0);
    cr_assert(is_none(m), "unexpected message %s", FMT(m));
}

/* ---- Faults -------------------------------------------------------------- */

/* Where the faulting functions put their results and find their NULL, so the
 * compiler can neither see the values nor drop the faulting instruction
 * (noinline alone lets GCC clone the function without it). */
static volatile int fault_sink;
static int *volatile fault_null;

/* 1000 div divisor: with 0, a SIGFPE on x86-64. */
ERL_DELIBERATE_FAULT static int divide_by(int divisor) {
    volatile int d = divisor;
    fault_sink = 1000 / d;
    return fault_sink;
}

/* A load through NULL: SIGSEGV. */
ERL_DELIBERATE_FAULT static int load_null(void) {
    fault_sink = *fault_null;
    return fault_sink;
}

/* ---- The agent process --------------------------------------------------- */

/*
 * agent(Owner) serves these messages until it ends:
 *   {ping, From}             From ! {pong, Self}
 *   {trap, From, Bool}       trap_exit(Bool); From ! {trapping, Self, Previous}
 *   {link, From, Pid}        link(Pid); From ! {linked, Self}
 *   {unlink, From, Pid}      unlink(Pid); From ! {unlinked, Self}
 *   {send_exit, From, P, R}  exit(P, R); From ! {sent_exit, Self}
 *   {exit, Reason}           exit(Reason)
 *   {divide, N}              Owner ! {quotient, Self, 1000 div N}
 *                            (N = 0: dies with badarith)
 *   segv                     loads through NULL
 *   stop                     returns: ends with reason normal
 * Anything else (an {'EXIT', Pid, Reason} when trapping, for instance) goes
 * to Owner as {got, Self, Msg}.
 */
static inline bool agent_command(term msg, term owner);

static inline void agent(term owner) {
    for (;;) {
        term msg = erl_receive(ANY, ERL_INFINITY);
        if (is_atom_named(msg, "stop"))
            return;
        if (!agent_command(msg, owner))
            erl_send(owner, TUPLE(ATOM("got"), erl_self(), msg));
        erl_drop(msg);
    }
}

/* Runs one agent command; false when msg is not one. */
static inline bool agent_command(term msg, term owner) {
    term from, pid, reason, on;
    if (match(msg, TUPLE(ATOM("ping"), VAR(&from))))
        erl_send(from, TUPLE(ATOM("pong"), erl_self()));
    else if (match(msg, TUPLE(ATOM("trap"), VAR(&from), VAR(&on))))
        erl_send(from, TUPLE(ATOM("trapping"), erl_self(),
                             bool_atom(erl_trap_exit(is_atom_named(on, "true")))));
    else if (match(msg, TUPLE(ATOM("link"), VAR(&from), VAR(&pid)))) {
        erl_link(pid);
        erl_send(from, TUPLE(ATOM("linked"), erl_self()));
    } else if (match(msg, TUPLE(ATOM("unlink"), VAR(&from), VAR(&pid)))) {
        erl_unlink(pid);
        erl_send(from, TUPLE(ATOM("unlinked"), erl_self()));
    } else if (match(msg, TUPLE(ATOM("send_exit"), VAR(&from), VAR(&pid),
                                VAR(&reason)))) {
        erl_exit(pid, reason);
        erl_send(from, TUPLE(ATOM("sent_exit"), erl_self()));
    } else if (match(msg, TUPLE(ATOM("exit"), VAR(&reason))))
        erl_exit_self(reason);
    else if (match(msg, TUPLE(ATOM("divide"), VAR(&on))))
        erl_send(owner, TUPLE(ATOM("quotient"), erl_self(),
                              INT(divide_by((int)on.u.integer))));
    else if (is_atom_named(msg, "segv"))
        load_null();
    else
        return false;
    return true;
}

/* Starts an agent owned by the caller. */
static inline term agent_start(void) { return erl_spawn(agent, erl_self()); }

/* True when pid answers a ping within WAIT_MS. */
static inline bool ping(term pid) {
    erl_send(pid, TUPLE(ATOM("ping"), erl_self()));
    term m = erl_receive(TUPLE(ATOM("pong"), pid), WAIT_MS);
    return !is_none(m);
}

/* Sets the agent's trap_exit flag and returns its previous value. */
static inline bool agent_trap(term pid, bool on) {
    term prev;
    erl_send(pid, TUPLE(ATOM("trap"), erl_self(), bool_atom(on)));
    await(TUPLE(ATOM("trapping"), pid, VAR(&prev)), "trap_exit answer");
    return is_atom_named(prev, "true");
}

/* Makes the agent link to target and waits until it has. */
static inline void agent_link(term pid, term target) {
    erl_send(pid, TUPLE(ATOM("link"), erl_self(), target));
    await(TUPLE(ATOM("linked"), pid), "link answer");
}

/* Makes the agent unlink from target and waits until it has. */
static inline void agent_unlink(term pid, term target) {
    erl_send(pid, TUPLE(ATOM("unlink"), erl_self(), target));
    await(TUPLE(ATOM("unlinked"), pid), "unlink answer");
}

/* Waits for the message the agent forwarded: {got, pid, Msg}; returns Msg. */
static inline term await_forwarded(term pid, const char *what) {
    term msg;
    await(TUPLE(ATOM("got"), pid, VAR(&msg)), what);
    return msg;
}

/* ---- Stage shells -------------------------------------------------------- */

/* Runs line in the shell sh and returns what it printed, which the caller
 * frees; *status gets the line's status. */
static inline char *shell_output(const struct shell *sh, const char *line,
                                 enum shell_status *status) {
    char *text;
    size_t len;
    FILE *out = open_memstream(&text, &len);
    cr_assert_not_null(out, "open_memstream failed");
    *status = shell_exec(sh, line, out);
    fclose(out);
    return text;
}

/* Runs line in sh and asserts its status and exact output. */
static inline void expect_shell(const struct shell *sh, const char *line,
                                enum shell_status status, const char *want) {
    enum shell_status st;
    char *text = shell_output(sh, line, &st);
    cr_assert_eq(st, status, "\"%s\": status %d, want %d", line, st, status);
    cr_assert_str_eq(text, want, "\"%s\"", line);
    free(text);
}

/* Runs shell_loop over the lines in input, asserts it returned 0, and
 * returns what it printed, which the caller frees. */
static inline char *shell_session(const struct shell *sh, const char *input) {
    char *text;
    size_t len;
    FILE *in = fmemopen((void *)input, strlen(input), "r");
    FILE *out = open_memstream(&text, &len);
    cr_assert(in && out, "fmemopen or open_memstream failed");
    cr_assert_eq(shell_loop(sh, in, out), 0);
    fclose(out);
    fclose(in);
    return text;
}

#endif
