/*
 * hot.h - 07_hot_code's host side: the counter run from shared objects
 * (counter_v1.so, counter_v2.so) through the code server, twice over:
 *   counter        a gen_server, upgraded by sys:suspend, sys:change_code,
 *                  sys:resume (hot_upgrade)
 *   counter_loop   a raw receive loop that re-enters through the current
 *                  version at each message, as ?MODULE:loop(State)
 * tickers: processes that tick both under a steady load, and a watcher that
 * loads counter.so whenever it is rebuilt (--watch).
 *
 * Every function returns 0 or a term, or -1 / NONE with *error (when error
 * is not NULL) set to an OTP-shaped term in the caller's heap.
 */
#ifndef HOT_H
#define HOT_H

#include <stdbool.h>
#include <stdint.h>

#include "code.h"

#define COUNTER ATOM("counter")             /* the gen_server's name */
#define COUNTER_LOOP ATOM("counter_loop")   /* the raw loop's name */
#define HOT_MODULE "counter"                /* the module both run */

/* Where the objects are: the folder the Makefile built them in (SO_DIR). */
const char *hot_so_dir(void);

/* The path of name in hot_so_dir(), in a buffer that lives until the next
 * call from any thread (the tour and the shell are one thread). */
const char *hot_so_path(const char *name);

/* code:load_file(counter) from counter_v<vsn>.so. Errors as
 * code_load_file. */
int hot_load(int vsn, term *error);

/* Starts the gen_server and the raw loop (registered, not linked) on the
 * current version. Returns 0, or -1 with *error set. */
int hot_start(term *error);

/* Stops both (the gen_server by gen_server_stop, the loop by exit(kill))
 * and waits until they are gone. This function can't fail: what is not
 * running is skipped. */
void hot_stop(void);

/* Moves the gen_server to the current version (code_change_server, extra
 * []); the raw loop moves by itself at its next message. */
int hot_upgrade(term *error);

/* Ticks both by n: casts {tick, n} to counter, sends it to counter_loop. */
void hot_tick(int64_t n);

/* call(counter, req): read, reset, resets or vsn. Returns the reply. */
term hot_call(const char *req, term *error);

/* Asks the raw loop: req is read, vsn or reset; returns the value of its
 * answer {_, Pid, Value}, or NONE with *error timeout or noproc. */
term hot_loop_ask(const char *req, term *error);

/* Waits until pid waits in receive with an empty mailbox: a raw loop that
 * has served its messages and made its ?MODULE:loop call, so that what it
 * runs next is decided by the next message. Returns true, or false when it
 * did not get there within timeout_ms (or is not alive). */
bool hot_wait_idle(term pid, int timeout_ms);

/* Starts a watcher process: every interval_ms it looks at path, and when
 * path is another file than before (another inode or mtime: make live
 * renames a new one into place) it purges the old code (soft_purge, then
 * purge), loads path and moves the gen_server to it. It reports each load
 * as {watch, Result}, Result {module, counter} or {error, Why}: to owner
 * when owner is a pid, else printed to stdout. Send it stop to end it.
 * Returns once it has looked at path a first time (a change from then on is
 * seen), with its pid, or NONE as erl_spawn. */
term hot_watch(const char *path, int interval_ms, term owner);

/* Starts n tickers; each ticks both by 1, then waits interval_ms (0: only
 * yields), until hot_tickers_stop. Returns how many started. */
int hot_tickers_start(int n, int interval_ms);

/* Stops the tickers and returns the ticks they sent in all (each of them to
 * both counters). */
int64_t hot_tickers_stop(void);

#endif
