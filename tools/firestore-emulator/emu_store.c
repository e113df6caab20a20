/* emu_store.c - skip list of documents ordered by name (see emu_store.h). */
#include "tools/firestore-emulator/emu_store.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "common/jbuf.h"
#include "common/json_tree.h"
#include "tools/firestore-emulator/emu_path.h"
#include "tools/firestore-emulator/emu_value.h"

#define EMU_SKIP_MAX 24

typedef struct emu_node {
    emu_doc doc; /* first member: an emu_doc pointer is its node */
    int level;
    struct emu_node *next[];
} emu_node;

struct emu_store {
    pthread_rwlock_t lock;
    emu_node *head;
    int level;
    size_t count;
    uint64_t rng;
    int64_t last_us;
};

static emu_node *emu_node_new(int level)
{
    emu_node *n = calloc(1, sizeof *n + (size_t)level * sizeof n->next[0]);
    n->level = level;
    return n;
}

static void emu_node_free(emu_node *n)
{
    free(n->doc.name);
    free(n->doc.text);
    free(n);
}

emu_store *emu_store_new(void)
{
    emu_store *s = calloc(1, sizeof *s);
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    /* writers must not starve behind a stream of readers */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&s->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    s->head = emu_node_new(EMU_SKIP_MAX);
    s->level = 1;
    s->rng = 0x9e3779b97f4a7c15ULL;
    return s;
}

void emu_store_free(emu_store *s)
{
    if (!s)
        return;
    emu_node *n = s->head->next[0];
    while (n) {
        emu_node *next = n->next[0];
        emu_node_free(n);
        n = next;
    }
    free(s->head);
    pthread_rwlock_destroy(&s->lock);
    free(s);
}

void emu_store_rdlock(emu_store *s)
{
    pthread_rwlock_rdlock(&s->lock);
}

void emu_store_wrlock(emu_store *s)
{
    pthread_rwlock_wrlock(&s->lock);
}

void emu_store_unlock(emu_store *s)
{
    pthread_rwlock_unlock(&s->lock);
}

static int emu_random_level(emu_store *s)
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    int level = 1;
    for (uint64_t r = s->rng; level < EMU_SKIP_MAX && (r & 3) == 0; r >>= 2)
        level++;
    return level;
}

/* Fills update[] with the last node before key on each level; returns the first
 * node >= key. */
static emu_node *emu_find(emu_store *s, const char *key, emu_node **update)
{
    emu_node *x = s->head;
    for (int i = s->level - 1; i >= 0; i--) {
        while (x->next[i] && emu_name_compare(x->next[i]->doc.name, key) < 0)
            x = x->next[i];
        if (update)
            update[i] = x;
    }
    return x->next[0];
}

const emu_doc *emu_store_get(emu_store *s, const char *name)
{
    emu_node *n = emu_find(s, name, NULL);
    return n && strcmp(n->doc.name, name) == 0 ? &n->doc : NULL;
}

void emu_store_put(emu_store *s, const char *name, char *text, int64_t create_us, int64_t update_us)
{
    /* times only go forward, also past an imported document's (a file from a clock ahead) */
    if (update_us > __atomic_load_n(&s->last_us, __ATOMIC_RELAXED))
        __atomic_store_n(&s->last_us, update_us, __ATOMIC_RELEASE);
    emu_node *update[EMU_SKIP_MAX];
    emu_node *n = emu_find(s, name, update);
    if (n && strcmp(n->doc.name, name) == 0) {
        free(n->doc.text);
        n->doc.text = text;
        n->doc.create_us = create_us;
        n->doc.update_us = update_us;
        return;
    }
    int level = emu_random_level(s);
    for (int i = s->level; i < level; i++)
        update[i] = s->head;
    if (level > s->level)
        s->level = level;
    n = emu_node_new(level);
    n->doc = (emu_doc){ .name = strdup(name), .text = text, .create_us = create_us, .update_us = update_us };
    for (int i = 0; i < level; i++) {
        n->next[i] = update[i]->next[i];
        update[i]->next[i] = n;
    }
    s->count++;
}

static void emu_unlink(emu_store *s, emu_node *n, emu_node **update)
{
    for (int i = 0; i < s->level; i++) {
        if (update[i]->next[i] == n)
            update[i]->next[i] = n->next[i];
    }
    while (s->level > 1 && !s->head->next[s->level - 1])
        s->level--;
    s->count--;
    emu_node_free(n);
}

bool emu_store_delete(emu_store *s, const char *name)
{
    emu_node *update[EMU_SKIP_MAX];
    emu_node *n = emu_find(s, name, update);
    if (!n || strcmp(n->doc.name, name) != 0)
        return false;
    emu_unlink(s, n, update);
    return true;
}

const emu_doc *emu_store_seek(emu_store *s, const char *key)
{
    emu_node *n = emu_find(s, key, NULL);
    return n ? &n->doc : NULL;
}

const emu_doc *emu_store_next(const emu_doc *d)
{
    const emu_node *n = (const emu_node *)d;
    return n->next[0] ? &n->next[0]->doc : NULL;
}

size_t emu_store_count(emu_store *s)
{
    return s->count;
}

size_t emu_store_clear_prefix(emu_store *s, const char *prefix)
{
    size_t plen = strlen(prefix), removed = 0;
    for (;;) {
        emu_node *update[EMU_SKIP_MAX];
        emu_node *n = emu_find(s, prefix, update);
        if (!n || strncmp(n->doc.name, prefix, plen) != 0)
            break;
        emu_unlink(s, n, update);
        removed++;
    }
    return removed;
}

int64_t emu_store_tick(emu_store *s)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    int64_t now = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec, last = __atomic_load_n(&s->last_us, __ATOMIC_RELAXED);
    int64_t next = now > last ? now : last + 1;
    __atomic_store_n(&s->last_us, next, __ATOMIC_RELEASE); /* readers may look without the lock */
    return next;
}

int64_t emu_store_now(emu_store *s)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    int64_t now = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec, last = __atomic_load_n(&s->last_us, __ATOMIC_ACQUIRE);
    return now > last ? now : last;
}

int64_t emu_store_last(emu_store *s)
{
    return __atomic_load_n(&s->last_us, __ATOMIC_ACQUIRE);
}

json_t *emu_doc_fields(const emu_doc *d)
{
    json_t *f = json_tree_load(d->text, strlen(d->text), 0, NULL);
    return f ? f : json_object();
}

/* End of the string whose opening quote is at p (after its closing quote), or NULL.
 * *escaped tells whether it holds a backslash. */
static const char *emu_text_string_end(const char *p, bool *escaped)
{
    for (p++;; p++) {
        const char *q = p + strcspn(p, "\"\\");
        if (*q == '"')
            return q + 1;
        if (*q == '\0' || q[1] == '\0')
            return NULL;
        if (escaped)
            *escaped = true;
        p = q + 1; /* the escaped character; the loop steps over it */
    }
}

/* End of the JSON object or array starting at p, or NULL. */
static const char *emu_text_value_end(const char *p)
{
    int depth = 0;
    do {
        p += strcspn(p, "\"{}[]");
        switch (*p) {
        case '"': p = emu_text_string_end(p, NULL); break;
        case '{':
        case '[': depth++; p++; break;
        case '}':
        case ']': depth--; p++; break;
        default: return NULL;
        }
    } while (p && depth > 0);
    return p;
}

int emu_text_fields(const char *text, emu_text_field **out)
{
    size_t cap = 32;
    int n = 0;
    emu_text_field *f = malloc(cap * sizeof *f);
    *out = f;
    const char *p = text;
    if (*p++ != '{')
        return -1;
    if (*p == '}')
        return p[1] == '\0' ? 0 : -1;
    for (;;) {
        if (*p != '"')
            return -1;
        bool escaped = false;
        const char *kend = emu_text_string_end(p, &escaped);
        if (!kend || escaped || *kend != ':' || kend[1] != '{')
            return -1;
        const char *vend = emu_text_value_end(kend + 1);
        if (!vend)
            return -1;
        if ((size_t)n == cap) {
            cap *= 2;
            f = realloc(f, cap * sizeof *f);
            *out = f;
        }
        f[n++] = (emu_text_field){ p + 1, (size_t)(kend - 1 - (p + 1)), p, kend + 1, (size_t)(vend - (kend + 1)) };
        p = vend;
        if (*p == '}')
            return p[1] == '\0' ? n : -1;
        if (*p++ != ',')
            return -1;
    }
}

int emu_text_field_find(const emu_text_field *f, int n, const char *key, size_t klen)
{
    for (int i = 0; i < n; i++) {
        if (f[i].klen == klen && memcmp(f[i].key, key, klen) == 0)
            return i;
    }
    return -1;
}

json_t *emu_doc_fields_for(const emu_doc *d, const emu_fieldpath *paths, int n)
{
    emu_text_field *tf;
    int nf = emu_text_fields(d->text, &tf);
    if (nf < 0) {
        free(tf);
        return emu_doc_fields(d);
    }
    json_t *out = json_object();
    for (int i = 0; i < n; i++) {
        const char *key = paths[i].seg[0];
        int at = emu_text_field_find(tf, nf, key, strlen(key));
        if (at < 0 || json_object_get(out, key))
            continue;
        json_t *v = json_tree_load(tf[at].val, tf[at].vlen, 0, NULL);
        if (v)
            json_object_set_new(out, key, v);
    }
    free(tf);
    return out;
}

/* Written into plain malloc'd memory (never jansson's allocator): it is stored. */
char *emu_fields_text(const json_t *fields)
{
    jbuf t = { 0 };
    jbuf_reserve(&t, 1024);
    json_tree_dump(&t, fields);
    jbuf_cstr(&t);
    return t.data;
}

bool emu_fields_same(const char *text, const char *new_text, const json_t *new_fields)
{
    if (strlen(text) != strlen(new_text))
        return false;
    if (strcmp(text, new_text) == 0)
        return true;
    json_t *old = json_tree_load(text, strlen(text), 0, NULL); /* same size, other bytes: maybe only the key order */
    bool same = old && json_equal(old, new_fields);
    json_decref(old);
    return same;
}

json_t *emu_doc_json(const emu_doc *d, const json_t *fields_override)
{
    json_t *fields = fields_override ? json_incref((json_t *)fields_override) : emu_doc_fields(d);
    json_t *o = json_pack("{s:s}", "name", d->name);
    if (json_object_size(fields) > 0)
        json_object_set(o, "fields", fields);
    json_decref(fields);
    json_object_set_new(o, "createTime", emu_time_json(d->create_us));
    json_object_set_new(o, "updateTime", emu_time_json(d->update_us));
    return o;
}
