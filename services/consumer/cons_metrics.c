/* cons_metrics.c - member-consumer's Prometheus metrics (served on /metrics). Labels
 * hold collection, op, topic, partition and error class names: never member data. */
#include <stdio.h>

#include "common/metrics.h"
#include "services/consumer/consumer.h"

void cm_applied(const char *collection, char op, size_t n)
{
    char labels[200];
    snprintf(labels, sizeof labels, "collection=\"%s\",op=\"%c\"", collection, op);
    metric_add(metric_counter("ekklesia_sync_consumer_events_applied_total",
                              "Change events applied to Firestore", labels), (double)n);
}

void cm_stale(size_t n)
{
    metric_add(metric_counter("ekklesia_sync_consumer_events_stale_total",
                              "Events skipped because the document holds a newer state", ""), (double)n);
}

void cm_folded(size_t n)
{
    metric_add(metric_counter("ekklesia_sync_consumer_events_folded_total",
                              "Events superseded by a later event of their row in the same batch, not mapped on "
                              "their own (also counted as applied or stale)", ""), (double)n);
}

void cm_skipped(size_t n)
{
    metric_add(metric_counter("ekklesia_sync_consumer_events_skipped_total",
                              "Events the mapping skips (placeholders, tombstones, truncates)", ""), (double)n);
}

void cm_dead_letter(const char *cls)
{
    char labels[120];
    snprintf(labels, sizeof labels, "class=\"%s\"", cls);
    metric_add(metric_counter("ekklesia_sync_consumer_dead_letters_total",
                              "Events sent to a dead-letter topic, by error class", labels), 1);
}

void cm_retry(const char *reason, size_t n)
{
    char labels[120];
    snprintf(labels, sizeof labels, "reason=\"%s\"", reason);
    metric_add(metric_counter("ekklesia_sync_consumer_retries_total",
                              "Events put back for a later attempt, by reason", labels), (double)n);
}

void cm_auth_failure(void)
{
    metric_add(metric_counter("ekklesia_sync_consumer_auth_failures_total",
                              "Firestore requests refused for authentication or permission", ""), 1);
}

void cm_request(const char *verb, double seconds)
{
    char labels[64];
    snprintf(labels, sizeof labels, "method=\"%s\"", verb + (verb[0] == ':'));
    metric_observe(metric_histogram("ekklesia_sync_firestore_request_duration_seconds",
                                    "Firestore request duration", labels, metrics_latency_buckets,
                                    metrics_latency_nbuckets), seconds);
}

void cm_latency(double seconds)
{
    metric_observe(metric_histogram("ekklesia_sync_consumer_end_to_end_latency_seconds",
                                    "From the source commit to the Firestore write", "", metrics_latency_buckets,
                                    metrics_latency_nbuckets), seconds);
}

void cm_lag(const char *topic, int32_t partition, int64_t lag)
{
    char labels[300];
    snprintf(labels, sizeof labels, "topic=\"%s\",partition=\"%d\"", topic, (int)partition);
    metric_set(metric_gauge("ekklesia_sync_consumer_lag_messages", "Records behind the partition's end", labels),
               (double)lag);
}

void cm_assigned(size_t n)
{
    metric_set(metric_gauge("ekklesia_sync_consumer_assigned_partitions", "Partitions this consumer owns", ""),
               (double)n);
}

void cm_batch(size_t events, size_t writes)
{
    metric_add(metric_counter("ekklesia_sync_consumer_batches_total", "Batches applied", ""), 1);
    metric_add(metric_counter("ekklesia_sync_consumer_writes_total", "Document writes sent", ""), (double)writes);
    metric_add(metric_counter("ekklesia_sync_consumer_events_total", "Events taken into batches", ""), (double)events);
}

void cm_finished(size_t n)
{
    metric_add(metric_counter("ekklesia_sync_consumer_events_finished_total",
                              "Events applied, skipped, found stale or dead-lettered (their offsets may be committed)",
                              ""), (double)n);
}

void cm_held(size_t partitions_backing_off, size_t events_retrying, double oldest_retrying_s)
{
    metric_set(metric_gauge("ekklesia_sync_consumer_partitions_backing_off",
                            "Partitions paused after a failure, waiting to retry", ""),
               (double)partitions_backing_off);
    metric_set(metric_gauge("ekklesia_sync_consumer_events_retrying",
                            "Buffered events that failed and wait to be tried again (a parent row, a retry)", ""),
               (double)events_retrying);
    metric_set(metric_gauge("ekklesia_sync_consumer_oldest_retrying_seconds",
                            "Since the first failure of the longest-failing buffered event (0: none)", ""),
               oldest_retrying_s);
}
