/*
 * test_core_terms.c - terms: building, comparing, matching, printing, copying
 * (terms of any shape: test_core_terms_big.c).
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
