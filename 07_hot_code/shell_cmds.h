/*
 * shell_cmds.h - the hot code commands for the shell (see common/shell/shell.h).
 *
 *   start, stop                 the gen_server counter and the raw loop
 *   load N | load FILE          code:load_file, then the gen_server moves to
 *                               the new current version (sys:suspend,
 *                               change_code, resume); the loop moves by
 *                               itself at its next message
 *   which                       each process's module and version
 *   soft_purge, purge           code:soft_purge(counter), code:purge(counter)
 *   tick N, read, reset, vsn    both counters
 *   state                       sys:get_state(counter)
 *   tickers N                   N more ticking processes; 0 stops them all
 */
#ifndef SHELL_CMDS_H
#define SHELL_CMDS_H

#include "shell.h"

/* The stage's shell: the commands above plus the built-ins. */
extern const struct shell hot_shell;

/* Loads arg (a version number, or a file: a bare name is looked for in the
 * objects' folder) and moves the gen_server to it, printing what
 * code:load_file and the change returned. Returns a shell_status. The tour
 * and --watch use it too. */
int hot_cmd_load(const char *arg, FILE *out);

/* Prints which process runs which version, one a line. */
void hot_print_which(FILE *out);

#endif
