/* test_producer_values.c - member-producer's value conversion (services/producer/
 * pgval.c and jbuf.c): PostgreSQL text output, as the producer's sessions print it
 * (DateStyle=ISO, IntervalStyle=iso_8601, TimeZone=UTC, extra_float_digits=3,
 * bytea_output=hex), to the JSON encoding proto/README.md fixes for every type.
 * Every output is checked byte for byte and parsed with jansson, so it is valid JSON
 * even when the input was not in its type's form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jbuf.h"
#include "services/producer/pgval.h"

/* The JSON must parse (any value, NUL allowed in strings). */
static void assert_valid_json(const char *s, size_t n)
{
    json_error_t e;
    json_t *j = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!j)
        fail_msg("not JSON (%s): %.*s", e.text, (int)n, s);
    json_decref(j);
}

/* Converts in[0..n) as type t; asserts the return code and the exact JSON. */
static void check_n(pgv_kind kind, bool array, const char *in, size_t n, int want_rc, const char *want)
{
    jbuf b = { 0 };
    jbuf_puts(&b, "[0,"); /* something before it, which must stay */
    int rc = pgv_to_json(&b, (pgv_type){ kind, array }, in, n);
    jbuf_putc(&b, ']');
    const char *out = jbuf_cstr(&b);
    if (strncmp(out, "[0,", 3) || strlen(out) != 3 + strlen(want) + 1 || strncmp(out + 3, want, strlen(want)))
        fail_msg("kind %d%s of \"%.*s\": got %s, expected [0,%s]", kind, array ? "[]" : "", (int)n, in, out, want);
    if (rc != want_rc)
        fail_msg("kind %d%s of \"%.*s\": returned %d, expected %d", kind, array ? "[]" : "", (int)n, in, rc, want_rc);
    assert_valid_json(b.data, b.len);
    jbuf_free(&b);
}

static void check(pgv_kind kind, const char *in, const char *want)
{
    check_n(kind, false, in, strlen(in), 0, want);
}

static void check_array(pgv_kind kind, const char *in, const char *want)
{
    check_n(kind, true, in, strlen(in), 0, want);
}

/* Not in the type's form: -1 and the text as a JSON string. */
static void check_odd(pgv_kind kind, bool array, const char *in, const char *want)
{
    check_n(kind, array, in, strlen(in), -1, want);
}

static void integers(void **state)
{
    (void)state;
    check(PGV_INT, "0", "0");
    check(PGV_INT, "-2", "-2");
    check(PGV_INT, "40000", "40000");
    check(PGV_INT, "9007199254740993", "9007199254740993");
    check(PGV_INT, "-9223372036854775808", "-9223372036854775808");
    check_odd(PGV_INT, false, "", "\"\"");
    check_odd(PGV_INT, false, "12a", "\"12a\"");
    check_odd(PGV_INT, false, "007", "\"007\""); /* not a JSON number */
    check_odd(PGV_INT, false, "+1", "\"+1\"");
    check_odd(PGV_INT, false, "-", "\"-\"");
    check_odd(PGV_INT, false, " 1", "\" 1\"");
}

static void floats(void **state)
{
    (void)state;
    check(PGV_FLOAT, "1.5", "1.5");
    check(PGV_FLOAT, "-0", "-0");
    check(PGV_FLOAT, "1e+20", "1e+20");
    check(PGV_FLOAT, "1e-07", "1e-07");
    check(PGV_FLOAT, "-1.2345678901234567e+300", "-1.2345678901234567e+300");
    check(PGV_FLOAT, "3.4028235e+38", "3.4028235e+38");
    check(PGV_FLOAT, "NaN", "\"NaN\"");
    check(PGV_FLOAT, "Infinity", "\"Infinity\"");
    check(PGV_FLOAT, "-Infinity", "\"-Infinity\"");
    check_odd(PGV_FLOAT, false, "nan", "\"nan\"");
    check_odd(PGV_FLOAT, false, "1.", "\"1.\"");
    check_odd(PGV_FLOAT, false, ".5", "\".5\"");
    check_odd(PGV_FLOAT, false, "1e", "\"1e\"");
    check_odd(PGV_FLOAT, false, "1e+", "\"1e+\"");
    check_odd(PGV_FLOAT, false, "Infinityx", "\"Infinityx\"");
}

static void numerics_bools_and_strings(void **state)
{
    (void)state;
    /* numeric is a string, scale as stored */
    check(PGV_NUMERIC, "123.450", "\"123.450\"");
    check(PGV_NUMERIC, "NaN", "\"NaN\"");
    check(PGV_NUMERIC, "-0.000", "\"-0.000\"");
    check(PGV_NUMERIC, "100000000000000000000", "\"100000000000000000000\"");
    check(PGV_NUMERIC, "Infinity", "\"Infinity\"");

    check(PGV_BOOL, "t", "true");
    check(PGV_BOOL, "f", "false");
    check_odd(PGV_BOOL, false, "true", "\"true\"");
    check_odd(PGV_BOOL, false, "", "\"\"");

    check(PGV_TEXT, "", "\"\"");
    check(PGV_TEXT, "ab ", "\"ab \""); /* bpchar keeps its padding */
    check(PGV_TEXT, "say \"hi\" \\ back", "\"say \\\"hi\\\" \\\\ back\"");
    check(PGV_TEXT, "a\nb\rc\td\be\ff", "\"a\\nb\\rc\\td\\be\\ff\"");
    check(PGV_TEXT, "\x01\x1f\x7f", "\"\\u0001\\u001f\x7f\"");
    check_n(PGV_TEXT, false, "a\0b", 3, 0, "\"a\\u0000b\"");
    check(PGV_TEXT, "\xc3\x9e\xc3\xb3rd\xc3\xads \xc3\x86gisd\xc3\xb3ttir", "\"\xc3\x9e\xc3\xb3rd\xc3\xads \xc3\x86gisd\xc3\xb3ttir\"");
    check(PGV_TEXT, "\xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf \xf4\x8f\xbf\xbf",
          "\"\xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf \xf4\x8f\xbf\xbf\"");
    /* invalid UTF-8: each bad byte becomes U+FFFD */
    check(PGV_TEXT, "a\xff" "b", "\"a\xef\xbf\xbd" "b\"");
    check(PGV_TEXT, "\xc3", "\"\xef\xbf\xbd\"");                                  /* cut short at the end */
    check(PGV_TEXT, "\xc3(", "\"\xef\xbf\xbd(\"");                                /* bad continuation */
    check(PGV_TEXT, "\xc0\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\"");                  /* overlong '/' */
    check(PGV_TEXT, "\xe0\x80\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""); /* overlong, 3 bytes */
    check(PGV_TEXT, "\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""); /* a surrogate */
    check(PGV_TEXT, "\xf4\x90\x80\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""); /* > U+10FFFF */
    check(PGV_TEXT, "\xf0\x9f\x98", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    check(PGV_TEXT, "\x80", "\"\xef\xbf\xbd\"");

    /* json and jsonb travel as strings */
    check(PGV_JSON, "{\"a\": [1, 2]}", "\"{\\\"a\\\": [1, 2]}\"");
    check(PGV_JSON, "{\"b\": null}", "\"{\\\"b\\\": null}\"");
    check(PGV_JSON, "\"\\u00e9\"", "\"\\\"\\\\u00e9\\\"\"");
    check(PGV_UUID, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"");
    check(PGV_INTERVAL, "P1Y2M3DT4H5M6.5S", "\"P1Y2M3DT4H5M6.5S\"");
    check(PGV_INTERVAL, "P-1D", "\"P-1D\"");
    check(PGV_INTERVAL, "1 year 2 mons 3 days 04:05:06.5", "\"1 year 2 mons 3 days 04:05:06.5\"");
    check(PGV_TIME, "13:14:15.5", "\"13:14:15.5\"");
    check(PGV_TIME, "08:00:00", "\"08:00:00\"");
    check(PGV_TIME, "24:00:00", "\"24:00:00\"");
}

static void byteas(void **state)
{
    (void)state;
    check(PGV_BYTEA, "\\xdeadbeef", "\"3q2+7w==\"");
    check(PGV_BYTEA, "\\x", "\"\"");
    check(PGV_BYTEA, "\\x00", "\"AA==\"");
    check(PGV_BYTEA, "\\x0001", "\"AAE=\"");
    check(PGV_BYTEA, "\\x000102", "\"AAEC\"");
    check(PGV_BYTEA, "\\xFFfe", "\"//4=\"");
    check(PGV_BYTEA, "\\x666f6f626172", "\"Zm9vYmFy\"");
    /* long enough to leave the converter's stack buffer */
    char in[2 + 2 * 1000 + 1] = "\\x";
    for (int i = 0; i < 1000; i++)
        memcpy(in + 2 + 2 * i, "fb", 2);
    in[sizeof in - 1] = 0;
    char want[2 + 1336 + 1];
    want[0] = '"';
    for (int i = 0; i < 333; i++)
        memcpy(want + 1 + 4 * i, "+/v7", 4);
    memcpy(want + 1 + 4 * 333, "+w==", 4);
    want[1 + 1336] = '"';
    want[2 + 1336] = 0;
    check(PGV_BYTEA, in, want);

    check_odd(PGV_BYTEA, false, "", "\"\"");
    check_odd(PGV_BYTEA, false, "\\x0", "\"\\\\x0\"");
    check_odd(PGV_BYTEA, false, "\\xzz", "\"\\\\xzz\"");
    check_odd(PGV_BYTEA, false, "abcd", "\"abcd\"");
    check_odd(PGV_BYTEA, false, "\\000", "\"\\\\000\""); /* escape format */
    in[1000] = 'g';
    jbuf b = { 0 };
    assert_int_equal(pgv_to_json(&b, (pgv_type){ PGV_BYTEA, false }, in, strlen(in)), -1);
    assert_valid_json(b.data, b.len);
    jbuf_free(&b);
}

static void dates(void **state)
{
    (void)state;
    check(PGV_DATE, "2024-02-29", "\"2024-02-29\"");
    check(PGV_DATE, "1989-03-12", "\"1989-03-12\"");
    check(PGV_DATE, "0001-01-01", "\"0001-01-01\"");
    check(PGV_DATE, "12345-01-01", "\"12345-01-01\"");
    /* BC: astronomical years, 1 BC is year 0 */
    check(PGV_DATE, "0044-03-15 BC", "\"-0043-03-15\"");
    check(PGV_DATE, "0001-12-31 BC", "\"0000-12-31\"");
    check(PGV_DATE, "4713-01-01 BC", "\"-4712-01-01\"");
    check(PGV_DATE, "infinity", "\"infinity\"");
    check(PGV_DATE, "-infinity", "\"-infinity\"");
    check_odd(PGV_DATE, false, "2024-2-29", "\"2024-2-29\"");
    check_odd(PGV_DATE, false, "2024-13-01", "\"2024-13-01\"");
    check_odd(PGV_DATE, false, "2024-02-29x", "\"2024-02-29x\"");
    check_odd(PGV_DATE, false, "02/29/2024", "\"02/29/2024\"");
    check_odd(PGV_DATE, false, " BC", "\" BC\"");
    check_odd(PGV_DATE, false, "", "\"\"");
}

static void times_with_zone(void **state)
{
    (void)state;
    check(PGV_TIMETZ, "13:14:15+02", "\"11:14:15Z\"");
    check(PGV_TIMETZ, "14:03:11+02", "\"12:03:11Z\"");
    check(PGV_TIMETZ, "13:14:15+00", "\"13:14:15Z\"");
    check(PGV_TIMETZ, "13:14:15.123456+02", "\"11:14:15.123456Z\"");
    check(PGV_TIMETZ, "13:14:15.5-03", "\"16:14:15.5Z\"");
    check(PGV_TIMETZ, "13:14:15.123-03:30", "\"16:44:15.123Z\"");
    check(PGV_TIMETZ, "10:00:00+05:30", "\"04:30:00Z\"");
    check(PGV_TIMETZ, "01:00:00+02", "\"23:00:00Z\"");     /* wraps back over midnight */
    check(PGV_TIMETZ, "23:30:00-02", "\"01:30:00Z\"");     /* and forward */
    check(PGV_TIMETZ, "00:00:00+14", "\"10:00:00Z\"");
    check(PGV_TIMETZ, "00:00:00-12", "\"12:00:00Z\"");
    check(PGV_TIMETZ, "05:21:10+05:21:10", "\"00:00:00Z\""); /* an offset with seconds */
    check_odd(PGV_TIMETZ, false, "13:14:15", "\"13:14:15\"");
    check_odd(PGV_TIMETZ, false, "13:14+02", "\"13:14+02\"");
    check_odd(PGV_TIMETZ, false, "13:14:15+2", "\"13:14:15+2\"");
    check_odd(PGV_TIMETZ, false, "13:14:15.+02", "\"13:14:15.+02\"");
    check_odd(PGV_TIMETZ, false, "13:14:15+02:", "\"13:14:15+02:\"");
    check_odd(PGV_TIMETZ, false, "25:00:00+00", "\"25:00:00+00\"");
    check_odd(PGV_TIMETZ, false, "13:60:00+00", "\"13:60:00+00\"");
}

static void timestamps(void **state)
{
    (void)state;
    check(PGV_TIMESTAMP, "2024-02-29 13:14:15.123456", "\"2024-02-29T13:14:15.123456\"");
    check(PGV_TIMESTAMP, "2024-11-25 14:03:11", "\"2024-11-25T14:03:11\"");
    check(PGV_TIMESTAMP, "0044-03-15 12:00:00 BC", "\"-0043-03-15T12:00:00\"");
    check(PGV_TIMESTAMP, "294276-12-31 23:59:59", "\"294276-12-31T23:59:59\"");
    check(PGV_TIMESTAMP, "infinity", "\"infinity\"");
    check(PGV_TIMESTAMP, "-infinity", "\"-infinity\"");
    check_odd(PGV_TIMESTAMP, false, "2024-02-29T13:14:15", "\"2024-02-29T13:14:15\"");
    check_odd(PGV_TIMESTAMP, false, "2024-02-29 13:14:15+00", "\"2024-02-29 13:14:15+00\"");
    check_odd(PGV_TIMESTAMP, false, "2024-02-29", "\"2024-02-29\"");

    check(PGV_TIMESTAMPTZ, "2024-02-29 13:14:15+00", "\"2024-02-29T13:14:15Z\"");
    check(PGV_TIMESTAMPTZ, "2024-11-25 14:03:11.482913+00", "\"2024-11-25T14:03:11.482913Z\"");
    check(PGV_TIMESTAMPTZ, "2024-02-29 13:14:15.5+02", "\"2024-02-29T11:14:15.5Z\"");
    /* across a day, a month and a year boundary */
    check(PGV_TIMESTAMPTZ, "2025-01-01 01:30:00+05:30", "\"2024-12-31T20:00:00Z\"");
    check(PGV_TIMESTAMPTZ, "2024-03-01 02:00:00.25+05:30", "\"2024-02-29T20:30:00.25Z\"");
    check(PGV_TIMESTAMPTZ, "2023-03-01 02:00:00+05:30", "\"2023-02-28T20:30:00Z\"");
    check(PGV_TIMESTAMPTZ, "2024-12-31 22:00:00-03", "\"2025-01-01T01:00:00Z\"");
    check(PGV_TIMESTAMPTZ, "1900-01-01 05:21:10+05:21:10", "\"1900-01-01T00:00:00Z\"");
    check(PGV_TIMESTAMPTZ, "1969-12-31 23:00:00-02", "\"1970-01-01T01:00:00Z\"");
    check(PGV_TIMESTAMPTZ, "1970-01-01 01:00:00+02", "\"1969-12-31T23:00:00Z\"");
    check(PGV_TIMESTAMPTZ, "0044-03-15 12:00:00+00 BC", "\"-0043-03-15T12:00:00Z\"");
    check(PGV_TIMESTAMPTZ, "0001-01-01 00:30:00+01 BC", "\"-0001-12-31T23:30:00Z\"");
    check(PGV_TIMESTAMPTZ, "0001-01-01 00:30:00+01", "\"0000-12-31T23:30:00Z\"");
    check(PGV_TIMESTAMPTZ, "infinity", "\"infinity\"");
    check(PGV_TIMESTAMPTZ, "-infinity", "\"-infinity\"");
    check_odd(PGV_TIMESTAMPTZ, false, "2024-02-29 13:14:15", "\"2024-02-29 13:14:15\"");
    check_odd(PGV_TIMESTAMPTZ, false, "2024-02-29 13:14:15 UTC", "\"2024-02-29 13:14:15 UTC\"");
    check_odd(PGV_TIMESTAMPTZ, false, "2024-02-29 13:14:15+00 AD", "\"2024-02-29 13:14:15+00 AD\"");
    check_odd(PGV_TIMESTAMPTZ, false, "Infinity", "\"Infinity\"");
}

static void arrays(void **state)
{
    (void)state;
    check_array(PGV_INT, "{1,NULL,3}", "[1,null,3]");
    check_array(PGV_INT, "{}", "[]");
    check_array(PGV_INT, "{{1,2},{3,4}}", "[[1,2],[3,4]]");
    check_array(PGV_INT, "{{{1},{2}},{{3},{4}}}", "[[[1],[2]],[[3],[4]]]");
    check_array(PGV_INT, "[0:1]={1,2}", "[1,2]");
    check_array(PGV_INT, "[1:2][1:1]={{1},{2}}", "[[1],[2]]");
    check_array(PGV_INT, "{-5,0,9007199254740993}", "[-5,0,9007199254740993]");
    check_array(PGV_TEXT, "{\"a b\",\"c,d\",NULL}", "[\"a b\",\"c,d\",null]");
    check_array(PGV_TEXT, "{{a,b},{c,NULL}}", "[[\"a\",\"b\"],[\"c\",null]]");
    /* quoted and backslash-escaped elements; a quoted "NULL" is the text */
    check_array(PGV_TEXT, "{\"a\\\"b\",\"c\\\\d\",\"\",\"NULL\",\" x \"}",
                "[\"a\\\"b\",\"c\\\\d\",\"\",\"NULL\",\" x \"]");
    check_array(PGV_TEXT, "{\"{\\\"x\\\"}\",\"}\"}", "[\"{\\\"x\\\"}\",\"}\"]");
    check_array(PGV_TEXT, "{\xc3\x9e\xc3\xb3r,\"\xc3\x86gir\"}", "[\"\xc3\x9e\xc3\xb3r\",\"\xc3\x86gir\"]");
    check_array(PGV_TEXT, "{null,Null}", "[null,null]");
    check_array(PGV_DATE, "{2024-01-01,infinity,NULL}", "[\"2024-01-01\",\"infinity\",null]");
    check_array(PGV_DATE, "{\"0044-03-15 BC\"}", "[\"-0043-03-15\"]");
    check_array(PGV_BOOL, "{t,f,NULL}", "[true,false,null]");
    check_array(PGV_FLOAT, "{1e+20,NaN,-Infinity}", "[1e+20,\"NaN\",\"-Infinity\"]");
    check_array(PGV_NUMERIC, "{1.50,NaN}", "[\"1.50\",\"NaN\"]");
    check_array(PGV_BYTEA, "{\"\\\\x0102\",\"\\\\x\",NULL}", "[\"AQI=\",\"\",null]");
    check_array(PGV_JSON, "{\"{\\\"a\\\": 1}\"}", "[\"{\\\"a\\\": 1}\"]");
    check_array(PGV_TIMESTAMPTZ, "{\"2024-01-01 01:00:00+02\",NULL}", "[\"2023-12-31T23:00:00Z\",null]");
    check_array(PGV_TIMETZ, "{13:14:15+02}", "[\"11:14:15Z\"]");
    check_array(PGV_UUID, "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}", "[\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"]");
    check_array(PGV_INT, "{{1,2},{}}", "[[1,2],[]]");
    check_array(PGV_INT, "{{{{{{1}}}}}}", "[[[[[[1]]]]]]");

    /* malformed: the whole text as a string */
    check_odd(PGV_INT, true, "{1,2", "\"{1,2\"");
    check_odd(PGV_INT, true, "{1,2}x", "\"{1,2}x\"");
    check_odd(PGV_INT, true, "1,2", "\"1,2\"");
    check_odd(PGV_INT, true, "", "\"\"");
    check_odd(PGV_INT, true, "{a}", "\"{a}\"");
    check_odd(PGV_INT, true, "{1,,2}", "\"{1,,2}\"");
    check_odd(PGV_INT, true, "{1,}", "\"{1,}\"");
    check_odd(PGV_INT, true, "[0:1]{1,2}", "\"[0:1]{1,2}\"");
    check_odd(PGV_INT, true, "{{{{{{{1}}}}}}}", "\"{{{{{{{1}}}}}}}\""); /* 7 dimensions */
    check_odd(PGV_TEXT, true, "{\"abc}", "\"{\\\"abc}\"");
    check_odd(PGV_TEXT, true, "{\"a\"b}", "\"{\\\"a\\\"b}\"");
    check_odd(PGV_TEXT, true, "{\"a\\", "\"{\\\"a\\\\\"");
    check_odd(PGV_BOOL, true, "{t,x}", "\"{t,x}\"");
    check_odd(PGV_DATE, true, "{2024-02-30x}", "\"{2024-02-30x}\"");
}

static void builtin_types(void **state)
{
    (void)state;
    static const struct { uint32_t oid; pgv_kind kind; bool array; const char *name; } want[] = {
        { 16, PGV_BOOL, false, "bool" },       { 1000, PGV_BOOL, true, "_bool" },
        { 17, PGV_BYTEA, false, "bytea" },     { 1001, PGV_BYTEA, true, "_bytea" },
        { 18, PGV_TEXT, false, "char" },       { 19, PGV_TEXT, false, "name" },
        { 20, PGV_INT, false, "int8" },        { 1016, PGV_INT, true, "_int8" },
        { 21, PGV_INT, false, "int2" },        { 1005, PGV_INT, true, "_int2" },
        { 23, PGV_INT, false, "int4" },        { 1007, PGV_INT, true, "_int4" },
        { 25, PGV_TEXT, false, "text" },       { 1009, PGV_TEXT, true, "_text" },
        { 26, PGV_INT, false, "oid" },         { 114, PGV_JSON, false, "json" },
        { 199, PGV_JSON, true, "_json" },      { 3802, PGV_JSON, false, "jsonb" },
        { 3807, PGV_JSON, true, "_jsonb" },    { 700, PGV_FLOAT, false, "float4" },
        { 701, PGV_FLOAT, false, "float8" },   { 1022, PGV_FLOAT, true, "_float8" },
        { 790, PGV_TEXT, false, "money" },     { 1042, PGV_TEXT, false, "bpchar" },
        { 1043, PGV_TEXT, false, "varchar" },  { 1082, PGV_DATE, false, "date" },
        { 1182, PGV_DATE, true, "_date" },     { 1083, PGV_TIME, false, "time" },
        { 1114, PGV_TIMESTAMP, false, "timestamp" }, { 1115, PGV_TIMESTAMP, true, "_timestamp" },
        { 1184, PGV_TIMESTAMPTZ, false, "timestamptz" }, { 1185, PGV_TIMESTAMPTZ, true, "_timestamptz" },
        { 1186, PGV_INTERVAL, false, "interval" }, { 1266, PGV_TIMETZ, false, "timetz" },
        { 1700, PGV_NUMERIC, false, "numeric" }, { 1231, PGV_NUMERIC, true, "_numeric" },
        { 2950, PGV_UUID, false, "uuid" },     { 2951, PGV_UUID, true, "_uuid" },
        { 142, PGV_TEXT, false, "xml" },
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        pgv_type t = { PGV_UUID, true };
        if (!pgv_builtin(want[i].oid, &t))
            fail_msg("oid %u not built in", want[i].oid);
        if (t.kind != want[i].kind || t.array != want[i].array)
            fail_msg("oid %u: kind %d array %d", want[i].oid, t.kind, t.array);
        pgv_type n = { PGV_UUID, true };
        if (!pgv_by_name(want[i].name, &n))
            fail_msg("%s not known by name", want[i].name);
        if (n.kind != want[i].kind || n.array != want[i].array)
            fail_msg("%s: kind %d array %d", want[i].name, n.kind, n.array);
    }
    pgv_type t;
    /* not built in: enums, domains, extension types, inet (text via the catalog) */
    assert_false(pgv_builtin(0, &t));
    assert_false(pgv_builtin(16386, &t));
    assert_false(pgv_builtin(869, &t)); /* inet */
    assert_false(pgv_by_name("mood", &t));
    assert_false(pgv_by_name("_mood", &t));
    assert_false(pgv_by_name("", &t));
    assert_false(pgv_by_name("_", &t));
    assert_false(pgv_by_name("INT4", &t));
    assert_false(pgv_by_name("int", &t));
}

static void jbuf_basics(void **state)
{
    (void)state;
    jbuf b = { 0 };
    assert_string_equal(jbuf_cstr(&b), "");
    jbuf_i64(&b, INT64_MIN);
    jbuf_putc(&b, ' ');
    jbuf_i64(&b, INT64_MAX);
    jbuf_putc(&b, ' ');
    jbuf_u64(&b, UINT64_MAX);
    jbuf_putc(&b, ' ');
    jbuf_u64(&b, 0);
    assert_string_equal(jbuf_cstr(&b), "-9223372036854775808 9223372036854775807 18446744073709551615 0");
    assert_int_equal(b.len, strlen(b.data));
    jbuf_reset(&b);
    assert_string_equal(jbuf_cstr(&b), "");
    jbuf_base64(&b, (const unsigned char *)"", 0);
    jbuf_base64(&b, (const unsigned char *)"f", 1);
    jbuf_base64(&b, (const unsigned char *)"fo", 2);
    jbuf_base64(&b, (const unsigned char *)"foo", 3);
    jbuf_base64(&b, (const unsigned char *)"foob", 4);
    jbuf_base64(&b, (const unsigned char *)"fooba", 5);
    jbuf_base64(&b, (const unsigned char *)"\xff\xfe\xfd", 3);
    assert_string_equal(jbuf_cstr(&b), "\"\"\"Zg==\"\"Zm8=\"\"Zm9v\"\"Zm9vYg==\"\"Zm9vYmE=\"\"//79\"");
    /* growth well past the first allocation, one byte at a time and in one go */
    jbuf_reset(&b);
    for (int i = 0; i < 100000; i++)
        jbuf_putc(&b, (char)('a' + i % 26));
    assert_int_equal(b.len, 100000);
    char *big = malloc(300000);
    memset(big, '\x01', 300000);
    jbuf_reset(&b);
    jbuf_str(&b, big, 300000); /* every byte escaped to six */
    assert_int_equal(b.len, 2 + 6 * 300000);
    assert_valid_json(b.data, b.len);
    jbuf_reset(&b);
    memset(big, '\xff', 300000);
    jbuf_str(&b, big, 300000); /* every byte replaced by three */
    assert_int_equal(b.len, 2 + 3 * 300000);
    assert_valid_json(b.data, b.len);
    free(big);
    jbuf_free(&b);
    assert_null(b.data);
    jbuf_free(&b);
}

/* Every single byte and every two-byte string, as text: always valid JSON that
 * decodes back to the input where the input was valid UTF-8. */
static void jbuf_str_exhaustive(void **state)
{
    (void)state;
    jbuf b = { 0 };
    for (unsigned a = 0; a < 256; a++) {
        for (unsigned c = 0; c < 257; c++) {
            unsigned char in[2] = { (unsigned char)a, (unsigned char)c };
            size_t n = c < 256 ? 2 : 1;
            jbuf_reset(&b);
            jbuf_str(&b, (const char *)in, n);
            json_error_t e;
            json_t *j = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
            if (!j)
                fail_msg("%02x %02x: %s", a, c, e.text);
            assert_true(json_is_string(j));
            bool ascii = a < 0x80 && (n == 1 || c < 0x80);
            if (ascii) {
                assert_int_equal(json_string_length(j), n);
                assert_memory_equal(json_string_value(j), in, n);
            }
            json_decref(j);
        }
    }
    jbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(integers),
        cmocka_unit_test(floats),
        cmocka_unit_test(numerics_bools_and_strings),
        cmocka_unit_test(byteas),
        cmocka_unit_test(dates),
        cmocka_unit_test(times_with_zone),
        cmocka_unit_test(timestamps),
        cmocka_unit_test(arrays),
        cmocka_unit_test(builtin_types),
        cmocka_unit_test(jbuf_basics),
        cmocka_unit_test(jbuf_str_exhaustive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
