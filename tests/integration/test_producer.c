/* test_producer.c - member-producer against the real PostgreSQL and Kafka: every
 * column type converted as proto/README.md says (and each event valid against
 * proto/value.schema.json), NULLs, non-ASCII text, a 1 MB value, an unchanged TOASTed
 * value; inserts, updates, deletes with tombstones, truncate, a multi-statement and a
 * rolled-back transaction, a primary-key change, ADD/DROP COLUMN mid-stream; a table
 * without a key refused; the initial snapshot taken while writes go on (every row, its
 * last state, nothing missed between snapshot and stream); the slot following the WAL
 * end while only unpublished tables change; kill -9 and restarts during a workload
 * (nothing lost, per-key order kept); a lost replication connection resumed; SIGTERM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/kafka.h"
#include "common/pg.h"
#include "tests/support/harness.h"
#include "tests/support/topic_reader.h"

typedef struct ptest {
    char db[64], conninfo[512], prefix[64], log[600], regex[160];
    int http_port;
    pid_t pid;
    th_reader *reader;
} ptest;

/* The test running now, so that its producer is stopped even when an assertion ends
 * the test early (cmocka runs the teardown then too). */
static ptest *pt_current;

static void pt_setup(ptest *t, const char *sql)
{
    memset(t, 0, sizeof *t);
    pt_current = t;
    th_unique_name("prod", t->db, sizeof t->db);
    snprintf(t->prefix, sizeof t->prefix, "%s", t->db);
    assert_int_equal(th_create_database(t->db, t->conninfo, sizeof t->conninfo), 0);
    assert_int_equal(th_sql(t->conninfo, sql), 0);
    snprintf(t->log, sizeof t->log, "%s/%s.log", th_env("EKKLESIA_TEST_TMPDIR"), t->db);
    snprintf(t->regex, sizeof t->regex, "^%s\\.public\\..*", t->prefix);
}

static bool pt_ready(void *ud)
{
    ptest *t = ud;
    int st;
    if (th_exited(t->pid, &st)) {
        t->pid = -1;
        return true;
    }
    char *body = NULL;
    int code = th_http("GET", t->http_port, "/readyz", NULL, &body);
    free(body);
    return code == 200;
}

/* Starts the producer (bin: a path, or a name in EKKLESIA_TEST_BIN) on the test's
 * database; extra: more "K=V" settings. */
static void pt_start_bin(ptest *t, const char *bin, const char *tables, const char *snapshot_mode,
                         const char *const *extra)
{
    char e[16][600];
    int n = 0;
    t->http_port = th_free_port();
    snprintf(e[n++], 600, "EKKLESIA_POSTGRES_CONNINFO=%s", t->conninfo);
    snprintf(e[n++], 600, "EKKLESIA_POSTGRES_SLOT_NAME=%s", t->db);
    snprintf(e[n++], 600, "EKKLESIA_POSTGRES_PUBLICATION=%s", t->db);
    snprintf(e[n++], 600, "EKKLESIA_POSTGRES_PUBLICATION_AUTOCREATE=filtered");
    snprintf(e[n++], 600, "EKKLESIA_POSTGRES_TABLES=%s", tables);
    snprintf(e[n++], 600, "EKKLESIA_SNAPSHOT_MODE=%s", snapshot_mode);
    snprintf(e[n++], 600, "EKKLESIA_KAFKA_TOPIC_PREFIX=%s", t->prefix);
    snprintf(e[n++], 600, "EKKLESIA_HTTP_PORT=%d", t->http_port);
    snprintf(e[n++], 600, "EKKLESIA_HTTP_BIND=127.0.0.1");
    const char *env[24];
    int k = 0;
    for (int i = 0; i < n; i++)
        env[k++] = e[i];
    for (int i = 0; extra && extra[i]; i++)
        env[k++] = extra[i];
    env[k] = NULL;
    const char *argv[] = { bin, NULL };
    t->pid = th_spawn(argv, env, t->log);
    assert_true(t->pid > 0);
    assert_true(th_wait_until(pt_ready, t, 60000));
    assert_true(t->pid > 0); /* it did not exit */
}

static void pt_start(ptest *t, const char *tables, const char *snapshot_mode, const char *const *extra)
{
    pt_start_bin(t, "member-producer", tables, snapshot_mode, extra);
}

static void pt_stop(ptest *t)
{
    if (t->pid > 0) {
        int st = th_stop(t->pid, SIGTERM, 30000);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    t->pid = -1;
}

static void pt_teardown(ptest *t)
{
    pt_current = NULL;
    if (t->pid > 0)
        th_stop(t->pid, SIGKILL, 5000);
    th_reader_close(t->reader);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '%s'",
             t->db);
    th_sql(t->conninfo, sql);
}

/* Whether a line of the producer's log holds text. */
static bool pt_log_has(const ptest *t, const char *text)
{
    return th_file_has(t->log, text);
}

static void pt_read(ptest *t)
{
    if (!t->reader)
        t->reader = th_reader_open(t->regex);
    assert_non_null(t->reader);
}

static bool is_table(const th_record *r, const ptest *t, const char *table)
{
    char topic[256];
    snprintf(topic, sizeof topic, "%s.public.%s", t->prefix, table);
    return !strcmp(r->topic, topic);
}

/* Events of table in read order (a one-partition topic keeps them all in order). */
static size_t pt_events(ptest *t, const char *table, const th_record **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < th_reader_count(t->reader) && n < max; i++) {
        const th_record *r = th_reader_get(t->reader, i);
        if (is_table(r, t, table))
            out[n++] = r;
    }
    return n;
}

static bool pt_wait_events(ptest *t, const char *table, size_t want, int timeout_ms)
{
    const th_record *recs[1];
    for (int waited = 0; waited < timeout_ms; waited += 200) {
        th_reader_poll(t->reader, 200);
        size_t n = 0;
        for (size_t i = 0; i < th_reader_count(t->reader); i++)
            n += is_table(th_reader_get(t->reader, i), t, table);
        if (n >= want)
            return true;
    }
    (void)recs;
    return false;
}

static json_t *value_of(const th_record *r)
{
    assert_non_null(r->value);
    json_error_t je;
    json_t *j = json_loadb(r->value, r->value_len, 0, &je);
    if (!j)
        fail_msg("event is not JSON: %s", je.text);
    return j;
}

static double metric_of(ptest *t, const char *line_prefix)
{
    char *m = NULL;
    double v = -1;
    char needle[256];
    snprintf(needle, sizeof needle, "\n%s", line_prefix); /* a sample line, not its # HELP */
    if (th_http("GET", t->http_port, "/metrics", NULL, &m) == 200 && m) {
        const char *p = strstr(m, needle);
        if (p)
            v = atof(p + strlen(needle));
    }
    free(m);
    return v;
}

/* Checks every event held against the proto/ schemas with tests/support/validate-json. */
static void pt_validate_all(ptest *t)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/%s-events", th_env("EKKLESIA_TEST_TMPDIR"), t->db);
    char mk[700];
    snprintf(mk, sizeof mk, "mkdir -p %s", dir);
    assert_int_equal(system(mk), 0);
    const char *vargv[520], *kargv[520];
    char vfiles[256][700], kfiles[256][700];
    int nv = 0, nk = 0;
    vargv[nv++] = "tests/support/validate-json";
    vargv[nv++] = "proto/value.schema.json";
    kargv[nk++] = "tests/support/validate-json";
    kargv[nk++] = "proto/key.schema.json";
    for (size_t i = 0; i < th_reader_count(t->reader) && i < 256; i++) {
        const th_record *r = th_reader_get(t->reader, i);
        if (r->value && r->value_len < 100000) {
            snprintf(vfiles[i], sizeof vfiles[i], "%s/value-%zu.json", dir, i);
            FILE *f = fopen(vfiles[i], "w");
            fwrite(r->value, 1, r->value_len, f);
            fclose(f);
            vargv[nv++] = vfiles[i];
        }
        if (r->key) {
            snprintf(kfiles[i], sizeof kfiles[i], "%s/key-%zu.json", dir, i);
            FILE *f = fopen(kfiles[i], "w");
            fwrite(r->key, 1, r->key_len, f);
            fclose(f);
            kargv[nk++] = kfiles[i];
        }
    }
    vargv[nv] = NULL;
    kargv[nk] = NULL;
    assert_true(nv > 2);
    assert_int_equal(th_run(vargv, NULL, NULL, 60000), 0);
    if (nk > 2)
        assert_int_equal(th_run(kargv, NULL, NULL, 60000), 0);
}

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* --- every type ----------------------------------------------------------------- */

static const char types_schema[] =
    "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');"
    "CREATE DOMAIN posint AS integer CHECK (VALUE > 0);"
    "CREATE TABLE all_types (id bigint PRIMARY KEY, i2 smallint, i4 integer, f4 real, f8 double precision,"
    " num numeric(12,3), b boolean, t text, vc varchar(20), c char(3), d date, tm time, ttz timetz, ts timestamp,"
    " tstz timestamptz, iv interval, u uuid, j json, jb jsonb, by bytea, ia integer[], ta text[], m mood, p posint,"
    " mo money, ma mood[], da date[], bx box[]);"
    "CREATE TABLE big (id int PRIMARY KEY, body text, note text);"
    "ALTER TABLE big ALTER COLUMN body SET STORAGE EXTERNAL;";

static void every_type_converted(void **state)
{
    (void)state;
    ptest t;
    pt_setup(&t, types_schema);
    const char *extra[] = { "EKKLESIA_KAFKA_PARTITIONS=1", NULL };
    pt_start(&t, "public.all_types,public.big", "never", extra);
    assert_int_equal(th_sql(t.conninfo,
        "SET timezone = 'Atlantic/Reykjavik';"
        "INSERT INTO all_types VALUES (1, -2, 40000, 1.5, 'NaN', 123.450, true, 'Þórdís Ægisdóttir \"q\"\n', 'vc', 'ab',"
        " '2024-02-29', '13:14:15.5', '13:14:15+02', '2024-02-29 13:14:15.123456', '2024-02-29 23:30:00-05',"
        " '1 year 2 mons 3 days 04:05:06.5', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"a\": [1, 2]}', '{\"b\": null}',"
        " '\\xdeadbeef', '{1,NULL,3}', '{\"a b\",\"c,d\",NULL}', 'happy', 7, 12.34, '{sad,ok}', '{2024-01-01,infinity}',"
        " '{(3,4),(1,2);(7,8),(5,6)}');"
        "INSERT INTO all_types (id) VALUES (2);"
        "INSERT INTO all_types (id, f8, d, tstz) VALUES (3, '-Infinity', '0044-03-15 BC', 'infinity');"
        "INSERT INTO big VALUES (1, repeat('Þ', 600000), 'a');"
        "UPDATE big SET note = 'b' WHERE id = 1;"), 0);
    pt_read(&t);
    assert_true(pt_wait_events(&t, "all_types", 3, 30000));
    assert_true(pt_wait_events(&t, "big", 2, 30000));
    const th_record *ev[8];
    assert_int_equal(pt_events(&t, "all_types", ev, 8), 3);
    json_t *v = value_of(ev[0]);
    json_t *a = json_object_get(v, "after");
    assert_string_equal(str(v, "op"), "c");
    assert_true(json_is_null(json_object_get(v, "before")));
    assert_string_equal(ev[0]->key, "{\"id\":1}");
    assert_int_equal(json_integer_value(json_object_get(a, "i2")), -2);
    assert_int_equal(json_integer_value(json_object_get(a, "i4")), 40000);
    assert_true(json_real_value(json_object_get(a, "f4")) == 1.5);
    assert_string_equal(str(a, "f8"), "NaN");
    assert_string_equal(str(a, "num"), "123.450");
    assert_true(json_is_true(json_object_get(a, "b")));
    assert_string_equal(str(a, "t"), "Þórdís Ægisdóttir \"q\"\n");
    assert_string_equal(str(a, "c"), "ab ");
    assert_string_equal(str(a, "d"), "2024-02-29");
    assert_string_equal(str(a, "tm"), "13:14:15.5");
    assert_string_equal(str(a, "ttz"), "11:14:15Z");
    assert_string_equal(str(a, "ts"), "2024-02-29T13:14:15.123456");
    assert_string_equal(str(a, "tstz"), "2024-03-01T04:30:00Z");
    assert_string_equal(str(a, "iv"), "P1Y2M3DT4H5M6.5S");
    assert_string_equal(str(a, "u"), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    assert_string_equal(str(a, "j"), "{\"a\": [1, 2]}");
    assert_string_equal(str(a, "jb"), "{\"b\": null}");
    assert_string_equal(str(a, "by"), "3q2+7w==");
    json_t *ia = json_object_get(a, "ia");
    assert_int_equal(json_array_size(ia), 3);
    assert_int_equal(json_integer_value(json_array_get(ia, 0)), 1);
    assert_true(json_is_null(json_array_get(ia, 1)));
    json_t *ta = json_object_get(a, "ta");
    assert_string_equal(json_string_value(json_array_get(ta, 1)), "c,d");
    assert_true(json_is_null(json_array_get(ta, 2)));
    assert_string_equal(str(a, "m"), "happy");
    assert_int_equal(json_integer_value(json_object_get(a, "p")), 7); /* a domain: its base type */
    assert_non_null(str(a, "mo"));
    assert_string_equal(json_string_value(json_array_get(json_object_get(a, "ma"), 1)), "ok");
    assert_string_equal(json_string_value(json_array_get(json_object_get(a, "da"), 1)), "infinity");
    assert_string_equal(str(a, "bx"), "{(3,4),(1,2);(7,8),(5,6)}"); /* ';'-delimited: its text */
    json_t *src = json_object_get(v, "source");
    assert_string_equal(str(src, "connector"), "postgresql");
    assert_string_equal(str(src, "table"), "all_types");
    assert_string_equal(str(src, "db"), t.db);
    assert_string_equal(str(src, "snapshot"), "false");
    assert_true(json_integer_value(json_object_get(src, "lsn")) > 0);
    assert_true(json_integer_value(json_object_get(src, "txId")) > 0);
    json_decref(v);
    v = value_of(ev[1]); /* all NULL */
    a = json_object_get(v, "after");
    assert_true(json_is_null(json_object_get(a, "t")));
    assert_true(json_is_null(json_object_get(a, "ia")));
    json_decref(v);
    v = value_of(ev[2]);
    a = json_object_get(v, "after");
    assert_string_equal(str(a, "f8"), "-Infinity");
    assert_string_equal(str(a, "d"), "-0043-03-15");
    assert_string_equal(str(a, "tstz"), "infinity");
    json_decref(v);
    /* the 1 MB value, then the same row with it unchanged and TOASTed */
    assert_int_equal(pt_events(&t, "big", ev, 8), 2);
    v = value_of(ev[0]);
    assert_int_equal(strlen(str(json_object_get(v, "after"), "body")), 1200000);
    json_decref(v);
    v = value_of(ev[1]);
    assert_string_equal(str(v, "op"), "u");
    assert_string_equal(str(json_object_get(v, "after"), "body"), "__debezium_unavailable_value");
    assert_string_equal(str(json_object_get(v, "after"), "note"), "b");
    json_decref(v);
    pt_validate_all(&t);
    pt_stop(&t);
    pt_teardown(&t);
}

/* --- every kind of change --------------------------------------------------------- */

static void check_op(const th_record *r, const char *op, const char *key)
{
    if (!op) { /* a tombstone */
        assert_null(r->value);
        assert_string_equal(r->key, key);
        return;
    }
    json_t *v = value_of(r);
    if (strcmp(str(v, "op"), op))
        fail_msg("expected op %s, got %s (key %s)", op, str(v, "op"), r->key ? r->key : "null");
    if (key)
        assert_string_equal(r->key, key);
    else
        assert_null(r->key);
    json_decref(v);
}

static void every_change_kind(void **state)
{
    (void)state;
    ptest t;
    pt_setup(&t, "CREATE TABLE member (id int PRIMARY KEY, name text NOT NULL, bio text);"
                 "ALTER TABLE member ALTER COLUMN bio SET STORAGE EXTERNAL;"
                 "CREATE TABLE other (id int PRIMARY KEY);");
    const char *extra[] = { "EKKLESIA_KAFKA_PARTITIONS=1", NULL };
    pt_start(&t, "public.member", "initial", extra);
    assert_int_equal(th_sql(t.conninfo,
        "BEGIN; INSERT INTO member VALUES (1, 'Jón', repeat('x', 100000)); INSERT INTO member VALUES (2, 'Guðrún');"
        " UPDATE member SET name = 'Jón yngri' WHERE id = 1; COMMIT;"
        "BEGIN; INSERT INTO member VALUES (99, 'never'); ROLLBACK;"
        "INSERT INTO other VALUES (1);"
        "UPDATE member SET id = 10 WHERE id = 2;"
        "DELETE FROM member WHERE id = 10;"
        "ALTER TABLE member ADD COLUMN email text;"
        "INSERT INTO member (id, name, email) VALUES (3, 'Ása', 'asa@example.is');"
        "ALTER TABLE member DROP COLUMN bio;"
        "UPDATE member SET email = 'jon@example.is' WHERE id = 1;"
        "TRUNCATE member;"), 0);
    pt_read(&t);
    assert_true(pt_wait_events(&t, "member", 11, 30000));
    th_reader_poll(t.reader, 500); /* nothing more may come */
    const th_record *ev[32];
    size_t n = pt_events(&t, "member", ev, 32);
    assert_int_equal(n, 11);
    check_op(ev[0], "c", "{\"id\":1}");
    check_op(ev[1], "c", "{\"id\":2}");
    check_op(ev[2], "u", "{\"id\":1}");
    json_t *v = value_of(ev[2]);
    assert_string_equal(str(json_object_get(v, "after"), "bio"), "__debezium_unavailable_value");
    assert_string_equal(str(json_object_get(v, "after"), "name"), "Jón yngri");
    /* one transaction: same txId and the same last-commit position */
    json_t *v0 = value_of(ev[0]);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "source"), "txId")),
                     json_integer_value(json_object_get(json_object_get(v0, "source"), "txId")));
    assert_true(json_integer_value(json_object_get(json_object_get(v, "source"), "lsn")) >
                json_integer_value(json_object_get(json_object_get(v0, "source"), "lsn")));
    json_decref(v0);
    json_decref(v);
    check_op(ev[3], "d", "{\"id\":2}"); /* the key changed: delete, tombstone, create */
    v = value_of(ev[3]);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "before"), "id")), 2);
    json_decref(v);
    check_op(ev[4], NULL, "{\"id\":2}");
    check_op(ev[5], "c", "{\"id\":10}");
    v = value_of(ev[5]);
    assert_string_equal(str(json_object_get(v, "after"), "name"), "Guðrún");
    json_decref(v);
    check_op(ev[6], "d", "{\"id\":10}");
    check_op(ev[7], NULL, "{\"id\":10}");
    check_op(ev[8], "c", "{\"id\":3}");
    v = value_of(ev[8]);
    assert_string_equal(str(json_object_get(v, "after"), "email"), "asa@example.is");
    json_decref(v);
    check_op(ev[9], "u", "{\"id\":1}");
    v = value_of(ev[9]);
    assert_null(json_object_get(json_object_get(v, "after"), "bio")); /* dropped */
    assert_string_equal(str(json_object_get(v, "after"), "email"), "jon@example.is");
    json_decref(v);
    check_op(ev[10], "t", NULL);
    for (size_t i = 0; i < th_reader_count(t.reader); i++) /* nothing from the rollback or other tables */
        assert_null(strstr(th_reader_get(t.reader, i)->topic, ".other"));
    pt_validate_all(&t);
    pt_stop(&t);
    pt_teardown(&t);
}

static void table_without_key_refused(void **state)
{
    (void)state;
    ptest t;
    pt_setup(&t, "CREATE TABLE keyless (a int, b text); CREATE TABLE fine (id int PRIMARY KEY);");
    char e1[600], e2[600], e3[600], e4[600], e5[80];
    snprintf(e1, sizeof e1, "EKKLESIA_POSTGRES_CONNINFO=%s", t.conninfo);
    snprintf(e2, sizeof e2, "EKKLESIA_POSTGRES_SLOT_NAME=%s", t.db);
    snprintf(e3, sizeof e3, "EKKLESIA_KAFKA_TOPIC_PREFIX=%s", t.prefix);
    snprintf(e4, sizeof e4, "EKKLESIA_POSTGRES_PUBLICATION=%s", t.db);
    snprintf(e5, sizeof e5, "EKKLESIA_HTTP_PORT=%d", th_free_port());
    const char *env[] = { e1, e2, e3, e4, e5, "EKKLESIA_POSTGRES_TABLES=public.fine,public.keyless", NULL };
    const char *argv[] = { "member-producer", NULL };
    t.pid = th_spawn(argv, env, t.log);
    int st;
    for (int i = 0; i < 600 && !th_exited(t.pid, &st); i++)
        usleep(50000);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 2);
    t.pid = -1;
    FILE *f = fopen(t.log, "r");
    char buf[8192] = "";
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    assert_non_null(strstr(buf, "public.keyless has no primary key"));
    /* nothing was created */
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '%s'", t.db);
    char *c = th_sql_value(t.conninfo, sql);
    assert_string_equal(c, "0");
    free(c);
    pt_teardown(&t);
}

/* Bad settings and arguments: exit 2 with the setting, file and line named; nothing
 * is created. */
static void bad_settings_refused(void **state)
{
    (void)state;
    char conf[600], cmd[2048];
    snprintf(conf, sizeof conf, "%s/bad-producer.conf", th_env("EKKLESIA_TEST_TMPDIR"));
    FILE *f = fopen(conf, "w");
    assert_non_null(f);
    fputs("postgres: {\n  slot_name = \"x\";\n  status_interval_ms = ;\n};\n", f);
    fclose(f);
    const char *bin = th_env("EKKLESIA_TEST_BIN");
    struct { const char *env, *prog, *says; } cases[] = {
        { "EKKLESIA_SNAPSHOT_MODE=sometimes", "member-producer", "EKKLESIA_SNAPSHOT_MODE" },
        { "EKKLESIA_POSTGRES_STATUS_INTERVAL_MS=0", "member-producer", "EKKLESIA_POSTGRES_STATUS_INTERVAL_MS" },
        { "EKKLESIA_POSTGRES_PUBLICATION_AUTOCREATE=filtered", "member-producer", "postgres.tables" },
        { "KAFKA_NO_SUCH_PROPERTY=1 EKKLESIA_POSTGRES_TABLES=public.t", "member-producer", "KAFKA_NO_SUCH_PROPERTY" },
        { "", "member-producer --no-such-option", "usage" },
        { "", "member-producer extra-argument", "usage" },
        { "", "memberctl snapshot --no-such-option", "usage" },
        { "", "memberctl snapshot extra-argument", "usage" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char c[1024];
        snprintf(c, sizeof c, "%s %s/%s", cases[i].env, bin, cases[i].prog);
        snprintf(cmd, sizeof cmd, "%s 2>&1", c);
        const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
        char *out = NULL;
        int rc = th_run(argv, NULL, &out, 30000);
        if (rc != 2 || !out || !strstr(out, cases[i].says))
            fail_msg("%s: exit %d, output %s", c, rc, out ? out : "(none)");
        free(out);
    }
    snprintf(cmd, sizeof cmd, "%s/member-producer -c %s 2>&1", bin, conf);
    const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
    char *out = NULL, where[700];
    assert_int_equal(th_run(argv, NULL, &out, 30000), 2);
    snprintf(where, sizeof where, "%s:3", conf); /* the file and the line of the error */
    assert_non_null(out);
    assert_non_null(strstr(out, where));
    free(out);
}

/* --- workloads ----------------------------------------------------------------------- */

typedef struct writer {
    const char *conninfo;
    volatile int stop;
    int keys;        /* updates go to ids 1..keys */
    int inserts;     /* or: insert ids 1..inserts, one transaction each, then stop */
    int pause_us;    /* between statements */
    long done;
    pthread_t th;
} writer;

static void *writer_main(void *ud)
{
    writer *w = ud;
    PGconn *c = PQconnectdb(w->conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "writer: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    char sql[256];
    unsigned seed = 7;
    for (long i = 1; !w->stop; i++) {
        if (w->inserts) {
            if (i > w->inserts)
                break;
            snprintf(sql, sizeof sql, "INSERT INTO work (id, v) VALUES (%ld, 1)", i);
        } else {
            snprintf(sql, sizeof sql, "UPDATE work SET v = v + 1 WHERE id = %d", 1 + (int)(rand_r(&seed) % (unsigned)w->keys));
        }
        PGresult *r = PQexec(c, sql);
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok && w->inserts) { /* the server restarting: reconnect and insert the row again */
            usleep(100000);
            PQreset(c);
            i--;
            continue;
        }
        if (!ok)
            fprintf(stderr, "writer: %s", PQerrorMessage(c));
        if (w->pause_us)
            usleep((useconds_t)w->pause_us);
        w->done = i;
    }
    PQfinish(c);
    return NULL;
}

static void writer_start(writer *w, const char *conninfo, int keys, int inserts)
{
    memset(w, 0, sizeof *w);
    w->conninfo = conninfo;
    w->keys = keys;
    w->inserts = inserts;
    assert_int_equal(pthread_create(&w->th, NULL, writer_main, w), 0);
}

static void writer_stop(writer *w)
{
    w->stop = 1;
    pthread_join(w->th, NULL);
}

/* The last "v" seen per id (index id), from events of table work in offset order per
 * partition; checks that, ignoring repeats of what was already seen (at-least-once),
 * v only grows per key. Returns the number of distinct ids seen. */
static int last_values(ptest *t, long *last, int maxid)
{
    int seen = 0;
    for (int i = 0; i <= maxid; i++)
        last[i] = -1;
    for (size_t i = 0; i < th_reader_count(t->reader); i++) {
        const th_record *r = th_reader_get(t->reader, i);
        if (!is_table(r, t, "work") || !r->value)
            continue;
        json_t *v = value_of(r);
        json_t *after = json_object_get(v, "after");
        long id = (long)json_integer_value(json_object_get(after, "id"));
        long val = (long)json_integer_value(json_object_get(after, "v"));
        assert_true(id >= 1 && id <= maxid);
        if (last[id] < 0)
            seen++;
        if (val > last[id])
            last[id] = val; /* a smaller value is a repeat of an older event: allowed, never applied */
        json_decref(v);
    }
    return seen;
}

typedef struct converge {
    ptest *t;
    int maxid;
    long *want, *have;
} converge;

static bool converged(void *ud)
{
    converge *c = ud;
    th_reader_poll(c->t->reader, 100);
    last_values(c->t, c->have, c->maxid);
    for (int i = 1; i <= c->maxid; i++)
        if (c->have[i] != c->want[i])
            return false;
    return true;
}

/* Reads the table's final v per id and waits until the events say the same. */
static void assert_converges(ptest *t, int maxid, int timeout_ms)
{
    long *want = calloc((size_t)maxid + 1, sizeof *want), *have = calloc((size_t)maxid + 1, sizeof *have);
    for (int i = 0; i <= maxid; i++)
        want[i] = -1;
    PGconn *c = PQconnectdb(t->conninfo);
    PGresult *r = PQexec(c, "SELECT id, v FROM work");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    for (int i = 0; i < PQntuples(r); i++)
        want[atoi(PQgetvalue(r, i, 0))] = atol(PQgetvalue(r, i, 1));
    PQclear(r);
    PQfinish(c);
    converge cv = { t, maxid, want, have };
    bool ok = th_wait_until(converged, &cv, timeout_ms);
    if (!ok) {
        for (int i = 1; i <= maxid; i++)
            if (have[i] != want[i]) {
                fail_msg("id %d: last event has v=%ld, the table has %ld", i, have[i], want[i]);
                break;
            }
    }
    free(want);
    free(have);
}

static void snapshot_during_writes(void **state)
{
    (void)state;
    ptest t;
    pt_setup(&t, "CREATE TABLE work (id int PRIMARY KEY, v bigint NOT NULL, pad text);"
                 "INSERT INTO work SELECT g, 0, repeat('p', 200) FROM generate_series(1, 30000) g;");
    writer w;
    writer_start(&w, t.conninfo, 30000, 0);
    while (w.done < 200)
        usleep(10000);
    pt_start(&t, "public.work", "initial", NULL);
    pt_read(&t);
    assert_true(pt_wait_events(&t, "work", 30000, 60000));
    long before = w.done;
    while (w.done < before + 500)
        usleep(10000);
    writer_stop(&w);
    assert_converges(&t, 30000, 60000);
    size_t reads = 0, first = 0, last = 0;
    for (size_t i = 0; i < th_reader_count(t.reader); i++) {
        json_t *v = value_of(th_reader_get(t.reader, i));
        reads += !strcmp(str(v, "op"), "r");
        first += !strcmp(str(json_object_get(v, "source"), "snapshot"), "first");
        last += !strcmp(str(json_object_get(v, "source"), "snapshot"), "last");
        json_decref(v);
    }
    assert_int_equal(reads, 30000); /* every row once in the snapshot */
    for (size_t i = 0; i < th_reader_count(t.reader); i++) { /* partitioned as the Java client: murmur2 */
        const th_record *r = th_reader_get(t.reader, i);
        if (r->key && r->partition != kafka_partition_for_key(r->key, r->key_len, 6))
            fail_msg("key %s on partition %d, murmur2 says %d", r->key, r->partition,
                     kafka_partition_for_key(r->key, r->key_len, 6));
    }
    assert_int_equal(first, 1);     /* Debezium's marks of the snapshot's first and last rows */
    assert_int_equal(last, 1);
    char *m = NULL;
    assert_int_equal(th_http("GET", t.http_port, "/metrics", NULL, &m), 200);
    assert_non_null(strstr(m, "ekklesia_sync_producer_snapshot_rows_total{table=\"public.work\"} 30000"));
    free(m);
    pt_stop(&t);
    pt_teardown(&t);
}

typedef struct slot_wait {
    ptest *t;
    char target[32];
} slot_wait;

static bool slot_caught_up(void *ud)
{
    slot_wait *s = ud;
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT confirmed_flush_lsn >= '%s'::pg_lsn FROM pg_replication_slots WHERE slot_name = '%s'", s->target,
             s->t->db);
    char *v = th_sql_value(s->t->conninfo, sql);
    bool ok = v && !strcmp(v, "t");
    free(v);
    return ok;
}

static void idle_slot_follows_wal(void **state)
{
    (void)state;
    ptest t;
    pt_setup(&t, "CREATE TABLE work (id int PRIMARY KEY, v bigint); CREATE TABLE unpublished (id int, pad text);");
    pt_start(&t, "public.work", "never", NULL);
    for (int round = 0; round < 3; round++) {
        assert_int_equal(th_sql(t.conninfo, "INSERT INTO unpublished SELECT g, repeat('w', 500) FROM generate_series(1, 2000) g"), 0);
        slot_wait s = { .t = &t };
        char *lsn = th_sql_value(t.conninfo, "SELECT pg_current_wal_lsn()");
        snprintf(s.target, sizeof s.target, "%s", lsn);
        free(lsn);
        if (!th_wait_until(slot_caught_up, &s, 20000))
            fail_msg("confirmed_flush_lsn did not reach %s while only unpublished tables changed", s.target);
    }
    pt_stop(&t);
    pt_teardown(&t);
}

static void kill9_and_restart(void **state)
{
    (void)state;
    ptest t;
    pt_setup(&t, "CREATE TABLE work (id int PRIMARY KEY, v bigint NOT NULL)");
    pt_start(&t, "public.work", "initial", NULL);
    writer w;
    writer_start(&w, t.conninfo, 0, 6000);
    for (int k = 1; k <= 3; k++) {
        while (w.done < k * 1500 && !w.stop)
            usleep(5000);
        usleep((useconds_t)(rand() % 200000));
        kill(t.pid, SIGKILL);
        int st;
        th_stop(t.pid, SIGKILL, 5000);
        (void)st;
        pt_start(&t, "public.work", "initial", NULL);
    }
    pthread_join(w.th, NULL);
    pt_read(&t);
    assert_converges(&t, 6000, 90000);
    pt_stop(&t);
    pt_teardown(&t);
}

static void connection_loss_resumes(void **state)
{
    (void)state;
    ptest t;
    pt_setup(&t, "CREATE TABLE work (id int PRIMARY KEY, v bigint NOT NULL);"
                 "INSERT INTO work SELECT g, 0 FROM generate_series(1, 200) g;");
    pt_start(&t, "public.work", "initial", NULL);
    writer w;
    writer_start(&w, t.conninfo, 200, 0);
    for (int k = 0; k < 2; k++) {
        long at = w.done;
        while (w.done < at + 500)
            usleep(5000);
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '%s'", t.db);
        char *v = th_sql_value(t.conninfo, sql);
        free(v);
    }
    long at = w.done;
    while (w.done < at + 500)
        usleep(5000);
    writer_stop(&w);
    pt_read(&t);
    assert_converges(&t, 200, 90000);
    char *m = NULL;
    assert_int_equal(th_http("GET", t.http_port, "/metrics", NULL, &m), 200);
    assert_null(strstr(m, "ekklesia_sync_producer_reconnects_total 0\n"));
    free(m);
    pt_stop(&t);
    pt_teardown(&t);
}

/* memberctl snapshot: every row of the tables named again as op "r", beside the running
 * producer, through a temporary slot that is gone afterwards. The publication stays as
 * the producer made it, even where the environment says "filtered" (which would alter it
 * to exactly the tables named). */
static void memberctl_snapshot_backfills(void **state)
{
    (void)state;
    ptest t;
    pt_setup(&t, "CREATE TABLE work (id int PRIMARY KEY, v bigint NOT NULL);"
                 "INSERT INTO work SELECT g, 0 FROM generate_series(1, 500) g;"
                 "CREATE TABLE other (id int PRIMARY KEY); INSERT INTO other VALUES (1), (2), (3);");
    pt_start(&t, "public.work,public.other", "initial", NULL);
    pt_read(&t);
    assert_true(pt_wait_events(&t, "work", 500, 30000));
    char e1[600], e2[600], e3[600], e4[600];
    snprintf(e1, sizeof e1, "EKKLESIA_POSTGRES_CONNINFO=%s", t.conninfo);
    snprintf(e2, sizeof e2, "EKKLESIA_POSTGRES_PUBLICATION=%s", t.db);
    snprintf(e3, sizeof e3, "EKKLESIA_KAFKA_TOPIC_PREFIX=%s", t.prefix);
    snprintf(e4, sizeof e4, "EKKLESIA_PRODUCER_SLOT_NAME=%s", t.db);
    const char *env[] = { e1, e2, e3, e4, "EKKLESIA_POSTGRES_PUBLICATION_AUTOCREATE=filtered", NULL };
    const char *dry[] = { "memberctl", "snapshot", NULL };
    char *out = NULL;
    assert_int_equal(th_run(dry, env, &out, 30000), 0);
    assert_non_null(strstr(out, "would take"));
    free(out);
    assert_int_equal(th_sql(t.conninfo, "UPDATE work SET v = 1 WHERE id <= 10"), 0);
    const char *argv[] = { "memberctl", "snapshot", "--tables", "public.work", "--execute", NULL };
    assert_int_equal(th_run(argv, env, &out, 120000), 0);
    free(out);
    assert_true(pt_wait_events(&t, "work", 1010, 30000));
    assert_true(pt_wait_events(&t, "other", 3, 30000));
    size_t reads = 0, other_reads = 0;
    for (size_t i = 0; i < th_reader_count(t.reader); i++) {
        json_t *v = value_of(th_reader_get(t.reader, i));
        bool r = !strcmp(str(v, "op"), "r");
        if (!strcmp(str(json_object_get(v, "source"), "table"), "work"))
            reads += r;
        else
            other_reads += r;
        json_decref(v);
    }
    assert_int_equal(reads, 1000);
    assert_int_equal(other_reads, 3); /* its first snapshot's only */
    char pubsql[200];
    snprintf(pubsql, sizeof pubsql, "SELECT count(*) FROM pg_publication_tables WHERE pubname = '%s'", t.db);
    char *pubn = th_sql_value(t.conninfo, pubsql);
    assert_string_equal(pubn, "2");
    free(pubn);
    assert_converges(&t, 500, 30000);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE '%s_snapshot_%%'", t.db);
    char *n = th_sql_value(t.conninfo, sql);
    assert_string_equal(n, "0");
    free(n);
    pt_stop(&t);
    pt_teardown(&t);
}

static long vm_hwm_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6))
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}


static void servers_sh(const char *what);

/* Stops Kafka, inserts rows 1..rows into work and waits (up to timeout_ms) until the
 * producer holds want events in flight; returns how many it holds. */
static double pt_inflight_with_kafka_away(ptest *t, int rows, double want, int timeout_ms)
{
    char sql[128];
    servers_sh("kafka_stop $S/kafka");
    snprintf(sql, sizeof sql, "INSERT INTO work SELECT g, 1 FROM generate_series(1, %d) g", rows);
    assert_int_equal(th_sql(t->conninfo, sql), 0);
    for (int waited = 0; waited < timeout_ms && metric_of(t, "ekklesia_sync_producer_inflight_events ") < want;
         waited += 100)
        usleep(100000);
    return metric_of(t, "ekklesia_sync_producer_inflight_events ");
}

/* Kafka away while rows keep coming: the producer stops reading at its in-flight
 * bound but keeps answering PostgreSQL, so a 2 s wal_sender_timeout does not cut it
 * off; when the broker is back everything arrives. */
static void backpressure_keeps_the_connection(void **state)
{
    (void)state;
    ptest t;
    pt_setup(&t, "CREATE TABLE work (id int PRIMARY KEY, v bigint NOT NULL)");
    assert_int_equal(th_sql(th_admin_conninfo(), "ALTER SYSTEM SET wal_sender_timeout = '2s'"), 0);
    assert_int_equal(th_sql(th_admin_conninfo(), "SELECT pg_reload_conf()"), 0);
    const char *extra[] = { "EKKLESIA_PRODUCER_MAX_INFLIGHT_EVENTS=100", NULL };
    pt_start(&t, "public.work", "never", extra);
    assert_true(pt_inflight_with_kafka_away(&t, 2000, 100, 4000) >= 100); /* at its bound */
    usleep(6000000); /* three wal_sender_timeouts with Kafka away */
    servers_sh("kafka_start $S/kafka $KPORT_");
    pt_read(&t);
    assert_converges(&t, 2000, 120000);
    assert_true(metric_of(&t, "ekklesia_sync_producer_reconnects_total ") == 0);
    assert_true(metric_of(&t, "ekklesia_sync_producer_backpressure_seconds_total ") > 1);
    th_sql(th_admin_conninfo(), "ALTER SYSTEM RESET wal_sender_timeout");
    th_sql(th_admin_conninfo(), "SELECT pg_reload_conf()");
    pt_stop(&t);
    pt_teardown(&t);
}

/* SIGTERM with Kafka away and events in flight: the producer waits stop_drain_ms for
 * acknowledgements, stops with exit 0 within its bound (here 2 s + 5 s; th_stop kills
 * it at 12 s, and a killed producer fails the test) and says what it left; restarted
 * with the broker back, it sends every row, the unacknowledged ones included. */
static void stop_with_kafka_away_is_bounded(void **state)
{
    (void)state;
    ptest t;
    pt_setup(&t, "CREATE TABLE work (id int PRIMARY KEY, v bigint NOT NULL)");
    const char *extra[] = { "EKKLESIA_PRODUCER_STOP_DRAIN_MS=2000", NULL };
    pt_start(&t, "public.work", "never", extra);
    assert_true(pt_inflight_with_kafka_away(&t, 300, 300, 10000) == 300);
    int st = th_stop(t.pid, SIGTERM, 12000);
    t.pid = -1;
    assert_true(st != -1 && WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_true(pt_log_has(&t, "stopping with 300 event(s) not acknowledged by Kafka"));
    servers_sh("kafka_start $S/kafka $KPORT_");
    pt_start(&t, "public.work", "never", NULL);
    pt_read(&t);
    assert_converges(&t, 300, 120000);
    pt_stop(&t);
    pt_teardown(&t);
}

/* One transaction of 1,000,000 rows: every event acknowledged before the slot moves
 * past it, and the producer's peak memory stays under 64 MB (the optimised build;
 * under AddressSanitizer only the events are counted). */
static void million_row_transaction(void **state)
{
    (void)state;
    ptest t;
    pt_setup(&t, "CREATE TABLE work (id int PRIMARY KEY, v bigint NOT NULL, note text)");
    char plain[700];
    snprintf(plain, sizeof plain, "%s/build/bin/member-producer", th_env("EKKLESIA_TEST_ROOT"));
    bool optimised = access(plain, X_OK) == 0;
    const char *extra[] = { "EKKLESIA_PRODUCER_MAX_INFLIGHT_EVENTS=20000", NULL };
    pt_start_bin(&t, optimised ? plain : "member-producer", "public.work", "never", extra);
    assert_int_equal(th_sql(t.conninfo, "INSERT INTO work SELECT g, g, 'Þórdís Ægisdóttir' FROM generate_series(1, 1000000) g"), 0);
    slot_wait s = { .t = &t };
    char *lsn = th_sql_value(t.conninfo, "SELECT pg_current_wal_lsn()");
    snprintf(s.target, sizeof s.target, "%s", lsn);
    free(lsn);
    if (!th_wait_until(slot_caught_up, &s, 300000))
        fail_msg("the slot did not pass the million-row transaction");
    char *m = NULL;
    assert_int_equal(th_http("GET", t.http_port, "/metrics", NULL, &m), 200);
    assert_non_null(strstr(m, "ekklesia_sync_producer_events_total{table=\"public.work\",op=\"c\"} 1000000\n"));
    free(m);
    long kb = vm_hwm_kb(t.pid);
    fprintf(stderr, "# peak resident size %ld kB (%s build)\n", kb, optimised ? "optimised" : "sanitizer");
    if (optimised)
        assert_true(kb > 0 && kb < 64 * 1024);
    pt_stop(&t);
    pt_teardown(&t);
}

static bool snapshot_started(void *ud)
{
    return metric_of(ud, "ekklesia_sync_producer_snapshot_rows_total{table=\"public.work\"} ") >= 1024;
}

/* kill -9 in the middle of the initial snapshot: the next start sees the snapshot was
 * not finished, takes it again from a new slot, and every row arrives. */
static void interrupted_snapshot_is_redone(void **state)
{
    (void)state;
    ptest t;
    pt_setup(&t, "CREATE TABLE work (id int PRIMARY KEY, v bigint NOT NULL, pad text);"
                 "INSERT INTO work SELECT g, 0, repeat('p', 100) FROM generate_series(1, 100000) g;");
    const char *extra[] = { "EKKLESIA_PRODUCER_MAX_INFLIGHT_EVENTS=500", NULL };
    pt_start(&t, "public.work", "initial", extra);
    assert_true(th_wait_until(snapshot_started, &t, 30000));
    th_stop(t.pid, SIGKILL, 5000);
    assert_int_equal(th_sql(t.conninfo, "UPDATE work SET v = 1 WHERE id = 99999"), 0);
    pt_start(&t, "public.work", "initial", NULL);
    pt_read(&t);
    assert_converges(&t, 100000, 120000);
    assert_true(pt_log_has(&t, "has no finished snapshot (it was interrupted)"));
    pt_stop(&t);
    pt_teardown(&t);
}

static bool pt_exited_with(ptest *t, int code, int timeout_ms)
{
    int st = 0;
    for (int waited = 0; waited < timeout_ms; waited += 50) {
        if (th_exited(t->pid, &st)) {
            t->pid = -1;
            return WIFEXITED(st) && WEXITSTATUS(st) == code;
        }
        usleep(50000);
    }
    return false;
}

/* The producer away for "days": PostgreSQL invalidates its slot at
 * max_slot_wal_keep_size. snapshot.mode = initial refuses to start, naming the slot;
 * when_needed drops it, takes a new snapshot and streams again. */
static void lost_slot(void **state)
{
    (void)state;
    ptest t;
    pt_setup(&t, "CREATE TABLE work (id int PRIMARY KEY, v bigint NOT NULL);"
                 "INSERT INTO work SELECT g, 0 FROM generate_series(1, 100) g;");
    pt_start(&t, "public.work", "initial", NULL);
    pt_stop(&t);
    assert_int_equal(th_sql(th_admin_conninfo(), "ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'"), 0);
    assert_int_equal(th_sql(th_admin_conninfo(), "SELECT pg_reload_conf()"), 0);
    assert_int_equal(th_sql(t.conninfo, "UPDATE work SET v = 1 WHERE id = 1"), 0);
    char sql[300];
    snprintf(sql, sizeof sql, "SELECT wal_status FROM pg_replication_slots WHERE slot_name = '%s'", t.db);
    char *status = NULL;
    for (int i = 0; i < 20; i++) { /* new WAL segments, then a checkpoint that removes the old ones */
        assert_int_equal(th_sql(t.conninfo, "CREATE TEMP TABLE pad AS SELECT g FROM generate_series(1, 20000) g;"
                                            "DROP TABLE pad; SELECT pg_switch_wal(); CHECKPOINT;"), 0);
        free(status);
        status = th_sql_value(t.conninfo, sql);
        if (status && !strcmp(status, "lost"))
            break;
    }
    th_sql(th_admin_conninfo(), "ALTER SYSTEM RESET max_slot_wal_keep_size");
    th_sql(th_admin_conninfo(), "SELECT pg_reload_conf()");
    assert_non_null(status);
    assert_string_equal(status, "lost");
    free(status);
    const char *argv[] = { "member-producer", NULL };
    char e[8][600];
    snprintf(e[0], 600, "EKKLESIA_POSTGRES_CONNINFO=%s", t.conninfo);
    snprintf(e[1], 600, "EKKLESIA_POSTGRES_SLOT_NAME=%s", t.db);
    snprintf(e[2], 600, "EKKLESIA_POSTGRES_PUBLICATION=%s", t.db);
    snprintf(e[3], 600, "EKKLESIA_POSTGRES_TABLES=public.work");
    snprintf(e[4], 600, "EKKLESIA_KAFKA_TOPIC_PREFIX=%s", t.prefix);
    snprintf(e[5], 600, "EKKLESIA_HTTP_PORT=0");
    snprintf(e[6], 600, "EKKLESIA_SNAPSHOT_MODE=initial");
    const char *env[] = { e[0], e[1], e[2], e[3], e[4], e[5], e[6], NULL };
    t.pid = th_spawn(argv, env, t.log);
    assert_true(pt_exited_with(&t, 1, 60000)); /* refuses, changes were lost */
    FILE *f = fopen(t.log, "r");
    char line[4096];
    bool named = false;
    while (f && fgets(line, sizeof line, f))
        named = named || (strstr(line, "was invalidated by the server") && strstr(line, t.db));
    if (f)
        fclose(f);
    assert_true(named);
    const char *extra[] = { "EKKLESIA_SNAPSHOT_MODE=when_needed", NULL };
    pt_start_bin(&t, "member-producer", "public.work", "when_needed", extra);
    pt_read(&t);
    assert_converges(&t, 100, 60000); /* the new snapshot brings row 1's update */
    pt_stop(&t);
    pt_teardown(&t);
}

/* Runs a function of scripts/lib/servers.sh on the test run's own servers. */
static void servers_sh(const char *what)
{
    char servers[600], cmd[2048];
    snprintf(servers, sizeof servers, "%s", th_env("EKKLESIA_TEST_TMPDIR"));
    char *slash = strrchr(servers, '/');
    assert_non_null(slash);
    *slash = 0;
    const char *kafka = th_env("KAFKA_BOOTSTRAP_SERVERS");
    snprintf(cmd, sizeof cmd,
             "bash -c 'ekk_root=%s; . %s/scripts/lib/servers.sh; S=%s; PGPORT_=%s; KPORT_=%s; %s' >&2",
             th_env("EKKLESIA_TEST_ROOT"), th_env("EKKLESIA_TEST_ROOT"), servers, th_env("EKKLESIA_TEST_PGPORT"),
             strrchr(kafka, ':') + 1, what);
    assert_int_equal(system(cmd), 0);
}

/* PostgreSQL restarted, then the Kafka broker restarted, during a write workload:
 * every committed row arrives, in order per key. */
static void database_and_broker_restarts(void **state)
{
    (void)state;
    ptest t;
    pt_setup(&t, "CREATE TABLE work (id int PRIMARY KEY, v bigint NOT NULL)");
    pt_start(&t, "public.work", "never", NULL);
    writer w;
    memset(&w, 0, sizeof w);
    w.conninfo = t.conninfo;
    w.inserts = 3000;
    w.pause_us = 1000;
    assert_int_equal(pthread_create(&w.th, NULL, writer_main, &w), 0);
    while (w.done < 1000)
        usleep(5000);
    servers_sh("pg_stop $S/pg && pg_start $S/pg $PGPORT_");
    while (w.done < 2000)
        usleep(5000);
    servers_sh("kafka_stop $S/kafka && kafka_start $S/kafka $KPORT_");
    pthread_join(w.th, NULL);
    pt_read(&t);
    assert_converges(&t, 3000, 120000);
    assert_true(t.pid > 0 && !th_exited(t.pid, &(int){ 0 }));
    pt_stop(&t);
    pt_teardown(&t);
}

/* After every test, passed or failed: no producer of it left running. */
static int pt_after(void **state)
{
    (void)state;
    if (pt_current && pt_current->pid > 0) {
        th_stop(pt_current->pid, SIGKILL, 5000);
        pt_current->pid = -1;
    }
    pt_current = NULL;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(every_type_converted, pt_after),
        cmocka_unit_test_teardown(every_change_kind, pt_after),
        cmocka_unit_test_teardown(table_without_key_refused, pt_after),
        cmocka_unit_test_teardown(bad_settings_refused, pt_after),
        cmocka_unit_test_teardown(snapshot_during_writes, pt_after),
        cmocka_unit_test_teardown(interrupted_snapshot_is_redone, pt_after),
        cmocka_unit_test_teardown(idle_slot_follows_wal, pt_after),
        cmocka_unit_test_teardown(kill9_and_restart, pt_after),
        cmocka_unit_test_teardown(connection_loss_resumes, pt_after),
        cmocka_unit_test_teardown(memberctl_snapshot_backfills, pt_after),
        cmocka_unit_test_teardown(database_and_broker_restarts, pt_after),
        cmocka_unit_test_teardown(million_row_transaction, pt_after),
        cmocka_unit_test_teardown(backpressure_keeps_the_connection, pt_after),
        cmocka_unit_test_teardown(stop_with_kafka_away_is_bounded, pt_after),
        cmocka_unit_test_teardown(lost_slot, pt_after),
    };
    if (getenv("EKKLESIA_TEST_FILTER")) /* one test by name (wildcards *, ?) */
        cmocka_set_test_filter(getenv("EKKLESIA_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
