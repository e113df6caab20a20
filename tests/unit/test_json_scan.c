/* test_json_scan.c - common/json_scan.c: it accepts exactly what jansson accepts (the
 * edges: depth, 64-bit integers, real overflow, surrogates, overlong UTF-8, \u0000),
 * finds top-level members (escaped names, repeated names), and its errors quote no data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_scan.h"

static int scan(const char *text, size_t len, char *err, size_t errlen)
{
    bool object;
    return json_scan(text, len, NULL, NULL, 0, &object, err, errlen);
}

/* json_scan and jansson agree on text; returns whether it is accepted. */
static bool agrees_with_jansson(const char *text, size_t len)
{
    char err[128];
    int rc = scan(text, len, err, sizeof err);
    json_t *tree = json_loadb(text, len, JSON_DECODE_ANY, NULL);
    if ((rc == 0) != (tree != NULL))
        fail_msg("json_scan %s but jansson %s: %.60s", rc == 0 ? "accepts" : "refuses",
                 tree ? "accepts" : "refuses", text);
    json_decref(tree);
    return rc == 0;
}

#define AGREE(lit) agrees_with_jansson(lit, sizeof lit - 1)

static void accepts_and_refuses_what_jansson_does(void **state)
{
    (void)state;
    assert_true(AGREE("{}"));
    assert_true(AGREE(" [1, -0, 0.5e-3, 1E+2, \"x\", true, false, null, {\"a\": []}] \n"));
    assert_true(AGREE("\"\\u00e9\\ud83d\\ude00 \xc3\xa9 \xf0\x9f\x98\x80\""));
    assert_true(AGREE("9223372036854775807"));
    assert_true(AGREE("-9223372036854775808"));
    assert_true(AGREE("1e-400")); /* underflow is no error */
    assert_false(AGREE("9223372036854775808"));
    assert_false(AGREE("-9223372036854775809"));
    assert_false(AGREE("1e400"));
    assert_false(AGREE(""));
    assert_false(AGREE("   "));
    assert_false(AGREE("01"));
    assert_false(AGREE("1."));
    assert_false(AGREE("-"));
    assert_false(AGREE(".5"));
    assert_false(AGREE("1e"));
    assert_false(AGREE("[1,]"));
    assert_false(AGREE("{\"a\":1,}"));
    assert_false(AGREE("{\"a\" 1}"));
    assert_false(AGREE("{1:2}"));
    assert_false(AGREE("[1 2]"));
    assert_false(AGREE("{} {}"));
    assert_false(AGREE("tru"));
    assert_false(AGREE("nul"));
    assert_false(AGREE("truex"));
    assert_false(AGREE("\"abc"));
    assert_false(AGREE("\"a\tb\""));
    assert_false(AGREE("\"\\x\""));
    assert_false(AGREE("\"\\u12\""));
    assert_false(AGREE("\"\\u0000\""));
    assert_false(AGREE("{\"\\u0000\":1}"));
    assert_false(AGREE("\"\\ud800\""));
    assert_false(AGREE("\"\\udc00\""));
    assert_false(AGREE("\"\\ud800\\u0041\""));
    assert_false(AGREE("\"\xc0\xaf\""));         /* overlong '/' */
    assert_false(AGREE("\"\xe0\x80\xaf\""));     /* overlong, 3 bytes */
    assert_false(AGREE("\"\xed\xa0\x80\""));     /* an encoded surrogate */
    assert_false(AGREE("\"\xf4\x90\x80\x80\"")); /* above U+10FFFF */
    assert_false(AGREE("\"\xc3\""));             /* cut short */
    assert_false(AGREE("\"\x80\""));
    assert_false(AGREE("\xc3\xa9"));
    assert_false(AGREE("[\"a\0\"]"));
}

static void depth_limit_is_janssons(void **state)
{
    (void)state;
    char *text = malloc(2 * (JSON_SCAN_MAX_DEPTH + 1) + 1);
    for (int depth = JSON_SCAN_MAX_DEPTH; depth <= JSON_SCAN_MAX_DEPTH + 1; depth++) {
        memset(text, '[', (size_t)depth);
        memset(text + depth, ']', (size_t)depth);
        assert_int_equal(agrees_with_jansson(text, 2 * (size_t)depth), depth == JSON_SCAN_MAX_DEPTH);
    }
    free(text);
}

static void finds_top_level_members(void **state)
{
    (void)state;
    static const char *const names[] = { "op", "after", "before", "source", "caf\xc3\xa9" };
    json_span s[5];
    bool object;
    char err[128];
    const char *text = "{\"before\": null, \"nested\": {\"op\": \"x\"}, \"o\\u0070\": \"u\", \"after\": {\"id\": 1},"
                       " \"caf\\u00e9\": [1], \"after\" : {\"id\": 2} }";
    assert_int_equal(json_scan(text, strlen(text), names, s, 5, &object, err, sizeof err), 0);
    assert_true(object);
    assert_true(s[0].p && s[0].len == 3 && !memcmp(s[0].p, "\"u\"", 3)); /* escaped name, top level only */
    assert_true(s[1].p && s[1].len == 9 && !memcmp(s[1].p, "{\"id\": 2}", 9)); /* the last one, as jansson */
    assert_true(json_span_is_null(s[2]));
    assert_null(s[3].p);
    assert_true(s[4].p && s[4].len == 3 && !memcmp(s[4].p, "[1]", 3));
    assert_int_equal(json_scan("[{\"op\": 1}]", 11, names, s, 5, &object, err, sizeof err), 0);
    assert_false(object);
    assert_null(s[0].p);
}

static void errors_give_a_place_not_the_data(void **state)
{
    (void)state;
    static const char *const names[] = { "op" };
    json_span s[1];
    bool object = true;
    char err[128];
    const char *text = "{\"op\": \"u\", \"name\": \"Secret Person\x01\"}";
    assert_int_equal(json_scan(text, strlen(text), names, s, 1, &object, err, sizeof err), -1);
    assert_string_equal(err, "control character in a string at byte 34");
    assert_null(strstr(err, "Secret"));
    assert_null(s[0].p); /* nothing half-found */
    assert_false(object);
    assert_int_equal(json_scan("{\"op\": 1} x", 11, names, s, 1, &object, err, sizeof err), -1);
    assert_string_equal(err, "text after the value at byte 10");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accepts_and_refuses_what_jansson_does),
        cmocka_unit_test(depth_limit_is_janssons),
        cmocka_unit_test(finds_top_level_members),
        cmocka_unit_test(errors_give_a_place_not_the_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
