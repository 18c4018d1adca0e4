/* config.c: the declarative settings table behind every service's options. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

typedef struct conf_extra {
    char *key, *value;
    struct conf_extra *next;
} conf_extra;

struct tw_config {
    const tw_conf_def *defs;
    size_t ndefs;
    char **values; /* one per def, NULL = unset */
    const char *prefix;
    conf_extra *extra, **extra_tail;
};

tw_config *tw_config_new(const tw_conf_def *defs, const char *passthrough_prefix)
{
    tw_config *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->defs = defs;
    while (defs[c->ndefs].key)
        c->ndefs++;
    c->values = calloc(c->ndefs + 1, sizeof *c->values);
    if (!c->values) {
        free(c);
        return NULL;
    }
    for (size_t i = 0; i < c->ndefs; i++)
        if (defs[i].def)
            c->values[i] = strdup(defs[i].def);
    c->prefix = passthrough_prefix;
    c->extra_tail = &c->extra;
    return c;
}

void tw_config_free(tw_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->ndefs; i++)
        free(c->values[i]);
    free(c->values);
    while (c->extra) {
        conf_extra *e = c->extra;
        c->extra = e->next;
        free(e->key);
        free(e->value);
        free(e);
    }
    free(c);
}

static long find_def(const tw_config *c, const char *key)
{
    for (size_t i = 0; i < c->ndefs; i++)
        if (strcmp(c->defs[i].key, key) == 0)
            return (long)i;
    return -1;
}

static int parse_bool(const char *v, int *out)
{
    if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes") || !strcmp(v, "on"))
        *out = 1;
    else if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no") || !strcmp(v, "off"))
        *out = 0;
    else
        return -1;
    return 0;
}

int tw_config_set(tw_config *c, const char *key, const char *value, const char *source, char *err,
                  size_t errlen)
{
    long i = find_def(c, key);

    if (i < 0) {
        if (c->prefix && strncmp(key, c->prefix, strlen(c->prefix)) == 0 &&
            strlen(key) > strlen(c->prefix)) {
            conf_extra *e = calloc(1, sizeof *e);
            if (!e || !(e->key = strdup(key)) || !(e->value = strdup(value))) {
                if (e)
                    free(e->key);
                free(e);
                snprintf(err, errlen, "%s: out of memory", source);
                return -1;
            }
            *c->extra_tail = e;
            c->extra_tail = &e->next;
            return 0;
        }
        snprintf(err, errlen, "%s: unknown key \"%s\" (see --help for the keys)", source, key);
        return -1;
    }
    const tw_conf_def *d = &c->defs[i];
    if (d->type == TW_CONF_INT) {
        char *end;
        errno = 0;
        long long n = strtoll(value, &end, 10);
        if (errno || end == value || *end) {
            snprintf(err, errlen, "%s: %s = \"%s\": expected a whole number", source, key, value);
            return -1;
        }
        if (n < d->min || n > d->max) {
            snprintf(err, errlen, "%s: %s = %lld: out of range %lld..%lld", source, key, n,
                     (long long)d->min, (long long)d->max);
            return -1;
        }
    } else if (d->type == TW_CONF_STRING && d->min > 0 && !*value) {
        snprintf(err, errlen, "%s: %s is empty: it needs a value (%s)", source, key, d->help);
        return -1;
    } else if (d->type == TW_CONF_BOOL) {
        int b;
        if (parse_bool(value, &b) < 0) {
            snprintf(err, errlen, "%s: %s = \"%s\": expected true or false", source, key, value);
            return -1;
        }
    }
    char *copy = strdup(value);
    if (!copy) {
        snprintf(err, errlen, "%s: out of memory", source);
        return -1;
    }
    free(c->values[i]);
    c->values[i] = copy;
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

int tw_config_load_file(tw_config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char *line = NULL, source[512];
    size_t cap = 0;
    int lineno = 0, rc = -1;

    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        snprintf(source, sizeof source, "%s:%d", path, lineno);
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s: expected \"key = value\"", source);
            goto done;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        if (!*key) {
            snprintf(err, errlen, "%s: empty key", source);
            goto done;
        }
        if (tw_config_set(c, key, value, source, err, errlen) < 0)
            goto done;
    }
    rc = 0;
done:
    free(line);
    fclose(f);
    return rc;
}

static void env_name(const char *key, char *out, size_t outlen)
{
    size_t n = (size_t)snprintf(out, outlen, "TWINWATCH_");
    for (; *key && n + 1 < outlen; key++)
        out[n++] = (*key == '.' || *key == '-') ? '_' : (char)toupper((unsigned char)*key);
    out[n] = '\0';
}

int tw_config_load_env(tw_config *c, char *err, size_t errlen)
{
    char name[256];
    for (size_t i = 0; i < c->ndefs; i++) {
        env_name(c->defs[i].key, name, sizeof name);
        const char *v = getenv(name);
        if (v && tw_config_set(c, c->defs[i].key, v, name, err, errlen) < 0)
            return -1;
    }
    return 0;
}

const char *tw_config_str(const tw_config *c, const char *key)
{
    long i = find_def(c, key);
    if (i >= 0)
        return c->values[i];
    for (const conf_extra *e = c->extra; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e->value;
    return NULL;
}

int64_t tw_config_int(const tw_config *c, const char *key)
{
    const char *v = tw_config_str(c, key);
    return v ? strtoll(v, NULL, 10) : 0;
}

int tw_config_bool(const tw_config *c, const char *key)
{
    const char *v = tw_config_str(c, key);
    int b = 0;
    return v && parse_bool(v, &b) == 0 && b;
}

void tw_config_each_passthrough(const tw_config *c,
                                void (*fn)(void *arg, const char *key, const char *value),
                                void *arg)
{
    for (const conf_extra *e = c->extra; e; e = e->next)
        fn(arg, e->key, e->value);
}

void tw_config_print_help(const tw_config *c, FILE *out)
{
    static const char *types[] = {"string", "int", "bool"};
    char name[256];
    for (size_t i = 0; i < c->ndefs; i++) {
        const tw_conf_def *d = &c->defs[i];
        env_name(d->key, name, sizeof name);
        fprintf(out, "  %-24s %-6s %s (default: %s; env %s)\n", d->key, types[d->type], d->help,
                d->def ? d->def : "unset", name);
    }
    if (c->prefix)
        fprintf(out, "  %-24s %-6s passed to librdkafka as is\n",
                c->prefix[0] == 'k' ? "kafka.<property>" : c->prefix, "string");
}

static int secret(const char *key)
{
    return strstr(key, "password") || strstr(key, "secret") || strstr(key, "sasl.");
}

/* A libpq connection string with its password masked (keyword or URI
 * form); one that does not parse is masked whole. */
static void print_conninfo(FILE *out, const char *key, const char *value)
{
    char *why = NULL;
    PQconninfoOption *opts = *value ? PQconninfoParse(value, &why) : NULL;
    if (!*value) {
        fprintf(out, "%s = \n", key);
        return;
    }
    if (!opts) {
        fprintf(out, "%s = **** (does not parse: %s)\n", key, why ? why : "out of memory");
        PQfreemem(why);
        return;
    }
    fprintf(out, "%s =", key);
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (o->val && *o->val)
            fprintf(out, " %s=%s", o->keyword, strcmp(o->keyword, "password") ? o->val : "****");
    fprintf(out, "\n");
    PQconninfoFree(opts);
}

void tw_config_print(const tw_config *c, FILE *out)
{
    for (size_t i = 0; i < c->ndefs; i++) {
        const char *k = c->defs[i].key;
        size_t kl = strlen(k);
        if (c->values[i] && kl >= 8 && strcmp(k + kl - 8, "conninfo") == 0)
            print_conninfo(out, k, c->values[i]);
        else
            fprintf(out, "%s = %s\n", k, !c->values[i] ? "" : secret(k) ? "****" : c->values[i]);
    }
    for (const conf_extra *e = c->extra; e; e = e->next)
        fprintf(out, "%s = %s\n", e->key, secret(e->key) ? "****" : e->value);
}

static const char *env_file_path(const char *source_dir, char *buf, size_t buflen)
{
    const char *p = getenv("TWINWATCH_ENV");
    if (p && *p)
        return access(p, R_OK) == 0 ? p : NULL;
    if (access(".local/env", R_OK) == 0)
        return ".local/env";
    if (source_dir) {
        snprintf(buf, buflen, "%s/.local/env", source_dir);
        if (access(buf, R_OK) == 0)
            return buf;
    }
    return NULL;
}

const char *tw_config_load_local_env(const char *source_dir)
{
    static char path[4096];
    const char *p = env_file_path(source_dir, path, sizeof path);
    char *line = NULL;
    size_t cap = 0;
    FILE *f;

    if (!p || !(f = fopen(p, "r")))
        return NULL;
    if (p != path)
        snprintf(path, sizeof path, "%s", p);
    while (getline(&line, &cap, f) >= 0) {
        char *s = trim(line);
        if (!strncmp(s, "export ", 7))
            s = trim(s + 7);
        char *eq = strchr(s, '=');
        if (!*s || *s == '#' || !eq)
            continue;
        *eq = '\0';
        char *v = trim(eq + 1);
        size_t n = strlen(v);
        if (n >= 2 && (v[0] == '\'' || v[0] == '"') && v[n - 1] == v[0]) {
            v[n - 1] = '\0';
            v++;
        }
        setenv(trim(s), v, 0);
    }
    free(line);
    fclose(f);
    return path;
}
