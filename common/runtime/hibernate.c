/*
 * hibernate.c - processes that wait without a stack: erlang:hibernate/3
 * (erl_hibernate), and a server's wait between messages whose stack was
 * taken (erl_await, mailbox.c).
 *
 * The invariant: while a process waits with its wake_fn set, its stack
 * holds nothing it needs: what it keeps lives in its heap (wake_arg among
 * it), its links, monitors, name and mailbox in its slot. So the scheduler
 * may take the stack from it (sched.c): at once for erl_hibernate, which
 * gives the pages back to the system too; for erl_await, only once
 * AWAIT_KEPT later waits on the same scheduler have come after it, so
 * that a busy server wakes where it waited, and an idle one costs no
 * stack. A process whose stack was taken is stackless: its next run gives
 * it a stack (any: a cache's warm one) and starts it at
 * proc_hibernate_entry, which reaches wake_fn(wake_arg) only once a
 * message is in its queue. A signal that is not a message (a link,
 * a monitor) wakes it too: it takes effect, and the process gives the
 * stack up again. An exit signal ends it there, as it would end a process
 * waiting in receive.
 */
#include "panic.h"
#include "proc.h"

_Noreturn void erl_hibernate(erl_fn fn, term arg) {
    struct proc *p = proc_me();
    if (!p || !p->fn)
        panic("erl_hibernate: a plain thread cannot hibernate (it has no "
              "stack of its own to give back)");
    /* Every erl_catch frame is on the stack that goes: none catches any
     * more, as a catch around erlang:hibernate/3 catches nothing after it. */
    p->catch_top = NULL;
    p->wake_arg = term_keep(arg);   /* arg may point into the stack */
    p->wake_fn = fn;
    p->hibernating = true;
    sched_switch(p, SWITCH_HIBERNATE);
    panic("erl_hibernate: the process resumed on the stack it gave back");
}

void proc_hibernate_entry(void *arg) {
    struct proc *p = arg;
    fiber_started(&p->fiber);
    sched_landed(p);
    p->catch_top = NULL;            /* they were on the stack it lost */
    while (!p->queue.head)
        if (!proc_take_inbox(p))    /* nothing came but signals: wait again */
            sched_switch(p, p->hibernating ? SWITCH_HIBERNATE : SWITCH_AWAIT);
                                    /* SWITCH_AWAIT may return here */
    erl_fn fn = p->wake_fn;
    term a = p->wake_arg;
    p->wake_fn = NULL;
    p->wake_arg = NONE;
    p->hibernating = false;
    p->reductions = REDUCTIONS;
    fn(a);
    proc_die(A_NORMAL);
}
