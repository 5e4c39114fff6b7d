/*
 * cluster_fsm.c - the replicated state machine: entries applied to the
 * callbacks' state and the client table. See cluster_fsm.h.
 */
#include <raft.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_fsm.h"
#include "etf.h"
#include "panic.h"

term fsm_dup_term(term t, void **mem) {
    size_t n = term_heap_size(t);
    *mem = n ? malloc(n) : NULL;
    if (n && !*mem)
        panic("out of memory for a cluster term");
    return n ? term_copy_into(t, *mem) : t;
}

/* Padded: libraft 0.15 reads the entries of a batch from disk at 8-byte
 * boundaries but writes them unpadded, so an entry of another length
 * shifts every later one of its batch. The decoder stops at the term's
 * end and never sees the padding. */
void *fsm_encode(term t, size_t *len) {
    ei_x_buff x;
    if (ei_x_new(&x) < 0 || etf_encode_versioned(&x, t) != 0)
        panic("cluster: cannot encode a log entry (a term without external form?)");
    size_t n = ((size_t)x.index + 7) & ~(size_t)7;
    void *buf = raft_malloc(n);
    if (!buf)
        panic("out of memory for a cluster log entry");
    memcpy(buf, x.buff, (size_t)x.index);
    memset((char *)buf + x.index, 0, n - (size_t)x.index);
    *len = n;
    ei_x_free(&x);
    return buf;
}

/* ---- The client table ---------------------------------------------------- */

static struct client_seq *client_slot(struct cluster_fsm *f, int64_t id) {
    for (size_t i = 0; i < f->n_clients; i++)
        if (f->clients[i].id == id)
            return &f->clients[i];
    if (f->n_clients == f->cap_clients) {
        f->cap_clients = f->cap_clients ? 2 * f->cap_clients : 16;
        f->clients = realloc(f->clients, f->cap_clients * sizeof *f->clients);
        if (!f->clients)
            panic("out of memory for a cluster's client table");
    }
    struct client_seq *c = &f->clients[f->n_clients++];
    *c = (struct client_seq){.id = id, .reply = NONE};
    return c;
}

enum seq_verdict fsm_seq(struct cluster_fsm *f, term client, bool call,
                         struct client_seq **slot) {
    *slot = NULL;
    if (!is_tuple(client))
        return SEQ_APPLY;
    struct client_seq *c = *slot = client_slot(f, element(1, client).u.integer);
    int64_t seq = element(2, client).u.integer;
    if (seq < c->last || (seq == c->last && !call))
        return SEQ_STALE;
    if (seq == c->last)
        return SEQ_REPEAT;
    bool gap = seq != c->last + 1;
    c->last = seq;
    if (!call) {
        c->broken = c->broken || gap;
        return SEQ_APPLY;
    }
    bool lost = c->broken || gap;
    c->broken = false;
    return lost ? SEQ_LOST : SEQ_APPLY;
}

/* Remembers reply as the client's last call's. */
static void cache_reply(struct client_seq *c, term reply) {
    free(c->mem);
    c->reply = fsm_dup_term(reply, &c->mem);
}

/* ---- The links ------------------------------------------------------------ */

bool fsm_linked(const struct cluster_fsm *f, term pid) {
    for (size_t i = 0; i < f->n_links; i++)
        if (term_eq(f->links[i], pid))
            return true;
    return false;
}

/* Adds pid to the links; false when it was there. */
static bool link_add(struct cluster_fsm *f, term pid) {
    if (fsm_linked(f, pid))
        return false;
    if (f->n_links == f->cap_links) {
        f->cap_links = f->cap_links ? 2 * f->cap_links : 8;
        f->links = realloc(f->links, f->cap_links * sizeof *f->links);
        if (!f->links)
            panic("out of memory for a cluster's links");
    }
    f->links[f->n_links++] = pid;
    return true;
}

/* Takes pid out of the links, keeping the others' order; false when it
 * was not there. */
static bool link_remove(struct cluster_fsm *f, term pid) {
    for (size_t i = 0; i < f->n_links; i++)
        if (term_eq(f->links[i], pid)) {
            memmove(&f->links[i], &f->links[i + 1], (f->n_links - i - 1) * sizeof *f->links);
            f->n_links--;
            return true;
        }
    return false;
}

/* A call's {'$link', Pid} or {'$unlink', Pid}: changes the links, says
 * which pid in *a, and returns the reply (true, or badarg for an X that
 * is not a pid, as link(X) raises); NONE when request is neither (it is
 * the callbacks'). */
static term apply_link_call(struct cluster_fsm *f, term request, struct fsm_answer *a) {
    term pid;
    bool link = match(request, TUPLE(ATOM("$link"), VAR(&pid)));
    if (!link && !match(request, TUPLE(ATOM("$unlink"), VAR(&pid))))
        return NONE;
    if (!is_pid(pid))
        return ATOM("badarg");
    if (link && link_add(f, pid))
        a->linked = pid;
    else if (!link && link_remove(f, pid))
        a->unlinked = pid;
    return ATOM("true");
}

/* ---- Applying entries ---------------------------------------------------- */

/* {call, Proposer, Nonce, From, Client, Request}: applies it (or not, as
 * fsm_seq says) and fills *a for its proposer. */
static gen_result apply_call(struct cluster_fsm *f, term entry, term user,
                             struct fsm_answer *a) {
    term from = element(4, entry), client = element(5, entry), request = element(6, entry);
    struct client_seq *c;
    enum seq_verdict v = fsm_seq(f, client, true, &c);
    gen_result r = gen_noreply(user);
    *a = (struct fsm_answer){.call = true, .proposer = element(2, entry).u.integer,
                             .nonce = (uint64_t)element(3, entry).u.integer,
                             .kind = ATOM("$cluster_ok"), .value = NONE,
                             .linked = NONE, .unlinked = NONE};
    term linking = v == SEQ_APPLY ? apply_link_call(f, request, a) : NONE;
    if (!is_none(linking)) {
        a->value = linking;
        if (c)
            cache_reply(c, a->value);
    } else if (v == SEQ_APPLY) {
        r = f->mod->handle_call ? f->mod->handle_call(request, from, user)
                                : gen_stop(ATOM("undef"), user);
        a->value = r.reply;
        if (c && !is_none(a->value))
            cache_reply(c, a->value);
    } else if (v == SEQ_LOST) {
        a->kind = ATOM("$cluster_error");
        a->value = ATOM("casts_lost");
        cache_reply(c, TUPLE(ATOM("$cluster_lost")));
    } else if (v == SEQ_REPEAT) {
        a->value = c->reply;
        if (match(a->value, TUPLE(ATOM("$cluster_lost")))) {
            a->kind = ATOM("$cluster_error");
            a->value = ATOM("casts_lost");
        }
    }
    return r;
}

gen_result fsm_apply(struct cluster_fsm *f, term entry, term user, struct fsm_answer *a) {
    struct client_seq *c;
    *a = (struct fsm_answer){.call = false, .value = NONE, .linked = NONE, .unlinked = NONE};
    if (is_atom_named(element(1, entry), "call") && entry.size == 6)
        return apply_call(f, entry, user, a);
    if (is_atom_named(element(1, entry), "cast") && entry.size == 3) {
        if (fsm_seq(f, element(2, entry), false, &c) != SEQ_APPLY)
            return gen_noreply(user);
        return f->mod->handle_cast ? f->mod->handle_cast(element(3, entry), user)
                                   : gen_stop(ATOM("undef"), user);
    }
    if (is_atom_named(element(1, entry), "exited") && entry.size == 2) {
        if (link_remove(f, element(2, entry)))
            a->unlinked = element(2, entry);
        return gen_noreply(user);
    }
    if (is_atom_named(element(1, entry), "info") && entry.size == 2 && f->mod->handle_info)
        return f->mod->handle_info(element(2, entry), user);
    return gen_noreply(user);
}

/* ---- In snapshots -------------------------------------------------------- */

term fsm_clients_term(const struct cluster_fsm *f, term *cells, term *parts) {
    for (size_t i = 0; i < f->n_clients; i++) {
        const struct client_seq *c = &f->clients[i];
        term *p = &parts[4 * i];
        p[0] = INT(c->id);
        p[1] = INT(c->last);
        p[2] = c->broken ? ATOM("true") : ATOM("false");
        p[3] = is_none(c->reply) ? ATOM("none") : c->reply;
        cells[i] = term_tuple(p, 4);
    }
    cells[f->n_clients] = NIL;
    return term_list(cells, f->n_clients);
}

void fsm_clients_restore(struct cluster_fsm *f, term list) {
    for (size_t i = 0; i < f->n_clients; i++)
        free(f->clients[i].mem);
    f->n_clients = 0;
    /* a list is chunks: size cells, then the tail, itself a list */
    for (term l = list; is_list(l) && l.size; l = l.u.elements[l.size])
        for (size_t i = 0; i < l.size; i++) {
            term e = l.u.elements[i];
            struct client_seq *c = client_slot(f, element(1, e).u.integer);
            c->last = element(2, e).u.integer;
            c->broken = is_atom_named(element(3, e), "true");
            if (!is_atom_named(element(4, e), "none"))
                cache_reply(c, element(4, e));
        }
}

term fsm_links_term(const struct cluster_fsm *f, term *cells) {
    for (size_t i = 0; i < f->n_links; i++)
        cells[i] = f->links[i];
    cells[f->n_links] = NIL;
    return term_list(cells, f->n_links);
}

void fsm_links_restore(struct cluster_fsm *f, term list) {
    f->n_links = 0;
    for (term l = list; is_list(l) && l.size; l = l.u.elements[l.size])
        for (size_t i = 0; i < l.size; i++)
            if (is_pid(l.u.elements[i]))
                link_add(f, l.u.elements[i]);
}

void fsm_free(struct cluster_fsm *f) {
    for (size_t i = 0; i < f->n_clients; i++)
        free(f->clients[i].mem);
    free(f->clients);
    f->clients = NULL;
    f->n_clients = f->cap_clients = 0;
    free(f->links);
    f->links = NULL;
    f->n_links = f->cap_links = 0;
}
