/* event.c - Debezium envelope parsing (see event.h). */
#include "services/consumer/event.h"

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

/* source.sequence: a string holding a JSON array ["<last commit lsn>","<this lsn>"]. */
static int ev_parse_sequence(const json_t *seq, ev_position *pos)
{
    if (!seq || json_is_null(seq))
        return 0;
    if (!json_is_string(seq))
        return -1;
    json_t *arr = json_loads(json_string_value(seq), JSON_DECODE_ANY, NULL);
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

static const json_t *ev_row_or_null(const json_t *root, const char *name, int *bad)
{
    const json_t *v = json_object_get(root, name);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_object(v))
        *bad = 1;
    return v;
}

static ev_error ev_fail(ev_event *ev, ev_error e, char *err, size_t errlen, const char *reason)
{
    snprintf(err, errlen, "%s", reason);
    ev_free(ev);
    return e;
}

ev_error ev_parse(const void *buf, size_t len, ev_event *ev, char *err, size_t errlen)
{
    memset(ev, 0, sizeof *ev);
    json_error_t jerr;
    ev->root = json_loadb(buf, len, JSON_DECODE_ANY, &jerr);
    if (!ev->root) {
        snprintf(err, errlen, "not JSON: %s at line %d column %d", jerr.text, jerr.line, jerr.column);
        return EV_ERR_JSON;
    }
    if (!json_is_object(ev->root))
        return ev_fail(ev, EV_ERR_ENVELOPE, err, errlen, "value is not a JSON object");
    if (json_object_get(ev->root, "schema") && json_object_get(ev->root, "payload"))
        return ev_fail(ev, EV_ERR_ENVELOPE, err, errlen, "Connect schema wrapper is not expected");
    const json_t *op = json_object_get(ev->root, "op");
    const json_t *source = json_object_get(ev->root, "source");
    if (!json_is_string(op))
        return ev_fail(ev, EV_ERR_ENVELOPE, err, errlen, "no \"op\" string");
    if (!json_is_object(source))
        return ev_fail(ev, EV_ERR_ENVELOPE, err, errlen, "no \"source\" object");
    const char *ops = json_string_value(op);
    if (strlen(ops) != 1 || !strchr("cudrt", ops[0]))
        return ev_fail(ev, EV_ERR_OP, err, errlen, "unknown op");
    ev->op = ops[0];
    int bad = 0;
    ev->before = ev_row_or_null(ev->root, "before", &bad);
    ev->after = ev_row_or_null(ev->root, "after", &bad);
    if (bad)
        return ev_fail(ev, EV_ERR_ENVELOPE, err, errlen, "before/after is not an object or null");
    if ((ev->op == 'c' || ev->op == 'u' || ev->op == 'r') && !ev->after)
        return ev_fail(ev, EV_ERR_ENVELOPE, err, errlen, "create/update/read without \"after\"");
    if (ev->op == 'd' && !ev->before)
        return ev_fail(ev, EV_ERR_ENVELOPE, err, errlen, "delete without \"before\"");
    ev->schema = json_string_value(json_object_get(source, "schema"));
    ev->table = json_string_value(json_object_get(source, "table"));
    if (!ev->table || !*ev->table)
        return ev_fail(ev, EV_ERR_ENVELOPE, err, errlen, "source.table missing");
    if (ev_lsn_value(json_object_get(source, "lsn"), &ev->pos.lsn) != 0)
        return ev_fail(ev, EV_ERR_ENVELOPE, err, errlen, "source.lsn missing or not a number");
    if (ev_parse_sequence(json_object_get(source, "sequence"), &ev->pos) != 0)
        return ev_fail(ev, EV_ERR_ENVELOPE, err, errlen, "source.sequence is not [commit, lsn]");
    if (ev->pos.commit_lsn == 0)
        ev->pos.commit_lsn = ev->pos.lsn; /* a snapshot read: its own position */
    const json_t *ts = json_object_get(source, "ts_ms");
    ev->source_ts_ms = json_is_integer(ts) ? json_integer_value(ts) : 0;
    const json_t *snap = json_object_get(source, "snapshot");
    ev->snapshot = json_is_true(snap) ||
                   (json_is_string(snap) && strcmp(json_string_value(snap), "false") != 0);
    return EV_OK;
}

void ev_free(ev_event *ev)
{
    json_decref(ev->root);
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
