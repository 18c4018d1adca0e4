/* metrics.h: counters, gauges and histograms a service updates as it works,
 * rendered in Prometheus' text exposition format (version 0.0.4) for
 * GET /metrics. A series is a metric name plus a fixed set of labels,
 * registered once and then updated through its pointer: an update is an
 * addition, never a lookup. Single-threaded, like the libev loop that owns
 * it. */
#ifndef TW_METRICS_H
#define TW_METRICS_H

#include <stddef.h>

typedef struct tw_metrics tw_metrics;
typedef struct tw_metric tw_metric;

typedef enum { TW_COUNTER, TW_GAUGE, TW_HISTOGRAM } tw_metric_type;

tw_metrics *tw_metrics_new(void);
void tw_metrics_free(tw_metrics *m);

/* Registers (or returns the already registered) series name{labels}.
 * labels is NULL or a label list built by tw_metrics_labels. Series of one
 * name must share type and help. Histograms take their bucket upper bounds
 * (ascending; +Inf is implied). NULL when out of memory or when name or
 * the type disagrees with an earlier registration. */
tw_metric *tw_metrics_counter(tw_metrics *m, const char *name, const char *help,
                              const char *labels);
tw_metric *tw_metrics_gauge(tw_metrics *m, const char *name, const char *help, const char *labels);
tw_metric *tw_metrics_histogram(tw_metrics *m, const char *name, const char *help,
                                const char *labels, const double *bounds, int nbounds);

/* Updates. A counter only goes up: tw_metric_add ignores negative values. */
void tw_metric_add(tw_metric *c, double v);
void tw_metric_set(tw_metric *g, double v);
void tw_metric_observe(tw_metric *h, double v);
/* A hidden series is left out of the exposition (a partition no longer
 * assigned) until it is shown again. */
void tw_metric_hide(tw_metric *m, int hidden);

/* Builds a label list, escaped as the format requires, from name, value
 * pairs ending with NULL: tw_metrics_labels(buf, sizeof buf, "result",
 * "accepted", "type", "visit", NULL) gives result="accepted",type="visit".
 * Returns buf, or NULL when it does not fit. */
const char *tw_metrics_labels(char *buf, size_t len, ...) __attribute__((sentinel));

/* Called at the start of every render, to set gauges whose value is read
 * rather than tracked (lag, queue depth). */
typedef void (*tw_metrics_collect_fn)(void *arg, tw_metrics *m);
void tw_metrics_on_collect(tw_metrics *m, tw_metrics_collect_fn fn, void *arg);

/* The exposition, families sorted by name. *out is malloc'd (caller frees).
 * -1 when out of memory. */
int tw_metrics_render(tw_metrics *m, char **out, size_t *len) __attribute__((warn_unused_result));

#endif
