/*
 * global.c - global names among the connected C nodes (global.h).
 *
 * The table: every node's copy is g.v, written only by its server process
 * (c_global_server), under g.lock, and read by anyone under it. Its
 * entries are atoms and pids (immediates): nothing in it needs freeing.
 *
 * Registering (global_register_name, in the caller's own process, which is
 * the registrar): lock the name on every connected node and this one, in
 * the order of their names (a lock is refused while another registrar
 * holds it); each grant says whether the name is held there; if every lock
 * was granted and no node holds the name, register it on every node; then
 * unlock. A refused lock undoes the ones granted and tries again after a
 * random pause, so two registrars never wait on each other. Two registrars
 * that see a node in common meet at the first such node, where only one
 * gets the lock: two processes never win one name. A server releases a
 * lock whose registrar dies (or whose node goes).
 */
#include "global.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "erl.h"
#include "gen_server.h"
#include "node_impl.h"

/* Not OTP's global_name_server: a BEAM peer has no process of this name, so
 * what is sent to it there is dropped (no "unexpected message" in its log)
 * and a call to it fails at once with noproc instead of waiting CALL_MS. */
#define SERVER ATOM("c_global_server")
#define CALL_MS 5000

struct gname {
    term name;      /* an atom */
    term pid;       /* its owner, of any node */
    term mon;       /* the server's monitor of the owner */
};

static struct {
    pthread_mutex_t lock;       /* guards v, n, cap */
    struct gname *v;            /* the table */
    size_t n, cap;
} g = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- The table ----------------------------------------------------------- */

static long find(term name) {
    for (size_t i = 0; i < g.n; i++)
        if (term_eq(g.v[i].name, name))
            return (long)i;
    return -1;
}

term global_whereis_name(term name) {
    pthread_mutex_lock(&g.lock);
    long i = is_atom(name) ? find(name) : -1;
    term pid = i >= 0 ? g.v[i].pid : NONE;
    pthread_mutex_unlock(&g.lock);
    return pid;
}

/* Server only: adds or replaces name's entry. */
static void table_put(term name, term pid, term mon) {
    pthread_mutex_lock(&g.lock);
    long i = find(name);
    if (i < 0 && g.n == g.cap) {
        size_t cap = g.cap ? 2 * g.cap : 16;
        struct gname *v = realloc(g.v, cap * sizeof *v);
        if (v) {
            g.v = v;
            g.cap = cap;
        }
    }
    if (i >= 0)
        g.v[i] = (struct gname){name, pid, mon};
    else if (g.n < g.cap)
        g.v[g.n++] = (struct gname){name, pid, mon};
    pthread_mutex_unlock(&g.lock);
}

/* Server only: removes the entry at i; returns its monitor. */
static term table_remove_at(long i) {
    pthread_mutex_lock(&g.lock);
    term mon = g.v[i].mon;
    g.v[i] = g.v[--g.n];
    pthread_mutex_unlock(&g.lock);
    return mon;
}

/* ---- The server ---------------------------------------------------------- */

/* The registrars' locks, the server's own. */
struct glock {
    struct glock *next;
    term name, holder, mon;     /* the name, the registrar, its monitor */
};

static struct glock *locks;     /* only the server touches it */

static struct glock **lock_of(term name) {
    struct glock **l = &locks;
    while (*l && !term_eq((*l)->name, name))
        l = &(*l)->next;
    return l;
}

static void release(struct glock **l) {
    struct glock *gone = *l;
    *l = gone->next;
    erl_demonitor(gone->mon, true);
    free(gone);
}

/* {lock, Name, Holder}: true when granted (or held by Holder already). */
static bool take_lock(term name, term holder) {
    struct glock **l = lock_of(name);
    if (*l && !term_eq((*l)->holder, holder))
        return false;
    if (!*l && (*l = malloc(sizeof **l)))
        **l = (struct glock){NULL, name, holder, erl_monitor(holder)};
    return *l != NULL;
}

/* Registers name for pid here if nobody holds it. */
static void put_name(term name, term pid) {
    if (is_none(global_whereis_name(name)))
        table_put(name, pid, erl_monitor(pid));
}

static void drop_name(term name) {
    pthread_mutex_lock(&g.lock);
    long i = find(name);
    pthread_mutex_unlock(&g.lock);
    if (i >= 0)
        erl_demonitor(table_remove_at(i), true);
}

/* True when owner a wins a clash with owner b: the one on the node with
 * the smaller name, then the smaller pid. */
static bool wins(term a, term b) {
    int c = strcmp(erl_node_of(a).u.atom, erl_node_of(b).u.atom);
    return c ? c < 0 : a.u.id < b.u.id;
}

/* {sync, [{Name, Pid}, ...]}: another node's own names. */
static void take_sync(term list) {
    for (; is_list(list) && list.size > 0; list = list.u.elements[list.size])
        for (uint32_t i = 0; i < list.size; i++) {
            term name, pid;
            if (!match(list.u.elements[i], TUPLE(VAR(&name), VAR(&pid))) || !is_atom(name) ||
                !is_pid(pid))
                continue;
            term old = global_whereis_name(name);
            if (is_none(old))
                put_name(name, pid);
            else if (!term_eq(old, pid) && wins(pid, old)) {
                drop_name(name);
                put_name(name, pid);
            }
        }
}

/* Sends peer's server the names whose owners live here. */
static void send_sync(term peer) {
    pthread_mutex_lock(&g.lock);
    size_t n = 0;
    term *kv = malloc((2 * g.n + 1) * sizeof *kv);     /* name, pid, name, pid... */
    for (size_t i = 0; kv && i < g.n; i++)
        if (g.v[i].pid.node == 0) {
            kv[2 * n] = g.v[i].name;
            kv[2 * n + 1] = g.v[i].pid;
            n++;
        }
    pthread_mutex_unlock(&g.lock);
    term *cells = kv ? malloc((n + 1) * sizeof *cells) : NULL;
    if (cells) {
        for (size_t i = 0; i < n; i++)
            cells[i] = term_tuple(&kv[2 * i], 2);
        cells[n] = NIL;
        gen_server_cast(TUPLE(SERVER, peer), TUPLE(ATOM("sync"), term_list(cells, n)));
    }
    free(cells);
    free(kv);
}

/* A 'DOWN' for ref: an owner (its name goes) or a registrar (its lock). */
static void take_down(term ref) {
    pthread_mutex_lock(&g.lock);
    long i = -1;
    for (size_t k = 0; k < g.n && i < 0; k++)
        if (term_eq(g.v[k].mon, ref))
            i = (long)k;
    pthread_mutex_unlock(&g.lock);
    if (i >= 0)
        table_remove_at(i);
    for (struct glock **l = &locks; *l; l = &(*l)->next)
        if (term_eq((*l)->mon, ref)) {
            struct glock *gone = *l;
            *l = gone->next;
            free(gone);
            return;
        }
}

/* Answers one call, from. */
static void answer(term from, term req) {
    term name, who;
    if (match(req, TUPLE(ATOM("lock"), VAR(&name), VAR(&who)))) {
        term where = global_whereis_name(name);
        term granted = TUPLE(ATOM("granted"), is_none(where) ? ATOM("undefined") : where);
        gen_server_reply(from, take_lock(name, who) ? granted : ATOM("busy"));
        return;
    }
    if (match(req, TUPLE(ATOM("unlock"), VAR(&name), VAR(&who)))) {
        struct glock **l = lock_of(name);
        if (*l && term_eq((*l)->holder, who))
            release(l);
    } else if (match(req, TUPLE(ATOM("register"), VAR(&name), VAR(&who)))) {
        put_name(name, who);
    } else if (match(req, TUPLE(ATOM("unregister"), VAR(&name)))) {
        drop_name(name);
    }
    gen_server_reply(from, ATOM("ok"));
}

static void server_main(term arg) {
    (void)arg;
    erl_monitor_nodes(true);
    for (;;) {
        term from, req, ref, peer, list;
        term m = erl_receive(ANY, ERL_INFINITY);
        if (match(m, TUPLE(ATOM("$gen_call"), VAR(&from), VAR(&req))))
            answer(from, req);
        else if (match(m, TUPLE(ATOM("$gen_cast"), TUPLE(ATOM("sync"), VAR(&list)))))
            take_sync(list);
        else if (match(m, TUPLE(ATOM("DOWN"), VAR(&ref), ANY, ANY, ANY)))
            take_down(ref);
        else if (match(m, TUPLE(ATOM("nodeup"), VAR(&peer))))
            send_sync(peer);
        erl_drop(m);
    }
}

/* ---- The registrar ------------------------------------------------------- */

static int by_name(const void *a, const void *b) {
    return strcmp(((const term *)a)->u.atom, ((const term *)b)->u.atom);
}

/* This node and every connected one, sorted by name, into v (n slots);
 * returns how many. */
static size_t sorted_nodes(term *v, size_t n) {
    v[0] = erl_node();
    size_t k = 1 + erl_nodes(v + 1, n - 1);
    if (k > n)
        k = n;
    qsort(v, k, sizeof *v, by_name);
    return k;
}

/* Calls node's server; NONE when it did not answer (down, or no server
 * there: a BEAM node, which takes no part). */
static term ask(term peer, term req) {
    term error = NONE;
    term r = gen_server_call(TUPLE(SERVER, peer), req, CALL_MS, &error);
    erl_drop(error);
    return r;
}

/* One try: 1 registered, 0 held already, -1 a lock was refused. */
static int try_register(term name, term pid, term *nodes, size_t n) {
    term self = erl_self();
    bool busy = false, held = false;
    bool *granted = calloc(n, sizeof *granted);
    if (!granted)
        return -1;
    for (size_t i = 0; i < n && !busy; i++) {
        term where, r = ask(nodes[i], TUPLE(ATOM("lock"), name, self));
        if (match(r, TUPLE(ATOM("granted"), VAR(&where)))) {
            granted[i] = true;
            held = held || is_pid(where);
        } else if (is_atom_named(r, "busy")) {
            busy = true;
        }
        erl_drop(r);
    }
    for (size_t i = 0; !busy && !held && i < n; i++)
        if (granted[i])
            erl_drop(ask(nodes[i], TUPLE(ATOM("register"), name, pid)));
    for (size_t i = n; i-- > 0;)
        if (granted[i])
            erl_drop(ask(nodes[i], TUPLE(ATOM("unlock"), name, self)));
    free(granted);
    return busy ? -1 : held ? 0 : 1;
}

/* The most nodes a registration locks. */
#define MAX_NODES 64

int global_register_name(term name, term pid) {
    if (!is_atom(name) || !is_pid(pid)) {
        errno = EINVAL;
        return -1;
    }
    if (!atomic_load(&node.running)) {
        errno = ENOTCONN;
        return -1;
    }
    uint64_t seed = erl_self().u.id ^ (uint64_t)node_now_ns() ^ 0x9e3779b97f4a7c15u;
    for (int attempt = 0;; attempt++) {
        term nodes[MAX_NODES];
        size_t n = sorted_nodes(nodes, MAX_NODES);
        int r = try_register(name, pid, nodes, n);
        if (r == 1)
            return 0;
        if (r == 0) {
            errno = EEXIST;
            return -1;
        }
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        int most = attempt < 6 ? 2 << attempt : 128;
        erl_sleep(1 + (int)(seed % (uint64_t)most));     /* a random pause, growing */
    }
}

int global_unregister_name(term name) {
    if (!is_atom(name)) {
        errno = EINVAL;
        return -1;
    }
    if (!atomic_load(&node.running)) {
        errno = ENOTCONN;
        return -1;
    }
    term nodes[MAX_NODES];
    size_t n = sorted_nodes(nodes, MAX_NODES);
    for (size_t i = 0; i < n; i++)
        erl_drop(ask(nodes[i], TUPLE(ATOM("unregister"), name)));
    return 0;
}

int global_send(term name, term msg) {
    term pid = global_whereis_name(name);
    if (is_none(pid)) {
        errno = ESRCH;
        return -1;
    }
    return erl_send(pid, msg);
}

/* ---- Starting and stopping ----------------------------------------------- */

static term server_pid;     /* the server, or NONE; node_start and node_stop */

int global_start(void) {
    server_pid = erl_spawn_opt("c_global_server", server_main, NONE, ERL_QUIET, NULL);
    if (is_none(server_pid) || erl_register(SERVER, server_pid) < 0) {
        if (!is_none(server_pid))
            erl_exit(server_pid, ATOM("kill"));
        server_pid = NONE;
        return -1;
    }
    return 0;
}

void global_stop(void) {
    if (is_none(server_pid))
        return;
    term mon = erl_monitor(server_pid);
    erl_exit(server_pid, ATOM("kill"));
    term m = erl_receive(TUPLE(ATOM("DOWN"), mon, ANY, ANY, ANY), CALL_MS);
    erl_drop(m);
    server_pid = NONE;
    while (locks) {     /* the server is gone: its locks are nobody's */
        struct glock *l = locks;
        locks = l->next;
        free(l);
    }
    pthread_mutex_lock(&g.lock);
    free(g.v);
    g.v = NULL;
    g.n = g.cap = 0;
    pthread_mutex_unlock(&g.lock);
}
