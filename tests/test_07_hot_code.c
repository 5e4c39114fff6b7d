/*
 * test_07_hot_code.c - the code server (common/code/) and 07_hot_code's
 * counter: loading, the two-version rule, the switch points, purging, the
 * checks on a bad object, state conversion both ways, the supervisor-wide
 * upgrade, and no tick lost while upgrading under load.
 *
 * The shared objects are the stage's, built with this suite's sanitizer
 * flags in SO_DIR (tests/Makefile passes it: build/<variant>/07_hot_code).
 * Each test runs in a process of its own (Criterion forks), so each starts
 * with no module loaded.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "07_hot_code/hot.h"
#include "07_hot_code/shell_cmds.h"
#include "common/code/code.h"
#include "common/otp/supervisor.h"
#include "common/otp/sys.h"
#include "test_util.h"

#ifndef SO_DIR
#error "tests/Makefile passes SO_DIR, where 07_hot_code's objects are"
#endif

/* ---- Helpers ------------------------------------------------------------- */

/* The path of object name in SO_DIR (a buffer per call site statement). */
static const char *so(const char *name, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s", SO_DIR, name);
    return buf;
}
#define SO(name) so((name), (char[512]){0}, 512)

static void load(int vsn)
{
    term error = NONE;
    cr_assert_eq(hot_load(vsn, &error), 0, "loading version %d: %s", vsn,
                 FMT(error));
}

static void expect_versions(long current, long old)
{
    long c, o;
    code_versions(HOT_MODULE, &c, &o);
    cr_assert_eq(c, current, "current vsn %ld, want %ld", c, current);
    cr_assert_eq(o, old, "old vsn %ld, want %ld", o, old);
}

/* call(server, req) that must succeed; the reply. */
static term call(term server, const char *req)
{
    term error = NONE;
    term r = gen_server_call(server, atom_from(req), WAIT_MS, &error);
    cr_assert(!is_none(r), "call %s failed: %s", req, FMT(error));
    return r;
}

static int64_t call_int(term server, const char *req)
{
    term r = call(server, req);
    cr_assert(is_int(r), "call %s gave %s", req, FMT(r));
    return r.u.integer;
}

static term state_of(term server)
{
    term error = NONE;
    term s = sys_get_state(server, WAIT_MS, &error);
    cr_assert(!is_none(s), "sys:get_state failed: %s", FMT(error));
    return s;
}

/* Asks a raw loop req (read, vsn, reset) and returns the value it answers. */
static term ask(term loop, const char *req)
{
    term tag = atom_from(req), value;
    erl_send(loop, TUPLE(tag, erl_self()));
    await(TUPLE(tag, loop, VAR(&value)), req);
    return value;
}

/* What code_which says pid runs: its vsn (-1: not registered), and *old. */
struct seen {
    term pid;       /* the process looked for */
    long vsn;       /* the version it runs, -1 if not registered */
    bool old;       /* that version is the old one */
};
static void note(const struct code_user_info *u, void *ctx)
{
    struct seen *s = ctx;
    if (term_eq(u->pid, s->pid)) {
        s->vsn = u->vsn;
        s->old = u->old;
    }
}
static long runs(term pid, bool *old)
{
    struct seen s = {pid, -1, false};
    code_which(note, &s);
    if (old)
        *old = s.old;
    return s.vsn;
}

static term start_server(term name)
{
    term error = NONE;
    term pid = code_start_server(name, HOT_MODULE, INT(0), 0, &error);
    cr_assert(!is_none(pid), "code_start_server: %s", FMT(error));
    return pid;
}

static void upgrade(term server)
{
    term error = NONE;
    cr_assert_eq(code_change_server(server, NIL, WAIT_MS, &error), 0,
                 "code_change_server: %s", FMT(error));
}

/* Mapped private copies of objects: a line of /proc/self/maps per mapping
 * of a file named erl-code-*.so. */
static int mapped_copies(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    cr_assert_not_null(f);
    char line[1024], last[1024] = "";
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        char *p = strstr(line, "erl-code-");
        if (p && strcmp(p, last) != 0) {      /* one object, several maps */
            n++;
            snprintf(last, sizeof last, "%s", p);
        }
    }
    fclose(f);
    return n;
}

static void setup(void) { start_two_schedulers(); }
static void teardown(void)
{
    erl_stop();
    code_unload_all();
}

/* ---- Loading and the two-version rule ------------------------------------ */

TestSuite(load, .init = setup, .fini = teardown, .timeout = 60);

Test(load, loading_makes_current_old_and_a_third_fails_not_purged)
{
    cr_assert_eq(code_versions(HOT_MODULE, NULL, NULL), -1);
    load(1);
    expect_versions(1, -1);
    load(2);
    expect_versions(2, 1);
    term error = NONE;
    cr_assert_eq(hot_load(1, &error), -1);
    cr_assert(is_atom_named(error, "not_purged"), "error %s", FMT(error));
    expect_versions(2, 1);
}

Test(load, soft_purge_and_purge_with_no_old_code)
{
    cr_assert(code_soft_purge(HOT_MODULE));
    cr_assert_eq(code_purge(HOT_MODULE, WAIT_MS), 0);
    load(1);
    load(2);
    cr_assert(code_soft_purge(HOT_MODULE), "nobody runs version 1");
    expect_versions(2, -1);
    load(1);
    cr_assert_eq(code_purge(HOT_MODULE, WAIT_MS), 0, "nothing to kill");
    expect_versions(1, -1);
}

Test(load, the_same_path_twice_gives_two_versions_not_the_cached_one)
{
    /* counter.so (what --watch loads; make live may have rebuilt it as
     * either version) loaded twice from one path: the private copy makes
     * the second a fresh object, not dlopen's cached handle. */
    term error = NONE;
    cr_assert_eq(code_load_file(HOT_MODULE, SO("counter.so"), &error), 0, "%s",
                 FMT(error));
    cr_assert_eq(code_load_file(HOT_MODULE, SO("counter.so"), &error), 0, "%s",
                 FMT(error));
    long cur, old;
    code_versions(HOT_MODULE, &cur, &old);
    cr_assert(cur == old && cur > 0, "current %ld, old %ld", cur, old);
    cr_assert_eq(mapped_copies(), 2, "two objects mapped");
}

/* ---- Bad objects --------------------------------------------------------- */

/* Loads file, which must fail with {why, <<Path>>, ...}; the server pid
 * goes on serving version 1 with its count. */
static void expect_refused(const char *file, const char *why, term server)
{
    term error = NONE;
    const char *path = SO(file);
    cr_assert_eq(code_load_file(HOT_MODULE, path, &error), -1, "%s loaded", file);
    cr_assert(is_tuple(error) && is_atom_named(element(1, error), why),
              "%s: error %s, want %s", file, FMT(error), why);
    term p = element(2, error);
    cr_assert(is_binary(p) && p.size == strlen(path) &&
              memcmp(p.u.bytes, path, p.size) == 0, "path %s", FMT(p));
    expect_versions(1, -1);
    gen_server_cast(server, TUPLE(ATOM("tick"), INT(1)));
    cr_assert_eq(call_int(server, "vsn"), 1);
}

Test(load, each_kind_of_bad_object_is_refused_and_the_old_code_serves)
{
    load(1);
    term server = start_server(COUNTER);
    expect_refused("no_such_file.so", "nofile", server);
    expect_refused("not_an_object.so", "not_a_shared_object", server);
    expect_refused("bad_notable.so", "no_table", server);
    expect_refused("bad_abi.so", "wrong_abi", server);
    expect_refused("bad_name.so", "wrong_module", server);
    expect_refused("bad_callback.so", "missing_callback", server);
    cr_assert_eq(call_int(server, "read"), 6, "every tick served");
    cr_assert_eq(mapped_copies(), 1, "only version 1 stays mapped");
}

Test(load, a_refusal_names_the_problem)
{
    term error = NONE;
    code_load_file(HOT_MODULE, SO("bad_abi.so"), &error);
    cr_assert(term_eq(element(3, error), INT(99)), "%s", FMT(error));
    code_load_file(HOT_MODULE, SO("bad_name.so"), &error);
    cr_assert(is_atom_named(element(3, error), "timer"), "%s", FMT(error));
    code_load_file(HOT_MODULE, SO("bad_callback.so"), &error);
    cr_assert(is_atom_named(element(3, error), "handle_call"), "%s", FMT(error));
    code_load_file(HOT_MODULE, SO("not_an_object.so"), &error);
    cr_assert(is_binary(element(3, error)), "the loader's message: %s", FMT(error));
}

/* ---- The gen_server path ------------------------------------------------- */

TestSuite(server, .init = setup, .fini = teardown, .timeout = 60);

Test(server, state_is_carried_across_upgrade_and_downgrade)
{
    load(1);
    term server = start_server(COUNTER);
    gen_server_cast(server, TUPLE(ATOM("tick"), INT(5)));
    cr_assert_eq(call_int(server, "read"), 5);
    load(2);
    cr_assert_eq(call_int(server, "vsn"), 1, "nothing moves before the change");
    upgrade(server);
    cr_assert(term_eq(state_of(server), TUPLE(ATOM("counter"), INT(5), INT(0))),
              "state %s", FMT(state_of(server)));
    cr_assert_eq(call_int(server, "vsn"), 2);
    cr_assert(is_atom_named(call(server, "reset"), "ok"));
    gen_server_cast(server, TUPLE(ATOM("tick"), INT(3)));
    cr_assert_eq(call_int(server, "read"), 3);
    cr_assert_eq(call_int(server, "resets"), 1);
    cr_assert(code_soft_purge(HOT_MODULE));
    load(1);
    upgrade(server);                    /* a downgrade: {down, 1} */
    cr_assert(term_eq(state_of(server), INT(3)), "state %s", FMT(state_of(server)));
    cr_assert_eq(call_int(server, "vsn"), 1);
    term r = call(server, "reset");
    cr_assert(is_tuple(r) && is_atom_named(element(1, r), "error"),
              "version 1 has no reset: %s", FMT(r));
}

Test(server, which_tracks_the_version_at_the_switch_point)
{
    load(1);
    term server = start_server(COUNTER);
    bool old;
    cr_assert_eq(runs(server, &old), 1);
    cr_assert_not(old);
    load(2);
    cr_assert_eq(runs(server, &old), 1);
    cr_assert(old, "version 1 is old now");
    cr_assert_not(code_soft_purge(HOT_MODULE), "the server runs old code");
    upgrade(server);
    cr_assert_eq(runs(server, &old), 2);
    cr_assert_not(old);
    cr_assert(code_soft_purge(HOT_MODULE));
}

Test(server, a_failing_code_change_keeps_the_old_version_and_state)
{
    load(1);
    term server = start_server(COUNTER);
    gen_server_cast(server, TUPLE(ATOM("tick"), INT(7)));
    load(2);
    term error = NONE;
    cr_assert_eq(code_change_server(server, TUPLE(ATOM("refuse"), INT(7)),
                                    WAIT_MS, &error), -1);
    cr_assert(is_atom_named(error, "refused"), "error %s", FMT(error));
    cr_assert(term_eq(state_of(server), INT(7)), "state %s", FMT(state_of(server)));
    cr_assert_eq(call_int(server, "vsn"), 1);
    cr_assert_eq(runs(server, NULL), 1);
    gen_server_cast(server, TUPLE(ATOM("tick"), INT(1)));
    cr_assert_eq(call_int(server, "read"), 8, "it was resumed");
    upgrade(server);
    cr_assert(term_eq(state_of(server), TUPLE(ATOM("counter"), INT(8), INT(0))));
}

Test(server, purge_kills_a_server_on_old_code_and_its_monitor_hears)
{
    load(1);
    term server = start_server(COUNTER);
    erl_link(server);
    term ref = erl_monitor(server);
    load(2);
    cr_assert_eq(code_purge(HOT_MODULE, WAIT_MS), 1, "it killed the server");
    expect_down(ref, ATOM("killed"));
    await(TUPLE(ATOM("EXIT"), server, ATOM("killed")), "the linked 'EXIT'");
    expect_versions(2, -1);
    cr_assert_eq(mapped_copies(), 1, "version 1 unloaded");
}

Test(server, errors_of_the_start_and_the_change)
{
    term error = NONE;
    cr_assert(is_none(code_start_server(NONE, HOT_MODULE, INT(0), 0, &error)));
    cr_assert(is_atom_named(error, "undef"), "%s", FMT(error));
    cr_assert_eq(code_change_server(erl_self(), NIL, WAIT_MS, &error), -1);
    cr_assert(is_atom_named(error, "not_running_module"), "%s", FMT(error));
    load(1);
    term server = start_server(NONE);
    cr_assert_eq(code_change_server(server, NIL, WAIT_MS, &error), 0,
                 "already current: nothing to do");
}

/* ---- The raw loop -------------------------------------------------------- */

TestSuite(loop, .init = setup, .fini = teardown, .timeout = 60);

Test(loop, switches_at_its_next_message_and_not_before)
{
    load(1);
    term loop = code_spawn_loop(HOT_MODULE, INT(0), 0, NULL);
    erl_send(loop, TUPLE(ATOM("tick"), INT(4)));
    cr_assert(term_eq(ask(loop, "vsn"), INT(1)));
    cr_assert(hot_wait_idle(loop, WAIT_MS), "the loop never went back to receive");
    load(2);
    bool old;
    cr_assert_eq(runs(loop, &old), 1);
    cr_assert(old);
    cr_assert_not(code_soft_purge(HOT_MODULE), "the loop sits in old code");
    cr_assert(term_eq(ask(loop, "vsn"), INT(1)),
              "the message that wakes it is served by the old code");
    cr_assert(term_eq(ask(loop, "vsn"), INT(2)), "then it re-entered the new one");
    cr_assert_eq(runs(loop, &old), 2);
    cr_assert_not(old);
    cr_assert(term_eq(ask(loop, "read"), INT(4)), "the count came along");
    cr_assert(is_atom_named(ask(loop, "reset"), "ok"));
    cr_assert(term_eq(ask(loop, "read"), INT(0)));
    cr_assert(code_soft_purge(HOT_MODULE));
}

Test(loop, downgrades_at_its_next_message)
{
    load(1);
    load(2);
    term loop = code_spawn_loop(HOT_MODULE, INT(0), 0, NULL);
    erl_send(loop, TUPLE(ATOM("tick"), INT(9)));
    cr_assert(term_eq(ask(loop, "vsn"), INT(2)));
    cr_assert(code_soft_purge(HOT_MODULE));
    load(1);
    ask(loop, "read");                  /* served by 2, then it moves */
    cr_assert(term_eq(ask(loop, "vsn"), INT(1)));
    cr_assert(term_eq(ask(loop, "read"), INT(9)));
}

Test(loop, purge_kills_it_and_tells_its_links_and_monitors)
{
    load(1);
    term ref;
    term loop = code_spawn_loop(HOT_MODULE, INT(0), ERL_LINK | ERL_MONITOR, &ref);
    term watcher = agent_start();
    agent_trap(watcher, true);
    agent_link(watcher, loop);
    cr_assert(term_eq(ask(loop, "vsn"), INT(1)));
    cr_assert(hot_wait_idle(loop, WAIT_MS));
    load(2);
    cr_assert_not(code_soft_purge(HOT_MODULE));
    cr_assert_eq(code_purge(HOT_MODULE, WAIT_MS), 1);
    expect_down(ref, ATOM("killed"));
    await(TUPLE(ATOM("EXIT"), loop, ATOM("killed")), "our 'EXIT'");
    term got = await_forwarded(watcher, "the agent's 'EXIT'");
    cr_assert(term_eq(got, TUPLE(ATOM("EXIT"), loop, ATOM("killed"))), "%s",
              FMT(got));
    cr_assert_not(erl_is_alive(loop));
    expect_versions(2, -1);
    cr_assert_eq(runs(loop, NULL), -1, "forgotten");
}

Test(loop, with_no_module_loaded_it_exits_undef)
{
    term ref;
    code_spawn_loop(HOT_MODULE, INT(0), ERL_MONITOR, &ref);
    expect_down(ref, ATOM("undef"));
}

/* ---- Under load ---------------------------------------------------------- */

TestSuite(under_load, .init = setup, .fini = teardown, .timeout = 120);

/* Waits until soft_purge succeeds (the loop moves at its next tick). */
static void purge_soon(void)
{
    int64_t deadline = now_ns() + (int64_t)WAIT_MS * 1000000;
    while (!code_soft_purge(HOT_MODULE)) {
        cr_assert(now_ns() < deadline, "old code still running after %d ms", WAIT_MS);
        erl_sleep(1);
    }
}

/* Switches both counters to version vsn (the old one is purged first). */
static void switch_to(int vsn)
{
    purge_soon();
    load(vsn);
    upgrade(COUNTER);
}

Test(under_load, not_one_tick_is_lost_while_upgrading)
{
    load(1);
    term error = NONE;
    cr_assert_eq(hot_start(&error), 0, "%s", FMT(error));
    hot_tickers_start(4, 1);
    int cycles = 50 / SAN_DIVISOR + 2;
    for (int i = 0; i < cycles; i++) {
        switch_to(2);
        switch_to(1);
    }
    int64_t sent = hot_tickers_stop();
    cr_assert_gt(sent, 0);
    cr_assert_eq(call_int(COUNTER, "read"), sent, "the gen_server lost ticks");
    cr_assert(term_eq(ask(erl_whereis(COUNTER_LOOP), "read"), INT(sent)),
              "the raw loop lost ticks");
}

Test(under_load, a_thousand_cycles_leave_nothing_behind)
{
    load(1);
    term server = start_server(COUNTER);
    term loop = code_spawn_loop(HOT_MODULE, INT(0), 0, NULL);
    int cycles = 1000 / SAN_DIVISOR;
    for (int i = 0; i < cycles; i++) {
        gen_server_cast(server, TUPLE(ATOM("tick"), INT(1)));
        erl_send(loop, TUPLE(ATOM("tick"), INT(1)));    /* it moves after it */
        cr_assert(hot_wait_idle(loop, WAIT_MS));
        cr_assert(code_soft_purge(HOT_MODULE), "cycle %d: old code still runs", i);
        load(2 - i % 2);
        upgrade(server);
    }
    cr_assert_eq(call_int(server, "read"), cycles);
    cr_assert(term_eq(ask(loop, "read"), INT(cycles)));
    cr_assert_leq(mapped_copies(), 2, "unloaded objects stay mapped");
    erl_stop();
    code_unload_all();
    cr_assert_eq(mapped_copies(), 0);
#ifdef __SANITIZE_ADDRESS__
    cr_assert_eq(__lsan_do_recoverable_leak_check(), 0,
                 "LeakSanitizer found leaks: see its report above");
#endif
}

/* ---- A supervisor's children in one step --------------------------------- */

TestSuite(release, .init = setup, .fini = teardown, .timeout = 60);

/* A one_for_one supervisor of three counters c1, c2, c3 ticked to 1, 2, 3. */
static term start_tree(void)
{
    struct sup_child_spec specs[3];
    term args[3][3];            /* each spec's {counter, Name, Count} */
    const char *names[3] = {"c1", "c2", "c3"};
    for (int i = 0; i < 3; i++) {
        args[i][0] = ATOM("counter");
        args[i][1] = atom_from(names[i]);
        args[i][2] = INT(i + 1);
    }
    for (int i = 0; i < 3; i++)
        specs[i] = (struct sup_child_spec){
            .id = atom_from(names[i]), .start = code_start_child,
            .arg = term_tuple(args[i], 3),
            .restart = SUP_PERMANENT, .shutdown = 1000, .type = SUP_WORKER};
    term error = NONE;
    term sup = supervisor_start(NONE, (struct sup_flags){SUP_ONE_FOR_ONE, 3, 5},
                                specs, 3, 0, &error);
    cr_assert(!is_none(sup), "supervisor_start: %s", FMT(error));
    return sup;
}

Test(release, all_children_are_upgraded_in_one_step)
{
    load(1);
    term sup = start_tree();
    load(2);
    term error = NONE;
    cr_assert_eq(code_change_children(sup, HOT_MODULE, NIL, WAIT_MS, &error), 3,
                 "%s", FMT(error));
    const char *names[3] = {"c1", "c2", "c3"};
    for (int i = 0; i < 3; i++) {
        term c = atom_from(names[i]);
        cr_assert_eq(call_int(c, "vsn"), 2);
        cr_assert(term_eq(state_of(c), TUPLE(ATOM("counter"), INT(i + 1), INT(0))));
    }
    cr_assert(code_soft_purge(HOT_MODULE));
}

Test(release, one_failing_child_rolls_them_all_back)
{
    load(1);
    term sup = start_tree();
    load(2);
    term error = NONE;
    cr_assert_eq(code_change_children(sup, HOT_MODULE, TUPLE(ATOM("refuse"), INT(2)),
                                      WAIT_MS, &error), -1);
    cr_assert(term_eq(error, TUPLE(erl_whereis(ATOM("c2")), ATOM("refused"))),
              "error %s", FMT(error));
    const char *names[3] = {"c1", "c2", "c3"};
    for (int i = 0; i < 3; i++) {
        term c = atom_from(names[i]);
        cr_assert_eq(call_int(c, "vsn"), 1, "%s was not rolled back", names[i]);
        cr_assert(term_eq(state_of(c), INT(i + 1)), "%s state %s", names[i],
                  FMT(state_of(c)));
        gen_server_cast(c, TUPLE(ATOM("tick"), INT(10)));
        cr_assert_eq(call_int(c, "read"), i + 11, "%s was not resumed", names[i]);
    }
    cr_assert_not(code_soft_purge(HOT_MODULE), "they all run version 1");
}

/* ---- The shell ----------------------------------------------------------- */

TestSuite(shell, .init = setup, .fini = teardown, .timeout = 60);

Test(shell, load_which_and_purge)
{
    expect_shell(&hot_shell, "load 1", SHELL_OK, "{module,counter}\n");
    expect_shell(&hot_shell, "start", SHELL_OK, "ok\n");
    expect_shell(&hot_shell, "tick 5", SHELL_OK, "ok\n");
    expect_shell(&hot_shell, "read", SHELL_OK, "[{counter,5},{counter_loop,5}]\n");
    cr_assert(hot_wait_idle(erl_whereis(COUNTER_LOOP), WAIT_MS));
    expect_shell(&hot_shell, "load 2", SHELL_OK, "{module,counter}\n");
    expect_shell(&hot_shell, "load 1", SHELL_ERROR, "{error,not_purged}\n");
    expect_shell(&hot_shell, "soft_purge", SHELL_OK, "false\n");
    expect_shell(&hot_shell, "vsn", SHELL_OK, "[{counter,2},{counter_loop,1}]\n");
    expect_shell(&hot_shell, "vsn", SHELL_OK, "[{counter,2},{counter_loop,2}]\n");
    expect_shell(&hot_shell, "soft_purge", SHELL_OK, "true\n");
    expect_shell(&hot_shell, "state", SHELL_OK, "{counter,5,0}\n");
    expect_shell(&hot_shell, "tickers 99", SHELL_BADARGS,
                 "** tickers: 99 is outside 0..64 (type help for the commands)\n");
}

/* ---- Watching a rebuilt object ------------------------------------------- */

/* Copies src to dst.tmp, then renames it to dst: as the Makefile's rules
 * put a rebuilt object into place. */
static void put_in_place(const char *src, const char *dst)
{
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", dst);
    FILE *in = fopen(src, "rb"), *out = fopen(tmp, "wb");
    cr_assert(in && out, "cannot copy %s to %s", src, tmp);
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        cr_assert_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
    cr_assert_eq(rename(tmp, dst), 0);
}

/* Waits for the watcher's report {watch, Result}; returns Result. */
static term await_watch(void)
{
    term result;
    await(TUPLE(ATOM("watch"), VAR(&result)), "the watcher's report");
    return result;
}

TestSuite(watch, .init = setup, .fini = teardown, .timeout = 60);

Test(watch, a_rebuilt_object_is_loaded_by_itself_and_a_bad_one_refused)
{
    char path[512];
    snprintf(path, sizeof path, "%s/test_07_watch_%d.so",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    put_in_place(SO("counter_v1.so"), path);
    term error = NONE;
    cr_assert_eq(code_load_file(HOT_MODULE, path, &error), 0, "%s", FMT(error));
    cr_assert_eq(hot_start(&error), 0, "%s", FMT(error));
    gen_server_cast(COUNTER, TUPLE(ATOM("tick"), INT(4)));
    term w = hot_watch(path, 5, erl_self());
    cr_assert(!is_none(w), "the watcher did not start");
    put_in_place(SO("counter_v2.so"), path);
    term r = await_watch();
    cr_assert(term_eq(r, TUPLE(ATOM("module"), ATOM("counter"))), "%s", FMT(r));
    cr_assert_eq(call_int(COUNTER, "vsn"), 2);
    cr_assert(term_eq(state_of(COUNTER), TUPLE(ATOM("counter"), INT(4), INT(0))));
    put_in_place(SO("bad_abi.so"), path);
    r = await_watch();
    cr_assert(is_atom_named(element(1, r), "error") &&
              is_atom_named(element(1, element(2, r)), "wrong_abi"), "%s", FMT(r));
    cr_assert_eq(call_int(COUNTER, "vsn"), 2, "the running code goes on");
    erl_send(w, ATOM("stop"));
    unlink(path);
}

/* ---- Preemption of loaded code ------------------------------------------- */

/* One scheduler, where a process that computes forever in a loaded object
 * keeps the only thread unless the object's code is preemptible. Skips
 * when preemption is off (the sanitizer builds: common/README.md). */
static void start_one_preempting(void)
{
    start_one_scheduler();
    struct erl_preempt_stats st;
    erl_preempt_stats(&st);
    if (!st.slice_us)
        cr_skip_test("preemption is off in this build (the sanitizers: see common/README.md)");
}

static void say_hello(term owner) { erl_send(owner, TUPLE(ATOM("hello"), erl_self())); }

TestSuite(preempt, .fini = teardown, .timeout = 120);

/* hot_spin.so's loop spins in its own code on spin: the code server made
 * that code preemptible, so on one scheduler another process still runs
 * and a kill ends the spinner. (Before the code server handed an object's
 * erl_user_text to preemption, the spinner kept the thread: no hello.) */
Test(preempt, a_process_spinning_in_loaded_code_is_preempted_and_killed)
{
    start_one_preempting();
    term error = NONE;
    cr_assert_eq(code_load_file("spinner", SPIN_SO, &error), 0, "%s", FMT(error));
    term ref, reason;
    term spinner = code_spawn_loop("spinner", INT(0), ERL_MONITOR, &ref);
    cr_assert(!is_none(spinner));
    struct erl_preempt_stats before;
    erl_preempt_stats(&before);
    erl_send(spinner, ATOM("spin"));

    term hello = erl_spawn(say_hello, erl_self());
    cr_assert(!is_none(erl_receive(TUPLE(ATOM("hello"), hello), 30000)),
              "no other process ran beside the spinner");
    struct erl_preempt_stats after;
    erl_preempt_stats(&after);
    cr_assert_gt(after.preemptions, before.preemptions, "the spinner was never preempted");
    cr_assert(erl_is_alive(spinner), "the spinner stopped spinning");

    erl_exit(spinner, ATOM("kill"));
    cr_assert(!is_none(erl_receive(TUPLE(ATOM("DOWN"), ref, ANY, ANY, VAR(&reason)), 30000)),
              "kill did not end the spinner");
    cr_assert(is_atom_named(reason, "killed"), "%s", FMT(reason));
}
