/* fixture.c - reading test fixtures (see fixture.h). */
#include "tests/support/fixture.h"

#include <stdio.h>
#include <stdlib.h>

char *th_fixture(const char *dir, const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "tests/unit/fixtures/%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}
