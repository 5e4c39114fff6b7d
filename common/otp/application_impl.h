/*
 * application_impl.h - what the controller (application.c) and the
 * application master (application_master.c) share. Not for stages.
 *
 * The master and the controller speak these messages:
 *   master -> controller  {ac_start_result, App, Master, {ok, Top} |
 *                                                        {error, Reason}}
 *   controller -> master  {ac_stop, Controller}: stop the tree, call stop,
 *                         exit normal
 * and the master, which traps exits, is linked to the controller (it
 * stops its tree and exits with the controller's reason when that dies)
 * and to its top process (whose reason it exits with when that ends).
 */
#ifndef APPLICATION_IMPL_H
#define APPLICATION_IMPL_H

#include "application.h"

/* The master of one application: arg is {Controller, App, Mod, StartType,
 * StartArgs}, Mod the address of its struct application_module as an
 * integer. Spawned linked to the controller, quiet. */
void app_master_main(term arg);

/* Prints the INFO REPORT for app ending with reason (exited: Reason), of
 * start type type (an atom). */
void app_report(term app, term reason, term type);

/* The default halt: prints "Kernel pid terminated" as erl does and ends
 * the program with status (0 means 70). Never returns. */
_Noreturn void app_default_halt(term app, term reason, int status);

/* s as an Erlang string (a list of its bytes), kept in the caller's heap;
 * NULL is "". This function can't fail (it panics when memory runs out). */
term app_string(const char *s);

/* The atom of a start type. */
term app_type_atom(enum app_type type);

#endif
