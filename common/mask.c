/* mask.c - the one masking rule for personal data shown to operators (see mask.h). */
#include "common/mask.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool mask_is_kennitala(const char *s)
{
    size_t digits = 0, i = 0;
    for (; s[i]; i++) {
        if (isdigit((unsigned char)s[i]))
            digits++;
        else if (!(s[i] == '-' && i == 6))
            return false;
    }
    return digits == 10 && (i == 10 || i == 11);
}

/* Number of UTF-8 code points in s, and the byte length of the first one. */
static size_t mask_utf8_len(const char *s, size_t *first)
{
    size_t n = 0;
    *first = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xC0) == 0x80)
            continue;
        if (++n == 2)
            *first = (size_t)(p - (const unsigned char *)s);
    }
    if (n == 1)
        *first = strlen(s);
    return n;
}

char *mask_string(const char *s)
{
    if (!s)
        return NULL;
    if (mask_is_kennitala(s)) {
        char *out = malloc(12);
        if (!out)
            abort();
        char d[7];
        size_t k = 0;
        for (const char *p = s; *p && k < 6; p++)
            if (isdigit((unsigned char)*p))
                d[k++] = *p;
        d[6] = '\0';
        snprintf(out, 12, "%s-****", d);
        return out;
    }
    size_t first;
    size_t n = mask_utf8_len(s, &first);
    if (n == 0)
        return strdup("");
    char *out = malloc(first + (n - 1) + 32);
    if (!out)
        abort();
    memcpy(out, s, first);
    size_t pos = first;
    for (size_t i = 1; i < n; i++)
        out[pos++] = '*';
    snprintf(out + pos, 32, " (%zu)", n);
    return out;
}

/* The masked replacement of a string value (new reference), or NULL to recurse. */
static json_t *mask_replacement(json_t *v)
{
    if (!json_is_string(v)) {
        mask_json(v);
        return NULL;
    }
    char *m = mask_string(json_string_value(v));
    json_t *r = json_string(m);
    free(m);
    return r;
}

void mask_json(json_t *j)
{
    if (json_is_object(j)) {
        const char *key;
        json_t *v, *r;
        json_object_foreach(j, key, v)
            if ((r = mask_replacement(v)))
                json_object_set_new(j, key, r);
    } else if (json_is_array(j)) {
        json_t *r;
        for (size_t i = 0; i < json_array_size(j); i++)
            if ((r = mask_replacement(json_array_get(j, i))))
                json_array_set_new(j, i, r);
    }
}
