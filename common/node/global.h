/*
 * global.h - names that hold across the connected C nodes, as OTP's global.
 *
 * Every node keeps a copy of the whole table, kept by its process
 * c_global_server. A name is registered under a lock taken on every
 * connected node, in the order of their names, so that two registrations
 * of one name, on two nodes at the same instant, cannot both win. A name
 * goes when its owner dies or its owner's node goes down (each node sees
 * that on its own, through a monitor). A node that connects late is sent,
 * by each node, the names whose owners live there; a clash (two partitions
 * that registered one name) keeps the owner on the node with the smaller
 * name, on every node alike. `{global, Name}` goes wherever a server name
 * goes (erl_send, erl_monitor, gen_server_call and cast).
 *
 * Among C nodes only: BEAM's global speaks a protocol of its own.
 */
#ifndef GLOBAL_H
#define GLOBAL_H

#include "term.h"

/* global:register_name(Name, Pid). Returns 0 (yes), or -1 with errno
 * EEXIST when the name is held (on any connected node), EINVAL when name
 * is not an atom or pid not a pid, ENOTCONN when no node is started. */
int global_register_name(term name, term pid);

/* global:unregister_name(Name), on every connected node. Returns 0, or -1
 * with errno ENOTCONN when no node is started, EINVAL. */
int global_unregister_name(term name);

/* global:whereis_name(Name): the pid, or NONE. This function can't fail. */
term global_whereis_name(term name);

/* global:send(Name, Msg). Returns 0, or -1 with errno ESRCH when nobody
 * holds the name (OTP exits with {badarg, {Name, Msg}}). */
int global_send(term name, term msg);

#endif
