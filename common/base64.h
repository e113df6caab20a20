/* base64.h - base64 encoding (RFC 4648), one implementation for the whole project:
 * the standard alphabet with padding (Firestore bytesValue, bytea in events) or the
 * URL-safe one without padding (JWTs). */
#ifndef COMMON_BASE64_H
#define COMMON_BASE64_H

#include <stdbool.h>
#include <stddef.h>

/* Characters base64_encode writes for len bytes (without the terminating NUL). */
size_t base64_encoded_len(size_t len, bool url);
/* Writes the encoding of in[0..len) and a NUL into out, which holds at least
 * base64_encoded_len(len, url) + 1 bytes; returns the characters written. */
size_t base64_encode(const unsigned char *in, size_t len, char *out, bool url);

#endif
