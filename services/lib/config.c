/* config.c: the declarative settings table behind every service's options. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "pbjson.h"

extern char **environ;

typedef struct conf_extra {
    char *key, *value, *source;
    struct conf_extra *next;
} conf_extra;

struct tw_config {
    const tw_conf_def *defs;
    size_t ndefs;
    char **values; /* one per def, NULL = unset */
    const char *prefix;
    tw_conf_check_fn check;
    const tw_conf_reserved *reserved;
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
        free(e->source);
        free(e);
    }
    free(c);
}

void tw_config_passthrough_rules(tw_config *c, tw_conf_check_fn check,
                                 const tw_conf_reserved *reserved)
{
    c->check = check;
    c->reserved = reserved;
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

int tw_config_is_secret(const char *key)
{
    return strstr(key, "password") || strstr(key, "secret") || strstr(key, "sasl.") ||
           strstr(key, "ssl.key.pem");
}

/* A passthrough key: refused when reserved or when check rejects it, else
 * replaces an earlier value of the same key (keeping its place) or is
 * appended. */
static int set_passthrough(tw_config *c, const char *key, const char *value, const char *source,
                           char *err, size_t errlen)
{
    char why[256];
    for (const tw_conf_reserved *r = c->reserved; r && r->key; r++)
        if (strcmp(r->key, key) == 0) {
            snprintf(err, errlen, "%s: %s cannot be set: %s", source, key, r->why);
            return -1;
        }
    if (c->check && c->check(key + strlen(c->prefix), value, why, sizeof why) < 0) {
        snprintf(err, errlen, "%s: %s = \"%s\": %s", source, key,
                 tw_config_is_secret(key) ? "****" : value, why);
        return -1;
    }
    conf_extra *e = c->extra;
    while (e && strcmp(e->key, key) != 0)
        e = e->next;
    char *v = strdup(value), *src = strdup(source);
    if (!v || !src || (!e && (!(e = calloc(1, sizeof *e)) || !(e->key = strdup(key))))) {
        if (e && !e->key)
            free(e);
        free(v);
        free(src);
        snprintf(err, errlen, "%s: out of memory", source);
        return -1;
    }
    if (!e->value) {
        *c->extra_tail = e;
        c->extra_tail = &e->next;
    }
    free(e->value);
    free(e->source);
    e->value = v;
    e->source = src;
    return 0;
}

int tw_config_set(tw_config *c, const char *key, const char *value, const char *source, char *err,
                  size_t errlen)
{
    long i = find_def(c, key);

    if (i < 0) {
        if (c->prefix && strncmp(key, c->prefix, strlen(c->prefix)) == 0 &&
            strlen(key) > strlen(c->prefix))
            return set_passthrough(c, key, value, source, err, errlen);
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

int tw_config_load_stream(tw_config *c, FILE *f, const char *path, char *err, size_t errlen)
{
    char *line = NULL, source[512];
    size_t cap = 0;
    int lineno = 0, rc = -1;

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
    if (rc < 0)
        tw_pbjson_clean_text(err); /* a file's stray bytes stay out of the one-line message */
    return rc;
}

int tw_config_load_file(tw_config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    int rc;

    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    rc = tw_config_load_stream(c, f, path, err, errlen);
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

/* Whether the variable NAME=... is the TWINWATCH_ name of a key of the table. */
static int names_def(const tw_config *c, const char *var, size_t namelen)
{
    char name[256];
    for (size_t i = 0; i < c->ndefs; i++) {
        env_name(c->defs[i].key, name, sizeof name);
        if (strlen(name) == namelen && strncmp(name, var, namelen) == 0)
            return 1;
    }
    return 0;
}

int tw_config_load_env(tw_config *c, char *err, size_t errlen)
{
    char name[256], pre[64], key[256];
    for (size_t i = 0; i < c->ndefs; i++) {
        env_name(c->defs[i].key, name, sizeof name);
        const char *v = getenv(name);
        if (v && tw_config_set(c, c->defs[i].key, v, name, err, errlen) < 0)
            return -1;
    }
    if (!c->prefix)
        return 0;
    /* Passthrough properties have no fixed names: TWINWATCH_KAFKA_SASL_USERNAME
     * is kafka.sasl.username (librdkafka's names are lower case and dotted). */
    env_name(c->prefix, pre, sizeof pre); /* "TWINWATCH_KAFKA_" */
    for (char **e = environ; *e; e++) {
        const char *eq = strchr(*e, '=');
        size_t n = eq ? (size_t)(eq - *e) : 0;
        if (!eq || strncmp(*e, pre, strlen(pre)) != 0 || names_def(c, *e, n))
            continue;
        if (n >= sizeof name) {
            snprintf(err, errlen, "%.64s...: variable name too long", *e);
            return -1;
        }
        memcpy(name, *e, n);
        name[n] = '\0';
        size_t k = 0;
        for (const char *p = name + strlen("TWINWATCH_"); *p; p++)
            key[k++] = *p == '_' ? '.' : (char)tolower((unsigned char)*p);
        key[k] = '\0';
        if (n == strlen(pre)) {
            snprintf(err, errlen, "%s: names no property (%s<PROPERTY>)", name, pre);
            return -1;
        }
        if (tw_config_set(c, key, eq + 1, name, err, errlen) < 0)
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
                                void (*fn)(void *arg, const char *key, const char *value,
                                           const char *source),
                                void *arg)
{
    for (const conf_extra *e = c->extra; e; e = e->next)
        fn(arg, e->key, e->value, e->source);
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
    if (!c->prefix)
        return;
    char pass[64];
    snprintf(pass, sizeof pass, "%s<property>", c->prefix);
    env_name(c->prefix, name, sizeof name);
    fprintf(out, "  %-24s %-6s passed to librdkafka as is (env %s<PROPERTY>, dots as _)\n", pass,
            "string", name);
    for (const tw_conf_reserved *r = c->reserved; r && r->key; r++)
        fprintf(out, "  %-31s cannot be set: %s\n", r->key, r->why);
}

/* A libpq connection string with its password masked (keyword or URI
 * form); one that does not parse is masked whole. */
/* One conninfo value, quoted the way libpq reads it back when it has to be. */
static void print_conninfo_value(FILE *out, const char *v)
{
    if (*v && !strpbrk(v, " \t\n\r\f\v'\\")) {
        fputs(v, out);
        return;
    }
    fputc('\'', out);
    for (; *v; v++) {
        if (*v == '\'' || *v == '\\')
            fputc('\\', out);
        fputc(*v, out);
    }
    fputc('\'', out);
}

static void print_conninfo(FILE *out, const char *key, const char *value)
{
    char *why = NULL;
    PQconninfoOption *opts = *value ? PQconninfoParse(value, &why) : NULL;
    if (!*value) {
        fprintf(out, "%s = \n", key);
        return;
    }
    if (!opts) {
        /* libpq's reason quotes the text it choked on, which may be the
         * password itself ("missing = after ..."): never shown. */
        fprintf(out, "%s = **** (%s)\n", key,
                why ? "does not parse as a conninfo: keyword=value ... or postgresql://..."
                    : "out of memory");
        PQfreemem(why);
        return;
    }
    fprintf(out, "%s =", key);
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !*o->val)
            continue;
        fprintf(out, " %s=", o->keyword);
        print_conninfo_value(out, strcmp(o->keyword, "password") ? o->val : "****");
    }
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
            fprintf(out, "%s = %s\n", k,
                    !c->values[i]            ? ""
                    : tw_config_is_secret(k) ? "****"
                                             : c->values[i]);
    }
    for (const conf_extra *e = c->extra; e; e = e->next)
        fprintf(out, "%s = %s\n", e->key, tw_config_is_secret(e->key) ? "****" : e->value);
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
