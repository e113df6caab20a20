/* event.c - Debezium envelope parsing (see event.h). */
#include "services/consumer/event.h"

#include "common/json_scan.h"
#include "common/json_tree.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ev_error_class(ev_error e)
{
    switch (e) {
    case EV_OK: return "ok";
    case EV_ERR_JSON: return "decode.json";
    case EV_ERR_ENVELOPE: return "decode.envelope";
    case EV_ERR_OP: return "decode.op";
    }
    return "decode.unknown";
}

int ev_parse_lsn(const char *s, uint64_t *out)
{
    char *end;
    if (!s || !*s)
        return -1;
    const char *slash = strchr(s, '/');
    if (slash) {
        unsigned long long hi = strtoull(s, &end, 16);
        if (end != slash || hi > 0xffffffffULL)
            return -1;
        unsigned long long lo = strtoull(slash + 1, &end, 16);
        if (*end || end == slash + 1 || lo > 0xffffffffULL)
            return -1;
        *out = ((uint64_t)hi << 32) | lo;
        return 0;
    }
    if (*s < '0' || *s > '9')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end)
        return -1;
    *out = v;
    return 0;
}

static int ev_lsn_value(const json_t *v, uint64_t *out)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (uint64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_string(v))
        return ev_parse_lsn(json_string_value(v), out);
    return -1;
}

/* A source member holding an LSN: a non-negative integer or LSN text. */
static int ev_lsn_span(json_span s, uint64_t *out)
{
    int64_t v;
    char text[64];
    if (json_span_int64(s, &v) == 0) {
        *out = (uint64_t)v;
        return v < 0 ? -1 : 0;
    }
    return json_span_string(s, text, sizeof text) < 0 ? -1 : ev_parse_lsn(text, out);
}

/* source.sequence: a string holding a JSON array ["<last commit lsn>","<this lsn>"]. */
static int ev_parse_sequence(json_span seq, ev_position *pos)
{
    char text[256];
    if (!seq.p || json_span_is_null(seq))
        return 0;
    if (json_span_string(seq, text, sizeof text) < 0)
        return -1;
    json_t *arr = json_tree_load(text, strlen(text), JSON_DECODE_ANY, NULL);
    int rc = -1;
    if (json_is_array(arr) && json_array_size(arr) == 2) {
        const json_t *c = json_array_get(arr, 0);
        rc = 0;
        if (!json_is_null(c) && ev_lsn_value(c, &pos->commit_lsn) != 0)
            rc = -1;
    }
    json_decref(arr);
    return rc;
}

static ev_error ev_fail(ev_event *ev, ev_error e, char *err, size_t errlen, const char *reason)
{
    snprintf(err, errlen, "%s", reason);
    ev_free(ev);
    return e;
}

/* The tree of a member that is an object (checked by the caller), or NULL for null or
 * absent. The span is part of a record json_scan accepted: built without a second check. */
static json_t *ev_object_or_null(json_span s)
{
    if (!s.p || json_span_is_null(s))
        return NULL;
    json_t *tree = json_tree_build(s.p, s.len);
    if (!tree)
        abort(); /* memory ran out: as everywhere in the consumer, not the record's fault */
    return tree;
}

/* "op": a one-letter string (escapes are JSON's business: parsed when present). */
static ev_error ev_op(json_span s, char *op)
{
    if (!s.p || s.p[0] != '"')
        return EV_ERR_ENVELOPE;
    if (s.len == 3 && s.p[1] != '\\') {
        *op = s.p[1];
    } else {
        json_t *v = json_loadb(s.p, s.len, JSON_DECODE_ANY, NULL);
        const char *t = json_string_value(v);
        *op = t && strlen(t) == 1 ? t[0] : '?';
        json_decref(v);
    }
    return *op && strchr("cudrt", *op) ? EV_OK : EV_ERR_OP;
}

enum { EV_S_SCHEMA, EV_S_TABLE, EV_S_LSN, EV_S_SEQUENCE, EV_S_TS_MS, EV_S_SNAPSHOT, EV_S_COUNT };
static const char *const ev_source_members[EV_S_COUNT] = { "schema", "table", "lsn", "sequence", "ts_ms", "snapshot" };

/* The members of "source" the consumer uses, from its text (checked by json_scan). */
static ev_error ev_source(json_span src, ev_event *ev, char *err, size_t errlen)
{
    json_span m[EV_S_COUNT];
    bool object;
    char why[128], flag[8];
    if (json_scan(src.p, src.len, ev_source_members, m, EV_S_COUNT, &object, why, sizeof why) != 0 || !object) {
        snprintf(err, errlen, "no \"source\" object");
        return EV_ERR_ENVELOPE;
    }
    /* schema and table, decoded (never longer than their text) */
    size_t slen = m[EV_S_SCHEMA].p ? m[EV_S_SCHEMA].len : 0, tlen = m[EV_S_TABLE].p ? m[EV_S_TABLE].len : 0;
    ev->names = malloc(slen + tlen + 2);
    if (!ev->names) {
        snprintf(err, errlen, "out of memory");
        return EV_ERR_ENVELOPE;
    }
    if (json_span_string(m[EV_S_SCHEMA], ev->names, slen + 1) >= 0)
        ev->schema = ev->names;
    if (json_span_string(m[EV_S_TABLE], ev->names + slen + 1, tlen + 1) > 0)
        ev->table = ev->names + slen + 1;
    const char *bad = NULL;
    if (!ev->table)
        bad = "source.table missing";
    else if (ev_lsn_span(m[EV_S_LSN], &ev->pos.lsn) != 0)
        bad = "source.lsn missing or not a number";
    else if (ev_parse_sequence(m[EV_S_SEQUENCE], &ev->pos) != 0)
        bad = "source.sequence is not [commit, lsn]";
    if (bad) {
        snprintf(err, errlen, "%s", bad);
        return EV_ERR_ENVELOPE;
    }
    if (ev->pos.commit_lsn == 0)
        ev->pos.commit_lsn = ev->pos.lsn; /* a snapshot read: its own position */
    if (json_span_int64(m[EV_S_TS_MS], &ev->source_ts_ms) != 0)
        ev->source_ts_ms = 0;
    json_span snap = m[EV_S_SNAPSHOT];
    ev->snapshot = (snap.p && snap.len == 4 && !memcmp(snap.p, "true", 4)) ||
                   (snap.p && snap.p[0] == '"' && (json_span_string(snap, flag, sizeof flag) < 0 || strcmp(flag, "false")));
    return EV_OK;
}

enum { EV_M_OP, EV_M_SOURCE, EV_M_BEFORE, EV_M_AFTER, EV_M_SCHEMA, EV_M_PAYLOAD, EV_M_COUNT };
static const char *const ev_members[EV_M_COUNT] = { "op", "source", "before", "after", "schema", "payload" };

ev_error ev_parse(const void *buf, size_t len, ev_event *ev, char *err, size_t errlen)
{
    memset(ev, 0, sizeof *ev);
    json_span m[EV_M_COUNT];
    bool object;
    char why[128];
    if (json_scan(buf, len, ev_members, m, EV_M_COUNT, &object, why, sizeof why) != 0) {
        snprintf(err, errlen, "not JSON: %s", why);
        return EV_ERR_JSON;
    }
    if (!object)
        return ev_fail(ev, EV_ERR_ENVELOPE, err, errlen, "value is not a JSON object");
    if (m[EV_M_SCHEMA].p && m[EV_M_PAYLOAD].p)
        return ev_fail(ev, EV_ERR_ENVELOPE, err, errlen, "Connect schema wrapper is not expected");
    if (!m[EV_M_OP].p || m[EV_M_OP].p[0] != '"')
        return ev_fail(ev, EV_ERR_ENVELOPE, err, errlen, "no \"op\" string");
    if (!m[EV_M_SOURCE].p || m[EV_M_SOURCE].p[0] != '{')
        return ev_fail(ev, EV_ERR_ENVELOPE, err, errlen, "no \"source\" object");
    if (ev_op(m[EV_M_OP], &ev->op) != EV_OK)
        return ev_fail(ev, EV_ERR_OP, err, errlen, "unknown op");
    /* both rows must be objects or null; only the one the op carries is parsed */
    for (int i = EV_M_BEFORE; i <= EV_M_AFTER; i++)
        if (m[i].p && !json_span_is_null(m[i]) && m[i].p[0] != '{')
            return ev_fail(ev, EV_ERR_ENVELOPE, err, errlen, "before/after is not an object or null");
    json_t *row = ev_object_or_null(m[ev->op == 'd' ? EV_M_BEFORE : EV_M_AFTER]);
    ev->root = row;
    if (ev->op == 'd')
        ev->before = row;
    else
        ev->after = row;
    if ((ev->op == 'c' || ev->op == 'u' || ev->op == 'r') && !ev->after)
        return ev_fail(ev, EV_ERR_ENVELOPE, err, errlen, "create/update/read without \"after\"");
    if (ev->op == 'd' && !ev->before)
        return ev_fail(ev, EV_ERR_ENVELOPE, err, errlen, "delete without \"before\"");
    if (ev_source(m[EV_M_SOURCE], ev, err, errlen) != EV_OK) {
        ev_free(ev);
        return EV_ERR_ENVELOPE;
    }
    return EV_OK;
}

void ev_free(ev_event *ev)
{
    json_decref(ev->root);
    free(ev->names);
    memset(ev, 0, sizeof *ev);
}

const json_t *ev_row(const ev_event *ev)
{
    return ev->op == 'd' ? ev->before : ev->after;
}

int ev_position_cmp(ev_position a, ev_position b)
{
    if (a.commit_lsn != b.commit_lsn)
        return a.commit_lsn < b.commit_lsn ? -1 : 1;
    if (a.lsn != b.lsn)
        return a.lsn < b.lsn ? -1 : 1;
    return 0;
}
