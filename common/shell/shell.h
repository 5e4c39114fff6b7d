/*
 * shell.h - a small prompt like the Erlang shell's, demo narration, and the
 * main() every stage program shares.
 *
 * A stage describes its commands in a table; the shell parses a line into
 * words, finds the command, checks how many arguments it got and runs it.
 * Every stage also gets the built-ins of erl's shell:
 *
 *   i        the processes: pid, function, registered name, status, messages
 *   regs     the registered names
 *   flush    prints and empties the shell's own mailbox, as flush() does
 *   help     the commands
 *   quit, q  leaves the shell (so does end of input)
 *
 * A line is words separated by blanks: "tick 5"; a word that opens a
 * bracket or a quote runs on to where it closes, so "stray {a, "b c"}" is
 * two words. A line starting with % is a comment. A line ending in a full
 * stop is read as the Erlang call a command stands for (struct shell_erl):
 * "counter:tick(5)." runs tick 5, "self() ! {a, b}." runs stray {a, b},
 * "flush()." and "i()." the built-ins. An unknown command is answered with
 * the nearest known one.
 *
 * shell_exec runs a command in the calling thread. shell_loop runs each in
 * a process of its own, the shell's evaluator (listed by i as "shell"), as
 * erl does: messages sent to erl_self() land in its mailbox, and it traps
 * exits, so a linked counter's crash arrives as a message. Ctrl-C stops a
 * command that waits and returns to the prompt (see shell_loop).
 */
#ifndef SHELL_H
#define SHELL_H

#include <stdint.h>
#include <stdio.h>

#include "term.h"

#define SHELL_MAX_LINE 1024     /* bytes in one line, with the newline */
#define SHELL_MAX_WORDS 16      /* words in one line, the command included */

/* What running one line came to. */
enum shell_status {
    SHELL_OK = 0,       /* the line ran, or was empty or a comment */
    SHELL_ERROR,        /* the command ran and failed; it printed why */
    SHELL_UNKNOWN,      /* no command has that name */
    SHELL_BADARGS,      /* too few, too many or malformed arguments */
    SHELL_QUIT,         /* quit or q */
};

/* One command of a stage. argv[0] is the command's name and argv[1..argc-1]
 * its arguments; the shell has checked min_args <= argc - 1 <= max_args.
 * run prints its result to out and returns a shell_status: SHELL_OK, or
 * SHELL_ERROR / SHELL_BADARGS after printing what went wrong. */
struct shell_cmd {
    const char *name;   /* the word that runs it, e.g. "tick" */
    const char *args;   /* usage of its arguments, e.g. "N" or "[MS]"; "" */
    const char *help;   /* one line: what it does */
    int min_args;       /* fewest arguments it accepts */
    int max_args;       /* most arguments it accepts */
    int (*run)(int argc, char **argv, FILE *out);
};

/* The Erlang call a command stands for, e.g. {"tick", "counter:tick(N)"}.
 * In the call, a capitalised argument is the command's next argument, any
 * other must be typed as it is ({"trace", "sys:trace(counter, Flag)"});
 * "self() ! Term" is the send. */
struct shell_erl {
    const char *cmd;    /* the command's name */
    const char *call;   /* the Erlang it stands for */
};

/* A stage's shell. */
struct shell {
    const char *banner;             /* printed when the loop starts; NULL: none */
    const struct shell_cmd *cmds;   /* the stage's commands, ended by {NULL} */
    const struct shell_erl *erl;    /* their Erlang forms, ended by {NULL};
                                       NULL: none */
};

/* Runs one line: parses it, checks it and runs the command, which prints to
 * out. Errors name the bad input and suggest help. line need not end in a
 * newline and is not modified. This function can't fail: every problem is
 * reported in the returned status. */
enum shell_status shell_exec(const struct shell *sh, const char *line, FILE *out);

/* Prints the banner, then reads lines from in, prompting "1> ", "2> " ...
 * on out, until quit or end of input. Each line runs in the shell's
 * evaluator, a process that lives across lines (its mailbox keeps what
 * commands leave there) and traps exits.
 *
 * Ctrl-C (SIGINT) while a command runs kills the evaluator, as erl's
 * BREAK menu does with its job: the command stops, the loop says so,
 * starts a new evaluator (an empty mailbox; processes linked to the old
 * one get its exit, killed) and prompts again. Ctrl-C at the prompt quits.
 * The handler is installed for the loop's run and the old one restored.
 *
 * Returns 0 when the last command ran well (or there was none), 1 when it
 * failed (SHELL_ERROR, SHELL_UNKNOWN, SHELL_BADARGS, or stopped by
 * Ctrl-C), 130 after Ctrl-C at the prompt, 74 (EX_IOERR) if reading in
 * failed, 70 (EX_SOFTWARE) if the evaluator cannot be spawned. */
int shell_loop(const struct shell *sh, FILE *in, FILE *out);

/* ---- Arguments ----------------------------------------------------------- */

/* Parses s as a decimal integer: an optional sign and digits, nothing else.
 * Returns 0 and stores it in *v, or -1 with errno EINVAL (empty, blanks or
 * junk such as "5x") or ERANGE (outside int64_t). */
int shell_parse_int(const char *s, int64_t *v);

/* shell_parse_int for command arguments: on failure prints
 *   ** tick: "5x" is not an integer (type help for the commands)
 * to out and returns -1; cmd names the command. */
int shell_int_arg(FILE *out, const char *cmd, const char *arg, int64_t *v);

/* A term from a word: an integer if it parses as one, else an atom.
 * Returns NONE if the word is too long for an atom (255 bytes). */
term shell_parse_term(const char *word);

/* A term read from Erlang text, and the memory it lives in. */
struct shell_term {
    term value;         /* the term; NONE when parsing failed */
    void **blocks;      /* the blocks its tuples, lists and binaries use */
    size_t nblocks;     /* blocks in use */
    size_t cap;         /* room at blocks */
};

/* Reads text as one Erlang term: integers, atoms ('quoted' too), strings
 * ("ab" is [97,98], as in Erlang), tuples, lists ([H | T] too), binaries
 * (<<1,2>>, <<"ab">>); blanks between, an optional full stop at the end.
 * Returns 0 and fills *t (free it with shell_term_free), or -1 with errno
 * EINVAL and why (why_size bytes) saying what is wrong, as erl does:
 * "syntax error before: }". */
int shell_term_parse(const char *text, struct shell_term *t, char *why,
                     size_t why_size);

/* Frees what shell_term_parse gave t; t->value is NONE afterwards. This
 * function can't fail. */
void shell_term_free(struct shell_term *t);

/* The usual use: the command cmd's argument arg as a term. Prints
 *   ** stray: syntax error before: } (type help for the commands)
 * to out and returns -1 when it is none. */
int shell_term_arg(FILE *out, const char *cmd, const char *arg,
                   struct shell_term *t);

/* ---- Results ------------------------------------------------------------- */

/* Prints a bad argument of command cmd to out, as
 *   ** trace: "x" is neither on nor off (type help for the commands)
 * with the printf-formatted fmt in the middle; fmt should name the bad input.
 * Returns SHELL_BADARGS, for run to return. */
int shell_bad_arg(FILE *out, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prints t and a newline to out, as the Erlang shell shows a value.
 * Returns SHELL_OK, for run to return. */
int shell_show(FILE *out, term t);

/* Prints the exit a failed call raises in Erlang, {Why, MFA}:
 *   ** exception exit: {noproc,{gen_server,call,[counter,read]}}
 * Returns SHELL_ERROR, for run to return. */
int shell_exit(FILE *out, term why, term mfa);

/* ---- Narration for demos ------------------------------------------------- */

/* Prints a line of narration to stdout as an Erlang comment: "%% ...". */
void demo_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints a shell exchange to stdout: the expression after a numbered prompt,
 * then its value, the way erl shows "1> counter:read().\n3". */
void demo_show_term(const char *expr, term value);

/* The two halves of demo_show_term, for a step whose evaluation makes
 * others print (a traced server's *DBG* lines, a crash report): prints the
 * numbered prompt and the expression; demo_value then prints its value.
 * What is printed in between reads as the step's output, as in erl. */
void demo_prompt(const char *expr);
void demo_value(term value);

/* As demo_show_term, with a printf-formatted text for the result (for
 * exceptions and timeouts: "** exception error: ..."). */
void demo_show_text(const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- A stage's main ------------------------------------------------------ */

/* The whole main() of a stage's program, named prog in messages:
 *   prog            starts the runtime, runs demo(), stops the runtime
 *   prog --shell    the same around shell_loop(sh, stdin, stdout)
 *   prog --help     prints the usage to stdout
 * Returns the exit status: demo's or shell_loop's result; 0 for --help;
 * 64 (EX_USAGE) after printing the unknown option and the usage to stderr;
 * 70 (EX_SOFTWARE) after printing why if erl_start failed. */
int stage_main(int argc, char **argv, const char *prog, const struct shell *sh,
               int (*demo)(void));

#endif
