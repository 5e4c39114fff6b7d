/*
 * counter_sup.c - the counter's supervisor. See counter_sup.h.
 *
 * All of it is data: the flags and one child spec. The behaviour
 * (common/otp/supervisor.c) does the starting, watching and restarting.
 */
#include "counter.h"
#include "counter_sup.h"

const struct sup_flags counter_sup_flags = {
    .strategy = SUP_ONE_FOR_ONE,    /* restart only the child that died */
    .intensity = 10,                /* 10 restarts ... */
    .period_s = 3600,               /* ... per hour; the 11th: give up */
};

/* The child's start function: counter:start_link(Initial), run in the
 * supervisor's process, so the counter is linked to the supervisor. */
static term start_counter(term initial, term *error)
{
    return counter_start_link(initial.u.integer, error);
}

term counter_sup_start_link_flags(int64_t initial, struct sup_flags flags,
                                  term *error)
{
    struct sup_child_spec counter = {
        .id = ATOM("counter"),
        .start = start_counter,
        .arg = INT(initial),
        .restart = SUP_PERMANENT,   /* always restarted */
        .shutdown = 2000,           /* ms from exit(shutdown) to kill */
        .type = SUP_WORKER,
    };
    return supervisor_start_link(COUNTER_SUP, flags, &counter, 1, error);
}

term counter_sup_start_link(int64_t initial, term *error)
{
    return counter_sup_start_link_flags(initial, counter_sup_flags, error);
}

term counter_sup_counter(term *error)
{
    term kids = supervisor_which_children(COUNTER_SUP, error);
    if (is_none(kids))
        return NONE;
    term pid = ATOM("undefined");
    for (uint32_t i = 0; i < kids.size; i++)
        if (match(kids.u.elements[i], TUPLE(ATOM("counter"), VAR(&pid), ANY, ANY)))
            break;
    erl_drop(kids);     /* pid is immediate: a pid or an atom */
    return pid;
}

term counter_sup_await_restart(term old, term *error)
{
    term ref = erl_monitor(old);
    erl_drop(erl_receive(TUPLE(ATOM("DOWN"), ref, ANY, ANY, ANY), ERL_INFINITY));
    /* The supervisor restarts it when it handles the 'EXIT', which may still
     * be on its way: ask until it names a new pid. Each ask is a call, so
     * this waits on the supervisor rather than spinning on its own. */
    for (;;) {
        term pid = counter_sup_counter(error);
        if (is_none(pid) || (is_pid(pid) && !term_eq(pid, old)))
            return pid;
        erl_yield();
    }
}

int counter_sup_draw(FILE *out, term *error)
{
    term sup = erl_whereis(COUNTER_SUP);
    term kid = counter_sup_counter(error);
    if (!is_pid(sup) || is_none(kid)) {
        if (error && !is_pid(sup))
            *error = ATOM("noproc");
        return -1;
    }
    char s[64], k[64];
    term_format(s, sizeof s, sup);
    term_format(k, sizeof k, kid);
    fprintf(out, "counter_sup %s  one_for_one, %d restarts in %d s\n"
                 " |\n"
                 " +-- counter %s  worker, permanent, shutdown 2000 ms\n",
            s, counter_sup_flags.intensity, counter_sup_flags.period_s, k);
    return 0;
}
