/* emu_query.c - :runQuery (StructuredQuery over one collection or a collection
 * group) and the list call, which is the same scan with pagination.
 *
 * A query walks the store from "<parent>/<collectionId>/" (all descendants: from
 * "<parent>/"), keeps the documents its filter matches, sorts them by the orderBy
 * fields with __name__ last (an inequality field is ordered first when no orderBy
 * is given, as Firestore does; documents lacking an orderBy field are left out),
 * applies the startAt/endAt cursors, offset and limit, and projects select. Range
 * filters match only values of the same type, as in Firestore. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tools/firestore-emulator/emu_api.h"
#include "tools/firestore-emulator/emu_path.h"

enum { EMU_F_FIELD, EMU_F_UNARY, EMU_F_AND, EMU_F_OR };
enum { EMU_OP_LT = 1, EMU_OP_LTE, EMU_OP_GT, EMU_OP_GTE, EMU_OP_EQ, EMU_OP_NEQ, EMU_OP_AC, EMU_OP_IN, EMU_OP_ACA, EMU_OP_NIN };
enum { EMU_UOP_IS_NAN = 2, EMU_UOP_IS_NULL = 3, EMU_UOP_IS_NOT_NAN = 4, EMU_UOP_IS_NOT_NULL = 5 };

static const char *const emu_field_ops[] = { "", "LESS_THAN", "LESS_THAN_OR_EQUAL", "GREATER_THAN",
                                             "GREATER_THAN_OR_EQUAL", "EQUAL", "NOT_EQUAL", "ARRAY_CONTAINS",
                                             "IN", "ARRAY_CONTAINS_ANY", "NOT_IN", NULL };
static const char *const emu_unary_ops[] = { "", "", "IS_NAN", "IS_NULL", "IS_NOT_NAN", "IS_NOT_NULL", NULL };
static const char *const emu_composite_ops[] = { "", "AND", "OR", NULL };
static const char *const emu_directions[] = { "", "ASCENDING", "DESCENDING", NULL };

typedef struct {
    emu_fieldpath path;
    bool is_name; /* __name__ */
} emu_fieldref;

typedef struct emu_filter {
    int kind;
    emu_fieldref field;
    int op;
    json_t *value;
    struct emu_filter *subs;
    int nsubs;
} emu_filter;

typedef struct {
    emu_fieldref field;
    bool desc;
} emu_order;

typedef struct {
    json_t *values; /* JSON array of canonical Values, NULL when unset */
    bool before;
} emu_cursor;

typedef struct {
    char collection[EMU_MAX_ID + 1];
    bool all_descendants;
    emu_filter *where;
    emu_order *order;
    int norder;
    emu_cursor start, end;
    long long offset, limit; /* limit < 0: none */
    emu_fieldpath *select;
    int nselect;             /* -1: no projection */
} emu_query;

/* ---------- parsing ---------- */

/* An enum given by name or by number (enum-encoding=int). */
static int emu_enum(const json_t *v, const char *const *names, int *out)
{
    for (int i = 1; names[i]; i++) {
        if ((json_is_string(v) && strcmp(json_string_value(v), names[i]) == 0) ||
            (json_is_integer(v) && json_integer_value(v) == i && names[i][0])) {
            *out = i;
            return 0;
        }
    }
    return -1;
}

static int emu_fieldref_parse(const json_t *ref, emu_fieldref *out, emu_status *st)
{
    const char *p = json_string_value(json_object_get(ref, "fieldPath"));
    memset(out, 0, sizeof *out);
    if (!p)
        return emu_fail(st, EMU_INVALID_ARGUMENT, "A field reference needs a fieldPath.");
    if (strcmp(p, "__name__") == 0) {
        out->is_name = true;
        return 0;
    }
    return emu_fieldpath_parse(p, &out->path, st);
}

static void emu_filter_clear(emu_filter *f)
{
    emu_fieldpath_free(&f->field.path);
    json_decref(f->value);
    for (int i = 0; i < f->nsubs; i++)
        emu_filter_clear(&f->subs[i]);
    free(f->subs);
}

static int emu_filter_parse(const json_t *in, emu_filter *f, int depth, emu_status *st);

static int emu_field_filter_parse(const json_t *ff, emu_filter *f, emu_status *st)
{
    f->kind = EMU_F_FIELD;
    if (emu_enum(json_object_get(ff, "op"), emu_field_ops, &f->op) != 0)
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at 'field_filter.op'");
    if (emu_fieldref_parse(json_object_get(ff, "field"), &f->field, st) != 0)
        return -1;
    json_t *v = json_object_get(ff, "value");
    if (!v || emu_value_decode(v, 1, "field_filter.value", &f->value, st) != 0)
        return v ? -1 : emu_fail(st, EMU_INVALID_ARGUMENT, "A field filter needs a value.");
    bool list_op = f->op == EMU_OP_IN || f->op == EMU_OP_NIN || f->op == EMU_OP_ACA;
    if (list_op && json_array_size(emu_value_array_items(f->value)) == 0)
        return emu_fail(st, EMU_INVALID_ARGUMENT, "%s needs a non-empty arrayValue.", emu_field_ops[f->op]);
    if (f->field.is_name && !list_op && emu_value_kind(f->value) != EMU_V_REF)
        return emu_fail(st, EMU_INVALID_ARGUMENT, "A filter on __name__ must use a referenceValue.");
    return 0;
}

static int emu_filter_parse(const json_t *in, emu_filter *f, int depth, emu_status *st)
{
    json_t *x;
    memset(f, 0, sizeof *f);
    if (depth > 16 || !json_is_object(in) || json_object_size(in) != 1)
        return emu_fail(st, EMU_INVALID_ARGUMENT, "A filter needs exactly one of fieldFilter, unaryFilter, compositeFilter.");
    if ((x = json_object_get(in, "fieldFilter")))
        return emu_field_filter_parse(x, f, st);
    if ((x = json_object_get(in, "unaryFilter"))) {
        f->kind = EMU_F_UNARY;
        if (emu_enum(json_object_get(x, "op"), emu_unary_ops, &f->op) != 0)
            return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at 'unary_filter.op'");
        return emu_fieldref_parse(json_object_get(x, "field"), &f->field, st);
    }
    if (!(x = json_object_get(in, "compositeFilter")))
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Unknown filter kind.");
    int op;
    json_t *subs = json_object_get(x, "filters");
    if (emu_enum(json_object_get(x, "op"), emu_composite_ops, &op) != 0 || !json_is_array(subs))
        return emu_fail(st, EMU_INVALID_ARGUMENT, "A composite filter needs op AND or OR and filters.");
    f->kind = op == 1 ? EMU_F_AND : EMU_F_OR;
    f->subs = calloc(json_array_size(subs) + 1, sizeof *f->subs);
    for (size_t i = 0; i < json_array_size(subs); i++) {
        f->nsubs = (int)i + 1;
        if (emu_filter_parse(json_array_get(subs, i), &f->subs[i], depth + 1, st) != 0)
            return -1;
    }
    return 0;
}

static bool emu_is_inequality(int op)
{
    return op == EMU_OP_LT || op == EMU_OP_LTE || op == EMU_OP_GT || op == EMU_OP_GTE || op == EMU_OP_NEQ ||
           op == EMU_OP_NIN;
}

/* Segment by segment: 0 when equal, else the order of the first difference. */
static int emu_fieldpath_cmp(const emu_fieldpath *a, const emu_fieldpath *b)
{
    for (int i = 0; i < a->n && i < b->n; i++) {
        int c = strcmp(a->seg[i], b->seg[i]);
        if (c)
            return c;
    }
    return (a->n > b->n) - (a->n < b->n);
}

/* The fields the filter compares with an inequality (not __name__), each once. */
static void emu_inequalities(const emu_filter *f, const emu_fieldref **out, int *n, int cap)
{
    if (!f)
        return;
    if (f->kind == EMU_F_FIELD) {
        if (!emu_is_inequality(f->op) || f->field.is_name || *n == cap)
            return;
        for (int i = 0; i < *n; i++)
            if (emu_fieldpath_cmp(&out[i]->path, &f->field.path) == 0)
                return;
        out[(*n)++] = &f->field;
        return;
    }
    for (int i = 0; i < f->nsubs; i++)
        emu_inequalities(&f->subs[i], out, n, cap);
}

static int emu_filter_count(const emu_filter *f)
{
    int n = f ? 1 : 0;
    for (int i = 0; f && i < f->nsubs; i++)
        n += emu_filter_count(&f->subs[i]);
    return n;
}

static int emu_fieldref_ptr_cmp(const void *a, const void *b)
{
    return emu_fieldpath_cmp(&(*(const emu_fieldref *const *)a)->path, &(*(const emu_fieldref *const *)b)->path);
}

static void emu_fieldref_copy(emu_fieldref *dst, const emu_fieldref *src)
{
    dst->is_name = src->is_name;
    emu_fieldpath_copy(&dst->path, &src->path);
}

static int emu_order_parse(const json_t *list, emu_query *q, emu_status *st)
{
    size_t n = json_array_size(list);
    int cap = emu_filter_count(q->where);
    q->order = calloc(n + (size_t)cap + 1, sizeof *q->order);
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(list, i), *dir = json_object_get(o, "direction");
        int d = 1;
        if (dir && emu_enum(dir, emu_directions, &d) != 0)
            return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at 'order_by.direction'");
        q->norder = (int)i + 1;
        q->order[i].desc = d == 2;
        if (emu_fieldref_parse(json_object_get(o, "field"), &q->order[i].field, st) != 0)
            return -1;
    }
    /* StructuredQuery.orderBy: the fields of inequality filters not ordered already are
     * appended in the order of their names, with the last order's direction */
    const emu_fieldref **ineq = calloc(cap ? (size_t)cap : 1, sizeof *ineq);
    int nineq = 0, given = q->norder;
    emu_inequalities(q->where, ineq, &nineq, cap);
    qsort(ineq, (size_t)nineq, sizeof *ineq, emu_fieldref_ptr_cmp);
    for (int i = 0; i < nineq; i++) {
        bool ordered = false;
        for (int k = 0; k < given && !ordered; k++)
            ordered = !q->order[k].field.is_name && emu_fieldpath_cmp(&q->order[k].field.path, &ineq[i]->path) == 0;
        if (ordered)
            continue;
        q->order[q->norder].desc = q->norder > 0 && q->order[q->norder - 1].desc;
        emu_fieldref_copy(&q->order[q->norder++].field, ineq[i]);
    }
    free(ineq);
    if (q->norder == 0 || !q->order[q->norder - 1].field.is_name) {
        q->order[q->norder].field.is_name = true;
        q->order[q->norder].desc = q->norder > 0 && q->order[q->norder - 1].desc;
        q->norder++;
    }
    return 0;
}

static int emu_cursor_parse(const json_t *c, emu_cursor *cur, emu_status *st)
{
    if (!c)
        return 0;
    json_t *vals = json_object_get(c, "values"), *before = json_object_get(c, "before");
    if (!json_is_array(vals))
        return emu_fail(st, EMU_INVALID_ARGUMENT, "A cursor needs values.");
    cur->values = json_array();
    cur->before = json_is_true(before);
    size_t i;
    json_t *v;
    json_array_foreach(vals, i, v) {
        json_t *cv;
        if (emu_value_decode(v, 1, "cursor.values", &cv, st) != 0)
            return -1;
        json_array_append_new(cur->values, cv);
    }
    return 0;
}

static int emu_limit_parse(const json_t *v, long long *out, emu_status *st)
{
    if (json_is_object(v))
        v = json_object_get(v, "value");
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return emu_fail(st, EMU_INVALID_ARGUMENT, "limit and offset must be non-negative integers.");
    *out = json_integer_value(v);
    return 0;
}

static int emu_select_parse(const json_t *sel, emu_query *q, emu_status *st)
{
    json_t *fields = json_object_get(sel, "fields");
    size_t n = json_array_size(fields);
    q->select = calloc(n + 1, sizeof *q->select);
    q->nselect = 0;
    for (size_t i = 0; i < n; i++) {
        emu_fieldref r;
        if (emu_fieldref_parse(json_array_get(fields, i), &r, st) != 0)
            return -1;
        if (!r.is_name)
            q->select[q->nselect++] = r.path;
    }
    return 0;
}

static void emu_query_clear(emu_query *q)
{
    if (q->where) {
        emu_filter_clear(q->where);
        free(q->where);
    }
    for (int i = 0; i < q->norder; i++)
        emu_fieldpath_free(&q->order[i].field.path);
    free(q->order);
    json_decref(q->start.values);
    json_decref(q->end.values);
    if (q->select)
        emu_mask_free(q->select, q->nselect);
}

static int emu_query_parse(const json_t *sq, emu_query *q, emu_status *st)
{
    memset(q, 0, sizeof *q);
    q->limit = -1;
    q->nselect = -1;
    json_t *from = json_object_get(sq, "from");
    if (!json_is_object(sq) || json_array_size(from) != 1)
        return emu_fail(st, EMU_INVALID_ARGUMENT, "A structuredQuery needs exactly one 'from' collection.");
    json_t *sel = json_array_get(from, 0);
    const char *cid = json_string_value(json_object_get(sel, "collectionId"));
    if (!cid || !*cid || strlen(cid) > EMU_MAX_ID || strchr(cid, '/'))
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid collectionId in 'from'.");
    snprintf(q->collection, sizeof q->collection, "%s", cid);
    q->all_descendants = json_is_true(json_object_get(sel, "allDescendants"));
    json_t *w = json_object_get(sq, "where");
    if (w) {
        q->where = calloc(1, sizeof *q->where);
        if (emu_filter_parse(w, q->where, 0, st) != 0)
            return -1;
    }
    if (emu_order_parse(json_object_get(sq, "orderBy"), q, st) != 0 ||
        emu_cursor_parse(json_object_get(sq, "startAt"), &q->start, st) != 0 ||
        emu_cursor_parse(json_object_get(sq, "endAt"), &q->end, st) != 0)
        return -1;
    json_t *v;
    if ((v = json_object_get(sq, "offset")) && emu_limit_parse(v, &q->offset, st) != 0)
        return -1;
    if ((v = json_object_get(sq, "limit")) && emu_limit_parse(v, &q->limit, st) != 0)
        return -1;
    if ((v = json_object_get(sq, "select")) && emu_select_parse(v, q, st) != 0)
        return -1;
    return 0;
}

/* ---------- evaluation ---------- */

/* A document during a query: its name and its fields parsed once. */
typedef struct {
    const char *name;
    json_t *fields;
    const emu_doc *doc;
} emu_qdoc;

/* The value a field reference has in d (new reference), NULL when absent. */
static json_t *emu_field_of(const emu_qdoc *d, const emu_fieldref *r)
{
    if (r->is_name)
        return json_pack("{s:s}", "referenceValue", d->name);
    json_t *v = emu_fields_lookup(d->fields, &r->path);
    return v ? json_incref(v) : NULL;
}

static bool emu_same_type(const json_t *a, const json_t *b)
{
    emu_vkind x = emu_value_kind(a), y = emu_value_kind(b);
    bool nx = x == EMU_V_INT || x == EMU_V_DOUBLE, ny = y == EMU_V_INT || y == EMU_V_DOUBLE;
    return x == y || (nx && ny);
}

static bool emu_is_nan(const json_t *v)
{
    return emu_value_kind(v) == EMU_V_DOUBLE && json_is_string(json_object_get(v, "doubleValue")) &&
           strcmp(json_string_value(json_object_get(v, "doubleValue")), "NaN") == 0;
}

static bool emu_in_list(const json_t *v, const json_t *list)
{
    size_t i;
    json_t *el;
    json_array_foreach(emu_value_array_items(list), i, el) {
        if (emu_value_equal(v, el))
            return true;
    }
    return false;
}

static bool emu_field_match(const emu_filter *f, const json_t *v)
{
    const json_t *x = f->value;
    if (f->op == EMU_OP_EQ)
        return emu_value_equal(v, x) && !emu_is_nan(v);
    if (f->op == EMU_OP_NEQ)
        return emu_value_kind(v) != EMU_V_NULL && !emu_value_equal(v, x);
    if (f->op == EMU_OP_IN)
        return emu_in_list(v, x);
    if (f->op == EMU_OP_NIN)
        return emu_value_kind(v) != EMU_V_NULL && !emu_in_list(v, x);
    if (f->op == EMU_OP_AC || f->op == EMU_OP_ACA) {
        size_t i;
        json_t *el;
        json_array_foreach(emu_value_array_items(v), i, el) {
            if (f->op == EMU_OP_AC ? emu_value_equal(el, x) : emu_in_list(el, x))
                return true;
        }
        return false;
    }
    if (!emu_same_type(v, x) || emu_is_nan(v) || emu_is_nan(x))
        return false;
    int c = emu_value_compare(v, x);
    return f->op == EMU_OP_LT ? c < 0 : f->op == EMU_OP_LTE ? c <= 0 : f->op == EMU_OP_GT ? c > 0 : c >= 0;
}

static bool emu_unary_match(int op, const json_t *v)
{
    switch (op) {
    case EMU_UOP_IS_NULL: return v && emu_value_kind(v) == EMU_V_NULL;
    case EMU_UOP_IS_NAN: return v && emu_is_nan(v);
    case EMU_UOP_IS_NOT_NULL: return v && emu_value_kind(v) != EMU_V_NULL;
    default: return v && !emu_is_nan(v) && emu_value_kind(v) != EMU_V_NULL;
    }
}

static bool emu_filter_match(const emu_filter *f, const emu_qdoc *d)
{
    if (f->kind == EMU_F_AND || f->kind == EMU_F_OR) {
        for (int i = 0; i < f->nsubs; i++) {
            bool m = emu_filter_match(&f->subs[i], d);
            if (m == (f->kind == EMU_F_OR))
                return m;
        }
        return f->kind == EMU_F_AND;
    }
    json_t *v = emu_field_of(d, &f->field);
    bool m = f->kind == EMU_F_UNARY ? emu_unary_match(f->op, v) : (v && emu_field_match(f, v));
    json_decref(v);
    return m;
}

static int emu_doc_order(const emu_query *q, const emu_qdoc *a, const emu_qdoc *b)
{
    for (int i = 0; i < q->norder; i++) {
        json_t *x = emu_field_of(a, &q->order[i].field), *y = emu_field_of(b, &q->order[i].field);
        int c = emu_value_compare(x, y);
        json_decref(x);
        json_decref(y);
        if (c)
            return q->order[i].desc ? -c : c;
    }
    return 0;
}

/* Position of d against a cursor: <0 before it, 0 at it, >0 after it. */
static int emu_cursor_cmp(const emu_query *q, const emu_qdoc *d, const json_t *values)
{
    for (size_t i = 0; i < json_array_size(values) && (int)i < q->norder; i++) {
        json_t *x = emu_field_of(d, &q->order[i].field);
        int c = emu_value_compare(x, json_array_get(values, i));
        json_decref(x);
        if (c)
            return q->order[i].desc ? -c : c;
    }
    return 0;
}

static bool emu_within_cursors(const emu_query *q, const emu_qdoc *d)
{
    if (q->start.values) {
        int c = emu_cursor_cmp(q, d, q->start.values);
        if (c < 0 || (c == 0 && !q->start.before))
            return false;
    }
    if (q->end.values) {
        int c = emu_cursor_cmp(q, d, q->end.values);
        if (c > 0 || (c == 0 && q->end.before))
            return false;
    }
    return true;
}

static bool emu_has_order_fields(const emu_query *q, const emu_qdoc *d)
{
    for (int i = 0; i < q->norder; i++) {
        if (!q->order[i].field.is_name && !emu_fields_lookup(d->fields, &q->order[i].field.path))
            return false;
    }
    return true;
}

/* True when d is in the query's collection; plen = strlen(parent + "/"). */
static bool emu_in_collection(const emu_query *q, size_t plen, const emu_qdoc *d)
{
    const char *rest = d->name + plen;
    const char *slash = strrchr(rest, '/');
    if (!slash)
        return false;
    if (!q->all_descendants)
        return (size_t)(slash - rest) == strlen(q->collection) && strncmp(rest, q->collection, strlen(q->collection)) == 0;
    const char *start = slash;
    while (start > rest && start[-1] != '/')
        start--;
    return (size_t)(slash - start) == strlen(q->collection) && strncmp(start, q->collection, strlen(q->collection)) == 0;
}

static int emu_sort_cmp(const void *a, const void *b, void *q)
{
    return emu_doc_order(q, a, b);
}

/* Matching documents in order, their fields parsed (free with emu_qdocs_free);
 * hold the lock while using them. */
static emu_qdoc *emu_query_scan(emu_store *store, const char *parent, const emu_query *q, size_t *n)
{
    char prefix[EMU_MAX_NAME + 2 * EMU_MAX_ID + 8];
    int plen = snprintf(prefix, sizeof prefix, "%s/", parent);
    char seek[sizeof prefix];
    snprintf(seek, sizeof seek, "%s%s", prefix, q->all_descendants ? "" : q->collection);
    size_t cap = 64, cnt = 0, slen = strlen(seek);
    emu_qdoc *docs = malloc(cap * sizeof *docs);
    for (const emu_doc *d = emu_store_seek(store, seek); d && strncmp(d->name, seek, slen) == 0; d = emu_store_next(d)) {
        emu_qdoc qd = { d->name, NULL, d };
        if (!emu_in_collection(q, (size_t)plen, &qd))
            continue;
        qd.fields = emu_doc_fields(d);
        if ((q->where && !emu_filter_match(q->where, &qd)) || !emu_has_order_fields(q, &qd)) {
            json_decref(qd.fields);
            continue;
        }
        if (cnt == cap)
            docs = realloc(docs, (cap *= 2) * sizeof *docs);
        docs[cnt++] = qd;
    }
    qsort_r(docs, cnt, sizeof *docs, emu_sort_cmp, (void *)q);
    size_t kept = 0;
    for (size_t i = 0; i < cnt; i++) {
        if (emu_within_cursors(q, &docs[i]))
            docs[kept++] = docs[i];
        else
            json_decref(docs[i].fields);
    }
    *n = kept;
    return docs;
}

static void emu_qdocs_free(emu_qdoc *docs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(docs[i].fields);
    free(docs);
}

static json_t *emu_query_doc_json(const emu_query *q, const emu_doc *d, const json_t *fields)
{
    json_t *proj = q->nselect >= 0 ? emu_fields_project(fields, q->select, q->nselect) : json_incref((json_t *)fields);
    json_t *o = emu_doc_json(d, proj);
    json_decref(proj);
    return o;
}

static int emu_run_query_locked(emu_ctx *ctx, const char *database, const char *parent, const emu_query *q,
                                const char *txn, bool started, json_t *out, emu_status *st)
{
    size_t n;
    emu_qdoc *docs = emu_query_scan(ctx->store, parent, q, &n);
    json_t *read_time = emu_time_json(emu_store_now(ctx->store));
    size_t first = (size_t)q->offset < n ? (size_t)q->offset : n;
    size_t last = q->limit >= 0 && first + (size_t)q->limit < n ? first + (size_t)q->limit : n;
    int rc = 0;
    for (size_t i = first; i < last && rc == 0; i++) {
        if (txn)
            rc = emu_txn_read_doc(ctx->txns, txn, database, docs[i].name, docs[i].doc->update_us, st);
        json_array_append_new(out, json_pack("{s:o,s:O}", "document", emu_query_doc_json(q, docs[i].doc, docs[i].fields),
                                             "readTime", read_time));
    }
    if (json_array_size(out) == 0)
        json_array_append_new(out, json_pack("{s:O}", "readTime", read_time));
    json_t *head = json_array_get(out, 0);
    if (first > 0)
        json_object_set_new(head, "skippedResults", json_integer((json_int_t)first));
    if (started)
        json_object_set_new(head, "transaction", json_string(txn));
    json_decref(read_time);
    emu_qdocs_free(docs, n);
    return rc;
}

int emu_api_run_query(emu_ctx *ctx, const char *database, const char *parent, const json_t *body, json_t **out,
                      emu_status *st)
{
    json_t *sq = json_object_get(body, "structuredQuery");
    if (!sq)
        return emu_fail(st, EMU_INVALID_ARGUMENT, "runQuery needs a structuredQuery.");
    emu_query q;
    if (emu_query_parse(sq, &q, st) != 0) {
        emu_query_clear(&q);
        return -1;
    }
    char txn_buf[64];
    const char *txn;
    bool started;
    if (emu_read_consistency(ctx, database, body, txn_buf, &txn, &started, st) != 0) {
        emu_query_clear(&q);
        return -1;
    }
    json_t *arr = json_array();
    emu_store_rdlock(ctx->store);
    int rc = emu_run_query_locked(ctx, database, parent, &q, txn, started, arr, st);
    emu_store_unlock(ctx->store);
    emu_query_clear(&q);
    if (rc != 0) {
        json_decref(arr);
        return -1;
    }
    *out = arr;
    return 0;
}

/* ---------- list ---------- */

/* orderBy="a desc, b" into a JSON orderBy list. */
static int emu_order_param(const char *s, json_t **out, emu_status *st)
{
    *out = json_array();
    char *copy = strdup(s), *save = NULL;
    int rc = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
        char field[1600] = "", dir[16] = "";
        int k = sscanf(tok, " %1599s %15s", field, dir);
        if (k < 1 || (k == 2 && strcasecmp(dir, "asc") != 0 && strcasecmp(dir, "desc") != 0))
            rc = emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid orderBy \"%.100s\".", s);
        else
            json_array_append_new(*out, json_pack("{s:{s:s},s:s}", "field", "fieldPath", field, "direction",
                                                  k == 2 && strcasecmp(dir, "desc") == 0 ? "DESCENDING" : "ASCENDING"));
    }
    free(copy);
    return rc;
}

static int emu_page_params(const emu_request *rq, long long *size, long long *offset, emu_status *st)
{
    const char *ps = emu_param_get(rq, "pageSize"), *pt = emu_param_get(rq, "pageToken");
    char *end;
    *size = -1;
    *offset = 0;
    if (ps && *ps) {
        *size = strtoll(ps, &end, 10);
        if (*end || *size < 0)
            return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid pageSize.");
        if (*size == 0)
            *size = -1;
    }
    if (pt && *pt) {
        size_t len;
        unsigned char *raw = emu_b64_decode(pt, strlen(pt), &len);
        char buf[32] = "";
        if (raw && len < sizeof buf)
            memcpy(buf, raw, len);
        free(raw);
        if (strncmp(buf, "o:", 2) != 0 || (*offset = strtoll(buf + 2, &end, 10)) < 0 || *end)
            return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid pageToken.");
    }
    return 0;
}

/* Documents of collection plus, with showMissing, missing parents of subcollections. */
static void emu_list_show_missing(emu_store *store, const char *collection, const emu_query *q, json_t *docs)
{
    char prefix[EMU_MAX_NAME + 8], last[EMU_MAX_NAME + 8] = "";
    snprintf(prefix, sizeof prefix, "%s/", collection);
    size_t plen = strlen(prefix);
    for (const emu_doc *d = emu_store_seek(store, prefix); d && strncmp(d->name, prefix, plen) == 0; d = emu_store_next(d)) {
        const char *slash = strchr(d->name + plen, '/');
        if (!slash) {
            json_t *f = emu_doc_fields(d);
            json_array_append_new(docs, emu_query_doc_json(q, d, f));
            json_decref(f);
            snprintf(last, sizeof last, "%s", d->name);
            continue;
        }
        size_t n = (size_t)(slash - d->name);
        if (strlen(last) == n && strncmp(last, d->name, n) == 0)
            continue;
        snprintf(last, sizeof last, "%.*s", (int)n, d->name);
        if (!emu_store_get(store, last))
            json_array_append_new(docs, json_pack("{s:s}", "name", last));
    }
}

int emu_api_list(emu_ctx *ctx, const char *database, const char *collection, const emu_request *rq, json_t **out,
                 emu_status *st)
{
    long long size, offset;
    if (emu_page_params(rq, &size, &offset, st) != 0)
        return -1;
    const char *ob = emu_param_get(rq, "orderBy"), *txn = emu_param_get(rq, "transaction");
    bool show_missing = emu_param_get(rq, "showMissing") && strcmp(emu_param_get(rq, "showMissing"), "true") == 0;
    if (show_missing && ob)
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Requests with show_missing may not specify where or order_by.");
    json_t *sq = json_pack("{s:[{s:s}]}", "from", "collectionId", emu_name_id(collection)), *order = NULL;
    if (ob && emu_order_param(ob, &order, st) != 0) {
        json_decref(order);
        json_decref(sq);
        return -1;
    }
    if (order)
        json_object_set_new(sq, "orderBy", order);
    json_t *mask = emu_param_all(rq, "mask.fieldPaths");
    if (json_array_size(mask) > 0) {
        json_t *fields = json_array();
        size_t i;
        json_t *m;
        json_array_foreach(mask, i, m) json_array_append_new(fields, json_pack("{s:O}", "fieldPath", m));
        json_object_set_new(sq, "select", json_pack("{s:o}", "fields", fields));
    }
    json_decref(mask);
    emu_query q;
    int rc = emu_query_parse(sq, &q, st);
    json_decref(sq);
    if (rc != 0) {
        emu_query_clear(&q);
        return -1;
    }
    char parent[EMU_MAX_NAME + 8];
    snprintf(parent, sizeof parent, "%.*s", (int)(emu_name_id(collection) - collection - 1), collection);
    json_t *docs = json_array();
    emu_store_rdlock(ctx->store);
    if (show_missing && !ob) {
        emu_list_show_missing(ctx->store, collection, &q, docs);
    } else {
        size_t n;
        emu_qdoc *all = emu_query_scan(ctx->store, parent, &q, &n);
        for (size_t i = 0; i < n && rc == 0; i++) { /* in a transaction: every document the listing read */
            if (txn)
                rc = emu_txn_read_doc(ctx->txns, txn, database, all[i].name, all[i].doc->update_us, st);
            json_array_append_new(docs, emu_query_doc_json(&q, all[i].doc, all[i].fields));
        }
        emu_qdocs_free(all, n);
    }
    emu_store_unlock(ctx->store);
    emu_query_clear(&q);
    if (rc != 0) {
        json_decref(docs);
        return -1;
    }
    /* the page: [offset, offset+size) */
    size_t total = json_array_size(docs), from = (size_t)offset < total ? (size_t)offset : total;
    size_t to = size >= 0 && from + (size_t)size < total ? from + (size_t)size : total;
    json_t *page = json_array();
    for (size_t i = from; i < to; i++)
        json_array_append(page, json_array_get(docs, i));
    json_decref(docs);
    *out = json_object();
    if (json_array_size(page) > 0)
        json_object_set(*out, "documents", page);
    json_decref(page);
    if (to < total) {
        char tok[32];
        snprintf(tok, sizeof tok, "o:%zu", to);
        char *enc = emu_b64_encode((const unsigned char *)tok, strlen(tok));
        json_object_set_new(*out, "nextPageToken", json_string(enc));
        free(enc);
    }
    return 0;
}
