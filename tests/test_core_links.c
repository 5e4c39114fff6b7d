/*
 * test_core_links.c - links, monitors, exit signals and crashes.
 *
 * Run: make -C tests test-core   (or build/plain/tests/test_core_links --verbose)
 *
 * The test thread watches every death through a monitor, so each test knows
 * the exact exit reason. The processes under test are agents (test_util.h):
 * the test tells them to trap exits, link, unlink, exit or crash.
 *
 * Exit signals, as BEAM handles them (erl_proc_sig_queue.c):
 *   reason      receiver traps exits          receiver does not
 *   normal      gets {'EXIT', From, normal}   nothing happens
 *   kill (*)    dies with reason killed       dies with reason killed
 *   other       gets {'EXIT', From, Other}    dies with reason Other
 * (*) only the signal exit(Pid, kill) sends. A linked process that itself
 * ends with reason kill sends its links an ordinary signal with reason kill:
 * trappable, and fatal to a non-trapping receiver with reason kill.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "erl.h"
#include "test_util.h"

TestSuite(link, .timeout = 30, .init = start_runtime, .fini = stop_runtime);
TestSuite(exit_signal, .timeout = 30, .init = start_runtime, .fini = stop_runtime);
TestSuite(monitor, .timeout = 30, .init = start_runtime, .fini = stop_runtime);
TestSuite(crash, .timeout = 60, .init = start_runtime, .fini = stop_runtime);

/* ---- Helpers ------------------------------------------------------------- */

/* An agent whose trap_exit flag is set to trap. */
static term receiver(bool trap) {
    term pid = agent_start();
    agent_trap(pid, trap);
    return pid;
}

/* Ends the agent sender with reason (normal: it returns), waiting until it
 * is gone. */
static void end_agent(term sender, term reason) {
    term ref = erl_monitor(sender);
    if (is_atom_named(reason, "normal"))
        erl_send(sender, ATOM("stop"));
    else
        erl_send(sender, TUPLE(ATOM("exit"), reason));
    expect_down(ref, reason);
}

/* The receiver got {'EXIT', from, reason} as a message and is still alive. */
static void expect_exit_message(term rcv, term from, term reason) {
    term msg = await_forwarded(rcv, "the receiver's 'EXIT' message");
    cr_assert(term_eq(msg, TUPLE(ATOM("EXIT"), from, reason)),
              "the receiver got %s, expected {'EXIT', %s, %s}", FMT(msg), FMT(from),
              FMT(reason));
    cr_assert(ping(rcv), "the trapping receiver died");
}

/* The receiver is alive, answering, and got no message. */
static void expect_untouched(term rcv) {
    cr_assert(ping(rcv), "the receiver does not answer");
    cr_assert(erl_is_alive(rcv));
    expect_no_message(TUPLE(ATOM("got"), rcv, ANY));
}

/* Runs one cell of the link table: a receiver (trapping or not) linked to a
 * sender that ends with reason. Returns the receiver, and its monitor in
 * *ref, for the caller to check what became of it. */
static term link_cell(bool trap, term reason, term *sender, term *ref) {
    term rcv = receiver(trap);
    *sender = agent_start();
    agent_link(rcv, *sender);
    *ref = erl_monitor(rcv);
    end_agent(*sender, reason);
    return rcv;
}

/* ---- link: the table, through a link ------------------------------------- */

Test(link, trapping_receiver_gets_exit_normal) {
    term sender, ref;
    term rcv = link_cell(true, ATOM("normal"), &sender, &ref);
    expect_exit_message(rcv, sender, ATOM("normal"));
}

Test(link, non_trapping_receiver_ignores_normal) {
    term sender, ref;
    term rcv = link_cell(false, ATOM("normal"), &sender, &ref);
    expect_untouched(rcv);
    expect_no_message(TUPLE(ATOM("DOWN"), ref, ANY, ANY, ANY));
}

Test(link, trapping_receiver_gets_exit_other) {
    term sender, ref;
    term rcv = link_cell(true, ATOM("boom"), &sender, &ref);
    expect_exit_message(rcv, sender, ATOM("boom"));
}

Test(link, non_trapping_receiver_dies_with_the_other_reason) {
    term sender, ref;
    link_cell(false, TUPLE(ATOM("shutdown"), INT(3)), &sender, &ref);
    expect_down(ref, TUPLE(ATOM("shutdown"), INT(3)));
}

/* The kill row for links: the sender is killed by exit(Sender, kill), dies
 * with killed, and its links get killed, an ordinary reason. */
static term killed_link_cell(bool trap, term *sender, term *ref) {
    term rcv = receiver(trap);
    *sender = agent_start();
    agent_link(rcv, *sender);
    *ref = erl_monitor(rcv);
    term sref = erl_monitor(*sender);
    erl_exit(*sender, ATOM("kill"));
    expect_down(sref, ATOM("killed"));
    return rcv;
}

Test(link, non_trapping_receiver_of_a_killed_process_dies_with_killed) {
    term sender, ref;
    killed_link_cell(false, &sender, &ref);
    expect_down(ref, ATOM("killed"));
}

Test(link, trapping_receiver_of_a_killed_process_gets_exit_killed) {
    term sender, ref;
    term rcv = killed_link_cell(true, &sender, &ref);
    expect_exit_message(rcv, sender, ATOM("killed"));
}

/* exit(kill) in the sender itself: its links get reason kill as an ordinary,
 * trappable signal (BEAM converts kill to killed only for exit/2's signal). */
Test(link, trapping_receiver_gets_exit_kill_when_the_sender_exits_with_kill) {
    term sender, ref;
    term rcv = link_cell(true, ATOM("kill"), &sender, &ref);
    expect_exit_message(rcv, sender, ATOM("kill"));
}

Test(link, non_trapping_receiver_dies_with_kill_when_the_sender_exits_with_kill) {
    term sender, ref;
    link_cell(false, ATOM("kill"), &sender, &ref);
    expect_down(ref, ATOM("kill"));
}

/* ---- link: the rest ------------------------------------------------------ */

Test(link, works_both_ways) {
    term a = receiver(false), b = receiver(false);
    agent_link(a, b);
    term ref = erl_monitor(b);
    end_agent(a, ATOM("boom"));         /* the linker dies: the linked one too */
    expect_down(ref, ATOM("boom"));
}

Test(link, to_a_dead_pid_gives_a_trapping_caller_exit_noproc) {
    term dead = agent_start();
    end_agent(dead, ATOM("normal"));
    term rcv = receiver(true);
    agent_link(rcv, dead);
    expect_exit_message(rcv, dead, ATOM("noproc"));
}

Test(link, to_a_dead_pid_kills_a_non_trapping_caller_with_noproc) {
    term dead = agent_start();
    end_agent(dead, ATOM("normal"));
    term rcv = receiver(false);
    term ref = erl_monitor(rcv);
    erl_send(rcv, TUPLE(ATOM("link"), erl_self(), dead));
    expect_down(ref, ATOM("noproc"));
    /* It died inside link/1, as Erlang's does: it never said linked. */
    cr_assert(is_none(erl_receive(TUPLE(ATOM("linked"), rcv), 0)),
              "the caller went on after linking to a dead pid");
}

Test(link, to_a_dead_pid_from_a_plain_thread_gives_exit_noproc) {
    term dead = agent_start();
    end_agent(dead, ATOM("normal"));
    cr_assert_eq(erl_link(dead), 0);
    await(TUPLE(ATOM("EXIT"), dead, ATOM("noproc")), "{'EXIT', Dead, noproc}");
}

Test(link, to_a_non_pid_fails_einval) {
    errno = 0;
    cr_assert_eq(erl_link(ATOM("not_a_pid")), -1);
    cr_assert_eq(errno, EINVAL);
}

Test(link, unlink_stops_propagation) {
    term rcv = receiver(false), sender = agent_start();
    agent_link(rcv, sender);
    agent_unlink(rcv, sender);
    end_agent(sender, ATOM("boom"));
    expect_untouched(rcv);
}

Test(link, unlink_from_the_other_side_stops_propagation) {
    term rcv = receiver(true), sender = agent_start();
    agent_link(rcv, sender);
    agent_unlink(sender, rcv);
    end_agent(sender, ATOM("boom"));
    expect_untouched(rcv);              /* trapping, yet no 'EXIT' came */
}

/* Ends at once with reason. */
static void exit_with(term reason) { erl_exit_self(reason); }

/* Waits for a message nobody sends. */
static void wait_forever_for_nothing(term arg) {
    (void)arg;
    erl_receive(ATOM("never_sent"), ERL_INFINITY);
}

/* Spawn-links a process that exits at once with reason, then waits. */
static void parent_of_crasher(term reason) {
    erl_spawn_link(exit_with, reason);
    wait_forever_for_nothing(NONE);
}

Test(link, spawn_link_links_before_the_child_runs) {
    for (int i = 0; i < 50; i++) {
        term ref;
        erl_spawn_monitor(parent_of_crasher, ATOM("boom"), &ref);
        expect_down(ref, ATOM("boom"));
    }
}

Test(link, a_plain_thread_linked_to_a_crash_gets_exit) {
    term pid = erl_spawn_link(exit_with, ATOM("boom"));
    await(TUPLE(ATOM("EXIT"), pid, ATOM("boom")), "{'EXIT', Pid, boom}");
}

Test(link, a_plain_thread_gets_exit_normal_too) {
    term pid = erl_spawn_link(exit_with, ATOM("normal"));
    await(TUPLE(ATOM("EXIT"), pid, ATOM("normal")), "{'EXIT', Pid, normal}");
}

/* ---- exit_signal: the table, through erl_exit from another process ------- */

/* Makes the agent from send rcv exit(rcv, reason) and waits until it has. */
static void send_exit_from(term from, term rcv, term reason) {
    erl_send(from, TUPLE(ATOM("send_exit"), erl_self(), rcv, reason));
    await(TUPLE(ATOM("sent_exit"), from), "the exit signal sent");
}

Test(exit_signal, trapping_receiver_gets_exit_normal) {
    term rcv = receiver(true), from = agent_start();
    send_exit_from(from, rcv, ATOM("normal"));
    expect_exit_message(rcv, from, ATOM("normal"));
}

Test(exit_signal, non_trapping_receiver_ignores_normal) {
    term rcv = receiver(false), from = agent_start();
    send_exit_from(from, rcv, ATOM("normal"));
    expect_untouched(rcv);
}

Test(exit_signal, kill_ends_a_trapping_receiver_with_killed) {
    term rcv = receiver(true), from = agent_start();
    term ref = erl_monitor(rcv);
    send_exit_from(from, rcv, ATOM("kill"));
    expect_down(ref, ATOM("killed"));
    expect_no_message(TUPLE(ATOM("got"), rcv, ANY));
}

Test(exit_signal, kill_ends_a_non_trapping_receiver_with_killed) {
    term rcv = receiver(false), from = agent_start();
    term ref = erl_monitor(rcv);
    send_exit_from(from, rcv, ATOM("kill"));
    expect_down(ref, ATOM("killed"));
}

Test(exit_signal, trapping_receiver_gets_exit_other) {
    term rcv = receiver(true), from = agent_start();
    send_exit_from(from, rcv, TUPLE(ATOM("shutdown"), STR("why")));
    expect_exit_message(rcv, from, TUPLE(ATOM("shutdown"), STR("why")));
}

Test(exit_signal, non_trapping_receiver_dies_with_the_other_reason) {
    term rcv = receiver(false), from = agent_start();
    term ref = erl_monitor(rcv);
    send_exit_from(from, rcv, ATOM("boom"));
    expect_down(ref, ATOM("boom"));
    cr_assert(ping(from), "the sender of the signal died too");
}

Test(exit_signal, from_a_plain_thread_carries_its_pid) {
    term rcv = receiver(true);
    erl_exit(rcv, ATOM("boom"));
    expect_exit_message(rcv, erl_self(), ATOM("boom"));
}

Test(exit_signal, kill_ends_a_receiver_blocked_in_receive) {
    term pid = erl_spawn(wait_forever_for_nothing, INT(0));
    term ref = erl_monitor(pid);
    erl_exit(pid, ATOM("kill"));
    expect_down(ref, ATOM("killed"));
}

Test(exit_signal, trap_exit_returns_the_previous_value) {
    term pid = agent_start();
    cr_assert_eq(agent_trap(pid, true), false, "a new process traps exits");
    cr_assert_eq(agent_trap(pid, true), true);
    cr_assert_eq(agent_trap(pid, false), true);
    cr_assert_eq(agent_trap(pid, false), false);
}

Test(exit_signal, exit_self_ends_with_that_reason) {
    term ref;
    erl_spawn_monitor(exit_with, TUPLE(ATOM("shutdown"), LIST(INT(1), STR("x"))), &ref);
    expect_down(ref, TUPLE(ATOM("shutdown"), LIST(INT(1), STR("x"))));
}

/* {Owner, Reason, Trap}: sends itself an exit signal with Reason, trapping
 * exits if Trap; then at once (no receive first, which would take the
 * signal in) tells Owner {after, Self, Msg} with the {'EXIT', Self, _} it
 * then finds in its mailbox, or none. */
static void exit_signal_to_self(term arg) {
    term owner = element(1, arg), reason = element(2, arg);
    erl_trap_exit(is_atom_named(element(3, arg), "true"));
    erl_exit(erl_self(), reason);
    erl_send(owner, TUPLE(ATOM("ran_on"), erl_self()));
    term m = erl_receive(TUPLE(ATOM("EXIT"), erl_self(), ANY), 0);
    erl_send(owner, TUPLE(ATOM("after"), erl_self(), is_none(m) ? ATOM("none") : m));
}

/* Runs exit_signal_to_self with reason; returns its exit reason, and in
 * *after what it told us after the call (NONE if it ended inside). */
static term exit_self_cell(term reason, bool trap, term *after) {
    term ref;
    term pid = erl_spawn_monitor(exit_signal_to_self,
                                 TUPLE(erl_self(), reason, bool_atom(trap)), &ref);
    term why = await_down(ref);
    bool ran_on = !is_none(erl_receive(TUPLE(ATOM("ran_on"), pid), 0));
    term m = erl_receive(TUPLE(ATOM("after"), pid, VAR(after)), 0);
    if (is_none(m))
        *after = NONE;
    cr_assert_eq(ran_on, !is_none(*after), "told ran_on %d, after %s", ran_on, FMT(*after));
    return why;
}

Test(exit_signal, to_self_ends_a_non_trapping_process_inside_the_call) {
    term reasons[] = {ATOM("foo"), TUPLE(ATOM("bad"), INT(1))};
    for (size_t i = 0; i < 2; i++) {
        term after;
        term why = exit_self_cell(reasons[i], false, &after);
        cr_assert(term_eq(why, reasons[i]), "died with %s", FMT(why));
        cr_assert(is_none(after), "ran on after exit(self(), %s): %s", FMT(reasons[i]),
                  FMT(after));
    }
}

Test(exit_signal, to_self_with_normal_ends_a_non_trapping_process) {
    term after;
    term why = exit_self_cell(ATOM("normal"), false, &after);
    cr_assert(is_atom_named(why, "normal"), "died with %s", FMT(why));
    cr_assert(is_none(after), "ran on after exit(self(), normal): %s", FMT(after));
}

Test(exit_signal, to_self_with_kill_ends_even_a_trapping_process_with_killed) {
    term after;
    term why = exit_self_cell(ATOM("kill"), true, &after);
    cr_assert(is_atom_named(why, "killed"), "died with %s", FMT(why));
    cr_assert(is_none(after), "ran on after exit(self(), kill): %s", FMT(after));
}

Test(exit_signal, to_self_gives_a_trapping_process_the_exit_message_at_once) {
    term after;
    term why = exit_self_cell(ATOM("foo"), true, &after);
    cr_assert(is_atom_named(why, "normal"), "died with %s", FMT(why));
    cr_assert(match(after, TUPLE(ATOM("EXIT"), ANY, ATOM("foo"))), "found %s", FMT(after));
}

Test(exit_signal, to_self_from_a_plain_thread_is_a_message) {
    erl_exit(erl_self(), ATOM("foo"));
    term m = erl_receive(TUPLE(ATOM("EXIT"), erl_self(), ATOM("foo")), 0);
    cr_assert(!is_none(m), "no {'EXIT', Self, foo} at once");
}

/* ---- monitor ------------------------------------------------------------- */

Test(monitor, down_carries_ref_pid_and_reason) {
    term pid = agent_start();
    term ref = erl_monitor(pid);
    cr_assert(is_ref(ref));
    erl_send(pid, TUPLE(ATOM("exit"), ATOM("boom")));
    term msg = await(TUPLE(ATOM("DOWN"), ref, ANY, ANY, ANY), "the 'DOWN'");
    cr_assert(term_eq(msg, TUPLE(ATOM("DOWN"), ref, ATOM("process"), pid, ATOM("boom"))),
              "got %s", FMT(msg));
}

Test(monitor, of_a_dead_pid_gives_down_noproc) {
    term pid = agent_start();
    end_agent(pid, ATOM("normal"));
    term ref = erl_monitor(pid);
    term msg = await(TUPLE(ATOM("DOWN"), ref, ANY, ANY, ANY), "the 'DOWN'");
    cr_assert(term_eq(msg, TUPLE(ATOM("DOWN"), ref, ATOM("process"), pid,
                                 ATOM("noproc"))), "got %s", FMT(msg));
}

Test(monitor, of_a_registered_name_reports_its_end) {
    term pid = agent_start();
    cr_assert_eq(erl_register(ATOM("monitored"), pid), 0);
    term ref = erl_monitor(ATOM("monitored"));
    erl_send(pid, TUPLE(ATOM("exit"), ATOM("boom")));
    term who;
    term reason = NONE;
    await(TUPLE(ATOM("DOWN"), ref, ATOM("process"), VAR(&who), VAR(&reason)),
          "the 'DOWN' of the named process");
    cr_assert(is_atom_named(reason, "boom"), "reason %s", FMT(reason));
    /* A monitor taken by name reports {Name, Node}, as Erlang's does. */
    cr_assert(term_eq(who, TUPLE(ATOM("monitored"), ATOM("nonode@nohost"))),
              "the 'DOWN' names %s", FMT(who));
}

Test(monitor, of_an_unregistered_name_gives_down_noproc) {
    term ref = erl_monitor(ATOM("nobody_by_this_name"));
    cr_assert(is_ref(ref));
    term reason = await_down(ref);
    cr_assert(is_atom_named(reason, "noproc"), "reason %s", FMT(reason));
}

Test(monitor, demonitor_with_flush_leaves_no_down) {
    term pid = agent_start();
    term ref = erl_monitor(pid), witness = erl_monitor(pid);
    erl_send(pid, TUPLE(ATOM("exit"), ATOM("boom")));
    expect_down(witness, ATOM("boom"));     /* so ref's 'DOWN' was sent too */
    erl_demonitor(ref, true);
    expect_no_message(TUPLE(ATOM("DOWN"), ref, ANY, ANY, ANY));
}

Test(monitor, demonitor_before_the_end_stops_the_down) {
    term pid = agent_start();
    term ref = erl_monitor(pid);
    erl_demonitor(ref, false);
    term witness = erl_monitor(pid);
    erl_send(pid, TUPLE(ATOM("exit"), ATOM("boom")));
    expect_down(witness, ATOM("boom"));
    expect_no_message(TUPLE(ATOM("DOWN"), ref, ANY, ANY, ANY));
}

Test(monitor, down_comes_exactly_once_per_monitor) {
    term pid = agent_start();
    term first = erl_monitor(pid), second = erl_monitor(pid);
    cr_assert_not(term_eq(first, second), "two monitors share a reference");
    erl_send(pid, ATOM("stop"));
    expect_down(first, ATOM("normal"));
    expect_down(second, ATOM("normal"));
    expect_no_message(TUPLE(ATOM("DOWN"), ANY, ANY, ANY, ANY));
}

/* {Owner, Target}: monitors Target, tells Owner {watching, Self}, then sends
 * Owner {saw, Self, DownMessage}. */
static void watch(term arg) {
    term ref = erl_monitor(element(2, arg));
    erl_send(element(1, arg), TUPLE(ATOM("watching"), erl_self()));
    term down = erl_receive(TUPLE(ATOM("DOWN"), ref, ANY, ANY, ANY), ERL_INFINITY);
    erl_send(element(1, arg), TUPLE(ATOM("saw"), erl_self(), down));
}

Test(monitor, a_process_gets_down_too) {
    term target = agent_start();
    term watcher = erl_spawn(watch, TUPLE(erl_self(), target));
    await(TUPLE(ATOM("watching"), watcher), "the watcher watching");
    end_agent(target, ATOM("boom"));
    term down;
    await(TUPLE(ATOM("saw"), watcher, VAR(&down)), "the watcher's 'DOWN'");
    cr_assert(match(down, TUPLE(ATOM("DOWN"), ANY, ATOM("process"), target,
                                ATOM("boom"))), "the watcher saw %s", FMT(down));
}

/* ---- crash --------------------------------------------------------------- */

Test(crash, division_by_zero_ends_the_process_with_badarith) {
    term pid = agent_start();
    term ref = erl_monitor(pid);
    erl_send(pid, TUPLE(ATOM("divide"), INT(0)));
    expect_down(ref, ATOM("badarith"));
    cr_assert_not(erl_is_alive(pid));

    term next = agent_start();          /* the node keeps running */
    cr_assert(ping(next), "no process answers after a crash");
    erl_send(next, TUPLE(ATOM("divide"), INT(10)));
    term q;
    await(TUPLE(ATOM("quotient"), next, VAR(&q)), "a quotient");
    cr_assert(term_eq(q, INT(100)), "1000 div 10 = %s", FMT(q));
}

Test(crash, null_dereference_ends_the_process_with_signal_segv) {
    term pid = agent_start();
    term ref = erl_monitor(pid);
    erl_send(pid, ATOM("segv"));
    term reason = await_down(ref);
    term sig;
    cr_assert(match(reason, TUPLE(ATOM("signal"), VAR(&sig))), "reason %s", FMT(reason));
    cr_assert(is_atom_named(sig, "segv"), "reason %s", FMT(reason));
    term next = agent_start();
    cr_assert(ping(next), "no process answers after a crash");
}

Test(crash, linked_processes_are_told) {
    term rcv = receiver(true), doomed = agent_start();
    agent_link(rcv, doomed);
    erl_send(doomed, TUPLE(ATOM("divide"), INT(0)));
    expect_exit_message(rcv, doomed, ATOM("badarith"));

    term victim = receiver(false), segv = agent_start();
    agent_link(victim, segv);
    term ref = erl_monitor(victim);
    erl_send(segv, ATOM("segv"));
    term reason = await_down(ref);
    cr_assert(match(reason, TUPLE(ATOM("signal"), ATOM("segv"))),
              "the linked process died with %s", FMT(reason));
}

Test(crash, a_plain_thread_linked_to_a_crash_gets_exit_badarith) {
    term pid = erl_spawn_link(agent, erl_self());
    erl_send(pid, TUPLE(ATOM("divide"), INT(0)));
    await(TUPLE(ATOM("EXIT"), pid, ATOM("badarith")), "{'EXIT', Pid, badarith}");
}

/* Keeps 4 KB on its heap, tells Owner {full, Self}, waits for crash, then
 * divides by zero with every other message still queued. */
static void crash_with_full_mailbox(term owner) {
    term_keep(TUPLE(term_binary((char[4096]){0}, 4096), INT(1)));
    erl_send(owner, TUPLE(ATOM("full"), erl_self()));
    erl_receive(ATOM("crash"), ERL_INFINITY);
    divide_by(0);
}

/* One crash cycle: a process with 20 messages of 1 KB queued crashes. */
static void crash_cycle(void) {
    term ref;
    term pid = erl_spawn_opt("crash_with_full_mailbox", crash_with_full_mailbox, erl_self(),
                             ERL_MONITOR | ERL_QUIET, &ref);   /* no report per cycle */
    erl_drop(await(TUPLE(ATOM("full"), pid), "the doomed process ready"));
    for (int i = 0; i < 20; i++)
        erl_send(pid, TUPLE(ATOM("queued"), INT(i), term_binary((char[1024]){0}, 1024)));
    erl_send(pid, ATOM("crash"));
    term m = await(TUPLE(ATOM("DOWN"), ref, ANY, ANY, ANY), "the crash");
    cr_assert(term_eq(element(5, m), ATOM("badarith")), "reason %s", FMT(element(5, m)));
    erl_drop(m);
}

/* Bytes malloc has handed out and not had back, over every arena. */
static size_t malloc_in_use(void) {
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

/* Each cycle leaves 24 KB behind if a crash frees nothing; the sanitizer
 * builds check with LeakSanitizer instead of counting (their allocator is
 * not malloc's). */
Test(crash, a_crashed_process_memory_is_reclaimed) {
    erl_self();
    size_t baseline = erl_process_count();
    int cycles = 2000 / SAN_DIVISOR;
    for (int i = 0; i < cycles / 10; i++)       /* let caches fill */
        crash_cycle();
    size_t before = malloc_in_use();
    for (int i = 0; i < cycles; i++)
        crash_cycle();
    size_t after = malloc_in_use();
#ifndef ERL_SANITIZE
    cr_assert_lt(after, before + 2 * 1024 * 1024,
                 "malloc holds %zu KB more after %d crashes", (after - before) / 1024,
                 cycles);
#else
    (void)before, (void)after;
#endif
    cr_assert_eq(erl_process_count(), baseline,
                 "%zu processes alive after the crashes, %zu before",
                 erl_process_count(), baseline);
    term next = agent_start();
    cr_assert(ping(next), "no process answers after %d crashes", cycles);
    stop_and_check_leaks();
}
