/*
 * shell_term.c - Erlang terms read from text, for the shell: stray {a, "b"}.
 * See shell.h for the contract.
 *
 * A recursive-descent reader of the Erlang term syntax the shell needs:
 * integers, atoms (bare or 'quoted'), strings ("..." is a list of
 * character codes, as in Erlang), tuples, lists with an optional | tail,
 * and binaries of bytes or of a string (<<1,2>>, <<"ab">>). Every tuple's
 * or list's elements go in a block of their own, recorded in the
 * shell_term, so that one shell_term_free releases the whole term.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "shell.h"

#define MAX_DEPTH 64    /* nesting the reader accepts: it recurses */

/* The reader's state over one text. */
struct reader {
    const char *p;              /* the next character to read */
    struct shell_term *t;       /* where the blocks are recorded */
    char *why;                  /* the error, when there is one */
    size_t why_size;            /* bytes at why */
    int depth;                  /* tuples and lists open around p */
};

/* Records an error (the first one wins) and returns false. */
__attribute__((format(printf, 2, 3)))
static bool fail(struct reader *r, const char *fmt, ...)
{
    if (r->why[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->why, r->why_size, fmt, ap);
        va_end(ap);
    }
    return false;
}

/* The text left, for "syntax error before: ...": at most 12 characters. */
static bool fail_before(struct reader *r)
{
    if (*r->p == '\0')
        return fail(r, "the term ends too soon");
    return fail(r, "syntax error before: %.12s", r->p);
}

/* A block of n terms that the shell_term owns, or NULL (out of memory). */
static term *block(struct reader *r, size_t n)
{
    if (r->t->nblocks == r->t->cap) {
        size_t cap = r->t->cap ? 2 * r->t->cap : 8;
        void **b = realloc(r->t->blocks, cap * sizeof *b);
        if (!b)
            return NULL;
        r->t->blocks = b;
        r->t->cap = cap;
    }
    term *v = malloc((n ? n : 1) * sizeof *v);
    if (v)
        r->t->blocks[r->t->nblocks++] = v;
    return v;
}

static void skip_blanks(struct reader *r)
{
    while (isspace((unsigned char)*r->p))
        r->p++;
}

static bool read_term(struct reader *r, term *out);

/* Terms separated by commas up to close: the elements of a tuple, list or
 * binary. Stores them in a growing array *v (realloc'd; the caller frees)
 * and their number in *n. For a list, stops at | too (*bar set). */
static bool read_elements(struct reader *r, char close, bool list, term **v,
                          size_t *n, bool *bar)
{
    size_t cap = 0;
    *v = NULL, *n = 0, *bar = false;
    skip_blanks(r);
    if (*r->p == close)
        return true;
    for (;;) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 4;
            term *grown = realloc(*v, cap * sizeof *grown);
            if (!grown)
                return fail(r, "out of memory");
            *v = grown;
        }
        if (!read_term(r, &(*v)[(*n)++]))
            return false;
        skip_blanks(r);
        if (*r->p == ',') {
            r->p++;
            continue;
        }
        if (list && *r->p == '|') {
            r->p++;
            *bar = true;
        }
        return true;
    }
}

/* Copies the n terms at v (and a tail, for a list) into a block of the
 * shell_term, so that the term outlives the reader's arrays. */
static bool keep(struct reader *r, const term *v, size_t n, term tail, term **kept)
{
    *kept = block(r, n + 1);
    if (!*kept)
        return fail(r, "out of memory");
    if (n > 0)
        memcpy(*kept, v, n * sizeof *v);
    (*kept)[n] = tail;
    return true;
}

/* {A, B, ...} or [A, B | T], after the opening bracket. */
static bool read_compound(struct reader *r, bool list, term *out)
{
    char close = list ? ']' : '}';
    term *v, *kept, tail = NIL;
    size_t n;
    bool bar, ok = false;
    if (++r->depth > MAX_DEPTH) {
        fail(r, "nested more than %d deep", MAX_DEPTH);
        goto done;
    }
    if (!read_elements(r, close, list, &v, &n, &bar))
        goto free_v;
    if (bar && n == 0) {        /* [| T] */
        fail(r, "syntax error before: |");
        goto free_v;
    }
    if (bar) {
        if (!read_term(r, &tail))
            goto free_v;
        skip_blanks(r);
    }
    if (*r->p != close) {
        fail_before(r);
        goto free_v;
    }
    r->p++;
    if (!keep(r, v, n, tail, &kept))
        goto free_v;
    *out = list ? term_list(kept, n) : term_tuple(kept, n);
    ok = true;
free_v:
    free(v);
done:
    r->depth--;
    return ok;
}

/* One character of a quoted atom or string, with Erlang's escapes. Returns
 * the byte, or -1 at the end of the text. */
static int quoted_char(struct reader *r)
{
    if (*r->p == '\0')
        return -1;
    char c = *r->p++;
    if (c != '\\' || *r->p == '\0')
        return (unsigned char)c;
    c = *r->p++;
    switch (c) {
    case 'n': return '\n';
    case 't': return '\t';
    case 'r': return '\r';
    case 's': return ' ';
    case 'e': return 27;
    case '0': return 0;
    default: return (unsigned char)c;      /* \\ \" \' and the rest */
    }
}

/* The characters up to the closing quote q, into buf (size n). Returns the
 * number of bytes, or -1 after recording the error. */
static long read_quoted(struct reader *r, char q, char *buf, size_t n)
{
    size_t len = 0;
    while (*r->p != q) {
        int c = quoted_char(r);
        if (c < 0)
            return fail(r, "missing the closing %c", q), -1;
        if (len + 1 >= n)
            return fail(r, "a quoted text longer than %zu bytes", n - 1), -1;
        buf[len++] = (char)c;
    }
    r->p++;
    buf[len] = '\0';
    return (long)len;
}

/* 'quoted atom', after the quote. */
static bool read_quoted_atom(struct reader *r, term *out)
{
    char buf[SHELL_MAX_LINE];
    long n = read_quoted(r, '\'', buf, sizeof buf);
    if (n < 0)
        return false;
    *out = atom_from(buf);
    return is_none(*out) ? fail(r, "an atom longer than 255 bytes") : true;
}

/* "a string", after the quote: a list of character codes. */
static bool read_string(struct reader *r, term *out)
{
    char buf[SHELL_MAX_LINE];
    long n = read_quoted(r, '"', buf, sizeof buf);
    if (n < 0)
        return false;
    term *v = block(r, (size_t)n + 1);
    if (!v)
        return fail(r, "out of memory");
    for (long i = 0; i < n; i++)
        v[i] = INT((unsigned char)buf[i]);
    v[n] = NIL;
    *out = term_list(v, (size_t)n);
    return true;
}

/* <<"text">> or <<1, 2, 3>>, after the <<. */
static bool read_binary(struct reader *r, term *out)
{
    char buf[SHELL_MAX_LINE];
    size_t n = 0;
    skip_blanks(r);
    if (*r->p == '"') {
        r->p++;
        long len = read_quoted(r, '"', buf, sizeof buf);
        if (len < 0)
            return false;
        n = (size_t)len;
    } else {
        while (*r->p != '>') {
            char *end;
            long b = strtol(r->p, &end, 10);
            if (end == r->p || b < 0 || b > 255 || n == sizeof buf)
                return fail(r, "a binary holds bytes 0..255: syntax error "
                            "before: %.12s", r->p);
            buf[n++] = (char)b;
            r->p = end;
            skip_blanks(r);
            if (*r->p == ',')
                r->p++, skip_blanks(r);
        }
    }
    skip_blanks(r);
    if (strncmp(r->p, ">>", 2) != 0)
        return fail_before(r);
    r->p += 2;
    term *v = block(r, n / sizeof(term) + 1);   /* the bytes, in a block */
    if (!v)
        return fail(r, "out of memory");
    memcpy(v, buf, n);
    *out = term_binary(v, n);
    return true;
}

/* An integer, or a bare atom (a lowercase letter, then letters, digits,
 * _ and @). */
static bool read_word(struct reader *r, term *out)
{
    const char *start = r->p;
    if (*r->p == '-' || *r->p == '+' || isdigit((unsigned char)*r->p)) {
        char buf[32];
        r->p += (*r->p == '-' || *r->p == '+');
        while (isdigit((unsigned char)*r->p))
            r->p++;
        int64_t v;
        size_t len = (size_t)(r->p - start);
        snprintf(buf, sizeof buf, "%.*s", (int)(len < 31 ? len : 31), start);
        if (len >= sizeof buf || shell_parse_int(buf, &v) < 0)
            return fail(r, "\"%.*s\" is no 64-bit integer", (int)len, start);
        *out = INT(v);
        return true;
    }
    if (!islower((unsigned char)*r->p))
        return fail_before(r);
    while (isalnum((unsigned char)*r->p) || *r->p == '_' || *r->p == '@')
        r->p++;
    char buf[256];
    size_t len = (size_t)(r->p - start);
    if (len >= sizeof buf)
        return fail(r, "an atom longer than 255 bytes");
    memcpy(buf, start, len);
    buf[len] = '\0';
    *out = atom_from(buf);
    return true;
}

static bool read_term(struct reader *r, term *out)
{
    skip_blanks(r);
    switch (*r->p) {
    case '{': r->p++; return read_compound(r, false, out);
    case '[': r->p++; return read_compound(r, true, out);
    case '\'': r->p++; return read_quoted_atom(r, out);
    case '"': r->p++; return read_string(r, out);
    case '<':
        if (r->p[1] != '<')
            return fail(r, "pids cannot be typed: syntax error before: %.12s",
                        r->p);
        r->p += 2;
        return read_binary(r, out);
    default: return read_word(r, out);
    }
}

int shell_term_parse(const char *text, struct shell_term *t, char *why,
                     size_t why_size)
{
    *t = (struct shell_term){.value = NONE};
    struct reader r = {.p = text, .t = t, .why = why, .why_size = why_size};
    why[0] = '\0';
    term v;
    bool ok = read_term(&r, &v);
    if (ok) {
        skip_blanks(&r);
        if (*r.p == '.')            /* the full stop that ends an expression */
            r.p++, skip_blanks(&r);
        ok = *r.p == '\0' || fail_before(&r);
    }
    if (!ok) {
        shell_term_free(t);
        errno = EINVAL;
        return -1;
    }
    t->value = v;
    return 0;
}

void shell_term_free(struct shell_term *t)
{
    for (size_t i = 0; i < t->nblocks; i++)
        free(t->blocks[i]);
    free(t->blocks);
    *t = (struct shell_term){.value = NONE};
}
