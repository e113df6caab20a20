/* emu_path.c - resource names and URL routing (see emu_path.h). */
#include "tools/firestore-emulator/emu_path.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const char *const emu_verbs[] = { "commit", "batchGet", "batchWrite", "beginTransaction", "rollback",
                                          "runQuery", "listCollectionIds", "runAggregationQuery", "partitionQuery",
                                          "listen", "write", NULL };

static bool emu_segment_valid(const char *s, size_t n)
{
    if (n == 0 || n > EMU_MAX_ID)
        return false;
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return false;
    return !(n >= 4 && s[0] == '_' && s[1] == '_' && s[n - 1] == '_' && s[n - 2] == '_');
}

/* Validates "seg/seg/..." (path under documents/); returns the segment count or -1. */
static int emu_segments_check(const char *p)
{
    int count = 0;
    while (*p) {
        size_t n = strcspn(p, "/");
        if (!emu_segment_valid(p, n))
            return -1;
        count++;
        p += n;
        if (*p == '/') {
            p++;
            if (!*p)
                return -1;
        }
    }
    return count;
}

/* Length of "projects/{p}/databases/{d}" at the start of name, 0 when malformed. */
static size_t emu_database_prefix(const char *name)
{
    if (strncmp(name, "projects/", 9) != 0)
        return 0;
    const char *p = name + 9;
    size_t n = strcspn(p, "/");
    if (n == 0 || strncmp(p + n, "/databases/", 11) != 0)
        return 0;
    p += n + 11;
    size_t m = strcspn(p, "/:");
    if (m == 0)
        return 0;
    return (size_t)(p + m - name);
}

int emu_name_check_document(const char *name, const char *database, emu_status *st)
{
    size_t len = strlen(name);
    size_t db = emu_database_prefix(name);
    if (len > EMU_MAX_NAME || db == 0 || strncmp(name + db, "/documents/", 11) != 0)
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Document name \"%.300s\" is not valid.", name);
    if (database && (strlen(database) != db || strncmp(name, database, db) != 0))
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Document name \"%.300s\" is not in database \"%.200s\".", name,
                        database);
    int n = emu_segments_check(name + db + 11);
    if (n < 2 || n % 2 != 0)
        return emu_fail(st, EMU_INVALID_ARGUMENT,
                        "Document name \"%.300s\" has %d path segments after documents/, an even number > 0 is needed.",
                        name, n < 0 ? 0 : n);
    return 0;
}

static int emu_name_weight(unsigned char c)
{
    return c == '\0' ? 0 : c == '/' ? 1 : c + 2;
}

int emu_name_compare(const char *a, const char *b)
{
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
    /* names share long prefixes ("projects/p/databases/d/documents/members/"):
     * skip equal 8-byte words first, within both strings */
    size_t la = strlen(a), lb = strlen(b), n = la < lb ? la : lb, i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t wx, wy;
        memcpy(&wx, x + i, 8);
        memcpy(&wy, y + i, 8);
        if (wx != wy)
            break;
    }
    while (i < n && x[i] == y[i])
        i++;
    return emu_name_weight(x[i]) - emu_name_weight(y[i]);
}

const char *emu_name_id(const char *name)
{
    const char *slash = strrchr(name, '/');
    return slash ? slash + 1 : name;
}

int emu_name_depth(const char *name)
{
    const char *p = strstr(name, "/documents");
    if (!p)
        return 0;
    p += 10;
    int n = 0;
    for (; *p; p++)
        n += *p == '/';
    return n;
}

static bool emu_is_verb(const char *v)
{
    for (int i = 0; emu_verbs[i]; i++) {
        if (strcmp(v, emu_verbs[i]) == 0)
            return true;
    }
    return false;
}

static int emu_route_documents(const char *rest, bool admin, emu_route *r, emu_status *st)
{
    size_t db = emu_database_prefix(rest);
    if (db == 0 || db >= sizeof r->database)
        return emu_fail(st, EMU_NOT_FOUND, "Unknown path: expected projects/{project}/databases/{database}/documents");
    memcpy(r->database, rest, db);
    r->database[db] = '\0';
    const char *after = rest + db;
    if (strncmp(after, "/documents", 10) != 0 || (after[10] && after[10] != '/' && after[10] != ':'))
        return emu_fail(st, EMU_NOT_FOUND, "Unknown path: expected .../documents");
    if (strlen(rest) >= sizeof r->name)
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Resource name is longer than %d bytes.", EMU_MAX_NAME);
    snprintf(r->name, sizeof r->name, "%s", rest);
    if (admin) {
        if (after[10])
            return emu_fail(st, EMU_NOT_FOUND, "Unknown emulator path");
        r->kind = EMU_ROUTE_ADMIN_DOCS;
        return 0;
    }
    char *colon = strrchr(r->name, ':');
    char *last_slash = strrchr(r->name, '/');
    if (colon && colon > last_slash && emu_is_verb(colon + 1)) {
        snprintf(r->verb, sizeof r->verb, "%s", colon + 1);
        *colon = '\0';
        r->kind = EMU_ROUTE_VERB;
    }
    size_t root = db + 10;
    if (r->name[root] == '\0') {
        if (r->kind != EMU_ROUTE_VERB)
            return emu_fail(st, EMU_NOT_FOUND, "Unknown path: .../documents needs a collection, a document or a :verb");
        return 0;
    }
    int n = emu_segments_check(r->name + root + 1);
    if (n < 0)
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Resource name \"%.300s\" has an invalid path segment.", r->name);
    if (r->kind == EMU_ROUTE_VERB) {
        if (n % 2 != 0)
            return emu_fail(st, EMU_INVALID_ARGUMENT, "\"%.300s\" is not a document name; :%s needs a document parent.",
                            r->name, r->verb);
        return 0;
    }
    r->kind = n % 2 == 0 ? EMU_ROUTE_DOCUMENT : EMU_ROUTE_COLLECTION;
    return 0;
}

int emu_route_parse(const char *path, emu_route *r, emu_status *st)
{
    memset(r, 0, sizeof *r);
    if (strcmp(path, "/") == 0) {
        r->kind = EMU_ROUTE_ROOT;
        return 0;
    }
    if (strcmp(path, "/emulator/v1/faults") == 0) {
        r->kind = EMU_ROUTE_ADMIN_FAULTS;
        return 0;
    }
    if (strncmp(path, "/v1/", 4) == 0)
        return emu_route_documents(path + 4, false, r, st);
    if (strncmp(path, "/emulator/v1/", 13) == 0)
        return emu_route_documents(path + 13, true, r, st);
    return emu_fail(st, EMU_NOT_FOUND, "Unknown path; the API is under /v1/projects/{project}/databases/{database}/documents");
}
