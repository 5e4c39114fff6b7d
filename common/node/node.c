/*
 * node.c - starting and stopping a node: its name and cookie, epmd, the
 * acceptor thread, libei's handshake, and the hooks the runtime calls.
 *
 * libei does the handshake (ei_connect_tmo, ei_accept_tmo); its socket
 * callbacks are libei's own but for read, which also keeps the first bytes
 * of each handshake (a thread's own copy: one handshake runs on a thread
 * at a time). They tell what libei does not: the peer's name when an
 * accept fails (a wrong cookie is logged naming the peer) and the peer's
 * flags when a connect succeeds (a BEAM node announces alias support). The
 * write callback adds spawn and monitor-name support to what libei
 * announces.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "erl.h"
#include "global.h"
#include "node_impl.h"

extern char **environ;
extern ei_socket_callbacks ei_default_socket_callbacks;

struct node_state node = {.lock = PTHREAD_MUTEX_INITIALIZER,
                          .threads_gone = PTHREAD_COND_INITIALIZER,
                          .listen_fd = -1, .epmd_fd = -1};

/* ---- Small tools --------------------------------------------------------- */

void node_log(const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(line, sizeof line, "node %s: ", is_atom(node.name) ? node.name.u.atom : "?");
    vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    strcat(line, "\n");
    fputs(line, stderr);    /* one write: lines of two threads do not mix */
}

int node_thread(void *(*fn)(void *), void *arg) {
    pthread_t t;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    atomic_fetch_add(&node.threads, 1);
    int err = pthread_create(&t, &at, fn, arg);
    pthread_attr_destroy(&at);
    if (err) {
        node_thread_done();
        errno = err;
        return -1;
    }
    return 0;
}

void node_thread_done(void) {
    pthread_mutex_lock(&node.lock);
    atomic_fetch_sub(&node.threads, 1);
    pthread_cond_broadcast(&node.threads_gone);
    pthread_mutex_unlock(&node.lock);
}

/* ---- libei's socket table ------------------------------------------------
 *
 * libei keeps a table of its sockets (put, looked up and removed by fd in
 * ei_connect_tmo, ei_accept_tmo and ei_close_connection), which the libei
 * this links changes without a lock: two handshakes on two threads at once
 * race on it (ThreadSanitizer saw put_ei_socket_info's writes meet). So
 * every libei call that may touch the table runs under ei_lock, and the
 * socket callbacks below let it go while they wait on a socket: no thread
 * waits on the network holding it (two nodes that connect to each other at
 * once do not wait on each other's lock). They implement the timeouts
 * themselves (EI_SCLBK_FLG_FULL_IMPL), so that libei's own waits, which
 * would run under the lock, are never used. Invariant: ei_lock is held by
 * the thread inside a libei call, and by no thread while it waits on a
 * socket. */
static pthread_mutex_t ei_lock = PTHREAD_MUTEX_INITIALIZER;

int node_ei_close(int fd) {
    pthread_mutex_lock(&ei_lock);
    int r = ei_close_connection(fd);
    pthread_mutex_unlock(&ei_lock);
    return r;
}

static int fd_of(void *ctx) {
    int fd = -1;
    ei_default_socket_callbacks.get_fd(ctx, &fd);
    return fd;
}

/* Called with ei_lock held: lets it go and waits up to tmo ms
 * (EI_SCLBK_INF_TMO: without end) for fd to be ready for events. Returns
 * 0, ETIMEDOUT, or the error; ei_lock is not held on return. */
static int wait_unlocked(int fd, short events, unsigned tmo) {
    pthread_mutex_unlock(&ei_lock);
    struct pollfd p = {fd, events, 0};
    int ms = tmo == EI_SCLBK_INF_TMO ? -1 : tmo > 600000 ? 600000 : (int)tmo;
    int r;
    do
        r = poll(&p, 1, ms);
    while (r < 0 && errno == EINTR);
    return r < 0 ? errno : r == 0 ? ETIMEDOUT : 0;
}

static int locked_accept(void **ctx, void *addr, int *len, unsigned tmo) {
    int err = wait_unlocked(fd_of(*ctx), POLLIN, tmo);
    if (!err)
        err = ei_default_socket_callbacks.accept(ctx, addr, len, EI_SCLBK_INF_TMO);
    pthread_mutex_lock(&ei_lock);
    return err;
}

/* A connect with a timeout: started without blocking, waited for, the
 * socket made blocking again (as libei wants it back). */
static int locked_connect(void *ctx, void *addr, int len, unsigned tmo) {
    int fd = fd_of(ctx), fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);    /* so the connect returns at once */
    int err = ei_default_socket_callbacks.connect(ctx, addr, len, EI_SCLBK_INF_TMO);
    if (err == EINPROGRESS) {
        err = wait_unlocked(fd, POLLOUT, tmo);
        socklen_t n = sizeof err;
        if (!err && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &n) < 0)
            err = errno;
        pthread_mutex_lock(&ei_lock);
    }
    fcntl(fd, F_SETFL, fl);
    return err;
}

/* ---- What this node announces ---------------------------------------------
 *
 * libei announces neither DFLAG_SPAWN (bit 32) nor DFLAG_DIST_MONITOR_NAME
 * (0x20). Without spawn, OTP 25's rpc:call, which is erpc:call and sends a
 * SPAWN_REQUEST, fails with notsup on the caller's side without asking.
 * Without monitor names, BEAM sends a node neither MONITOR_P nor
 * MONITOR_P_EXIT (erts' dist.c wants both monitor flags), so monitors
 * between BEAM and C processes fire only when the connection goes. This
 * node takes both (spawn.c; control.c reads monitors by pid and by name),
 * so the bits are OR-ed into the flags of the 'N' packets libei writes
 * through the write callback: the name packet ('N', Flags:64, Creation:32,
 * NameLen:16, Name) when connecting, the challenge ('N', Flags:64,
 * Challenge:32, Creation:32, NameLen:16, Name) when accepting; both carry
 * the flags at the same place, and the digest covers only the challenge
 * and the cookie. An old-format 'n' packet (32 flag bits: what libei
 * answers a pre-OTP-23 node with) goes out as it is: it cannot carry the
 * spawn bit, and such a node sends no spawn requests either. After the
 * handshake nothing goes through the callbacks (conn_io.c writes the
 * socket itself). */
#define FLAGS_AT 3              /* [Length:16] 'N', then Flags:64 big-endian */
#define SPAWN_BYTE (FLAGS_AT + 3)       /* bit 32: the low bit of byte 4 */
#define SPAWN_BIT 0x01
#define MONITOR_NAME_BYTE (FLAGS_AT + 7)    /* 0x20: in the lowest byte */
#define MONITOR_NAME_BIT 0x20

/* buf with this node's extra flags set in copy when buf is one whole 'N'
 * packet; else buf itself. copy has room for size bytes. */
static const char *announcing(const char *buf, ssize_t len, char *copy, size_t size) {
    if (len < 11 || (size_t)len > size || buf[2] != 'N' ||
        ((size_t)(unsigned char)buf[0] << 8 | (unsigned char)buf[1]) != (size_t)len - 2)
        return buf;
    memcpy(copy, buf, (size_t)len);
    copy[SPAWN_BYTE] |= SPAWN_BIT;
    copy[MONITOR_NAME_BYTE] |= MONITOR_NAME_BIT;
    return copy;
}

static int locked_write(void *ctx, const char *buf, ssize_t *len, unsigned tmo) {
    int err = wait_unlocked(fd_of(ctx), POLLOUT, tmo);
    char copy[600];
    if (!err)
        err = ei_default_socket_callbacks.write(ctx, announcing(buf, *len, copy, sizeof copy),
                                                len, EI_SCLBK_INF_TMO);
    pthread_mutex_lock(&ei_lock);
    return err;
}

static int locked_writev(void *ctx, const void *iov, int n, ssize_t *len, unsigned tmo) {
    int err = wait_unlocked(fd_of(ctx), POLLOUT, tmo);
    if (!err)
        err = ei_default_socket_callbacks.writev(ctx, iov, n, len, EI_SCLBK_INF_TMO);
    pthread_mutex_lock(&ei_lock);
    return err;
}

/* ---- The handshake's first bytes ----------------------------------------- */

/* What this thread's current handshake has read, from its start. */
static _Thread_local struct {
    unsigned char bytes[600];   /* the first bytes read */
    size_t n;                   /* how many */
} seen;

static int seeing_read(void *ctx, char *buf, ssize_t *len, unsigned tmo) {
    int r = wait_unlocked(fd_of(ctx), POLLIN, tmo);     /* ei_lock: see above */
    if (!r)
        r = ei_default_socket_callbacks.read(ctx, buf, len, EI_SCLBK_INF_TMO);
    pthread_mutex_lock(&ei_lock);
    if (r == 0 && *len > 0) {
        size_t room = sizeof seen.bytes - seen.n, k = (size_t)*len < room ? (size_t)*len : room;
        memcpy(seen.bytes + seen.n, buf, k);
        seen.n += k;
    }
    return r;
}

static ei_socket_callbacks callbacks;

/* Packet i (0 first) of the handshake seen, as [2-byte length][body]:
 * its body and length, or NULL. */
static const unsigned char *packet(int i, size_t *len) {
    size_t at = 0;
    for (;; i--) {
        if (at + 2 > seen.n)
            return NULL;
        size_t n = (size_t)seen.bytes[at] << 8 | seen.bytes[at + 1];
        if (at + 2 + n > seen.n)
            return NULL;
        if (i == 0) {
            *len = n;
            return seen.bytes + at + 2;
        }
        at += 2 + n;
    }
}

/* The name in a name packet ('n': version, flags, name; 'N': flags,
 * creation, length, name), into buf. */
static bool name_in(const unsigned char *p, size_t n, char *buf, size_t size) {
    size_t at = p[0] == 'n' ? 7 : 15, len = n > at ? n - at : 0;
    if ((p[0] != 'n' && p[0] != 'N') || n < at || len >= size)
        return false;
    memcpy(buf, p + at, len);
    buf[len] = '\0';
    return true;
}

/* True when the challenge packet ('n' or 'N') announces DFLAG_ALIAS (bit
 * 35), which BEAM 24+ does and libei does not. (Not DFLAG_SPAWN: this node
 * announces that too, see below. An OTP 23 node, spawn without alias,
 * would be taken for a C node: untested, only OTP 25 is here.) */
static bool beam_flags(const unsigned char *p, size_t n) {
    if (p[0] != 'N' || n < 9)
        return false;
    uint32_t high = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
    return high & 8u;
}

/* ---- Connecting and accepting -------------------------------------------- */

int node_connect(term peer, bool *beam, char *why, size_t why_len) {
    seen.n = 0;
    pthread_mutex_lock(&ei_lock);
    int fd = ei_connect_tmo(&node.ec, (char *)peer.u.atom, (unsigned)node.connect_timeout_ms);
    pthread_mutex_unlock(&ei_lock);
    size_t n = 0;
    const unsigned char *status = packet(0, &n), *challenge = packet(1, &n);
    if (fd >= 0) {
        *beam = challenge && beam_flags(challenge, n);
        return fd;
    }
    if (fd == ERL_NO_PORT)
        snprintf(why, why_len, "cannot connect: epmd does not know %s", peer.u.atom);
    else if (challenge)
        snprintf(why, why_len, "%s refused the handshake (a wrong cookie?)", peer.u.atom);
    else if (status)
        snprintf(why, why_len, "%s refused the connection in its handshake", peer.u.atom);
    else
        snprintf(why, why_len, "cannot connect (%s)", strerror(erl_errno));
    return -1;
}

/* Logs why an accept failed, naming the peer when it said its name. */
static void accept_failed(void) {
    size_t n = 0, m = 0;
    const unsigned char *hello = packet(0, &n), *reply = packet(1, &m);
    char name[300];
    if (!hello || !name_in(hello, n, name, sizeof name))
        return;     /* a port scan, a timeout: nothing to say */
    if (reply && m == 21 && reply[0] == 'r')
        node_log("refused a connection from %s: wrong cookie", name);
    else
        node_log("refused a connection from %s: its handshake failed", name);
}

static void *acceptor_main(void *arg) {
    (void)arg;
    while (atomic_load(&node.running)) {
        struct pollfd p = {node.listen_fd, POLLIN, 0};
        if (poll(&p, 1, 200) <= 0)
            continue;   /* looks at running five times a second */
        ErlConnect peer;
        seen.n = 0;
        pthread_mutex_lock(&ei_lock);
        int fd = ei_accept_tmo(&node.ec, node.listen_fd, &peer, (unsigned)node.connect_timeout_ms);
        pthread_mutex_unlock(&ei_lock);
        if (!atomic_load(&node.running)) {
            if (fd >= 0)
                node_ei_close(fd);
            break;
        }
        if (fd < 0) {
            if (erl_errno != ETIMEDOUT)
                accept_failed();
            continue;
        }
        term name = atom_from(peer.nodename);
        if (is_none(name))
            node_ei_close(fd);
        else
            conn_accepted(name, fd);
    }
    node_thread_done();
    return NULL;
}

/* ---- The cookie ---------------------------------------------------------- */

/* Creates path with a fresh cookie of 20 capital letters, mode 0400, as erl
 * does. Returns 0 or -1. */
static int make_cookie_file(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0400);
    if (fd < 0)
        return -1;
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid() ^ (unsigned)(uintptr_t)&fd;
    int rnd = open("/dev/urandom", O_RDONLY);
    char c[20];
    unsigned char r[20];
    bool got = rnd >= 0 && read(rnd, r, sizeof r) == (ssize_t)sizeof r;
    for (int i = 0; i < 20; i++)
        c[i] = (char)('A' + (got ? r[i] : (unsigned char)rand_r(&seed)) % 26);
    if (rnd >= 0)
        close(rnd);
    bool ok = write(fd, c, sizeof c) == (ssize_t)sizeof c;
    close(fd);
    return ok ? 0 : -1;
}

/* Reads the cookie of ~/.erlang.cookie into buf (making the file first if
 * it is missing). Returns 0, or -1 with errno set and a line logged. */
static int read_cookie(char *buf, size_t size) {
    const char *home = getenv("HOME");
    char path[4096];
    snprintf(path, sizeof path, "%s/.erlang.cookie", home ? home : ".");
    if (access(path, F_OK) != 0 && make_cookie_file(path) < 0 && errno != EEXIST) {
        fprintf(stderr, "node_start: cannot create %s: %s\n", path, strerror(errno));
        errno = EACCES;
        return -1;
    }
    FILE *f = fopen(path, "r");
    if (!f || !fgets(buf, (int)size, f)) {
        fprintf(stderr, "node_start: cannot read the cookie from %s: %s\n", path,
                f ? "it is empty" : strerror(errno));
        if (f)
            fclose(f);
        errno = EACCES;
        return -1;
    }
    fclose(f);
    buf[strcspn(buf, "\r\n \t")] = '\0';
    return 0;
}

/* ---- epmd ---------------------------------------------------------------- */

static int epmd_port(void) {
    const char *s = getenv("ERL_EPMD_PORT");
    int p = s ? atoi(s) : 0;
    return p > 0 && p < 65536 ? p : 4369;
}

bool node_port_answers(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

int node_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* Starts `epmd -daemon` on the port when none answers, and waits (5 s at
 * most) for it to answer. Returns 0 or -1. */
static int ensure_epmd(void) {
    int port = epmd_port();
    if (node_port_answers(port))
        return 0;
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    char *argv[] = {"epmd", "-daemon", "-port", p, NULL};
    pid_t pid;
    if (posix_spawnp(&pid, "epmd", NULL, NULL, argv, environ) != 0) {
        fprintf(stderr, "node_start: no epmd answers on port %d and epmd cannot be run\n", port);
        return -1;
    }
    waitpid(pid, NULL, 0);  /* -daemon: the daemon goes on alone */
    for (int i = 0; i < 250; i++) {
        if (node_port_answers(port))
            return 0;
        nanosleep(&(struct timespec){0, 20000000}, NULL);
    }
    fprintf(stderr, "node_start: epmd started but does not answer on port %d\n", port);
    return -1;
}

/* ---- The hooks ----------------------------------------------------------- */

static size_t hook_nodes(term *v, size_t n) { return conn_names(v, n); }

static int hook_monitor_node(term pid, term peer, bool on) {
    if (term_eq(peer, node.name))
        return 0;
    struct conn *c = conn_get(peer, on);
    if (!c) {
        if (on)
            erl_send(pid, TUPLE(ATOM("nodedown"), peer));
        return 0;
    }
    pthread_mutex_lock(&c->lock);
    bool down = c->state == CONN_DOWN;
    if (!down && on)
        pid_counts_add(&c->node_monitors, pid);
    else if (!down)
        pid_counts_remove(&c->node_monitors, pid);
    pthread_mutex_unlock(&c->lock);
    if (down && on)
        erl_send(pid, TUPLE(ATOM("nodedown"), peer));
    conn_put(c);
    return 0;
}

static int hook_monitor_nodes(term pid, bool on) {
    pthread_mutex_lock(&node.lock);
    if (on)
        pid_counts_add(&node.watchers, pid);
    else
        pid_counts_remove(&node.watchers, pid);
    pthread_mutex_unlock(&node.lock);
    return 0;
}

static const struct erl_dist hooks = {
    .signal = control_signal,
    .nodes = hook_nodes,
    .monitor_node = hook_monitor_node,
    .monitor_nodes = hook_monitor_nodes,
    .global_whereis = global_whereis_name,
    .stop = node_stop,
};

/* ---- Starting and stopping ----------------------------------------------- */

/* Splits "alive@host" into its parts. False when it is not that shape. */
static bool split_name(const char *name, char *alive, char *host) {
    const char *at = name ? strchr(name, '@') : NULL;
    if (!at || at == name || !at[1] || strlen(name) >= MAXNODELEN ||
        strchr(at + 1, '@'))
        return false;
    for (const char *s = name; s < at; s++)
        if (!(*s == '_' || *s == '-' || (*s >= '0' && *s <= '9') ||
              ((*s | 32) >= 'a' && (*s | 32) <= 'z')))
            return false;
    memcpy(alive, name, (size_t)(at - name));
    alive[at - name] = '\0';
    strcpy(host, at + 1);
    return true;
}

/* A creation no earlier start of this node had: the clock in microseconds,
 * mixed with the process id; never 0 to 3 (libei's fixed ones). */
static unsigned fresh_creation(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t us = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
    unsigned c = (unsigned)(us ^ ((uint64_t)getpid() << 20));
    return c < 4 ? c + 4 : c;
}

/* ei_publish under ei_lock. */
static int publish_locked(int port) {
    pthread_mutex_lock(&ei_lock);
    int fd = ei_publish(&node.ec, port);
    pthread_mutex_unlock(&ei_lock);
    return fd;
}

/* libei's node, listening and published. Returns 0 or -1 (logged). */
static int publish(const char *name, const char *alive, const char *host, const char *cookie) {
    struct in_addr any = {htonl(INADDR_LOOPBACK)};
    callbacks = ei_default_socket_callbacks;
    callbacks.flags = EI_SCLBK_FLG_FULL_IMPL;     /* the timeouts are ours */
    callbacks.EI_ACCEPT_NAME = locked_accept;
    callbacks.connect = locked_connect;
    callbacks.write = locked_write;
    callbacks.writev = locked_writev;
    callbacks.read = seeing_read;
    pthread_mutex_lock(&ei_lock);
    int init = ei_connect_xinit_ussi(&node.ec, host, alive, name, &any, cookie,
                                     fresh_creation(), &callbacks, sizeof callbacks, NULL);
    pthread_mutex_unlock(&ei_lock);
    if (init < 0) {
        fprintf(stderr, "node_start: libei refused the name %s\n", name);
        errno = EINVAL;
        return -1;
    }
    int port = 0;
    pthread_mutex_lock(&ei_lock);
    node.listen_fd = ei_listen(&node.ec, &port, 16);
    pthread_mutex_unlock(&ei_lock);
    if (node.listen_fd < 0) {
        fprintf(stderr, "node_start: cannot listen: %s\n", strerror(erl_errno));
        return -1;
    }
    /* epmd forgets a name when its registration's socket closes, which it
     * sees a moment later: a node restarted at once may find its old name
     * still there, so it asks again for up to a second. */
    node.epmd_fd = publish_locked(port);
    for (int i = 0; i < 50 && node.epmd_fd < 0; i++) {
        nanosleep(&(struct timespec){0, 20000000}, NULL);
        node.epmd_fd = publish_locked(port);
    }
    if (node.epmd_fd < 0) {
        fprintf(stderr, "node_start: epmd refused %s (is a node of that name running?)\n", name);
        node_ei_close(node.listen_fd);
        node.listen_fd = -1;
        errno = EADDRINUSE;
        return -1;
    }
    return 0;
}

int node_start(const struct node_options *o) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    char alive[MAXNODELEN], host[MAXNODELEN], cookie[EI_MAX_COOKIE_SIZE + 1];
    if (atomic_load(&node.running) || node.listen_fd >= 0) {
        errno = EALREADY;
        return -1;
    }
    if (!o || !split_name(o->name, alive, host) || (o->cookie && !o->cookie[0]) ||
        (o->cookie && strlen(o->cookie) > EI_MAX_COOKIE_SIZE)) {
        fprintf(stderr, "node_start: give a name alive@host (a@localhost, a@127.0.0.1)"
                        " and a non-empty cookie, or none\n");
        errno = EINVAL;
        return -1;
    }
    signal(SIGPIPE, SIG_IGN);   /* a peer that goes mid-write must not end us */
    pthread_once(&once, (void (*)(void))ei_init);
    if (o->cookie)
        snprintf(cookie, sizeof cookie, "%s", o->cookie);
    else if (read_cookie(cookie, sizeof cookie) < 0)
        return -1;
    if (ensure_epmd() < 0) {
        errno = EHOSTUNREACH;
        return -1;
    }
    node.tick_ms = o->tick_ms > 0 ? o->tick_ms : 60000;
    node.connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 5000;
    node.max_frame = o->max_frame ? o->max_frame : (size_t)64 << 20;
    node.max_queue = o->max_queue ? o->max_queue : (size_t)64 << 20;
    if (publish(o->name, alive, host, cookie) < 0)
        return -1;
    node.name = atom_from(o->name);
    node_set_self(node.name, node.ec.creation);
    atomic_store(&node.running, true);
    erl_dist_install(&hooks);
    if (node_thread(acceptor_main, NULL) < 0 || kernel_start() < 0 || global_start() < 0) {
        node_stop();
        return -1;
    }
    return 0;
}

void node_stop(void) {
    if (!atomic_exchange(&node.running, false)) {
        if (node.listen_fd < 0)
            return;
    }
    global_stop();
    kernel_stop();
    conn_down_all();
    pthread_mutex_lock(&node.lock);
    while (atomic_load(&node.threads) > 0)
        pthread_cond_wait(&node.threads_gone, &node.lock);
    while (node.watchers) {
        struct pid_counts *p = node.watchers;
        node.watchers = p->next;
        free(p);
    }
    pthread_mutex_unlock(&node.lock);
    conn_down_all();    /* one a thread made while the others ended */
    close(node.epmd_fd);    /* epmd forgets the name (libei keeps no record of it) */
    if (node_ei_close(node.listen_fd) < 0)
        close(node.listen_fd);
    node.epmd_fd = node.listen_fd = -1;
    erl_dist_install(NULL);
    node_set_self(NONE, 0);
}
