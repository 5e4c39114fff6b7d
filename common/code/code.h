/*
 * code.h - the code server: loading a new version of a module into a running
 * system, as Erlang's code module does, with shared objects for modules.
 *
 * A module's code is a shared object per version. Each exports one constant
 * table, struct code_module, under the symbol CODE_TABLE: its name, its
 * version, the ABI number it was built with, and its callbacks. The object
 * keeps no state of its own: every state lives in memory the host owns (a
 * gen_server's storage, a raw loop's heap), and atoms that leave a callback
 * (in a state, a reply, a reason) are made with atom_from, which copies the
 * name into host memory, never with ATOM("..."), whose name is the object's
 * own string and goes when the object is unloaded.
 *
 * Erlang's rules, kept here:
 *   - A module has at most two versions, current and old. Loading makes the
 *     current version old; loading again while old code exists fails with
 *     not_purged.
 *   - A process runs one version; it says which in a table the code server
 *     keeps (code_which lists it), and changes it only at its switch point:
 *     a raw loop at its next message (code_spawn_loop, the ?MODULE:loop
 *     analogue), a gen_server when sys:change_code runs in it
 *     (code_change_server).
 *   - soft_purge refuses while any process runs old code; purge kills those
 *     processes (reason killed: their links and monitors hear of it), waits
 *     until they are gone, and unloads the old code.
 * Invariant: an object is unloaded only when no process is registered as
 * running it and none can start to (purge marks the version dying first);
 * nothing it owns (a function pointer, a string) is used afterwards.
 *
 * All functions are safe to call from any process or plain thread. None
 * holds a lock while it waits for a process.
 */
#ifndef CODE_H
#define CODE_H

#include <stdbool.h>

#include "gen_server.h"

#define CODE_ABI 1                  /* bump when struct code_module changes */
#define CODE_TABLE "code_module"    /* the symbol every object exports */
#define CODE_MAX_MODULES 16         /* modules loaded at once */

/* What a module's shared object exports, as
 *     CODE_EXPORT const struct code_module code_module = {...};
 * The callbacks are the gen_server ones (server.name is not used: name is)
 * plus loop, one step of the raw receive loop. init, handle_call,
 * handle_cast, code_change and loop are required; handle_info and terminate
 * may be NULL (gen_server's defaults).
 * code_change(OldVsn, State, Extra) converts a state: on an upgrade it runs
 * in the new version with OldVsn the old version's number; on a downgrade
 * it runs in the version being left with OldVsn {down, Vsn}, Vsn the
 * version being gone back to (OTP's convention). */
struct code_module {
    unsigned abi;                       /* CODE_ABI, checked on load */
    const char *name;                   /* the module's name */
    long vsn;                           /* this version's number */
    struct gen_server_module server;    /* the gen_server callbacks */
    gen_result (*loop)(term msg, term state);   /* raw loop: handles one
                                           message; GEN_NOREPLY goes on with
                                           the new state, GEN_STOP ends the
                                           process with the reason */
};

/* Makes the table visible in an object built with -fvisibility=hidden. */
#define CODE_EXPORT __attribute__((visibility("default")))

/* ---- Loading and purging ------------------------------------------------- */

/* code:load_file: loads the shared object at path as the current version of
 * module; the current version, if any, becomes old. The object is copied to
 * a private path first (the dynamic loader would hand back an object it
 * already has open for the same path), then opened and checked. Returns 0,
 * or -1 with *error (if not NULL; a term in the caller's heap) set to:
 *   not_purged                           old code exists: purge it first
 *   system_limit                         CODE_MAX_MODULES modules loaded
 *   {nofile, Path}                       path cannot be read
 *   {not_a_shared_object, Path, Why}     the loader refused it; Why is its
 *                                        message, a binary
 *   {no_table, Path}                     no CODE_TABLE symbol
 *   {wrong_abi, Path, Abi}               built for another ABI number
 *   {wrong_module, Path, Name}           it is another module
 *   {missing_callback, Path, Callback}   a required callback is NULL
 * (Path is a binary.) On any error the versions loaded stay as they were. */
int code_load_file(const char *module, const char *path, term *error);

/* code:soft_purge: unloads module's old code unless some process runs it.
 * Returns true when there is no old code any more (or was none), false
 * when a process runs it or another purge of it is under way. */
bool code_soft_purge(const char *module);

/* code:purge: kills (reason kill) every process running module's old code,
 * waits up to timeout_ms for them to be gone, and unloads it. Returns 1 when
 * it killed some process, 0 when it had none to kill (old code or not), -1
 * with errno ETIMEDOUT when some process outlived the timeout (the old code
 * stays loaded), EBUSY when another purge of it is under way, or ENOMEM.
 * A caller that itself runs the old code is killed with the others. */
int code_purge(const char *module, int timeout_ms);

/* The version numbers of module: *current and *old (either may be NULL) get
 * them, or -1 where there is no such version. Returns 0, or -1 with errno
 * ENOENT when no version of module is loaded. */
int code_versions(const char *module, long *current, long *old);

/* What code_which reports for each process. */
struct code_user_info {
    term pid;               /* the process */
    const char *module;     /* the module it runs (lives forever) */
    long vsn;               /* the version it runs */
    bool old;               /* that version is the old one */
};

/* Calls fn for every live process registered as running a module, oldest
 * registration first. Returns the count. fn must not call this API. */
size_t code_which(void (*fn)(const struct code_user_info *info, void *ctx),
                  void *ctx);

/* Unloads every module and forgets every process. Only for the end of a
 * program or a test, when no process runs any module (after erl_stop). */
void code_unload_all(void);

/* ---- Running a module ---------------------------------------------------- */

/* Spawns a raw receive loop of module: state = init(arg), then for each
 * message state = loop(Msg, State). After each message the loop re-enters
 * through the module's current version (Erlang's ?MODULE:loop(State)): when
 * that is not the version it ran, the state is converted with code_change
 * (extra []), and on success the process runs the current version from its
 * next message on; if code_change fails it goes on with the old one. init's
 * stop, or a loop's, ends the process with its reason; a module not loaded
 * ends it with undef. flags and ref as erl_spawn_opt. Returns the pid, or
 * NONE as erl_spawn_opt. */
term code_spawn_loop(const char *module, term arg, int flags, term *ref);

/* gen_server:start of module's current version, registered as running it
 * from its init on. name, args, flags and error as gen_server_start; error
 * undef when no version of module is loaded. */
term code_start_server(term name, const char *module, term args, int flags,
                       term *error);

/* A supervisor's start function (sup_start_fn) for code_start_server with
 * ERL_LINK; arg is {Module, Name, Args}, Module an atom, Name an atom or
 * undefined. */
term code_start_child(term arg, term *error);

/* Upgrades (or downgrades) a gen_server started by code_start_server to its
 * module's current version: sys:suspend, sys:change_code with the state
 * converted by code_change (see struct code_module), sys:resume. extra is
 * passed to code_change. Returns 0 (also when it already runs the current
 * version), or -1 with *error set to: not_running_module (server is not
 * registered as running one), the sys call's error, or the reason
 * code_change failed with; the server then goes on with its old version and
 * state. timeout_ms bounds each of the three calls. */
int code_change_server(term server, term extra, int timeout_ms, term *error);

/* Upgrades every worker of supervisor sup that runs module in one step, as a
 * release handler does: suspends them all, changes them all, resumes them
 * all. If one change fails, the ones already changed are changed back, all
 * are resumed with their old version and state, and it returns -1 with
 * *error set to {Pid, Reason} for the one that failed (or to the error of
 * supervisor_which_children or sys_suspend). Returns the number of children
 * changed. */
int code_change_children(term sup, const char *module, term extra,
                         int timeout_ms, term *error);

#endif
