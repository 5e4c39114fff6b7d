/*
 * counter_sup.h - the counter's supervisor, registered globally
 * (counter_sup.erl: supervisor:start_link({global, counter_sup}, ...)).
 *
 * 04's flags and child spec: one_for_one, intensity 10 in 3600 s; the
 * child counter, permanent, shutdown 2000 ms, worker. Only the name's
 * scope changed: counter_sup is registered locally and globally.
 */
#ifndef COUNTER_SUP_H
#define COUNTER_SUP_H

#include <stdint.h>

#include "supervisor.h"

#define COUNTER_SUP ATOM("counter_sup")     /* the local and the global name */

/* start_link(Initial): the supervisor linked to the caller, with the
 * counter started at Initial. Returns its pid, or NONE with *error set as
 * supervisor_start does, or {already_started, Pid} when the global name is
 * held (the supervisor is stopped again). */
term counter_sup_start_link(int64_t initial, term *error);

#endif
