/*
 * shell_cmds.h - a member's shell (see common/shell/shell.h).
 *
 *   read             counter:read(): a call through the log
 *   tick N           counter:tick(N) as a call: the count once committed
 *   leader           the node whose member leads
 *   members          the configuration; each member: role, term, applied
 *   stop_member NODE gen_server_cluster:stop(counter, Node): NODE's member
 *                    out of the configuration, and stopped
 *   (and the built-ins: i, regs, help, quit)
 */
#ifndef SHELL_CMDS_H
#define SHELL_CMDS_H

#include "config.h"
#include "shell.h"

/* The commands' client reaches the members of c (which must outlive the
 * shell). Call before the shell runs. */
void shell_cmds_init(const struct stage_config *c);

extern const struct shell counter_shell;

#endif
