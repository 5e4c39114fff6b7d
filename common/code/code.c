/*
 * code.c - the code server's tables: loading a version, checking it,
 * purging the old one, and which process runs what. See code.h for the
 * rules, code_impl.h for the invariants.
 *
 * Loading copies the object to a private file first: dlopen hands back the
 * handle it already has for a path it has open, so loading a rebuilt
 * counter.so from the same path would give the old code again. The private
 * file is removed as soon as it is open (the mapping keeps it).
 */
#include <dlfcn.h>
#include <link.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "code_impl.h"
#include "preempt.h"

struct code_tables code_tables = {.lock = PTHREAD_MUTEX_INITIALIZER, .next_id = 1};

void code_set_error(term *error, term e)
{
    if (error)
        *error = term_keep(e);
}

/* path as a binary term, valid as long as path is. */
static term path_term(const char *path)
{
    return term_binary(path, strlen(path));
}

/* ---- The tables (under the lock) ----------------------------------------- */

struct code_slot *code_slot_of(const char *module)
{
    for (size_t i = 0; i < CODE_MAX_MODULES; i++)
        if (code_tables.slots[i].module == module)
            return &code_tables.slots[i];
    return NULL;
}

struct code_version *code_version_by_id(unsigned id)
{
    for (size_t i = 0; i < CODE_MAX_MODULES; i++) {
        struct code_slot *s = &code_tables.slots[i];
        if (s->current && s->current->id == id)
            return s->current;
        if (s->old && s->old->id == id)
            return s->old;
    }
    return NULL;
}

/* Forgets the registrations of processes that have exited (which run no
 * code any more: a process is not alive once it has started to exit). */
static void prune_users(void)
{
    size_t kept = 0;
    for (size_t i = 0; i < code_tables.n_users; i++)
        if (erl_is_alive(code_tables.users[i].pid))
            code_tables.users[kept++] = code_tables.users[i];
    code_tables.n_users = kept;
}

/* Forgets every registration of v. */
static void forget_users_of(const struct code_version *v)
{
    size_t kept = 0;
    for (size_t i = 0; i < code_tables.n_users; i++)
        if (code_tables.users[i].v != v)
            code_tables.users[kept++] = code_tables.users[i];
    code_tables.n_users = kept;
}

static struct code_user *user_of(term pid)
{
    for (size_t i = 0; i < code_tables.n_users; i++)
        if (term_eq(code_tables.users[i].pid, pid))
            return &code_tables.users[i];
    return NULL;
}

struct code_version *code_version_of(term pid)
{
    struct code_user *u = user_of(pid);
    return u ? u->v : NULL;
}

/* Makes room for one more registration. Returns 0, or -1 (ENOMEM). */
static int users_room(void)
{
    if (code_tables.n_users < code_tables.cap_users)
        return 0;
    prune_users();
    if (code_tables.n_users < code_tables.cap_users)
        return 0;
    size_t cap = code_tables.cap_users ? 2 * code_tables.cap_users : 16;
    struct code_user *u = realloc(code_tables.users, cap * sizeof *u);
    if (!u)
        return -1;
    code_tables.users = u;
    code_tables.cap_users = cap;
    return 0;
}

int code_register(term pid, struct code_version *v)
{
    struct code_user *u = user_of(pid);
    if (u) {
        u->v = v;
        return 0;
    }
    if (users_room() < 0)
        return -1;
    code_tables.users[code_tables.n_users++] = (struct code_user){pid, v};
    return 0;
}

/* True when a live process is registered as running v. */
static bool has_users(const struct code_version *v)
{
    prune_users();
    for (size_t i = 0; i < code_tables.n_users; i++)
        if (code_tables.users[i].v == v)
            return true;
    return false;
}

/* A free slot for module, or NULL when CODE_MAX_MODULES are taken. */
static struct code_slot *new_slot(const char *module)
{
    for (size_t i = 0; i < CODE_MAX_MODULES; i++)
        if (!code_tables.slots[i].module) {
            code_tables.slots[i].module = module;
            return &code_tables.slots[i];
        }
    return NULL;
}

/* ---- Opening and checking an object -------------------------------------- */

/* Copies the file at src to the open file out. Returns 0, or -1. */
static int copy_fd(const char *src, int out)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -1;
    char buf[1 << 14];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n) {
            n = -1;
            break;
        }
    close(in);
    return n < 0 ? -1 : 0;
}

/* Makes the erl_user_text of h, whose file is open at fd, preemptible
 * code. Returns its slot in preemption's table, or -1 when it has none
 * (an object built without the rename) or the table is full. */
static int add_user_text(void *h, int fd)
{
    uintptr_t addr;
    size_t size;
    struct link_map *lm;
    if (code_user_text(fd, &addr, &size) < 0 || dlinfo(h, RTLD_DI_LINKMAP, &lm) < 0)
        return -1;
    return preempt_add_text(lm->l_addr + addr, lm->l_addr + addr + size);
}

/* Copies path to a fresh private file and dlopens that, then removes the
 * file; *text_slot is its preemptible code's slot (add_user_text). Returns
 * the handle, or NULL with *error set. */
static void *open_private_copy(const char *path, int *text_slot, term *error)
{
    const char *dir = getenv("TMPDIR");
    char copy[4096];
    snprintf(copy, sizeof copy, "%s/erl-code-XXXXXX.so", dir && *dir ? dir : "/tmp");
    int fd = mkstemps(copy, 3);
    if (fd < 0 || copy_fd(path, fd) < 0) {
        if (fd >= 0) {
            close(fd);
            unlink(copy);
        }
        code_set_error(error, TUPLE(ATOM("nofile"), path_term(path)));
        return NULL;
    }
    void *h = dlopen(copy, RTLD_NOW | RTLD_LOCAL);
    *text_slot = h ? add_user_text(h, fd) : -1;
    close(fd);
    unlink(copy);
    if (!h) {
        const char *why = dlerror();
        why = why ? why : "dlopen failed";
        size_t n = strlen(copy);            /* "copy: why": the copy is ours */
        if (strncmp(why, copy, n) == 0 && strncmp(why + n, ": ", 2) == 0)
            why += n + 2;
        code_set_error(error, TUPLE(ATOM("not_a_shared_object"), path_term(path),
                               term_binary(why, strlen(why))));
    }
    return h;
}

/* The name of the first required callback t lacks, or NULL. */
static const char *missing_callback(const struct code_module *t)
{
    if (!t->server.init) return "init";
    if (!t->server.handle_call) return "handle_call";
    if (!t->server.handle_cast) return "handle_cast";
    if (!t->server.code_change) return "code_change";
    if (!t->loop) return "loop";
    return NULL;
}

/* Checks the table of the object opened from path for module. Returns 0, or
 * -1 with *error set. */
static int check_table(const struct code_module *t, const char *module,
                       const char *path, term *error)
{
    term p = path_term(path);
    if (!t) {
        code_set_error(error, TUPLE(ATOM("no_table"), p));
        return -1;
    }
    if (t->abi != CODE_ABI) {
        code_set_error(error, TUPLE(ATOM("wrong_abi"), p, INT(t->abi)));
        return -1;
    }
    if (!t->name || strcmp(t->name, module) != 0) {
        term name = t->name ? atom_from(t->name) : ATOM("undefined");
        code_set_error(error, TUPLE(ATOM("wrong_module"), p,
                               is_none(name) ? ATOM("undefined") : name));
        return -1;
    }
    const char *cb = missing_callback(t);
    if (cb) {
        code_set_error(error, TUPLE(ATOM("missing_callback"), p, atom_from(cb)));
        return -1;
    }
    return 0;
}

/* A version record for the checked table t of handle h. Returns it, or NULL
 * with *error set (ENOMEM). */
static struct code_version *new_version(void *h, int text_slot, const struct code_module *t,
                                        const char *module, term *error)
{
    struct code_version *v = calloc(1, sizeof *v);
    if (!v) {
        code_set_error(error, ATOM("enomem"));
        return NULL;
    }
    v->module = module;
    v->vsn = t->vsn;
    v->handle = h;
    v->text_slot = text_slot;
    v->table = t;
    v->server = t->server;
    v->server.name = module;                /* host memory, not the object's */
    v->server.init = code_shim_init;
    v->server.code_change = code_shim_change;
    return v;
}

/* Opens and checks path as module. Returns a version, or NULL with *error. */
static struct code_version *open_version(const char *module, const char *path,
                                         term *error)
{
    int text_slot;
    void *h = open_private_copy(path, &text_slot, error);
    if (!h)
        return NULL;
    const struct code_module *t = dlsym(h, CODE_TABLE);
    struct code_version *v = NULL;
    if (check_table(t, module, path, error) == 0)
        v = new_version(h, text_slot, t, module, error);
    if (!v) {
        preempt_remove_text(text_slot);
        dlclose(h);
    }
    return v;
}

/* Unloads v, which is out of its slot and which nothing runs: its code
 * leaves preemption's table before it is unmapped. */
static void unload(struct code_version *v)
{
    preempt_remove_text(v->text_slot);
    dlclose(v->handle);
    free(v);
}

/* ---- Loading ------------------------------------------------------------- */

/* Installs v as module's current version. Returns 0, or -1 with *error. */
static int install(struct code_version *v, term *error)
{
    pthread_mutex_lock(&code_tables.lock);
    struct code_slot *s = code_slot_of(v->module);
    if (!s)
        s = new_slot(v->module);
    int rc = -1;
    if (!s)
        code_set_error(error, ATOM("system_limit"));
    else if (s->old)
        code_set_error(error, ATOM("not_purged"));
    else {
        v->id = code_tables.next_id++;
        s->old = s->current;
        s->current = v;
        rc = 0;
    }
    pthread_mutex_unlock(&code_tables.lock);
    return rc;
}

/* True when module has old code (so a load would fail). */
static bool has_old(const char *module)
{
    pthread_mutex_lock(&code_tables.lock);
    struct code_slot *s = code_slot_of(module);
    bool old = s && s->old;
    pthread_mutex_unlock(&code_tables.lock);
    return old;
}

int code_load_file(const char *module, const char *path, term *error)
{
    term name = atom_from(module);
    if (is_none(name)) {
        code_set_error(error, TUPLE(ATOM("badarg"), path_term(path)));
        return -1;
    }
    if (has_old(name.u.atom)) {
        code_set_error(error, ATOM("not_purged"));
        return -1;
    }
    struct code_version *v = open_version(name.u.atom, path, error);
    if (!v)
        return -1;
    if (install(v, error) < 0) {
        unload(v);
        return -1;
    }
    return 0;
}

/* ---- Purging ------------------------------------------------------------- */

bool code_soft_purge(const char *module)
{
    term name = atom_from(module);
    struct code_version *gone = NULL;
    bool purged = true;
    pthread_mutex_lock(&code_tables.lock);
    struct code_slot *s = is_none(name) ? NULL : code_slot_of(name.u.atom);
    if (s && s->old) {
        if (s->old->dying || s->old->pins > 0 || has_users(s->old))
            purged = false;
        else {
            gone = s->old;
            s->old = NULL;
        }
    }
    pthread_mutex_unlock(&code_tables.lock);
    if (gone)
        unload(gone);
    return purged;
}

/* Marks module's old version dying and returns it, with the pids of the
 * processes running it in *pids (malloc'd, *n of them). Returns NULL when
 * there is no old version; sets errno EBUSY when it is already dying. */
static struct code_version *doom_old(const char *module, term **pids, size_t *n)
{
    *pids = NULL;
    *n = 0;
    errno = 0;
    pthread_mutex_lock(&code_tables.lock);
    struct code_slot *s = code_slot_of(module);
    struct code_version *v = s ? s->old : NULL;
    if (v && v->dying) {
        errno = EBUSY;
        v = NULL;
    } else if (v) {
        v->dying = true;
        prune_users();
        *pids = malloc((code_tables.n_users + 1) * sizeof **pids);
        for (size_t i = 0; *pids && i < code_tables.n_users; i++)
            if (code_tables.users[i].v == v)
                (*pids)[(*n)++] = code_tables.users[i].pid;
    }
    pthread_mutex_unlock(&code_tables.lock);
    return v;
}

/* CLOCK_MONOTONIC in milliseconds. */
static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The deadline timeout_ms from now; -1 (none) for a negative timeout. */
static long long deadline_after(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

/* Milliseconds left until deadline_ms, at least 0; ERL_INFINITY when there
 * is no deadline (deadline_ms < 0). */
static int left_ms(long long deadline_ms)
{
    if (deadline_ms < 0)
        return ERL_INFINITY;
    long long left = deadline_ms - now_ms();
    return left > 0 ? (int)left : 0;
}

/* Kills the n processes and waits until they are gone. Returns 0, or -1
 * when some outlived the deadline. */
static int kill_and_wait(const term *pids, size_t n, long long deadline)
{
    term *refs = malloc((n + 1) * sizeof *refs);
    if (!refs)
        return -1;
    for (size_t i = 0; i < n; i++) {
        refs[i] = erl_monitor(pids[i]);
        erl_exit(pids[i], ATOM("kill"));
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        term m = rc < 0 ? NONE
                 : erl_receive(TUPLE(ATOM("DOWN"), refs[i], ANY, ANY, ANY),
                               left_ms(deadline));
        if (is_none(m)) {
            erl_demonitor(refs[i], true);
            rc = -1;
        } else
            erl_drop(m);
    }
    free(refs);
    return rc;
}

/* Waits (yielding) until v has no pins. Returns 0, or -1 at the deadline. */
static int wait_unpinned(struct code_version *v, long long deadline)
{
    for (;;) {
        pthread_mutex_lock(&code_tables.lock);
        int pins = v->pins;
        pthread_mutex_unlock(&code_tables.lock);
        if (pins == 0)
            return 0;
        if (left_ms(deadline) == 0)
            return -1;
        erl_sleep(1);
    }
}

/* Takes the dying version v out of its slot. */
static void detach_old(struct code_version *v)
{
    pthread_mutex_lock(&code_tables.lock);
    struct code_slot *s = code_slot_of(v->module);
    s->old = NULL;
    forget_users_of(v);
    pthread_mutex_unlock(&code_tables.lock);
}

int code_purge(const char *module, int timeout_ms)
{
    term name = atom_from(module);
    term *pids;
    size_t n;
    struct code_version *v = is_none(name) ? NULL : doom_old(name.u.atom, &pids, &n);
    if (!v)
        return errno == EBUSY ? -1 : 0;
    long long deadline = deadline_after(timeout_ms);
    if (!pids || kill_and_wait(pids, n, deadline) < 0 ||
        wait_unpinned(v, deadline) < 0) {
        free(pids);
        pthread_mutex_lock(&code_tables.lock);
        v->dying = false;
        pthread_mutex_unlock(&code_tables.lock);
        errno = pids ? ETIMEDOUT : ENOMEM;
        return -1;
    }
    free(pids);
    detach_old(v);
    unload(v);
    return n > 0;
}

void code_unpin(struct code_version *v)
{
    pthread_mutex_lock(&code_tables.lock);
    v->pins--;
    pthread_mutex_unlock(&code_tables.lock);
}

/* ---- Looking around ------------------------------------------------------ */

int code_versions(const char *module, long *current, long *old)
{
    term name = atom_from(module);
    pthread_mutex_lock(&code_tables.lock);
    struct code_slot *s = is_none(name) ? NULL : code_slot_of(name.u.atom);
    if (current)
        *current = s && s->current ? s->current->vsn : -1;
    if (old)
        *old = s && s->old ? s->old->vsn : -1;
    pthread_mutex_unlock(&code_tables.lock);
    if (!s || (!s->current && !s->old)) {
        errno = ENOENT;
        return -1;
    }
    return 0;
}

size_t code_which(void (*fn)(const struct code_user_info *info, void *ctx),
                  void *ctx)
{
    pthread_mutex_lock(&code_tables.lock);
    prune_users();
    size_t n = code_tables.n_users;
    for (size_t i = 0; fn && i < n; i++) {
        const struct code_version *v = code_tables.users[i].v;
        struct code_slot *s = code_slot_of(v->module);
        struct code_user_info info = {code_tables.users[i].pid, v->module,
                                      v->vsn, s && s->old == v};
        fn(&info, ctx);
    }
    pthread_mutex_unlock(&code_tables.lock);
    return n;
}

void code_unload_all(void)
{
    pthread_mutex_lock(&code_tables.lock);
    for (size_t i = 0; i < CODE_MAX_MODULES; i++) {
        struct code_slot *s = &code_tables.slots[i];
        if (s->current)
            unload(s->current);
        if (s->old)
            unload(s->old);
        *s = (struct code_slot){0};
    }
    free(code_tables.users);
    code_tables.users = NULL;
    code_tables.n_users = code_tables.cap_users = 0;
    pthread_mutex_unlock(&code_tables.lock);
}
