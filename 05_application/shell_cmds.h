/*
 * shell_cmds.h - a node's commands (see common/shell/shell.h).
 *
 *   read, tick N     the counter's API, to {global, counter}: from any node
 *   where            the node that runs the counter (dist_ac's view)
 *   nodes            the nodes this one is connected to: nodes()
 *   apps             application:which_applications()
 * and the built-ins (i, regs, flush, help, quit).
 */
#ifndef SHELL_CMDS_H
#define SHELL_CMDS_H

#include "shell.h"

/* The node's shell: the commands above plus the built-ins. */
extern const struct shell counter_shell;

#endif
