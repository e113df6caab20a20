/* base64.c - RFC 4648 base64 encoding (see base64.h). */
#include "common/base64.h"

#include <stdint.h>

size_t base64_encoded_len(size_t len, bool url)
{
    return url ? len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0) : (len + 2) / 3 * 4;
}

size_t base64_encode(const unsigned char *in, size_t len, char *out, bool url)
{
    static const char std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static const char safe[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *al = url ? safe : std;
    char *o = out;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *o++ = al[v >> 18];
        *o++ = al[(v >> 12) & 63];
        *o++ = al[(v >> 6) & 63];
        *o++ = al[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
        *o++ = al[v >> 18];
        *o++ = al[(v >> 12) & 63];
        if (i + 1 < len)
            *o++ = al[(v >> 6) & 63];
        else if (!url)
            *o++ = '=';
        if (!url)
            *o++ = '=';
    }
    *o = 0;
    return (size_t)(o - out);
}
