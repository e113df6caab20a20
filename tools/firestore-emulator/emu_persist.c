/* emu_persist.c - the store to and from a JSON file (see emu_persist.h). */
#include "tools/firestore-emulator/emu_persist.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/firestore-emulator/emu_path.h"

#define EMU_STATE_FILE "firestore-emulator.json"

static int emu_import_doc(emu_ctx *ctx, const json_t *doc, emu_status *st)
{
    json_t *fields;
    const char *name;
    int64_t ct, ut;
    if (emu_document_parse(doc, &fields, &name, st) != 0)
        return -1;
    const char *cts = json_string_value(json_object_get(doc, "createTime"));
    const char *uts = json_string_value(json_object_get(doc, "updateTime"));
    if (!name || emu_name_check_document(name, NULL, st) != 0 || !cts || !uts || emu_time_parse(cts, &ct) != 0 ||
        emu_time_parse(uts, &ut) != 0) {
        json_decref(fields);
        return st->code != EMU_OK ? -1 : emu_fail(st, EMU_INVALID_ARGUMENT, "export: a document lacks name or times");
    }
    emu_store_put(ctx->store, name, emu_fields_text(fields), ct, ut);
    json_decref(fields);
    return 0;
}

int emu_persist_import(emu_ctx *ctx, const json_t *export_json, emu_status *st)
{
    json_t *docs = json_object_get(export_json, "documents");
    if (!json_is_array(docs))
        return emu_fail(st, EMU_INVALID_ARGUMENT, "export: expected {\"documents\":[...]}");
    int rc = 0;
    emu_status_ok(st);
    emu_store_wrlock(ctx->store);
    size_t i;
    json_t *d;
    json_array_foreach(docs, i, d) {
        if ((rc = emu_import_doc(ctx, d, st)) != 0)
            break;
    }
    emu_store_tick(ctx->store);
    emu_store_unlock(ctx->store);
    return rc;
}

int emu_persist_load(emu_ctx *ctx, const char *dir, emu_status *st)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, EMU_STATE_FILE);
    if (access(path, F_OK) != 0)
        return 0;
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    if (!j)
        return emu_fail(st, EMU_DATA_LOSS, "%s: line %d: %s", path, err.line, err.text);
    int rc = emu_persist_import(ctx, j, st);
    json_decref(j);
    return rc;
}

int emu_persist_save(emu_ctx *ctx, const char *dir, emu_status *st)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/%s", dir, EMU_STATE_FILE);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return emu_fail(st, EMU_INTERNAL, "cannot create %s: %s", dir, strerror(errno));
    json_t *docs = json_array();
    emu_store_rdlock(ctx->store);
    for (const emu_doc *d = emu_store_seek(ctx->store, ""); d; d = emu_store_next(d))
        json_array_append_new(docs, emu_doc_json(d, NULL));
    emu_store_unlock(ctx->store);
    json_t *all = json_pack("{s:o}", "documents", docs);
    int rc = json_dump_file(all, tmp, JSON_COMPACT);
    json_decref(all);
    if (rc != 0 || rename(tmp, path) != 0)
        return emu_fail(st, EMU_INTERNAL, "cannot write %s: %s", path, strerror(errno));
    return 0;
}
