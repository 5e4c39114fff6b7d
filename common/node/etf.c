/*
 * etf.c - the external term format: encoding with ei_x_encode_*, decoding
 * with ei_decode_* after every extent has been checked here (libei's
 * decoders take no length and read whatever the header says).
 *
 * Low level to high level: the arena; local references on the wire; the
 * encoder's walk; the decoder's checks, leaves and walk.
 */
#include "etf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"

/* ---- The arena ----------------------------------------------------------- */

struct etf_chunk {
    struct etf_chunk *next;     /* the chunk allocated before this one */
    size_t used, size;          /* bytes of data taken, and held */
    _Alignas(16) char data[];
};

#define CHUNK_MIN 4096

/* n bytes (a multiple of 8 is kept) from a, or NULL when out of memory. */
static void *arena_take(struct etf_arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    struct etf_chunk *c = a->chunks;
    if (!c || c->size - c->used < n) {
        size_t size = n > CHUNK_MIN ? n : CHUNK_MIN;
        c = malloc(sizeof *c + size);
        if (!c)
            return NULL;
        *c = (struct etf_chunk){a->chunks, 0, size};
        a->chunks = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

void etf_arena_free(struct etf_arena *a) {
    while (a->chunks) {
        struct etf_chunk *c = a->chunks;
        a->chunks = c->next;
        free(c);
    }
}

/* ---- Local references on the wire --------------------------------------- */

/* A reference of this node is a 64-bit counter. On the wire it is three
 * 32-bit words, as BEAM's: the low 18 bits, the next 32, the top 14. */
static void ref_words(uint64_t id, unsigned int w[3]) {
    w[0] = (unsigned)(id & 0x3ffff);
    w[1] = (unsigned)((id >> 18) & 0xffffffffu);
    w[2] = (unsigned)(id >> 50);
}

/* The counter three words hold, or false when they are not ones this
 * node writes. */
static bool ref_id(const unsigned int *w, int n, uint64_t *id) {
    if (n != 3 || w[0] > 0x3ffff || w[2] > 0x3fff)
        return false;
    *id = (uint64_t)w[0] | (uint64_t)w[1] << 18 | (uint64_t)w[2] << 50;
    return true;
}

/* ---- Encoding ------------------------------------------------------------ */

/* Copies the name of node index into dst (MAXATOMLEN_UTF8 bytes). */
static void node_name_into(char *dst, unsigned index) {
    term name = node_name(index);
    snprintf(dst, MAXATOMLEN_UTF8, "%s", is_atom(name) ? name.u.atom : "nonode@nohost");
}

static int encode_pid(ei_x_buff *x, term t) {
    erlang_pid p;
    node_name_into(p.node, t.node);
    p.num = (unsigned)(t.u.id >> 32);
    p.serial = (unsigned)t.u.id;
    p.creation = node_creation(t.node);
    return ei_x_encode_pid(x, &p);
}

static int encode_ref(ei_x_buff *x, term t) {
    erlang_ref r;
    node_name_into(r.node, t.node);
    r.creation = node_creation(t.node);
    if (t.node == 0) {
        r.len = 3;
        ref_words(t.u.id, r.n);
    } else {
        if (t.size > 5)
            return -1;
        r.len = (int)t.size;
        for (uint32_t i = 0; i < t.size; i++)
            r.n[i] = t.u.words[i];
    }
    return ei_x_encode_ref(x, &r);
}

/* Writes a term that is not a tuple or list with elements. */
static int encode_leaf(ei_x_buff *x, term t) {
    switch (t.type) {
    case TERM_INT: return ei_x_encode_longlong(x, t.u.integer);
    case TERM_ATOM:
        return ei_x_encode_atom_len_as(x, t.u.atom, (int)strlen(t.u.atom), ERLANG_UTF8,
                                       ERLANG_UTF8);
    case TERM_PID: return encode_pid(x, t);
    case TERM_REF: return encode_ref(x, t);
    case TERM_BINARY: return ei_x_encode_binary(x, t.u.bytes, (int)t.size);
    case TERM_TUPLE: return ei_x_encode_tuple_header(x, 0);
    case TERM_LIST: return ei_x_encode_empty_list(x);
    default: return -1;     /* NONE, VAR: nothing on the wire means them */
    }
}

/* One tuple or list the encoder is inside. */
struct enc_frame {
    term chunk;     /* the tuple, or the list chunk being written */
    uint32_t i;     /* its next element */
};

/* The cons cells of list l across its chunks (Erlang sees no chunks). */
static uint64_t list_cells(term l) {
    uint64_t n = 0;
    for (; l.type == TERM_LIST && l.size > 0; l = l.u.elements[l.size])
        n += l.size;
    return n;
}

/* Writes t's header and pushes its frame, or writes t whole if a leaf.
 * Returns 0, or -1. */
static int encode_start(ei_x_buff *x, term t, struct enc_frame **v, size_t *n, size_t *cap) {
    if ((t.type != TERM_TUPLE && t.type != TERM_LIST) || t.size == 0)
        return encode_leaf(x, t);
    uint64_t cells = t.type == TERM_LIST ? list_cells(t) : t.size;
    if (cells > 0x7fffffff)
        return -1;
    int r = t.type == TERM_TUPLE ? ei_x_encode_tuple_header(x, (long)cells)
                                 : ei_x_encode_list_header(x, (long)cells);
    if (r < 0)
        return -1;
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        struct enc_frame *w = realloc(*v, c * sizeof *w);
        if (!w)
            return -1;
        *v = w;
        *cap = c;
    }
    (*v)[(*n)++] = (struct enc_frame){t, 0};
    return 0;
}

int etf_encode(ei_x_buff *x, term t) {
    struct enc_frame *v = NULL;
    size_t n = 0, cap = 0;
    int r = encode_start(x, t, &v, &n, &cap);
    while (r == 0 && n > 0) {
        struct enc_frame *f = &v[n - 1];
        if (f->i < f->chunk.size) {
            r = encode_start(x, f->chunk.u.elements[f->i++], &v, &n, &cap);
            continue;
        }
        if (f->chunk.type == TERM_TUPLE) {
            n--;
            continue;
        }
        term tail = f->chunk.u.elements[f->chunk.size];
        if (tail.type == TERM_LIST && tail.size > 0) {
            *f = (struct enc_frame){tail, 0};   /* the next chunk, same cells */
            continue;
        }
        n--;
        r = encode_start(x, tail, &v, &n, &cap);  /* [] or an improper tail */
    }
    free(v);
    if (r < 0)
        errno = EINVAL;
    return r < 0 ? -1 : 0;
}

int etf_encode_versioned(ei_x_buff *x, term t) {
    if (ei_x_encode_version(x) < 0) {
        errno = ENOMEM;
        return -1;
    }
    return etf_encode(x, t);
}

/* ---- Decoding: checks ---------------------------------------------------- */

/* The state of one decode. */
struct dec {
    const unsigned char *buf;   /* the input */
    size_t len;                 /* bytes of input */
    size_t pos;                 /* the next byte to read */
    struct etf_arena *arena;    /* where terms go */
    char *why;                  /* the error's account */
    size_t why_len;             /* bytes why holds */
};

/* Writes the account of what was wrong, sets errno; returns -1. */
__attribute__((format(printf, 3, 4)))
static int bad(struct dec *d, int err, const char *fmt, ...) {
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(d->why, d->why_len, "%s at byte %zu", what, d->pos);
    errno = err;
    return -1;
}

/* True when n more bytes are there after pos + skip. */
static bool has(const struct dec *d, size_t skip, size_t n) {
    return d->pos <= d->len && skip <= d->len - d->pos && n <= d->len - d->pos - skip;
}

static uint32_t be16(const unsigned char *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Bytes the atom at pos + skip takes, header included, after checking they
 * are there; 0 when they are not or it is no atom. */
static size_t atom_extent(const struct dec *d, size_t skip) {
    if (!has(d, skip, 1))
        return 0;
    unsigned char tag = d->buf[d->pos + skip];
    bool small = tag == ERL_SMALL_ATOM_EXT || tag == ERL_SMALL_ATOM_UTF8_EXT;
    if (!small && tag != ERL_ATOM_EXT && tag != ERL_ATOM_UTF8_EXT)
        return 0;
    size_t head = small ? 2 : 3;
    if (!has(d, skip, head))
        return 0;
    const unsigned char *p = d->buf + d->pos + skip + 1;
    size_t n = small ? p[0] : be16(p);
    return has(d, skip, head + n) ? head + n : 0;
}

/* The bytes an item of the given tag takes, header included, once checked
 * to be there; 0 when they are not. For tags of compound terms: the
 * header only. */
static size_t item_extent(const struct dec *d, unsigned char tag) {
    const unsigned char *p = d->buf + d->pos + 1;
    size_t a;
    switch (tag) {
    case ERL_SMALL_INTEGER_EXT: return has(d, 0, 2) ? 2 : 0;
    case ERL_INTEGER_EXT: return has(d, 0, 5) ? 5 : 0;
    case ERL_SMALL_BIG_EXT: return has(d, 0, 3) && has(d, 0, 3 + (size_t)p[0]) ? 3 + p[0] : 0;
    case ERL_LARGE_BIG_EXT:
        return has(d, 0, 6) && has(d, 0, 6 + (size_t)be32(p)) ? 6 + (size_t)be32(p) : 0;
    case ERL_ATOM_EXT: case ERL_SMALL_ATOM_EXT:
    case ERL_ATOM_UTF8_EXT: case ERL_SMALL_ATOM_UTF8_EXT: return atom_extent(d, 0);
    case ERL_PID_EXT: return (a = atom_extent(d, 1)) && has(d, 1 + a, 9) ? 1 + a + 9 : 0;
    case ERL_NEW_PID_EXT: return (a = atom_extent(d, 1)) && has(d, 1 + a, 12) ? 1 + a + 12 : 0;
    case ERL_REFERENCE_EXT: return (a = atom_extent(d, 1)) && has(d, 1 + a, 5) ? 1 + a + 5 : 0;
    case ERL_NEW_REFERENCE_EXT:
    case ERL_NEWER_REFERENCE_EXT: {
        if (!has(d, 0, 3) || !(a = atom_extent(d, 3)))
            return 0;
        size_t words = be16(p), cre = tag == ERL_NEW_REFERENCE_EXT ? 1 : 4;
        return has(d, 3 + a, cre + 4 * words) ? 3 + a + cre + 4 * words : 0;
    }
    case ERL_SMALL_TUPLE_EXT: return has(d, 0, 2) ? 2 : 0;
    case ERL_LARGE_TUPLE_EXT: case ERL_LIST_EXT: return has(d, 0, 5) ? 5 : 0;
    case ERL_NIL_EXT: return 1;
    case ERL_STRING_EXT: return has(d, 0, 3) && has(d, 3, be16(p)) ? 3 + be16(p) : 0;
    case ERL_BINARY_EXT: return has(d, 0, 5) && has(d, 5, be32(p)) ? 5 + (size_t)be32(p) : 0;
    default: return 0;
    }
}

/* True for the tags item_extent measures. */
static bool known_tag(unsigned char tag) {
    return strchr("abnodsvwgXerZhiljkm", tag) != NULL && tag != 0;
}

/* What a tag this runtime does not take is, for the error; NULL: unknown. */
static const char *unheld(unsigned char tag) {
    switch (tag) {
    case ERL_FLOAT_EXT: case NEW_FLOAT_EXT: return "a float";
    case ERL_PORT_EXT: case ERL_NEW_PORT_EXT: case ERL_V4_PORT_EXT: return "a port";
    case ERL_BIT_BINARY_EXT: return "a bitstring";
    case ERL_MAP_EXT: return "a map";
    case ERL_NEW_FUN_EXT: case ERL_FUN_EXT: case ERL_EXPORT_EXT: return "a fun";
    case 'R': return "an atom cache reference";
    case 'P': return "a compressed term";
    default: return NULL;
    }
}

/* ---- Decoding: leaves ---------------------------------------------------- */

/* The atom at pos + skip, whose extent was checked; NONE after bad(). */
static term atom_at(struct dec *d, size_t skip) {
    char name[MAXATOMLEN_UTF8];
    int idx = (int)(d->pos + skip);
    erlang_char_encoding was, res;
    size_t ext = atom_extent(d, skip);
    size_t head = d->buf[d->pos + skip] == ERL_ATOM_EXT || d->buf[d->pos + skip] == ERL_ATOM_UTF8_EXT
                  ? 3 : 2;
    if (memchr(d->buf + d->pos + skip + head, 0, ext - head)) {
        bad(d, ENOTSUP, "an atom holding a NUL byte");
        return NONE;
    }
    if (ei_decode_atom_as((const char *)d->buf, &idx, name, sizeof name, ERLANG_UTF8,
                          &was, &res) < 0) {
        bad(d, EBADMSG, "an atom that is not valid text of at most 255 characters");
        return NONE;
    }
    term a = atom_from(name);
    if (is_none(a))
        bad(d, ENOTSUP, "an atom of %zu bytes (this node holds at most 255)", strlen(name));
    return a;
}

/* The node index of node name (an atom at pos + skip) and creation. */
static int node_at(struct dec *d, size_t skip, uint32_t creation) {
    term name = atom_at(d, skip);
    if (is_none(name))
        return -1;
    int i = node_intern(name, creation);
    if (i < 0)
        bad(d, ENOTSUP, "a pid or reference of one node too many (the node table is full)");
    return i;
}

static int pid_leaf(struct dec *d, term *out) {
    erlang_pid p;
    int idx = (int)d->pos;
    if (ei_decode_pid((const char *)d->buf, &idx, &p) < 0)
        return bad(d, EBADMSG, "an invalid pid");
    int node = node_at(d, 1, p.creation);
    if (node < 0)
        return -1;
    *out = (term){.type = TERM_PID, .node = (uint16_t)node,
                  .u.id = (uint64_t)p.num << 32 | p.serial};
    return 0;
}

static int ref_leaf(struct dec *d, unsigned char tag, term *out) {
    if (tag != ERL_REFERENCE_EXT && be16(d->buf + d->pos + 1) > 5)
        return bad(d, ENOTSUP, "a reference of %u words (at most 5)", be16(d->buf + d->pos + 1));
    erlang_ref r;
    int idx = (int)d->pos;
    if (ei_decode_ref((const char *)d->buf, &idx, &r) < 0)
        return bad(d, EBADMSG, "an invalid reference");
    int node = node_at(d, tag == ERL_REFERENCE_EXT ? 1 : 3, r.creation);
    if (node < 0)
        return -1;
    if (node == 0) {
        uint64_t id;
        if (!ref_id(r.n, r.len, &id))
            return bad(d, EBADMSG, "a reference of this node that it never made");
        *out = (term){.type = TERM_REF, .u.id = id};
        return 0;
    }
    uint32_t *w = arena_take(d->arena, (size_t)r.len * sizeof *w);
    if (!w)
        return bad(d, ENOMEM, "out of memory for a reference");
    for (int i = 0; i < r.len; i++)
        w[i] = r.n[i];
    *out = (term){.type = TERM_REF, .node = (uint16_t)node, .size = (uint32_t)r.len,
                  .u.words = w};
    return 0;
}

/* A STRING_EXT: a list of small integers, n + 1 terms in the arena. */
static int string_leaf(struct dec *d, term *out) {
    size_t n = be16(d->buf + d->pos + 1);
    term *v = arena_take(d->arena, (n + 1) * sizeof *v);
    if (!v)
        return bad(d, ENOMEM, "out of memory for a string of %zu bytes", n);
    for (size_t i = 0; i < n; i++)
        v[i] = INT(d->buf[d->pos + 3 + i]);
    v[n] = NIL;
    *out = term_list(v, n);
    return 0;
}

/* Decodes the leaf at pos (its extent checked) into *out. */
static int leaf(struct dec *d, unsigned char tag, size_t ext, term *out) {
    int idx = (int)d->pos;
    long long v;
    switch (tag) {
    case ERL_SMALL_INTEGER_EXT: case ERL_INTEGER_EXT:
    case ERL_SMALL_BIG_EXT: case ERL_LARGE_BIG_EXT:
        if (ei_decode_longlong((const char *)d->buf, &idx, &v) < 0)
            return bad(d, ENOTSUP, "an integer beyond 64 bits");
        *out = INT(v);
        return 0;
    case ERL_ATOM_EXT: case ERL_SMALL_ATOM_EXT:
    case ERL_ATOM_UTF8_EXT: case ERL_SMALL_ATOM_UTF8_EXT:
        *out = atom_at(d, 0);
        return is_none(*out) ? -1 : 0;
    case ERL_PID_EXT: case ERL_NEW_PID_EXT: return pid_leaf(d, out);
    case ERL_REFERENCE_EXT: case ERL_NEW_REFERENCE_EXT: case ERL_NEWER_REFERENCE_EXT:
        return ref_leaf(d, tag, out);
    case ERL_NIL_EXT: *out = NIL; return 0;
    case ERL_STRING_EXT: return string_leaf(d, out);
    case ERL_BINARY_EXT:
        *out = term_binary(d->buf + d->pos + 5, ext - 5);
        return 0;
    }
    return bad(d, EBADMSG, "tag %u where a leaf was expected", tag);
}

/* ---- Decoding: the walk -------------------------------------------------- */

/* One tuple or list being filled. */
struct dec_frame {
    term *slots;        /* its elements (and a list's tail, last) */
    uint32_t next;      /* the next slot to fill */
    uint32_t count;     /* slots in all */
};

/* Starts a tuple or list of n elements (a list: n + 1 slots with its
 * tail) at *out; pushes its frame. */
static int compound(struct dec *d, bool list, uint64_t n, term *out,
                    struct dec_frame **v, size_t *depth, size_t *cap) {
    size_t left = d->len - d->pos;  /* pos is past the header: each slot needs a byte */
    uint64_t slots = n + list;
    if (list && n == 0)
        return bad(d, EBADMSG, "a list header of no elements");
    if (slots > left)
        return bad(d, EBADMSG, "a %s of %llu elements with only %zu bytes left",
                   list ? "list" : "tuple", (unsigned long long)n, left);
    if (slots == 0) {
        *out = term_tuple(NULL, 0);
        return 0;
    }
    if (*depth >= ETF_MAX_DEPTH)
        return bad(d, ENOTSUP, "a term nested deeper than %d", ETF_MAX_DEPTH);
    term *s = arena_take(d->arena, slots * sizeof *s);
    if (!s)
        return bad(d, ENOMEM, "out of memory for %llu elements", (unsigned long long)slots);
    if (*depth == *cap) {
        size_t c = *cap * 2;
        struct dec_frame *w = realloc(*v, c * sizeof *w);
        if (!w)
            return bad(d, ENOMEM, "out of memory for a term nested %zu deep", *depth);
        *v = w;
        *cap = c;
    }
    (*v)[(*depth)++] = (struct dec_frame){s, 0, (uint32_t)slots};
    *out = list ? term_list(s, n) : term_tuple(s, n);
    return 0;
}

/* Decodes the item at pos into *out, moving pos past it (past a compound
 * term's header only: its frame is pushed). */
static int item(struct dec *d, term *out, struct dec_frame **v, size_t *depth, size_t *cap) {
    if (!has(d, 0, 1))
        return bad(d, EBADMSG, "the term ends early");
    unsigned char tag = d->buf[d->pos];
    size_t ext = item_extent(d, tag);
    if (ext == 0) {
        const char *what = unheld(tag);
        if (what)
            return bad(d, ENOTSUP, "%s (tag %u), which this node cannot hold", what, tag);
        return known_tag(tag) ? bad(d, EBADMSG, "a term cut short (tag %u)", tag)
                              : bad(d, EBADMSG, "an unknown tag %u", tag);
    }
    const unsigned char *p = d->buf + d->pos + 1;
    switch (tag) {
    case ERL_SMALL_TUPLE_EXT: d->pos += ext; return compound(d, false, p[0], out, v, depth, cap);
    case ERL_LARGE_TUPLE_EXT: d->pos += ext; return compound(d, false, be32(p), out, v, depth, cap);
    case ERL_LIST_EXT: d->pos += ext; return compound(d, true, be32(p), out, v, depth, cap);
    }
    if (leaf(d, tag, ext, out) < 0)
        return -1;
    d->pos += ext;
    return 0;
}

int etf_decode(const char *buf, size_t len, size_t *pos, struct etf_arena *a, term *out,
               char *why, size_t why_len) {
    struct dec d = {(const unsigned char *)buf, len, *pos, a, why, why_len};
    if (!has(&d, 0, 1) || d.buf[d.pos] != 131)
        return bad(&d, EBADMSG, has(&d, 0, 1) ? "a term without the version byte 131"
                                              : "no term where one was expected");
    d.pos++;
    size_t depth = 0, cap = 16;
    struct dec_frame *v = malloc(cap * sizeof *v);
    if (!v)
        return bad(&d, ENOMEM, "out of memory");
    int r = item(&d, out, &v, &depth, &cap);
    while (r == 0 && depth > 0) {
        struct dec_frame *f = &v[depth - 1];
        if (f->next == f->count) {
            depth--;
            continue;
        }
        r = item(&d, &f->slots[f->next++], &v, &depth, &cap);
    }
    free(v);
    if (r == 0)
        *pos = d.pos;
    return r;
}
