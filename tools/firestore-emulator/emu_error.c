/* emu_error.c - google.rpc.Code names, HTTP mapping and error bodies (see emu_error.h). */
#include "tools/firestore-emulator/emu_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    int http;
} emu_codes[] = {
    [EMU_OK] = { "OK", 200 },
    [EMU_CANCELLED] = { "CANCELLED", 499 },
    [EMU_UNKNOWN] = { "UNKNOWN", 500 },
    [EMU_INVALID_ARGUMENT] = { "INVALID_ARGUMENT", 400 },
    [EMU_DEADLINE_EXCEEDED] = { "DEADLINE_EXCEEDED", 504 },
    [EMU_NOT_FOUND] = { "NOT_FOUND", 404 },
    [EMU_ALREADY_EXISTS] = { "ALREADY_EXISTS", 409 },
    [EMU_PERMISSION_DENIED] = { "PERMISSION_DENIED", 403 },
    [EMU_RESOURCE_EXHAUSTED] = { "RESOURCE_EXHAUSTED", 429 },
    [EMU_FAILED_PRECONDITION] = { "FAILED_PRECONDITION", 400 },
    [EMU_ABORTED] = { "ABORTED", 409 },
    [EMU_OUT_OF_RANGE] = { "OUT_OF_RANGE", 400 },
    [EMU_UNIMPLEMENTED] = { "UNIMPLEMENTED", 501 },
    [EMU_INTERNAL] = { "INTERNAL", 500 },
    [EMU_UNAVAILABLE] = { "UNAVAILABLE", 503 },
    [EMU_DATA_LOSS] = { "DATA_LOSS", 500 },
    [EMU_UNAUTHENTICATED] = { "UNAUTHENTICATED", 401 },
};
#define EMU_NCODES ((int)(sizeof emu_codes / sizeof emu_codes[0]))

const char *emu_code_name(emu_code code)
{
    return ((int)code >= 0 && (int)code < EMU_NCODES) ? emu_codes[code].name : "UNKNOWN";
}

int emu_code_http(emu_code code)
{
    return ((int)code >= 0 && (int)code < EMU_NCODES) ? emu_codes[code].http : 500;
}

int emu_code_parse(const char *text, emu_code *out)
{
    if (!text || !*text)
        return -1;
    char *end;
    long n = strtol(text, &end, 10);
    if (*end == '\0') {
        if (n < 0 || n >= EMU_NCODES)
            return -1;
        *out = (emu_code)n;
        return 0;
    }
    for (int i = 0; i < EMU_NCODES; i++) {
        if (strcasecmp(text, emu_codes[i].name) == 0) {
            *out = (emu_code)i;
            return 0;
        }
    }
    return -1;
}

int emu_fail(emu_status *st, emu_code code, const char *fmt, ...)
{
    st->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->msg, sizeof st->msg, fmt, ap);
    va_end(ap);
    return -1;
}

void emu_status_ok(emu_status *st)
{
    st->code = EMU_OK;
    st->msg[0] = '\0';
}

json_t *emu_error_body(const emu_status *st)
{
    return json_pack("{s:{s:i,s:s,s:s}}", "error", "code", emu_code_http(st->code), "message", st->msg,
                     "status", emu_code_name(st->code));
}

json_t *emu_status_json(const emu_status *st)
{
    if (st->code == EMU_OK)
        return json_object();
    return json_pack("{s:i,s:s}", "code", (int)st->code, "message", st->msg);
}
