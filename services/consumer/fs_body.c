/* fs_body.c - Firestore request bodies written straight into a buffer (see firestore.h).
 *
 * The consumer's documents live in the batch's cache as compact values (fs_value.h); a
 * write sends only the fields its updateMask owns, in the wire form. Copying those into
 * a new tree and dumping it cost more than everything else the consumer did, so the
 * bodies are written here in one pass over the cached tree, into buffers that are kept
 * from batch to batch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/consumer/firestore.h"
#include "services/consumer/fs_value.h"

#define FS_BODY_PATH_MAX 1024

/* 2: path is in the mask; 1: a masked path lies inside it; 0: neither. */
static int fs_mask_match(const char *path, size_t len, const char *const *mask, size_t n)
{
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(mask[i], path, len))
            continue;
        if (mask[i][len] == 0)
            return 2;
        if (mask[i][len] == '.')
            found = 1;
    }
    return found;
}

/* Writes the members of fields that the mask selects; returns how many. path holds the
 * field path of fields (plen bytes) and is restored on return. */
static size_t fs_masked(jbuf *b, const json_t *fields, char *path, size_t plen, const char *const *mask, size_t n)
{
    const char *k;
    json_t *v;
    size_t written = 0;
    jbuf_putc(b, '{');
    json_object_foreach((json_t *)fields, k, v) {
        path[plen] = 0;
        if (fsv_path_append(path, FS_BODY_PATH_MAX, k) != 0)
            continue; /* longer than any path a mask can hold */
        size_t len = strlen(path);
        int m = fs_mask_match(path, len, mask, n);
        if (!m)
            continue;
        size_t mark = b->len;
        if (written)
            jbuf_putc(b, ',');
        jbuf_str(b, k, strlen(k));
        jbuf_putc(b, ':');
        if (m == 2) {
            fsv_write(b, v);
        } else {
            json_t *inner = fsv_map_fields(v);
            jbuf_puts(b, "{\"mapValue\":{\"fields\":");
            if (!inner || fs_masked(b, inner, path, len, mask, n) == 0) {
                b->len = mark; /* nothing of it is masked: leave it out */
                continue;
            }
            jbuf_puts(b, "}}");
        }
        written++;
    }
    path[plen] = 0;
    jbuf_putc(b, '}');
    return written;
}

/* A mask path in the form fsv_path_append gives (segments quoted only when they must be). */
static void fs_mask_canonical(const char *in, char *out, size_t len)
{
    char buf[FS_BODY_PATH_MAX], *segs[64];
    int n = fsv_path_split(in, buf, sizeof buf, segs, 64);
    out[0] = 0;
    for (int i = 0; i < n; i++)
        if (fsv_path_append(out, len, segs[i]) != 0)
            break;
}

void fs_json_masked_fields(jbuf *b, const json_t *fields, const char *const *mask, size_t n)
{
    char path[FS_BODY_PATH_MAX] = "";
    const char **canon = NULL;
    char (*store)[FS_BODY_PATH_MAX] = NULL;
    for (size_t i = 0; i < n && !canon; i++)
        if (strchr(mask[i], '`')) { /* rare: quoted segments, maybe quoted where they need not be */
            canon = malloc(n * sizeof *canon);
            store = malloc(n * sizeof *store);
            for (size_t j = 0; j < n; j++) {
                fs_mask_canonical(mask[j], store[j], sizeof store[j]);
                canon[j] = store[j];
            }
        }
    if (fields)
        fs_masked(b, fields, path, 0, canon ? canon : mask, n);
    else
        jbuf_puts(b, "{}");
    free(canon);
    free(store);
}

static void fs_body_name(const fs_client *fc, jbuf *b, const char *name)
{
    char full[2300];
    int n = snprintf(full, sizeof full, "%s/%s", fs_root(fc), name);
    jbuf_str(b, full, n < (int)sizeof full ? (size_t)n : sizeof full - 1);
}

void fs_body_batch_get(const fs_client *fc, jbuf *b, const char *const *names, size_t n, const json_t *mask)
{
    jbuf_puts(b, "{\"documents\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            jbuf_putc(b, ',');
        fs_body_name(fc, b, names[i]);
    }
    jbuf_putc(b, ']');
    if (mask) {
        jbuf_puts(b, ",\"mask\":{\"fieldPaths\":[");
        for (size_t i = 0; i < json_array_size(mask); i++) {
            if (i)
                jbuf_putc(b, ',');
            const json_t *path = json_array_get(mask, i);
            jbuf_str(b, json_string_value(path), json_string_length(path));
        }
        jbuf_puts(b, "]}");
    }
    jbuf_putc(b, '}');
}

void fs_body_writes_begin(jbuf *b) { jbuf_puts(b, "{\"writes\":["); }

void fs_body_writes_end(jbuf *b) { jbuf_puts(b, "]}"); }

static void fs_body_separate(jbuf *b)
{
    if (b->len && b->data[b->len - 1] != '[')
        jbuf_putc(b, ',');
}

static void fs_body_precondition(jbuf *b, const char *pre)
{
    if (!pre)
        return;
    if (!*pre) {
        jbuf_puts(b, ",\"currentDocument\":{\"exists\":false}");
        return;
    }
    jbuf_puts(b, ",\"currentDocument\":{\"updateTime\":");
    jbuf_str(b, pre, strlen(pre));
    jbuf_putc(b, '}');
}

void fs_body_write_update(const fs_client *fc, jbuf *b, const char *name, const json_t *fields,
                          const char *const *mask, size_t nmask, const char *pre, const char *synced_at_path)
{
    fs_body_separate(b);
    jbuf_puts(b, "{\"update\":{\"name\":");
    fs_body_name(fc, b, name);
    jbuf_puts(b, ",\"fields\":");
    fs_json_masked_fields(b, fields, mask, nmask);
    jbuf_puts(b, "},\"updateMask\":{\"fieldPaths\":[");
    for (size_t i = 0; i < nmask; i++) {
        if (i)
            jbuf_putc(b, ',');
        jbuf_str(b, mask[i], strlen(mask[i]));
    }
    jbuf_puts(b, "]}");
    if (synced_at_path) {
        jbuf_puts(b, ",\"updateTransforms\":[{\"fieldPath\":");
        jbuf_str(b, synced_at_path, strlen(synced_at_path));
        jbuf_puts(b, ",\"setToServerValue\":\"REQUEST_TIME\"}]");
    }
    fs_body_precondition(b, pre);
    jbuf_putc(b, '}');
}

void fs_body_write_delete(const fs_client *fc, jbuf *b, const char *name, const char *pre)
{
    fs_body_separate(b);
    jbuf_puts(b, "{\"delete\":");
    fs_body_name(fc, b, name);
    fs_body_precondition(b, pre);
    jbuf_putc(b, '}');
}
