/* fixture.h - reading test fixtures (captured bytes, real response bodies) from
 * tests/unit/fixtures/, for unit tests run from the repository root. */
#ifndef TESTS_SUPPORT_FIXTURE_H
#define TESTS_SUPPORT_FIXTURE_H

#include <stddef.h>

/* The whole file tests/unit/fixtures/<dir>/<name>, NUL-terminated, malloc'd; its
 * length in *len. NULL when it cannot be read. */
char *th_fixture(const char *dir, const char *name, size_t *len);

#endif
