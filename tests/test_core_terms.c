/*
 * test_core_terms.c - terms: building, comparing, matching, printing, copying.
 *
 * Run: make -C tests test-core   (or build/plain/tests/test_core_terms --verbose)
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "erl.h"
#include "term.h"
#include "test_util.h"

TestSuite(term_build, .timeout = 30);
TestSuite(term_eq, .timeout = 30);
TestSuite(term_match, .timeout = 30);
TestSuite(term_format, .timeout = 30);
TestSuite(term_copy, .timeout = 30, .init = start_runtime, .fini = stop_runtime);

/* An improper list [head | tail], valid to the end of the enclosing block. */
#define CONS(head, tail) \
    ((term){.type = TERM_LIST, .size = 1, .u.elements = (term[]){head, tail}})

/* ---- Building ------------------------------------------------------------ */

Test(term_build, atom_holds_its_name) {
    term t = ATOM("tick");
    cr_assert(is_atom(t));
    cr_assert_str_eq(t.u.atom, "tick");
    cr_assert(is_atom_named(t, "tick"));
    cr_assert_not(is_atom_named(t, "tock"));
    cr_assert_not(is_atom_named(INT(1), "tick"));
}

Test(term_build, int_holds_64_bit_values) {
    cr_assert(is_int(INT(5)));
    cr_assert_eq(INT(-42).u.integer, -42);
    cr_assert_eq(INT(INT64_MAX).u.integer, INT64_MAX);
    cr_assert_eq(INT(INT64_MIN).u.integer, INT64_MIN);
}

Test(term_build, tuple_holds_elements_in_order) {
    term t = TUPLE(ATOM("tick"), INT(5), STR("x"));
    cr_assert(is_tuple(t));
    cr_assert_eq(t.size, 3);
    cr_assert(is_atom_named(t.u.elements[0], "tick"));
    cr_assert_eq(t.u.elements[1].u.integer, 5);
    cr_assert(is_binary(t.u.elements[2]));
}

Test(term_build, list_is_proper_with_nil_tail) {
    term l = LIST(INT(1), INT(2), INT(3));
    cr_assert(is_list(l));
    cr_assert_eq(l.size, 3);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(l.u.elements[i].u.integer, i + 1);
    term tail = l.u.elements[3];
    cr_assert(is_list(tail) && tail.size == 0, "tail is not []");
}

Test(term_build, nil_is_the_empty_list) {
    cr_assert(is_list(NIL));
    cr_assert_eq(NIL.size, 0);
    cr_assert_not(term_is_boxed(NIL));
}

Test(term_build, str_is_a_binary_without_the_nul) {
    term b = STR("bin");
    cr_assert(is_binary(b));
    cr_assert_eq(b.size, 3);
    cr_assert_eq(memcmp(b.u.bytes, "bin", 3), 0);
    cr_assert_eq(STR("").size, 0);
}

Test(term_build, none_is_only_none) {
    cr_assert(is_none(NONE));
    cr_assert_not(is_none(INT(0)));
    cr_assert_not(is_none(NIL));
}

Test(term_build, views_build_what_they_view) {
    uint8_t bytes[] = {1, 2, 3};
    term b = term_binary(bytes, 3);
    cr_assert(is_binary(b) && b.size == 3 && b.u.bytes == bytes);

    term v[] = {INT(1), INT(2), NIL};
    term t = term_tuple(v, 2);
    cr_assert(is_tuple(t) && t.size == 2);
    cr_assert(term_eq(t, TUPLE(INT(1), INT(2))));
    cr_assert(term_eq(term_list(v, 2), LIST(INT(1), INT(2))));
}

Test(term_build, atom_from_interns_run_time_names) {
    char name[32];
    snprintf(name, sizeof name, "counter_%d", 7);
    term a = atom_from(name);
    term b = atom_from("counter_7");
    cr_assert(is_atom(a));
    cr_assert_eq(a.u.atom, b.u.atom, "the same name gave two atoms");
    cr_assert(term_eq(a, ATOM("counter_7")));
    strcpy(name, "clobbered");
    cr_assert_str_eq(a.u.atom, "counter_7", "the atom shares the caller's buffer");
}

Test(term_build, atom_from_refuses_names_over_255_bytes) {
    char name[300];
    memset(name, 'a', sizeof name);
    name[255] = '\0';
    cr_assert(is_atom(atom_from(name)), "a 255-byte name is legal");
    name[255] = 'a';
    name[256] = '\0';
    cr_assert(is_none(atom_from(name)));
}

Test(term_build, element_counts_from_one) {
    term t = TUPLE(ATOM("a"), INT(2), ATOM("c"));
    cr_assert(is_atom_named(element(1, t), "a"));
    cr_assert_eq(element(2, t).u.integer, 2);
    cr_assert(is_atom_named(element(3, t), "c"));
}

Test(term_build, element_out_of_range_is_none) {
    term t = TUPLE(ATOM("a"), INT(2), ATOM("c"));
    cr_assert(is_none(element(0, t)));
    cr_assert(is_none(element(4, t)));
    cr_assert(is_none(element(1, INT(5))), "element of a non-tuple");
    cr_assert(is_none(element(1, LIST(INT(1)))), "element of a list");
}

/* ---- Equality ------------------------------------------------------------ */

Test(term_eq, atoms_are_equal_by_name_not_pointer) {
    char name[] = "tick";       /* same name, different storage */
    term other = {.type = TERM_ATOM, .u.atom = name};
    cr_assert_neq((const void *)other.u.atom, (const void *)ATOM("tick").u.atom);
    cr_assert(term_eq(other, ATOM("tick")));
    cr_assert(term_eq(atom_from(name), ATOM("tick")));
    cr_assert_not(term_eq(ATOM("tick"), ATOM("tock")));
}

Test(term_eq, different_types_are_never_equal) {
    cr_assert_not(term_eq(INT(1), ATOM("1")));
    cr_assert_not(term_eq(NIL, NONE));
    cr_assert_not(term_eq(STR(""), NIL));
    cr_assert_not(term_eq(TUPLE(INT(1)), LIST(INT(1))));
}

Test(term_eq, integers_compare_by_value) {
    cr_assert(term_eq(INT(7), INT(7)));
    cr_assert_not(term_eq(INT(7), INT(-7)));
}

Test(term_eq, nested_tuples_compare_deeply) {
    term a = TUPLE(ATOM("reply"), TUPLE(INT(1), LIST(STR("x"), ATOM("y"))));
    term b = TUPLE(ATOM("reply"), TUPLE(INT(1), LIST(STR("x"), ATOM("y"))));
    term deep_diff = TUPLE(ATOM("reply"), TUPLE(INT(1), LIST(STR("x"), ATOM("z"))));
    term shorter = TUPLE(ATOM("reply"));
    cr_assert(term_eq(a, b));
    cr_assert_not(term_eq(a, deep_diff));
    cr_assert_not(term_eq(a, shorter));
}

Test(term_eq, lists_compare_elements_and_tails) {
    term proper = LIST(ATOM("a"), ATOM("b"));
    cr_assert(term_eq(proper, LIST(ATOM("a"), ATOM("b"))));
    cr_assert_not(term_eq(proper, LIST(ATOM("a"))));
    cr_assert_not(term_eq(proper, LIST(ATOM("b"), ATOM("a"))));

    term improper = CONS(ATOM("a"), ATOM("b"));       /* [a|b] */
    cr_assert(term_eq(improper, CONS(ATOM("a"), ATOM("b"))));
    cr_assert_not(term_eq(improper, CONS(ATOM("a"), ATOM("c"))));
    cr_assert_not(term_eq(improper, LIST(ATOM("a"))), "[a|b] =:= [a]");
    cr_assert(term_eq(NIL, NIL));
}

/* [a|[b]] and [a,b] are one Erlang term, however the cells are laid out. */
Test(term_eq, list_with_a_list_tail_equals_the_flat_list) {
    term consed = CONS(ATOM("a"), LIST(ATOM("b")));
    cr_assert(term_eq(consed, LIST(ATOM("a"), ATOM("b"))),
              "[a|[b]] =/= [a,b]: %s", FMT(consed));
}

Test(term_eq, binaries_compare_bytes) {
    char buf[] = "abc";
    cr_assert(term_eq(STR("abc"), term_binary(buf, 3)));
    cr_assert_not(term_eq(STR("abc"), STR("abd")));
    cr_assert_not(term_eq(STR("abc"), STR("ab")));
    cr_assert(term_eq(STR(""), term_binary(buf, 0)));
}

Test(term_eq, is_reflexive_for_none_and_nil) {
    cr_assert(term_eq(NONE, NONE));
    cr_assert(term_eq(NIL, LIST(ATOM("x")).u.elements[1]));
}

/* ---- Matching ------------------------------------------------------------ */

Test(term_match, equal_literals_match) {
    term msg = TUPLE(ATOM("tick"), INT(5));
    cr_assert(match(msg, TUPLE(ATOM("tick"), INT(5))));
    cr_assert(match(ATOM("ok"), ATOM("ok")));
    cr_assert(match(STR("bin"), STR("bin")));
}

Test(term_match, different_literals_do_not_match) {
    term msg = TUPLE(ATOM("tick"), INT(5));
    cr_assert_not(match(msg, TUPLE(ATOM("tock"), INT(5))));
    cr_assert_not(match(msg, TUPLE(ATOM("tick"), INT(6))));
    cr_assert_not(match(ATOM("ok"), ATOM("error")));
}

Test(term_match, var_binds_the_matched_part) {
    term n = NONE, rest = NONE;
    term msg = TUPLE(ATOM("tick"), INT(5), TUPLE(ATOM("from"), STR("x")));
    cr_assert(match(msg, TUPLE(ATOM("tick"), VAR(&n), VAR(&rest))));
    cr_assert(is_int(n) && n.u.integer == 5);
    cr_assert(term_eq(rest, TUPLE(ATOM("from"), STR("x"))), "bound %s", FMT(rest));
}

Test(term_match, a_bare_var_matches_anything) {
    term all = NONE;
    term msg = LIST(INT(1), TUPLE(ATOM("x")));
    cr_assert(match(msg, VAR(&all)));
    cr_assert(term_eq(all, msg));
    cr_assert(match(INT(3), VAR(&all)));
    cr_assert(term_eq(all, INT(3)));
}

Test(term_match, any_matches_without_binding) {
    cr_assert(match(TUPLE(ATOM("tick"), INT(5)), TUPLE(ATOM("tick"), ANY)));
    cr_assert(match(STR("anything"), ANY));
    cr_assert(match(NIL, ANY));
    cr_assert_not(match(TUPLE(ATOM("tock"), INT(5)), TUPLE(ATOM("tick"), ANY)));
}

Test(term_match, nested_patterns_bind_deep_parts) {
    term tag = NONE, value = NONE;
    term reply = TUPLE(ATOM("reply"), TUPLE(INT(42), LIST(ATOM("ok"), INT(9))));
    cr_assert(match(reply, TUPLE(ATOM("reply"),
                                 TUPLE(VAR(&tag), LIST(ATOM("ok"), VAR(&value))))));
    cr_assert_eq(tag.u.integer, 42);
    cr_assert_eq(value.u.integer, 9);
    cr_assert_not(match(reply, TUPLE(ATOM("reply"),
                                     TUPLE(ANY, LIST(ATOM("error"), ANY)))));
}

Test(term_match, arity_mismatch_does_not_match) {
    term msg = TUPLE(ATOM("a"), ATOM("b"));
    cr_assert_not(match(msg, TUPLE(ATOM("a"), ATOM("b"), ANY)));
    cr_assert_not(match(msg, TUPLE(ANY)));
    cr_assert_not(match(LIST(INT(1), INT(2)), LIST(ANY)));
    cr_assert_not(match(LIST(INT(1)), LIST(ANY, ANY)));
}

Test(term_match, type_mismatch_does_not_match) {
    cr_assert_not(match(INT(1), ATOM("a")));
    cr_assert_not(match(TUPLE(INT(1)), LIST(INT(1))));
    cr_assert_not(match(STR("a"), ATOM("a")));
    cr_assert_not(match(NIL, TUPLE(ANY)));
    cr_assert_not(match(NONE, ATOM("a")));
}

/* ---- Printing ------------------------------------------------------------ */

/* Asserts that t prints exactly as expected. */
static void expect_format(term t, const char *expected) {
    char buf[256];
    int n = term_format(buf, sizeof buf, t);
    cr_assert_str_eq(buf, expected);
    cr_assert_eq(n, (int)strlen(expected), "returned length %d for %s", n, buf);
}

Test(term_format, integers_and_plain_atoms) {
    expect_format(INT(5), "5");
    expect_format(INT(-42), "-42");
    expect_format(INT(INT64_MIN), "-9223372036854775808");
    expect_format(ATOM("tick"), "tick");
    expect_format(ATOM("node_1@host"), "node_1@host");
}

Test(term_format, atoms_that_need_quotes_get_them) {
    expect_format(ATOM("$gen_call"), "'$gen_call'");
    expect_format(ATOM("EXIT"), "'EXIT'");
    expect_format(ATOM("DOWN"), "'DOWN'");
    expect_format(ATOM("hello world"), "'hello world'");
    expect_format(ATOM("_x"), "'_x'");
    expect_format(ATOM(""), "''");
}

Test(term_format, tuples_in_braces) {
    expect_format(TUPLE(ATOM("tick"), INT(5)), "{tick,5}");
    expect_format(TUPLE(ATOM("a"), TUPLE(INT(1), INT(2))), "{a,{1,2}}");
    expect_format(TUPLE(ATOM("$gen_cast"), ATOM("reset")), "{'$gen_cast',reset}");
}

Test(term_format, lists_in_brackets) {
    expect_format(LIST(INT(1), INT(2), INT(3)), "[1,2,3]");
    expect_format(NIL, "[]");
    expect_format(LIST(ATOM("a"), LIST(INT(1))), "[a,[1]]");
}

Test(term_format, improper_lists_show_the_tail) {
    expect_format(CONS(ATOM("a"), ATOM("b")), "[a|b]");
    expect_format(CONS(INT(1), CONS(INT(2), INT(3))), "[1,2|3]");
}

Test(term_format, binaries_as_erlang_writes_them) {
    uint8_t raw[] = {1, 2};
    expect_format(STR("bin"), "<<\"bin\">>");
    expect_format(term_binary(raw, 2), "<<1,2>>");
    expect_format(STR(""), "<<>>");
}

Test(term_format, pids_have_the_erlang_shape, .init = start_runtime,
     .fini = stop_runtime) {
    char buf[128];
    term_format(buf, sizeof buf, TUPLE(ATOM("tick"), INT(5), erl_self()));
    unsigned num, serial;
    int end = -1;
    int got = sscanf(buf, "{tick,5,<0.%u.%u>}%n", &num, &serial, &end);
    cr_assert(got == 2 && end == (int)strlen(buf), "pid printed as %s", buf);
}

Test(term_format, refs_have_the_erlang_shape, .init = start_runtime,
     .fini = stop_runtime) {
    char buf[128];
    int n = term_format(buf, sizeof buf, erl_make_ref());
    cr_assert(n > 7, "ref printed as %s", buf);
    cr_assert_eq(strncmp(buf, "#Ref<", 5), 0, "ref printed as %s", buf);
    cr_assert_eq(buf[n - 1], '>', "ref printed as %s", buf);
}

Test(term_format, truncates_like_snprintf) {
    char buf[4];
    int n = term_format(buf, sizeof buf, LIST(INT(1), INT(2), INT(3)));
    cr_assert_eq(n, 7, "needs 7 characters for [1,2,3], said %d", n);
    cr_assert_str_eq(buf, "[1,");
    cr_assert_eq(term_format(NULL, 0, TUPLE(ATOM("a"))), 3);
}

Test(term_format, term_print_writes_the_same_text) {
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    cr_assert_not_null(out);
    term t = TUPLE(ATOM("EXIT"), LIST(INT(1), STR("x")), ATOM("normal"));
    term_print(out, t);
    fclose(out);
    cr_assert_str_eq(text, "{'EXIT',[1,<<\"x\">>],normal}");
    free(text);
}

/* ---- Copying ------------------------------------------------------------- */

/* Builds {tick, n, [<<"x">>, {a}]} in this frame and returns a kept copy. */
__attribute__((noinline)) static term kept_tick(int n) {
    return term_keep(TUPLE(ATOM("tick"), INT(n), LIST(STR("x"), TUPLE(ATOM("a")))));
}

/* Writes over the stack that kept_tick's frame used. */
__attribute__((noinline)) static int scribble_stack(void) {
    volatile char junk[4096];
    memset((char *)junk, 0xA5, sizeof junk);
    return junk[100];
}

Test(term_copy, term_keep_outlives_the_building_block) {
    term kept = kept_tick(5);
    scribble_stack();
    term expected = TUPLE(ATOM("tick"), INT(5), LIST(STR("x"), TUPLE(ATOM("a"))));
    cr_assert(term_eq(kept, expected), "kept %s", FMT(kept));
    erl_drop(kept);
}

Test(term_copy, term_keep_does_not_share_the_original) {
    char buf[] = "before";
    term kept = term_keep(TUPLE(term_binary(buf, 6)));
    memcpy(buf, "after!", 6);
    cr_assert(term_eq(kept, TUPLE(STR("before"))), "kept %s", FMT(kept));
}

Test(term_copy, term_keep_returns_immediates_as_they_are) {
    term pid = erl_self();
    cr_assert(term_eq(term_keep(INT(9)), INT(9)));
    cr_assert(term_eq(term_keep(ATOM("ok")), ATOM("ok")));
    cr_assert(term_eq(term_keep(pid), pid));
    cr_assert(term_eq(term_keep(NIL), NIL));
}

Test(term_copy, kept_terms_are_released_with_the_heap) {
    erl_heap_mark_t mark = erl_heap_mark();
    for (int i = 0; i < 1000; i++) {
        term k = term_keep(TUPLE(INT(i), STR("some bytes")));
        cr_assert_eq(element(1, k).u.integer, i);
    }
    erl_heap_release(mark);
    term after = kept_tick(7);  /* the heap still works after a release */
    cr_assert_eq(element(2, after).u.integer, 7);
}

Test(term_copy, immediates_need_no_heap) {
    cr_assert_eq(term_heap_size(INT(1)), 0);
    cr_assert_eq(term_heap_size(ATOM("a")), 0);
    cr_assert_eq(term_heap_size(NIL), 0);
    cr_assert_eq(term_heap_size(erl_self()), 0);
    char unused[8];
    term copy = term_copy_into(INT(77), unused);
    cr_assert(term_eq(copy, INT(77)));
}

Test(term_copy, copy_into_is_a_deep_equal_copy) {
    char bytes[] = "payload";
    term inner[] = {INT(1), term_binary(bytes, 7)};
    term t = TUPLE(ATOM("msg"), term_tuple(inner, 2),
                   LIST(INT(2), CONS(INT(3), ATOM("tail"))), STR(""));
    term expected = TUPLE(ATOM("msg"), TUPLE(INT(1), STR("payload")),
                          LIST(INT(2), CONS(INT(3), ATOM("tail"))), STR(""));

    size_t n = term_heap_size(t);
    cr_assert_gt(n, 0);
    char *buf = malloc(n);
    cr_assert_not_null(buf);
    term copy = term_copy_into(t, buf);
    cr_assert(term_eq(copy, t), "copy %s", FMT(copy));

    memcpy(bytes, "XXXXXXX", 7);        /* change the original's parts */
    inner[0] = INT(999);
    cr_assert(term_eq(copy, expected), "the copy shares memory: %s", FMT(copy));
    cr_assert_eq((const void *)copy.u.elements, (void *)buf,
                 "the root's elements must come first in buf");
    free(buf);
}

Test(term_copy, copy_of_a_binary_puts_its_bytes_first) {
    char bytes[] = "abc";
    term b = term_binary(bytes, 3);
    size_t n = term_heap_size(b);
    cr_assert_geq(n, 3);
    uint8_t *buf = malloc(n);
    term copy = term_copy_into(b, buf);
    bytes[0] = 'z';
    cr_assert(term_eq(copy, STR("abc")));
    cr_assert_eq(copy.u.bytes, buf);
    free(buf);
}

/* ---- Terms of any shape -------------------------------------------------- */

/* The walks keep their own stacks: a process's 64 KiB of C stack (256 KiB
 * under the sanitizers) holds a copy, match or print of any length or
 * depth. Each echo below runs in a process: its receive matches the term,
 * it measures and prints it there, and its send copies it back. */
TestSuite(big_terms, .timeout = 120, .init = start_runtime, .fini = stop_runtime);

#define LONG_LIST 1000000       /* cells in the long list */
#define DEEP 10000              /* levels in the deep terms */

/* [1, 2, ..., n] built as Erlang builds it, one cell (a chunk of one) at a
 * time, in v, which holds 2n terms. */
static term cell_list(term *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        v[2 * i] = INT((int64_t)i + 1);
        v[2 * i + 1] = i + 1 < n ? term_list(&v[2 * i + 2], 1) : NIL;
    }
    return term_list(v, 1);
}

/* {{...{{core, n}, n - 1}..., 2}, 1}: n tuples, each the first element of
 * the one outside it, in v, which holds 2n terms. */
static term deep_tuple(term *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        v[2 * i] = i + 1 < n ? term_tuple(&v[2 * i + 2], 2) : ATOM("core");
        v[2 * i + 1] = INT((int64_t)i + 1);
    }
    return term_tuple(v, 2);
}

/* [[...[[core]]...]]: n lists, each the only element of the one outside it,
 * in v, which holds 2n terms. */
static term deep_list(term *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        v[2 * i] = i + 1 < n ? term_list(&v[2 * i + 2], 1) : ATOM("core");
        v[2 * i + 1] = NIL;
    }
    return term_list(v, 1);
}

static term *terms_alloc(size_t n) {
    term *v = malloc(n * sizeof(term));
    cr_assert_not_null(v, "no memory for %zu terms", n);
    return v;
}

/* The cells of list l, however chunked, and its last element into *last.
 * Returns -1 if l is improper. */
static long list_length(term l, term *last) {
    long n = 0;
    for (; is_list(l) && l.size > 0; l = l.u.elements[l.size]) {
        n += l.size;
        *last = l.u.elements[l.size - 1];
    }
    return is_list(l) ? n : -1;
}

/* The tuples in a deep_tuple, walked down by match, and the innermost. */
static long tuple_depth(term t, term *core) {
    long n = 0;
    term inner, k;
    while (match(t, TUPLE(VAR(&inner), VAR(&k))) && is_int(k) && k.u.integer == n + 1) {
        n++;
        *core = inner;
        t = inner;
    }
    return n;
}

/* Receives {Kind, From, Term}, checks Term in this process's own small
 * stack, and sends back {echo, Facts, Term}: Facts is {Length, Last,
 * TextLength}, measured here (the length and last cell of a list, or the
 * depth and innermost term of a deep tuple). */
static void echo(term arg) {
    (void)arg;
    term from, t, head, rest, last = NONE;
    term m = erl_receive(TUPLE(VAR(&from), VAR(&t)), ERL_INFINITY);
    term f[3] = {INT(-1), NONE, INT(0)};    /* Length, Last, TextLength */
    if (match(t, TUPLE(ATOM("list"), CONS(VAR(&head), VAR(&rest))))) {
        long n = list_length(rest, &last);
        f[0] = INT(n < 0 ? n : n + 1);
        f[1] = n ? last : head;
    } else if (match(t, TUPLE(ATOM("deep"), VAR(&rest)))) {
        f[0] = INT(tuple_depth(rest, &last));
        f[1] = last;
    }
    term body = element(2, t);
    f[2] = INT(term_format(NULL, 0, body));
    erl_send(from, TUPLE(ATOM("echo"), term_tuple(f, 3), body));
    erl_drop(m);
}

/* Sends {kind, t} to a new echo process and returns its {echo, Facts, T}
 * (the caller drops it), failing the test when none comes. */
static term echoed(term kind, term t) {
    term pid = erl_spawn(echo, NIL);
    cr_assert(!is_none(pid), "spawn failed");
    cr_assert_eq(erl_send(pid, TUPLE(erl_self(), TUPLE(kind, t))), 0);
    return await(TUPLE(ATOM("echo"), ANY, ANY), "echo");
}

/* The length of "[1,2,...,n]". */
static long list_text_length(long n) {
    long len = 2 + (n - 1);     /* brackets and commas */
    for (long i = 1; i <= n; i++)
        len += snprintf(NULL, 0, "%ld", i);
    return len;
}

/* Formats t into a buffer of its own; the caller frees it. */
static char *format_all(term t, long expected) {
    int n = term_format(NULL, 0, t);
    cr_assert_eq(n, expected, "term_format needs %d bytes, expected %ld", n, expected);
    char *text = malloc((size_t)n + 1);
    cr_assert_not_null(text);
    cr_assert_eq(term_format(text, (size_t)n + 1, t), n);
    cr_assert_eq(strlen(text), (size_t)n, "the text is not NUL-terminated at its end");
    return text;
}

/* term_print writes exactly what term_format does. */
static void assert_prints_as(term t, const char *text) {
    char *printed = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&printed, &len);
    cr_assert_not_null(out);
    term_print(out, t);
    fclose(out);
    cr_assert_eq(len, strlen(text), "term_print wrote %zu bytes, term_format %zu",
                 len, strlen(text));
    cr_assert(memcmp(printed, text, len) == 0, "term_print and term_format differ");
    free(printed);
}

static void assert_list_echo(size_t n) {
    term *v = terms_alloc(2 * n);
    term list = cell_list(v, n);
    term m = echoed(ATOM("list"), list);
    term facts = element(2, m), back = element(3, m);
    cr_assert_eq(element(1, facts).u.integer, (int64_t)n, "the process counted %s",
                 FMT(facts));
    cr_assert(term_eq(element(2, facts), INT((int64_t)n)), "last cell %s", FMT(facts));
    cr_assert_eq(element(3, facts).u.integer, list_text_length((long)n));
    cr_assert(term_eq(back, list), "the echoed list differs from the one sent");
    cr_assert(term_eq(list, back));
    term last = NONE;
    cr_assert_eq(list_length(back, &last), (long)n);
    erl_drop(m);
    free(v);
}

Test(big_terms, a_2000_cell_list_is_sent_and_echoed) {
    assert_list_echo(2000);     /* 1000 cells panicked, 2000 crashed the node */
}

Test(big_terms, a_million_cell_list_is_sent_matched_and_echoed) {
    assert_list_echo(LONG_LIST);
}

Test(big_terms, a_million_cell_list_prints) {
    term *v = terms_alloc(2 * LONG_LIST);
    term list = cell_list(v, LONG_LIST);
    char *text = format_all(list, list_text_length(LONG_LIST));
    cr_assert(strncmp(text, "[1,2,3,4,", 9) == 0, "starts %.20s", text);
    const char *end = ",999999,1000000]";
    cr_assert_str_eq(text + strlen(text) - strlen(end), end);
    assert_prints_as(list, text);
    free(text);
    free(v);
}

Test(big_terms, a_copy_keeps_a_cell_by_cell_list_in_one_chunk) {
    term *v = terms_alloc(2 * LONG_LIST);
    term list = cell_list(v, LONG_LIST);
    size_t n = term_heap_size(list);
    cr_assert_eq(n, (LONG_LIST + 1) * sizeof(term), "a flat copy takes %zu bytes, not %zu",
                 (size_t)(LONG_LIST + 1) * sizeof(term), n);
    term *buf = malloc(n);
    cr_assert_not_null(buf);
    term copy = term_copy_into(list, buf);
    cr_assert_eq(copy.size, LONG_LIST);
    cr_assert(is_list(buf[LONG_LIST]) && buf[LONG_LIST].size == 0, "the tail is not []");
    cr_assert(term_eq(copy, list) && term_eq(list, copy));
    v[2 * (LONG_LIST - 1)] = INT(0);    /* the last cell differs now */
    cr_assert_not(term_eq(copy, list), "a difference in the last cell was missed");
    cr_assert_not(match(list, copy));
    free(buf);
    free(v);
}

/* The length of the deep_tuple text: braces, commas, "core", the numbers. */
static long deep_text_length(long n) {
    long len = 3 * n + 4;
    for (long i = 1; i <= n; i++)
        len += snprintf(NULL, 0, "%ld", i);
    return len;
}

Test(big_terms, a_10000_deep_tuple_is_sent_matched_and_echoed) {
    term *v = terms_alloc(2 * DEEP);
    term deep = deep_tuple(v, DEEP);
    term m = echoed(ATOM("deep"), deep);
    term facts = element(2, m), back = element(3, m);
    cr_assert_eq(element(1, facts).u.integer, DEEP, "the process walked %s", FMT(facts));
    cr_assert(term_eq(element(2, facts), ATOM("core")), "innermost %s", FMT(facts));
    cr_assert_eq(element(3, facts).u.integer, deep_text_length(DEEP));
    cr_assert(term_eq(back, deep), "the echoed tuple differs from the one sent");
    v[2 * (DEEP - 1)] = ATOM("changed");    /* the innermost element differs */
    cr_assert_not(term_eq(back, deep), "a difference 10000 deep was missed");
    erl_drop(m);
    free(v);
}

Test(big_terms, a_10000_deep_tuple_prints) {
    term *v = terms_alloc(2 * DEEP);
    term deep = deep_tuple(v, DEEP);
    char *text = format_all(deep, deep_text_length(DEEP));
    cr_assert(strncmp(text, "{{{{{{", 6) == 0, "starts %.20s", text);
    cr_assert(strstr(text, "{core,10000},9999}") != NULL, "no innermost tuple");
    cr_assert_str_eq(text + strlen(text) - 6, ",2},1}");
    assert_prints_as(deep, text);
    free(text);
    free(v);
}

Test(big_terms, a_10000_deep_list_is_sent_echoed_and_printed) {
    term *v = terms_alloc(2 * DEEP);
    term deep = deep_list(v, DEEP);
    term m = echoed(ATOM("nest"), deep);
    term facts = element(2, m), back = element(3, m);
    cr_assert(term_eq(back, deep), "the echoed list differs from the one sent");
    cr_assert(match(back, deep), "a term does not match itself as a pattern");
    cr_assert_eq(element(3, facts).u.integer, 2 * DEEP + 4);
    char *text = format_all(back, 2 * DEEP + 4);
    cr_assert(strncmp(text, "[[[[", 4) == 0 && strstr(text, "[core]") != NULL);
    cr_assert_str_eq(text + strlen(text) - 4, "]]]]");
    assert_prints_as(deep, text);
    free(text);
    erl_drop(m);
    free(v);
}

/* A level of a term that holds every kind of leaf, nested n deep inside
 * its first element: {Inner, <<"bytes">>, [k | tail], Ref, {}, Var}. */
static term mixed_deep(term *v, size_t n, const uint32_t *words, term *bind) {
    for (size_t i = 0; i < n; i++) {
        term *level = &v[8 * i];
        level[6] = INT((int64_t)i);
        level[7] = ATOM("tail");
        level[0] = i + 1 < n ? term_tuple(&v[8 * i + 8], 6) : ATOM("core");
        level[1] = STR("bytes");
        level[2] = term_list(&level[6], 1);
        level[3] = (term){.type = TERM_REF, .node = 1, .size = 3, .u.words = words};
        level[4] = term_tuple(NULL, 0);
        level[5] = VAR(bind);
    }
    return term_tuple(v, 6);
}

Test(big_terms, a_deep_copy_keeps_every_kind_of_leaf) {
    static const uint32_t words[3] = {7, 8, 9};
    term *v = terms_alloc(8 * 100), bound;
    term deep = mixed_deep(v, 100, words, &bound);
    size_t n = term_heap_size(deep);
    char *buf = malloc(n);
    cr_assert_not_null(buf);
    term copy = term_copy_into(deep, buf);
    char *text = format_all(deep, term_format(NULL, 0, deep));
    char *copied = format_all(copy, (long)strlen(text));
    cr_assert_str_eq(copied, text);
    cr_assert(strstr(text, "{core,<<\"bytes\">>,[99|tail],#Ref<1.9.8.7>,{},_}") != NULL);
    term inner = copy;
    for (int i = 0; i < 99; i++)
        inner = element(1, inner);
    cr_assert(term_eq(element(4, inner), v[8 * 99 + 3]), "the ref's words differ");
    cr_assert_neq(element(4, inner).u.words, words, "the copy shares the ref's words");
    cr_assert_null(element(6, inner).u.bind, "a copied VAR still binds");
    free(copied);
    free(text);
    free(buf);
    free(v);
}

Test(big_terms, a_deep_pattern_binds_its_var) {
    term *v = terms_alloc(2 * DEEP), *p = terms_alloc(2 * DEEP);
    term deep = deep_tuple(v, DEEP), pattern = deep_tuple(p, DEEP), core = NONE;
    p[2 * (DEEP - 1)] = VAR(&core);
    cr_assert(match(deep, pattern), "a 10000-deep pattern does not match");
    cr_assert(is_atom_named(core, "core"), "bound %s", FMT(core));
    p[2 * (DEEP - 1) + 1] = INT(0);     /* the innermost number differs */
    cr_assert_not(match(deep, pattern));
    free(p);
    free(v);
}

Test(big_terms, a_long_improper_list_keeps_its_tail) {
    term *v = terms_alloc(2 * 5000);
    term list = cell_list(v, 5000);
    v[2 * 5000 - 1] = TUPLE(ATOM("end"));   /* [1, ..., 5000 | {end}] */
    size_t n = term_heap_size(list);
    char *buf = malloc(n);
    cr_assert_not_null(buf);
    term copy = term_copy_into(list, buf);
    cr_assert(term_eq(copy, list));
    cr_assert(term_eq(copy.u.elements[copy.size], TUPLE(ATOM("end"))), "tail %s",
              FMT(copy.u.elements[copy.size]));
    int len = term_format(NULL, 0, copy);
    char *text = format_all(copy, len);
    cr_assert_str_eq(text + len - 16, "4999,5000|{end}]");
    free(text);
    free(buf);
    free(v);
}

/* A copy that no memory could hold ends the node with a message naming
 * the limit, never a crash or a short copy: a tuple sharing one 4 GiB
 * binary 65536 times needs 2^48 bytes. Run in a child, to read its stderr. */
TestSuite(term_limits, .timeout = 30);

Test(term_limits, a_copy_past_term_heap_max_panics_naming_the_limit) {
    static uint8_t byte;
    term *v = terms_alloc(65536);
    for (size_t i = 0; i < 65536; i++)
        v[i] = term_binary(&byte, UINT32_MAX);
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t child = fork();
    cr_assert_neq(child, -1);
    if (child == 0) {
        dup2(fds[1], 2);
        term_heap_size(term_tuple(v, 65536));
        _exit(0);
    }
    close(fds[1]);
    char text[512] = {0};
    size_t got = 0;
    for (ssize_t n; got < sizeof text - 1 && (n = read(fds[0], text + got, sizeof text - 1 - got)) > 0;)
        got += (size_t)n;
    int status;
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "status %#x", status);
    cr_assert(strstr(text, "TERM_HEAP_MAX") != NULL, "stderr: %s", text);
    close(fds[0]);
    free(v);
}
