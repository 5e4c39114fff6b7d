/*
 * counter_sup.h - the counter's supervisor (common/otp/supervisor.h).
 *
 * counter_sup:start_link(Initial) starts a supervisor registered as
 * counter_sup with
 *   flags  one_for_one, intensity 10, period 3600 s
 *   child  id counter, start counter_start_link(Initial), permanent,
 *          shutdown 2000 ms, worker
 * When the counter dies, for any reason, it is started again at Initial.
 * The 11th restart within the hour makes the supervisor give up: it stops
 * and exits with reason shutdown.
 */
#ifndef COUNTER_SUP_H
#define COUNTER_SUP_H

#include <stdint.h>
#include <stdio.h>

#include "supervisor.h"

#define COUNTER_SUP ATOM("counter_sup")     /* the registered name */

/* The flags above: one_for_one, 10 restarts in 3600 s. */
extern const struct sup_flags counter_sup_flags;

/* start_link(Initial): the supervisor linked to the caller, with the
 * counter started. Returns its pid, or NONE with *error set as
 * supervisor_start does. */
term counter_sup_start_link(int64_t initial, term *error);

/* The same with other flags (tests use a larger intensity). */
term counter_sup_start_link_flags(int64_t initial, struct sup_flags flags,
                                  term *error);

/* The counter's pid as the supervisor knows it: a pid, or the atom
 * undefined / restarting; NONE with *error set when the call fails. */
term counter_sup_counter(term *error);

/* Waits until the supervisor runs a counter other than old, and returns its
 * pid; NONE with *error set when the supervisor is gone (it gave up). */
term counter_sup_await_restart(term old, term *error);

/* Draws the tree in ASCII:
 *   counter_sup <0.2.0>  one_for_one, 10 restarts in 3600 s
 *    |
 *    +-- counter <0.3.0>  worker, permanent, shutdown 2000 ms
 * Returns 0, or -1 with *error set when the supervisor does not answer. */
int counter_sup_draw(FILE *out, term *error);

#endif
