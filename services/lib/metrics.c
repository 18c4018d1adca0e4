/* metrics.c: series kept in registration order in one array; a render sorts
 * them by name so that each family's samples follow its HELP and TYPE
 * lines, as the text format requires. */
#include "metrics.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tw_metric {
    char *name, *help, *labels;
    tw_metric_type type;
    size_t order;
    double value; /* counter, gauge; the sum for a histogram */
    double *bounds;
    uint64_t *buckets; /* per bound, not cumulative; [nbounds] is above the last */
    uint64_t count;
    int nbounds;
    int hidden;
};

struct tw_metrics {
    tw_metric **series;
    size_t n, cap;
    tw_metrics_collect_fn collect;
    void *collect_arg;
};

tw_metrics *tw_metrics_new(void)
{
    return calloc(1, sizeof(tw_metrics));
}

static void free_metric(tw_metric *s)
{
    free(s->name);
    free(s->help);
    free(s->labels);
    free(s->bounds);
    free(s->buckets);
    free(s);
}

void tw_metrics_free(tw_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        free_metric(m->series[i]);
    free(m->series);
    free(m);
}

static tw_metric *add(tw_metrics *m, const char *name, const char *help, const char *labels,
                      tw_metric_type type, const double *bounds, int nbounds)
{
    if (!labels)
        labels = "";
    for (size_t i = 0; i < m->n; i++) {
        tw_metric *s = m->series[i];
        if (strcmp(s->name, name) != 0)
            continue;
        if (s->type != type)
            return NULL; /* one name, one type */
        if (strcmp(s->labels, labels) == 0)
            return s;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 32;
        tw_metric **t = realloc(m->series, cap * sizeof *t);
        if (!t)
            return NULL;
        m->series = t;
        m->cap = cap;
    }
    tw_metric *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->type = type;
    s->order = m->n;
    s->name = strdup(name);
    s->help = strdup(help ? help : "");
    s->labels = strdup(labels);
    if (type == TW_HISTOGRAM) {
        s->nbounds = nbounds;
        s->bounds = malloc((size_t)(nbounds ? nbounds : 1) * sizeof *s->bounds);
        s->buckets = calloc((size_t)nbounds + 1, sizeof *s->buckets);
        if (s->bounds)
            memcpy(s->bounds, bounds, (size_t)nbounds * sizeof *bounds);
    }
    if (!s->name || !s->help || !s->labels ||
        (type == TW_HISTOGRAM && (!s->bounds || !s->buckets))) {
        free_metric(s);
        return NULL;
    }
    m->series[m->n++] = s;
    return s;
}

tw_metric *tw_metrics_counter(tw_metrics *m, const char *name, const char *help, const char *labels)
{
    return add(m, name, help, labels, TW_COUNTER, NULL, 0);
}

tw_metric *tw_metrics_gauge(tw_metrics *m, const char *name, const char *help, const char *labels)
{
    return add(m, name, help, labels, TW_GAUGE, NULL, 0);
}

tw_metric *tw_metrics_histogram(tw_metrics *m, const char *name, const char *help,
                                const char *labels, const double *bounds, int nbounds)
{
    for (int i = 1; i < nbounds; i++)
        if (!(bounds[i] > bounds[i - 1]))
            return NULL;
    return add(m, name, help, labels, TW_HISTOGRAM, bounds, nbounds);
}

void tw_metric_add(tw_metric *c, double v)
{
    if (c && v > 0)
        c->value += v;
}

void tw_metric_set(tw_metric *g, double v)
{
    if (g)
        g->value = v;
}

void tw_metric_observe(tw_metric *h, double v)
{
    if (!h || h->type != TW_HISTOGRAM)
        return;
    int i = 0;
    while (i < h->nbounds && v > h->bounds[i])
        i++;
    h->buckets[i]++;
    h->count++;
    h->value += v;
}

void tw_metric_hide(tw_metric *m, int hidden)
{
    if (m)
        m->hidden = hidden;
}

const char *tw_metrics_labels(char *buf, size_t len, ...)
{
    va_list ap;
    size_t n = 0;
    const char *k;
    va_start(ap, len);
    if (len)
        buf[0] = '\0';
    while ((k = va_arg(ap, const char *))) {
        const char *v = va_arg(ap, const char *);
        int w = snprintf(buf + n, len - n, "%s%s=\"", n ? "," : "", k);
        if (w < 0 || (size_t)w >= len - n)
            goto full;
        n += (size_t)w;
        for (; v && *v; v++) {
            const char *esc = *v == '\\' ? "\\\\" : *v == '"' ? "\\\"" : *v == '\n' ? "\\n" : NULL;
            size_t el = esc ? 2 : 1;
            if (n + el + 1 >= len)
                goto full;
            if (esc)
                memcpy(buf + n, esc, 2);
            else
                buf[n] = *v;
            n += el;
        }
        if (n + 2 >= len)
            goto full;
        buf[n++] = '"';
        buf[n] = '\0';
    }
    va_end(ap);
    return buf;
full:
    va_end(ap);
    return NULL;
}

void tw_metrics_on_collect(tw_metrics *m, tw_metrics_collect_fn fn, void *arg)
{
    m->collect = fn;
    m->collect_arg = arg;
}

/* ---- rendering ---- */

typedef struct text {
    char *buf;
    size_t len, cap;
    int oom;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    for (int tries = 0; tries < 2 && !t->oom; tries++) {
        va_start(ap, fmt);
        int w = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (w < 0) {
            t->oom = 1;
            return;
        }
        if ((size_t)w < t->cap - t->len) {
            t->len += (size_t)w;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)w + 1;
        char *nb = realloc(t->buf, cap);
        if (!nb) {
            t->oom = 1;
            return;
        }
        t->buf = nb;
        t->cap = cap;
    }
}

static int by_name(const void *a, const void *b)
{
    const tw_metric *x = *(tw_metric *const *)a, *y = *(tw_metric *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->order < y->order ? -1 : x->order > y->order);
}

/* HELP text escapes backslash and newline. */
static void put_help(text *t, const char *help)
{
    for (; *help; help++) {
        if (*help == '\\')
            put(t, "\\\\");
        else if (*help == '\n')
            put(t, "\\n");
        else
            put(t, "%c", *help);
    }
}

static void put_sample(text *t, const char *name, const char *suffix, const char *labels,
                       const char *extra, double v)
{
    int any = *labels || extra;
    put(t, "%s%s%s%s%s%s%s %.15g\n", name, suffix, any ? "{" : "", labels,
        *labels && extra ? "," : "", extra ? extra : "", any ? "}" : "", v);
}

int tw_metrics_render(tw_metrics *m, char **out, size_t *len)
{
    static const char *type_names[] = {"counter", "gauge", "histogram"};
    text t = {.buf = malloc(4096), .cap = 4096};
    tw_metric **sorted = NULL;
    if (!t.buf)
        return -1;
    t.buf[0] = '\0';
    if (m->collect)
        m->collect(m->collect_arg, m);
    if (m->n && !(sorted = malloc(m->n * sizeof *sorted))) {
        free(t.buf);
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < m->n; i++)
        if (!m->series[i]->hidden)
            sorted[n++] = m->series[i];
    qsort(sorted, n, sizeof *sorted, by_name);
    for (size_t i = 0; i < n; i++) {
        const tw_metric *s = sorted[i];
        if (i == 0 || strcmp(sorted[i - 1]->name, s->name) != 0) {
            put(&t, "# HELP %s ", s->name);
            put_help(&t, s->help);
            put(&t, "\n# TYPE %s %s\n", s->name, type_names[s->type]);
        }
        if (s->type != TW_HISTOGRAM) {
            put_sample(&t, s->name, "", s->labels, NULL, s->value);
            continue;
        }
        uint64_t cum = 0;
        char le[48];
        for (int b = 0; b <= s->nbounds; b++) {
            cum += s->buckets[b];
            if (b < s->nbounds)
                snprintf(le, sizeof le, "le=\"%.15g\"", s->bounds[b]);
            else
                snprintf(le, sizeof le, "le=\"+Inf\"");
            put_sample(&t, s->name, "_bucket", s->labels, le, (double)cum);
        }
        put_sample(&t, s->name, "_sum", s->labels, NULL, s->value);
        put_sample(&t, s->name, "_count", s->labels, NULL, (double)s->count);
    }
    free(sorted);
    if (t.oom) {
        free(t.buf);
        return -1;
    }
    *out = t.buf;
    *len = t.len;
    return 0;
}
