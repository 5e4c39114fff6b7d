/*
 * config.c - a config file (Erlang term syntax) read into terms: the arena
 * that owns them, the parser, where each part was written, and the
 * sys.config accessors. See config.h for the contract; config_lex.c reads
 * the tokens.
 *
 * Why not libei's parser (ei_x_format_wo_ver, the one ei has that reads
 * Erlang-like text): it reports a failure as -1 with no line or column; it
 * knows no binaries (<<"x">> fails) and no 16#ff or $a; it stops at the
 * end of the first term and ignores what follows ("[a]}" and "16#ff" read
 * as [a] and 16), so a typo can pass unseen; its result is an external
 * term format buffer that would need decoding again; and it would make the
 * otp layer depend on libei, which only the node layer links. Config files
 * are written by hand, and the message for a typo is the point: so this
 * parser is our own.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_lex.h"

/* ---- The config and its arena -------------------------------------------- */

/* A block of the arena: terms and bytes, never moved or freed before the
 * config is. */
struct chunk {
    struct chunk *next;     /* the block allocated before this one */
    size_t used;            /* bytes of data handed out */
    size_t size;            /* bytes of data */
    _Alignas(16) unsigned char data[];
};

/* Where one term slot of the arena was written. */
struct pos {
    const term *slot;       /* the slot's address */
    int line, col;          /* from 1 */
};

/*
 * A config owns every tuple's and list's elements and every binary's bytes
 * of its term, in chunks; pos lists where each slot was written, sorted by
 * address once the parse is done (config_where searches it). Nothing
 * changes after config_parse returns.
 */
struct config {
    char *file;             /* the name given to config_parse (a copy) */
    struct chunk *chunks;   /* the arena, newest block first */
    term *root;             /* the term the file holds, in the arena */
    struct pos *pos;        /* where each slot was written */
    size_t npos;            /* entries in pos */
    size_t pos_cap;         /* pos's capacity */
};

#define CHUNK_MIN 16384     /* bytes of data in a block, at least */

/* n bytes (16-aligned) from cfg's arena; NULL when memory runs out. */
static void *arena_alloc(struct config *cfg, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct chunk *c = cfg->chunks;
    if (!c || c->size - c->used < n) {
        size_t size = n > CHUNK_MIN ? n : CHUNK_MIN;
        c = malloc(sizeof *c + size);
        if (!c)
            return NULL;
        c->next = cfg->chunks;
        c->used = 0;
        c->size = size;
        cfg->chunks = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

/* Records that slot was written at line:col. */
static bool add_pos(struct config *cfg, const term *slot, int line, int col)
{
    if (cfg->npos == cfg->pos_cap) {
        size_t cap = cfg->pos_cap ? cfg->pos_cap * 2 : 256;
        struct pos *p = realloc(cfg->pos, cap * sizeof *p);
        if (!p)
            return false;
        cfg->pos = p;
        cfg->pos_cap = cap;
    }
    cfg->pos[cfg->npos++] = (struct pos){slot, line, col};
    return true;
}

void config_free(struct config *cfg)
{
    if (!cfg)
        return;
    for (struct chunk *c = cfg->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(cfg->pos);
    free(cfg->file);
    free(cfg);
}

/* ---- The parser ---------------------------------------------------------- */

/* A term read, with where it started. */
struct item {
    term t;
    int line, col;
};

/* A tuple or list being read: its elements so far. */
struct frame {
    enum tok_kind open;     /* T_LBRACE or T_LBRACKET */
    int line, col;          /* where it opened */
    struct item *v;         /* the elements read so far */
    size_t n, cap;          /* how many, and v's capacity */
    bool tail_next;         /* a list after '|': the next term is its tail */
};

/* The parser: the lexer, the config being built and the stack of open
 * tuples and lists (on the heap, so any depth is read without recursion). */
struct parser {
    struct lexer lx;
    struct config *cfg;
    struct frame *stack;    /* open tuples and lists, innermost last */
    size_t depth, stack_cap;
};

static bool no_memory(struct parser *ps)
{
    errno = ENOMEM;
    return lex_fail(&ps->lx, ps->lx.line, 1, "out of memory");
}

/* Copies n items into a fresh array of the arena (plus a tail slot for a
 * list), recording their positions. Returns the array, or NULL. */
static term *store(struct parser *ps, const struct item *v, size_t n, size_t extra)
{
    term *a = arena_alloc(ps->cfg, (n + extra) * sizeof *a);
    if (!a)
        return no_memory(ps), NULL;
    for (size_t i = 0; i < n; i++) {
        a[i] = v[i].t;
        if (!add_pos(ps->cfg, &a[i], v[i].line, v[i].col))
            return no_memory(ps), NULL;
    }
    return a;
}

/* The list of a string token's code points (Erlang's strings are lists). */
static bool string_term(struct parser *ps, const struct token *t, term *out)
{
    if (t->ncps == 0) {
        *out = NIL;
        return true;
    }
    term *a = arena_alloc(ps->cfg, (t->ncps + 1) * sizeof *a);
    if (!a)
        return no_memory(ps);
    for (size_t i = 0; i < t->ncps; i++) {
        a[i] = INT(t->cps[i]);
        if (!add_pos(ps->cfg, &a[i], t->line, t->col))
            return no_memory(ps);
    }
    a[t->ncps] = NIL;
    *out = term_list(a, t->ncps);
    return true;
}

/* Appends the bytes of one binary segment to buf (growing it). */
static bool grow_bytes(struct parser *ps, unsigned char **buf, size_t *n,
                       size_t *cap, size_t more)
{
    if (*n + more <= *cap)
        return true;
    size_t c = (*cap ? *cap * 2 : 64) + more;
    unsigned char *b = realloc(*buf, c);
    if (!b)
        return no_memory(ps);
    *buf = b;
    *cap = c;
    return true;
}

/* One segment of a binary: "text", "text"/utf8, or an integer 0..255. */
static bool binary_segment(struct parser *ps, const struct token *t,
                           unsigned char **buf, size_t *n, size_t *cap)
{
    char found[64];
    if (t->kind == T_INT) {
        if (t->integer < 0 || t->integer > 255)
            return lex_fail(&ps->lx, t->line, t->col, "binary segment %lld is "
                            "not a byte (0..255)", (long long)t->integer);
        if (!grow_bytes(ps, buf, n, cap, 1))
            return false;
        (*buf)[(*n)++] = (unsigned char)t->integer;
        return true;
    }
    if (t->kind != T_STRING)
        return lex_fail(&ps->lx, t->line, t->col, "expected a string or a byte "
                        "in a binary, found %s", lex_describe(t, found, sizeof found));
    struct token s = *t, u;
    size_t ncps = s.ncps;
    uint32_t *cps = malloc((ncps ? ncps : 1) * sizeof *cps); /* the next token reuses them */
    if (!cps)
        return no_memory(ps);
    if (ncps)
        memcpy(cps, s.cps, ncps * sizeof *cps);
    bool utf8 = false, ok = lex_next(&ps->lx, &u);
    if (ok && u.kind == T_SLASH) {
        ok = lex_next(&ps->lx, &u);
        if (ok && !(u.kind == T_ATOM && strcmp(u.text, "utf8") == 0))
            ok = lex_fail(&ps->lx, u.line, u.col, "only /utf8 may follow a string "
                          "in a binary, found %s", lex_describe(&u, found, sizeof found));
        utf8 = true;
    } else if (ok) {
        lex_unread(&ps->lx, &u);
    }
    for (size_t i = 0; ok && i < ncps; i++) {
        uint32_t c = cps[i];
        if (!utf8 && c > 255)
            ok = lex_fail(&ps->lx, s.line, s.col, "character %u is beyond 255 in a "
                          "binary (write <<\"...\"/utf8>>)", (unsigned)c);
        else if ((ok = grow_bytes(ps, buf, n, cap, 4))) {
            if (!utf8 || c < 0x80)
                (*buf)[(*n)++] = (unsigned char)c;
            else {
                int k = c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
                for (int j = k - 1; j > 0; j--, c >>= 6)
                    (*buf)[*n + (size_t)j] = (unsigned char)(0x80 | (c & 0x3F));
                (*buf)[*n] = (unsigned char)((k == 2 ? 0xC0 : k == 3 ? 0xE0 : 0xF0) | c);
                *n += (size_t)k;
            }
        }
    }
    free(cps);
    return ok;
}

/* A binary, just past its <<. */
static bool binary(struct parser *ps, term *out)
{
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;
    struct token t;
    char found[64];
    bool ok = lex_next(&ps->lx, &t);
    if (ok && t.kind != T_RBIN) {
        for (;;) {
            if (!(ok = binary_segment(ps, &t, &buf, &n, &cap) && lex_next(&ps->lx, &t)))
                break;
            if (t.kind == T_RBIN)
                break;
            if (t.kind != T_COMMA) {
                ok = lex_fail(&ps->lx, t.line, t.col, "expected ',' or '>>' after a "
                              "binary segment, found %s%s",
                              lex_describe(&t, found, sizeof found),
                              t.kind == T_EOF ? " (the binary is not closed)" : "");
                break;
            }
            if (!(ok = lex_next(&ps->lx, &t)))
                break;
        }
    }
    unsigned char *bytes = ok && n ? arena_alloc(ps->cfg, n) : NULL;
    if (ok && n && !bytes)
        ok = no_memory(ps);
    if (ok && n)
        memcpy(bytes, buf, n);
    if (ok)
        *out = term_binary(n ? bytes : (const void *)"", n);  /* never NULL bytes */
    free(buf);
    return ok;
}

/* ---- The parser's stack -------------------------------------------------- */

static bool push_frame(struct parser *ps, const struct token *t)
{
    if (ps->depth == ps->stack_cap) {
        size_t cap = ps->stack_cap ? ps->stack_cap * 2 : 16;
        struct frame *s = realloc(ps->stack, cap * sizeof *s);
        if (!s)
            return no_memory(ps);
        ps->stack = s;
        ps->stack_cap = cap;
    }
    ps->stack[ps->depth++] = (struct frame){.open = t->kind, .line = t->line,
                                            .col = t->col};
    return true;
}

static bool frame_add(struct parser *ps, struct frame *f, struct item it)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        struct item *v = realloc(f->v, cap * sizeof *v);
        if (!v)
            return no_memory(ps);
        f->v = v;
        f->cap = cap;
    }
    f->v[f->n++] = it;
    return true;
}

/* Closes the innermost frame into its term; tail is the list's tail item
 * (or NULL for NIL). */
static bool pop_frame(struct parser *ps, const struct item *tail, struct item *out)
{
    struct frame *f = &ps->stack[ps->depth - 1];
    bool list = f->open == T_LBRACKET;
    term t = list ? NIL : term_tuple(NULL, 0);
    if (f->n > 0 || tail) {
        term *a = store(ps, f->v, f->n, list ? 1 : 0);
        if (!a)
            return false;
        if (list) {
            a[f->n] = tail ? tail->t : NIL;
            if (tail && !add_pos(ps->cfg, &a[f->n], tail->line, tail->col))
                return no_memory(ps);
        }
        t = list ? term_list(a, f->n) : term_tuple(a, f->n);
    }
    *out = (struct item){t, f->line, f->col};
    free(f->v);
    ps->depth--;
    return true;
}

/* ---- The grammar --------------------------------------------------------- */

/* "found X", with the innermost open tuple or list named at the end. */
static bool expected(struct parser *ps, const struct token *t, const char *what)
{
    char found[64];
    const struct frame *f = ps->depth ? &ps->stack[ps->depth - 1] : NULL;
    if (t->kind == T_EOF && f)
        return lex_fail(&ps->lx, t->line, t->col, "expected %s, found end of file "
                        "(the %s opened at %d:%d is not closed)", what,
                        f->open == T_LBRACKET ? "list" : "tuple", f->line, f->col);
    return lex_fail(&ps->lx, t->line, t->col, "expected %s, found %s", what,
                    lex_describe(t, found, sizeof found));
}

/* Reads one term that is not a tuple or list (or opens one: *opened). */
static bool value(struct parser *ps, struct item *out, bool *opened)
{
    struct token t;
    *opened = false;
    if (!lex_next(&ps->lx, &t))
        return false;
    out->line = t.line;
    out->col = t.col;
    switch (t.kind) {
    case T_LBRACE:
    case T_LBRACKET: {
        struct token next;
        if (!push_frame(ps, &t) || !lex_next(&ps->lx, &next))
            return false;
        if (next.kind == (t.kind == T_LBRACE ? T_RBRACE : T_RBRACKET))
            return pop_frame(ps, NULL, out);        /* {} or [] */
        lex_unread(&ps->lx, &next);
        *opened = true;
        return true;
    }
    case T_LBIN: return binary(ps, &out->t);
    case T_ATOM:
        out->t = atom_from(t.text);
        return true;
    case T_INT:
        out->t = INT(t.integer);
        return true;
    case T_STRING: return string_term(ps, &t, &out->t);
    default: return expected(ps, &t, "a term");
    }
}

/* The term just read (it) goes into the innermost frame, or, with none
 * open, is the whole term: then a '.' and the end must follow. Sets *more
 * when a further element is to be read. */
static bool after_value(struct parser *ps, struct item it, bool *more)
{
    struct token t;
    for (;;) {
        if (ps->depth == 0) {
            if (!lex_next(&ps->lx, &t))
                return false;
            if (t.kind != T_DOT)
                return expected(ps, &t, "'.' after the term");
            if (!lex_next(&ps->lx, &t))
                return false;
            if (t.kind != T_EOF)
                return expected(ps, &t, "nothing after the final '.'");
            ps->cfg->root = store(ps, &it, 1, 0);
            *more = false;
            return ps->cfg->root != NULL;
        }
        struct frame *f = &ps->stack[ps->depth - 1];
        bool list = f->open == T_LBRACKET;
        if (!lex_next(&ps->lx, &t))
            return false;
        if (f->tail_next) {
            if (t.kind != T_RBRACKET)
                return expected(ps, &t, "']' after the tail of a list");
            if (!pop_frame(ps, &it, &it))
                return false;
            continue;
        }
        if (!frame_add(ps, f, it))
            return false;
        if (t.kind == T_COMMA || (list && t.kind == T_BAR)) {
            f->tail_next = t.kind == T_BAR;
            *more = true;
            return true;
        }
        if (t.kind != (list ? T_RBRACKET : T_RBRACE))
            return expected(ps, &t, list ? "',' or ']' after a list element"
                                         : "',' or '}' after a tuple element");
        if (!pop_frame(ps, NULL, &it))
            return false;
    }
}

/* The whole text: one term and a '.'. */
static bool parse(struct parser *ps)
{
    for (;;) {
        struct item it;
        bool opened, more = false;
        if (!value(ps, &it, &opened))
            return false;
        if (opened)
            continue;
        if (!after_value(ps, it, &more))
            return false;
        if (!more)
            return true;
    }
}

static int pos_order(const void *a, const void *b)
{
    const term *x = ((const struct pos *)a)->slot, *y = ((const struct pos *)b)->slot;
    return x < y ? -1 : x > y;
}

struct config *config_parse(const char *file, const char *text, size_t len,
                            char *err, size_t errlen)
{
    if (errlen)
        err[0] = 0;
    struct config *cfg = calloc(1, sizeof *cfg);
    char *name = strdup(file ? file : "config");
    if (!cfg || !name) {
        free(cfg);
        free(name);
        snprintf(err, errlen, "%s: out of memory", file ? file : "config");
        errno = ENOMEM;
        return NULL;
    }
    cfg->file = name;
    struct parser ps = {.cfg = cfg, .lx = {.file = name, .p = text, .end = text + len,
                                           .line_start = text, .line = 1,
                                           .err = err, .errlen = errlen}};
    bool ok = parse(&ps);
    while (ps.depth)
        free(ps.stack[--ps.depth].v);
    free(ps.stack);
    lex_free(&ps.lx);
    if (!ok) {
        config_free(cfg);
        return NULL;
    }
    qsort(cfg->pos, cfg->npos, sizeof *cfg->pos, pos_order);
    return cfg;
}

/* ---- Looking inside ------------------------------------------------------ */

term config_term(const struct config *cfg) { return *cfg->root; }

const char *config_file(const struct config *cfg) { return cfg->file; }

const term *config_root_slot(const struct config *cfg) { return cfg->root; }

bool config_where(const struct config *cfg, const term *slot, int *line, int *col)
{
    struct pos key = {.slot = slot};
    const struct pos *p = slot ? bsearch(&key, cfg->pos, cfg->npos, sizeof *p,
                                         pos_order) : NULL;
    if (!p)
        return false;
    *line = p->line;
    *col = p->col;
    return true;
}

int config_error(const struct config *cfg, const term *slot, char *err,
                 size_t errlen, const char *fmt, ...)
{
    int line, col, n;
    if (!errlen)
        return -1;
    if (config_where(cfg, slot, &line, &col))
        n = snprintf(err, errlen, "%s:%d:%d: ", cfg->file, line, col);
    else
        n = snprintf(err, errlen, "%s: ", cfg->file);
    if (n >= 0 && (size_t)n < errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

struct config *config_read(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t len = 0;
    FILE *mem = f ? open_memstream(&text, &len) : NULL;
    char buf[8192];
    size_t n;
    while (mem && (n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, mem);
    int e = !f ? errno : ferror(f) ? EIO : !mem ? ENOMEM : 0;
    if (mem && fclose(mem) != 0 && !e)
        e = ENOMEM;
    if (f)
        fclose(f);
    if (e) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(e));
        free(text);
        errno = e;
        return NULL;
    }
    struct config *cfg = config_parse(path, text, len, err, errlen);
    free(text);
    return cfg;
}
