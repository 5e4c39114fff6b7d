/*
 * counter.c - the counter's callbacks and API. See counter.h.
 *
 * New since 03_gen_server: the initial value comes from the supervisor's
 * child spec, the counter traps exits (so its supervisor's shutdown runs
 * terminate), and there are faults to crash it with.
 */
#include <stdint.h>
#include <stdio.h>

#include "counter.h"

/* ---- Deliberate faults --------------------------------------------------- */

/* count div divisor, the divisor taken from a message: 0 raises SIGFPE,
 * which ends this process with reason badarith. volatile keeps the compiler
 * from seeing the zero and folding the division away. */
ERL_DELIBERATE_FAULT static int64_t divide(int64_t count, int64_t divisor)
{
    volatile int64_t d = divisor;
    return count / d;
}

/* The integer at address addr, taken from a message: 0 raises SIGSEGV, which
 * ends this process with reason {signal, segv}. */
ERL_DELIBERATE_FAULT static int64_t load(int64_t addr)
{
    const volatile int64_t *volatile p = (const volatile int64_t *)(intptr_t)addr;
    return *p;
}

/* A tick that never returns: it never calls the runtime either, so only
 * preemption (common/runtime/preempt.c) lets others run beside it and an
 * exit signal reach it. volatile keeps the loop from being dropped. */
static _Noreturn void spin_forever(void)
{
    for (volatile uint64_t spins = 0;; spins++)
        ;
}

/* ---- Callbacks ----------------------------------------------------------- */

/* Prints one line "counter: ..." with t formatted in Erlang syntax. */
static void say(const char *what, term t, term count)
{
    char a[256], b[64];
    term_format(a, sizeof a, t);
    term_format(b, sizeof b, count);
    printf("counter: %s(%s, %s)\n", what, a, b);
}

static gen_result init(term initial)
{
    erl_trap_exit(true);    /* the supervisor's shutdown reaches terminate */
    return gen_ok(initial);
}

static gen_result handle_call(term request, term from, term count)
{
    (void)from;
    if (is_atom_named(request, "read"))
        return gen_reply(count, count);
    return gen_stop(ATOM("function_clause"), count);
}

static gen_result handle_cast(term request, term count)
{
    term n;
    int64_t sum;
    if (match(request, TUPLE(ATOM("tick"), VAR(&n))) && is_int(n)) {
        if (__builtin_add_overflow(count.u.integer, n.u.integer, &sum))
            erl_exit_self(ATOM("badarith"));   /* C integers end; Erlang's don't */
        return gen_noreply(INT(sum));
    }
    if (is_atom_named(request, "stop"))
        return gen_stop(ATOM("normal"), count);
    if (is_atom_named(request, "error"))
        erl_exit_self(ATOM("boom"));
    if (match(request, TUPLE(ATOM("divide"), VAR(&n))) && is_int(n))
        return gen_noreply(INT(divide(count.u.integer, n.u.integer)));
    if (match(request, TUPLE(ATOM("load"), VAR(&n))) && is_int(n))
        return gen_noreply(INT(count.u.integer + load(n.u.integer)));
    if (is_atom_named(request, "spin"))
        spin_forever();
    return gen_stop(ATOM("function_clause"), count);
}

static gen_result handle_info(term info, term count)
{
    say("handle_info", info, count);
    return gen_noreply(count);
}

static void terminate(term reason, term count)
{
    say("terminate", reason, count);
}

static gen_result code_change(term old_vsn, term count, term extra)
{
    (void)old_vsn, (void)extra;
    return gen_ok(count);
}

const struct gen_server_module counter_module = {
    .name = "counter",
    .init = init,
    .handle_call = handle_call,
    .handle_cast = handle_cast,
    .handle_info = handle_info,
    .terminate = terminate,
    .code_change = code_change,
};

/* ---- API ----------------------------------------------------------------- */

term counter_start_link(int64_t initial, term *error)
{
    return gen_server_start_link(COUNTER, &counter_module, INT(initial), error);
}

term counter_read(term *error)
{
    return gen_server_call(COUNTER, ATOM("read"), GEN_DEFAULT_TIMEOUT, error);
}

void counter_tick(int64_t n)
{
    gen_server_cast(COUNTER, TUPLE(ATOM("tick"), INT(n)));
}

void counter_stop(void)
{
    gen_server_cast(COUNTER, ATOM("stop"));
}

term counter_kill(void)
{
    term pid = erl_whereis(COUNTER);
    if (is_pid(pid))
        erl_exit(pid, ATOM("kill"));
    return pid;
}

/* Casts request to the counter; returns the pid it went to, or NONE. */
static term crash_with(term request)
{
    term pid = erl_whereis(COUNTER);
    if (is_pid(pid))
        gen_server_cast(pid, request);
    return pid;
}

term counter_error(void) { return crash_with(ATOM("error")); }
term counter_divzero(void) { return crash_with(TUPLE(ATOM("divide"), INT(0))); }
term counter_nullptr(void) { return crash_with(TUPLE(ATOM("load"), INT(0))); }
term counter_spin(void) { return crash_with(ATOM("spin")); }
