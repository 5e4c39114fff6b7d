/*
 * config_lex.h - the tokens of Erlang's term syntax, shared by the lexer
 * (config_lex.c) and the parser (config.c). Not for stages.
 */
#ifndef CONFIG_LEX_H
#define CONFIG_LEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tok_kind {
    T_EOF,          /* the end of the text */
    T_ATOM,         /* foo, 'Foo bar': name in text, len bytes (UTF-8) */
    T_INT,          /* 42, -7, 16#ff, $a: integer */
    T_STRING,       /* "..." (adjacent ones joined): cps, ncps code points */
    T_LBRACE, T_RBRACE, T_LBRACKET, T_RBRACKET,
    T_COMMA, T_BAR, T_DOT, T_LBIN, T_RBIN, T_SLASH,
};

struct token {
    enum tok_kind kind;
    int line, col;          /* where it starts, from 1 (col in bytes) */
    int64_t integer;        /* T_INT */
    const char *text;       /* T_ATOM: the name (the lexer's scratch) */
    size_t len;             /* T_ATOM: its bytes */
    const uint32_t *cps;    /* T_STRING: the code points (the lexer's scratch) */
    size_t ncps;            /* T_STRING: how many */
};

/*
 * The lexer's state. The invariant: p never passes end, and every read of
 * a byte checks p < end first, so no input reads past the text. A token's
 * text and cps point into the scratch buffers and are valid until the next
 * call of lex_next.
 */
struct lexer {
    const char *file;       /* names the text in messages */
    const char *p;          /* the next byte to read */
    const char *end;        /* one past the last byte */
    const char *line_start; /* the first byte of p's line, for columns */
    int line;               /* p's line, from 1 */
    char *scratch;          /* T_ATOM's name, growing */
    size_t scratch_cap;     /* its bytes */
    uint32_t *cps;          /* T_STRING's code points, growing */
    size_t cps_cap;         /* its capacity, in code points */
    struct token pushed;    /* a token given back by lex_unread ... */
    bool has_pushed;        /* ... when this is true */
    bool failed;            /* an error was written to err: stop */
    char *err;              /* where the first error goes */
    size_t errlen;          /* its bytes */
};

/* Reads the next token into *t. Returns false (with the message in lx->err)
 * on a lexical error or when memory runs out. */
bool lex_next(struct lexer *lx, struct token *t);

/* Gives t back: the next lex_next returns it again. At most one at a time;
 * it must be the last token lex_next returned (its scratch still holds). */
void lex_unread(struct lexer *lx, const struct token *t);

/* Writes "file:line:col: message" into lx->err, once (later errors are
 * dropped), and marks the lexer failed. Returns false. */
bool lex_fail(struct lexer *lx, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Describes t for "found ..." in a message: '}', end of file, atom foo,
 * integer 42, a string. Writes into buf, returns buf. */
const char *lex_describe(const struct token *t, char *buf, size_t n);

/* Frees the scratch buffers. */
void lex_free(struct lexer *lx);

#endif
