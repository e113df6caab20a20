/* prod_metrics.c - member-producer's Prometheus metrics (contract section 3). Per
 * table and operation event counters live with their relation (relation.c). */
#include "services/producer/runtime.h"

void prod_metrics_init(prod_metrics *m)
{
    m->bytes = metric_counter("ekklesia_sync_producer_bytes_total", "Bytes of keys and values sent to Kafka", NULL);
    m->confirmed_lsn = metric_gauge("ekklesia_sync_producer_confirmed_lsn",
                                    "The slot position confirmed to PostgreSQL (LSN as a number)", NULL);
    m->lag_bytes = metric_gauge("ekklesia_sync_producer_lag_bytes",
                                "Server WAL end minus the confirmed position, in bytes", NULL);
    m->lag_seconds = metric_gauge("ekklesia_sync_producer_lag_seconds",
                                  "Now minus the commit time of the last transaction read, while events are pending",
                                  NULL);
    m->delivery_errors = metric_counter("ekklesia_sync_producer_delivery_errors_total",
                                        "Kafka delivery failures (each one stops the producer)", NULL);
    m->inflight_events = metric_gauge("ekklesia_sync_producer_inflight_events",
                                      "Events sent to Kafka and not yet acknowledged", NULL);
    m->inflight_bytes = metric_gauge("ekklesia_sync_producer_inflight_bytes",
                                     "Bytes sent to Kafka and not yet acknowledged", NULL);
    m->transactions = metric_counter("ekklesia_sync_producer_transactions_total",
                                     "Source transactions read from the slot", NULL);
    m->reconnects = metric_counter("ekklesia_sync_producer_reconnects_total",
                                   "Reconnections to PostgreSQL after a lost connection", NULL);
    m->backpressure_seconds = metric_counter("ekklesia_sync_producer_backpressure_seconds_total",
                                             "Time spent not reading PostgreSQL because too much was in flight", NULL);
    m->messages_ignored = metric_counter("ekklesia_sync_producer_messages_ignored_total",
                                         "pgoutput messages that make no event (Origin, logical messages)", NULL);
    m->value_fallbacks = metric_counter("ekklesia_sync_producer_value_fallbacks_total",
                                        "Values not in their type's text form, sent as strings", NULL);
    m->status_updates = metric_counter("ekklesia_sync_producer_status_updates_total",
                                       "Standby status updates sent to PostgreSQL", NULL);
}
