/* fuzz_emulator_request.c - libFuzzer target for the emulator's request handling:
 * routing, query parameters, the JSON body, the Value codec, field paths, writes,
 * queries and transactions, all through emu_api_handle (no sockets).
 *
 * Input: "METHOD PATH[?k=v&k=v]\n" then the body. The store is shared between runs
 * (so reads meet earlier writes) and cleared when it grows, to bound memory. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tools/firestore-emulator/emu_api.h"
#include "tools/firestore-emulator/emu_fault.h"
#include "tools/firestore-emulator/emu_path.h"

static emu_ctx *ctx;

static void fuzz_reset_if_big(void)
{
    if (!ctx) {
        ctx = emu_ctx_new(1);
        ctx->faults = emu_faults_new(1);
    }
    if (emu_store_count(ctx->store) > 5000) {
        emu_store_wrlock(ctx->store);
        emu_store_clear_prefix(ctx->store, "");
        emu_store_unlock(ctx->store);
    }
}

/* Splits "k=v&k=v" in place into params (at most max). */
static size_t fuzz_params(char *q, emu_param *params, size_t max)
{
    size_t n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(q, "&", &save); tok && n < max; tok = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(tok, '=');
        if (eq)
            *eq++ = '\0';
        params[n++] = (emu_param){ tok, eq };
    }
    return n;
}

/* Direct calls into the small parsers with the raw input as a string. */
static void fuzz_parsers(const char *s)
{
    emu_status st;
    emu_fieldpath fp;
    if (emu_fieldpath_parse(s, &fp, &st) == 0)
        emu_fieldpath_free(&fp);
    int64_t us;
    if (emu_time_parse(s, &us) == 0) {
        char buf[40];
        emu_time_format(us, buf, sizeof buf);
    }
    emu_route r;
    emu_route_parse(s, &r, &st);
    emu_name_check_document(s, NULL, &st);
    emu_code c;
    emu_code_parse(s, &c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_reset_if_big();
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = '\0';
    fuzz_parsers(buf);
    char *nl = memchr(buf, '\n', size);
    const char *body = nl ? nl + 1 : "";
    size_t body_len = nl ? size - (size_t)(nl + 1 - buf) : 0;
    if (nl)
        *nl = '\0';
    char *sp = strchr(buf, ' ');
    if (sp) {
        *sp = '\0';
        char *path = sp + 1, *q = strchr(path, '?');
        emu_param params[32];
        size_t np = 0;
        if (q) {
            *q = '\0';
            np = fuzz_params(q + 1, params, 32);
        }
        emu_request rq = { buf, path, params, np, body, body_len };
        emu_response rs;
        emu_fault_decision d = { 0 };
        emu_fault_respond(ctx, &rq, &d, &rs);
        if (rs.json) {
            char *out = json_dumps(rs.json, JSON_COMPACT);
            free(out);
        }
        emu_response_clear(&rs);
    }
    free(buf);
    return 0;
}
