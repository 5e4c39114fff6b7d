/*
 * shell_cmds.h - the supervised counter's commands (see common/shell/shell.h).
 *
 *   start [Initial]              counter_sup:start_link(Initial)
 *   tick N, read, stop           the counter's API (stop: it comes back)
 *   kill, error, divzero, nullptr    crash it four ways; it comes back
 *   children, tree               which_children; the tree drawn
 *   shutdown                     stop the supervisor and its counter
 */
#ifndef SHELL_CMDS_H
#define SHELL_CMDS_H

#include "shell.h"

/* The stage's shell: the commands above plus the built-ins. */
extern const struct shell counter_shell;

#endif
