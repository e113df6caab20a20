/* emulator_client.c - libcurl client for the emulator tests (see emulator_client.h). */
#include "tests/support/emulator_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    char *data;
    size_t len;
} ec_buf;

static size_t ec_collect(char *ptr, size_t size, size_t n, void *ud)
{
    ec_buf *b = ud;
    size_t add = size * n;
    b->data = realloc(b->data, b->len + add + 1);
    memcpy(b->data + b->len, ptr, add);
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

int ec_call(CURL *h, int port, const char *method, const char *path, const char *body, const char *const *headers,
            ec_response *out)
{
    memset(out, 0, sizeof *out);
    out->status = -1;
    CURL *c = h ? h : curl_easy_init();
    char url[8192];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: application/json");
    for (const char *const *p = headers; p && *p; p++)
        hl = curl_slist_append(hl, *p);
    ec_buf b = { calloc(1, 1), 0 }, hd = { calloc(1, 1), 0 };
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ec_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, ec_collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hd);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
        curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &out->seconds);
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &out->new_connections);
    } else {
        fprintf(stderr, "emulator_client: %s %s: %s\n", method, path, curl_easy_strerror(rc));
    }
    out->body = b.data;
    out->headers = hd.data;
    curl_slist_free_all(hl);
    if (!h)
        curl_easy_cleanup(c);
    return rc == CURLE_OK ? 0 : -1;
}

void ec_response_free(ec_response *r)
{
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof *r);
}

const char *ec_header(const ec_response *r, const char *name, char *buf, size_t len)
{
    size_t n = strlen(name);
    for (const char *line = r->headers; line && *line;) {
        const char *end = strstr(line, "\r\n");
        size_t ll = end ? (size_t)(end - line) : strlen(line);
        if (ll > n && strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ')
                v++;
            snprintf(buf, len, "%.*s", (int)(ll - (size_t)(v - line)), v);
            return buf;
        }
        line = end ? end + 2 : line + ll;
    }
    return NULL;
}

json_t *ec_json(const ec_response *r)
{
    return r->body ? json_loads(r->body, JSON_DECODE_ANY, NULL) : NULL;
}
