/*
 * test_core_etf.c - the external term format: every term there and back,
 * pids and references of this node and of others, what the decoder
 * refuses and how it says so, and a fuzz of the decoder with random and
 * mutated input (run it under SAN=address,undefined: an over-read there is
 * a failure).
 *
 * Run: make -C tests test-core   (or build/plain/tests/test_core_etf --verbose)
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "erl.h"
#include "etf.h"
#include "test_util.h"

static void start_named(void) {
    start_runtime();
    node_set_self(ATOM("etf@localhost"), 1234567);
}

static void stop_named(void) {
    node_set_self(NONE, 0);
    stop_runtime();
}

TestSuite(etf, .timeout = 60, .init = start_named, .fini = stop_named);
TestSuite(etf_fuzz, .timeout = 300, .init = start_named, .fini = stop_named);

/* ---- Helpers ------------------------------------------------------------- */

/* t encoded with its version byte, in x (the caller frees it). */
static void encode(ei_x_buff *x, term t) {
    cr_assert_eq(ei_x_new(x), 0);
    cr_assert_eq(etf_encode_versioned(x, t), 0, "encoding %s failed", FMT(t));
}

/* Decodes n bytes at buf; returns 0 or -1 with why filled. */
static int decode(const char *buf, size_t n, struct etf_arena *a, term *out, char *why,
                  size_t why_len) {
    size_t pos = 0;
    int r = etf_decode(buf, n, &pos, a, out, why, why_len);
    if (r == 0)
        cr_assert_eq(pos, n, "decode stopped at %zu of %zu bytes", pos, n);
    return r;
}

/* t goes out and comes back the same term. */
static void round_trip(term t) {
    ei_x_buff x;
    encode(&x, t);
    struct etf_arena a = {0};
    term back;
    char why[256];
    cr_assert_eq(decode(x.buff, (size_t)x.index, &a, &back, why, sizeof why), 0,
                 "decoding %s failed: %s", FMT(t), why);
    cr_assert(term_eq(back, t), "%s came back as %s", FMT(t), FMT(back));
    etf_arena_free(&a);
    ei_x_free(&x);
}

/* Decoding these bytes fails with errno err and a why containing text. */
static void refused(const void *bytes, size_t n, int err, const char *text) {
    struct etf_arena a = {0};
    term t;
    char why[256] = "";
    errno = 0;
    cr_assert_eq(decode(bytes, n, &a, &t, why, sizeof why), -1, "decoded %s", FMT(t));
    cr_assert_eq(errno, err, "errno %d, expected %d (%s)", errno, err, why);
    cr_assert(strstr(why, text), "the error \"%s\" does not say \"%s\"", why, text);
    etf_arena_free(&a);
}

/* ---- Round trips --------------------------------------------------------- */

Test(etf, leaves_come_back) {
    round_trip(INT(0));
    round_trip(INT(255));
    round_trip(INT(-1));
    round_trip(INT(INT64_MAX));
    round_trip(INT(INT64_MIN));
    round_trip(ATOM("ok"));
    round_trip(ATOM("with space and 'quote'"));
    round_trip(STR("bytes"));
    round_trip(term_binary("", 0));
    round_trip(NIL);
    round_trip(term_tuple(NULL, 0));
}

Test(etf, compound_terms_come_back) {
    round_trip(TUPLE(ATOM("a"), INT(1), LIST(INT(2), STR("x")), TUPLE(NIL)));
    term improper = term_list((term[]){INT(1), INT(2), ATOM("tail")}, 2);
    round_trip(improper);
    term big[300];
    for (int i = 0; i < 300; i++)
        big[i] = INT(i * 1000);
    round_trip(term_tuple(big, 300));   /* a large tuple (arity over 255) */
}

Test(etf, a_chunked_list_is_one_list_on_the_wire) {
    term tail = LIST(INT(3), INT(4));
    term chunked = term_list((term[]){INT(1), INT(2), tail}, 2);
    ei_x_buff x;
    encode(&x, chunked);
    ei_x_buff y;
    encode(&y, LIST(INT(1), INT(2), INT(3), INT(4)));
    cr_assert_eq(x.index, y.index);
    cr_assert_eq(memcmp(x.buff, y.buff, (size_t)x.index), 0);
    ei_x_free(&x);
    ei_x_free(&y);
}

Test(etf, a_term_nested_deep_goes_and_comes_back) {
    enum { DEPTH = 20000 };
    term *v = malloc(DEPTH * sizeof *v);
    v[0] = ATOM("core");
    for (int i = 1; i < DEPTH; i++)
        v[i] = term_tuple(&v[i - 1], 1);
    round_trip(v[DEPTH - 1]);
    free(v);
}

Test(etf, local_pids_and_refs_go_out_under_this_nodes_name) {
    term pid = erl_self(), ref = erl_make_ref();
    ei_x_buff x;
    encode(&x, TUPLE(pid, ref));
    int idx = 0, version, arity;
    erlang_pid p;
    erlang_ref r;
    cr_assert_eq(ei_decode_version(x.buff, &idx, &version), 0);
    cr_assert_eq(ei_decode_tuple_header(x.buff, &idx, &arity), 0);
    cr_assert_eq(ei_decode_pid(x.buff, &idx, &p), 0);
    cr_assert_str_eq(p.node, "etf@localhost");
    cr_assert_eq(p.creation, 1234567u);
    cr_assert_eq(ei_decode_ref(x.buff, &idx, &r), 0);
    cr_assert_str_eq(r.node, "etf@localhost");
    ei_x_free(&x);
    round_trip(TUPLE(pid, ref));    /* and come back local: node 0 */
}

Test(etf, another_nodes_pid_prints_with_its_node_index_and_compares) {
    ei_x_buff x;
    ei_x_new_with_version(&x);
    erlang_pid p = {.num = 85, .serial = 2, .creation = 77};
    strcpy(p.node, "other@localhost");
    ei_x_encode_pid(&x, &p);
    struct etf_arena a = {0};
    term t, u;
    char why[200];
    cr_assert_eq(decode(x.buff, (size_t)x.index, &a, &t, why, sizeof why), 0, "%s", why);
    cr_assert_eq(decode(x.buff, (size_t)x.index, &a, &u, why, sizeof why), 0, "%s", why);
    cr_assert_neq(t.node, 0);
    cr_assert(term_eq(t, u), "the same pid decoded twice differs");
    cr_assert(is_atom_named(erl_node_of(t), "other@localhost"));
    char want[64];
    snprintf(want, sizeof want, "<%u.85.2>", t.node);
    cr_assert_str_eq(FMT(t), want);
    round_trip(t);
    p.creation = 78;    /* the same name, another incarnation: another node */
    ei_x_free(&x);
    ei_x_new_with_version(&x);
    ei_x_encode_pid(&x, &p);
    cr_assert_eq(decode(x.buff, (size_t)x.index, &a, &u, why, sizeof why), 0, "%s", why);
    cr_assert(!term_eq(t, u), "pids of two incarnations compare equal");
    etf_arena_free(&a);
    ei_x_free(&x);
}

Test(etf, another_nodes_ref_keeps_its_words) {
    ei_x_buff x;
    ei_x_new_with_version(&x);
    erlang_ref r = {.len = 3, .n = {1, 2, 3}, .creation = 9};
    strcpy(r.node, "other@localhost");
    ei_x_encode_ref(&x, &r);
    struct etf_arena a = {0};
    term t;
    char why[200];
    cr_assert_eq(decode(x.buff, (size_t)x.index, &a, &t, why, sizeof why), 0, "%s", why);
    cr_assert_eq(t.size, 3);
    cr_assert_eq(t.u.words[2], 3);
    round_trip(t);
    etf_arena_free(&a);
    ei_x_free(&x);
}

Test(etf, none_and_variables_have_no_external_form) {
    ei_x_buff x;
    ei_x_new(&x);
    errno = 0;
    cr_assert_eq(etf_encode(&x, TUPLE(ATOM("a"), NONE)), -1);
    cr_assert_eq(errno, EINVAL);
    cr_assert_eq(etf_encode(&x, LIST(ANY)), -1);
    ei_x_free(&x);
}

/* ---- What the decoder refuses -------------------------------------------- */

Test(etf, refuses_what_it_cannot_hold_naming_it) {
    refused("\x83\x46\x40\x09\x21\xfb\x54\x44\x2d\x18", 10, ENOTSUP, "a float");
    refused("\x83\x74\x00\x00\x00\x00", 6, ENOTSUP, "a map");
    refused("\x83\x6e\x09\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09", 13, ENOTSUP,
            "beyond 64 bits");
    refused("\x83\x4d\x00\x00\x00\x01\x03\xff", 8, ENOTSUP, "a bitstring");
    refused("\x83\x77\x02\x61\x00", 5, ENOTSUP, "NUL");
}

Test(etf, refuses_malformed_input_naming_it) {
    refused("", 0, EBADMSG, "no term");
    refused("\x82\x6a", 2, EBADMSG, "version byte");
    refused("\x83", 1, EBADMSG, "ends early");
    refused("\x83\x01", 2, EBADMSG, "unknown tag 1");
    refused("\x83\x62\x00\x00", 4, EBADMSG, "cut short");
    refused("\x83\x6d\x00\x00\x00\x09\x61", 7, EBADMSG, "cut short");
    refused("\x83\x68\x03\x6a\x6a", 5, EBADMSG, "tuple of 3 elements");
    refused("\x83\x6c\xff\xff\xff\xff\x6a", 7, EBADMSG, "list of 4294967295");
    refused("\x83\x6c\x00\x00\x00\x01\x6a", 7, EBADMSG, "list of 1 elements");
    refused("\x83\x77\x05\x61", 4, EBADMSG, "cut short");
}

Test(etf, refuses_a_term_nested_too_deep) {
    size_t n = 2 * (ETF_MAX_DEPTH + 1) + 2;
    char *buf = malloc(n);
    buf[0] = (char)131;
    for (size_t i = 0; i <= ETF_MAX_DEPTH; i++) {
        buf[1 + 2 * i] = 'h';
        buf[2 + 2 * i] = 1;
    }
    buf[n - 1] = 'j';
    refused(buf, n, ENOTSUP, "nested deeper");
    free(buf);
}

/* ---- The fuzz ------------------------------------------------------------ */

/* A small xorshift generator: the same seed, the same run. */
static uint64_t next_random(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Decodes n bytes, copied into a buffer of exactly n bytes (so an
 * over-read is ASan's to see); a success must print, a failure must say
 * why. Returns whether it decoded. */
static bool decode_exact(const char *bytes, size_t n) {
    char *buf = malloc(n ? n : 1);
    memcpy(buf, bytes, n);
    struct etf_arena a = {0};
    term t;
    char why[256] = "";
    size_t pos = 0;
    int r = etf_decode(buf, n, &pos, &a, &t, why, sizeof why);
    if (r == 0) {
        cr_assert_leq(pos, n);
        char out[64];
        term_format(out, sizeof out, t);
    } else {
        cr_assert_neq(why[0], '\0', "a failure without an account");
    }
    etf_arena_free(&a);
    free(buf);
    return r == 0;
}

Test(etf_fuzz, random_bytes_never_crash_or_over_read) {
    uint64_t s = 0x9e3779b97f4a7c15u;
    char buf[64];
    for (int i = 0; i < 200000 / SAN_DIVISOR; i++) {
        size_t n = next_random(&s) % sizeof buf;
        for (size_t j = 0; j < n; j++)
            buf[j] = (char)next_random(&s);
        if (n > 0 && next_random(&s) % 2)
            buf[0] = (char)131;
        decode_exact(buf, n);
    }
}

Test(etf_fuzz, mutated_frames_never_crash_or_over_read) {
    term pid = erl_self();
    term sample = TUPLE(ATOM("$gen_call"), TUPLE(pid, LIST(ATOM("alias"), erl_make_ref())),
                        TUPLE(ATOM("tick"), INT(123456789), STR("payload"),
                              LIST(INT(1), INT(-70000), NIL), term_tuple(NULL, 0)));
    ei_x_buff x;
    encode(&x, sample);
    uint64_t s = 42;
    char *buf = malloc((size_t)x.index);
    int decoded = 0, iterations = 200000 / SAN_DIVISOR;
    for (int i = 0; i < iterations; i++) {
        memcpy(buf, x.buff, (size_t)x.index);
        int flips = 1 + (int)(next_random(&s) % 4);
        for (int f = 0; f < flips; f++)
            buf[next_random(&s) % (size_t)x.index] = (char)next_random(&s);
        size_t n = (size_t)x.index - (next_random(&s) % 3 == 0 ? next_random(&s) % (size_t)x.index : 0);
        decoded += decode_exact(buf, n);
    }
    cr_assert(decoded > 0 && decoded < iterations, "%d of %d decoded", decoded, iterations);
    free(buf);
    ei_x_free(&x);
}
