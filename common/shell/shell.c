/*
 * shell.c - a small prompt like the Erlang shell's, demo narration, and the
 * main() every stage program shares. See shell.h for the contract.
 */
#include <ctype.h>
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

int shell_term_arg(FILE *out, const char *cmd, const char *arg,
                   struct shell_term *t)
{
    char why[128];
    if (shell_term_parse(arg, t, why, sizeof why) == 0)
        return 0;
    shell_bad_arg(out, cmd, "%s", why);
    return -1;
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
    {"i", "", "i(): the processes (pid, function, name, status, messages)",
     0, 0, builtin_i},
    {"regs", "", "regs(): the registered names", 0, 0, builtin_regs},
    {"flush", "", "flush(): print and empty the shell's own mailbox", 0, 0,
     builtin_flush},
    {"help", "", "help(): this list", 0, 0, builtin_help},
    {"quit", "", "q(): leave the shell (q, Ctrl-C at the prompt and end of "
     "input too)", 0, 0, builtin_quit},
    {"q", "", NULL, 0, 0, builtin_quit},
    {NULL, NULL, NULL, 0, 0, NULL},
};

static const struct shell_erl builtin_erl[] = {
    {"i", "i()"}, {"regs", "regs()"}, {"flush", "flush()"}, {"help", "help()"},
    {"quit", "q()"}, {NULL, NULL},
};

/* The shell whose commands help lists; set by shell_exec before running one.
 * Only the thread running the shell touches it. */
static _Thread_local const struct shell *current;

/* "name args": how a command is typed, into buf (n bytes). */
static const char *usage_of(const struct shell_cmd *c, char *buf, size_t n)
{
    snprintf(buf, n, "%s%s%s", c->name, *c->args ? " " : "", c->args);
    return buf;
}

/* The widest usage among the commands of cmds that have a help text. */
static int usage_width(const struct shell_cmd *cmds, int width)
{
    char usage[64];
    for (const struct shell_cmd *c = cmds; c && c->name; c++)
        if (c->help && (int)strlen(usage_of(c, usage, sizeof usage)) > width)
            width = (int)strlen(usage);
    return width;
}

/* Prints one line of help for each command in cmds that has a help text,
 * the usages padded to width. */
static void print_help(FILE *out, const struct shell_cmd *cmds, int width)
{
    char usage[64];
    for (const struct shell_cmd *c = cmds; c && c->name; c++)
        if (c->help)
            fprintf(out, "  %-*s  %s\n", width, usage_of(c, usage, sizeof usage),
                    c->help);
}

static int builtin_help(int argc, char **argv, FILE *out)
{
    (void)argc, (void)argv;
    int width = usage_width(builtins, usage_width(current ? current->cmds : NULL, 0));
    if (current)
        print_help(out, current->cmds, width);
    print_help(out, builtins, width);
    fputs("Each command also runs as the Erlang it names, with a full stop: "
          "flush().\n", out);
    return SHELL_OK;
}

/* ---- Reading a line ------------------------------------------------------ */

/* The length of the text at s up to the first character of stops that is
 * outside brackets ((), [], {}, << >>) and quotes, or to its end. */
static size_t scan(const char *s, const char *stops)
{
    int depth = 0;
    char quote = 0;
    size_t i;
    for (i = 0; s[i]; i++) {
        char c = s[i];
        if (quote) {
            if (c == '\\' && s[i + 1])
                i++;
            else if (c == quote)
                quote = 0;
        } else if (c == '"' || c == '\'') {
            quote = c;
        } else if (c == '(' || c == '[' || c == '{') {
            depth++;
        } else if ((c == ')' || c == ']' || c == '}') && depth > 0) {
            depth--;
        } else if (c == '<' && s[i + 1] == '<') {
            depth++, i++;
        } else if (c == '>' && s[i + 1] == '>' && depth > 0) {
            depth--, i++;
        } else if (depth == 0 && strchr(stops, c)) {
            break;
        }
    }
    return i;
}

/* s without its leading and trailing blanks, in place. */
static char *trim(char *s)
{
    s += strspn(s, " \t\r\n");
    size_t n = strlen(s);
    while (n > 0 && strchr(" \t\r\n", s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Splits line (modified in place) into at most max words at blanks outside
 * brackets and quotes. Returns the number of words, or max + 1 if there
 * were more. */
static int split_words(char *line, char **words, int max)
{
    int n = 0;
    for (char *w = line + strspn(line, " \t"); *w; w += strspn(w, " \t")) {
        if (n == max)
            return max + 1;
        words[n++] = w;
        w += scan(w, " \t");
        if (*w)
            *w++ = '\0';
    }
    return n;
}

/* Splits an Erlang call "head(a, b)" (modified in place) into its head
 * and at most max arguments. Returns the number of arguments, or -1 when
 * text is no call. */
static int split_call(char *text, char **head, char **args, int max)
{
    char *open = strchr(text, '(');
    size_t n = strlen(text);
    if (!open || n == 0 || text[n - 1] != ')')
        return -1;
    *open = '\0';
    text[n - 1] = '\0';
    *head = trim(text);
    if (strspn(*head, "abcdefghijklmnopqrstuvwxyz0123456789_:") != strlen(*head) ||
        !**head)
        return -1;
    char *a = trim(open + 1);
    int argc = 0;
    while (*a) {
        if (argc == max)
            return -1;
        size_t len = scan(a, ",");
        char *next = a[len] ? a + len + 1 : a + len;
        a[len] = '\0';
        args[argc++] = trim(a);
        a = next;
    }
    return argc;
}

/* Levenshtein distance between a and b (each cut at 63 bytes). */
static int distance(const char *a, const char *b)
{
    int row[64], la = (int)strnlen(a, 63), lb = (int)strnlen(b, 63);
    for (int j = 0; j <= lb; j++)
        row[j] = j;
    for (int i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = i;
        for (int j = 1; j <= lb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            best = best < up + 1 ? best : up + 1;
            best = best < row[j - 1] + 1 ? best : row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The name of sh's or the built-ins' commands nearest to word; with erl,
 * the Erlang call nearest to it. */
static const char *nearest(const struct shell *sh, const char *word, bool erl)
{
    const char *best = NULL;
    int best_d = 1 << 30;
    const struct shell_cmd *tables[] = {sh->cmds, builtins};
    const struct shell_erl *forms[] = {sh->erl, builtin_erl};
    for (int t = 0; t < 2; t++) {
        for (const struct shell_cmd *c = tables[t]; !erl && c && c->name; c++)
            if (c->help && distance(word, c->name) < best_d)
                best = c->name, best_d = distance(word, c->name);
        for (const struct shell_erl *f = forms[t]; erl && f && f->cmd; f++) {
            char head[64];      /* the call's name: "counter:tick" */
            size_t n = strcspn(f->call, "(");
            n = n < sizeof head - 1 ? n : sizeof head - 1;
            memcpy(head, f->call, n);
            head[n] = '\0';
            if (distance(word, head) < best_d)
                best = f->call, best_d = distance(word, head);
        }
    }
    return best;
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

/* True when the Erlang form f is the call head(args...): then argv[1..]
 * are the arguments its capitalised parameters take, and *argc counts
 * them with the command's name in argv[0]. */
static bool erl_matches(const struct shell_erl *f, const char *head, char **args,
                        int nargs, char **argv, int *argc)
{
    char form[128], *fhead, *params[SHELL_MAX_WORDS];
    if (strlen(f->call) >= sizeof form)
        return false;
    strcpy(form, f->call);
    if (strncmp(form, "self() !", 8) == 0) {
        fhead = "self() !";
        params[0] = "Term";
        if (nargs != 1)
            return false;
    } else if (split_call(form, &fhead, params, SHELL_MAX_WORDS) != nargs) {
        return false;
    }
    if (strcmp(fhead, head) != 0)
        return false;
    *argc = 1;
    argv[0] = (char *)f->cmd;
    for (int i = 0; i < nargs; i++) {
        if (isupper((unsigned char)params[i][0]))
            argv[(*argc)++] = args[i];
        else if (strcmp(params[i], args[i]) != 0)
            return false;
    }
    return true;
}

/* Reads call (modified in place; its full stop gone) as the Erlang form of
 * a command: fills argv and *argc and returns the command, or prints why
 * none stands for it and returns NULL. */
static const struct shell_cmd *erl_cmd(const struct shell *sh, char *call,
                                       char **argv, int *argc, FILE *out)
{
    char *head, *args[SHELL_MAX_WORDS];
    int nargs;
    char *bang = call + scan(call, "!");
    if (*bang == '!') {                     /* self() ! Term */
        *bang = '\0';
        head = "self() !";
        args[0] = trim(bang + 1);
        nargs = strcmp(trim(call), "self()") == 0 && *args[0] ? 1 : -1;
    } else {
        nargs = split_call(call, &head, args, SHELL_MAX_WORDS);
    }
    const struct shell_erl *forms[] = {sh->erl, builtin_erl};
    for (int t = 0; nargs >= 0 && t < 2; t++)
        for (const struct shell_erl *f = forms[t]; f && f->cmd; f++)
            if (erl_matches(f, head, args, nargs, argv, argc))
                return find_cmd(sh, f->cmd);
    const char *near = nearest(sh, nargs >= 0 ? head : call, true);
    if (nargs < 0)
        fprintf(out, "** cannot read this as a call");
    else
        fprintf(out, "** no command stands for %s/%d", head, nargs);
    fprintf(out, " (the nearest is %s; type help for the commands)\n",
            near ? near : "help()");
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

/* ---- Running a line ------------------------------------------------------ */

enum shell_status shell_exec(const struct shell *sh, const char *line, FILE *out)
{
    char buf[SHELL_MAX_LINE];
    char *argv[SHELL_MAX_WORDS + 1];
    size_t typed = strcspn(line, "\r\n");   /* what was typed, no newline */
    if (typed >= sizeof buf) {
        fprintf(out, "** line too long: %zu bytes, at most %zu\n", typed,
                sizeof buf - 1);
        return SHELL_BADARGS;
    }
    memcpy(buf, line, typed);
    buf[typed] = '\0';
    char *text = trim(buf);
    if (!*text || text[0] == '%')
        return SHELL_OK;
    const struct shell_cmd *c;
    int argc;
    size_t n = strlen(text), first = strcspn(text, " \t");
    char name[64];          /* the first word: a command's name? */
    first = first < sizeof name - 1 ? first : sizeof name - 1;
    memcpy(name, text, first);
    name[first] = '\0';
    if (text[n - 1] == '.' && !find_cmd(sh, name) &&   /* counter:tick(5). */
        strpbrk(text, "(!")) {
        text[n - 1] = '\0';
        c = erl_cmd(sh, trim(text), argv, &argc, out);
        if (!c)
            return SHELL_UNKNOWN;
    } else {
        argc = split_words(text, argv, SHELL_MAX_WORDS);
        c = find_cmd(sh, argv[0]);
        if (!c) {
            const char *near = nearest(sh, argv[0], false);
            fprintf(out, "** unknown command: \"%s\" (the nearest is %s; "
                    "type help for the commands)\n", argv[0],
                    near ? near : "help");
            return SHELL_UNKNOWN;
        }
    }
    if (!args_ok(c, argc, argv, out))
        return SHELL_BADARGS;
    argv[argc] = NULL;
    current = sh;
    enum shell_status st = c->run(argc, argv, out);
    current = NULL;
    return st;
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
    if (shell)      /* lines from other processes (*DBG*) show as they come */
        setvbuf(stdout, NULL, _IOLBF, 0);
    int status = shell ? shell_loop(sh, stdin, stdout) : demo();
    erl_stop();                                 /* every process goes */
    return status;
}
