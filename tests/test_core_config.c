/*
 * test_core_config.c - the config reader (common/otp/config.h): Erlang's
 * term syntax, as in sys.config, read into terms.
 *
 * The tests give it text and check the term it read, or the exact message
 * of each kind of error, line and column included; two fuzz tests feed it
 * random and mutated texts, each in a block of its exact length (so that
 * AddressSanitizer sees a read past the end), and check every outcome: a
 * message that names the file and a place inside the text, or a term that
 * prints back into a text that reads as the same term.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "test_util.h"

/* ---- The config reader --------------------------------------------------- */

TestSuite(config, .timeout = 60);

/* Parses text (named a.config); fails the test when it does not parse. */
static struct config *parse_ok(const char *text)
{
    char err[256];
    struct config *cfg = config_parse("a.config", text, strlen(text), err, sizeof err);
    cr_assert_not_null(cfg, "\"%s\" did not parse: %s", text, err);
    return cfg;
}

/* Asserts text reads as the same term as want (itself parsed). */
static void expect_term(const char *text, const char *want)
{
    struct config *a = parse_ok(text), *b = parse_ok(want);
    cr_assert(term_eq(config_term(a), config_term(b)), "\"%s\" read as %s, want %s",
              text, FMT(config_term(a)), FMT(config_term(b)));
    config_free(a);
    config_free(b);
}

/* Asserts text is refused with exactly the message want. */
static void expect_error(const char *text, const char *want)
{
    char err[256];
    struct config *cfg = config_parse("a.config", text, strlen(text), err, sizeof err);
    cr_assert_null(cfg, "\"%s\" parsed, want the error %s", text, want);
    cr_assert_str_eq(err, want, "for \"%s\"", text);
}

Test(config, reads_atoms_integers_tuples_and_lists)
{
    struct config *cfg = parse_ok("[{counter, [{initial, 42}, {step, -7}]},\n"
                                  " {kernel, []}].\n");
    term t = config_term(cfg);
    cr_assert(term_eq(t, LIST(TUPLE(ATOM("counter"), LIST(TUPLE(ATOM("initial"), INT(42)),
                                                        TUPLE(ATOM("step"), INT(-7)))),
                              TUPLE(ATOM("kernel"), NIL))), "read %s", FMT(t));
    config_free(cfg);
}

Test(config, reads_quoted_atoms_with_escapes)
{
    struct config *cfg = parse_ok("['Hello world', 'it\\'s', 'a\\nb', '', 'caf\\x{e9}'].");
    term t = config_term(cfg);
    cr_assert_str_eq(t.u.elements[0].u.atom, "Hello world");
    cr_assert_str_eq(t.u.elements[1].u.atom, "it's");
    cr_assert_str_eq(t.u.elements[2].u.atom, "a\nb");
    cr_assert_str_eq(t.u.elements[3].u.atom, "");
    cr_assert_str_eq(t.u.elements[4].u.atom, "caf\xc3\xa9", "UTF-8 in the atom's name");
    config_free(cfg);
}

Test(config, reads_integers_in_every_notation)
{
    expect_term("[16#ff, 2#1010, 36#z, 1_000_000, $a, $\\n, -$a, $\\x{41}].",
                "[255, 10, 35, 1000000, 97, 10, -97, 65].");
    expect_term("[9223372036854775807, -9223372036854775808].",
                "[16#7fffffffffffffff, -16#8000000000000000].");
}

Test(config, reads_strings_as_lists_of_code_points)
{
    expect_term("[\"ab\", \"\", \"a\" \"b\" % joined\n \"c\", \"\\t\\\"\", \"h\xc3\xa9\"].",
                "[[97, 98], [], [97, 98, 99], [9, 34], [104, 233]].");
}

Test(config, reads_binaries)
{
    struct config *cfg = parse_ok("[<<\"ab\">>, <<1, 2, 255>>, <<>>, <<\"a\", 0>>, "
                                  "<<\"\xc3\xa9\"/utf8>>, <<\"\\x{e9}\">>].");
    term t = config_term(cfg);
    cr_assert(term_eq(t, LIST(STR("ab"), STR("\x01\x02\xff"), term_binary("", 0),
                              STR("a\0"), STR("\xc3\xa9"), STR("\xe9"))),
              "read %s", FMT(t));
    config_free(cfg);
}

Test(config, reads_improper_lists_and_empty_tuples)
{
    expect_term("[{}, [a | b], [a, b | [c]]].", "[{}, [a | b], [a, b, c]].");
    struct config *cfg = parse_ok("[a | b].");
    cr_assert(is_atom_named(config_term(cfg).u.elements[1], "b"), "the tail");
    config_free(cfg);
}

Test(config, skips_comments_and_blanks_anywhere)
{
    expect_term("%% header\n  [ a , % one\n\t b ] % after\n . % end\n", "[a, b].");
}

Test(config, keeps_the_line_and_column_of_every_part)
{
    struct config *cfg = parse_ok("[{counter,\n  [{initial, 0},\n   {step,  1}]}].");
    const term *v = config_get_slot(cfg, ATOM("counter"), ATOM("step"));
    int line, col;
    cr_assert(v && config_where(cfg, v, &line, &col));
    cr_assert_eq(line, 3);
    cr_assert_eq(col, 12, "the 1 of {step,  1} is at column 12, not %d", col);
    cr_assert(config_where(cfg, config_root_slot(cfg), &line, &col));
    cr_assert(line == 1 && col == 1);
    term local = INT(1);
    cr_assert(!config_where(cfg, &local, &line, &col), "not one of cfg's slots");
    config_free(cfg);
}

Test(config, names_the_place_of_each_syntax_error)
{
    expect_error("[{a, 1},\n {b, 2},\n {c, 3}}.",
                 "a.config:3:8: expected ',' or ']' after a list element, found '}'");
    expect_error("{a, b]", "a.config:1:6: expected ',' or '}' after a tuple element, "
                 "found ']'");
    expect_error("[a,\n b", "a.config:2:3: expected ',' or ']' after a list element, "
                 "found end of file (the list opened at 1:1 is not closed)");
    expect_error("[a, ].", "a.config:1:5: expected a term, found ']'");
    expect_error("", "a.config:1:1: expected a term, found end of file");
    expect_error("[a | b, c].", "a.config:1:7: expected ']' after the tail of a list, "
                 "found ','");
    expect_error("[a]", "a.config:1:4: expected '.' after the term, found end of file");
    expect_error("[a]. b.", "a.config:1:6: expected nothing after the final '.', "
                 "found atom b");
    expect_error("<<a>>.", "a.config:1:3: expected a string or a byte in a binary, "
                 "found atom a");
    expect_error("<<1 2>>.", "a.config:1:5: expected ',' or '>>' after a binary "
                 "segment, found integer 2");
    expect_error("<<\"a\"/latin1>>.", "a.config:1:7: only /utf8 may follow a string "
                 "in a binary, found atom latin1");
}

Test(config, names_what_this_runtime_cannot_hold)
{
    expect_error("[{a,\n 1.5}].", "a.config:2:2: floats are not supported "
                 "(this runtime's terms have no float)");
    expect_error("#{a => 1}.", "a.config:1:1: maps and records (#) are not supported");
    expect_error("[9223372036854775808].",
                 "a.config:1:2: integer does not fit in 64 bits");
    expect_error("[Name].", "a.config:1:2: Name is a variable: a config holds no "
                 "variables (an atom that starts so is quoted: 'Name')");
    expect_error("<<256>>.", "a.config:1:3: binary segment 256 is not a byte (0..255)");
    expect_error("<<\"\\x{100}\">>.", "a.config:1:3: character 256 is beyond 255 in "
                 "a binary (write <<\"...\"/utf8>>)");
    expect_error("1 + 2.", "a.config:1:3: unexpected '+' (a config holds terms, "
                 "not expressions)");
}

Test(config, names_each_lexical_error)
{
    expect_error("[a,\n \"open", "a.config:2:2: a string that is never closed (no \")");
    expect_error("'open", "a.config:1:1: a quoted atom that is never closed (no ')");
    expect_error("[37#1].", "a.config:1:2: base 37 is not from 2 to 36");
    expect_error("[16#].", "a.config:1:2: no digits after 16#");
    expect_error("[\"\\x{zz}\"].", "a.config:1:3: bad \\x escape (\\xHH or \\x{H...})");
    expect_error("[\"\\x{110000}\"].",
                 "a.config:1:3: escape beyond the last code point 10FFFF");
    expect_error("\"\xff\".", "a.config:1:2: invalid UTF-8 (byte 0xff)");
    expect_error("\"\xc3\".", "a.config:1:2: invalid UTF-8 (a truncated sequence)");
    expect_error("[a, ;].", "a.config:1:5: unexpected character ';'");
    expect_error("[$", "a.config:1:2: $ at the end of the file");
    expect_error("'\\x{0}'.", "a.config:1:1: an atom cannot hold a NUL character");
    char big[300];
    memset(big, 'a', 256);
    strcpy(big + 256, ".");
    expect_error(big, "a.config:1:1: atom longer than 255 bytes");
    char nul[] = "[a,\0b].";
    char err[256];
    cr_assert_null(config_parse("a.config", nul, sizeof nul - 1, err, sizeof err));
    cr_assert_str_eq(err, "a.config:1:4: unexpected byte 0x00");
}

Test(config, checks_the_shape_of_a_sys_config)
{
    static const struct {
        const char *text, *error;
    } cases[] = {
        {"{a, []}.", "a.config:1:1: a sys.config: expected a list, found {a,[]}"},
        {"[{a, []},\n  b].", "a.config:2:3: expected {Application, [{Key, Value}]}, "
                             "found b"},
        {"[{a, [{k, 1}]},\n {a, []}].", "a.config:2:2: the application a appears twice"},
        {"[{a, [{k, 1}, {\"k\", 2}]}].", "a.config:1:15: the env of a: expected "
                                         "{Key, Value} with an atom Key, found {[107],2}"},
        {"[{a, [{k, 1},\n {k, 2}]}].", "a.config:2:2: the env of a: the key k "
                                       "appears twice"},
        {"[{a, x}].", "a.config:1:6: the env of a: expected a list, found x"},
        {"[{a, [{k, 1} | z]}].", "a.config:1:16: the env of a: expected a proper "
                                 "list, found the tail z"},
        {"[\"other.config\"].", "a.config:1:2: including another config file "
                                "(\"...\") is not supported"},
    };
    char err[256];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct config *cfg = parse_ok(cases[i].text);
        cr_assert_eq(config_check_sys(cfg, err, sizeof err), -1, "%s", cases[i].text);
        cr_assert_str_eq(err, cases[i].error);
        config_free(cfg);
    }
    struct config *cfg = parse_ok("[{a, [{k, 1}]}, {b, []}].");
    cr_assert_eq(config_check_sys(cfg, err, sizeof err), 0, "%s", err);
    config_free(cfg);
}

Test(config, looks_up_an_applications_env)
{
    struct config *cfg = parse_ok("[{counter, [{initial, 5}, {name, 'c'}]}, {k, []}].");
    cr_assert(term_eq(config_get(cfg, ATOM("counter"), ATOM("initial")), INT(5)));
    cr_assert(is_none(config_get(cfg, ATOM("counter"), ATOM("absent"))));
    cr_assert(is_none(config_get(cfg, ATOM("nobody"), ATOM("initial"))));
    cr_assert(term_eq(config_app_env(cfg, ATOM("k")), NIL));
    cr_assert(term_eq(config_app_env(cfg, ATOM("nobody")), NIL));
    cr_assert_null(config_keyfind(INT(3), ATOM("x")), "no list: no element");
    config_free(cfg);
}

Test(config, reads_a_file_and_names_it)
{
    char path[] = "/tmp/test_config_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    const char *text = "[{counter,\n  [{initial, 1}}].\n";
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    char err[512], want[512];
    cr_assert_null(config_read(path, err, sizeof err));
    snprintf(want, sizeof want, "%s:2:16: expected ',' or ']' after a list element, "
             "found '}'", path);
    cr_assert_str_eq(err, want);
    unlink(path);
    cr_assert_null(config_read(path, err, sizeof err));
    snprintf(want, sizeof want, "%s: cannot read: No such file or directory", path);
    cr_assert_str_eq(err, want);
}

/* ---- Fuzzing the reader -------------------------------------------------- */

/* A small PRNG (xorshift64*), seeded, so a failure can be replayed. */
static uint64_t fuzz_state;
static uint64_t fuzz_next(void)
{
    fuzz_state ^= fuzz_state >> 12;
    fuzz_state ^= fuzz_state << 25;
    fuzz_state ^= fuzz_state >> 27;
    return fuzz_state * 2685821657736338717ULL;
}

/* Pieces random texts are made of: every token kind, and some bad ones. */
static const char *const fuzz_pieces[] = {
    "[", "]", "{", "}", ",", "|", ".", "<<", ">>", "/", "utf8", "a", "'Q \\' a'",
    "\"s\\x{41}\"", "\"", "'", "42", "-7", "16#ff", "$a", "$\\n", "1.5", "X", "#",
    "%c\n", " ", "\n", "\xc3\xa9", "\xff", "\\", "9999999999999999999", "_", "@",
    "\"\\", "\0", "37#1", "2#", "\"\\x{",
};

/* Checks one text: it parses, and prints back as a text read the same; or
 * it is refused naming fuzz.config and a line inside the text. */
static void fuzz_one(const char *text, size_t len)
{
    char *exact = malloc(len ? len : 1);    /* nothing after it: ASan sees an over-read */
    memcpy(exact, text, len);
    char err[256];
    struct config *cfg = config_parse("fuzz.config", exact, len, err, sizeof err);
    if (!cfg) {
        int line = 0, col = 0;
        cr_assert(sscanf(err, "fuzz.config:%d:%d: ", &line, &col) == 2,
                  "message without a place: %s", err);
        size_t lines = 1;
        for (size_t i = 0; i < len; i++)
            lines += exact[i] == '\n';
        cr_assert(line >= 1 && (size_t)line <= lines && col >= 1, "%s", err);
        free(exact);
        return;
    }
    size_t n = (size_t)term_format(NULL, 0, config_term(cfg)) + 2;
    char *back = malloc(n + 1);
    term_format(back, n, config_term(cfg));
    strcat(back, ".");
    struct config *again = config_parse("back", back, strlen(back), err, sizeof err);
    cr_assert_not_null(again, "printed %s does not read back: %s", back, err);
    cr_assert(term_eq(config_term(cfg), config_term(again)), "%s", back);
    config_free(again);
    config_free(cfg);
    free(back);
    free(exact);
}

Test(config, survives_random_texts)
{
    fuzz_state = 0x9e3779b97f4a7c15ULL;
    char text[512];
    for (int round = 0; round < 20000 / SAN_DIVISOR; round++) {
        size_t len = 0, pieces = fuzz_next() % 24;
        for (size_t i = 0; i < pieces; i++) {
            const char *p = fuzz_pieces[fuzz_next() % (sizeof fuzz_pieces /
                                                       sizeof *fuzz_pieces)];
            size_t plen = p[0] ? strlen(p) : 1;    /* "\0" is one NUL byte */
            memcpy(text + len, p, plen);
            len += plen;
        }
        if (fuzz_next() % 2)
            text[len++] = '.';
        fuzz_one(text, len);
    }
}

Test(config, survives_mutated_configs)
{
    static const char good[] =
        "%% the study's a.config\n"
        "[{kernel, [{distributed, [{counter, 5000, [a@localhost, {b@localhost, "
        "c@localhost}]}]},\n  {sync_nodes_mandatory, [b@localhost, c@localhost]},\n"
        "  {sync_nodes_timeout, 30000}]},\n {counter, [{initial, 0}, {name, "
        "<<\"the counter\">>}, {label, \"c\\x{e9}\"}, {'Q', $q}, {t, [a | b]}]}].\n";
    fuzz_state = 0x243f6a8885a308d3ULL;
    char text[sizeof good + 64];
    fuzz_one(good, sizeof good - 1);
    for (int round = 0; round < 20000 / SAN_DIVISOR; round++) {
        size_t len = sizeof good - 1;
        memcpy(text, good, len);
        for (int m = 0, edits = 1 + (int)(fuzz_next() % 4); m < edits && len; m++) {
            size_t at = fuzz_next() % len;
            switch (fuzz_next() % 4) {
            case 0: text[at] = (char)fuzz_next(); break;            /* replace */
            case 1: memmove(text + at, text + at + 1, len - at - 1); /* delete */
                len--;
                break;
            case 2: if (len < sizeof text) {                        /* insert */
                    memmove(text + at + 1, text + at, len - at);
                    text[at] = "[]{},|.<>\"'$%\\#"[fuzz_next() % 15];
                    len++;
                }
                break;
            default: len = at + 1;                                  /* truncate */
            }
        }
        fuzz_one(text, len);
    }
}
