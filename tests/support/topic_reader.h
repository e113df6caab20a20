/* topic_reader.h - reads every record of the Kafka topics matching a regex into
 * memory, for integration tests that check what a program produced. */
#ifndef TESTS_SUPPORT_TOPIC_READER_H
#define TESTS_SUPPORT_TOPIC_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct th_record {
    char *topic;
    char *key, *value; /* NUL-terminated copies; NULL when absent (a tombstone's value) */
    size_t key_len, value_len;
    int32_t partition;
    int64_t offset;
} th_record;

typedef struct th_reader th_reader;

/* Subscribes (a fresh consumer group, from the earliest offset) to the topics that
 * match regex, which must start with '^'. */
th_reader *th_reader_open(const char *regex);
/* Reads what arrives for up to timeout_ms; returns the number of records held. */
size_t th_reader_poll(th_reader *r, int timeout_ms);
/* Polls until at least n records are held or timeout_ms passes. */
bool th_reader_wait(th_reader *r, size_t n, int timeout_ms);
size_t th_reader_count(const th_reader *r);
const th_record *th_reader_get(const th_reader *r, size_t i);
void th_reader_close(th_reader *r);

#endif
