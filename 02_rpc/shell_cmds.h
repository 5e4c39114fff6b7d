/*
 * shell_cmds.h - the counter's commands for the shell (see common/shell/shell.h).
 *
 *   start, tick N, read, stop    counter:start() ... counter:stop()
 *   stray TERM                   self() ! TERM: read() now leaves it alone
 *   lite_start, lite_tick N,     the same counter as a gen_server_lite
 *   lite_read, lite_stop         callback module, registered as counter_lite
 */
#ifndef SHELL_CMDS_H
#define SHELL_CMDS_H

#include "shell.h"

/* The stage's shell: the commands above plus the built-ins. */
extern const struct shell counter_shell;

#endif
