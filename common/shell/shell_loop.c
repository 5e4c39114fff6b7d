/*
 * shell_loop.c - the prompt: lines read in the calling thread, run by the
 * shell's evaluator process, and Ctrl-C. See shell.h for the contract.
 *
 * Three parties, as in erl:
 *   - the loop (the calling plain thread) reads a line, hands it to the
 *     evaluator as a job and waits for the job's end;
 *   - the evaluator, a process that lives across lines, runs it with
 *     shell_exec: its pid is the shell's self(), its mailbox the shell's;
 *   - Ctrl-C: the SIGINT handler, which may run on any thread, only writes
 *     a byte to a pipe (or, at the prompt, asks the loop to quit); the
 *     interrupter thread reads the pipe and tells the loop, by a message,
 *     to stop the job it waits for. The loop kills the evaluator and
 *     starts a new one.
 *
 * Every message to the loop is {Tag, Job, What}: Tag is a reference made
 * by this run of the loop, so no message of the commands' can pass for
 * one; Job numbers the job it is about, so an answer that comes after its
 * job was interrupted is recognised as stale and dropped. What is the
 * job's status, or interrupt.
 *
 * One shell_loop runs at a time in a program: the state Ctrl-C reaches is
 * the file-scope struct below.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "erl.h"
#include "shell.h"

#define EX_SOFTWARE 70
#define EX_IOERR 74
#define EXIT_INTERRUPT 130      /* 128 + SIGINT, as shells report it */

/* What the SIGINT handler and the interrupter thread share with the loop.
 * The loop writes tag, loop_pid and thread before it installs the
 * handler and starts the interrupter, and changes only job afterwards. */
static struct {
    term tag;                   /* this run's reference */
    term loop_pid;              /* the loop's process */
    pthread_t thread;           /* the loop's thread */
    int pipe[2];                /* handler -> interrupter: one byte a Ctrl-C */
    _Atomic uint64_t job;       /* the job running; 0: at the prompt */
    atomic_bool quit;           /* Ctrl-C at the prompt */
} ctl;

/* ---- The evaluator --------------------------------------------------------- */

/* One line to run. The loop owns it and does not touch it until the job
 * has ended or the evaluator is dead. */
struct job {
    const struct shell *sh;     /* the stage's commands */
    const char *line;           /* the line, as read */
    FILE *out;                  /* where the command prints */
    uint64_t n;                 /* the job's number, from 1 */
};

/* The evaluator: traps exits (a linked counter's crash is a message, as
 * the shell's plain thread had it), then runs the jobs {Tag, Job} the
 * loop sends, answering {Tag, N, Status}, until {Tag, stop}. */
static void evaluator(term tag)
{
    erl_trap_exit(true);
    for (;;) {
        term job;
        term msg = erl_receive(TUPLE(tag, VAR(&job)), ERL_INFINITY);
        if (!is_int(job)) {
            erl_drop(msg);
            return;
        }
        struct job *j = (struct job *)(intptr_t)job.u.integer;
        erl_drop(msg);
        enum shell_status st = shell_exec(j->sh, j->line, j->out);
        fflush(j->out);
        erl_send(ctl.loop_pid, TUPLE(tag, INT((int64_t)j->n), INT(st)));
    }
}

/* Spawns an evaluator, monitored by the loop; *mon gets the monitor. */
static term spawn_evaluator(term *mon)
{
    term pid = erl_spawn_opt("shell", evaluator, ctl.tag, ERL_MONITOR, mon);
    return pid;
}

/* Ends the evaluator pid (monitored by mon) with reason why: kill, or
 * normal by asking it to stop. Returns when it is gone. */
static void end_evaluator(term pid, term mon, bool kill)
{
    if (kill)
        erl_exit(pid, ATOM("kill"));
    else
        erl_send(pid, TUPLE(ctl.tag, ATOM("stop")));
    erl_drop(erl_receive(TUPLE(ATOM("DOWN"), mon, ANY, ANY, ANY), ERL_INFINITY));
}

/* ---- Ctrl-C ---------------------------------------------------------------- */

/* The SIGINT handler: async-signal-safe calls only. While a job runs it
 * wakes the interrupter; at the prompt it asks the loop to quit, and
 * makes sure the signal reaches the loop's thread, whose read then fails
 * with EINTR (the handler is installed without SA_RESTART). */
static void on_sigint(int sig)
{
    (void)sig;
    int saved = errno;
    if (atomic_load(&ctl.job) != 0) {
        ssize_t w = write(ctl.pipe[1], "i", 1);
        (void)w;
    } else {
        atomic_store(&ctl.quit, true);
        if (!pthread_equal(pthread_self(), ctl.thread))
            pthread_kill(ctl.thread, SIGINT);
    }
    errno = saved;
}

/* The interrupter thread: for every byte on the pipe, tells the loop to
 * stop the job that runs, if one does. Ends when the pipe is closed. */
static void *interrupter(void *arg)
{
    (void)arg;
    char c;
    for (;;) {
        ssize_t n = read(ctl.pipe[0], &c, 1);
        if (n == 0 || (n < 0 && errno != EINTR))
            return NULL;
        uint64_t job = atomic_load(&ctl.job);
        if (n == 1 && job != 0)
            erl_send(ctl.loop_pid, TUPLE(ctl.tag, INT((int64_t)job),
                                         ATOM("interrupt")));
    }
}

/* Installs the handler (the old one into *old) and starts the interrupter.
 * Returns 0, or -1 with errno set. */
static int ctrl_c_start(struct sigaction *old, pthread_t *th)
{
    if (pipe(ctl.pipe) < 0)
        return -1;
    int rc = pthread_create(th, NULL, interrupter, NULL);
    if (rc != 0) {
        close(ctl.pipe[0]), close(ctl.pipe[1]);
        errno = rc;
        return -1;
    }
    struct sigaction sa = {.sa_handler = on_sigint};   /* no SA_RESTART */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, old);
    return 0;
}

/* Restores the old handler and ends the interrupter. */
static void ctrl_c_stop(const struct sigaction *old, pthread_t th)
{
    sigaction(SIGINT, old, NULL);
    close(ctl.pipe[1]);
    pthread_join(th, NULL);
    close(ctl.pipe[0]);
}

/* ---- The loop -------------------------------------------------------------- */

/* The state of one run of the loop. */
struct loop {
    const struct shell *sh;     /* the stage's commands */
    FILE *out;                  /* where everything is printed */
    term eval;                  /* the evaluator's pid */
    term mon;                   /* the loop's monitor on it */
    uint64_t jobs;              /* jobs handed out so far */
};

/* Runs line as the next job and waits for it: its status, or SHELL_ERROR
 * after Ctrl-C stopped it or the evaluator died, when a new evaluator
 * takes over (said on out). Returns -1 if none can be spawned. */
static int run_job(struct loop *l, const char *line)
{
    struct job j = {l->sh, line, l->out, ++l->jobs};
    atomic_store(&ctl.job, j.n);
    erl_send(l->eval, TUPLE(ctl.tag, INT((int64_t)(intptr_t)&j)));
    int status = -2;
    term why = NONE;
    while (status == -2) {
        term what, down = NONE;
        term msg = erl_receive(ANY, ERL_INFINITY);
        if (match(msg, TUPLE(ctl.tag, INT((int64_t)j.n), VAR(&what))))
            status = is_int(what) ? (int)what.u.integer : -1;
        else if (match(msg, TUPLE(ATOM("DOWN"), l->mon, ANY, ANY, VAR(&down))))
            status = -1, why = term_keep(down);
        erl_drop(msg);          /* anything else is stale: dropped */
    }
    atomic_store(&ctl.job, 0);
    if (status >= 0)
        return status;
    if (is_none(why)) {         /* Ctrl-C */
        end_evaluator(l->eval, l->mon, true);
        fputs("** interrupted: the command was stopped, its shell process "
              "killed (and what it was linked to got the exit)", l->out);
    } else {
        fputs("** exception exit: ", l->out);
        term_print(l->out, why);
        erl_drop(why);
        fputs("\n** the shell process died", l->out);
    }
    l->eval = spawn_evaluator(&l->mon);
    if (is_none(l->eval)) {
        fputs("; no new one can be spawned\n", l->out);
        return -1;
    }
    fputs(".\n** A new shell process starts, with an empty mailbox "
          "(Ctrl-C at the prompt quits)\n", l->out);
    return SHELL_ERROR;
}

/* Reads and runs lines until quit, end of input or Ctrl-C at the prompt.
 * Returns the loop's exit status (see shell_loop). */
static int read_lines(struct loop *l, FILE *in)
{
    char *line = NULL;
    size_t cap = 0;
    int n = 1, last = SHELL_OK;
    for (;;) {
        fprintf(l->out, "%d> ", n);
        fflush(l->out);
        if (atomic_load(&ctl.quit) || getline(&line, &cap, in) < 0)
            break;
        int st = run_job(l, line);
        if (st < 0) {
            free(line);
            return EX_SOFTWARE;
        }
        if (st == SHELL_QUIT)
            break;
        if (strspn(line, " \t\r\n") != strlen(line)) {
            n++;
            last = st;
        }
    }
    free(line);
    if (atomic_load(&ctl.quit)) {
        fputc('\n', l->out);
        return EXIT_INTERRUPT;
    }
    if (ferror(in))
        return EX_IOERR;
    if (feof(in))
        fputc('\n', l->out);    /* end the prompt line the EOF left open */
    return last == SHELL_OK || last == SHELL_QUIT ? 0 : 1;
}

int shell_loop(const struct shell *sh, FILE *in, FILE *out)
{
    struct loop l = {.sh = sh, .out = out};
    ctl.tag = erl_make_ref();
    ctl.loop_pid = erl_self();
    ctl.thread = pthread_self();
    atomic_store(&ctl.job, 0);
    atomic_store(&ctl.quit, false);
    l.eval = spawn_evaluator(&l.mon);
    if (is_none(l.eval)) {
        fprintf(out, "** the shell process cannot be spawned: %s\n", strerror(errno));
        return EX_SOFTWARE;
    }
    struct sigaction old;
    pthread_t th;
    if (ctrl_c_start(&old, &th) < 0) {
        fprintf(out, "** Ctrl-C cannot be caught: %s\n", strerror(errno));
        end_evaluator(l.eval, l.mon, false);
        return EX_SOFTWARE;
    }
    if (sh->banner)
        fprintf(out, "%s\n", sh->banner);
    int status = read_lines(&l, in);
    end_evaluator(l.eval, l.mon, false);
    ctrl_c_stop(&old, th);
    fflush(out);
    return status;
}
