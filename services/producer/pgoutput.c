/* pgoutput.c - decoding of pgoutput messages (see pgoutput.h). All integers are
 * big-endian; strings are NUL-terminated in the message. */
#include "services/producer/pgoutput.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pgo_decoder {
    pgo_value *vals[2]; /* old and new tuple */
    size_t valcap[2];
    pgo_column *cols;
    size_t colcap;
    bool in_stream;
};

typedef struct rd {
    const uint8_t *p, *end;
    char *err;
    size_t errlen;
    bool failed;
} rd;

static void rd_fail(rd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rd_fail(rd *r, const char *fmt, ...)
{
    if (r->failed)
        return;
    r->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, r->errlen, fmt, ap);
    va_end(ap);
}

static bool rd_need(rd *r, size_t n, const char *what)
{
    if (r->failed)
        return false;
    if ((size_t)(r->end - r->p) < n) {
        rd_fail(r, "message truncated in %s", what);
        return false;
    }
    return true;
}

static uint8_t rd_u8(rd *r, const char *what)
{
    return rd_need(r, 1, what) ? *r->p++ : 0;
}

static uint16_t rd_u16(rd *r, const char *what)
{
    if (!rd_need(r, 2, what))
        return 0;
    uint16_t v = (uint16_t)(r->p[0] << 8 | r->p[1]);
    r->p += 2;
    return v;
}

static uint32_t rd_u32(rd *r, const char *what)
{
    if (!rd_need(r, 4, what))
        return 0;
    uint32_t v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
    r->p += 4;
    return v;
}

static uint64_t rd_u64(rd *r, const char *what)
{
    uint64_t hi = rd_u32(r, what);
    return hi << 32 | rd_u32(r, what);
}

static const char *rd_str(rd *r, const char *what)
{
    if (r->failed)
        return "";
    const uint8_t *nul = memchr(r->p, 0, (size_t)(r->end - r->p));
    if (!nul) {
        rd_fail(r, "unterminated string in %s", what);
        return "";
    }
    const char *s = (const char *)r->p;
    r->p = nul + 1;
    return s;
}

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return p;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *q = realloc(p, n * size);
    if (!q)
        abort();
    *cap = n;
    return q;
}

static void rd_tuple(pgo_decoder *d, rd *r, int slot, pgo_tuple *t)
{
    uint16_t n = rd_u16(r, "tuple column count");
    /* every column takes at least one byte: a count beyond the bytes left is a lie */
    if (!r->failed && n > (size_t)(r->end - r->p)) {
        rd_fail(r, "tuple claims %u columns in %zu bytes", n, (size_t)(r->end - r->p));
        return;
    }
    d->vals[slot] = grow(d->vals[slot], &d->valcap[slot], n, sizeof(pgo_value));
    pgo_value *v = d->vals[slot];
    for (uint16_t i = 0; i < n && !r->failed; i++) {
        v[i].kind = (char)rd_u8(r, "tuple column kind");
        v[i].len = 0;
        v[i].data = NULL;
        switch (v[i].kind) {
        case 'n':
        case 'u':
            break;
        case 't':
        case 'b':
            v[i].len = rd_u32(r, "tuple column length");
            if (rd_need(r, v[i].len, "tuple column data")) {
                v[i].data = (const char *)r->p;
                r->p += v[i].len;
            }
            break;
        default:
            if (!r->failed)
                rd_fail(r, "unknown tuple column kind 0x%02x", (unsigned char)v[i].kind);
        }
    }
    t->ncols = n;
    t->cols = v;
}

static void rd_relation(pgo_decoder *d, rd *r, pgo_message *m)
{
    m->u.relation.relid = rd_u32(r, "Relation id");
    m->u.relation.nspname = rd_str(r, "Relation namespace");
    m->u.relation.relname = rd_str(r, "Relation name");
    m->u.relation.replident = (char)rd_u8(r, "Relation replica identity");
    uint16_t n = rd_u16(r, "Relation column count");
    if (!r->failed && n > (size_t)(r->end - r->p) / 10) { /* flags, name NUL, oid, typmod */
        rd_fail(r, "Relation claims %u columns in %zu bytes", n, (size_t)(r->end - r->p));
        return;
    }
    d->cols = grow(d->cols, &d->colcap, n, sizeof(pgo_column));
    for (uint16_t i = 0; i < n && !r->failed; i++) {
        uint8_t flags = rd_u8(r, "Relation column flags");
        d->cols[i].key = flags & 1;
        d->cols[i].name = rd_str(r, "Relation column name");
        d->cols[i].type_oid = rd_u32(r, "Relation column type");
        d->cols[i].typmod = (int32_t)rd_u32(r, "Relation column type modifier");
    }
    m->u.relation.ncols = n;
    m->u.relation.cols = d->cols;
}

static void rd_change(pgo_decoder *d, rd *r, pgo_message *m)
{
    m->u.change.relid = rd_u32(r, "change relation id");
    m->u.change.old_kind = 0;
    memset(&m->u.change.old, 0, sizeof m->u.change.old);
    memset(&m->u.change.new_, 0, sizeof m->u.change.new_);
    char tag = (char)rd_u8(r, "change tuple tag");
    if (r->failed)
        return;
    if (m->type == PGO_INSERT) {
        if (tag != 'N')
            rd_fail(r, "Insert without a new tuple (tag 0x%02x)", (unsigned char)tag);
        else
            rd_tuple(d, r, 1, &m->u.change.new_);
        return;
    }
    if (tag == 'K' || tag == 'O') {
        m->u.change.old_kind = tag;
        rd_tuple(d, r, 0, &m->u.change.old);
        if (m->type == PGO_DELETE)
            return;
        tag = (char)rd_u8(r, "Update new tuple tag");
    } else if (m->type == PGO_DELETE) {
        rd_fail(r, "Delete without an old tuple (tag 0x%02x)", (unsigned char)tag);
        return;
    }
    if (r->failed)
        return;
    if (tag != 'N')
        rd_fail(r, "Update without a new tuple (tag 0x%02x)", (unsigned char)tag);
    else
        rd_tuple(d, r, 1, &m->u.change.new_);
}

pgo_decoder *pgo_decoder_new(void)
{
    pgo_decoder *d = calloc(1, sizeof *d);
    if (!d)
        abort();
    return d;
}

void pgo_decoder_free(pgo_decoder *d)
{
    if (!d)
        return;
    free(d->vals[0]);
    free(d->vals[1]);
    free(d->cols);
    free(d);
}

void pgo_decoder_set_streaming(pgo_decoder *d, bool in_stream)
{
    d->in_stream = in_stream;
}

uint32_t pgo_truncate_relid(const pgo_message *m, uint32_t i)
{
    const uint8_t *p = m->u.truncate.relids_be + 4 * (size_t)i;
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int pgo_decode(pgo_decoder *d, const void *buf, size_t len, pgo_message *m, char *err, size_t errlen)
{
    rd r = { .p = buf, .end = (const uint8_t *)buf + len, .err = err, .errlen = errlen };
    memset(m, 0, sizeof *m);
    if (len == 0) {
        snprintf(err, errlen, "empty message");
        return -1;
    }
    m->type = (pgo_type)rd_u8(&r, "message type");
    bool xid_first = d->in_stream;
    switch (m->type) {
    case PGO_BEGIN:
        m->u.begin.final_lsn = rd_u64(&r, "Begin");
        m->u.begin.commit_ts = (int64_t)rd_u64(&r, "Begin");
        m->u.begin.xid = rd_u32(&r, "Begin");
        break;
    case PGO_COMMIT:
        m->u.commit.flags = rd_u8(&r, "Commit");
        m->u.commit.commit_lsn = rd_u64(&r, "Commit");
        m->u.commit.end_lsn = rd_u64(&r, "Commit");
        m->u.commit.commit_ts = (int64_t)rd_u64(&r, "Commit");
        break;
    case PGO_ORIGIN:
        m->u.origin.commit_lsn = rd_u64(&r, "Origin");
        m->u.origin.name = rd_str(&r, "Origin name");
        break;
    case PGO_STREAM_START:
        m->xid = rd_u32(&r, "Stream Start");
        m->u.stream_start.first_segment = rd_u8(&r, "Stream Start") == 1;
        if (!r.failed)
            d->in_stream = true;
        break;
    case PGO_STREAM_STOP:
        d->in_stream = false;
        break;
    case PGO_STREAM_COMMIT:
        m->xid = rd_u32(&r, "Stream Commit");
        m->u.stream_commit.flags = rd_u8(&r, "Stream Commit");
        m->u.stream_commit.commit_lsn = rd_u64(&r, "Stream Commit");
        m->u.stream_commit.end_lsn = rd_u64(&r, "Stream Commit");
        m->u.stream_commit.commit_ts = (int64_t)rd_u64(&r, "Stream Commit");
        break;
    case PGO_STREAM_ABORT:
        /* protocol 4 adds the abort LSN and time when parallel streaming is on; they
         * are optional trailing fields we do not need */
        m->xid = rd_u32(&r, "Stream Abort");
        m->u.stream_abort.subxid = rd_u32(&r, "Stream Abort");
        r.p = r.end;
        break;
    case PGO_RELATION:
    case PGO_TYPE:
    case PGO_INSERT:
    case PGO_UPDATE:
    case PGO_DELETE:
    case PGO_TRUNCATE:
        if (xid_first)
            m->xid = rd_u32(&r, "streamed transaction id");
        if (m->type == PGO_RELATION) {
            rd_relation(d, &r, m);
        } else if (m->type == PGO_TYPE) {
            m->u.type.oid = rd_u32(&r, "Type");
            m->u.type.nspname = rd_str(&r, "Type namespace");
            m->u.type.name = rd_str(&r, "Type name");
        } else if (m->type == PGO_TRUNCATE) {
            m->u.truncate.nrels = rd_u32(&r, "Truncate");
            m->u.truncate.options = rd_u8(&r, "Truncate");
            if (!r.failed && m->u.truncate.nrels > (size_t)(r.end - r.p) / 4)
                rd_fail(&r, "Truncate claims %u relations in %zu bytes", m->u.truncate.nrels,
                        (size_t)(r.end - r.p));
            else if (!r.failed) {
                m->u.truncate.relids_be = r.p;
                r.p += 4 * (size_t)m->u.truncate.nrels;
            }
        } else {
            rd_change(d, &r, m);
        }
        break;
    case PGO_MESSAGE:
        if (xid_first)
            m->xid = rd_u32(&r, "streamed transaction id");
        m->u.message.transactional = rd_u8(&r, "Message") & 1;
        m->u.message.lsn = rd_u64(&r, "Message");
        m->u.message.prefix = rd_str(&r, "Message prefix");
        m->u.message.len = rd_u32(&r, "Message");
        if (rd_need(&r, m->u.message.len, "Message content")) {
            m->u.message.content = (const char *)r.p;
            r.p += m->u.message.len;
        }
        break;
    default:
        snprintf(err, errlen, "unknown pgoutput message type 0x%02x", (unsigned char)m->type);
        return -1;
    }
    if (r.failed)
        return -1;
    if (r.p != r.end) {
        snprintf(err, errlen, "%zu unexpected bytes after a %s message", (size_t)(r.end - r.p),
                 pgo_type_name(m->type));
        return -1;
    }
    return 0;
}

const char *pgo_type_name(pgo_type t)
{
    switch (t) {
    case PGO_BEGIN: return "Begin";
    case PGO_COMMIT: return "Commit";
    case PGO_ORIGIN: return "Origin";
    case PGO_RELATION: return "Relation";
    case PGO_TYPE: return "Type";
    case PGO_INSERT: return "Insert";
    case PGO_UPDATE: return "Update";
    case PGO_DELETE: return "Delete";
    case PGO_TRUNCATE: return "Truncate";
    case PGO_MESSAGE: return "Message";
    case PGO_STREAM_START: return "Stream Start";
    case PGO_STREAM_STOP: return "Stream Stop";
    case PGO_STREAM_COMMIT: return "Stream Commit";
    case PGO_STREAM_ABORT: return "Stream Abort";
    }
    return "unknown";
}
