/* emulator_client.h - a small libcurl HTTP client for the firestore-emulator tests:
 * any method, extra request headers, the response status, headers, body and time,
 * and connection reuse (pass the same CURL handle to keep a connection alive). */
#ifndef TESTS_SUPPORT_EMULATOR_CLIENT_H
#define TESTS_SUPPORT_EMULATOR_CLIENT_H

#include <curl/curl.h>
#include <jansson.h>

typedef struct {
    long status;          /* HTTP status, -1 on a transport error */
    char *body;
    char *headers;        /* raw response headers */
    double seconds;       /* total time */
    long new_connections; /* connections opened for this request (0 = reused) */
} ec_response;

/* Sends method http://127.0.0.1:port + path with body (may be NULL) and extra
 * headers ("Name: value", NULL-terminated, may be NULL). h may be NULL (a fresh
 * handle is used) or a handle kept across calls for keep-alive. 0 on success. */
int ec_call(CURL *h, int port, const char *method, const char *path, const char *body, const char *const *headers,
            ec_response *out);
void ec_response_free(ec_response *r);
/* Value of a response header (case-insensitive name) copied into buf; NULL if absent. */
const char *ec_header(const ec_response *r, const char *name, char *buf, size_t len);
/* The body parsed as JSON (new reference), NULL if it is not JSON. */
json_t *ec_json(const ec_response *r);

#endif
