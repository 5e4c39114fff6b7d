/*
 * hibernate.c - erlang:hibernate/3: a process that gives its stack back.
 *
 * The invariant: a process whose wake_fn is set is hibernating. Its stack
 * holds nothing it needs: what it keeps lives in its heap (wake_arg among
 * it), its links, monitors, name and mailbox in its slot. So the scheduler
 * gives the stack's pages back to the system (fiber_discard) and marks it
 * hibernated; the next run starts it at proc_hibernate_entry on a fresh
 * stack, which reaches wake_fn(wake_arg) only once a message is in its
 * queue. A signal that is not a message (a link, a monitor) wakes it too:
 * it takes effect, and the process hibernates again. An exit signal ends
 * it there, as it would end a process waiting in receive.
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
    sched_switch(p, SWITCH_HIBERNATE);
    panic("erl_hibernate: the process resumed on the stack it gave back");
}

void proc_hibernate_entry(void *arg) {
    struct proc *p = arg;
    fiber_started(&p->fiber);
    while (!p->queue.head)
        if (!proc_take_inbox(p))    /* nothing came but signals: sleep again */
            sched_switch(p, SWITCH_HIBERNATE);  /* restarts here, never returns */
    erl_fn fn = p->wake_fn;
    term a = p->wake_arg;
    p->wake_fn = NULL;
    p->wake_arg = NONE;
    p->reductions = REDUCTIONS;
    fn(a);
    proc_die(A_NORMAL);
}
