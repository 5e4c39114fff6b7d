/*
 * term.h - Erlang terms in C.
 *
 * A term is a small value (16 bytes) passed by value, like an Eterm on BEAM.
 * Integers, atoms, pids and references are immediate: the value is the term.
 * Tuples, lists and binaries point at their elements or bytes.
 *
 * Where the pointed-to memory lives decides how long a term is valid:
 *   - TUPLE(...) and LIST(...) build on the C stack (compound literals): valid
 *     to the end of the enclosing block. That is all send and match need.
 *   - A received message lives in the receiving process's heap until it is
 *     dropped (erl_drop) or released (erl_heap_release), or the process dies.
 *   - term_keep() copies a term into the process heap, with the same lifetime.
 *
 * Every term maps to the Erlang external term format, so the same values can
 * cross to another node unchanged.
 *
 * Any shape works: comparing, matching, copying and printing walk a term
 * with a stack of their own on the heap, never recursing on the C stack, so
 * a list of a million cells or a tuple nested ten thousand deep is sent,
 * matched and printed like a small one. A term up to 16 levels deep takes
 * no malloc to walk. The one limit is TERM_HEAP_MAX, the bytes a copy may
 * need.
 */
#ifndef TERM_H
#define TERM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum term_type {
    TERM_NONE = 0,  /* no term: a receive that timed out, a failed lookup */
    TERM_INT,       /* 64-bit signed integer */
    TERM_ATOM,      /* atom: a NUL-terminated name that lives forever */
    TERM_PID,       /* process identifier */
    TERM_REF,       /* reference, unique for the node's lifetime */
    TERM_TUPLE,     /* fixed-size tuple */
    TERM_LIST,      /* list; size 0 is [] (nil) */
    TERM_BINARY,    /* byte string */
    TERM_VAR,       /* pattern only: matches anything and binds it */
};

typedef struct term {
    uint8_t type;           /* enum term_type */
    uint8_t reserved;       /* always 0 */
    uint16_t node;          /* PID, REF: node table index, 0 = this node */
    uint32_t size;          /* TUPLE, LIST: elements; BINARY: bytes;
                               REF of another node: 32-bit words */
    union {
        int64_t integer;                /* INT */
        const char *atom;               /* ATOM: name, never freed */
        uint64_t id;                    /* PID: num << 32 | serial;
                                           REF of this node: counter */
        const struct term *elements;    /* TUPLE: size elements;
                                           LIST: size elements, then the tail
                                           (NIL for a proper list) */
        const uint8_t *bytes;           /* BINARY: size bytes */
        const uint32_t *words;          /* REF of another node */
        struct term *bind;              /* VAR: where a match stores the value;
                                           NULL for the wildcard ANY */
    } u;
} term;

/* ---- Building terms ------------------------------------------------------ */

/* The number of terms in a brace list, without evaluating them. */
#define TERM_COUNT_(...) (sizeof((term[]){__VA_ARGS__}) / sizeof(term))

/* Atoms from string literals cost nothing: the literal is the name. The ""
 * around s makes anything but a literal a compile error; use atom_from() for
 * names built at run time. */
#define ATOM(s) ((term){.type = TERM_ATOM, .u.atom = "" s ""})
#define INT(n) ((term){.type = TERM_INT, .u.integer = (n)})
/* {A, B, ...}: valid until the end of the enclosing block. */
#define TUPLE(...) \
    ((term){.type = TERM_TUPLE, .size = TERM_COUNT_(__VA_ARGS__), \
            .u.elements = (term[]){__VA_ARGS__}})
/* [A, B, ...]: a proper list, valid until the end of the enclosing block. */
#define LIST(...) \
    ((term){.type = TERM_LIST, .size = TERM_COUNT_(__VA_ARGS__), \
            .u.elements = (term[]){__VA_ARGS__, NIL}})
/* A binary holding a string literal's bytes (no NUL). */
#define STR(s) \
    ((term){.type = TERM_BINARY, .size = sizeof("" s "") - 1, \
            .u.bytes = (const uint8_t *)(s)})
#define NIL ((term){.type = TERM_LIST, .size = 0})
#define NONE ((term){.type = TERM_NONE})
/* Patterns: ANY is Erlang's _, VAR(&t) binds the matched value to t. */
#define ANY ((term){.type = TERM_VAR, .u.bind = NULL})
#define VAR(p) ((term){.type = TERM_VAR, .u.bind = (p)})

/* Interns a run-time name as an atom that lives as long as the program.
 * Returns NONE if the name is longer than 255 bytes (Erlang's limit). */
term atom_from(const char *name);

/* A binary viewing n bytes at p; valid as long as p is. */
term term_binary(const void *p, size_t n);

/* A list viewing the n terms at v, whose tail is v[n] (NIL for a proper
 * list): v holds n + 1 terms. Valid as long as v is. */
term term_list(const term *v, size_t n);

/* A tuple viewing n terms at v; valid as long as v is. */
term term_tuple(const term *v, size_t n);

/* ---- Reading terms ------------------------------------------------------- */

static inline bool is_int(term t) { return t.type == TERM_INT; }
static inline bool is_atom(term t) { return t.type == TERM_ATOM; }
static inline bool is_pid(term t) { return t.type == TERM_PID; }
static inline bool is_ref(term t) { return t.type == TERM_REF; }
static inline bool is_tuple(term t) { return t.type == TERM_TUPLE; }
static inline bool is_list(term t) { return t.type == TERM_LIST; }
static inline bool is_binary(term t) { return t.type == TERM_BINARY; }
static inline bool is_none(term t) { return t.type == TERM_NONE; }

/* Element i of a tuple, counting from 1 as Erlang's element/2 does.
 * Returns NONE if t is not a tuple or i is out of range. */
term element(size_t i, term t);

/* True when a and b are the same Erlang term (atoms compare by name; a list
 * compares by its cells, however they are chunked). This function can't
 * fail (it panics only if memory runs out for a term nested past 16 deep). */
bool term_eq(term a, term b);

/* True when t is the atom called name. */
bool is_atom_named(term t, const char *name);

/* Matches t against a pattern: literals must be equal, VAR binds, ANY
 * matches anything. Bindings are only meaningful when it returns true.
 * This function can't fail (as term_eq). */
bool match(term t, term pattern);

/* ---- Copying and printing ------------------------------------------------ */

/* The most bytes a copy of one term may need: more than any address space
 * holds. Only a term that shares its parts (TUPLE(x, x), x = TUPLE(y, y),
 * ...) can reach it, because a copy, as on BEAM, does not share. */
#define TERM_HEAP_MAX ((size_t)1 << 47)

/* Bytes a deep copy of t needs beyond the root term itself. A copy keeps
 * every list's cells in one chunk (up to UINT32_MAX cells a chunk), so a
 * list built cell by cell copies into half its size. Panics, naming
 * TERM_HEAP_MAX, when the copy would need more than that: the node ends, as
 * BEAM's does when a heap cannot be allocated. Otherwise can't fail. */
size_t term_heap_size(term t);

/* Copies t deeply into buf, which holds term_heap_size(t) bytes. Returns the
 * copy. The root's own elements or bytes come first in buf. This function
 * can't fail. */
term term_copy_into(term t, void *buf);

/* As term_copy_into, when the copy fits in the size bytes at buf; returns
 * NONE (and buf holds a partial copy) when it does not. One pass instead of
 * term_heap_size's and term_copy_into's two. */
term term_copy_within(term t, void *buf, size_t size);

/* True when t points at memory (a copy of it needs heap space). */
static inline bool term_is_boxed(term t) {
    return (t.type == TERM_TUPLE || t.type == TERM_LIST || t.type == TERM_BINARY ||
            (t.type == TERM_REF && t.node != 0)) && t.size > 0;
}

/* Writes t in Erlang syntax into buf (always NUL-terminated when n > 0).
 * Returns the length the full text needs, like snprintf; -1 with errno
 * EOVERFLOW when that is more than INT_MAX (buf then holds its start). */
int term_format(char *buf, size_t n, term t);

/* Prints t in Erlang syntax, as it goes: any length, no buffer. */
void term_print(FILE *out, term t);

#endif
