/*
 * sys.h - the sys module: looking into a running gen_server (or
 * supervisor) from outside.
 *
 * Each function sends the server a system message {system, {From, Tag}, Req}
 * and waits for {Tag, Reply}, as sys:get_state/1 and friends do. The server
 * handles system messages in its own loop (gen_server_sys.c; a supervisor's
 * in supervisor_sys.c, which answers get_state, get_status, suspend and
 * resume), between callbacks, so what they see is always a state between
 * two messages.
 *
 * Every function takes the call's timeout in ms (sys's default is 5000:
 * GEN_DEFAULT_TIMEOUT). When the call fails it returns NONE or -1 with
 * *error (when error is not NULL) set to {Reason, {sys, Function, Args}}, as
 * OTP's sys exits: Reason is noproc, timeout or the reason the server exited
 * with; Args are the Erlang call's (without its timeout), e.g.
 *   {noproc, {sys, trace, [counter, true]}}
 *   {timeout, {sys, get_state, [counter]}}
 * (change_code names the module by its name, 'undefined' for NULL;
 * replace_state is {Reason, {sys, {replace_state, Fn, Arg}, [Server]}}, as
 * OTP puts its fun there). *error is then a term of the caller's own.
 *
 * Differences from OTP, all because a C function cannot be sent as a value:
 * replace_state takes a function pointer and an argument term (copied into the
 * server like any message) instead of a fun; change_code takes the new
 * callback table. A suspended server handles system messages and an
 * {'EXIT', Parent, Reason} from its parent; everything else waits in order.
 */
#ifndef SYS_H
#define SYS_H

#include <stdbool.h>

#include "gen_server.h"

/* A state transformation for sys_replace_state: runs inside the server and
 * returns the new state (same lifetime rules as a callback's return). */
typedef term (*sys_state_fn)(term state, term arg);

/* sys:get_state: the server's state (a copy in the caller's heap). */
term sys_get_state(term server, int timeout_ms, term *error);

/* sys:replace_state: the server sets its state to fn(State, arg) and the new
 * state is returned. If fn crashes, the server crashes with it. */
term sys_replace_state(term server, sys_state_fn fn, term arg, int timeout_ms,
                       term *error);

/* sys:suspend: from now on the server handles only system messages (and its
 * parent's exit); calls, casts and other messages wait in its mailbox, in
 * order. Returns 0, or -1 with *error set. */
int sys_suspend(term server, int timeout_ms, term *error);

/* sys:resume: the server goes back to handling every message, oldest first.
 * Returns 0, or -1 with *error set. */
int sys_resume(term server, int timeout_ms, term *error);

/* sys:trace: when on, the server prints every message in and out to stdout:
 *   *DBG* counter got cast {tick,5}
 *   *DBG* counter new state 5
 *   *DBG* counter got call read from <0.45.0>
 *   *DBG* counter sent 5 to <0.45.0>, new state 5
 *   *DBG* counter got {'EXIT',<0.50.0>,boom}
 * Returns 0, or -1 with *error set. */
int sys_trace(term server, bool on, int timeout_ms, term *error);

/* sys:statistics: flag true starts counting (again, from zero), false stops,
 * get reads. Returns ok for true and false; for get
 *   {ok, [{start_time, {{Y,M,D},{H,Mi,S}}}, {current_time, ...},
 *         {messages_in, N}, {messages_out, N}]}
 * or no_statistics when counting is off. messages_in counts calls, casts and
 * other messages (not system messages), messages_out the replies the loop
 * sent. OTP's reductions are left out: C has nothing honest to count. */
term sys_statistics(term server, term flag, int timeout_ms, term *error);

/* sys:get_status:
 *   {status, Pid, {module, gen_server},
 *    [[], running | suspended, Parent, [],
 *     [{header, <<"Status for generic server Name">>},
 *      {data, [{<<"Status">>, running | suspended}, {<<"Parent">>, Parent}]},
 *      {data, [{<<"State">>, State}]}]]}
 * (the strings are binaries). */
term sys_get_status(term server, int timeout_ms, term *error);

/* sys:change_code: the server switches to the callback table mod (NULL keeps
 * its own) and replaces its state by mod->code_change(old_vsn, State, extra),
 * which must return GEN_OK (a NULL code_change keeps the state). The server
 * should be suspended first, as OTP asks. Returns 0, or -1 with *error set to
 * the call's error or to the reason code_change stopped with (or to
 * {bad_return_value, R}); the server keeps its old table and state then. */
int sys_change_code(term server, const struct gen_server_module *mod,
                    term old_vsn, term extra, int timeout_ms, term *error);

#endif
