/*
 * stress.c - a randomized soak of the core: links, monitors, kills, exit
 * signals, names, sends, timers and spawns among processes that die all
 * the time; then checks that everything is accounted for.
 *
 * Run: make stress   (or make SAN=thread stress; build/<variant>/tests/stress
 *      [seconds [operations [seed]]], defaults 20, 1000000, the time)
 *
 * The driver (this program's main thread) spawns every process and tells
 * workers what to do to each other. Every process, first thing, tells the
 * driver it was born; the driver then monitors it. At the end the driver
 * kills every process it knows of and checks:
 *   - one 'DOWN' for every process born, each with an expected reason;
 *   - no process left (erl_process_count and the listing: the driver only);
 *   - no name left registered;
 *   - every worker's own monitors got their 'DOWN' or were lost with it;
 *   - erl_stop returns (a watchdog ends the program with status 70 if not).
 * Exit status 0 only when every check held; the last line sums them up.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "erl.h"

#ifdef __SANITIZE_THREAD__
#define MAX_LIVE 60         /* a fiber is a thread to ThreadSanitizer */
#else
#define MAX_LIVE 400
#endif
#define NAMES 8             /* names the workers register and unregister */
#define END_WAIT_MS 30000   /* how long the end waits for every 'DOWN' */

static const char *const names[NAMES] = {"st0", "st1", "st2", "st3", "st4", "st5", "st6", "st7"};

/* ---- Randomness ---------------------------------------------------------- */

/* xorshift64*: a generator per process, seeded from the driver's. */
static uint64_t next_random(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static unsigned below(uint64_t *s, unsigned n) { return (unsigned)(next_random(s) % n); }

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- Workers ------------------------------------------------------------- */

/*
 * worker({Driver, Seed}) tells Driver {born, Self}, then serves, until it
 * dies, the driver's commands:
 *   {link, P} {unlink, P} {monitor, P} {kill, P} {exit, P, Reason}
 *   {trap, Bool} {register, Name} {unregister, Name} {send, Dest}
 *   {spawn, Flags} die
 * and counts what else comes ('EXIT' and 'DOWN' messages, pings). Between
 * messages it polls with a short random timeout, so receive timers come and
 * go all the time.
 */
static void worker(term arg);

static void worker_spawn(term driver, uint64_t *rng, int flags) {
    term ref;
    erl_spawn_opt("worker", worker, TUPLE(driver, INT((int64_t)(next_random(rng) >> 1))),
                  flags, &ref);
}

/* Runs one command; false when msg is none. */
static bool worker_command(term msg, term driver, uint64_t *rng) {
    term p, r;
    if (match(msg, TUPLE(ATOM("link"), VAR(&p))))
        erl_link(p);
    else if (match(msg, TUPLE(ATOM("unlink"), VAR(&p))))
        erl_unlink(p);
    else if (match(msg, TUPLE(ATOM("monitor"), VAR(&p))))
        erl_monitor(p);
    else if (match(msg, TUPLE(ATOM("kill"), VAR(&p))))
        erl_exit(p, ATOM("kill"));
    else if (match(msg, TUPLE(ATOM("exit"), VAR(&p), VAR(&r))))
        erl_exit(p, r);
    else if (match(msg, TUPLE(ATOM("trap"), VAR(&p))))
        erl_trap_exit(is_atom_named(p, "true"));
    else if (match(msg, TUPLE(ATOM("register"), VAR(&p))))
        erl_register(p, erl_self());
    else if (match(msg, TUPLE(ATOM("unregister"), VAR(&p))))
        erl_unregister(p);
    else if (match(msg, TUPLE(ATOM("send"), VAR(&p))))
        erl_send(p, TUPLE(ATOM("ping"), erl_self()));
    else if (match(msg, TUPLE(ATOM("spawn"), VAR(&p))))
        worker_spawn(driver, rng, (int)p.u.integer);
    else if (is_atom_named(msg, "die"))
        erl_exit_self(below(rng, 2) ? ATOM("normal") : TUPLE(ATOM("stress"), INT(1)));
    else
        return false;
    return true;
}

static void worker(term arg) {
    term driver = element(1, arg);
    uint64_t rng = (uint64_t)element(2, arg).u.integer | 1;
    erl_send(driver, TUPLE(ATOM("born"), erl_self()));
    for (;;) {
        term msg = erl_receive(ANY, (int)below(&rng, 4));
        if (is_none(msg))
            continue;
        worker_command(msg, driver, &rng);
        erl_drop(msg);
    }
}

/* ---- The driver ---------------------------------------------------------- */

/* A process the driver knows of, alive as far as it has heard. */
struct known {
    term pid;               /* the process */
    term ref;               /* the driver's monitor on it */
    bool linked;            /* the driver linked to it */
};

static struct {
    struct known *live;                 /* born and not yet 'DOWN' */
    int live_n, live_cap;               /* how many; room for */
    long born, downs;                   /* 'born' and 'DOWN' messages */
    long links, exits;                  /* the driver's links; its 'EXIT's */
    long unexpected;                    /* 'DOWN' for nobody known */
    long bad_reasons;                   /* 'DOWN' with a reason not expected */
    term last_timer;                    /* the last send_after's ref */
    uint64_t rng;                       /* the driver's generator */
} d;

/* Reasons a process may die with here. */
static bool expected_reason(term r) {
    return is_atom_named(r, "normal") || is_atom_named(r, "killed") ||
           is_atom_named(r, "noproc") || match(r, TUPLE(ATOM("stress"), ANY));
}

static struct known *find_by(term ref, term pid) {
    for (int i = 0; i < d.live_n; i++)
        if (term_eq(d.live[i].ref, ref) || term_eq(d.live[i].pid, pid))
            return &d.live[i];
    return NULL;
}

static void on_born(term pid) {
    d.born++;
    if (d.live_n == d.live_cap) {
        d.live_cap = d.live_cap ? 2 * d.live_cap : 256;
        d.live = realloc(d.live, (size_t)d.live_cap * sizeof *d.live);
        if (!d.live) {
            perror("stress: realloc");
            exit(70);
        }
    }
    d.live[d.live_n++] = (struct known){pid, erl_monitor(pid), false};
    if (d.live_n > MAX_LIVE)    /* spawn commands in flight overshot */
        erl_exit(pid, ATOM("kill"));
}

static void on_down(term ref, term reason) {
    struct known *k = find_by(ref, NONE);
    d.downs++;
    if (!k) {
        d.unexpected++;
        return;
    }
    if (!expected_reason(reason))
        d.bad_reasons++;
    *k = d.live[--d.live_n];
}

/* Handles one message the driver got. */
static void handle(term msg) {
    term pid, ref, reason;
    if (match(msg, TUPLE(ATOM("born"), VAR(&pid))))
        on_born(pid);
    else if (match(msg, TUPLE(ATOM("DOWN"), VAR(&ref), ATOM("process"), ANY, VAR(&reason))))
        on_down(ref, reason);
    else if (match(msg, TUPLE(ATOM("EXIT"), ANY, ANY)))
        d.exits++;  /* the driver never unlinks: one per link, at the end */
    erl_drop(msg);
}

/* Handles every message waiting, or waits up to ms for one. */
static void drain(int ms) {
    term msg;
    while (!is_none(msg = erl_receive(ANY, ms))) {
        handle(msg);
        ms = 0;
    }
}

static term random_pid(void) { return d.live[below(&d.rng, (unsigned)d.live_n)].pid; }

static term random_name(void) { return atom_from(names[below(&d.rng, NAMES)]); }

static void spawn_from_driver(void) {
    erl_spawn_opt("worker", worker, TUPLE(erl_self(), INT((int64_t)(next_random(&d.rng) >> 1))),
                  0, NULL);
}

/* Tells worker w a command chosen by r (0..99) that involves x. (Each
 * branch sends its own TUPLE: a TUPLE lives to the end of its block.) */
static void command(term w, term x, unsigned r) {
    term y = below(&d.rng, 2) ? x : random_name();
    bool yes = below(&d.rng, 2);
    if (r < 18 && d.live_n < MAX_LIVE)
        erl_send(w, TUPLE(ATOM("spawn"), INT(below(&d.rng, 4))));
    else if (r < 28) erl_send(w, TUPLE(ATOM("link"), x));
    else if (r < 33) erl_send(w, TUPLE(ATOM("unlink"), x));
    else if (r < 40) erl_send(w, TUPLE(ATOM("monitor"), y));
    else if (r < 46) erl_send(w, TUPLE(ATOM("kill"), x));
    else if (r < 49) erl_send(w, TUPLE(ATOM("exit"), x, ATOM("normal")));
    else if (r < 52) erl_send(w, TUPLE(ATOM("exit"), x, TUPLE(ATOM("stress"), INT(2))));
    else if (r < 58) erl_send(w, TUPLE(ATOM("trap"), yes ? ATOM("true") : ATOM("false")));
    else if (r < 64) erl_send(w, TUPLE(ATOM("register"), random_name()));
    else if (r < 68) erl_send(w, TUPLE(ATOM("unregister"), random_name()));
    else if (r < 78) erl_send(w, TUPLE(ATOM("send"), y));
    else if (r >= 18) erl_send(w, ATOM("die"));
}

/* The driver's own moves: timers, kills, links, sends to names. */
static void driver_move(term x, unsigned r) {
    if (r < 50) {
        term dest = below(&d.rng, 2) ? x : random_name();
        d.last_timer = below(&d.rng, 2)
            ? erl_send_after((int)below(&d.rng, 20), dest, TUPLE(ATOM("ping"), erl_self()))
            : erl_start_timer((int)below(&d.rng, 20), dest, ATOM("tick"));
    } else if (r < 65) {
        erl_cancel_timer(d.last_timer);
    } else if (r < 80) {
        erl_exit(x, ATOM("kill"));
    } else if (r < 90) {
        struct known *k = find_by(NONE, x);
        if (!k->linked) {   /* linked once: one 'EXIT' comes, even from
                               a process already dead (noproc) */
            k->linked = true;
            d.links++;
            erl_link(x);
        }
    } else {
        erl_send(random_name(), TUPLE(ATOM("ping"), erl_self()));
    }
}

/* One random operation. */
static void operate(void) {
    if (d.live_n == 0) {
        spawn_from_driver();
        drain(100);
        return;
    }
    unsigned r = below(&d.rng, 100);
    if (r < 8 && d.live_n < MAX_LIVE)
        spawn_from_driver();
    else if (r < 88)
        command(random_pid(), random_pid(), below(&d.rng, 100));
    else
        driver_move(random_pid(), below(&d.rng, 100));
}

/* Kills every process and waits until each has said 'DOWN', or gives up
 * after END_WAIT_MS. */
static void wind_down(void) {
    int64_t end = now_ms() + END_WAIT_MS;
    while ((d.live_n > 0 || erl_process_count() > 1) && now_ms() < end) {
        for (int i = 0; i < d.live_n; i++)
            erl_exit(d.live[i].pid, ATOM("kill"));
        drain(50);
    }
    drain(0);
}

/* ---- Checks -------------------------------------------------------------- */

static int passed, failed;

static void check(bool ok, const char *what, long got, long want) {
    if (ok) {
        passed++;
        return;
    }
    failed++;
    printf("stress: FAILED: %s (got %ld, want %ld)\n", what, got, want);
}

static void check_all(void) {
    check(d.live_n == 0, "every process born said 'DOWN'", d.live_n, 0);
    check(d.born == d.downs, "as many 'DOWN' as processes born", d.downs, d.born);
    check(d.unexpected == 0, "no 'DOWN' for an unknown monitor", d.unexpected, 0);
    check(d.bad_reasons == 0, "every exit reason expected", d.bad_reasons, 0);
    check(d.exits == d.links, "one 'EXIT' per link of the driver", d.exits, d.links);
    check(erl_process_count() == 1, "no process left but the driver",
          (long)erl_process_count(), 1);
    check(erl_processes(NULL, NULL) == 1, "the listing shows the driver only",
          (long)erl_processes(NULL, NULL), 1);
    check(erl_registered(NULL, NULL) == 0, "no name left registered",
          (long)erl_registered(NULL, NULL), 0);
}

static void watchdog(int sig) {
    (void)sig;
    static const char msg[] = "stress: FAILED: erl_stop did not return (watchdog)\n";
    ssize_t n = write(2, msg, sizeof msg - 1);
    (void)n;
    _exit(70);
}

int main(int argc, char **argv) {
    int seconds = argc > 1 ? atoi(argv[1]) : 20;
    long max_ops = argc > 2 ? atol(argv[2]) : 1000000;
    uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 0) : (uint64_t)time(NULL);
    if (seconds <= 0 || max_ops <= 0) {
        fprintf(stderr, "usage: %s [seconds [operations [seed]]]\n", argv[0]);
        return 64;
    }
    printf("stress: seed %llu, %d s or %ld operations (rerun: %s %d %ld %llu)\n",
           (unsigned long long)seed, seconds, max_ops, argv[0], seconds, max_ops,
           (unsigned long long)seed);
    d.rng = seed | 1;
    d.last_timer = NONE;
    struct erl_options opts = {.schedulers = 2};
    if (erl_start(&opts) < 0) {
        perror("stress: erl_start");
        return 70;
    }
    long ops = 0;
    for (int64_t end = now_ms() + seconds * 1000; ops < max_ops && now_ms() < end; ops++) {
        drain(erl_process_count() > 2 * MAX_LIVE ? 1 : 0);  /* let them catch up */
        operate();
    }
    wind_down();
    printf("stress: %ld operations, %ld processes born, %ld links to the driver\n",
           ops, d.born, d.links);
    check_all();
    signal(SIGALRM, watchdog);
    alarm(60);
    erl_stop();
    alarm(0);
    check(true, "erl_stop returned", 0, 0);
    free(d.live);
    printf("stress: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
