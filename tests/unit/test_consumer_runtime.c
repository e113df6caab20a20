/* test_consumer_runtime.c - member-consumer's small runtime rules: the 500/50/5 ramp and
 * the fixed ceiling, the token bucket's pace, settings from config and environment, and
 * the scrubbing of dead-letter messages (no member data), how long a row waits for its
 * parent, the share of buffered records a partition may hold. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "services/consumer/consumer.h"

/* The buffered records' bound is shared among the partitions holding records, not
 * among all assigned: a consumer of 45 partitions whose records come from 4 lets those
 * hold 1,250 each, not 111 (paused and resumed all the time). */
static void buffered_records_are_shared_among_busy_partitions(void **state)
{
    (void)state;
    cons c = { 0 };
    c.set.max_buffered = 5000;
    partq qs[45];
    memset(qs, 0, sizeof qs);
    for (int i = 0; i < 45; i++) {
        qs[i].next = i + 1 < 45 ? &qs[i + 1] : NULL;
        qs[i].count = i < 4 ? 300 : 0;
    }
    c.parts = &qs[0];
    assert_int_equal(partq_share(&c, &qs[0]), 1250);
    assert_int_equal(partq_share(&c, &qs[10]), 1000); /* a partition whose records start to come */
    for (int i = 0; i < 45; i++)
        qs[i].count = 10;
    assert_int_equal(partq_share(&c, &qs[0]), 111);
    c.set.max_buffered = 100;
    assert_int_equal(partq_share(&c, &qs[0]), 64); /* never below */
}

/* A row waiting for its parent: quick retries first, then backing off, but never so
 * long that a parent the other replica applies late goes unnoticed for long. */
static void parent_wait_is_quick_then_bounded(void **state)
{
    (void)state;
    cons c = { 0 };
    c.set.retry_base_ms = 100;
    c.set.retry_max_ms = 30000;
    for (int attempt = 1; attempt <= PARTQ_PARENT_QUICK_RETRIES; attempt++)
        assert_int_equal(partq_wait_delay(&c, attempt), PARTQ_PARENT_RETRY_MS);
    int64_t longest = 0;
    for (int attempt = PARTQ_PARENT_QUICK_RETRIES + 1; attempt < 400; attempt++) {
        int64_t d = partq_wait_delay(&c, attempt);
        assert_true(d >= PARTQ_PARENT_RETRY_MS && d <= PARTQ_PARENT_MAX_WAIT_MS);
        longest = d > longest ? d : longest;
    }
    assert_true(longest > PARTQ_PARENT_MAX_WAIT_MS / 2); /* it does back off */
}

static void ramp_follows_500_50_5(void **state)
{
    (void)state;
    rate_limiter r;
    rate_init(&r, 0, true, 500);
    int64_t t0 = r.t0_ms, min5 = 5 * 60 * 1000;
    assert_true(rate_current(&r, t0) == 500);
    assert_true(rate_current(&r, t0 + min5 - 1) == 500);
    assert_true(rate_current(&r, t0 + min5) == 750);
    assert_true(rate_current(&r, t0 + 2 * min5) == 1125);
    rate_init(&r, 1000, true, 500); /* the ceiling wins once the ramp passes it */
    assert_true(rate_current(&r, r.t0_ms + 2 * min5) == 1000);
    rate_init(&r, 0, false, 500);
    assert_true(rate_current(&r, r.t0_ms) == 0); /* unlimited */
    rate_init(&r, 250, false, 500);
    assert_true(rate_current(&r, r.t0_ms + 10 * min5) == 250);
}

static void bucket_paces_writes(void **state)
{
    (void)state;
    rate_limiter r;
    rate_init(&r, 1000, false, 500);
    int64_t t0 = clock_mono_ms();
    for (int i = 0; i < 5; i++)
        rate_acquire(&r, 100); /* 500 writes at 1000/s: about half a second */
    int64_t took = clock_mono_ms() - t0;
    assert_true(took >= 400);
    assert_true(took < 2000);
}

static void dead_letter_messages_hide_member_data(void **state)
{
    (void)state;
    char out[256];
    dlq_scrub("Document \"projects/p/databases/(default)/documents/members/0101302989\" is too big", out, sizeof out);
    assert_null(strstr(out, "0101302989"));
    assert_non_null(strstr(out, "is too big"));
    dlq_scrub("column ssn: kennitala 0101302989 invalid, phone 6903635", out, sizeof out);
    assert_null(strstr(out, "0101302989"));
    assert_null(strstr(out, "6903635"));
    assert_non_null(strstr(out, "column ssn"));
    dlq_scrub("lsn 12345 at offset 17", out, sizeof out); /* short numbers stay */
    assert_string_equal(out, "lsn 12345 at offset 17");
    /* a quote where its five bytes would end at the buffer's end: cut, never past it */
    char small[12];
    memset(small, 'x', sizeof small);
    dlq_scrub("abcde\"0101302989\"", small, 10);
    assert_string_equal(small, "abcde");
    assert_int_equal(small[10], 'x');
    assert_int_equal(small[11], 'x');
}

static void settings_from_file_and_environment(void **state)
{
    (void)state;
    cfg_error err;
    cfg_file *cf = cfg_open("config/consumer.conf", &err);
    assert_non_null(cf);
    cons_settings s;
    setenv("GOOGLE_CLOUD_PROJECT", "from-env", 1);
    setenv("EKKLESIA_CONSUMER_BATCH_MAX_EVENTS", "77", 1);
    setenv("EKKLESIA_KAFKA_TOPIC_PREFIX", "my.prefix", 1);
    assert_int_equal(cons_settings_load(cf, &s, &err), 0);
    assert_string_equal(s.project, "from-env");
    assert_int_equal(s.batch_max_events, 77);
    assert_string_equal(s.topics, "^my\\.prefix\\.[^.]+\\.[^.]+$"); /* never the .dlq topics */
    assert_true(s.never_backwards);
    setenv("EKKLESIA_CONSUMER_COALESCE", "false", 1);
    assert_int_equal(cons_settings_load(cf, &s, &err), 0);
    assert_int_equal(s.batch_max_events, 1); /* one write per event */
    setenv("EKKLESIA_CONSUMER_BATCH_MAX_EVENTS", "0", 1);
    assert_int_equal(cons_settings_load(cf, &s, &err), -1);
    assert_non_null(strstr(err.where, "EKKLESIA_CONSUMER_BATCH_MAX_EVENTS"));
    unsetenv("EKKLESIA_CONSUMER_BATCH_MAX_EVENTS");
    unsetenv("EKKLESIA_CONSUMER_COALESCE");
    unsetenv("EKKLESIA_KAFKA_TOPIC_PREFIX");
    unsetenv("GOOGLE_CLOUD_PROJECT");
    cfg_close(cf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ramp_follows_500_50_5),
        cmocka_unit_test(parent_wait_is_quick_then_bounded),
        cmocka_unit_test(buffered_records_are_shared_among_busy_partitions),
        cmocka_unit_test(bucket_paces_writes),
        cmocka_unit_test(dead_letter_messages_hide_member_data),
        cmocka_unit_test(settings_from_file_and_environment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
