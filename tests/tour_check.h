/*
 * tour_check.h - the stage suites' checks of a tour, and of the shell run
 * as a program.
 *
 * A stage's tour is what its program prints with no option. The suite
 * checks it two ways:
 *
 *   - against NN_stage/tour.txt, byte for byte. The C tour is deterministic:
 *     the demo starts its processes one after another, so every pid and
 *     reference it prints is the same on every run; crash reports carry no
 *     time stamp; every step waits for what it shows.
 *   - against the Erlang demo (counter:demo() in counter.erl, run with erl),
 *     when erl is installed. Both are normalised first: pids and references
 *     are numbered in their order of first appearance (<P1>, #Ref<R1>), as
 *     BEAM's differ from run to run and from the C ones, and crash reports
 *     are left out (OTP's carry time stamps and stack traces, and OTP adds a
 *     CRASH REPORT the C runtime does not print). Everything else, the
 *     narration, every prompt, call and result, must be the same.
 *
 * ROOT_DIR (the repository) and BIN_ROOT (where the stage programs are:
 * ROOT_DIR, or build/<sanitizers> under SAN=) come from tests/Makefile.
 * Everything here is static: tests/Makefile links each suite alone.
 */
#ifndef TOUR_CHECK_H
#define TOUR_CHECK_H

#include <criterion/criterion.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* ---- Running a command ------------------------------------------------- */

/* Runs cmd with sh, its stderr joined to its stdout, and returns what it
 * printed (free it); *status is its wait status. Fails the test if the
 * command cannot be started. */
static char *tour_capture(const char *cmd, int *status)
{
    char *full;
    cr_assert_neq(asprintf(&full, "exec 2>&1; %s", cmd), -1);
    FILE *p = popen(full, "r");
    cr_assert_not_null(p, "cannot run %s", cmd);
    char *text;
    size_t len;
    FILE *out = open_memstream(&text, &len);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0)
        fwrite(buf, 1, n, out);
    *status = pclose(p);
    fclose(out);
    free(full);
    return text;
}

/* The whole of file path (free it), or NULL when it cannot be read. */
static char *tour_read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *text;
    size_t len;
    FILE *out = open_memstream(&text, &len);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, out);
    fclose(f);
    fclose(out);
    return text;
}

/* Fails the test with want and got shown as a unified diff, labelled. */
static void tour_fail_diff(const char *want, const char *got,
                           const char *want_label, const char *got_label)
{
    char a[] = "/tmp/tour-want-XXXXXX", b[] = "/tmp/tour-got-XXXXXX";
    int fa = mkstemp(a), fb = mkstemp(b);
    cr_assert(fa >= 0 && fb >= 0, "mkstemp failed");
    FILE *f = fdopen(fa, "w");
    fputs(want, f);
    fclose(f);
    f = fdopen(fb, "w");
    fputs(got, f);
    fclose(f);
    char *cmd;
    cr_assert_neq(asprintf(&cmd, "diff -u --label '%s' --label '%s' %s %s",
                           want_label, got_label, a, b), -1);
    int status;
    char *diff = tour_capture(cmd, &status);
    unlink(a);
    unlink(b);
    cr_assert_fail("%s and %s differ:\n%s", want_label, got_label, diff);
}

/* ---- Normalising a transcript ------------------------------------------ */

/* The names given to the pids or references seen so far, in order. */
struct tour_names {
    char seen[64][48];  /* the text of each, as printed */
    int n;              /* how many */
};

/* The number (from 1) of the pid or reference text in names, added if new. */
static int tour_name(struct tour_names *names, const char *text, size_t len)
{
    for (int i = 0; i < names->n; i++)
        if (strlen(names->seen[i]) == len && memcmp(names->seen[i], text, len) == 0)
            return i + 1;
    cr_assert_lt(names->n, 64, "more than 64 pids or references in a tour");
    cr_assert_lt(len, sizeof names->seen[0], "a pid or reference too long");
    memcpy(names->seen[names->n], text, len);
    names->seen[names->n][len] = '\0';
    return ++names->n;
}

/* Length of the pid "<0.12.0>" or reference "#Ref<0.1.2>" at s, or 0. */
static size_t tour_id_len(const char *s, bool *is_ref)
{
    const char *p = s;
    *is_ref = strncmp(p, "#Ref<", 5) == 0;
    if (*is_ref)
        p += 4;
    if (*p != '<' || !isdigit((unsigned char)p[1]))
        return 0;
    p++;
    while (isdigit((unsigned char)*p) || *p == '.')
        p++;
    return *p == '>' ? (size_t)(p + 1 - s) : 0;
}

/* True when line starts a crash report: "=ERROR REPORT====", etc. */
static bool tour_report_start(const char *line)
{
    const char *end = strstr(line, " REPORT====");
    return line[0] == '=' && end && end < strchr(line, '\n');
}

/* True when line continues a report: blank, indented, or "** " but not the
 * shell's "** exception ...". */
static bool tour_report_body(const char *line)
{
    return *line == '\n' || *line == ' ' ||
           (strncmp(line, "**", 2) == 0 && strncmp(line, "** exception", 12) != 0);
}

/* text with every crash report left out and every pid and reference
 * renamed in order of first appearance (free it). */
static char *tour_normalise(const char *text)
{
    struct tour_names pids = {.n = 0}, refs = {.n = 0};
    char *norm;
    size_t len;
    FILE *out = open_memstream(&norm, &len);
    bool in_report = false;
    for (const char *line = text; *line;) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl + 1 - line) : strlen(line);
        if (tour_report_start(line))
            in_report = true;
        else if (in_report && !tour_report_body(line))
            in_report = false;
        for (size_t i = 0; !in_report && i < n;) {
            bool is_ref;
            size_t id = tour_id_len(line + i, &is_ref);
            if (id == 0) {
                fputc(line[i++], out);
                continue;
            }
            if (is_ref)
                fprintf(out, "#Ref<R%d>", tour_name(&refs, line + i, id));
            else
                fprintf(out, "<P%d>", tour_name(&pids, line + i, id));
            i += id;
        }
        line += n;
    }
    fclose(out);
    return norm;
}

/* ---- The checks ---------------------------------------------------------- */

/* Runs stage's program (stage: "01_simple") with no option and checks that
 * it exits 0 and prints exactly stage/tour.txt. */
static void check_tour(const char *stage)
{
    char *cmd, *path;
    cr_assert_neq(asprintf(&cmd, "%s/%s/counter", BIN_ROOT, stage), -1);
    cr_assert_neq(asprintf(&path, "%s/%s/tour.txt", ROOT_DIR, stage), -1);
    int status;
    char *got = tour_capture(cmd, &status);
    char *want = tour_read_file(path);
    cr_assert_not_null(want, "cannot read %s", path);
    if (strcmp(want, got) != 0)
        tour_fail_diff(want, got, path, cmd);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "%s exited with status %d", cmd, status);
    free(want), free(got), free(path), free(cmd);
}

/* Compiles common/shell/tour.erl and the stage's erl_files (a blank-
 * separated list, relative to the stage folder) with erlc, runs
 * call (e.g. "counter:demo()") with erl, and checks that what it prints
 * equals the C tour, normalised (see the top of this file). Skips the test,
 * saying why, when erl or erlc is not installed. */
static void check_erlang_tour(const char *stage, const char *erl_files,
                              const char *call)
{
    int status;
    free(tour_capture("command -v erl && command -v erlc", &status));
    if (status != 0)
        cr_skip_test("erl is not installed: the Erlang side of the %s tour is "
                     "not checked (apt-get install erlang-nox)", stage);
    char dir[] = "/tmp/tour-erl-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char *cmd;
    cr_assert_neq(asprintf(&cmd, "cd %s/%s && erlc -o %s ../common/shell/tour.erl "
                           "%s && erl -noshell -pa %s -eval '%s, halt().'",
                           ROOT_DIR, stage, dir, erl_files, dir, call), -1);
    char *erl = tour_capture(cmd, &status);
    char *rm;
    cr_assert_neq(asprintf(&rm, "rm -rf %s", dir), -1);
    cr_assert_eq(system(rm), 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "%s failed (status %d):\n%s", cmd, status, erl);
    char *path;
    cr_assert_neq(asprintf(&path, "%s/%s/tour.txt", ROOT_DIR, stage), -1);
    char *c = tour_read_file(path);
    cr_assert_not_null(c, "cannot read %s", path);
    char *want = tour_normalise(c), *got = tour_normalise(erl);
    if (strcmp(want, got) != 0)
        tour_fail_diff(want, got, "tour.txt (normalised)", "erl (normalised)");
    free(want), free(got), free(c), free(erl), free(path), free(rm), free(cmd);
}

#endif
