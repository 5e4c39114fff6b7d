/*
 * config.h - a config file in Erlang's own term syntax (sys.config), read
 * into this runtime's terms, with the line and column of every part kept
 * for error messages.
 *
 * A config file holds one Erlang term followed by a '.', as file:consult/1
 * reads it; a sys.config's term is [{App, [{Key, Value}]}]:
 *
 *     %% a.config
 *     [{kernel, [{distributed, [{counter, 5000, [a@localhost, {b@localhost,
 *                                                            c@localhost}]}]},
 *                {sync_nodes_timeout, 30000}]},
 *      {counter, [{initial, 0}, {name, <<"the counter">>}]}].
 *
 * What is read, and into which term:
 *   atoms          foo, foo_bar@host, 'Quoted atom'     TERM_ATOM (interned)
 *   integers       42, -7, 1_000, 16#ff, 2#1010, $a     TERM_INT (64-bit)
 *   strings        "abc" (adjacent ones join)           a TERM_LIST of the
 *                  characters' code points (UTF-8 decoded), as Erlang's
 *                  strings are lists; "" is []
 *   binaries       <<"abc">>, <<1, 2, 255>>, <<"a", 0>>  TERM_BINARY
 *   tuples, lists  {a, b}, [a, b], [a | b]              TERM_TUPLE, TERM_LIST
 *   comments       % to the end of the line
 * Escapes in strings, quoted atoms and $c: \b \d \e \f \n \r \s \t \v \\
 * \" \' \NNN (octal) \xHH \x{H...} \^c (control). What the runtime's terms
 * cannot hold is refused with a message saying so: floats, maps, pids,
 * funs, integers beyond 64 bits. Variables are refused as in
 * file:consult/1.
 *
 * A bad file is never half read: the reader returns NULL and writes one
 * line naming the file, the line and column, and what is wrong:
 *     a.config:3:14: expected ',' or ']' after a list element, found '}'
 * It reads any input without crashing or reading past its end, and nests
 * to any depth (it keeps its own stack on the heap, not the C one).
 *
 * Memory: the terms a struct config holds live in memory the struct owns
 * (atoms excepted: they are interned and live forever). They are valid
 * until config_free. To keep one past that, copy it (term_keep in a
 * process, or a message). A struct config is read-only once made: several
 * threads may read it at once.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "term.h"

struct config;

/* ---- Reading ------------------------------------------------------------- */

/* Reads the file at path. Returns the config, or NULL with a one-line
 * message in err (always NUL-terminated when errlen > 0): the file's
 * errno text when it cannot be read, else what config_parse says. */
struct config *config_read(const char *path, char *err, size_t errlen);

/* Parses the len bytes at text (need not be NUL-terminated; a NUL byte in
 * it is an error). file names the text in messages. Returns the config, or
 * NULL with a one-line message in err (as config_read). Sets errno ENOMEM
 * and says so in err when memory runs out. */
struct config *config_parse(const char *file, const char *text, size_t len,
                            char *err, size_t errlen);

/* Frees cfg and every term it holds; NULL does nothing. */
void config_free(struct config *cfg);

/* ---- Looking inside ------------------------------------------------------ */

/* The term the file holds. Valid until config_free. */
term config_term(const struct config *cfg);

/* The name the config was read under. */
const char *config_file(const struct config *cfg);

/* Where a part of the term was written: slot is the address of a term
 * inside cfg (a tuple's or list's element, reached through u.elements, or
 * config_root_slot). Sets *line and *col (from 1) and returns true; false
 * when slot is not one of cfg's. */
bool config_where(const struct config *cfg, const term *slot, int *line, int *col);

/* The address of the root term, for config_where. */
const term *config_root_slot(const struct config *cfg);

/* Writes "file:line:col: " and the printf-style message into err, naming
 * where slot was written ("file: " alone when slot is NULL or not cfg's).
 * Returns -1, so a checker can end with return config_error(...). */
int config_error(const struct config *cfg, const term *slot, char *err,
                 size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* ---- sys.config ---------------------------------------------------------- */

/* Checks that cfg holds a sys.config: a list of {App, Env}, App an atom and
 * Env a proper list of {Key, Value} with atom keys, each App once. Returns
 * 0, or -1 with a message naming the line of the first bad part. */
int config_check_sys(const struct config *cfg, char *err, size_t errlen);

/* The element of a proper list that is a tuple of two or more whose first
 * element is key (proplists:lookup / lists:keyfind(Key, 1, List)); its
 * address, for config_where. NULL when there is none or list is no list. */
const term *config_keyfind(term list, term key);

/* The Env of app in a checked sys.config, or NIL when app has none. */
term config_app_env(const struct config *cfg, term app);

/* The Value of {Key, Value} in app's Env, or NONE. */
term config_get(const struct config *cfg, term app, term key);

/* Its slot (for config_where), or NULL. */
const term *config_get_slot(const struct config *cfg, term app, term key);

#endif
