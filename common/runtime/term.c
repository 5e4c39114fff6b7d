/*
 * term.c - building, comparing, matching, copying and printing terms.
 *
 * No walk over a term recurses on the C stack (see "Walking without
 * recursion"): a term of any length or depth is compared, copied and
 * printed in a process's 64 KiB stack.
 */
#include "term.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "panic.h"

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

/* ---- Walking without recursion ------------------------------------------ */

/* Every walk over a term (compare, match, measure, copy, print) keeps its
 * own stack of frames, one per compound term it is inside, instead of
 * recursing on the C stack: a process has 64 KiB of that, and a term may
 * hold a million cells or nest ten thousand deep. A list's cells are walked
 * in one frame however it is chunked; a compound term that is the last item
 * of its frame (a list's tail, a tuple's last element) replaces that frame
 * where the walk allows it, so [a|[b|[c]]] and {a,{b,{c}}} take one frame.
 * The first WALK_IN_PLACE frames live in the walker's own C frame, so a
 * shallow term costs no malloc; a deeper one grows the stack on the heap. */
#define WALK_IN_PLACE 8

/* One compound term a walk is inside. */
struct frame {
    struct list_walk a;     /* the term walked: a tuple (a.i is its next
                               element) or a list's cells */
    struct list_walk b;     /* term_eq, match: the term a is compared with */
    term *to;               /* copy: where the copy of a's next item goes */
    uint64_t left;          /* measure, copy: a's items left, a list's tail
                               counting as one; eq, match: 0 once the tails
                               were compared; print: items printed */
    bool tail;              /* print: a list's tail is printed, "]" is due */
};

struct walk_stack {
    struct frame *v;        /* the frames: in_place, or malloc'd once grown */
    size_t n;               /* frames in use; v[n - 1] is the innermost */
    size_t cap;             /* frames v has room for */
    struct frame in_place[WALK_IN_PLACE];   /* the first frames */
};

/* Not zeroed: in_place is written before it is read. */
static void walk_init(struct walk_stack *s) {
    s->v = s->in_place;
    s->n = 0;
    s->cap = WALK_IN_PLACE;
}

/* Doubles the room for frames, on the heap. Panics when memory is out: a
 * walk has no way to fail, and its frames are a fraction of the term's. */
__attribute__((noinline)) static void walk_grow(struct walk_stack *s) {
    size_t cap = s->cap * 2;
    bool moved = s->v == s->in_place;
    struct frame *v = moved ? malloc(cap * sizeof *v) : realloc(s->v, cap * sizeof *v);
    if (!v)
        panic("out of memory walking a term nested %zu deep", s->n);
    if (moved)
        memcpy(v, s->in_place, s->n * sizeof *v);
    s->v = v;
    s->cap = cap;
}

/* A new innermost frame, for the caller to fill in. */
static struct frame *walk_push(struct walk_stack *s) {
    if (s->n == s->cap)
        walk_grow(s);
    return &s->v[s->n++];
}

static void walk_free(struct walk_stack *s) {
    if (s->v != s->in_place)
        free(s->v);
}

/* How deep the walks recurse on the C stack before they go on with a stack
 * of frames: the small terms most messages are copy and match fastest by
 * plain recursion, and 8 levels of it take a few hundred bytes. */
#define SMALL_DEPTH 8

/* True when a walk goes into t: a tuple or a list with elements. */
static bool is_compound(term t) {
    return (t.type == TERM_TUPLE || t.type == TERM_LIST) && t.size > 0;
}

/* ---- Comparing and matching -------------------------------------------- */

static bool words_eq(term a, term b) {
    return memcmp(a.u.words, b.u.words, a.size * sizeof(uint32_t)) == 0;
}

/* What comparing t with p found without looking inside either. */
enum agreement { DIFFER, AGREE, DESCEND };

/* Compares t with p (a pattern when matching) as far as their outsides go:
 * DESCEND when both are compound terms of one shape whose items decide. */
static inline __attribute__((always_inline)) enum agreement
agree_outside(term t, term p, bool matching) {
    if (matching && p.type == TERM_VAR) {
        if (p.u.bind)
            *p.u.bind = t;
        return AGREE;
    }
    if (t.type != p.type)
        return DIFFER;
    switch (p.type) {
    case TERM_NONE: return AGREE;
    case TERM_INT: return t.u.integer == p.u.integer;
    case TERM_ATOM: return t.u.atom == p.u.atom || strcmp(t.u.atom, p.u.atom) == 0;
    case TERM_PID: return t.node == p.node && t.u.id == p.u.id;
    case TERM_REF:
        if (t.node != p.node || t.size != p.size)
            return DIFFER;
        return t.node == 0 ? t.u.id == p.u.id : words_eq(t, p);
    case TERM_BINARY:
        return t.size == p.size && memcmp(t.u.bytes, p.u.bytes, t.size) == 0;
    case TERM_TUPLE:
        return t.size != p.size ? DIFFER : t.size ? DESCEND : AGREE;
    case TERM_LIST:
        return t.size && p.size ? DESCEND : t.size == p.size;
    case TERM_VAR: return t.u.bind == p.u.bind;
    }
    return DIFFER;
}

/* The next pair of f's items to compare into *t and *p: 1, or 0 when f is
 * done, or -1 when t's list ends before p's. Lists pair cell by cell across
 * chunks, then what is left of t with p's tail. */
static int pair_next(struct frame *f, term *t, term *p) {
    if (f->a.chunk.type == TERM_TUPLE) {
        if (f->a.i == f->a.chunk.size)
            return 0;
        *p = f->b.chunk.u.elements[f->a.i];
        *t = f->a.chunk.u.elements[f->a.i++];
        return 1;
    }
    if (f->left == 0)
        return 0;
    if (walk_next(&f->b, p))
        return walk_next(&f->a, t) ? 1 : -1;
    f->left = 0;
    *t = walk_rest(&f->a);
    *p = walk_rest(&f->b);
    return 1;
}

/* True when f has no pair left: a new frame may take its place. */
static bool pairs_spent(const struct frame *f) {
    return f->a.chunk.type == TERM_TUPLE ? f->a.i == f->a.chunk.size : f->left == 0;
}

/* Compares the items of the compound terms t and p, of one shape, pair by
 * pair, depth first, stopping at the first pair that differs. */
__attribute__((noinline)) static bool agree_inside(term t, term p, bool matching) {
    struct walk_stack s;
    walk_init(&s);
    enum agreement r = DESCEND;
    for (int more = 1; more > 0 && r != DIFFER;) {
        if (r == DESCEND) {
            struct frame *f = s.n && pairs_spent(&s.v[s.n - 1]) ? &s.v[s.n - 1]
                                                                 : walk_push(&s);
            *f = (struct frame){.a = {t, 0}, .b = {p, 0}, .left = 1};
        }
        while (s.n && (more = pair_next(&s.v[s.n - 1], &t, &p)) == 0)
            s.n--;
        r = more > 0 ? agree_outside(t, p, matching) : more < 0 ? DIFFER : AGREE;
    }
    walk_free(&s);
    return r != DIFFER;
}

static bool eq_at(term a, term b, int depth);
static bool match_at(term t, term p, int depth);

/* The cells of lists t and p, compared by recursion: element by element
 * across chunks, then what is left of t with p's tail. Out of line, so that
 * eq_at and match_at stay small for the tuples most messages are. */
__attribute__((noinline)) static bool
lists_at(term t, term p, bool matching, int depth) {
    bool (*same)(term, term, int) = matching ? match_at : eq_at;
    struct list_walk wt = {t, 0}, wp = {p, 0};
    term et, ep;
    while (walk_next(&wp, &ep))
        if (!walk_next(&wt, &et) || !same(et, ep, depth))
            return false;
    return same(walk_rest(&wt), walk_rest(&wp), depth);
}

/* As agree_inside, by recursion: the small terms most messages are compare
 * fastest so. Inlined into eq_at. */
static inline __attribute__((always_inline)) bool
agree_items(term t, term p, bool matching, int depth) {
    bool (*same)(term, term, int) = matching ? match_at : eq_at;
    if (t.type != TERM_TUPLE)
        return lists_at(t, p, matching, depth);
    for (uint32_t i = 0; i < t.size; i++)
        if (!same(t.u.elements[i], p.u.elements[i], depth))
            return false;
    return true;
}

/* term_eq, recursing depth levels more, then walking. */
static bool eq_at(term a, term b, int depth) {
    enum agreement r = agree_outside(a, b, false);
    if (r != DESCEND)
        return r == AGREE;
    return depth ? agree_items(a, b, false, depth - 1) : agree_inside(a, b, false);
}

/* A leaf pattern against t: 1 when they match (a VAR binds), 0 when they
 * do not, -1 when p is neither a variable, an atom nor an integer and
 * match_at must look further. Inlined where match_at loops over a tuple. */
static inline __attribute__((always_inline)) int match_leaf(term t, term p) {
    if (p.type == TERM_VAR) {
        if (p.u.bind)
            *p.u.bind = t;
        return 1;
    }
    if (p.type != t.type)
        return 0;
    switch (p.type) {
    case TERM_ATOM: return t.u.atom == p.u.atom || strcmp(t.u.atom, p.u.atom) == 0;
    case TERM_INT: return t.u.integer == p.u.integer;
    default: return -1;
    }
}

/* match, recursing depth levels more, then walking. Written out rather
 * than through agree_outside: receive runs it on every message it scans.
 * Speed-up (cast path): a tuple's leaf elements (a tag, a variable, a
 * count) are matched in the loop, without a call each; with receive's ANY
 * (mailbox.c), a cast took 1327 instructions, 1261 now (callgrind). The
 * speed-ups marked "cast path" together: 1327 -> 1153 instructions,
 * cast_per_s 11.2 -> 13.6 M/s (medians of 21 runs interleaved). */
static bool match_at(term t, term p, int depth) {
    int leaf = match_leaf(t, p);
    if (leaf >= 0)
        return leaf;
    switch (p.type) {
    case TERM_TUPLE: break;
    case TERM_LIST:
        if (p.size && t.size)
            return depth ? lists_at(t, p, true, depth - 1) : agree_inside(t, p, true);
        return t.size == p.size;
    default: return eq_at(t, p, 0);
    }
    if (p.size != t.size)
        return false;
    if (depth == 0)
        return p.size == 0 || agree_inside(t, p, true);
    for (uint32_t i = 0; i < p.size; i++) {
        leaf = match_leaf(t.u.elements[i], p.u.elements[i]);
        if (leaf == 0 || (leaf < 0 && !match_at(t.u.elements[i], p.u.elements[i], depth - 1)))
            return false;
    }
    return true;
}

bool term_eq(term a, term b) {
    return eq_at(a, b, SMALL_DEPTH);
}

bool match(term t, term p) {
    return match_at(t, p, SMALL_DEPTH);
}

/* ---- Copying ------------------------------------------------------------- */

/* A copy flattens a list: all its cells go in one chunk (Erlang cannot tell
 * chunks apart), up to UINT32_MAX of them, the most a chunk's size holds; a
 * longer list's copy is a chain of such chunks. Measuring and copying walk
 * alike, so term_heap_size is exactly what term_copy_into uses. */

static size_t round8(size_t n) { return (n + 7) & ~(size_t)7; }

/* The cells of list l that a copy puts in its first chunk. */
static uint32_t chunk_cells(term l) {
    uint64_t n = 0;
    for (; l.type == TERM_LIST && l.size > 0; l = l.u.elements[l.size])
        if ((n += l.size) >= UINT32_MAX)
            return UINT32_MAX;
    return (uint32_t)n;
}

/* Starts f on compound t, whose copy has `cells` elements (and a tail when
 * t is a list). Returns the terms the copy of t stores. */
static uint64_t frame_start(struct frame *f, term t, uint32_t cells, term *to) {
    uint64_t n = cells + (uint64_t)(t.type == TERM_LIST);
    *f = (struct frame){.a = {t, 0}, .to = to, .left = n};
    return n;
}

/* The next item of f's term: a tuple's next element, a list's next cell,
 * and after f's cells the rest of the list. f must have one left. */
static term frame_take(struct frame *f) {
    f->left--;
    if (f->a.chunk.type == TERM_TUPLE)
        return f->a.chunk.u.elements[f->a.i++];
    term e;
    if (f->left > 0 && walk_next(&f->a, &e))
        return e;
    return walk_rest(&f->a);
}

/* The frame for a compound item of s's innermost frame: that frame itself
 * when the item was its last. */
static struct frame *frame_for_item(struct walk_stack *s) {
    return s->v[s->n - 1].left == 0 ? &s->v[s->n - 1] : walk_push(s);
}

/* Bytes the copy of leaf t takes: a binary's bytes, a remote ref's words. */
static size_t leaf_bytes(term t) {
    if (!term_is_boxed(t))
        return 0;
    return round8(t.type == TERM_BINARY ? t.size : t.size * sizeof(uint32_t));
}

/* Adds add to *bytes; panics, naming the limit, past TERM_HEAP_MAX. */
static void add_bytes(size_t *bytes, size_t add) {
    if (add > TERM_HEAP_MAX - *bytes)
        panic("a copy of this term needs more than TERM_HEAP_MAX "
              "(%zu bytes): it is too big to send or keep", (size_t)TERM_HEAP_MAX);
    *bytes += add;
}

/* The bytes a copy of t's contents takes, walked with a stack of frames. */
__attribute__((noinline)) static size_t measure_walk(term t) {
    struct walk_stack s;
    walk_init(&s);
    size_t bytes = 0;
    frame_start(walk_push(&s), term_tuple(&t, 1), 1, NULL);
    while (s.n) {
        if (s.v[s.n - 1].left == 0) {
            s.n--;
            continue;
        }
        term item = frame_take(&s.v[s.n - 1]);
        if (!is_compound(item)) {
            add_bytes(&bytes, leaf_bytes(item));
            continue;
        }
        uint32_t cells = item.type == TERM_LIST ? chunk_cells(item) : item.size;
        add_bytes(&bytes, frame_start(frame_for_item(&s), item, cells, NULL) * sizeof(term));
    }
    walk_free(&s);
    return bytes;
}

/* True when list t's tail is a list with cells: a copy flattens it, which
 * only the walk does. */
static bool is_chained(term t) {
    if (t.type != TERM_LIST)
        return false;
    term tail = t.u.elements[t.size];
    return tail.type == TERM_LIST && tail.size > 0;
}

/* The elements a compound term stores: a list stores its tail too. */
static uint32_t stored_elements(term t) {
    return t.size + (t.type == TERM_LIST);
}

/* As measure_walk, recursing while depth lasts (see agree_at). */
static size_t measure_at(term t, int depth) {
    if (!is_compound(t))
        return leaf_bytes(t);
    if (depth == 0 || is_chained(t))
        return measure_walk(t);
    uint32_t n = stored_elements(t);
    size_t bytes = n * sizeof(term);
    for (uint32_t i = 0; i < n; i++)
        add_bytes(&bytes, measure_at(t.u.elements[i], depth - 1));
    return bytes;
}

size_t term_heap_size(term t) {
    return measure_at(t, SMALL_DEPTH);
}

/* Where a copy goes: room bytes at base, of which used are taken. */
struct copy_space {
    char *base;         /* start of the copy's memory */
    size_t used;        /* bytes taken so far */
    size_t room;        /* bytes base holds */
};

/* n bytes of the space, or NULL when it has not that many left. */
static void *take_space(struct copy_space *c, size_t n) {
    if (c->room - c->used < n)
        return NULL;
    void *at = c->base + c->used;
    c->used += n;
    return at;
}

/* Copies leaf t into *out, its bytes into c. False when they do not fit. */
static bool copy_leaf(struct copy_space *c, term t, term *out) {
    if (t.type == TERM_VAR)
        t.u.bind = NULL;        /* a pattern variable means nothing elsewhere */
    if (term_is_boxed(t)) {
        size_t n = t.type == TERM_BINARY ? t.size : t.size * sizeof(uint32_t);
        void *at = take_space(c, round8(n));
        if (!at)
            return false;
        t.u.bytes = memcpy(at, t.u.bytes, n);
    }
    *out = t;
    return true;
}

/* Copies compound t into *out: its elements go in c now, their contents
 * when s's walk reaches them. False when the elements do not fit. */
static bool copy_compound(struct copy_space *c, struct walk_stack *s, term t, term *out) {
    uint32_t cells = t.type == TERM_LIST ? chunk_cells(t) : t.size;
    uint64_t n = cells + (uint64_t)(t.type == TERM_LIST);
    term *v = take_space(c, n * sizeof(term));
    if (!v)
        return false;
    frame_start(frame_for_item(s), t, cells, v);
    *out = (term){.type = t.type, .size = cells, .u.elements = v};
    return true;
}

/* Copies t into c, depth first: each compound term's elements, then the
 * contents of each element in turn, so t's own elements come first. */
__attribute__((noinline)) static bool copy_walk(struct copy_space *c, term t, term *out) {
    struct walk_stack s;
    walk_init(&s);
    bool ok = true;
    frame_start(walk_push(&s), term_tuple(&t, 1), 1, out);
    while (ok && s.n) {
        struct frame *f = &s.v[s.n - 1];
        if (f->left == 0) {
            s.n--;
            continue;
        }
        term item = frame_take(f);
        term *to = f->to++;
        ok = is_compound(item) ? copy_compound(c, &s, item, to) : copy_leaf(c, item, to);
    }
    walk_free(&s);
    return ok;
}

/* The copy of a term that is not boxed (immediates, {} and []): itself. */
static inline term copy_unboxed(term t) {
    if (t.type == TERM_VAR)
        t.u.bind = NULL;        /* a pattern variable means nothing elsewhere */
    return t;
}

/* Copies tuple t into *out when none of its elements is boxed ({tick, 1},
 * a pid and a ref): 1 copied, 0 out of room, -1 not such a tuple.
 * Speed-up (cast path): inlined into copy_boxed's loop, for the tuples
 * nested in most messages, without a call each: a cast took 1261
 * instructions, 1209 now (callgrind); see match_at for all of them. */
static inline __attribute__((always_inline)) int
copy_flat_tuple(struct copy_space *c, term t, term *out) {
    if (t.type != TERM_TUPLE)
        return -1;
    for (uint32_t i = 0; i < t.size; i++)
        if (term_is_boxed(t.u.elements[i]))
            return -1;
    term *v = take_space(c, t.size * sizeof(term));
    if (!v)
        return 0;
    for (uint32_t i = 0; i < t.size; i++)
        v[i] = copy_unboxed(t.u.elements[i]);
    t.u.elements = v;
    *out = t;
    return 1;
}

/* As copy_walk, for a t that term_is_boxed, recursing while depth lasts
 * (see agree_at). A chained list goes to the walk, which flattens it, as
 * measure_at does. Speed-up: the elements that are not boxed (most of a
 * message's) are copied here, without a call each: a call_rtt round
 * trip's two copies took 454 instructions, 365 now; a cast's 288, 235
 * (callgrind). match_at does the same (cast path). */
static bool copy_boxed(struct copy_space *c, term t, term *out, int depth) {
    if (!is_compound(t))
        return copy_leaf(c, t, out);
    if (depth == 0 || is_chained(t))
        return copy_walk(c, t, out);
    uint32_t n = stored_elements(t);
    term *v = take_space(c, n * sizeof(term));
    if (!v)
        return false;
    for (uint32_t i = 0; i < n; i++) {
        term item = t.u.elements[i];
        if (term_is_boxed(item)) {
            int flat = copy_flat_tuple(c, item, &v[i]);
            if (flat == 0 || (flat < 0 && !copy_boxed(c, item, &v[i], depth - 1)))
                return false;
        } else {
            v[i] = copy_unboxed(item);
        }
    }
    t.u.elements = v;
    *out = t;
    return true;
}

/* Copies t into c; false when it does not fit. */
static bool copy_at(struct copy_space *c, term t, term *out) {
    if (!term_is_boxed(t)) {
        *out = copy_unboxed(t);
        return true;
    }
    return copy_boxed(c, t, out, SMALL_DEPTH);
}

term term_copy_into(term t, void *buf) {
    struct copy_space c = {buf, 0, SIZE_MAX};
    term copy;
    copy_at(&c, t, &copy);
    return copy;
}

term term_copy_within(term t, void *buf, size_t size) {
    struct copy_space c = {buf, 0, size};
    term copy;
    return copy_at(&c, t, &copy) ? copy : NONE;
}

/* ---- Printing ------------------------------------------------------------ */

/* Where text goes: a buffer that counts what it could not hold, as snprintf
 * does, or a stream. */
struct out {
    char *buf;      /* destination; may be NULL when size is 0 */
    size_t size;    /* bytes buf holds, the NUL included */
    size_t len;     /* bytes the whole text needs so far */
    FILE *file;     /* when not NULL, text goes here instead of buf */
};

static void put_bytes(struct out *o, const void *p, size_t n) {
    if (o->file)
        fwrite(p, 1, n, o->file);
    else if (o->len + 1 < o->size) {
        size_t room = o->size - 1 - o->len;
        memcpy(o->buf + o->len, p, n < room ? n : room);
    }
    o->len += n;
}

static void put_char(struct out *o, char c) {
    put_bytes(o, &c, 1);
}

/* printf into o, for short pieces: numbers, a pid, a character. */
static void put(struct out *o, const char *fmt, ...) {
    char piece[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(piece, sizeof piece, fmt, ap);
    va_end(ap);
    if (n > 0)
        put_bytes(o, piece, (size_t)n < sizeof piece ? (size_t)n : sizeof piece - 1);
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
        put_bytes(o, s, strlen(s));
        return;
    }
    put_char(o, '\'');
    for (; *s; s++) {
        if (*s == '\'' || *s == '\\')
            put_char(o, '\\');
        put_char(o, *s);
    }
    put_char(o, '\'');
}

static bool printable(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] < 32 || p[i] > 126 || p[i] == '"' || p[i] == '\\')
            return false;
    return n > 0;
}

static void put_binary(struct out *o, term t) {
    if (printable(t.u.bytes, t.size)) {
        put_bytes(o, "<<\"", 3);
        put_bytes(o, t.u.bytes, t.size);
        put_bytes(o, "\">>", 3);
        return;
    }
    put_bytes(o, "<<", 2);
    for (uint32_t i = 0; i < t.size; i++)
        put(o, i ? ",%u" : "%u", t.u.bytes[i]);
    put_bytes(o, ">>", 2);
}

static void put_ref(struct out *o, term t) {
    if (t.node == 0) {
        put(o, "#Ref<0.%u.%u>", (unsigned)(t.u.id >> 32), (unsigned)t.u.id);
        return;
    }
    put(o, "#Ref<%u", t.node);
    for (uint32_t i = t.size; i-- > 0;)
        put(o, ".%u", t.u.words[i]);
    put_char(o, '>');
}

/* Prints t, which is not compound: a tuple or list prints empty here. */
static void put_leaf(struct out *o, term t) {
    switch (t.type) {
    case TERM_NONE: put_bytes(o, "none", 4); break;
    case TERM_INT: put(o, "%lld", (long long)t.u.integer); break;
    case TERM_ATOM: put_atom(o, t.u.atom); break;
    case TERM_PID:
        put(o, "<%u.%u.%u>", t.node, (unsigned)(t.u.id >> 32), (unsigned)t.u.id);
        break;
    case TERM_REF: put_ref(o, t); break;
    case TERM_TUPLE: put_bytes(o, "{}", 2); break;
    case TERM_LIST: put_bytes(o, "[]", 2); break;
    case TERM_BINARY: put_binary(o, t); break;
    case TERM_VAR: put_char(o, '_'); break;
    }
}

/* Finds the next item of the innermost frame into *t, printing the
 * separator before it, or closes the frame and looks in the one outside.
 * False when every frame is closed: the term is printed. */
static bool print_next(struct out *o, struct walk_stack *s, term *t) {
    while (s->n) {
        struct frame *f = &s->v[s->n - 1];
        bool tuple = f->a.chunk.type == TERM_TUPLE;
        if (tuple ? f->a.i < f->a.chunk.size : !f->tail && walk_next(&f->a, t)) {
            if (f->left++)
                put_char(o, ',');
            if (tuple)
                *t = f->a.chunk.u.elements[f->a.i++];
            return true;
        }
        if (!tuple && !f->tail) {
            f->tail = true;
            *t = walk_rest(&f->a);
            if (!(t->type == TERM_LIST && t->size == 0)) {
                put_char(o, '|');
                return true;
            }
        }
        put_char(o, tuple ? '}' : ']');
        s->n--;
    }
    return false;
}

/* Prints t depth first, one frame per tuple or list it is inside. */
static void put_term(struct out *o, term t) {
    struct walk_stack s;
    walk_init(&s);
    do {
        if (is_compound(t)) {
            put_char(o, t.type == TERM_TUPLE ? '{' : '[');
            *walk_push(&s) = (struct frame){.a = {t, 0}};
        } else
            put_leaf(o, t);
    } while (print_next(o, &s, &t));
    walk_free(&s);
}

int term_format(char *buf, size_t n, term t) {
    struct out o = {buf, n, 0, NULL};
    put_term(&o, t);
    if (n)
        buf[o.len < n ? o.len : n - 1] = '\0';
    if (o.len > INT_MAX) {
        errno = EOVERFLOW;
        return -1;
    }
    return (int)o.len;
}

void term_print(FILE *out, term t) {
    struct out o = {NULL, 0, 0, out};
    put_term(&o, t);
}
