/*
 * counter_app.h - the counter as an application (counter.app and
 * counter_app.erl): its resource and its callback module.
 *
 *   counter.app   vsn "1.0", modules counter, counter_sup, counter_app,
 *                 registered counter_sup and counter, env [{initial, 0}],
 *                 mod {counter_app, []}
 *   start(Type, []) prints "counter_app: start(Type, []) on Node", reads
 *                 the env's initial and starts counter_sup with it; on
 *                 {takeover, Old} it first waits to learn the old
 *                 instance's global names (global:sync()), then takes them
 *                 from it, which keeps running, unnamed, until its
 *                 node stops it a moment later (as counter_app.erl does).
 *   stop(State)   prints "counter_app: stop([]) on Node".
 */
#ifndef COUNTER_APP_H
#define COUNTER_APP_H

#include "application.h"

#define COUNTER_APP "counter"   /* the application's name */

/* application:load(counter): the resource above, loaded into the running
 * application controller. Returns 0, or -1 with *error as application_load. */
int counter_app_load(term *error);

#endif
