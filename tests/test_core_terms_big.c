/*
 * test_core_terms_big.c - terms of any shape: lists of a million cells and
 * tuples nested ten thousand deep are copied, compared, matched and printed
 * like small ones, and what cannot be is refused with the limit named.
 * The small terms' tests are in test_core_terms.c.
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

/* An improper list [head | tail], valid to the end of the enclosing block. */
#define CONS(head, tail) \
    ((term){.type = TERM_LIST, .size = 1, .u.elements = (term[]){head, tail}})

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
