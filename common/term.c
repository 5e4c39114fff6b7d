/*
 * term.c - building, comparing, matching, copying and printing terms.
 */
#include "term.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- The atom table ------------------------------------------------------ */

/* Atoms made at run time are interned here and never freed, as on BEAM. */
#define ATOM_MAX_LEN 255
#define ATOM_BUCKETS 1024

struct atom_entry {
    struct atom_entry *next;    /* next in this hash bucket */
    char name[];                /* the atom's name, NUL-terminated */
};

static struct {
    pthread_mutex_t lock;       /* guards buckets */
    struct atom_entry *buckets[ATOM_BUCKETS];   /* chains of atoms by hash */
} atoms = {.lock = PTHREAD_MUTEX_INITIALIZER};

static unsigned hash_name(const char *s) {
    unsigned h = 2166136261u;   /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

term atom_from(const char *name) {
    size_t len = strlen(name);
    if (len > ATOM_MAX_LEN)
        return NONE;
    unsigned b = hash_name(name) % ATOM_BUCKETS;
    pthread_mutex_lock(&atoms.lock);
    struct atom_entry *e = atoms.buckets[b];
    while (e && strcmp(e->name, name) != 0)
        e = e->next;
    if (!e) {
        e = malloc(sizeof *e + len + 1);
        if (!e) {
            pthread_mutex_unlock(&atoms.lock);
            return NONE;
        }
        memcpy(e->name, name, len + 1);
        e->next = atoms.buckets[b];
        atoms.buckets[b] = e;
    }
    pthread_mutex_unlock(&atoms.lock);
    return (term){.type = TERM_ATOM, .u.atom = e->name};
}

/* ---- Building ------------------------------------------------------------ */

term term_binary(const void *p, size_t n) {
    return (term){.type = TERM_BINARY, .size = (uint32_t)n, .u.bytes = p};
}

term term_tuple(const term *v, size_t n) {
    return (term){.type = TERM_TUPLE, .size = (uint32_t)n, .u.elements = v};
}

/* v must hold n + 1 terms: the elements and then the tail. */
term term_list(const term *v, size_t n) {
    return (term){.type = TERM_LIST, .size = (uint32_t)n, .u.elements = n ? v : NULL};
}

/* ---- Reading ------------------------------------------------------------- */

term element(size_t i, term t) {
    if (t.type != TERM_TUPLE || i < 1 || i > t.size)
        return NONE;
    return t.u.elements[i - 1];
}

bool is_atom_named(term t, const char *name) {
    return t.type == TERM_ATOM && (t.u.atom == name || strcmp(t.u.atom, name) == 0);
}

/* ---- Lists as Erlang sees them ----------------------------------------- */

/* A list may be stored in chunks ([a|[b]] is a chunk of one whose tail is
 * another chunk); Erlang sees only cons cells. A walk visits the elements of
 * every chunk in order. */
struct list_walk {
    term chunk;     /* the chunk being walked (a LIST) */
    uint32_t i;     /* next element of chunk */
};

/* The next element, or false at the end of the cons cells. */
static bool walk_next(struct list_walk *w, term *elem) {
    while (w->i == w->chunk.size) {
        if (w->chunk.size == 0)
            return false;
        term tail = w->chunk.u.elements[w->chunk.size];
        if (tail.type != TERM_LIST)
            return false;
        w->chunk = tail;
        w->i = 0;
    }
    *elem = w->chunk.u.elements[w->i++];
    return true;
}

/* What is left of the walk: the rest of the list, [] or an improper tail. */
static term walk_rest(const struct list_walk *w) {
    if (w->i < w->chunk.size)
        return (term){.type = TERM_LIST, .size = w->chunk.size - w->i,
                      .u.elements = w->chunk.u.elements + w->i};
    return w->chunk.size ? w->chunk.u.elements[w->chunk.size] : NIL;
}

/* True when t's cells agree with p's under same (term_eq or match): element
 * by element, then what is left of t against p's tail. */
static bool lists_agree(term t, term p, bool (*same)(term, term)) {
    struct list_walk wt = {t, 0}, wp = {p, 0};
    term et, ep;
    while (walk_next(&wp, &ep))
        if (!walk_next(&wt, &et) || !same(et, ep))
            return false;
    return same(walk_rest(&wt), walk_rest(&wp));
}

static bool words_eq(term a, term b) {
    return memcmp(a.u.words, b.u.words, a.size * sizeof(uint32_t)) == 0;
}

bool term_eq(term a, term b) {
    if (a.type != b.type)
        return false;
    switch (a.type) {
    case TERM_NONE: return true;
    case TERM_INT: return a.u.integer == b.u.integer;
    case TERM_ATOM: return is_atom_named(a, b.u.atom);
    case TERM_PID: return a.node == b.node && a.u.id == b.u.id;
    case TERM_REF:
        if (a.node != b.node || a.size != b.size)
            return false;
        return a.node == 0 ? a.u.id == b.u.id : words_eq(a, b);
    case TERM_BINARY:
        return a.size == b.size && memcmp(a.u.bytes, b.u.bytes, a.size) == 0;
    case TERM_LIST:
        if (a.size == 0 || b.size == 0)
            return a.size == b.size;
        return lists_agree(a, b, term_eq);
    case TERM_TUPLE:
        if (a.size != b.size)
            return false;
        for (uint32_t i = 0; i < a.size; i++)
            if (!term_eq(a.u.elements[i], b.u.elements[i]))
                return false;
        return true;
    case TERM_VAR: return a.u.bind == b.u.bind;
    }
    return false;
}

bool match(term t, term p) {
    if (p.type == TERM_VAR) {
        if (p.u.bind)
            *p.u.bind = t;
        return true;
    }
    if (p.type != t.type)
        return false;
    switch (p.type) {       /* the common leaves first, without a call */
    case TERM_ATOM: return t.u.atom == p.u.atom || strcmp(t.u.atom, p.u.atom) == 0;
    case TERM_INT: return t.u.integer == p.u.integer;
    case TERM_TUPLE: break;
    case TERM_LIST:
        if (p.size && t.size)
            return lists_agree(t, p, match);
        return term_eq(t, p);
    default: return term_eq(t, p);
    }
    if (p.size != t.size)
        return false;
    for (uint32_t i = 0; i < p.size; i++)
        if (!match(t.u.elements[i], p.u.elements[i]))
            return false;
    return true;
}

/* ---- Copying ------------------------------------------------------------- */

static size_t round8(size_t n) { return (n + 7) & ~(size_t)7; }

/* Elements a boxed tuple or list stores: a list stores its tail too. */
static uint32_t stored_elements(term t) {
    return t.size + (t.type == TERM_LIST);
}

size_t term_heap_size(term t) {
    if (!term_is_boxed(t))
        return 0;
    switch (t.type) {
    case TERM_BINARY: return round8(t.size);
    case TERM_REF: return round8(t.size * sizeof(uint32_t));
    default: break;
    }
    uint32_t n = stored_elements(t);
    size_t bytes = n * sizeof(term);
    for (uint32_t i = 0; i < n; i++)
        bytes += term_heap_size(t.u.elements[i]);
    return bytes;
}

/* Copies t's boxed contents to *cursor, advancing it, into *out. Returns
 * false, having copied part of it, when the copy would pass end. */
static bool copy_at(term t, char **cursor, const char *end, term *out) {
    if (!term_is_boxed(t)) {
        if (t.type == TERM_VAR)
            t.u.bind = NULL;    /* a pattern variable means nothing elsewhere */
        *out = t;
        return true;
    }
    if (t.type == TERM_BINARY || t.type == TERM_REF) {
        size_t n = t.type == TERM_BINARY ? t.size : t.size * sizeof(uint32_t);
        if ((size_t)(end - *cursor) < round8(n))
            return false;
        memcpy(*cursor, t.u.bytes, n);
        t.u.bytes = (const uint8_t *)*cursor;
        *cursor += round8(n);
        *out = t;
        return true;
    }
    uint32_t n = stored_elements(t);
    if ((size_t)(end - *cursor) < n * sizeof(term))
        return false;
    term *v = (term *)*cursor;
    *cursor += n * sizeof(term);
    for (uint32_t i = 0; i < n; i++)
        if (!copy_at(t.u.elements[i], cursor, end, &v[i]))
            return false;
    t.u.elements = v;
    *out = t;
    return true;
}

term term_copy_into(term t, void *buf) {
    char *cursor = buf;
    term copy;
    copy_at(t, &cursor, (const char *)UINTPTR_MAX, &copy);
    return copy;
}

term term_copy_within(term t, void *buf, size_t size) {
    char *cursor = buf;
    term copy;
    return copy_at(t, &cursor, cursor + size, &copy) ? copy : NONE;
}

/* ---- Printing ------------------------------------------------------------ */

/* An output buffer that counts what it could not hold, as snprintf does. */
struct out {
    char *buf;      /* destination; may be NULL when size is 0 */
    size_t size;    /* bytes buf holds */
    size_t len;     /* bytes the whole text needs so far */
};

static void put(struct out *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->len < o->size ? o->size - o->len : 0;
    int n = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n;
}

static bool atom_needs_quotes(const char *s) {
    if (!islower((unsigned char)s[0]))
        return true;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '@')
            return true;
    return false;
}

static void put_atom(struct out *o, const char *s) {
    if (!atom_needs_quotes(s)) {
        put(o, "%s", s);
        return;
    }
    put(o, "'");
    for (; *s; s++)
        put(o, *s == '\'' || *s == '\\' ? "\\%c" : "%c", *s);
    put(o, "'");
}

static bool printable(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] < 32 || p[i] > 126 || p[i] == '"' || p[i] == '\\')
            return false;
    return n > 0;
}

static void put_binary(struct out *o, term t) {
    if (printable(t.u.bytes, t.size)) {
        put(o, "<<\"%.*s\">>", (int)t.size, (const char *)t.u.bytes);
        return;
    }
    put(o, "<<");
    for (uint32_t i = 0; i < t.size; i++)
        put(o, i ? ",%u" : "%u", t.u.bytes[i]);
    put(o, ">>");
}

static void put_term(struct out *o, term t);

static void put_elements(struct out *o, term t) {
    for (uint32_t i = 0; i < t.size; i++) {
        if (i)
            put(o, ",");
        put_term(o, t.u.elements[i]);
    }
}

static void put_list(struct out *o, term t) {
    struct list_walk w = {t, 0};
    term e;
    put(o, "[");
    for (bool first = true; walk_next(&w, &e); first = false) {
        if (!first)
            put(o, ",");
        put_term(o, e);
    }
    term tail = walk_rest(&w);
    if (!(tail.type == TERM_LIST && tail.size == 0)) {
        put(o, "|");
        put_term(o, tail);
    }
    put(o, "]");
}

static void put_ref(struct out *o, term t) {
    if (t.node == 0) {
        put(o, "#Ref<0.%u.%u>", (unsigned)(t.u.id >> 32), (unsigned)t.u.id);
        return;
    }
    put(o, "#Ref<%u", t.node);
    for (uint32_t i = t.size; i-- > 0;)
        put(o, ".%u", t.u.words[i]);
    put(o, ">");
}

static void put_term(struct out *o, term t) {
    switch (t.type) {
    case TERM_NONE: put(o, "none"); break;
    case TERM_INT: put(o, "%lld", (long long)t.u.integer); break;
    case TERM_ATOM: put_atom(o, t.u.atom); break;
    case TERM_PID:
        put(o, "<%u.%u.%u>", t.node, (unsigned)(t.u.id >> 32), (unsigned)t.u.id);
        break;
    case TERM_REF: put_ref(o, t); break;
    case TERM_TUPLE: put(o, "{"); put_elements(o, t); put(o, "}"); break;
    case TERM_LIST: put_list(o, t); break;
    case TERM_BINARY: put_binary(o, t); break;
    case TERM_VAR: put(o, "_"); break;
    }
}

int term_format(char *buf, size_t n, term t) {
    struct out o = {buf, n, 0};
    if (n)
        buf[0] = '\0';
    put_term(&o, t);
    return (int)o.len;
}

void term_print(FILE *out, term t) {
    char small[256];
    int n = term_format(small, sizeof small, t);
    if ((size_t)n < sizeof small) {
        fputs(small, out);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        fputs(small, out);
        return;
    }
    term_format(big, (size_t)n + 1, t);
    fputs(big, out);
    free(big);
}
