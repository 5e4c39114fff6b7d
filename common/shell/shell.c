/*
 * shell.c - a small prompt like the Erlang shell's, demo narration, and the
 * main() every stage program shares. See shell.h for the contract.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "erl.h"
#include "shell.h"

#define EX_USAGE 64
#define EX_SOFTWARE 70
#define EX_IOERR 74

/* ---- Arguments ----------------------------------------------------------- */

int shell_parse_int(const char *s, int64_t *v)
{
    const char *digits = (*s == '-' || *s == '+') ? s + 1 : s;
    if (*digits < '0' || *digits > '9') {
        errno = EINVAL;     /* empty, a lone sign, or a leading blank */
        return -1;
    }
    char *end;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    if (*end != '\0') {
        errno = EINVAL;
        return -1;
    }
    if (errno == ERANGE)
        return -1;
    *v = n;
    return 0;
}

int shell_int_arg(FILE *out, const char *cmd, const char *arg, int64_t *v)
{
    if (shell_parse_int(arg, v) == 0)
        return 0;
    shell_bad_arg(out, cmd, "\"%s\" is %s", arg,
                  errno == ERANGE ? "out of range for a 64-bit integer"
                                  : "not an integer");
    return -1;
}

term shell_parse_term(const char *word)
{
    int64_t n;
    if (shell_parse_int(word, &n) == 0)
        return INT(n);
    return atom_from(word);
}

/* ---- Results ------------------------------------------------------------- */

int shell_bad_arg(FILE *out, const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(out, "** %s: ", cmd);
    vfprintf(out, fmt, ap);
    fputs(" (type help for the commands)\n", out);
    va_end(ap);
    return SHELL_BADARGS;
}

int shell_show(FILE *out, term t)
{
    term_print(out, t);
    fputc('\n', out);
    return SHELL_OK;
}

int shell_exit(FILE *out, term why, term mfa)
{
    fputs("** exception exit: ", out);
    shell_show(out, TUPLE(why, mfa));
    return SHELL_ERROR;
}

/* ---- Built-in commands --------------------------------------------------- */

/* Prints one row of `i`. */
static void print_proc(const struct erl_proc_info *p, void *ctx)
{
    FILE *out = ctx;
    char pid[32], reg[64] = "";
    term_format(pid, sizeof pid, p->pid);
    if (!is_none(p->registered))
        term_format(reg, sizeof reg, p->registered);
    fprintf(out, "%-14s %-24s %-16s %-9s %zu\n", pid, p->name ? p->name : "-",
            reg, p->status, p->queue_len);
}

static int builtin_i(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    fprintf(out, "%-14s %-24s %-16s %-9s %s\n", "Pid", "Function", "Registered",
            "Status", "Msgs");
    size_t n = erl_processes(print_proc, out);
    fprintf(out, "%zu process%s\n", n, n == 1 ? "" : "es");
    return SHELL_OK;
}

/* Prints one row of `regs`. */
static void print_reg(term name, term pid, void *ctx)
{
    FILE *out = ctx;
    char n[64], p[32];
    term_format(n, sizeof n, name);
    term_format(p, sizeof p, pid);
    fprintf(out, "%-24s %s\n", n, p);
}

static int builtin_regs(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    fprintf(out, "%-24s %s\n", "Name", "Pid");
    size_t n = erl_registered(print_reg, out);
    fprintf(out, "%zu registered name%s\n", n, n == 1 ? "" : "s");
    return SHELL_OK;
}

static int builtin_flush(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    term msg;
    while (!is_none(msg = erl_receive(ANY, 0))) {
        fputs("Shell got ", out);
        shell_show(out, msg);
        erl_drop(msg);
    }
    fputs("ok\n", out);
    return SHELL_OK;
}

static int builtin_quit(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv, (void)out;
    return SHELL_QUIT;
}

static int builtin_help(int argc, char **argv, FILE *out);

static const struct shell_cmd builtins[] = {
    {"i", "", "list the processes (pid, function, name, status, messages)",
     0, 0, builtin_i},
    {"regs", "", "list the registered names", 0, 0, builtin_regs},
    {"flush", "", "print and empty the shell's own mailbox", 0, 0, builtin_flush},
    {"help", "", "this list", 0, 0, builtin_help},
    {"quit", "", "leave the shell (q and end of input too)", 0, 0, builtin_quit},
    {"q", "", NULL, 0, 0, builtin_quit},
    {NULL, NULL, NULL, 0, 0, NULL},
};

/* The shell whose commands help lists; set by shell_exec before running one.
 * Only the thread running the shell touches it. */
static _Thread_local const struct shell *current;

/* Prints one line of help for each command in cmds that has a help text. */
static void print_help(FILE *out, const struct shell_cmd *cmds)
{
    char usage[64];
    for (const struct shell_cmd *c = cmds; c->name; c++) {
        if (!c->help)
            continue;
        snprintf(usage, sizeof usage, "%s%s%s", c->name, *c->args ? " " : "",
                 c->args);
        fprintf(out, "  %-16s %s\n", usage, c->help);
    }
}

static int builtin_help(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    if (current)
        print_help(out, current->cmds);
    print_help(out, builtins);
    return SHELL_OK;
}

/* ---- Running a line ------------------------------------------------------ */

/* Splits line (modified in place) into at most max words at blanks.
 * Returns the number of words, or max + 1 if there were more. */
static int split_words(char *line, char **words, int max)
{
    char *save;
    int n = 0;
    for (char *w = strtok_r(line, " \t\r\n", &save); w;
         w = strtok_r(NULL, " \t\r\n", &save)) {
        if (n == max)
            return max + 1;
        words[n++] = w;
    }
    return n;
}

/* The command called name in the stage's table or the built-ins, or NULL. */
static const struct shell_cmd *find_cmd(const struct shell *sh, const char *name)
{
    for (const struct shell_cmd *c = sh->cmds; c && c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    for (const struct shell_cmd *c = builtins; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

/* Checks the number of arguments; prints what is wrong if it is off. */
static bool args_ok(const struct shell_cmd *c, int argc, char **argv, FILE *out)
{
    int nargs = argc - 1;
    if (nargs >= c->min_args && nargs <= c->max_args)
        return true;
    fprintf(out, "** %s: ", c->name);
    if (nargs < c->min_args)
        fputs("missing argument", out);
    else if (argc <= SHELL_MAX_WORDS)
        fprintf(out, "unexpected argument \"%s\"", argv[c->max_args + 1]);
    else
        fputs("too many arguments", out);
    fprintf(out, " (usage: %s%s%s; type help for the commands)\n", c->name,
            *c->args ? " " : "", c->args);
    return false;
}

enum shell_status shell_exec(const struct shell *sh, const char *line, FILE *out)
{
    char buf[SHELL_MAX_LINE];
    char *argv[SHELL_MAX_WORDS + 1];
    if (strlen(line) >= sizeof buf) {
        fprintf(out, "** line too long: %zu bytes, at most %zu\n", strlen(line),
                sizeof buf - 1);
        return SHELL_BADARGS;
    }
    strcpy(buf, line);
    int argc = split_words(buf, argv, SHELL_MAX_WORDS);
    if (argc == 0 || argv[0][0] == '%')
        return SHELL_OK;
    const struct shell_cmd *c = find_cmd(sh, argv[0]);
    if (!c) {
        fprintf(out, "** unknown command: \"%s\" (type help for the commands)\n",
                argv[0]);
        return SHELL_UNKNOWN;
    }
    if (!args_ok(c, argc, argv, out))
        return SHELL_BADARGS;
    argv[argc] = NULL;
    current = sh;
    enum shell_status st = c->run(argc, argv, out);
    current = NULL;
    return st;
}

int shell_loop(const struct shell *sh, FILE *in, FILE *out)
{
    char *line = NULL;
    size_t cap = 0;
    int n = 1;
    if (sh->banner)
        fprintf(out, "%s\n", sh->banner);
    for (;;) {
        fprintf(out, "%d> ", n);
        fflush(out);
        if (getline(&line, &cap, in) < 0)
            break;
        enum shell_status st = shell_exec(sh, line, out);
        if (st == SHELL_QUIT)
            break;
        if (strspn(line, " \t\r\n") != strlen(line))
            n++;
    }
    bool failed = ferror(in);
    if (!failed && feof(in))
        fputc('\n', out);   /* end the prompt line the EOF left open */
    free(line);
    fflush(out);
    return failed ? EX_IOERR : 0;
}

/* ---- Narration for demos ------------------------------------------------- */

/* The prompt number demo_show_* prints next; demos run in one thread. */
static int demo_prompt_n = 1;

void demo_say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("%% ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    fflush(stdout);
}

void demo_show_term(const char *expr, term value)
{
    printf("%d> %s\n", demo_prompt_n++, expr);
    term_print(stdout, value);
    fputc('\n', stdout);
    fflush(stdout);
}

void demo_prompt(const char *expr)
{
    printf("%d> %s\n", demo_prompt_n++, expr);
    fflush(stdout);
}

void demo_value(term value)
{
    term_print(stdout, value);
    fputc('\n', stdout);
    fflush(stdout);
}

void demo_show_text(const char *expr, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%d> %s\n", demo_prompt_n++, expr);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    fflush(stdout);
}

/* ---- A stage's main ------------------------------------------------------ */

static void usage(FILE *out, const char *prog)
{
    fprintf(out, "usage: %s [--shell]\n"
            "  (no option)  run the narrated demo\n"
            "  --shell      an interactive prompt; type help there\n", prog);
}

int stage_main(int argc, char **argv, const char *prog, const struct shell *sh,
               int (*demo)(void))
{
    bool shell = argc == 2 && strcmp(argv[1], "--shell") == 0;
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        usage(stdout, prog);
        return 0;
    }
    if (argc > 2 || (argc == 2 && !shell)) {
        int bad = strcmp(argv[1], "--shell") == 0 ? 2 : 1;
        fprintf(stderr, "%s: unknown option \"%s\"\n", prog, argv[bad]);
        usage(stderr, prog);
        return EX_USAGE;
    }
    if (erl_start(NULL) < 0) {                  /* the scheduler threads */
        fprintf(stderr, "%s: erl_start: %s\n", prog, strerror(errno));
        return EX_SOFTWARE;
    }
    int status = shell ? shell_loop(sh, stdin, stdout) : demo();
    erl_stop();                                 /* every process goes */
    return status;
}
