/* metrics.c - the Prometheus registry (see metrics.h). A mutex guards the list and
 * the values: updates are rare enough next to network I/O that contention does not
 * show, and it keeps histograms consistent. */
#include "common/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM } metric_type;

struct metric {
    metric_type type;
    char *name;
    char *help;
    char *labels;
    double value; /* counter, gauge; histogram: sum */
    double *bounds;
    unsigned long long *buckets; /* nbounds + 1 (last is +Inf) */
    size_t nbounds;
    unsigned long long count;
    struct metric *next;
};

static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static metric *metrics_head, *metrics_tail;

const double metrics_latency_buckets[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                           0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
const size_t metrics_latency_nbuckets = sizeof metrics_latency_buckets / sizeof metrics_latency_buckets[0];

static char *metrics_strdup(const char *s) { return strdup(s ? s : ""); }

static metric *metrics_find_locked(const char *name, const char *labels)
{
    for (metric *m = metrics_head; m; m = m->next)
        if (strcmp(m->name, name) == 0 && strcmp(m->labels, labels ? labels : "") == 0)
            return m;
    return NULL;
}

static metric *metrics_register(metric_type type, const char *name, const char *help,
                                const char *labels, const double *bounds, size_t nbounds)
{
    pthread_mutex_lock(&metrics_lock);
    metric *m = metrics_find_locked(name, labels);
    if (!m) {
        m = calloc(1, sizeof *m);
        if (!m)
            abort();
        m->type = type;
        m->name = metrics_strdup(name);
        m->help = metrics_strdup(help);
        m->labels = metrics_strdup(labels);
        if (type == METRIC_HISTOGRAM) {
            m->nbounds = nbounds;
            m->bounds = malloc(sizeof(double) * (nbounds ? nbounds : 1));
            m->buckets = calloc(nbounds + 1, sizeof(unsigned long long));
            if (!m->bounds || !m->buckets)
                abort();
            memcpy(m->bounds, bounds, sizeof(double) * nbounds);
        }
        if (metrics_tail)
            metrics_tail->next = m;
        else
            metrics_head = m;
        metrics_tail = m;
    }
    pthread_mutex_unlock(&metrics_lock);
    return m;
}

metric *metric_counter(const char *name, const char *help, const char *labels)
{
    return metrics_register(METRIC_COUNTER, name, help, labels, NULL, 0);
}

metric *metric_gauge(const char *name, const char *help, const char *labels)
{
    return metrics_register(METRIC_GAUGE, name, help, labels, NULL, 0);
}

metric *metric_histogram(const char *name, const char *help, const char *labels,
                         const double *bounds, size_t nbounds)
{
    return metrics_register(METRIC_HISTOGRAM, name, help, labels, bounds, nbounds);
}

void metric_add(metric *m, double v)
{
    pthread_mutex_lock(&metrics_lock);
    m->value += v;
    pthread_mutex_unlock(&metrics_lock);
}

void metric_set(metric *m, double v)
{
    pthread_mutex_lock(&metrics_lock);
    m->value = v;
    pthread_mutex_unlock(&metrics_lock);
}

void metric_observe(metric *m, double v)
{
    pthread_mutex_lock(&metrics_lock);
    size_t i = 0;
    while (i < m->nbounds && v > m->bounds[i])
        i++;
    m->buckets[i]++;
    m->count++;
    m->value += v;
    pthread_mutex_unlock(&metrics_lock);
}

double metric_value(metric *m)
{
    pthread_mutex_lock(&metrics_lock);
    double v = m->type == METRIC_HISTOGRAM ? (double)m->count : m->value;
    pthread_mutex_unlock(&metrics_lock);
    return v;
}

/* A growing text buffer for rendering. */
typedef struct { char *buf; size_t len, cap; } metrics_text;

static void metrics_printf(metrics_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void metrics_printf(metrics_text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        t->cap = t->cap * 2 + (size_t)(n > 0 ? n : 0) + 1;
        t->buf = realloc(t->buf, t->cap);
        if (!t->buf)
            abort();
    }
}

static const char *metrics_type_name(metric_type t)
{
    return t == METRIC_COUNTER ? "counter" : t == METRIC_GAUGE ? "gauge" : "histogram";
}

/* name{labels} or name{labels,extra} or name{extra} */
static void metrics_series(metrics_text *t, const char *name, const char *suffix,
                           const char *labels, const char *extra)
{
    bool has_l = labels && *labels, has_e = extra && *extra;
    metrics_printf(t, "%s%s%s%s%s%s%s", name, suffix, (has_l || has_e) ? "{" : "",
                   has_l ? labels : "", (has_l && has_e) ? "," : "", has_e ? extra : "",
                   (has_l || has_e) ? "}" : "");
}

static void metrics_render_one(metrics_text *t, const metric *m)
{
    if (m->type != METRIC_HISTOGRAM) {
        metrics_series(t, m->name, "", m->labels, NULL);
        metrics_printf(t, " %.17g\n", m->value);
        return;
    }
    unsigned long long cum = 0;
    char le[64];
    for (size_t i = 0; i <= m->nbounds; i++) {
        cum += m->buckets[i];
        if (i < m->nbounds)
            snprintf(le, sizeof le, "le=\"%g\"", m->bounds[i]);
        else
            snprintf(le, sizeof le, "le=\"+Inf\"");
        metrics_series(t, m->name, "_bucket", m->labels, le);
        metrics_printf(t, " %llu\n", cum);
    }
    metrics_series(t, m->name, "_sum", m->labels, NULL);
    metrics_printf(t, " %.17g\n", m->value);
    metrics_series(t, m->name, "_count", m->labels, NULL);
    metrics_printf(t, " %llu\n", m->count);
}

char *metrics_render(void)
{
    metrics_text t = { malloc(4096), 0, 4096 };
    if (!t.buf)
        abort();
    t.buf[0] = '\0';
    pthread_mutex_lock(&metrics_lock);
    for (metric *m = metrics_head; m; m = m->next) {
        bool first = true;
        for (metric *p = metrics_head; p != m; p = p->next)
            if (strcmp(p->name, m->name) == 0) {
                first = false;
                break;
            }
        if (!first)
            continue;
        metrics_printf(&t, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name,
                       metrics_type_name(m->type));
        for (metric *s = m; s; s = s->next)
            if (strcmp(s->name, m->name) == 0)
                metrics_render_one(&t, s);
    }
    pthread_mutex_unlock(&metrics_lock);
    return t.buf;
}

void metrics_reset(void)
{
    pthread_mutex_lock(&metrics_lock);
    metric *m = metrics_head;
    while (m) {
        metric *next = m->next;
        free(m->name);
        free(m->help);
        free(m->labels);
        free(m->bounds);
        free(m->buckets);
        free(m);
        m = next;
    }
    metrics_head = metrics_tail = NULL;
    pthread_mutex_unlock(&metrics_lock);
}
