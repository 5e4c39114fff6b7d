/*
 * etf.h - terms to and from Erlang's external term format, with libei.
 *
 * The encoder writes what a term is: a local pid or reference goes out
 * under this node's name and creation (dist.h), another node's under its
 * own. The decoder reads what another node sent and trusts none of it:
 * every length is checked against the bytes that are there before a byte
 * is read, nesting is bounded, and a term this runtime cannot hold (a
 * float, a map, a fun, a port, an integer beyond 64 bits, an atom beyond
 * 255 bytes) is refused. A refusal is an error whose text names what was
 * wrong and where; it never reads past the buffer and never crashes.
 *
 * Neither recurses on the C stack: the encoder runs on a process's 64 KiB
 * stack, and a peer may send a term nested as deep as it likes.
 */
#ifndef ETF_H
#define ETF_H

#include <ei.h>
#include <stddef.h>

#include "term.h"

/* The deepest nesting the decoder takes: deeper is an error. */
#define ETF_MAX_DEPTH 100000

/* Where decoded terms live: chunks of memory, freed together. Zero it
 * before first use. The decoded term's binaries point into the input
 * buffer, not here: both must outlive the term. */
struct etf_arena {
    struct etf_chunk *chunks;   /* newest first, or NULL */
};

/* Frees every chunk; the arena is empty again (and reusable). */
void etf_arena_free(struct etf_arena *a);

/* Appends t, without a version byte, to x. Returns 0, or -1 with errno
 * EINVAL when t holds something that has no external form (NONE, a
 * pattern variable), ENOMEM when x cannot grow. */
int etf_encode(ei_x_buff *x, term t);

/* Appends the version byte (131), then t, as etf_encode. */
int etf_encode_versioned(ei_x_buff *x, term t);

/* Decodes one term, starting with its version byte, from buf[*pos] to at
 * most buf[len - 1]; on success *pos is just past it. The term lives in a
 * (and buf, for binaries). Returns 0, or -1 with a NUL-terminated account
 * of what was wrong in why (why_len bytes, at least 1), *pos unspecified:
 * errno EBADMSG for bytes that are not a valid term, ENOTSUP for a valid
 * term this runtime cannot hold, ENOMEM when memory ran out. */
int etf_decode(const char *buf, size_t len, size_t *pos, struct etf_arena *a, term *out,
               char *why, size_t why_len);

#endif
