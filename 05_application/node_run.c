/*
 * node_run.c - one node of the chapter. See node_run.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "application.h"
#include "config.h"
#include "counter.h"
#include "counter_app.h"
#include "dist_ac.h"
#include "dist_policy.h"
#include "node.h"
#include "node_run.h"
#include "shell_cmds.h"

#define EX_UNAVAILABLE 69
#define EX_SOFTWARE 70
#define EX_CONFIG 78

/* counter:read/0 and counter:tick/1 for rpc:block_call from erl. */
static term rpc_read(term args)
{
    (void)args;
    term error;
    term count = counter_read(&error);
    if (is_none(count))
        erl_exit_self(error);
    return count;
}

static term rpc_tick(term args)
{
    term n;
    if (!match(args, LIST(VAR(&n))) || !is_int(n))
        erl_exit_self(ATOM("badarg"));
    counter_tick(n.u.integer);
    return ATOM("ok");
}

/* Reads and checks the config: the file, its shape as a sys.config, and
 * kernel's distribution entries with one for the counter. NULL after
 * printing what is wrong. */
static struct config *read_config(const char *path)
{
    char err[512];
    struct dist_config *dc = NULL;
    struct config *cfg = config_read(path, err, sizeof err);
    if (cfg == NULL || config_check_sys(cfg, err, sizeof err) < 0)
        goto error;
    static struct dist_config checked;      /* big: not on the stack */
    dc = &checked;
    if (dist_config_read(cfg, dc, err, sizeof err) < 0)
        goto error;
    if (dist_config_app(dc, ATOM(COUNTER_APP)) == NULL) {
        snprintf(err, sizeof err, "%s: kernel: distributed has no entry for %s",
                 path, COUNTER_APP);
        goto error;
    }
    return cfg;
error:
    fprintf(stderr, "counter: %s\n", err);
    config_free(cfg);
    return NULL;
}

/* The application controller with cfg, and the counter loaded. -1 after
 * printing why. */
static int start_applications(const struct config *cfg)
{
    term error;
    struct application_options ao = {.config = config_term(cfg)};
    if (is_none(application_controller_start(&ao, &error)) ||
        counter_app_load(&error) < 0) {
        char why[256];
        term_format(why, sizeof why, error);
        fprintf(stderr, "counter: the application controller: %s\n", why);
        return -1;
    }
    return 0;
}

/* dist_ac for the counter; the exit status when it fails, else 0. */
static int start_dist_ac(const struct node_args *a, const struct config *cfg)
{
    char err[1200];
    struct dist_ac_options o = {.config = cfg, .app = COUNTER_APP, .type = APP_TEMPORARY};
    if (dist_ac_start(&o, err, sizeof err) == 0)
        return 0;
    fprintf(stderr, "counter: node %s stops: %s\n", a->name, err);
    return errno == ETIMEDOUT ? EX_UNAVAILABLE : errno == EINVAL ? EX_CONFIG : EX_SOFTWARE;
}

/* Prints the line that says the node is up, and where the counter runs. */
static void say_up(const char *name)
{
    char where[256];
    term node = dist_ac_where();
    term_format(where, sizeof where, is_none(node) ? ATOM("undefined") : node);
    printf("node %s: up; the counter runs on %s. Type help for the commands.\n", name, where);
}

int node_run(const struct node_args *a)
{
    struct config *cfg = read_config(a->config);
    if (cfg == NULL)
        return EX_CONFIG;
    int status = EX_SOFTWARE;
    setvbuf(stdout, NULL, _IOLBF, 0);       /* lines from processes as they come */
    if (erl_start(NULL) < 0) {
        fprintf(stderr, "counter: erl_start: %s\n", strerror(errno));
        goto out;
    }
    struct node_options no = {.name = a->name, .cookie = a->cookie};
    if (node_start(&no) < 0) {              /* it printed why */
        status = EX_UNAVAILABLE;
        goto stop;
    }
    node_rpc_register("counter", "read", 0, rpc_read);
    node_rpc_register("counter", "tick", 1, rpc_tick);
    if (start_applications(cfg) < 0)
        goto stop;
    status = start_dist_ac(a, cfg);         /* waits for the mandatory nodes */
    if (status != 0)
        goto stop;
    say_up(a->name);
    status = shell_loop(&counter_shell, stdin, stdout);
    dist_ac_stop();
stop:
    erl_stop();
out:
    config_free(cfg);
    return status;
}
