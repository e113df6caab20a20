/* emu_write.h - one Firestore Write: parsing and applying it to a document state.
 *
 * Pure functions (no store, no locks): emu_write_apply() takes the document as it is
 * and returns the document as it will be, so commit, batchWrite, PATCH and DELETE
 * share the same rules and unit tests can check them directly.
 *   update without updateMask: the fields replace the document (upsert)
 *   update with updateMask:    each masked path is set from the input, or deleted
 *                              when the input lacks it; other fields are untouched
 *                              (input fields outside the mask are ignored)
 *   updateTransforms / transform: applied in order after the update; the results are
 *                              WriteResult.transformResults (nullValue for array ones)
 *   currentDocument:           exists=true on a missing document   -> NOT_FOUND
 *                              exists=false on an existing document -> ALREADY_EXISTS
 *                              updateTime differing or no document  -> FAILED_PRECONDITION
 * A write that leaves the document as it was keeps its updateTime (WriteResult
 * documents this: "If the write did not actually change the document, this will be
 * the previous update_time"). */
#ifndef EMU_WRITE_H
#define EMU_WRITE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "tools/firestore-emulator/emu_error.h"
#include "tools/firestore-emulator/emu_value.h"

typedef enum {
    EMU_TR_SERVER_TIME,
    EMU_TR_INCREMENT,
    EMU_TR_MAXIMUM,
    EMU_TR_MINIMUM,
    EMU_TR_APPEND,
    EMU_TR_REMOVE,
} emu_tr_kind;

typedef struct {
    emu_fieldpath path;
    emu_tr_kind kind;
    json_t *operand; /* canonical Value (number) or JSON array of Values; NULL for server time */
} emu_transform;

typedef enum { EMU_WRITE_UPDATE, EMU_WRITE_DELETE, EMU_WRITE_TRANSFORM } emu_write_op;

typedef struct {
    emu_write_op op;
    char *name;
    json_t *fields;          /* update: canonical fields */
    bool has_mask;
    emu_fieldpath *mask;
    int nmask;
    emu_transform *tr;
    int ntr;
    bool has_exists, exists;
    bool has_update_time;
    int64_t update_time_us;
} emu_write;

typedef struct {
    bool exists;
    json_t *fields;          /* cur: borrowed, or NULL to parse text when needed;
                              * next: a new reference, or NULL when the write was
                              * applied to cur's text without a tree (then only
                              * text is set) */
    char *text;              /* canonical fields text: cur: borrowed (may be NULL
                              * when fields is set); next: malloc'd */
    int64_t create_us;
    int64_t update_us;
    bool unchanged;          /* next: the write left the fields as cur had them */
} emu_docstate;

/* Rejects keys of a request object that are not in allowed (NULL-terminated), as
 * proto3 JSON parsing does: INVALID_ARGUMENT "Invalid JSON payload received.
 * Unknown name ...". where names the object in the message. */
int emu_known_keys(const json_t *obj, const char *const *allowed, const char *where, emu_status *st);
/* Parses a Write object whose documents must be in database. 0 or -1 with st. */
int emu_write_parse(const json_t *w, const char *database, emu_write *out, emu_status *st);
/* Parses a Precondition object into w. */
int emu_precondition_parse(const json_t *pc, emu_write *w, emu_status *st);
/* Parses a list of field path strings (a DocumentMask's fieldPaths). */
int emu_mask_parse(const json_t *paths, emu_fieldpath **out, int *n, emu_status *st);
/* Parses a DocumentMask object ({"fieldPaths": [...]}, or {} for no fields); what names
 * it in the error. */
int emu_mask_object_parse(const json_t *mask, const char *what, emu_fieldpath **out, int *n, emu_status *st);
void emu_mask_free(emu_fieldpath *paths, int n);
/* Parses a Document body ({"name"?,"fields"?,...}) into canonical fields. */
int emu_document_parse(const json_t *doc, json_t **fields, const char **name, emu_status *st);
void emu_write_clear(emu_write *w);

/* Applies w to cur at time now_us. On success next->text is the new canonical text
 * and next->fields a new reference to its tree, or NULL when a masked update or a
 * transform was applied to cur->text directly (both NULL after a delete), and
 * *results (when results != NULL) a JSON array of transform results, or NULL when
 * the write has no transforms. */
int emu_write_apply(const emu_write *w, const emu_docstate *cur, int64_t now_us, emu_docstate *next,
                    json_t **results, emu_status *st);

/* A write prepared before its commit time is known (outside the store's write lock),
 * in two steps that give what emu_write_apply() gives at that time:
 *   emu_write_prepare() applies w to cur; a REQUEST_TIME transform writes a
 *   placeholder for the time, and slots records where it sits in next->text.
 *   floor_us is a time the commit time will be greater than (the store's last
 *   commit time when cur was read). Returns 0 or -1 as emu_write_apply(), or 1 when
 *   the outcome depends on the commit time beyond the placeholders (a REQUEST_TIME
 *   field that holds a timestamp later than floor_us might keep its value, which
 *   would leave the document unchanged): then nothing is set and the write is to be
 *   applied by emu_write_apply() once the time is known.
 *   emu_write_finish(), at commit time now_us with cur the same version as
 *   prepared against: sets next's createTime and updateTime, writes the time over
 *   the placeholders (next->fields is then dropped: the text holds the document)
 *   and into results (the transform results emu_write_prepare returned). */
typedef struct {
    size_t *at;              /* offsets in next->text of the placeholders, ascending */
    int n;
} emu_timeslots;

int emu_write_prepare(const emu_write *w, const emu_docstate *cur, int64_t floor_us, emu_docstate *next,
                      json_t **results, emu_timeslots *slots, emu_status *st);
void emu_write_finish(const emu_write *w, const emu_docstate *cur, int64_t now_us, emu_docstate *next,
                      json_t *results, const emu_timeslots *slots);
void emu_timeslots_free(emu_timeslots *slots);

#endif
