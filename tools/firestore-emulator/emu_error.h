/* emu_error.h - google.rpc.Code, its HTTP mapping, and Google's JSON error body.
 *
 * Every failure inside the emulator is an emu_status: a google.rpc.Code plus a
 * message. The HTTP front turns it into {"error":{"code":<http>,"message","status"}}
 * with the HTTP status that Google's API front end uses for that code (the mapping
 * in google/rpc/code.proto), and :batchWrite puts it per write as google.rpc.Status
 * {"code":<rpc code>,"message"}. */
#ifndef EMU_ERROR_H
#define EMU_ERROR_H

#include <jansson.h>

typedef enum {
    EMU_OK = 0,
    EMU_CANCELLED = 1,
    EMU_UNKNOWN = 2,
    EMU_INVALID_ARGUMENT = 3,
    EMU_DEADLINE_EXCEEDED = 4,
    EMU_NOT_FOUND = 5,
    EMU_ALREADY_EXISTS = 6,
    EMU_PERMISSION_DENIED = 7,
    EMU_RESOURCE_EXHAUSTED = 8,
    EMU_FAILED_PRECONDITION = 9,
    EMU_ABORTED = 10,
    EMU_OUT_OF_RANGE = 11,
    EMU_UNIMPLEMENTED = 12,
    EMU_INTERNAL = 13,
    EMU_UNAVAILABLE = 14,
    EMU_DATA_LOSS = 15,
    EMU_UNAUTHENTICATED = 16,
} emu_code;

typedef struct {
    emu_code code;
    char msg[512];
} emu_status;

/* "INVALID_ARGUMENT" for 3; "UNKNOWN" for anything out of range. */
const char *emu_code_name(emu_code code);
/* HTTP status for a code (ABORTED and ALREADY_EXISTS are both 409, etc.). */
int emu_code_http(emu_code code);
/* Parses "ABORTED", "aborted" or "10"; 0 on success, -1 when unknown. */
int emu_code_parse(const char *text, emu_code *out);

/* Sets st to code and the formatted message; always returns -1, so that
 * `return emu_fail(st, ...)` reads as an error return. */
int emu_fail(emu_status *st, emu_code code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void emu_status_ok(emu_status *st);

/* {"error":{"code":<http>,"message":...,"status":"NAME"}} (new reference). */
json_t *emu_error_body(const emu_status *st);
/* google.rpc.Status as proto3 JSON: {} for OK, else {"code":n,"message":...}. */
json_t *emu_status_json(const emu_status *st);

#endif
