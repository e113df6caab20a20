/* emu_persist.h - optional state across restarts (--data-dir).
 *
 * The whole store is written as one JSON file, DIR/firestore-emulator.json, in the
 * export format ({"documents":[Document...]}, createTime/updateTime kept), on clean
 * shutdown (atomically: a temporary file renamed over the old one), and read back
 * at start. A crash loses what changed since the last start; the emulator is a test
 * tool, not a database. */
#ifndef EMU_PERSIST_H
#define EMU_PERSIST_H

#include "tools/firestore-emulator/emu_api.h"

/* Loads DIR/firestore-emulator.json when it exists (0 also when it does not). */
int emu_persist_load(emu_ctx *ctx, const char *dir, emu_status *st);
int emu_persist_save(emu_ctx *ctx, const char *dir, emu_status *st);
/* Inserts the documents of an export ({"documents":[...]}) into the store. */
int emu_persist_import(emu_ctx *ctx, const json_t *export_json, emu_status *st);

#endif
