/* metrics.h - a process-wide Prometheus metrics registry.
 *
 * Metrics are created once (same name + labels returns the same metric) and updated
 * from any thread. Names are full Prometheus names ("ekklesia_sync_events_total"),
 * in base units; labels are given pre-rendered ("table=\"membership_comrade\",op=\"c\"")
 * and must never hold member data. metrics_render() produces the text exposition
 * format served on /metrics. */
#ifndef COMMON_METRICS_H
#define COMMON_METRICS_H

#include <stddef.h>

typedef struct metric metric;

metric *metric_counter(const char *name, const char *help, const char *labels);
metric *metric_gauge(const char *name, const char *help, const char *labels);
/* bounds: ascending upper bounds of the buckets (+Inf is implied); copied. */
metric *metric_histogram(const char *name, const char *help, const char *labels,
                         const double *bounds, size_t nbounds);

void metric_add(metric *m, double v);     /* counter, gauge */
void metric_set(metric *m, double v);     /* gauge */
void metric_observe(metric *m, double v); /* histogram */
double metric_value(metric *m);           /* counter/gauge value, histogram count */

/* Default buckets for request durations in seconds (0.5 ms .. 10 s). */
extern const double metrics_latency_buckets[];
extern const size_t metrics_latency_nbuckets;

char *metrics_render(void); /* malloc'd text; caller frees */
void metrics_reset(void);   /* tests only: forget every metric */

#endif
