/*
 * control.c - the distribution protocol's control messages.
 *
 * Out: a signal the runtime hands the hooks becomes a frame,
 *   [Length:32] 'p' [131 Control] [131 Payload]
 * the pass-through form every node takes (libei never turns the atom cache
 * on), queued on the peer's connection. In: a frame becomes a signal
 * delivered to a local process. Control messages, as OTP's dist.c:
 *   {1, From, To} LINK                {4, From, To} UNLINK
 *   {2, '', To} + Msg SEND            {22, From, To} + Msg SEND_SENDER
 *   {6, From, '', Name} + Msg REG_SEND
 *   {3, From, To, Reason} EXIT        {8, From, To, Reason} EXIT2
 *   {19, From, ToProc, Ref} MONITOR_P {20, From, ToProc, Ref} DEMONITOR_P
 *   {21, FromProc, To, Ref, Reason} MONITOR_P_EXIT
 *   {29, ReqId, From, GroupLeader, {M, F, Arity}, Opts} + Args SPAWN_REQUEST
 *       (spawn.c; answered by {31, ReqId, From, Flags, Result} SPAWN_REPLY)
 * and their _TT forms with a trace token (read, the token ignored). libei
 * parses none of the monitor ones: they are read and written here.
 *
 * The links and monitors that cross a connection are recorded on it, under
 * its lock and only while it is not down, in the same critical section
 * that queues the frame or, for one that comes in, before it is delivered:
 * see conn.c for why each then gets exactly one noconnection.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "erl.h"
#include "node_impl.h"

enum {
    OP_LINK = 1, OP_SEND = 2, OP_EXIT = 3, OP_UNLINK = 4, OP_REG_SEND = 6,
    OP_GROUP_LEADER = 7, OP_EXIT2 = 8, OP_SEND_TT = 12, OP_EXIT_TT = 13,
    OP_REG_SEND_TT = 16, OP_EXIT2_TT = 18, OP_MONITOR_P = 19, OP_DEMONITOR_P = 20,
    OP_MONITOR_P_EXIT = 21, OP_SEND_SENDER = 22, OP_SEND_SENDER_TT = 23,
    OP_SPAWN_REQUEST = 29, OP_SPAWN_REQUEST_TT = 30,
};

/* ---- Out ----------------------------------------------------------------- */

struct frame *control_frame(term control, term payload) {
    ei_x_buff x;
    if (ei_x_new(&x) < 0) {
        errno = ENOMEM;
        return NULL;
    }
    ei_x_append_buf(&x, "\0\0\0\0p", 5);
    int r = etf_encode_versioned(&x, control);
    if (r == 0 && !is_none(payload))
        r = etf_encode_versioned(&x, payload);
    struct frame *f = r == 0 ? malloc(sizeof *f + (size_t)x.index) : NULL;
    if (f) {
        f->len = (size_t)x.index;
        f->off = 0;
        memcpy(f->data, x.buff, f->len);
        uint32_t n = (uint32_t)(f->len - 4);
        f->data[0] = (char)(n >> 24);
        f->data[1] = (char)(n >> 16);
        f->data[2] = (char)(n >> 8);
        f->data[3] = (char)n;
    } else if (r == 0) {
        errno = ENOMEM;
    }
    ei_x_free(&x);
    return f;
}

/* The control message for a signal, and its payload (or NONE). */
static term control_for(enum dist_kind kind, term from, term dest, term ref, term body,
                        bool linked, term *payload, term *v) {
    term to = is_tuple(dest) ? element(1, dest) : dest;     /* a pid, or a name */
    *payload = NONE;
    switch (kind) {
    case DIST_MESSAGE:
        *payload = body;
        if (is_pid(dest)) {
            v[0] = INT(OP_SEND), v[1] = ATOM(""), v[2] = dest;
            return term_tuple(v, 3);
        }
        v[0] = INT(OP_REG_SEND), v[1] = from, v[2] = ATOM(""), v[3] = to;
        return term_tuple(v, 4);
    case DIST_EXIT:
        v[0] = INT(linked ? OP_EXIT : OP_EXIT2), v[1] = from, v[2] = dest, v[3] = body;
        return term_tuple(v, 4);
    case DIST_LINK: case DIST_UNLINK:
        v[0] = INT(kind == DIST_LINK ? OP_LINK : OP_UNLINK), v[1] = from, v[2] = dest;
        return term_tuple(v, 3);
    case DIST_MONITOR: case DIST_DEMONITOR:
        v[0] = INT(kind == DIST_MONITOR ? OP_MONITOR_P : OP_DEMONITOR_P);
        v[1] = from, v[2] = to, v[3] = ref;
        return term_tuple(v, 4);
    case DIST_DOWN:
        v[0] = INT(OP_MONITOR_P_EXIT), v[1] = from, v[2] = dest, v[3] = ref, v[4] = body;
        return term_tuple(v, 5);
    }
    return NONE;
}

/* Records what a signal out of here means for c's bookkeeping. c->lock
 * held. A link or monitor that cannot be recorded (out of memory) is
 * still sent, but gets no noconnection. */
static void record_out(struct conn *c, enum dist_kind kind, term from, term dest, term ref,
                       bool linked) {
    term to = is_tuple(dest) ? element(1, dest) : dest;
    switch (kind) {
    case DIST_LINK: crossings_add(&c->links, from, dest, NONE); break;
    case DIST_UNLINK: crossings_remove(&c->links, from, dest, NONE); break;
    case DIST_EXIT:
        if (linked)
            crossings_remove(&c->links, from, dest, NONE);
        break;
    case DIST_MONITOR: crossings_add(&c->monitors, from, to, ref); break;
    case DIST_DEMONITOR: crossings_remove(&c->monitors, from, to, ref); break;
    default: break;
    }
}

/* The node a signal's destination is on. */
static term dest_node(term dest) {
    return is_pid(dest) ? node_name(dest.node) : element(2, dest);
}

/* Speed-up: the connections a process on this scheduler thread queued
 * frames on in its current run, each with a reference, written when the
 * run ends (flush_deferred, through erl_dist_defer) rather than one write
 * per signal. A remote gen_server call sends three frames in one run (the
 * last call's DEMONITOR_P, then MONITOR_P and REG_SEND); they now leave
 * in one write and reach the server's reader together. bench_dist (20 000
 * calls, load 5-15 on 2 cores, runs alternating with the build before):
 * 21-26 us median, 63-87 us p99, against 27-49 us and 93-118 us. */
#define DEFERRED_MAX 4
static _Thread_local struct conn *deferred[DEFERRED_MAX];
static _Thread_local int ndeferred;

/* Runs on a scheduler thread when a process's run ends: writes (or hands
 * to their writers) the frames it held back, and drops the references. */
static void flush_deferred(void) {
    int n = ndeferred;
    ndeferred = 0;
    for (int i = 0; i < n; i++) {
        struct conn *c = deferred[i];
        pthread_mutex_lock(&c->lock);
        conn_flush_unlock(c);
        conn_put(c);
    }
}

/* True when c's frames may wait for the end of the calling process's run,
 * which then writes them; takes over the caller's reference to c (dropping
 * it when c is held back already). False: write now. c->lock held. */
static bool defer(struct conn *c) {
    if (c->state != CONN_UP || c->overflowed)
        return false;
    for (int i = 0; i < ndeferred; i++) {
        if (deferred[i] == c) {
            atomic_fetch_sub(&c->refs, 1);  /* deferred[i] holds one */
            return true;
        }
    }
    if (ndeferred == DEFERRED_MAX || !erl_dist_defer(flush_deferred))
        return false;
    deferred[ndeferred++] = c;
    return true;
}

/* ---- Monitors of names here --------------------------------------------- */

/* Records on c that remote process from monitors name here with ref (a
 * ref of from's node: its words are copied, the frame's go). False when c
 * is down or memory is out. */
static bool named_add(struct conn *c, term name, term from, term ref) {
    uint32_t *words = malloc(ref.size * sizeof *words);
    if (!words)
        return false;
    memcpy(words, ref.u.words, ref.size * sizeof *words);
    term kept = ref;
    kept.u.words = words;
    pthread_mutex_lock(&c->lock);
    bool ok = c->state != CONN_DOWN && crossings_add(&c->named, name, from, kept);
    pthread_mutex_unlock(&c->lock);
    if (!ok)
        free(words);
    return ok;
}

/* The name the monitor ref of c's peer was taken by, forgotten now; NONE
 * when it was taken by pid. */
static term named_take(struct conn *c, term ref) {
    term name = NONE;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->named.n; i++) {
        struct crossing *x = &c->named.v[i];
        if (term_eq(x->ref, ref)) {
            name = x->local;
            free((void *)x->ref.u.words);
            *x = c->named.v[--c->named.n];
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return name;
}

/* What a 'DOWN' for peer's monitor ref comes from: the name it was taken
 * by, or from (the pid) when it was taken by pid. BEAM drops a 'DOWN' of a
 * monitor by name that gives the pid. */
static term monitored_as(term peer, term ref, term from) {
    struct conn *c = conn_get(peer, false);
    if (!c)
        return from;
    term name = named_take(c, ref);
    conn_put(c);
    return is_none(name) ? from : name;
}

int control_signal(enum dist_kind kind, term from, term dest, term ref, term body,
                   bool linked) {
    term peer = dest_node(dest);
    if (!atomic_load(&node.running) || !is_atom(peer) || term_eq(peer, node.name)) {
        errno = ENOTCONN;   /* stopped, or an earlier incarnation of this node */
        return kind == DIST_MESSAGE ? 0 : -1;
    }
    if (kind == DIST_DOWN)
        from = monitored_as(peer, ref, from);
    term v[5], payload;
    term control = control_for(kind, from, dest, ref, body, linked, &payload, v);
    struct frame *f = control_frame(control, payload);
    if (!f) {
        char what[120];
        term_format(what, sizeof what, dest);
        node_log("a signal for %s was dropped: it holds a term with no external form", what);
        return kind == DIST_MESSAGE ? 0 : -1;
    }
    struct conn *c = conn_get(peer, true);
    if (!c) {
        free(f);
        return kind == DIST_MESSAGE ? 0 : -1;
    }
    pthread_mutex_lock(&c->lock);
    int r = conn_queue_locked(c, f);
    if (r == 0)
        record_out(c, kind, from, dest, ref, linked);
    if (r == 0 && defer(c)) {
        pthread_mutex_unlock(&c->lock);
        return 0;
    }
    conn_flush_unlock(c);
    conn_put(c);
    return kind == DIST_MESSAGE ? 0 : r;
}

void control_answer(struct conn *c, term control) {
    struct frame *f = control_frame(control, NONE);
    if (!f)
        return;
    pthread_mutex_lock(&c->lock);
    conn_queue_locked(c, f);
    conn_flush_unlock(c);
}

/* ---- In ------------------------------------------------------------------ */

/* True when t is a pid of another node (the peer's), or of this one. */
static bool remote_pid(term t) { return is_pid(t) && t.node != 0; }
static bool local_pid(term t) { return is_pid(t) && t.node == 0; }

/* A message for a local process (to: a pid or a registered name). */
static void take_message(term from, term to, term msg) {
    if (local_pid(to) || is_atom(to))
        erl_dist_deliver(DIST_MESSAGE, from, to, NONE, msg, false);
    /* a pid of an earlier incarnation of this node: dropped, as BEAM does */
}

/* LINK: recorded, then delivered; a process not here answers noproc. */
static void take_link(struct conn *c, term from, term to) {
    pthread_mutex_lock(&c->lock);
    bool up = c->state != CONN_DOWN && crossings_add(&c->links, to, from, NONE);
    pthread_mutex_unlock(&c->lock);
    if (!up)
        return;
    if (local_pid(to) && erl_dist_deliver(DIST_LINK, from, to, NONE, NONE, false))
        return;
    pthread_mutex_lock(&c->lock);
    crossings_remove(&c->links, to, from, NONE);
    pthread_mutex_unlock(&c->lock);
    term v[] = {INT(OP_EXIT), to, from, ATOM("noproc")};
    control_answer(c, term_tuple(v, 4));
}

/* EXIT, EXIT2, UNLINK: the link (if any) is forgotten, the signal goes. */
static void take_unlinking(struct conn *c, enum dist_kind kind, term from, term to,
                           term reason, bool linked) {
    if (kind == DIST_UNLINK || linked) {
        pthread_mutex_lock(&c->lock);
        crossings_remove(&c->links, to, from, NONE);
        pthread_mutex_unlock(&c->lock);
    }
    if (local_pid(to))
        erl_dist_deliver(kind, from, to, NONE, reason, linked);
}

/* MONITOR_P: to is a pid or a name here (recorded on c, for the 'DOWN');
 * nobody there: 'DOWN' noproc. */
static void take_monitor(struct conn *c, term from, term to, term ref) {
    bool named = is_atom(to) && named_add(c, to, from, ref);
    if ((local_pid(to) || is_atom(to)) &&
        erl_dist_deliver(DIST_MONITOR, from, to, ref, NONE, false))
        return;
    if (named)
        named_take(c, ref);
    term v[] = {INT(OP_MONITOR_P_EXIT), to, from, ref, ATOM("noproc")};
    control_answer(c, term_tuple(v, 5));
}

static void take_demonitor(struct conn *c, term from, term to, term ref) {
    if (is_atom(to))
        named_take(c, ref);
    term pid = is_atom(to) ? erl_whereis(to) : to;
    if (local_pid(pid))
        erl_dist_deliver(DIST_DEMONITOR, from, pid, ref, NONE, false);
}

/* MONITOR_P_EXIT: the monitor is forgotten, its 'DOWN' goes. */
static void take_down(struct conn *c, term from, term to, term ref, term reason) {
    pthread_mutex_lock(&c->lock);
    crossings_remove(&c->monitors, to, NONE, ref);
    pthread_mutex_unlock(&c->lock);
    if (local_pid(to))
        erl_dist_deliver(DIST_DOWN, is_pid(from) ? from : NONE, to, ref, reason, false);
}

/* True for the operations that carry a payload (the message). */
static bool has_payload(int64_t op) {
    return op == OP_SEND || op == OP_REG_SEND || op == OP_SEND_TT || op == OP_REG_SEND_TT ||
           op == OP_SEND_SENDER || op == OP_SEND_SENDER_TT || op == OP_SPAWN_REQUEST ||
           op == OP_SPAWN_REQUEST_TT;
}

/* Acts on control message ctl (payload msg). Returns 0, or -1 with why
 * naming a control message of the wrong shape. */
static int dispatch(struct conn *c, term ctl, term msg, char *why, size_t why_len) {
    int64_t op = element(1, ctl).u.integer;
    term a = element(2, ctl), b = element(3, ctl), d = element(4, ctl), e = element(5, ctl);
    size_t n = ctl.size;
    bool ok = true;
    switch (op) {
    case OP_SEND: case OP_SEND_TT:
        if ((ok = n == (op == OP_SEND ? 3u : 4u) && is_pid(b)))
            take_message(NONE, b, msg);
        break;
    case OP_SEND_SENDER: case OP_SEND_SENDER_TT:
        if ((ok = n == (op == OP_SEND_SENDER ? 3u : 4u) && remote_pid(a) && is_pid(b)))
            take_message(a, b, msg);
        break;
    case OP_REG_SEND: case OP_REG_SEND_TT:
        if ((ok = n == (op == OP_REG_SEND ? 4u : 5u) && is_pid(a) && is_atom(d)))
            take_message(a, d, msg);
        break;
    case OP_LINK:
        if ((ok = n == 3 && remote_pid(a) && is_pid(b)))
            take_link(c, a, b);
        break;
    case OP_UNLINK:
        if ((ok = n == 3 && remote_pid(a) && is_pid(b)))
            take_unlinking(c, DIST_UNLINK, a, b, NONE, false);
        break;
    case OP_EXIT: case OP_EXIT2:
        if ((ok = n == 4 && remote_pid(a) && is_pid(b)))
            take_unlinking(c, DIST_EXIT, a, b, d, op == OP_EXIT);
        break;
    case OP_EXIT_TT: case OP_EXIT2_TT:      /* {Op, From, To, Token, Reason} */
        if ((ok = n == 5 && remote_pid(a) && is_pid(b)))
            take_unlinking(c, DIST_EXIT, a, b, e, op == OP_EXIT_TT);
        break;
    case OP_MONITOR_P:
        if ((ok = n == 4 && remote_pid(a) && (is_pid(b) || is_atom(b)) && is_ref(d)))
            take_monitor(c, a, b, d);
        break;
    case OP_DEMONITOR_P:
        if ((ok = n == 4 && remote_pid(a) && (is_pid(b) || is_atom(b)) && is_ref(d)))
            take_demonitor(c, a, b, d);
        break;
    case OP_MONITOR_P_EXIT:
        if ((ok = n == 5 && (is_pid(a) || is_atom(a)) && is_pid(b) && is_ref(d)))
            take_down(c, a, b, d, e);
        break;
    case OP_SPAWN_REQUEST: case OP_SPAWN_REQUEST_TT:
        /* {29, ReqId, From, GroupLeader, {M, F, Arity}, Opts[, Token]} */
        if ((ok = n == (op == OP_SPAWN_REQUEST ? 6u : 7u) && is_ref(a) && remote_pid(b) &&
                  is_tuple(e) && is_list(element(6, ctl))))
            return spawn_take(c, a, b, e, element(6, ctl), msg, why, why_len);
        break;
    default:
        break;  /* GROUP_LEADER, and what this node does not announce: ignored */
    }
    if (!ok)
        snprintf(why, why_len, "a control message %lld of the wrong shape", (long long)op);
    return ok ? 0 : -1;
}

int control_take(struct conn *c, const char *buf, size_t len, char *why, size_t why_len) {
    if ((unsigned char)buf[0] != 'p') {
        snprintf(why, why_len, "a frame of type %u (only pass-through frames, 'p', are known)",
                 (unsigned char)buf[0]);
        return -1;
    }
    struct etf_arena a = {0};
    char what[200];
    size_t pos = 1;
    term ctl, msg = NONE;
    int r = -1;
    if (etf_decode(buf, len, &pos, &a, &ctl, what, sizeof what) < 0)
        snprintf(why, why_len, "a bad control message: %s", what);
    else if (!is_tuple(ctl) || ctl.size < 1 || !is_int(element(1, ctl)))
        snprintf(why, why_len, "a control message that is not {Operation, ...}");
    else if (has_payload(element(1, ctl).u.integer) &&
             etf_decode(buf, len, &pos, &a, &msg, what, sizeof what) < 0)
        snprintf(why, why_len, "a bad message: %s", what);
    else if (pos != len)
        snprintf(why, why_len, "%zu bytes after the end of the frame's terms", len - pos);
    else
        r = dispatch(c, ctl, msg, why, why_len);
    etf_arena_free(&a);
    return r;
}
