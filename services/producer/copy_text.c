/* copy_text.c - one row of COPY's text format, split and un-escaped in place.
 * Fields are separated by tabs; \N is NULL; backslash escapes are \b \f \n \r \t \v,
 * \\, \digits (octal) and \xHH (hex). See PostgreSQL's COPY reference, "Text Format". */
#include "services/producer/producer.h"

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int copy_text_row(char *buf, size_t len, pgo_value *vals, int maxcols)
{
    if (len && buf[len - 1] == '\n')
        len--;
    int n = 0;
    size_t i = 0;
    for (;;) {
        if (n >= maxcols)
            return -1;
        size_t start = i, o = i;
        bool is_null = false;
        if (len - i >= 2 && buf[i] == '\\' && buf[i + 1] == 'N' && (i + 2 == len || buf[i + 2] == '\t')) {
            is_null = true;
            i += 2;
        } else {
            while (i < len && buf[i] != '\t') {
                char c = buf[i++];
                if (c != '\\') {
                    buf[o++] = c;
                    continue;
                }
                if (i >= len)
                    return -1; /* a lone backslash at the end */
                char e = buf[i++];
                switch (e) {
                case 'b': buf[o++] = '\b'; break;
                case 'f': buf[o++] = '\f'; break;
                case 'n': buf[o++] = '\n'; break;
                case 'r': buf[o++] = '\r'; break;
                case 't': buf[o++] = '\t'; break;
                case 'v': buf[o++] = '\v'; break;
                case 'x': {
                    int v = 0, k = 0;
                    while (k < 2 && i < len && hexval(buf[i]) >= 0)
                        v = v * 16 + hexval(buf[i++]), k++;
                    if (!k)
                        return -1;
                    buf[o++] = (char)v;
                    break;
                }
                default:
                    if (e >= '0' && e <= '7') {
                        int v = e - '0', k = 1;
                        while (k < 3 && i < len && buf[i] >= '0' && buf[i] <= '7')
                            v = v * 8 + (buf[i++] - '0'), k++;
                        buf[o++] = (char)v;
                    } else {
                        buf[o++] = e; /* \\ and any other escaped character */
                    }
                }
            }
        }
        vals[n].kind = is_null ? 'n' : 't';
        vals[n].data = is_null ? NULL : buf + start;
        vals[n].len = is_null ? 0 : (uint32_t)(o - start);
        n++;
        if (i >= len)
            return n;
        if (buf[i] != '\t')
            return -1; /* \N followed by something else */
        i++;
    }
}
