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

/* Formats t into buf, shortened with "..." when it does not fit. */
static void format_short(char *buf, size_t n, term t) {
    if ((size_t)term_format(buf, n, t) >= n)
        strcpy(buf + n - 4, "...");
}

/* The report itself: out of line, so its buffers stay off the stack of the
 * processes that end quietly. */
ERL_COLD static void report(const struct proc *p, term reason) {
    char when[64], who[64], why[1024], text[1280];
    stamp(when, sizeof when);
    format_short(who, sizeof who, p->pid);
    format_short(why, sizeof why, reason);
    int len = snprintf(text, sizeof text,
                       "=ERROR REPORT==== %s ===\nError in process %s with exit value:\n%s\n\n",
                       when, who, why);
    fwrite(text, 1, (size_t)len < sizeof text ? (size_t)len : sizeof text - 1, stderr);
}

void proc_report_exit(const struct proc *p, term reason) {
    if (!p->quiet && !quiet_reason(reason))
        report(p, reason);
}
