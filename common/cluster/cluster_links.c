/*
 * cluster_links.c - gen_server_cluster:link/2 and unlink/2, with links
 * that follow whoever leads.
 *
 * In the original a link lives in the leader alone (erlang:link in its
 * handle_call) and dies with it: a process linked to the cluster hears of
 * the first leader's death and is linked to nothing after. Here the set of
 * pids linked to the cluster (the links) is part of the replicated state:
 *   - link/2 and unlink/2 are calls in the log, {'$link', Pid} and
 *     {'$unlink', Pid}, applied by every member's state machine
 *     (cluster_fsm.c, which keeps the links in snapshots too), so every
 *     member knows the set;
 *   - the member that leads holds a real link (erl_link) to every pid of
 *     it: it links them all when it starts leading, each one added while
 *     it leads, and unlinks them all when it stops leading without dying
 *     (a handover, a partition); the Raft thread tells it the role
 *     ({'$cluster_role', leader | follower}), in order with the entries;
 *   - members trap exits: a linked process that ends sends the leader an
 *     'EXIT', and the leader proposes {exited, Pid}, which takes it out of
 *     the set; the cluster goes on, as the original's leader ignores such
 *     an 'EXIT'. A pid that is dead when a leader links it gives that
 *     leader an 'EXIT' (noproc) at once, and goes the same way; so does
 *     one whose node the leader cannot reach (noconnection), alive or not.
 * So a linked process that traps exits gets {'EXIT', OldLeader, Reason}
 * when a leader dies (noconnection after kill -9 of its node), and is
 * linked to the next leader once it leads; when the cluster stops (stop
 * all, the counter's stop) it gets the 'EXIT' of each member that led
 * while linked, the last one's among them. One that does not trap exits
 * dies with the first leader, as with any link.
 *
 * A leader cut off from the others holds its links until its Raft steps it
 * down, while the other side's new leader links them too: for that while
 * a process may be linked to two members.
 */
#include <stdlib.h>

#include "cluster_impl.h"
#include "panic.h"

/* Links (link true) or unlinks every pid of the links. */
static void link_all(struct member *m, bool link) {
    for (size_t i = 0; i < m->machine.n_links; i++)
        if (link)
            erl_link(m->machine.links[i]);
        else
            erl_unlink(m->machine.links[i]);
}

void links_role(struct member *m, term role) {
    bool leads = is_atom_named(role, "leader");
    if (leads != m->holding)
        link_all(m, leads);
    m->holding = leads;
}

void links_applied(struct member *m, const struct fsm_answer *a) {
    if (!m->holding)
        return;
    if (!is_none(a->linked))
        erl_link(a->linked);
    if (!is_none(a->unlinked))
        erl_unlink(a->unlinked);
}

void links_exit(struct member *m, term pid) {
    if (!m->holding || !fsm_linked(&m->machine, pid))
        return;
    size_t len;
    void *buf = fsm_encode(TUPLE(ATOM("exited"), pid), &len);
    raft_propose(m, buf, len, 0);
}

void links_restore(struct member *m, term list) {
    if (m->holding)
        link_all(m, false);
    fsm_links_restore(&m->machine, list);
    if (m->holding)
        link_all(m, true);
}

/* erl_processes' callback: the links of the process ctx names. */
static void count_links(const struct erl_proc_info *info, void *ctx) {
    struct erl_proc_info *want = ctx;
    if (term_eq(info->pid, want->pid))
        want->links = info->links;
}

term links_info(struct member *m) {
    term *cells = malloc((m->machine.n_links + 1) * sizeof *cells);
    if (!cells)
        panic("out of memory for a cluster's links");
    struct erl_proc_info self = {.pid = m->pid, .links = 0};
    erl_processes(count_links, &self);
    term info = term_keep(TUPLE(fsm_links_term(&m->machine, cells),
                                INT((int64_t)self.links)));
    free(cells);
    return info;
}
