/*
 * hot.c - 07_hot_code's host side (see hot.h).
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "hot.h"
#include "sys.h"

#ifndef SO_DIR
#error "the Makefile passes SO_DIR, the folder of the shared objects"
#endif

#define MAX_TICKERS 64

/* The tickers running now (used by one thread: the tour, the shell). */
static struct {
    term pids[MAX_TICKERS];     /* their pids */
    int n;                      /* how many */
} tickers;

const char *hot_so_dir(void) { return SO_DIR; }

const char *hot_so_path(const char *name)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", SO_DIR, name);
    return path;
}

int hot_load(int vsn, term *error)
{
    char name[64];
    snprintf(name, sizeof name, "counter_v%d.so", vsn);
    return code_load_file(HOT_MODULE, hot_so_path(name), error);
}

int hot_start(term *error)
{
    if (is_none(code_start_server(COUNTER, HOT_MODULE, INT(0), 0, error)))
        return -1;
    term loop = code_spawn_loop(HOT_MODULE, INT(0), 0, NULL);
    if (is_none(loop) || erl_register(COUNTER_LOOP, loop) < 0) {
        if (error)
            *error = ATOM("system_limit");
        return -1;
    }
    return 0;
}

/* Kills the process registered as name, if any, and waits until it is gone. */
static void kill_named(term name)
{
    term pid = erl_whereis(name);
    if (is_none(pid))
        return;
    term ref = erl_monitor(pid);
    erl_exit(pid, ATOM("kill"));
    erl_drop(erl_receive(TUPLE(ATOM("DOWN"), ref, ANY, ANY, ANY), ERL_INFINITY));
}

void hot_stop(void)
{
    term error;
    if (gen_server_stop(COUNTER, ATOM("normal"), GEN_DEFAULT_TIMEOUT, &error) < 0)
        kill_named(COUNTER);
    kill_named(COUNTER_LOOP);
}

int hot_upgrade(term *error)
{
    return code_change_server(COUNTER, NIL, GEN_DEFAULT_TIMEOUT, error);
}

void hot_tick(int64_t n)
{
    gen_server_cast(COUNTER, TUPLE(ATOM("tick"), INT(n)));
    term loop = erl_whereis(COUNTER_LOOP);
    if (!is_none(loop))
        erl_send(loop, TUPLE(ATOM("tick"), INT(n)));
}

term hot_call(const char *req, term *error)
{
    return gen_server_call(COUNTER, atom_from(req), GEN_DEFAULT_TIMEOUT, error);
}

term hot_loop_ask(const char *req, term *error)
{
    term loop = erl_whereis(COUNTER_LOOP), value, m = NONE;
    term tag = atom_from(req);
    if (!is_none(loop)) {
        erl_send(loop, TUPLE(tag, erl_self()));
        m = erl_receive(TUPLE(tag, loop, VAR(&value)), GEN_DEFAULT_TIMEOUT);
    }
    if (is_none(m) && error)
        *error = is_none(loop) ? ATOM("noproc") : ATOM("timeout");
    return is_none(m) ? NONE : value;
}

/* What erl_processes tells idle_probe: the process sought, and whether it
 * was seen waiting with no message. */
struct idle_probe {
    term pid;       /* the process */
    bool idle;      /* seen waiting with an empty mailbox */
};

static void probe_idle(const struct erl_proc_info *info, void *ctx)
{
    struct idle_probe *p = ctx;
    if (term_eq(info->pid, p->pid))
        p->idle = info->queue_len == 0 && strcmp(info->status, "waiting") == 0;
}

bool hot_wait_idle(term pid, int timeout_ms)
{
    for (int waited = 0;; waited++) {
        struct idle_probe p = {pid, false};
        erl_processes(probe_idle, &p);
        if (p.idle)
            return true;
        if (!erl_is_alive(pid) || (timeout_ms >= 0 && waited >= timeout_ms))
            return false;
        erl_sleep(1);
    }
}

/* ---- Watching a file ----------------------------------------------------- */

/* True when a and b describe the same file, unchanged. */
static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Purges, loads path, moves the gen_server. Returns {module, counter} or
 * {error, Why} (in the caller's heap). */
static term watch_load(const char *path)
{
    term error;
    if (!code_soft_purge(HOT_MODULE))
        code_purge(HOT_MODULE, GEN_DEFAULT_TIMEOUT);
    if (code_load_file(HOT_MODULE, path, &error) < 0 ||
        (!is_none(erl_whereis(COUNTER)) && hot_upgrade(&error) < 0))
        return term_keep(TUPLE(ATOM("error"), error));
    return term_keep(TUPLE(ATOM("module"), ATOM("counter")));
}

/* The watcher: arg {Path, IntervalMs, Owner, Starter}, Path a binary. It
 * tells Starter {watching, Self} once it has looked at the file the first
 * time: a change after that is seen. */
static void watcher(term arg)
{
    char path[4096];
    term p = element(1, arg), owner = element(3, arg);
    int interval = (int)element(2, arg).u.integer;
    snprintf(path, sizeof path, "%.*s", (int)p.size, (const char *)p.u.bytes);
    struct stat seen = {0}, now;
    stat(path, &seen);
    erl_send(element(4, arg), TUPLE(ATOM("watching"), erl_self()));
    while (is_none(erl_receive(ATOM("stop"), interval))) {
        if (stat(path, &now) < 0 || same_file(&now, &seen))
            continue;
        seen = now;
        erl_heap_mark_t mark = erl_heap_mark();
        term result = watch_load(path);
        if (is_pid(owner))
            erl_send(owner, TUPLE(ATOM("watch"), result));
        else {
            printf("\n%% watch: %s changed: ", path);
            term_print(stdout, result);
            printf("\n");
            fflush(stdout);
        }
        erl_heap_release(mark);     /* the result, and the load's errors */
    }
}

term hot_watch(const char *path, int interval_ms, term owner)
{
    term ref;
    term pid = erl_spawn_opt("watcher", watcher,
                             TUPLE(term_binary(path, strlen(path)),
                                   INT(interval_ms), owner, erl_self()),
                             ERL_MONITOR, &ref);
    if (is_none(pid))
        return NONE;
    const term started[] = {TUPLE(ATOM("watching"), pid),
                            TUPLE(ATOM("DOWN"), ref, ANY, ANY, ANY)};
    size_t which;
    erl_drop(erl_receive_any(started, 2, ERL_INFINITY, &which));
    erl_demonitor(ref, true);
    return which == 0 ? pid : NONE;
}

/* ---- Tickers ------------------------------------------------------------- */

/* A ticker: arg {IntervalMs}. Ticks both counters by 1 until told stop, then
 * answers {ticked, Self, Count} to whoever stopped it. */
static void ticker(term arg)
{
    int interval = (int)element(1, arg).u.integer;
    int64_t sent = 0;
    term from;
    for (;;) {
        hot_tick(1);
        sent++;
        term m = erl_receive(TUPLE(ATOM("stop"), VAR(&from)), interval);
        if (!is_none(m)) {
            erl_send(from, TUPLE(ATOM("ticked"), erl_self(), INT(sent)));
            return;
        }
        if (interval == 0)
            erl_yield();
    }
}

int hot_tickers_start(int n, int interval_ms)
{
    while (n-- > 0 && tickers.n < MAX_TICKERS) {
        term pid = erl_spawn(ticker, TUPLE(INT(interval_ms)));
        if (is_none(pid))
            break;
        tickers.pids[tickers.n++] = pid;
    }
    return tickers.n;
}

int64_t hot_tickers_stop(void)
{
    int64_t total = 0;
    for (int i = 0; i < tickers.n; i++)
        erl_send(tickers.pids[i], TUPLE(ATOM("stop"), erl_self()));
    for (int i = 0; i < tickers.n; i++) {
        term count;
        term m = erl_receive(TUPLE(ATOM("ticked"), tickers.pids[i], VAR(&count)),
                             ERL_INFINITY);
        total += count.u.integer;
        erl_drop(m);
    }
    tickers.n = 0;
    return total;
}
