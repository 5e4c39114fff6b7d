/*
 * config_sys.c - a config read as a sys.config: the check of its shape,
 * [{App, [{Key, Value}]}], with the line of the first bad part, and the
 * lookups of an application's env. See config.h for the contract.
 */
#include <string.h>

#include "config.h"

/* t in Erlang syntax, cut to fit buf with "..." (for messages). */
static const char *shown(term t, char *buf, size_t n)
{
    if ((size_t)term_format(buf, n, t) >= n && n > 4)
        memcpy(buf + n - 4, "...", 4);
    return buf;
}

/* The address of list element i (i == size: its tail). */
static const term *slot(term list, size_t i) { return &list.u.elements[i]; }

/* True when t is a proper list whose elements are all integers 0..0x10FFFF:
 * an Erlang string (here, a file name OTP would include). */
static bool is_string(term t)
{
    if (!is_list(t) || t.size == 0 || !is_list(t.u.elements[t.size]) ||
        t.u.elements[t.size].size != 0)
        return false;
    for (size_t i = 0; i < t.size; i++)
        if (!is_int(t.u.elements[i]) || t.u.elements[i].u.integer < 0 ||
            t.u.elements[i].u.integer > 0x10FFFF)
            return false;
    return true;
}

/* Checks that list (at where) is a proper list; what names it. */
static int check_proper(const struct config *cfg, term list, const term *where,
                        const char *what, char *err, size_t errlen)
{
    char buf[80];
    if (!is_list(list))
        return config_error(cfg, where, err, errlen, "%s: expected a list, found %s",
                            what, shown(list, buf, sizeof buf));
    if (list.size && !(is_list(list.u.elements[list.size]) &&
                       list.u.elements[list.size].size == 0))
        return config_error(cfg, slot(list, list.size), err, errlen,
                            "%s: expected a proper list, found the tail %s", what,
                            shown(list.u.elements[list.size], buf, sizeof buf));
    return 0;
}

/* Checks one application's Env: [{Key, Value}], atom keys, each once. */
static int check_env(const struct config *cfg, term app, term env, const term *where,
                     char *err, size_t errlen)
{
    char what[300], buf[80];
    snprintf(what, sizeof what, "the env of %s", app.u.atom);
    if (check_proper(cfg, env, where, what, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < env.size; i++) {
        term p = env.u.elements[i];
        if (!is_tuple(p) || p.size != 2 || !is_atom(p.u.elements[0]))
            return config_error(cfg, slot(env, i), err, errlen, "%s: expected "
                                "{Key, Value} with an atom Key, found %s", what,
                                shown(p, buf, sizeof buf));
        for (size_t j = 0; j < i; j++)
            if (term_eq(element(1, env.u.elements[j]), p.u.elements[0]))
                return config_error(cfg, slot(env, i), err, errlen,
                                    "%s: the key %s appears twice", what,
                                    p.u.elements[0].u.atom);
    }
    return 0;
}

int config_check_sys(const struct config *cfg, char *err, size_t errlen)
{
    term root = config_term(cfg);
    char buf[80];
    if (check_proper(cfg, root, config_root_slot(cfg), "a sys.config", err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < root.size; i++) {
        term e = root.u.elements[i];
        if (is_string(e))
            return config_error(cfg, slot(root, i), err, errlen, "including another "
                                "config file (\"...\") is not supported");
        if (!is_tuple(e) || e.size != 2 || !is_atom(e.u.elements[0]))
            return config_error(cfg, slot(root, i), err, errlen, "expected "
                                "{Application, [{Key, Value}]}, found %s",
                                shown(e, buf, sizeof buf));
        for (size_t j = 0; j < i; j++)
            if (term_eq(element(1, root.u.elements[j]), e.u.elements[0]))
                return config_error(cfg, slot(root, i), err, errlen,
                                    "the application %s appears twice",
                                    e.u.elements[0].u.atom);
        if (check_env(cfg, e.u.elements[0], e.u.elements[1], &e.u.elements[1],
                      err, errlen) < 0)
            return -1;
    }
    return 0;
}

const term *config_keyfind(term list, term key)
{
    if (!is_list(list))
        return NULL;
    for (size_t i = 0; i < list.size; i++) {
        term e = list.u.elements[i];
        if (is_tuple(e) && e.size >= 2 && term_eq(e.u.elements[0], key))
            return slot(list, i);
    }
    return NULL;
}

term config_app_env(const struct config *cfg, term app)
{
    const term *e = config_keyfind(config_term(cfg), app);
    return e ? e->u.elements[1] : NIL;
}

const term *config_get_slot(const struct config *cfg, term app, term key)
{
    const term *p = config_keyfind(config_app_env(cfg, app), key);
    return p ? &p->u.elements[1] : NULL;
}

term config_get(const struct config *cfg, term app, term key)
{
    const term *v = config_get_slot(cfg, app, key);
    return v ? *v : NONE;
}
