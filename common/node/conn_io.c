/*
 * conn_io.c - a connection's threads: the writer (which connects first when
 * the connection is ours to make), a reader per socket, and what an
 * accepted socket becomes. The rules they follow are at the top of conn.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "node_impl.h"

/* Speed-up: a reader whose socket gave bytes less than READ_SPIN_NS ago
 * tries it again after sched_yield instead of sleeping in poll: a reply
 * that comes soon then finds it awake (a poll's sleep and wakeup cost
 * 20-40 us on a virtual machine). Measured with the schedulers' busy-wait
 * (sched.c, BUSY_WAIT_NS, which gives the figures): bench_dist median
 * 45-80 us with a spin of 0, 26-35 us with 200 us. */
#define READ_SPIN_NS (int64_t)200000
/* A tick: a frame of length 0. */
static const char tick_bytes[4];

int conn_write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Makes fd blocking again (libei's timed calls leave it non-blocking), and
 * sends small frames at once (no Nagle: a call and its reply are small). */
static void set_blocking(int fd) {
    int fl = fcntl(fd, F_GETFL), one = 1;
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* ---- The writer ---------------------------------------------------------- */

/* Makes the connection for c (CONN_CONNECTING, no socket yet). */
static void connect_for(struct conn *c) {
    char why[200];
    bool beam = false;
    int fd = node_connect(c->peer, &beam, why, sizeof why);
    if (fd < 0) {
        conn_down(c, why);
        return;
    }
    set_blocking(fd);
    pthread_mutex_lock(&c->lock);
    if (c->state != CONN_CONNECTING || start_reader(c, fd) < 0) {
        /* adopted the peer's own connection meanwhile, or down */
        pthread_mutex_unlock(&c->lock);
        node_ei_close(fd);
        return;
    }
    c->fd = fd;
    c->state = beam ? CONN_UP : CONN_CONFIRMING;
    c->deadline_ns = node_now_ns() + (int64_t)node.connect_timeout_ms * 1000000;
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
    if (beam)
        conn_tell_up(c->peer);
}

/* Waits until c has frames to write while up and nobody else writes, a
 * tick is due, or it is down. Returns false when it is down. c->lock held;
 * may let it go while waiting and to take c down on a deadline. */
static bool writer_wait(struct conn *c) {
    for (;;) {
        if (c->state == CONN_DOWN)
            return false;
        int64_t now = node_now_ns(), due;
        if (c->state == CONN_UP && c->writing) {
            /* a sender writes: it signals after if it leaves frames; a
             * tick may be due meanwhile, so look again a quarter on */
            due = now + (int64_t)node.tick_ms * 250000;
        } else if (c->state == CONN_UP) {
            if (c->head)
                return true;
            due = atomic_load(&c->last_write_ns) + (int64_t)node.tick_ms * 250000;
            if (now >= due)
                return true;    /* a quarter of the tick quiet: a tick */
        } else if (c->state == CONN_CONNECTING) {
            due = now + 1000000000;     /* the writer itself connects: not here */
        } else {
            due = c->deadline_ns;
            if (now >= due) {
                const char *why = c->state == CONN_CONFIRMING
                    ? "connected, but the peer never confirmed the connection"
                    : "the peer dropped our connection and did not make its own";
                pthread_mutex_unlock(&c->lock);
                conn_down(c, why);
                pthread_mutex_lock(&c->lock);
                continue;
            }
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t at = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + (due - now);
        ts.tv_sec = at / 1000000000;
        ts.tv_nsec = at % 1000000000;
        pthread_cond_timedwait(&c->changed, &c->lock, &ts);
    }
}

/* Writes the frames f (NULL: a tick) to fd under the write lock, and frees
 * them. Returns 0, or -1 with errno set. */
static int write_frames(struct conn *c, int fd, struct frame *f) {
    pthread_mutex_lock(&c->wlock);
    int r = f ? 0 : conn_write_all(fd, tick_bytes, sizeof tick_bytes);
    for (; f; ) {
        struct frame *next = f->next;
        if (r == 0)
            r = conn_write_all(fd, f->data + f->off, f->len - f->off);
        free(f);
        f = next;
    }
    pthread_mutex_unlock(&c->wlock);
    return r;
}

void *writer_main(void *arg) {
    struct conn *c = arg;
    pthread_mutex_lock(&c->lock);
    bool connect = c->state == CONN_CONNECTING;
    pthread_mutex_unlock(&c->lock);
    if (connect)
        connect_for(c);
    pthread_mutex_lock(&c->lock);
    while (writer_wait(c)) {
        struct frame *f = c->head;
        c->head = NULL;
        c->tail = &c->head;
        c->queued = 0;      /* the bound counts what waits behind these */
        c->writing = true;
        int fd = c->fd;
        pthread_mutex_unlock(&c->lock);
        int r = write_frames(c, fd, f);
        atomic_store(&c->last_write_ns, node_now_ns());
        if (r < 0) {
            char why[120];
            snprintf(why, sizeof why, "writing: %s", strerror(errno));
            conn_down(c, why);
        }
        pthread_mutex_lock(&c->lock);
        c->writing = false;
    }
    pthread_mutex_unlock(&c->lock);
    conn_put(c);
    node_thread_done();
    return NULL;
}

/* ---- The reader ---------------------------------------------------------- */

/* Speed-up: a reader takes what the socket holds in one recv, into a
 * buffer of its own, and cuts the frames out of it there; it polls only
 * when no whole frame is left. A remote gen_server call is three frames
 * from the caller (the last call's DEMONITOR_P, MONITOR_P, REG_SEND):
 * read with a poll and a recv for each length and each body, that was 12
 * system calls, and often three wakeups of the server's scheduler, where
 * now it is one or two recvs and the three signals reach the server
 * together. bench_dist (20 000 calls, load 4 on 2 cores, runs alternating
 * with the old reader): 34-37 us median against 42-48 us; the p99 (about
 * 100 us either way) is the machine's. */
#define READ_BUF 65536

struct reader {
    struct conn *c;     /* the connection (a reference) */
    int fd;             /* the socket this reader reads */
    char *buf;          /* what was read and not yet taken: [start, end) */
    size_t cap;         /* bytes at buf (READ_BUF, or a larger frame's) */
    size_t start, end;  /* the unread bytes' bounds in buf */
};

/* True when fd is c's socket now (not one replaced by adoption). */
static bool current(struct conn *c, int fd) {
    pthread_mutex_lock(&c->lock);
    bool cur = c->fd == fd && c->state != CONN_DOWN;
    pthread_mutex_unlock(&c->lock);
    return cur;
}

/* Makes at least n unread bytes be in r's buffer, reading as much as the
 * socket holds, waiting at most until tick_ms after the last bytes came.
 * Returns 0; 1 at end of stream or error (errno set, 0 for the end); 2
 * when the peer was silent for tick_ms; 3 when out of memory for n. */
static int fill(struct reader *r, size_t n) {
    if (r->end - r->start >= n)
        return 0;
    if (r->start == r->end) {
        r->start = r->end = 0;
        if (r->cap > READ_BUF) {    /* a large frame's room, taken already */
            char *b = realloc(r->buf, READ_BUF);
            if (b) {
                r->buf = b;
                r->cap = READ_BUF;
            }
        }
    }
    if (r->start + n > r->cap) {    /* room for n from the front */
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
        if (n > r->cap) {
            char *b = realloc(r->buf, n);
            if (!b)
                return 3;
            r->buf = b;
            r->cap = n;
        }
    }
    bool wait = false;      /* try the socket first: it often holds bytes */
    while (r->end - r->start < n) {
        if (wait && node_now_ns() - atomic_load(&r->c->last_read_ns) < READ_SPIN_NS) {
            sched_yield();
            wait = false;
        }
        if (wait) {
            int64_t quiet = node_now_ns() - atomic_load(&r->c->last_read_ns);
            int64_t left_ms = node.tick_ms - quiet / 1000000;
            if (left_ms <= 0)
                return 2;
            struct pollfd p = {r->fd, POLLIN, 0};
            int k = poll(&p, 1, (int)left_ms);
            if (k < 0 && errno != EINTR)
                return 1;
            if (k <= 0)
                continue;
        }
        ssize_t got = recv(r->fd, r->buf + r->end, r->cap - r->end, MSG_DONTWAIT);
        if (got < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
            wait = errno != EINTR;
            continue;
        }
        if (got <= 0) {
            if (got == 0)
                errno = 0;
            return 1;
        }
        atomic_store(&r->c->last_read_ns, node_now_ns());
        r->end += (size_t)got;
        wait = false;
    }
    return 0;
}

/* The peer's first bytes on a connection we made confirm it. */
static void confirmed(struct conn *c, int fd) {
    pthread_mutex_lock(&c->lock);
    bool now_up = c->fd == fd && c->state == CONN_CONFIRMING;
    if (now_up) {
        c->state = CONN_UP;
        pthread_cond_broadcast(&c->changed);
    }
    pthread_mutex_unlock(&c->lock);
    if (now_up)
        conn_tell_up(c->peer);
}

/* The stream ended (how: fill's 1 or 2). Takes c down, unless fd is
 * no longer its socket, or the peer dropped our connection in favour of
 * its own (CONN_CONFIRMING): then it waits for that one. */
static void ended(struct reader *r, int how) {
    struct conn *c = r->c;
    pthread_mutex_lock(&c->lock);
    bool cur = c->fd == r->fd && c->state != CONN_DOWN;
    if (cur && how == 1 && c->state == CONN_CONFIRMING) {
        c->state = CONN_AWAITING;
        c->deadline_ns = node_now_ns() + (int64_t)node.connect_timeout_ms * 1000000;
        pthread_cond_broadcast(&c->changed);
        pthread_mutex_unlock(&c->lock);
        return;
    }
    pthread_mutex_unlock(&c->lock);
    if (!cur)
        return;
    char why[120];
    if (how == 2)
        snprintf(why, sizeof why, "no message or tick for %d ms", node.tick_ms);
    else if (errno)
        snprintf(why, sizeof why, "reading: %s", strerror(errno));
    else
        snprintf(why, sizeof why, "the peer closed the connection");
    conn_down(c, why);
}

/* Reads one frame: 0 and *buf, *len (a tick: len 0), *buf pointing into
 * r's buffer until the next call; else fill's 1 or 2, or 3 after taking c
 * down for a frame too large or no memory for it. */
static int read_frame(struct reader *r, char **buf, size_t *len) {
    int k = fill(r, 4);
    if (k)
        return k;
    const unsigned char *head = (const unsigned char *)r->buf + r->start;
    *len = (size_t)head[0] << 24 | (size_t)head[1] << 16 | (size_t)head[2] << 8 | head[3];
    *buf = NULL;
    if (*len > node.max_frame) {
        char why[160];
        snprintf(why, sizeof why, "a frame of %zu bytes (the most taken is %zu)", *len,
                 node.max_frame);
        conn_down(r->c, why);
        return 3;
    }
    k = fill(r, 4 + *len);
    if (k == 3) {
        conn_down(r->c, "out of memory for a frame");
        return 3;
    }
    if (k)
        return k;
    *buf = r->buf + r->start + 4;
    r->start += 4 + *len;
    return 0;
}

static void *reader_main(void *arg) {
    struct reader *r = arg;
    for (;;) {
        char *buf;
        size_t len;
        int k = read_frame(r, &buf, &len);
        if (k) {
            if (k != 3)
                ended(r, k);
            break;
        }
        confirmed(r->c, r->fd);
        if (len == 0)
            continue;   /* a tick: what it says is that the peer lives */
        char why[256];
        int ok = current(r->c, r->fd) ? control_take(r->c, buf, len, why, sizeof why) : 0;
        if (ok < 0) {
            conn_down(r->c, why);
            break;
        }
    }
    if (!current(r->c, r->fd)) {
        pthread_mutex_lock(&r->c->lock);
        bool replaced = r->c->fd != r->fd;
        pthread_mutex_unlock(&r->c->lock);
        if (replaced)
            node_ei_close(r->fd);     /* a socket adoption replaced */
    }
    conn_put(r->c);
    free(r->buf);
    free(r);
    node_thread_done();
    return NULL;
}

int start_reader(struct conn *c, int fd) {
    struct reader *r = malloc(sizeof *r);
    if (!r)
        return -1;
    *r = (struct reader){.c = c, .fd = fd, .buf = malloc(READ_BUF), .cap = READ_BUF};
    if (!r->buf) {
        free(r);
        return -1;
    }
    atomic_fetch_add(&c->refs, 1);  /* the caller holds one: c cannot go */
    if (node_thread(reader_main, r) == 0)
        return 0;
    free(r->buf);
    free(r);
    atomic_fetch_sub(&c->refs, 1);
    return -1;
}

/* ---- An accepted socket -------------------------------------------------- */

/* Makes fd c's socket, up, and confirms it to the peer. c->lock held. */
static bool adopt(struct conn *c, int fd) {
    if (start_reader(c, fd) < 0)
        return false;
    int old = c->fd;
    c->fd = fd;
    c->state = CONN_UP;
    atomic_store(&c->last_read_ns, node_now_ns());
    if (old >= 0)
        shutdown(old, SHUT_RDWR);   /* its reader closes it */
    pthread_mutex_lock(&c->wlock);
    conn_write_all(fd, tick_bytes, sizeof tick_bytes);   /* "kept": see conn.c */
    pthread_mutex_unlock(&c->wlock);
    pthread_cond_broadcast(&c->changed);
    return true;
}

/* A connection in the table met the peer's connection: keep which? */
static bool take_theirs(struct conn *c) {
    switch (c->state) {
    case CONN_CONNECTING:
    case CONN_CONFIRMING:   /* both connected: the smaller name's wins */
        return strcmp(node.name.u.atom, c->peer.u.atom) > 0;
    case CONN_AWAITING: return true;
    default: return false;  /* up already: a duplicate */
    }
}

void conn_accepted(term peer, int fd) {
    set_blocking(fd);
    struct conn *c = conn_get(peer, false);
    if (!c) {
        pthread_mutex_lock(&node.lock);
        c = atomic_load(&node.running) && !conn_find_locked(peer)
            ? conn_new_locked(peer) : NULL;
        pthread_mutex_unlock(&node.lock);
        if (!c) {   /* stopping, or one was made meanwhile: theirs loses */
            node_ei_close(fd);
            return;
        }
        pthread_mutex_lock(&c->lock);
        bool ok = adopt(c, fd);
        pthread_mutex_unlock(&c->lock);
        if (!ok)
            node_ei_close(fd);
        if (!ok || node_thread(writer_main, c) < 0) {
            conn_down(c, "cannot start its threads");
            conn_put(c);    /* the writer's reference: it never ran */
        } else {
            conn_tell_up(peer);
        }
        return;
    }
    pthread_mutex_lock(&c->lock);
    bool kept = take_theirs(c) && adopt(c, fd);
    pthread_mutex_unlock(&c->lock);
    if (kept)
        conn_tell_up(peer);
    else
        node_ei_close(fd);
    conn_put(c);
}
