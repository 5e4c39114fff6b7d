/*
 * report.c - Erlang's crash report for a process that ends itself abnormally.
 *
 * BEAM prints it (through the logger) for a process that dies of an error
 * nothing caught; here for a process that calls erl_exit_self or faults.
 * The behaviours (gen_server, supervisor) print their own reports and are
 * quiet (erl_quiet). A process ended by an exit signal gets no report.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "proc.h"

/* True for the reasons Erlang does not report: normal, shutdown and
 * {shutdown, _}. */
static bool quiet_reason(term reason) {
    return is_atom_named(reason, "normal") || is_atom_named(reason, "shutdown") ||
           match(reason, TUPLE(ATOM("shutdown"), ANY));
}

/* Writes the logger's time stamp, 1-Dec-2026::12:00:00.000000 (local time,
 * English month names whatever the locale), into buf. Returns its length. */
static int stamp(char *buf, size_t n) {
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    return snprintf(buf, n, "%d-%s-%d::%02d:%02d:%02d.%06ld", tm.tm_mday,
                    months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                    tm.tm_sec, ts.tv_nsec / 1000);
}

/* The report itself: out of line, so its buffer stays off the stack of the
 * processes that end quietly. Small, as a process that faulted may have
 * only crash.c's DYING_ROOM of stack left. The reason is shortened with
 * "..." when it does not fit. */
ERL_COLD static void report(const struct proc *p, term reason) {
    char when[48], who[32], text[1024];
    stamp(when, sizeof when);
    term_format(who, sizeof who, p->pid);
    size_t room = sizeof text - 2;  /* for the "\n\n" that ends it */
    size_t n = (size_t)snprintf(text, room, "=ERROR REPORT==== %s ===\n"
                                "Error in process %s with exit value:\n", when, who);
    if (n + (size_t)term_format(text + n, room - n, reason) >= room)
        memcpy(text + room - 4, "...", 4);
    n = strlen(text);
    memcpy(text + n, "\n\n", 2);
    fwrite(text, 1, n + 2, stderr);     /* one write: stderr is unbuffered */
}

void proc_report_exit(const struct proc *p, term reason) {
    if (!p->quiet && !quiet_reason(reason))
        report(p, reason);
}
