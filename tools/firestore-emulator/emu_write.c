/* emu_write.c - parsing and applying one Write (see emu_write.h). */
#include "tools/firestore-emulator/emu_write.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/jbuf.h"
#include "common/json_tree.h"
#include "tools/firestore-emulator/emu_path.h"
#include "tools/firestore-emulator/emu_store.h"

int emu_known_keys(const json_t *obj, const char *const *allowed, const char *where, emu_status *st)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        bool ok = false;
        for (int i = 0; allowed[i] && !ok; i++)
            ok = strcmp(k, allowed[i]) == 0;
        if (!ok)
            return emu_fail(st, EMU_INVALID_ARGUMENT,
                            "Invalid JSON payload received. Unknown name \"%.100s\" at '%s': Cannot find field.", k, where);
    }
    return 0;
}

int emu_mask_object_parse(const json_t *mask, const char *what, emu_fieldpath **out, int *n, emu_status *st)
{
    const json_t *paths = json_object_get(mask, "fieldPaths");
    *out = NULL;
    *n = 0;
    if (!json_is_object(mask) || json_object_size(mask) != (paths != NULL))
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at '%s': expected {\"fieldPaths\":[...]}", what);
    return paths ? emu_mask_parse(paths, out, n, st) : 0; /* proto3 JSON leaves an empty list out */
}

int emu_mask_parse(const json_t *paths, emu_fieldpath **out, int *n, emu_status *st)
{
    *out = NULL;
    *n = 0;
    if (!json_is_array(paths))
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at 'mask.field_paths': expected a list of strings");
    size_t cnt = json_array_size(paths);
    emu_fieldpath *fp = calloc(cnt ? cnt : 1, sizeof *fp);
    for (size_t i = 0; i < cnt; i++) {
        const char *s = json_string_value(json_array_get(paths, i));
        if (!s) {
            emu_mask_free(fp, (int)i);
            return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at 'mask.field_paths': expected strings");
        }
        if (emu_fieldpath_parse(s, &fp[i], st) != 0) {
            emu_mask_free(fp, (int)i);
            return -1;
        }
    }
    *out = fp;
    *n = (int)cnt;
    return 0;
}

void emu_mask_free(emu_fieldpath *paths, int n)
{
    for (int i = 0; i < n; i++)
        emu_fieldpath_free(&paths[i]);
    free(paths);
}

int emu_precondition_parse(const json_t *pc, emu_write *w, emu_status *st)
{
    static const char *const keys[] = { "exists", "updateTime", NULL };
    if (!json_is_object(pc))
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at 'current_document': expected an object");
    if (emu_known_keys(pc, keys, "current_document", st) != 0)
        return -1;
    json_t *ex = json_object_get(pc, "exists"), *ut = json_object_get(pc, "updateTime");
    if (ex && ut)
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Precondition may set only one of exists and updateTime.");
    if (ex) {
        if (!json_is_boolean(ex))
            return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at 'current_document.exists': not a boolean");
        w->has_exists = true;
        w->exists = json_is_true(ex);
    }
    if (ut) {
        if (!json_is_string(ut) || emu_time_parse(json_string_value(ut), &w->update_time_us) != 0)
            return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at 'current_document.update_time': not a timestamp");
        w->has_update_time = true;
    }
    return 0;
}

int emu_document_parse(const json_t *doc, json_t **fields, const char **name, emu_status *st)
{
    static const char *const keys[] = { "name", "fields", "createTime", "updateTime", NULL };
    if (!json_is_object(doc))
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at 'document': expected an object");
    if (emu_known_keys(doc, keys, "document", st) != 0)
        return -1;
    json_t *n = json_object_get(doc, "name"), *f = json_object_get(doc, "fields");
    if (n && !json_is_string(n))
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at 'document.name': not a string");
    *name = n ? json_string_value(n) : NULL;
    if (!f) {
        *fields = json_object();
    } else if (emu_fields_decode(f, 1, "document.fields", fields, st) != 0) {
        return -1;
    }
    return 0;
}

static int emu_number_operand(const json_t *in, const char *what, json_t **out, emu_status *st)
{
    if (emu_value_decode(in, 1, what, out, st) != 0)
        return -1;
    emu_vkind k = emu_value_kind(*out);
    if (k != EMU_V_INT && k != EMU_V_DOUBLE) {
        json_decref(*out);
        *out = NULL;
        return emu_fail(st, EMU_INVALID_ARGUMENT, "'%s' needs an integer or double value", what);
    }
    return 0;
}

static int emu_array_operand(const json_t *in, const char *what, json_t **out, emu_status *st)
{
    json_t *wrapped = json_pack("{s:O}", "arrayValue", in), *v;
    int rc = emu_value_decode(wrapped, 1, what, &v, st);
    json_decref(wrapped);
    if (rc != 0)
        return -1;
    json_t *items = emu_value_array_items(v);
    *out = items ? json_incref(items) : json_array();
    json_decref(v);
    return 0;
}

static int emu_transform_parse(const json_t *t, emu_transform *tr, emu_status *st)
{
    static const char *const keys[] = { "fieldPath", "setToServerValue", "increment", "maximum", "minimum",
                                        "appendMissingElements", "removeAllFromArray", NULL };
    if (!json_is_object(t) || emu_known_keys(t, keys, "field_transforms", st) != 0)
        return json_is_object(t) ? -1 : emu_fail(st, EMU_INVALID_ARGUMENT, "A FieldTransform must be an object");
    if (json_object_size(t) != 2 || !json_is_string(json_object_get(t, "fieldPath")))
        return emu_fail(st, EMU_INVALID_ARGUMENT, "A FieldTransform needs a fieldPath and exactly one transformation");
    if (emu_fieldpath_parse(json_string_value(json_object_get(t, "fieldPath")), &tr->path, st) != 0)
        return -1;
    if (tr->path.n > EMU_MAX_DEPTH)
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Field path is deeper than %d levels", EMU_MAX_DEPTH);
    json_t *v;
    if ((v = json_object_get(t, "setToServerValue"))) {
        tr->kind = EMU_TR_SERVER_TIME;
        bool ok = (json_is_string(v) && strcmp(json_string_value(v), "REQUEST_TIME") == 0) ||
                  (json_is_integer(v) && json_integer_value(v) == 1);
        return ok ? 0 : emu_fail(st, EMU_INVALID_ARGUMENT, "setToServerValue must be REQUEST_TIME");
    }
    if ((v = json_object_get(t, "increment"))) {
        tr->kind = EMU_TR_INCREMENT;
        return emu_number_operand(v, "increment", &tr->operand, st);
    }
    if ((v = json_object_get(t, "maximum"))) {
        tr->kind = EMU_TR_MAXIMUM;
        return emu_number_operand(v, "maximum", &tr->operand, st);
    }
    if ((v = json_object_get(t, "minimum"))) {
        tr->kind = EMU_TR_MINIMUM;
        return emu_number_operand(v, "minimum", &tr->operand, st);
    }
    if ((v = json_object_get(t, "appendMissingElements"))) {
        tr->kind = EMU_TR_APPEND;
        return emu_array_operand(v, "append_missing_elements", &tr->operand, st);
    }
    v = json_object_get(t, "removeAllFromArray");
    tr->kind = EMU_TR_REMOVE;
    return emu_array_operand(v, "remove_all_from_array", &tr->operand, st);
}

static int emu_transforms_parse(const json_t *list, emu_write *w, emu_status *st)
{
    if (!json_is_array(list))
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at 'update_transforms': expected a list");
    size_t n = json_array_size(list);
    w->tr = calloc(n ? n : 1, sizeof *w->tr);
    for (size_t i = 0; i < n; i++) {
        w->ntr = (int)i + 1;
        if (emu_transform_parse(json_array_get(list, i), &w->tr[i], st) != 0)
            return -1;
        for (size_t j = 0; j < i; j++) {
            if (emu_fieldpath_prefix(&w->tr[j].path, &w->tr[i].path) ||
                emu_fieldpath_prefix(&w->tr[i].path, &w->tr[j].path))
                return emu_fail(st, EMU_INVALID_ARGUMENT, "A field may be transformed only once per write.");
        }
    }
    return 0;
}

static int emu_write_parse_update(const json_t *w, const char *database, emu_write *out, emu_status *st)
{
    const char *name;
    out->op = EMU_WRITE_UPDATE;
    if (emu_document_parse(json_object_get(w, "update"), &out->fields, &name, st) != 0)
        return -1;
    if (!name)
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Write.update needs a document name.");
    if (emu_name_check_document(name, database, st) != 0)
        return -1;
    out->name = strdup(name);
    json_t *mask = json_object_get(w, "updateMask");
    if (mask) {
        if (emu_mask_object_parse(mask, "update_mask", &out->mask, &out->nmask, st) != 0)
            return -1;
        out->has_mask = true;
    }
    json_t *tr = json_object_get(w, "updateTransforms");
    return tr ? emu_transforms_parse(tr, out, st) : 0;
}

static int emu_write_parse_transform(const json_t *t, const char *database, emu_write *out, emu_status *st)
{
    static const char *const keys[] = { "document", "fieldTransforms", NULL };
    out->op = EMU_WRITE_TRANSFORM;
    if (!json_is_object(t) || emu_known_keys(t, keys, "transform", st) != 0)
        return json_is_object(t) ? -1 : emu_fail(st, EMU_INVALID_ARGUMENT, "Write.transform must be an object");
    const char *name = json_string_value(json_object_get(t, "document"));
    if (!name || emu_name_check_document(name, database, st) != 0)
        return name ? -1 : emu_fail(st, EMU_INVALID_ARGUMENT, "Write.transform needs a document name.");
    out->name = strdup(name);
    json_t *list = json_object_get(t, "fieldTransforms");
    if (!list)
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Write.transform needs fieldTransforms.");
    return emu_transforms_parse(list, out, st);
}

int emu_write_parse(const json_t *w, const char *database, emu_write *out, emu_status *st)
{
    static const char *const keys[] = { "update", "delete", "transform", "updateMask", "updateTransforms",
                                        "currentDocument", NULL };
    memset(out, 0, sizeof *out);
    if (!json_is_object(w))
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at 'writes': a Write must be an object");
    if (emu_known_keys(w, keys, "writes", st) != 0)
        return -1;
    json_t *up = json_object_get(w, "update"), *del = json_object_get(w, "delete"), *tr = json_object_get(w, "transform");
    if ((up != NULL) + (del != NULL) + (tr != NULL) != 1)
        return emu_fail(st, EMU_INVALID_ARGUMENT, "A Write needs exactly one of update, delete and transform.");
    if (!up && (json_object_get(w, "updateMask") || json_object_get(w, "updateTransforms")))
        return emu_fail(st, EMU_INVALID_ARGUMENT, "updateMask and updateTransforms are only allowed with update.");
    json_t *pc = json_object_get(w, "currentDocument");
    if (pc && emu_precondition_parse(pc, out, st) != 0)
        return -1;
    if (up)
        return emu_write_parse_update(w, database, out, st);
    if (tr)
        return emu_write_parse_transform(tr, database, out, st);
    out->op = EMU_WRITE_DELETE;
    if (!json_is_string(del) || emu_name_check_document(json_string_value(del), database, st) != 0)
        return json_is_string(del) ? -1 : emu_fail(st, EMU_INVALID_ARGUMENT, "Write.delete must be a document name.");
    out->name = strdup(json_string_value(del));
    return 0;
}

void emu_write_clear(emu_write *w)
{
    free(w->name);
    json_decref(w->fields);
    emu_mask_free(w->mask, w->nmask);
    for (int i = 0; i < w->ntr; i++) {
        emu_fieldpath_free(&w->tr[i].path);
        json_decref(w->tr[i].operand);
    }
    free(w->tr);
    memset(w, 0, sizeof *w);
}

/* ---------- applying ---------- */

static int emu_check_precondition(const emu_write *w, const emu_docstate *cur, emu_status *st)
{
    if (w->has_exists && w->exists && !cur->exists)
        return emu_fail(st, EMU_NOT_FOUND, "No document to update: %s", w->name);
    if (w->has_exists && !w->exists && cur->exists)
        return emu_fail(st, EMU_ALREADY_EXISTS, "Document already exists: %s", w->name);
    if (w->has_update_time && (!cur->exists || cur->update_us != w->update_time_us))
        /* Firestore's words, versions in microseconds, 0 for no document */
        return emu_fail(st, EMU_FAILED_PRECONDITION,
                        "the stored version (%" PRId64 ") does not match the required base version (%" PRId64 ")",
                        cur->exists ? cur->update_us : 0, w->update_time_us);
    return 0;
}

static bool emu_is_number(const json_t *v)
{
    emu_vkind k = emu_value_kind(v);
    return v && (k == EMU_V_INT || k == EMU_V_DOUBLE);
}

static json_t *emu_increment(const json_t *prev, const json_t *op)
{
    if (!emu_is_number(prev))
        return json_incref((json_t *)op);
    if (emu_value_kind(prev) == EMU_V_INT && emu_value_kind(op) == EMU_V_INT) {
        int64_t a = emu_value_get_int(prev), b = emu_value_get_int(op), r;
        if (__builtin_add_overflow(a, b, &r))
            r = b > 0 ? INT64_MAX : INT64_MIN; /* Firestore saturates */
        return emu_value_int(r);
    }
    return emu_value_double(emu_value_get_double(prev) + emu_value_get_double(op));
}

/* maximum (sign 1) / minimum (sign -1): equal values keep the stored one; NaN wins. */
static json_t *emu_extreme(const json_t *prev, const json_t *op, int sign)
{
    if (!emu_is_number(prev))
        return json_incref((json_t *)op);
    bool pnan = emu_value_kind(prev) == EMU_V_DOUBLE && isnan(emu_value_get_double(prev));
    bool onan = emu_value_kind(op) == EMU_V_DOUBLE && isnan(emu_value_get_double(op));
    if (pnan || onan)
        return json_incref((json_t *)(pnan ? prev : op));
    int c = emu_value_compare(op, prev) * sign;
    return json_incref((json_t *)(c > 0 ? op : prev));
}

static bool emu_array_contains(const json_t *arr, const json_t *v)
{
    size_t i;
    json_t *el;
    json_array_foreach(arr, i, el) {
        if (emu_value_equal(el, v))
            return true;
    }
    return false;
}

static json_t *emu_array_union(const json_t *prev, const json_t *ops)
{
    json_t *items = emu_value_array_items(prev);
    json_t *out = items ? json_copy(items) : json_array();
    size_t i;
    json_t *el;
    json_array_foreach(ops, i, el) {
        if (!emu_array_contains(out, el))
            json_array_append(out, el);
    }
    return emu_value_array(out);
}

static json_t *emu_array_remove(const json_t *prev, const json_t *ops)
{
    json_t *items = emu_value_array_items(prev), *out = json_array();
    size_t i;
    json_t *el;
    json_array_foreach(items, i, el) {
        if (!emu_array_contains(ops, el))
            json_array_append(out, el);
    }
    return emu_value_array(out);
}

/* ---------- the commit time, when it is not known yet ----------
 *
 * emu_write_prepare() applies a write with EMU_NOW_SLOT for the commit time: a
 * REQUEST_TIME transform then sets {"timestampValue":EMU_SLOT}, a string no stored
 * timestamp can hold (they are digits, as emu_time_format writes them) and as long
 * as the longest one, so the document's size only shrinks when the time replaces it.
 * In compact JSON the bytes "timestampValue":"EMU_SLOT" can only be such a value: a
 * quote inside a string or key is escaped, and a Value's key is followed by a
 * string only for a timestamp. */
#define EMU_NOW_SLOT INT64_MIN /* no valid time (years 0001..9999) */
#define EMU_SLOT "~~~~-~~-~~T~~:~~:~~.~~~~~~Z"
#define EMU_SLOT_LEN (sizeof EMU_SLOT - 1)
#define EMU_SLOT_MARK "\"timestampValue\":\"" EMU_SLOT

/* Applies one transform inside fields (owned); returns its result value. */
static json_t *emu_transform_apply(const emu_transform *t, json_t *fields, int64_t now_us)
{
    json_t *prev = emu_fields_lookup(fields, &t->path), *nv, *result;
    switch (t->kind) {
    case EMU_TR_SERVER_TIME:
        nv = now_us == EMU_NOW_SLOT ? json_pack("{s:s}", "timestampValue", EMU_SLOT) : emu_value_timestamp(now_us);
        break;
    case EMU_TR_INCREMENT: nv = emu_increment(prev, t->operand); break;
    case EMU_TR_MAXIMUM: nv = emu_extreme(prev, t->operand, 1); break;
    case EMU_TR_MINIMUM: nv = emu_extreme(prev, t->operand, -1); break;
    case EMU_TR_APPEND: nv = emu_array_union(prev, t->operand); break;
    default: nv = emu_array_remove(prev, t->operand); break;
    }
    bool array_op = t->kind == EMU_TR_APPEND || t->kind == EMU_TR_REMOVE;
    result = array_op ? emu_value_null() : json_incref(nv);
    emu_fields_set(fields, &t->path, nv);
    json_decref(nv);
    return result;
}

/* The current fields as an object the caller owns (parsed from text if needed). */
static json_t *emu_current_fields(const emu_docstate *cur)
{
    if (!cur->exists)
        return json_object();
    if (cur->fields)
        return json_copy(cur->fields);
    json_t *f = cur->text ? json_tree_load(cur->text, strlen(cur->text), 0, NULL) : NULL;
    return f ? f : json_object();
}

static json_t *emu_updated_fields(const emu_write *w, const emu_docstate *cur)
{
    if (w->op == EMU_WRITE_UPDATE && !w->has_mask)
        return json_copy(w->fields);
    json_t *base = emu_current_fields(cur);
    for (int i = 0; w->op == EMU_WRITE_UPDATE && i < w->nmask; i++)
        emu_fields_set(base, &w->mask[i], emu_fields_lookup(w->fields, &w->mask[i]));
    return base;
}

/* ---------- masked updates and transforms on stored text ----------
 *
 * A masked update or a transform touches a few top-level fields; the rest of the
 * stored document stays as it is. Parsing the whole stored text into a tree and
 * writing it all back was most of a write's cost, so when the current document is
 * text, only the top-level fields that a mask path or a transform starts with are
 * worked on as JSON (and only parsed when their old value matters: a deeper path,
 * or a transform that reads it); the others are copied as text. The new text keeps
 * the stored field order, new fields after it, as the tree path does. */

typedef struct {
    const char *key;     /* a first path segment */
    int at;              /* its entry in the stored text, -1 when absent */
    bool need_old;       /* its old value decides the result */
} emu_touched;

static int emu_touch(emu_touched *t, int n, const emu_fieldpath *fp, bool reads_old, const emu_text_field *tf, int nf)
{
    const char *key = fp->seg[0];
    int i = 0;
    while (i < n && strcmp(t[i].key, key) != 0)
        i++;
    if (i == n)
        t[n++] = (emu_touched){ key, emu_text_field_find(tf, nf, key, strlen(key)), false };
    if (fp->n > 1 || reads_old)
        t[i].need_old = true;
    return n;
}

/* The document after an applied write: fields (or NULL) and text are its own; an
 * unchanged document keeps its update time. The transform results go to *results. */
static void emu_docstate_set(emu_docstate *next, const emu_docstate *cur, json_t *fields, char *text, bool same,
                             int64_t now_us, json_t *res, json_t **results)
{
    next->exists = true;
    next->fields = fields;
    next->text = text;
    next->create_us = cur->exists ? cur->create_us : now_us;
    next->unchanged = same;
    next->update_us = same ? cur->update_us : now_us;
    if (results)
        *results = res;
    else
        json_decref(res);
}

/* Whether a stored Value's text and a new Value are the same value: equal values
 * have texts of equal length (only key order may differ). */
static bool emu_value_text_same(const char *old, size_t olen, const char *new_text, size_t nlen, const json_t *nv)
{
    if (olen != nlen)
        return false;
    if (memcmp(old, new_text, olen) == 0)
        return true;
    json_t *o = json_tree_load(old, olen, 0, NULL);
    bool same = o && json_equal(o, nv);
    json_decref(o);
    return same;
}

/* Whether a REQUEST_TIME transform of w might set a value the document (old, its
 * fields) already holds, at a commit time greater than floor_us: only when the
 * stored value at its path is a timestamp later than floor_us. Otherwise such a
 * write always changes the document. */
static bool emu_time_may_be_now(const emu_write *w, const json_t *old, int64_t floor_us)
{
    for (int i = 0; i < w->ntr; i++) {
        if (w->tr[i].kind != EMU_TR_SERVER_TIME)
            continue;
        json_t *prev = emu_fields_lookup(old, &w->tr[i].path);
        int64_t us;
        if (emu_value_kind(prev) == EMU_V_TIMESTAMP &&
            (emu_time_parse(json_string_value(json_object_get(prev, "timestampValue")), &us) != 0 || us > floor_us))
            return true;
    }
    return false;
}

/* 1: applied (next->text set, next->fields NULL); 0: the text is not in the form
 * this needs (the caller takes the tree path); -1: failed with st; 2: now_us is
 * EMU_NOW_SLOT and the write needs the commit time itself (emu_time_may_be_now). */
/* Firestore's answer to a document over 1 MiB. */
static int emu_too_big(emu_status *st, size_t size)
{
    return emu_fail(st, EMU_INVALID_ARGUMENT,
                    "Document cannot be written because its size (%zu bytes) exceeds the maximum allowed size of "
                    "1,048,576 bytes.",
                    size);
}

static int emu_apply_text(const emu_write *w, const emu_docstate *cur, int64_t now_us, int64_t floor_us,
                          emu_docstate *next, json_t **results, emu_status *st)
{
    bool slot = now_us == EMU_NOW_SLOT;
    const char *text = cur->exists ? cur->text : "{}";
    emu_text_field *tf;
    int nf = emu_text_fields(text, &tf);
    if (nf < 0) {
        free(tf);
        return 0;
    }
    int nmask = w->op == EMU_WRITE_UPDATE ? w->nmask : 0, nt = 0;
    emu_touched *t = malloc((size_t)(nmask + w->ntr + 1) * sizeof *t);
    for (int i = 0; i < nmask; i++)
        nt = emu_touch(t, nt, &w->mask[i], false, tf, nf);
    for (int i = 0; i < w->ntr; i++)
        nt = emu_touch(t, nt, &w->tr[i].path, w->tr[i].kind != EMU_TR_SERVER_TIME || slot, tf, nf);

    json_t *part = json_object();
    for (int i = 0; i < nt; i++) {
        if (t[i].at >= 0 && t[i].need_old) {
            json_t *old = json_tree_load(tf[t[i].at].val, tf[t[i].at].vlen, 0, NULL);
            if (old)
                json_object_set_new(part, t[i].key, old);
        }
    }
    if (slot && emu_time_may_be_now(w, part, floor_us)) {
        json_decref(part);
        free(t);
        free(tf);
        return 2;
    }
    for (int i = 0; i < nmask; i++)
        emu_fields_set(part, &w->mask[i], emu_fields_lookup(w->fields, &w->mask[i]));
    json_t *res = w->ntr ? json_array() : NULL;
    for (int i = 0; i < w->ntr; i++)
        json_array_append_new(res, emu_transform_apply(&w->tr[i], part, now_us));

    /* the new text: stored order, touched fields replaced or dropped, new ones last */
    jbuf o = { 0 };
    jbuf_reserve(&o, strlen(text) + 256);
    bool same = cur->exists;
    jbuf_putc(&o, '{');
    for (int e = 0; e < nf; e++) {
        int k = 0;
        while (k < nt && t[k].at != e)
            k++;
        if (k == nt) {
            if (o.len > 1)
                jbuf_putc(&o, ',');
            jbuf_put(&o, tf[e].entry, (size_t)(tf[e].val + tf[e].vlen - tf[e].entry));
            continue;
        }
        json_t *nv = json_object_get(part, t[k].key);
        if (!nv) {
            same = false;
            continue;
        }
        if (o.len > 1)
            jbuf_putc(&o, ',');
        jbuf_put(&o, tf[e].entry, (size_t)(tf[e].val - tf[e].entry));
        size_t at = o.len;
        json_tree_dump(&o, nv);
        if (same && !emu_value_text_same(tf[e].val, tf[e].vlen, o.data + at, o.len - at, nv))
            same = false;
    }
    for (int k = 0; k < nt; k++) {
        json_t *nv = t[k].at < 0 ? json_object_get(part, t[k].key) : NULL;
        if (!nv)
            continue;
        same = false;
        if (o.len > 1)
            jbuf_putc(&o, ',');
        jbuf_str(&o, t[k].key, strlen(t[k].key));
        jbuf_putc(&o, ':');
        json_tree_dump(&o, nv);
    }
    jbuf_putc(&o, '}');
    jbuf_cstr(&o); /* stored as text */
    json_decref(part);
    free(t);
    free(tf);

    /* the text is never shorter than the size Firestore counts: exact size only near the limit */
    size_t size = emu_doc_name_size(w->name) + 32 + o.len;
    if (size > EMU_MAX_DOC_SIZE) {
        json_t *all = json_tree_load(o.data, o.len, 0, NULL);
        size = all ? emu_document_size(w->name, all) : size;
        json_decref(all);
    }
    if (size > EMU_MAX_DOC_SIZE) {
        free(o.data);
        json_decref(res);
        return emu_too_big(st, size);
    }
    emu_docstate_set(next, cur, NULL, o.data, same, now_us, res, results);
    return 1;
}

/* emu_write_apply at now_us, which may be EMU_NOW_SLOT (then floor_us is a time the
 * commit time will be greater than); 1: needs the commit time itself. */
static int emu_write_apply_at(const emu_write *w, const emu_docstate *cur, int64_t now_us, int64_t floor_us,
                              emu_docstate *next, json_t **results, emu_status *st)
{
    memset(next, 0, sizeof *next);
    if (results)
        *results = NULL;
    if (emu_check_precondition(w, cur, st) != 0)
        return -1;
    if (w->op == EMU_WRITE_DELETE)
        return 0;
    bool masked = w->op == EMU_WRITE_TRANSFORM || w->has_mask;
    if (masked && !cur->fields && (cur->text || !cur->exists)) {
        int rc = emu_apply_text(w, cur, now_us, floor_us, next, results, st);
        if (rc != 0)
            return rc < 0 ? -1 : rc == 2 ? 1 : 0;
    }
    if (now_us == EMU_NOW_SLOT && cur->exists) {
        json_t *old = cur->fields ? json_incref(cur->fields) : cur->text ? json_tree_load(cur->text, strlen(cur->text), 0, NULL) : NULL;
        bool may = !old || emu_time_may_be_now(w, old, floor_us);
        json_decref(old);
        if (may)
            return 1;
    }
    json_t *fields = emu_updated_fields(w, cur);
    json_t *res = w->ntr ? json_array() : NULL;
    for (int i = 0; i < w->ntr; i++)
        json_array_append_new(res, emu_transform_apply(&w->tr[i], fields, now_us));
    size_t size = emu_document_size(w->name, fields);
    if (size > EMU_MAX_DOC_SIZE) {
        json_decref(fields);
        json_decref(res);
        return emu_too_big(st, size);
    }
    char *text = emu_fields_text(fields);
    bool same = cur->exists && (cur->text ? emu_fields_same(cur->text, text, fields) : json_equal(cur->fields, fields));
    emu_docstate_set(next, cur, fields, text, same, now_us, res, results);
    return 0;
}

int emu_write_apply(const emu_write *w, const emu_docstate *cur, int64_t now_us, emu_docstate *next,
                    json_t **results, emu_status *st)
{
    return emu_write_apply_at(w, cur, now_us, 0, next, results, st);
}

static bool emu_uses_commit_time(const emu_write *w)
{
    for (int i = 0; i < w->ntr; i++) {
        if (w->tr[i].kind == EMU_TR_SERVER_TIME)
            return true;
    }
    return false;
}

int emu_write_prepare(const emu_write *w, const emu_docstate *cur, int64_t floor_us, emu_docstate *next,
                      json_t **results, emu_timeslots *slots, emu_status *st)
{
    memset(slots, 0, sizeof *slots);
    if (!emu_uses_commit_time(w))
        return emu_write_apply_at(w, cur, 0, 0, next, results, st);
    json_t *res = NULL;
    int rc = emu_write_apply_at(w, cur, EMU_NOW_SLOT, floor_us, next, &res, st);
    if (rc == 0 && next->exists) {
        /* where the placeholders sit: exactly one per REQUEST_TIME transform */
        int want = 0;
        for (int i = 0; i < w->ntr; i++)
            want += w->tr[i].kind == EMU_TR_SERVER_TIME;
        slots->at = malloc((size_t)want * sizeof *slots->at);
        const char *p = next->text;
        while ((p = strstr(p, EMU_SLOT_MARK)) != NULL) {
            if (slots->n == want) {
                slots->n++;
                break;
            }
            p += sizeof EMU_SLOT_MARK - 1 - EMU_SLOT_LEN;
            slots->at[slots->n++] = (size_t)(p - next->text);
            p += EMU_SLOT_LEN;
        }
        /* the write was no change only if every placeholder stood for an old value */
        if (slots->n != want || next->unchanged) {
            emu_timeslots_free(slots);
            json_decref(next->fields);
            free(next->text);
            memset(next, 0, sizeof *next);
            json_decref(res);
            res = NULL;
            rc = 1;
        }
    }
    if (results)
        *results = res;
    else
        json_decref(res);
    return rc;
}

void emu_write_finish(const emu_write *w, const emu_docstate *cur, int64_t now_us, emu_docstate *next,
                      json_t *results, const emu_timeslots *slots)
{
    if (next->exists) {
        next->create_us = cur->exists ? cur->create_us : now_us;
        next->update_us = cur->exists && next->unchanged ? cur->update_us : now_us;
    }
    if (slots->n == 0)
        return;
    char ts[40];
    emu_time_format(now_us, ts, sizeof ts);
    size_t tl = strlen(ts);
    if (tl == EMU_SLOT_LEN) {
        for (int i = 0; i < slots->n; i++)
            memcpy(next->text + slots->at[i], ts, tl);
    } else {
        size_t len = strlen(next->text), cut = EMU_SLOT_LEN - tl, from = 0, to = 0;
        char *out = malloc(len - (size_t)slots->n * cut + 1);
        for (int i = 0; i < slots->n; i++) {
            memcpy(out + to, next->text + from, slots->at[i] - from);
            to += slots->at[i] - from;
            memcpy(out + to, ts, tl);
            to += tl;
            from = slots->at[i] + EMU_SLOT_LEN;
        }
        memcpy(out + to, next->text + from, len - from + 1);
        free(next->text);
        next->text = out;
    }
    /* the tree still holds the placeholders; readers parse the text instead */
    json_decref(next->fields);
    next->fields = NULL;
    for (int i = 0; results && i < w->ntr; i++) {
        if (w->tr[i].kind == EMU_TR_SERVER_TIME)
            json_array_set_new(results, (size_t)i, emu_value_timestamp(now_us));
    }
}

void emu_timeslots_free(emu_timeslots *slots)
{
    free(slots->at);
    memset(slots, 0, sizeof *slots);
}
