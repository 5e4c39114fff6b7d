/*
 * shell_cmds.h - the counter's commands for the shell (see common/shell/shell.h).
 *
 *   start, tick N, read, stop    counter:start_link() ... counter:stop()
 *   crash                        the counter stops with reason boom
 *   slow MS                      a call that keeps the counter busy MS ms
 *   trace on|off, state, stats   sys:trace, sys:get_state, sys:statistics
 */
#ifndef SHELL_CMDS_H
#define SHELL_CMDS_H

#include "shell.h"

/* The stage's shell: the commands above plus the built-ins. */
extern const struct shell counter_shell;

#endif
