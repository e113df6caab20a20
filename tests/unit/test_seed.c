/* test_seed.c - the demo member generator: kennitala check digits (Þjóðskrá's test
 * person 010130-2989), unique valid kennitölur for many ids, members as a pure
 * function of (seed, id), Icelandic names, ASCII e-mail forms, placeholders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/seed/seed.h"

static void check_digit(void **state)
{
    (void)state;
    assert_int_equal(seed_kennitala_check("01013029"), 8);
    assert_true(seed_kennitala_valid("0101302989"));
    assert_false(seed_kennitala_valid("0101302979")); /* wrong check digit */
    assert_false(seed_kennitala_valid("0101302988")); /* bad century digit */
    assert_false(seed_kennitala_valid("010130298"));
    assert_false(seed_kennitala_valid("01013029a9"));
}

static int cmp(const void *a, const void *b) { return memcmp(a, b, 11); }

static void kennitolur_are_valid_and_unique(void **state)
{
    (void)state;
    enum { N = 200000 };
    char (*all)[11] = malloc(sizeof(char[11]) * N);
    for (uint64_t id = 1; id <= N; id++) {
        int y, m, d;
        seed_kennitala_for_id(id, all[id - 1], &y, &m, &d);
        if (!seed_kennitala_valid(all[id - 1]))
            fail_msg("id %llu gave invalid %s", (unsigned long long)id, all[id - 1]);
        assert_true(y >= 1940 && y <= 2008);
        char date[7];
        snprintf(date, sizeof date, "%02d%02d%02d", d, m, y % 100);
        assert_memory_equal(all[id - 1], date, 6);
    }
    qsort(all, N, 11, cmp);
    for (int i = 1; i < N; i++)
        if (memcmp(all[i - 1], all[i], 11) == 0)
            fail_msg("duplicate kennitala %s", all[i]);
    free(all);
}

static void members_are_deterministic(void **state)
{
    (void)state;
    seed_member a, b, c;
    seed_member_make(42, 1234, 2026, &a);
    seed_member_make(42, 1234, 2026, &b);
    seed_member_make(43, 1234, 2026, &c);
    assert_memory_equal(&a, &b, sizeof a);
    assert_string_equal(a.ssn, c.ssn); /* the kennitala belongs to the id */
    assert_true(strcmp(a.name, c.name) != 0 || a.gender != c.gender || strcmp(a.email, c.email) != 0);
}

static void names_are_icelandic(void **state)
{
    (void)state;
    int non_ascii = 0, dottir = 0, son = 0, placeholders = 0, deleted = 0;
    for (uint64_t id = 1; id <= 2000; id++) {
        seed_member m;
        seed_member_make(7, id, 2026, &m);
        for (const unsigned char *p = (const unsigned char *)m.name; *p; p++)
            if (*p >= 0x80) {
                non_ascii++;
                break;
            }
        dottir += strstr(m.name, "dóttir") != NULL;
        son += strstr(m.name, "son") != NULL;
        placeholders += m.placeholder;
        deleted += m.deleted;
        if (m.placeholder)
            assert_memory_equal(m.ssn, "9999", 4);
        for (const char *e = m.email; *e; e++)
            assert_true((unsigned char)*e < 0x80);
    }
    assert_true(non_ascii > 1000);
    assert_true(dottir > 400 && son > 400);
    assert_int_equal(placeholders, 4);
    assert_true(deleted > 10 && deleted < 150);
}

static void ascii_forms(void **state)
{
    (void)state;
    char buf[64];
    seed_ascii_name("Þórdís Jónsdóttir", buf, sizeof buf);
    assert_string_equal(buf, "thordis.jonsdottir");
    seed_ascii_name("Ævar Örn Ásgeirsson", buf, sizeof buf);
    assert_string_equal(buf, "aevar.orn.asgeirsson");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(check_digit),
        cmocka_unit_test(kennitolur_are_valid_and_unique),
        cmocka_unit_test(members_are_deterministic),
        cmocka_unit_test(names_are_icelandic),
        cmocka_unit_test(ascii_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
