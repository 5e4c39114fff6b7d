/*
 * config_lex.c - the lexer of Erlang's term syntax for config.c: atoms,
 * integers, strings, characters, punctuation, comments; UTF-8 decoded and
 * escapes resolved. See config_lex.h for the invariant every read keeps.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_lex.h"

#define ATOM_MAX 255    /* bytes in an atom's name, Erlang's limit */

/* ---- Errors and scratch -------------------------------------------------- */

bool lex_fail(struct lexer *lx, int line, int col, const char *fmt, ...)
{
    if (lx->failed)
        return false;
    lx->failed = true;
    if (!lx->errlen)
        return false;
    int n = snprintf(lx->err, lx->errlen, "%s:%d:%d: ", lx->file, line, col);
    if (n >= 0 && (size_t)n < lx->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(lx->err + n, lx->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return false;
}

static int col_of(const struct lexer *lx, const char *at)
{
    return (int)(at - lx->line_start) + 1;
}

static bool out_of_memory(struct lexer *lx)
{
    errno = ENOMEM;
    return lex_fail(lx, lx->line, col_of(lx, lx->p), "out of memory");
}

/* Makes room for one more code point after n in lx->cps. */
static bool push_cp(struct lexer *lx, size_t *n, uint32_t cp)
{
    if (*n == lx->cps_cap) {
        size_t cap = lx->cps_cap ? lx->cps_cap * 2 : 64;
        uint32_t *v = realloc(lx->cps, cap * sizeof *v);
        if (!v)
            return out_of_memory(lx);
        lx->cps = v;
        lx->cps_cap = cap;
    }
    lx->cps[(*n)++] = cp;
    return true;
}

void lex_free(struct lexer *lx)
{
    free(lx->scratch);
    free(lx->cps);
    lx->scratch = NULL;
    lx->cps = NULL;
}

/* ---- Characters ---------------------------------------------------------- */

/* Steps over one byte, counting lines. */
static void advance(struct lexer *lx)
{
    if (*lx->p++ == '\n') {
        lx->line++;
        lx->line_start = lx->p;
    }
}

static bool at_end(const struct lexer *lx) { return lx->p >= lx->end; }

/* The byte at p + k, or -1 past the end. */
static int peek(const struct lexer *lx, size_t k)
{
    return (size_t)(lx->end - lx->p) > k ? (unsigned char)lx->p[k] : -1;
}

/* Reads one UTF-8 encoded character at p into *cp. */
static bool utf8_char(struct lexer *lx, uint32_t *cp)
{
    int line = lx->line, col = col_of(lx, lx->p);
    unsigned c = (unsigned char)*lx->p;
    int more = c < 0x80 ? 0 : c >= 0xC2 && c < 0xE0 ? 1 : c >= 0xE0 && c < 0xF0 ? 2
             : c >= 0xF0 && c < 0xF5 ? 3 : -1;
    if (more < 0)
        return lex_fail(lx, line, col, "invalid UTF-8 (byte 0x%02x)", c);
    uint32_t v = more ? c & (0x3F >> more) : c;
    advance(lx);
    for (int i = 0; i < more; i++) {
        int b = peek(lx, 0);
        if (b < 0 || (b & 0xC0) != 0x80)
            return lex_fail(lx, line, col, "invalid UTF-8 (a truncated sequence)");
        v = v << 6 | (uint32_t)(b & 0x3F);
        advance(lx);
    }
    static const uint32_t least[] = {0, 0x80, 0x800, 0x10000};
    if (v < least[more] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return lex_fail(lx, line, col, "invalid UTF-8 (code point %#x)", v);
    *cp = v;
    return true;
}

static int digit_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'Z')
        return c - 'A' + 10;
    return 99;
}

/* \x{H...} or \xHH, p just past the x. */
static bool hex_escape(struct lexer *lx, uint32_t *cp, int line, int col)
{
    uint64_t v = 0;
    int n = 0;
    bool braced = peek(lx, 0) == '{';
    if (braced)
        advance(lx);
    while ((braced || n < 2) && !at_end(lx) && digit_value(peek(lx, 0)) < 16) {
        v = v * 16 + (uint64_t)digit_value(peek(lx, 0));
        if (v > 0x10FFFF)
            return lex_fail(lx, line, col, "escape beyond the last code point 10FFFF");
        advance(lx);
        n++;
    }
    if (n == 0 || (braced && peek(lx, 0) != '}'))
        return lex_fail(lx, line, col, "bad \\x escape (\\xHH or \\x{H...})");
    if (braced)
        advance(lx);
    *cp = (uint32_t)v;
    return true;
}

/* The character after a backslash, p at it, into *cp. */
static bool escape(struct lexer *lx, uint32_t *cp, int line, int col)
{
    static const char from[] = "bdefnrstv", to[] = "\b\x7f\x1b\f\n\r \t\v";
    int c = peek(lx, 0);
    if (c < 0)
        return lex_fail(lx, line, col, "a backslash at the end of the file");
    const char *hit = c ? strchr(from, c) : NULL;
    if (hit) {
        advance(lx);
        *cp = (unsigned char)to[hit - from];
        return true;
    }
    if (c >= '0' && c <= '7') {
        uint32_t v = 0;
        for (int n = 0; n < 3 && peek(lx, 0) >= '0' && peek(lx, 0) <= '7'; n++) {
            v = v * 8 + (uint32_t)(peek(lx, 0) - '0');
            advance(lx);
        }
        *cp = v;
        return true;
    }
    if (c == 'x') {
        advance(lx);
        return hex_escape(lx, cp, line, col);
    }
    if (c == '^') {
        advance(lx);
        if (at_end(lx))
            return lex_fail(lx, line, col, "a backslash at the end of the file");
        *cp = (uint32_t)(peek(lx, 0) & 31);
        advance(lx);
        return true;
    }
    return utf8_char(lx, cp);   /* \\ \" \' and any other: the character */
}

/* One character of a quoted text or a $c, escapes resolved. */
static bool quoted_char(struct lexer *lx, uint32_t *cp)
{
    int line = lx->line, col = col_of(lx, lx->p);
    if (*lx->p == '\\') {
        advance(lx);
        return escape(lx, cp, line, col);
    }
    return utf8_char(lx, cp);
}

/* ---- Tokens -------------------------------------------------------------- */

/* Text between quote characters into lx->cps; p at the opening quote. */
static bool quoted(struct lexer *lx, char quote, size_t *n, const char *what)
{
    int line = lx->line, col = col_of(lx, lx->p);
    advance(lx);
    for (;;) {
        if (at_end(lx))
            return lex_fail(lx, line, col, "%s that is never closed (no %c)", what, quote);
        if (*lx->p == quote) {
            advance(lx);
            return true;
        }
        uint32_t cp;
        if (!quoted_char(lx, &cp) || !push_cp(lx, n, cp))
            return false;
    }
}

/* Writes cp as UTF-8 at out; returns the bytes written (1 to 4). */
static size_t utf8_put(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    int n = cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    for (int i = n - 1; i > 0; i--, cp >>= 6)
        out[i] = (char)(0x80 | (cp & 0x3F));
    out[0] = (char)((n == 2 ? 0xC0 : n == 3 ? 0xE0 : 0xF0) | cp);
    return (size_t)n;
}

/* The name in lx->cps[0..n) as UTF-8 in lx->scratch: a T_ATOM. */
static bool atom_token(struct lexer *lx, size_t n, struct token *t)
{
    if (lx->scratch_cap < n * 4 + 1) {
        char *s = realloc(lx->scratch, n * 4 + 1);
        if (!s)
            return out_of_memory(lx);
        lx->scratch = s;
        lx->scratch_cap = n * 4 + 1;
    }
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (lx->cps[i] == 0)
            return lex_fail(lx, t->line, t->col, "an atom cannot hold a NUL character");
        len += utf8_put(lx->cps[i], lx->scratch + len);
    }
    if (len > ATOM_MAX)
        return lex_fail(lx, t->line, t->col, "atom longer than %d bytes", ATOM_MAX);
    lx->scratch[len] = 0;
    t->kind = T_ATOM;
    t->text = lx->scratch;
    t->len = len;
    return true;
}

static bool is_name_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '@';
}

/* An unquoted atom (p at its first, lowercase, letter) or a variable. */
static bool name(struct lexer *lx, struct token *t)
{
    size_t n = 0;
    while (!at_end(lx) && is_name_char(peek(lx, 0))) {
        if (!push_cp(lx, &n, (uint32_t)*lx->p))
            return false;
        advance(lx);
    }
    uint32_t first = lx->cps[0];
    if (first == '_' || (first >= 'A' && first <= 'Z')) {
        char shown[33];
        size_t k = 0;
        for (; k < n && k < 32; k++)
            shown[k] = (char)lx->cps[k];    /* ASCII: name chars only */
        shown[k] = 0;
        return lex_fail(lx, t->line, t->col, "%s is a variable: a config holds "
                        "no variables (an atom that starts so is quoted: '%s')",
                        shown, shown);
    }
    return atom_token(lx, n, t);
}

/* Digits of base into *v (an unsigned magnitude up to limit), with _
 * between digits. Returns the digits read, or -1 after an error. */
static int digits(struct lexer *lx, int base, uint64_t limit, uint64_t *v,
                  const struct token *t)
{
    int n = 0;
    for (;;) {
        int c = peek(lx, 0);
        if (c == '_' && n > 0 && peek(lx, 1) >= 0 && digit_value(peek(lx, 1)) < base) {
            advance(lx);
            continue;
        }
        if (c < 0 || digit_value(c) >= base)
            return n;
        uint64_t d = (uint64_t)digit_value(c);
        if (*v > (limit - d) / (uint64_t)base) {
            lex_fail(lx, t->line, t->col, "integer does not fit in 64 bits");
            return -1;
        }
        *v = *v * (uint64_t)base + d;
        advance(lx);
        n++;
    }
}

/* A number, p at its first digit; negative when a '-' came before it. */
static bool number(struct lexer *lx, struct token *t, bool negative)
{
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    if (digits(lx, 10, limit, &v, t) < 0)
        return false;
    if (peek(lx, 0) == '#') {
        if (v < 2 || v > 36)
            return lex_fail(lx, t->line, t->col, "base %llu is not from 2 to 36",
                            (unsigned long long)v);
        advance(lx);
        int base = (int)v;
        v = 0;
        int n = digits(lx, base, limit, &v, t);
        if (n < 0)
            return false;
        if (n == 0)
            return lex_fail(lx, t->line, t->col, "no digits after %d#", base);
    } else if (peek(lx, 0) == '.' && peek(lx, 1) >= '0' && peek(lx, 1) <= '9') {
        return lex_fail(lx, t->line, t->col, "floats are not supported "
                        "(this runtime's terms have no float)");
    }
    t->kind = T_INT;
    t->integer = negative ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* $c, p at the $. */
static bool char_literal(struct lexer *lx, struct token *t, bool negative)
{
    advance(lx);
    if (at_end(lx))
        return lex_fail(lx, t->line, t->col, "$ at the end of the file");
    uint32_t cp;
    if (!quoted_char(lx, &cp))
        return false;
    t->kind = T_INT;
    t->integer = negative ? -(int64_t)cp : (int64_t)cp;
    return true;
}

static void skip_blanks(struct lexer *lx);

/* "..." "...": adjacent strings join, as Erlang's do. */
static bool string(struct lexer *lx, struct token *t)
{
    size_t n = 0;
    do {
        if (!quoted(lx, '"', &n, "a string"))
            return false;
        skip_blanks(lx);
    } while (peek(lx, 0) == '"');
    t->kind = T_STRING;
    t->cps = lx->cps;
    t->ncps = n;
    return true;
}

/* Skips blanks and % comments. */
static void skip_blanks(struct lexer *lx)
{
    while (!at_end(lx)) {
        char c = *lx->p;
        if (c == '%') {
            while (!at_end(lx) && *lx->p != '\n')
                advance(lx);
        } else if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' ||
                   c == '\v') {
            advance(lx);
        } else {
            return;
        }
    }
}

/* Punctuation: one of {}[],|./ or << >>. Returns false when c is none. */
static bool punct(struct lexer *lx, struct token *t)
{
    static const char chars[] = "{}[],|./";
    static const enum tok_kind kinds[] = {T_LBRACE, T_RBRACE, T_LBRACKET, T_RBRACKET,
                                          T_COMMA, T_BAR, T_DOT, T_SLASH};
    int c = peek(lx, 0);
    const char *hit = c > 0 ? strchr(chars, c) : NULL;
    if (hit) {
        t->kind = kinds[hit - chars];
        advance(lx);
        return true;
    }
    if ((c == '<' || c == '>') && peek(lx, 1) == c) {
        t->kind = c == '<' ? T_LBIN : T_RBIN;
        advance(lx);
        advance(lx);
        return true;
    }
    return false;
}

/* What cannot start a token: a message that says why. */
static bool unexpected(struct lexer *lx, struct token *t)
{
    int c = peek(lx, 0);
    if (c == '#')
        return lex_fail(lx, t->line, t->col, "maps and records (#) are not supported");
    if (c == '<' || c == '-' || c == '+' || c == '=' || c == '>')
        return lex_fail(lx, t->line, t->col, "unexpected '%c' (a config holds "
                        "terms, not expressions)", c);
    if (c > ' ' && c < 0x7f)
        return lex_fail(lx, t->line, t->col, "unexpected character '%c'", c);
    return lex_fail(lx, t->line, t->col, "unexpected byte 0x%02x", c);
}

bool lex_next(struct lexer *lx, struct token *t)
{
    if (lx->has_pushed) {
        lx->has_pushed = false;
        *t = lx->pushed;
        return true;
    }
    if (lx->failed)
        return false;
    skip_blanks(lx);
    *t = (struct token){.kind = T_EOF, .line = lx->line, .col = col_of(lx, lx->p)};
    int c = peek(lx, 0);
    if (c < 0 || punct(lx, t))
        return true;
    bool negative = c == '-' && (peek(lx, 1) == '$' ||
                                 (peek(lx, 1) >= '0' && peek(lx, 1) <= '9'));
    if (negative) {
        advance(lx);
        c = peek(lx, 0);
    }
    if (c >= '0' && c <= '9')
        return number(lx, t, negative);
    if (c == '$')
        return char_literal(lx, t, negative);
    if (is_name_char(c) && !(c >= '0' && c <= '9') && c != '@')
        return name(lx, t);
    if (c == '\'') {
        size_t n = 0;
        return quoted(lx, '\'', &n, "a quoted atom") && atom_token(lx, n, t);
    }
    if (c == '"')
        return string(lx, t);
    return unexpected(lx, t);
}

void lex_unread(struct lexer *lx, const struct token *t)
{
    lx->pushed = *t;
    lx->has_pushed = true;
}

const char *lex_describe(const struct token *t, char *buf, size_t n)
{
    static const char *const names[] = {
        [T_EOF] = "end of file", [T_LBRACE] = "'{'", [T_RBRACE] = "'}'",
        [T_LBRACKET] = "'['", [T_RBRACKET] = "']'", [T_COMMA] = "','",
        [T_BAR] = "'|'", [T_DOT] = "'.'", [T_LBIN] = "'<<'", [T_RBIN] = "'>>'",
        [T_SLASH] = "'/'", [T_STRING] = "a string"};
    if (t->kind == T_ATOM)
        snprintf(buf, n, "atom %.40s", t->text);
    else if (t->kind == T_INT)
        snprintf(buf, n, "integer %lld", (long long)t->integer);
    else
        snprintf(buf, n, "%s", names[t->kind]);
    return buf;
}
