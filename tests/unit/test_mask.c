/* test_mask.c - the masking rule for personal data shown to operators. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/mask.h"

static void check(const char *in, const char *want)
{
    char *got = mask_string(in);
    assert_string_equal(got, want);
    free(got);
}

static void kennitala_keeps_only_the_birth_date(void **state)
{
    (void)state;
    check("1203894569", "120389-****");
    check("120389-4569", "120389-****");
    /* not a kennitala: wrong length, hyphen elsewhere */
    check("12038945", "1******* (8)");
    check("1203-894569", "1********** (11)");
}

static void strings_keep_first_letter_and_length(void **state)
{
    (void)state;
    check("Þórdís Guðmundsdóttir", "Þ******************** (21)");
    check("jon@example.is", "j************* (14)");
    check("Á", "Á (1)");
    check("", "");
}

static void json_values_are_masked_keys_are_not(void **state)
{
    (void)state;
    json_t *j = json_loads("{\"after\":{\"id\":7,\"ssn\":\"0101302989\",\"name\":\"Jón\",\"tags\":[\"a\",1],\"ok\":true,\"x\":null}}", 0, NULL);
    assert_non_null(j);
    mask_json(j);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(s, "{\"after\":{\"id\":7,\"name\":\"J** (3)\",\"ok\":true,\"ssn\":\"010130-****\",\"tags\":[\"a (1)\",1],\"x\":null}}");
    free(s);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kennitala_keeps_only_the_birth_date),
        cmocka_unit_test(strings_keep_first_letter_and_length),
        cmocka_unit_test(json_values_are_masked_keys_are_not),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
