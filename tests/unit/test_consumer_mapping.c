/* test_consumer_mapping.c - the mapping of member-consumer: config/consumer.conf's
 * default mapping applied to fixture events against an in-memory document store that
 * applies writes as Firestore does (update masks, deletes); plus bad mappings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/support/fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "services/consumer/event.h"
#include "services/consumer/fs_value.h"
#include "services/consumer/mapping.h"

typedef struct world {
    map_config *mc;
    json_t *store; /* name -> {"fields":...,"updateTime":...} */
    int writes;
    json_t *reads; /* name -> true: what the last batch read */
    int folds;     /* events folded into a later one of their row (map_supersedes) */
} world;

static int setup(void **state)
{
    cfg_error err;
    world *w = calloc(1, sizeof *w);
    w->mc = map_load_file("config/consumer.conf", &err);
    if (!w->mc)
        fprintf(stderr, "%s: %s\n", err.where, err.reason);
    assert_non_null(w->mc);
    w->mc->current_year = 2026;
    w->store = json_object();
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;
    map_free(w->mc);
    json_decref(w->store);
    json_decref(w->reads);
    free(w);
    return 0;
}

static char *slurp(const char *name, size_t *len)
{
    char *buf = th_fixture("consumer", name, len);
    assert_non_null(buf);
    return buf;
}

/* The documents an applied event's route says to write, as apply.c collects them. */
static void route_writes(const map_route *r, json_t *cache, json_t *written)
{
    const char *names[] = { r->doc, r->left_doc, r->refresh_doc ? r->refresh_doc : "",
                            json_object_get(json_object_get(cache, r->own_index), "_mask") ? r->own_index : "" };
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (names[k][0])
            json_object_set_new(written, names[k], json_true());
    for (size_t k = 0; k < json_array_size(r->carried); k++)
        json_object_set_new(written, json_string_value(json_array_get(r->carried, k)), json_true());
}

/* Applies the cache entries the routes named (written) to the store as Firestore applies
 * an update with a mask: a change no route names is never written (as in apply.c). */
static void commit_cache(world *w, json_t *cache, json_t *written)
{
    const char *name;
    json_t *e;
    json_object_foreach(cache, name, e) {
        if (!json_is_object(e) || !json_object_get(written, name))
            continue;
        w->writes++;
        if (json_is_true(json_object_get(e, "_delete"))) {
            json_object_del(w->store, name);
            continue;
        }
        json_t *doc = json_object_get(w->store, name);
        if (!doc) {
            doc = json_pack("{s:o}", "fields", json_object());
            json_object_set_new(w->store, name, doc);
        }
        json_t *fields = json_object_get(doc, "fields");
        const char *path;
        json_t *t;
        json_object_foreach(json_object_get(e, "_mask"), path, t) {
            json_t *v = fsv_get(json_object_get(e, "fields"), path);
            if (v)
                fsv_set(fields, path, json_deep_copy(v));
            else
                fsv_remove(fields, path);
        }
    }
}


typedef struct merging {
    world *w;
    const char *const *keys;
    size_t n;
    ev_event *ev;
    map_route *r;
    map_status *st;
    bool *folded;
    json_t *cache, *written;
    const char *leave;
} merging;

/* Merges event i, or folds it into the next event of its row when that one supersedes
 * it (map_supersedes), as apply.c does: a folded event takes the outcome of the event it
 * went into, or is merged after all when that one fails. */
/* Whether events i and j are of the same row (table and key). */
static bool same_row(const merging *b, size_t i, size_t j)
{
    return !strcmp(b->keys[i], b->keys[j]) && b->ev[i].table && b->ev[j].table && !strcmp(b->ev[i].table, b->ev[j].table);
}

/* The next event of event i's row in the batch, or n. */
static size_t next_of_row(const merging *b, size_t i)
{
    for (size_t j = i + 1; j < b->n; j++)
        if (same_row(b, i, j))
            return j;
    return b->n;
}

/* Whether an event between i and j goes to i's document. */
static bool doc_between(const merging *b, size_t i, size_t j)
{
    for (size_t k = i + 1; k < j; k++)
        if (b->st[k] == MAP_OK && b->r[k].doc && !strcmp(b->r[k].doc, b->r[i].doc))
            return true;
    return false;
}

static void merge_one(merging *b, size_t i)
{
    char err[512];
    size_t j = next_of_row(b, i);
    if (!b->leave && b->st[i] == MAP_OK && j < b->n && b->st[j] == MAP_OK && !doc_between(b, i, j) &&
        map_supersedes(b->w->mc, b->cache, &b->r[j], &b->ev[j], &b->r[i], &b->ev[i])) {
        b->folded[i] = true;
        b->w->folds++;
        if (b->ev[i].op != 'u' || b->r[i].as_insert)
            b->r[j].as_insert = true;
        return;
    }
    if (b->st[i] == MAP_OK)
        b->st[i] = map_merge(b->w->mc, &b->ev[i], &b->r[i], b->cache, err, sizeof err);
    if (b->leave && (b->st[i] == MAP_OK || b->st[i] == MAP_STALE) &&
        map_leave_again(b->w->mc, &b->ev[i], &b->r[i], b->cache, b->leave))
        b->st[i] = MAP_OK;
    if (b->st[i] == MAP_OK)
        route_writes(&b->r[i], b->cache, b->written);
    for (size_t p = i; p-- > 0;) { /* the chain of events folded into this one */
        if (!same_row(b, p, i))
            continue;
        if (!b->folded[p])
            break;
        b->folded[p] = false;
        if (b->st[i] != MAP_OK && b->st[i] != MAP_STALE) {
            merge_one(b, p);
            break;
        }
        b->st[p] = b->st[i];
    }
}

/* Several events in one batch, as apply.c runs them: all prepared against one cache,
 * then merged in their order (folding superseded ones), then written. st[i]: each
 * event's outcome. leave: as apply.c's retry of events whose row left that document and
 * a write failed (NULL: none). */
static void run_batch_leaving(world *w, const char *const *texts, const char *const *keys, size_t n, map_status *st,
                              const char *leave)
{
    char err[512];
    ev_event *ev = calloc(n, sizeof *ev);
    map_route *r = calloc(n, sizeof *r);
    bool *folded = calloc(n, sizeof *folded);
    json_t **k = calloc(n, sizeof *k), *cache = json_object(), *written = json_object();
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ev_parse(texts[i], strlen(texts[i]), &ev[i], err, sizeof err), EV_OK);
        k[i] = json_loads(keys[i], 0, NULL);
        st[i] = MAP_NEED;
    }
    json_decref(w->reads);
    w->reads = json_object();
    for (int round = 0; round < 8; round++) {
        json_t *needs = json_array();
        for (size_t i = 0; i < n; i++)
            if (st[i] == MAP_NEED)
                st[i] = map_prepare(w->mc, &ev[i], k[i], cache, &r[i], needs, err, sizeof err);
        if (leave && !json_object_get(cache, leave))
            json_array_append_new(needs, json_string(leave));
        size_t j;
        json_t *nm;
        json_array_foreach(needs, j, nm) {
            json_t *doc = json_object_get(w->store, json_string_value(nm));
            json_object_set_new(cache, json_string_value(nm), doc ? json_deep_copy(doc) : json_null());
            json_object_set_new(w->reads, json_string_value(nm), json_true());
        }
        json_decref(needs);
    }
    merging b = { w, keys, n, ev, r, st, folded, cache, written, leave };
    for (size_t i = 0; i < n; i++)
        merge_one(&b, i);
    for (size_t i = 0; i < n; i++) {
        map_route_free(&r[i]);
        ev_free(&ev[i]);
        json_decref(k[i]);
    }
    commit_cache(w, cache, written);
    json_decref(written);
    json_decref(cache);
    free(ev);
    free(r);
    free(k);
    free(folded);
}

static void run_batch_json(world *w, const char *const *texts, const char *const *keys, size_t n, map_status *st)
{
    run_batch_leaving(w, texts, keys, n, st, NULL);
}

/* Prepares and merges one event (JSON text) as the consumer would, the store playing
 * Firestore: a batch of one. */
static map_status run_event_json(world *w, const char *text, const char *key)
{
    map_status st;
    run_batch_json(w, &text, &key, 1, &st);
    return st;
}

/* run_event_json with the event's text from a format. */
static map_status run_event_fmt(world *w, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static map_status run_event_fmt(world *w, const char *key, const char *fmt, ...)
{
    char ev[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ev, sizeof ev, fmt, ap);
    va_end(ap);
    return run_event_json(w, ev, key);
}

static map_status run_event(world *w, const char *fixture, const char *key)
{
    size_t len;
    char *buf = slurp(fixture, &len);
    map_status st = run_event_json(w, buf, key);
    free(buf);
    return st;
}

static json_t *field(world *w, const char *doc, const char *path)
{
    return fsv_get(json_object_get(json_object_get(w->store, doc), "fields"), path);
}

static const char *str(world *w, const char *doc, const char *path)
{
    return fsv_get_string(field(w, doc, path));
}

#define MEMBER "members/0101302989"

static void comrade_create_builds_the_portal_document(void **state)
{
    world *w = *state;
    assert_int_equal(run_event(w, "comrade_create.json", "{\"id\":42}"), MAP_OK);
    assert_string_equal(str(w, MEMBER, "profile.name"), "Jón Jónsson");
    assert_string_equal(str(w, MEMBER, "profile.kennitala"), "0101302989");
    assert_string_equal(str(w, MEMBER, "profile.birthday"), "1930-01-01");
    int64_t i;
    assert_true(fsv_get_int(field(w, MEMBER, "profile.gender"), &i));
    assert_int_equal(i, 1);
    assert_true(fsv_get_int(field(w, MEMBER, "metadata.django_id"), &i));
    assert_int_equal(i, 42);
    assert_string_equal(fsv_get_timestamp(field(w, MEMBER, "membership.date_joined")),
                        "2020-05-17T10:11:12.345678Z");
    assert_true(json_is_false(field(w, MEMBER, "profile.groupable")));
    assert_string_equal(str(w, MEMBER, "membership.status"), "unpaid");
    assert_true(fsv_get_int(field(w, MEMBER, "metadata.sync.membership_comrade.lsn"), &i));
    assert_int_equal(i, 24023928);
    /* columns left out never reach the document */
    assert_null(field(w, MEMBER, "firebase_uid"));
    assert_null(field(w, MEMBER, "metadata.firebase_uid"));
    /* the key index points at the document */
    assert_string_equal(str(w, "sync_keys/membership_comrade:42", "doc"), MEMBER);
}

static void replay_and_older_events_are_stale(void **state)
{
    world *w = *state;
    assert_int_equal(run_event(w, "comrade_update.json", "{\"id\":42}"), MAP_OK);
    assert_int_equal(run_event(w, "comrade_create.json", "{\"id\":42}"), MAP_STALE);
    assert_int_equal(run_event(w, "comrade_update.json", "{\"id\":42}"), MAP_STALE);
    assert_string_equal(str(w, MEMBER, "profile.name"), "Jón Jónsson yngri");
    assert_true(fsv_is_null(field(w, MEMBER, "profile.birthday")));
    /* hyphenated kennitala: the same document, never a second one */
    assert_int_equal(json_object_size(w->store), 2);
}

static void positions_are_per_table(void **state)
{
    world *w = *state;
    assert_int_equal(run_event(w, "comrade_update.json", "{\"id\":42}"), MAP_OK); /* lsn 24030000 */
    /* contact info committed earlier (lsn 24023950) still applies: another table */
    assert_int_equal(run_event(w, "contactinfo_create.json", "{\"comrade_id\":42}"), MAP_OK);
    assert_string_equal(str(w, MEMBER, "profile.phone"), "6903635");
    assert_string_equal(str(w, MEMBER, "profile.email"), "jon@example.is");
    assert_int_equal(run_event(w, "contactinfo_create.json", "{\"comrade_id\":42}"), MAP_STALE);
    assert_int_equal(run_event(w, "contactinfo_delete.json", "{\"comrade_id\":42}"), MAP_OK);
    assert_null(field(w, MEMBER, "profile.phone"));
    assert_string_equal(str(w, MEMBER, "profile.email"), ""); /* the portal's "" if none (if_null) */
    assert_non_null(field(w, MEMBER, "profile.name"));
    /* a null e-mail is "" too */
    const char *no_email = "{\"op\":\"c\",\"after\":{\"comrade_id\":42,\"email\":null,\"phone\":\"\"},"
                           "\"source\":{\"table\":\"membership_contactinfo\",\"schema\":\"public\",\"lsn\":24300000}}";
    assert_int_equal(run_event_json(w, no_email, "{\"comrade_id\":42}"), MAP_OK);
    assert_string_equal(str(w, MEMBER, "profile.email"), "");
}

static void child_waits_for_parent(void **state)
{
    world *w = *state;
    assert_int_equal(run_event(w, "contactinfo_create.json", "{\"comrade_id\":42}"), MAP_WAIT);
    assert_int_equal(json_object_size(w->store), 0);
}

static void portal_fields_survive(void **state)
{
    world *w = *state;
    assert_int_equal(run_event(w, "comrade_create.json", "{\"id\":42}"), MAP_OK);
    json_t *fields = json_object_get(json_object_get(w->store, MEMBER), "fields");
    fsv_set(fields, "metadata.firebase_uid", fsv_string("portal-uid"));
    fsv_set(fields, "profile.nickname", fsv_string("Nonni"));
    assert_int_equal(run_event(w, "comrade_update.json", "{\"id\":42}"), MAP_OK);
    assert_string_equal(str(w, MEMBER, "metadata.firebase_uid"), "portal-uid");
    assert_string_equal(str(w, MEMBER, "profile.nickname"), "Nonni");
}

static void toasted_value_leaves_field_alone(void **state)
{
    world *w = *state;
    assert_int_equal(run_event(w, "comrade_create.json", "{\"id\":42}"), MAP_OK);
    assert_int_equal(run_event(w, "comrade_toast.json", "{\"id\":42}"), MAP_OK);
    assert_string_equal(str(w, MEMBER, "profile.name"), "Jón Jónsson");
    assert_true(fsv_is_true(field(w, MEMBER, "profile.reachable")));
}

static void soft_delete_and_row_delete(void **state)
{
    world *w = *state;
    assert_int_equal(run_event(w, "comrade_create.json", "{\"id\":42}"), MAP_OK);
    assert_int_equal(run_event(w, "comrade_softdelete.json", "{\"id\":42}"), MAP_OK);
    assert_string_equal(str(w, MEMBER, "membership.status"), "inactive");
    assert_string_equal(fsv_get_timestamp(field(w, MEMBER, "metadata.deleted_at")),
                        "2026-11-25T03:30:14.5Z");
    /* the row itself deleted: its before holds only the key; found through the index */
    assert_int_equal(run_event(w, "comrade_delete.json", "{\"id\":42}"), MAP_OK);
    assert_non_null(json_object_get(w->store, MEMBER));
    assert_string_equal(str(w, MEMBER, "membership.status"), "inactive");
    assert_non_null(fsv_get_timestamp(field(w, MEMBER, "metadata.deleted_at")));
}

static void placeholders_and_truncates_are_skipped(void **state)
{
    world *w = *state;
    /* a placeholder member is left out, but its index entry says so... */
    assert_int_equal(run_event(w, "comrade_placeholder.json", "{\"id\":43}"), MAP_OK);
    assert_int_equal(run_event(w, "truncate.json", "{\"id\":43}"), MAP_SKIP);
    assert_int_equal(json_object_size(w->store), 1);
    json_t *idx = json_object_get(w->store, "sync_keys/membership_comrade:43");
    assert_non_null(idx);
    assert_true(fsv_is_true(json_object_get(json_object_get(idx, "fields"), "skipped")));
    /* ...so that its rows in other tables are left out too instead of waiting forever */
    const char *child = "{\"op\":\"c\",\"after\":{\"comrade_id\":43,\"email\":\"x@example.is\",\"phone\":\"\"},"
                        "\"source\":{\"table\":\"membership_contactinfo\",\"schema\":\"public\",\"lsn\":99}}";
    assert_int_equal(run_event_json(w, child, "{\"comrade_id\":43}"), MAP_SKIP);
    assert_int_equal(json_object_size(w->store), 1);
}

static void junction_rows_gather_into_an_array(void **state)
{
    world *w = *state;
    assert_int_equal(run_event(w, "comrade_create.json", "{\"id\":42}"), MAP_OK);
    /* the union's name is not synced yet: wait */
    assert_int_equal(run_event(w, "union_create.json", "{\"id\":7}"), MAP_WAIT);
    assert_int_equal(run_event(w, "ref_union3.json", "{\"id\":3}"), MAP_OK);
    assert_int_equal(run_event(w, "ref_union1.json", "{\"id\":1}"), MAP_OK);
    assert_string_equal(str(w, "sync_ref_membership_union/3", "abbreviation"), "VR");
    assert_int_equal(run_event(w, "union_create2.json", "{\"id\":12}"), MAP_OK);
    assert_int_equal(run_event(w, "union_create.json", "{\"id\":7}"), MAP_OK);
    json_t *arr = fsv_array_values(field(w, MEMBER, "membership.unions"));
    assert_int_equal(json_array_size(arr), 2);
    assert_string_equal(fsv_get_string(json_array_get(arr, 0)), "Verkalýðsfélag Reykjavíkur"); /* row 7 */
    assert_string_equal(fsv_get_string(json_array_get(arr, 1)), "Efling");                     /* row 12 */
    /* delete: before holds only the key, the row's index entry finds the member */
    assert_int_equal(run_event(w, "union_delete.json", "{\"id\":7}"), MAP_OK);
    arr = fsv_array_values(field(w, MEMBER, "membership.unions"));
    assert_int_equal(json_array_size(arr), 1);
    /* the older insert of row 7 replayed: stale, the name does not come back */
    assert_int_equal(run_event(w, "union_create.json", "{\"id\":7}"), MAP_STALE);
    assert_int_equal(json_array_size(arr), 1);
}

static void fee_paid_makes_member_active(void **state)
{
    world *w = *state;
    assert_int_equal(run_event(w, "comrade_create.json", "{\"id\":42}"), MAP_OK);
    assert_int_equal(run_event(w, "fee_paid.json", "{\"id\":5}"), MAP_OK);
    assert_string_equal(str(w, MEMBER, "membership.status"), "active");
    w->mc->current_year = 2027; /* last year's fee is skipped */
    assert_int_equal(run_event(w, "fee_paid.json", "{\"id\":5}"), MAP_SKIP);
}

/* Without a fixed year, "$current_year" is the year the event was committed (UTC): a
 * consumer started in one year applies the next year's fees, and a replay decides as
 * the first run did. */
#define FEE_EVENT                                                                                            \
    "{\"before\":null,\"after\":{\"id\":%d,\"comrade_id\":42,\"year\":%d,\"date_paid\":\"%d-01-02\"},"          \
    "\"source\":{\"ts_ms\":%lld,\"table\":\"billing_membershipfee\","                                              \
    "\"sequence\":\"[\\\"24023000\\\",\\\"%d\\\"]\",\"lsn\":%d},\"op\":\"c\"}"

static void current_year_is_the_commit_year(void **state)
{
    world *w = *state;
    w->mc->current_year = 0;
    assert_int_equal(run_event(w, "comrade_create.json", "{\"id\":42}"), MAP_OK);
    /* committed 2026-12-31T23:59:59.999Z: the 2027 fee is not this year's */
    assert_int_equal(run_event_fmt(w, "{\"id\":6}", FEE_EVENT, 6, 2027, 2026, 1798761599999LL, 24030000, 24030000),
                     MAP_SKIP);
    /* committed 2027-01-01T00:00:00.000Z, the same process: it is */
    assert_int_equal(run_event_fmt(w, "{\"id\":7}", FEE_EVENT, 7, 2027, 2027, 1798761600000LL, 24031000, 24031000),
                     MAP_OK);
    assert_string_equal(str(w, MEMBER, "membership.status"), "active");
    int64_t year = 0;
    assert_true(fsv_get_int(field(w, MEMBER, "membership.fee_year"), &year));
    assert_int_equal(year, 2027);
    /* a change to the member committed in 2028: last year's fee no longer makes it active */
    const char *contact = "{\"op\":\"c\",\"after\":{\"comrade_id\":42,\"email\":\"j@example.is\",\"phone\":\"\"},"
                          "\"source\":{\"table\":\"membership_contactinfo\",\"schema\":\"public\",\"lsn\":24200000,"
                          "\"ts_ms\":1830643200000}}";
    assert_int_equal(run_event_json(w, contact, "{\"comrade_id\":42}"), MAP_OK);
    assert_string_equal(str(w, MEMBER, "membership.status"), "unpaid");
}

#define COMRADE_EVENT                                                                                       \
    "{\"before\":null,\"after\":{\"id\":%d,\"name\":\"J\",\"ssn\":\"%s\",\"deleted_at\":null},"                 \
    "\"source\":{\"ts_ms\":1764041414123,\"table\":\"membership_comrade\","                                     \
    "\"sequence\":\"[\\\"%d\\\",\\\"%d\\\"]\",\"lsn\":%d},\"op\":\"%s\"}"

/* A membership_comrade event of row id with kennitala ssn at lsn ('c', 'u'). */
static map_status run_comrade(world *w, int id, const char *ssn, int lsn, const char *op)
{
    char key[32];
    snprintf(key, sizeof key, "{\"id\":%d}", id);
    return run_event_fmt(w, key, COMRADE_EVENT, id, ssn, lsn, lsn, lsn, op);
}

/* An update of row id in its own document writes that document alone: no index entry,
 * no other document. */
static void update_writes_once(world *w, int id, const char *ssn, int lsn)
{
    size_t writes = w->writes;
    assert_int_equal(run_comrade(w, id, ssn, lsn, "u"), MAP_OK);
    assert_int_equal(w->writes, writes + 1);
}

/* A member who leaves and rejoins under a new id goes into the document that already
 * holds the old row's data and position: the new row gets its index entry all the
 * same, or the rows of other tables that find the member through it would wait for
 * ever. */
static void a_rejoining_member_gets_its_index_entry(void **state)
{
    world *w = *state;
    assert_int_equal(run_event(w, "comrade_create.json", "{\"id\":42}"), MAP_OK); /* 0101302989 */
    assert_int_equal(run_comrade(w, 43, "0101302989", 24120000, "c"),
                     MAP_OK);
    assert_string_equal(str(w, "sync_keys/membership_comrade:43", "doc"), MEMBER);
    const char *child = "{\"op\":\"c\",\"after\":{\"comrade_id\":43,\"email\":\"new@example.is\",\"phone\":\"\"},"
                        "\"source\":{\"table\":\"membership_contactinfo\",\"schema\":\"public\",\"lsn\":24130000}}";
    assert_int_equal(run_event_json(w, child, "{\"comrade_id\":43}"), MAP_OK);
    assert_string_equal(str(w, MEMBER, "profile.email"), "new@example.is");
    update_writes_once(w, 43, "0101302989", 24140000); /* its entry is in place */
}

/* A kennitala corrected and changed back: the member's row moves to another document
 * and back. Each move reads the row's index entry (only then: an update of the row's
 * own document reads nothing more), repoints it, and soft-deletes the document left, so
 * that the rows of other tables follow the member and the document of a kennitala that
 * is not the member's does not stay active. */
static void a_member_row_that_moves_and_moves_back_takes_its_rows_along(void **state)
{
    world *w = *state;
    const char *typo = "members/0101302998";
    assert_int_equal(run_event(w, "comrade_create.json", "{\"id\":42}"), MAP_OK); /* 0101302989 */
    assert_int_equal(run_comrade(w, 42, "0101302998", 24100000, "u"),
                     MAP_OK);
    assert_string_equal(str(w, "sync_keys/membership_comrade:42", "doc"), typo);
    assert_string_equal(str(w, MEMBER, "membership.status"), "inactive");
    assert_non_null(fsv_get_timestamp(field(w, MEMBER, "metadata.deleted_at")));
    assert_string_equal(str(w, typo, "membership.status"), "unpaid");
    /* and back */
    assert_int_equal(run_comrade(w, 42, "0101302989", 24110000, "u"),
                     MAP_OK);
    assert_string_equal(str(w, "sync_keys/membership_comrade:42", "doc"), MEMBER);
    assert_string_equal(str(w, MEMBER, "membership.status"), "unpaid");
    assert_string_equal(str(w, typo, "membership.status"), "inactive");
    assert_int_equal(run_event(w, "contactinfo_create.json", "{\"comrade_id\":42}"), MAP_OK);
    assert_string_equal(str(w, MEMBER, "profile.email"), "jon@example.is");
    assert_null(field(w, typo, "profile.email"));
    /* the first move replayed is stale: nothing flips back */
    assert_int_equal(run_comrade(w, 42, "0101302998", 24100000, "u"),
                     MAP_STALE);
    assert_string_equal(str(w, "sync_keys/membership_comrade:42", "doc"), MEMBER);
    update_writes_once(w, 42, "0101302989", 24120000);
}

/* One version of a membership_comrade row: its event's time is 1764041414000 + lsn ms. */
typedef struct comrade_v {
    int id;
    const char *name, *ssn;
    int gender, lsn;
    char op;
} comrade_v;

#define COMRADE_V                                                                                           \
    "{\"before\":null,\"after\":{\"id\":%d,\"name\":\"%s\",\"ssn\":\"%s\",\"gender\":%d,\"deleted_at\":null},"      \
    "\"source\":{\"ts_ms\":%lld,\"table\":\"membership_comrade\",\"lsn\":%d},\"op\":\"%c\"}"

/* Runs the versions as one batch. */
static void run_comrades(world *w, const comrade_v *v, size_t n, map_status *st)
{
    char text[8][512], key[8][32];
    const char *texts[8], *keys[8];
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++) {
        snprintf(key[i], sizeof key[i], "{\"id\":%d}", v[i].id);
        snprintf(text[i], sizeof text[i], COMRADE_V, v[i].id, v[i].name, v[i].ssn, v[i].gender,
                 1764041414000LL + v[i].lsn, v[i].lsn, v[i].op);
        texts[i] = text[i];
        keys[i] = key[i];
    }
    run_batch_json(w, texts, keys, n, st);
}

/* Runs the versions as one batch in w, and one by one in a copy of w: the stores must
 * end the same (folding changes how, never what). */
static void run_comrades_like_one_by_one(world *w, const comrade_v *v, size_t n, map_status *st)
{
    world one = { .mc = w->mc, .store = json_deep_copy(w->store) };
    map_status alone;
    run_comrades(w, v, n, st);
    for (size_t i = 0; i < n; i++) {
        run_comrades(&one, &v[i], 1, &alone);
        assert_int_equal(alone, st[i]);
    }
    if (!json_equal(w->store, one.store)) {
        char *x = json_dumps(w->store, JSON_COMPACT | JSON_SORT_KEYS), *y = json_dumps(one.store, JSON_COMPACT | JSON_SORT_KEYS);
        fail_msg("batch %s\none by one %s", x, y);
    }
    json_decref(one.store);
    json_decref(one.reads);
}

#define UNAVAILABLE "__debezium_unavailable_value"
#define K2 "0101302998"

/* Versions of one row in a batch: each one that the next carries whole is folded into it
 * (not mapped), and every batch ends as merging its events one by one does - the last
 * state, its position, the index entry an insert writes. Merged on their own: a version
 * the next does not carry whole (an unchanged TOASTed value), one a replayed older event
 * follows, one already stale, one moving the row in from another document (the document
 * left gets its own time), and one with another row going to its document in between. */
static void versions_of_a_row_fold_into_the_last(void **state)
{
    world *w = *state;
    map_status st[4];
    const comrade_v v1[] = { { 42, "A", "0101302989", 1, 100, 'c' }, { 42, "B", "0101302989", 2, 200, 'u' },
                             { 42, "C", "0101302989", 3, 300, 'u' } };
    run_comrades_like_one_by_one(w, v1, 3, st);
    assert_int_equal(w->folds, 2);
    assert_string_equal(str(w, MEMBER, "profile.name"), "C");
    assert_string_equal(str(w, "sync_keys/membership_comrade:42", "doc"), MEMBER); /* the insert's entry */
    int64_t lsn;
    assert_true(fsv_get_int(field(w, MEMBER, "metadata.sync.membership_comrade.lsn"), &lsn));
    assert_int_equal(lsn, 300);

    const comrade_v toasted[] = { { 42, "D", "0101302989", 1, 400, 'u' }, { 42, UNAVAILABLE, "0101302989", 2, 500, 'u' } };
    run_comrades_like_one_by_one(w, toasted, 2, st);
    assert_string_equal(str(w, MEMBER, "profile.name"), "D");
    const comrade_v replayed[] = { { 42, "E", "0101302989", 1, 700, 'u' }, { 42, "C", "0101302989", 3, 300, 'u' } };
    run_comrades_like_one_by_one(w, replayed, 2, st);
    assert_int_equal(st[1], MAP_STALE);
    const comrade_v stale_first[] = { { 42, "E", "0101302989", 1, 700, 'u' }, { 42, "F", "0101302989", 1, 800, 'u' } };
    run_comrades_like_one_by_one(w, stale_first, 2, st);
    assert_int_equal(st[0], MAP_STALE);
    assert_string_equal(str(w, MEMBER, "profile.name"), "F");
    const comrade_v moved[] = { { 42, "G", K2, 1, 900, 'u' }, { 42, "H", K2, 1, 1000, 'u' } };
    run_comrades_like_one_by_one(w, moved, 2, st);
    assert_string_equal(str(w, "sync_keys/membership_comrade:42", "doc"), "members/" K2);
    assert_string_equal(str(w, MEMBER, "membership.status"), "inactive");
    assert_int_equal(w->folds, 2); /* none of these four */

    const comrade_v first[] = { { 50, "P", "1111111111", 1, 1100, 'c' } };
    run_comrades_like_one_by_one(w, first, 1, st);
    const comrade_v between[] = { { 51, "Q", "2222222222", 1, 1200, 'c' }, { 50, "R", "2222222222", 1, 1300, 'u' },
                                  { 51, "S", "2222222222", 1, 1400, 'u' } };
    run_comrades_like_one_by_one(w, between, 3, st);
    assert_int_equal(w->folds, 2);

    /* a member rejoining under a new id into a document holding the table's position:
     * the insert folded into its update still writes the new row's index entry */
    const comrade_v rejoin[] = { { 43, "I", K2, 1, 1500, 'c' }, { 43, "J", K2, 1, 1600, 'u' } };
    run_comrades_like_one_by_one(w, rejoin, 2, st);
    assert_int_equal(w->folds, 3);
    assert_string_equal(str(w, "sync_keys/membership_comrade:43", "doc"), "members/" K2);

    /* a delete is never folded, nor folded into */
    ev_event a = { 0 }, b = { 0 };
    map_route ra = { 0 }, rb = { 0 };
    char err[256];
    const char *upd = "{\"before\":null,\"after\":{\"id\":42,\"name\":\"H\",\"ssn\":\"0101302998\"},"
                      "\"source\":{\"table\":\"membership_comrade\",\"lsn\":2000},\"op\":\"u\"}";
    const char *del = "{\"before\":{\"id\":42},\"after\":null,"
                      "\"source\":{\"table\":\"membership_comrade\",\"lsn\":2100},\"op\":\"d\"}";
    assert_int_equal(ev_parse(upd, strlen(upd), &a, err, sizeof err), EV_OK);
    assert_int_equal(ev_parse(del, strlen(del), &b, err, sizeof err), EV_OK);
    json_t *key = json_pack("{s:i}", "id", 42), *cache = json_object(), *needs = json_array();
    map_prepare(w->mc, &a, key, cache, &ra, needs, err, sizeof err);
    map_prepare(w->mc, &b, key, cache, &rb, needs, err, sizeof err);
    assert_false(map_supersedes(w->mc, cache, &rb, &b, &ra, &a));
    assert_false(map_supersedes(w->mc, cache, &ra, &a, &rb, &b));
    map_route_free(&ra);
    map_route_free(&rb);
    ev_free(&a);
    ev_free(&b);
    json_decref(key);
    json_decref(cache);
    json_decref(needs);
}

/* A row inserted and deleted in one batch: the delete (whose "before" holds only the
 * key) finds the row through the index entry the insert just wrote, instead of being
 * skipped as a row never applied while the insert is written. */
static void insert_and_delete_in_one_batch_leave_no_row(void **state)
{
    world *w = *state;
    assert_int_equal(run_event(w, "comrade_create.json", "{\"id\":42}"), MAP_OK);
    assert_int_equal(run_event(w, "ref_union3.json", "{\"id\":3}"), MAP_OK);
    size_t len1, len2;
    char *ins = slurp("union_create.json", &len1), *del = slurp("union_delete.json", &len2);
    const char *texts[] = { ins, del }, *keys[] = { "{\"id\":7}", "{\"id\":7}" };
    map_status st[2];
    run_batch_json(w, texts, keys, 2, st);
    assert_int_equal(st[0], MAP_OK);
    assert_int_equal(st[1], MAP_OK);
    assert_int_equal(json_array_size(fsv_array_values(field(w, MEMBER, "membership.unions"))), 0);
    /* a delete of a row that was never applied is still skipped */
    const char *texts2[] = { del }, *keys2[] = { "{\"id\":8}" };
    run_batch_json(w, texts2, keys2, 1, st);
    assert_int_equal(st[0], MAP_SKIP);
    free(ins);
    free(del);
}

static void unknown_table_and_bad_key(void **state)
{
    world *w = *state;
    const char *ev_json = "{\"op\":\"c\",\"after\":{\"id\":1},\"source\":{\"table\":\"auth_user\",\"lsn\":5}}";
    ev_event ev;
    char err[256];
    assert_int_equal(ev_parse(ev_json, strlen(ev_json), &ev, err, sizeof err), EV_OK);
    json_t *cache = json_object(), *needs = json_array(), *key = json_loads("{\"id\":1}", 0, NULL);
    map_route r = { 0 };
    assert_int_equal(map_prepare(w->mc, &ev, key, cache, &r, needs, err, sizeof err), MAP_ERR_TABLE);
    assert_string_equal(map_status_class(MAP_ERR_TABLE), "mapping.unknown_table");
    ev_free(&ev);
    const char *ev2 = "{\"op\":\"c\",\"after\":{\"id\":1,\"ssn\":\"12\"},\"source\":{\"table\":\"membership_comrade\",\"lsn\":5}}";
    assert_int_equal(ev_parse(ev2, strlen(ev2), &ev, err, sizeof err), EV_OK);
    assert_int_equal(map_prepare(w->mc, &ev, key, cache, &r, needs, err, sizeof err), MAP_ERR_APPLY);
    assert_non_null(strstr(err, "kennitala"));
    assert_null(strstr(err, "12")); /* no member data in the reason */
    assert_int_equal(map_prepare(w->mc, &ev, NULL, cache, &r, needs, err, sizeof err), MAP_ERR_APPLY);
    map_route_free(&r);
    ev_free(&ev);
    json_decref(cache);
    json_decref(needs);
    json_decref(key);
}

static void conversions(void **state)
{
    (void)state;
    char out[32], err[128];
    assert_int_equal(map_kennitala("010130-2989", false, out, sizeof out), 0);
    assert_string_equal(out, "0101302989");
    assert_int_equal(map_kennitala("0101302989", true, out, sizeof out), 0);
    assert_string_equal(out, "010130-2989");
    assert_int_equal(map_kennitala("01013029890", false, out, sizeof out), -1);
    assert_int_equal(map_kennitala("0101x02989", false, out, sizeof out), -1);
    assert_int_equal(map_phone7("+354 690-3635", out, sizeof out), 0);
    assert_string_equal(out, "6903635");
    assert_int_equal(map_phone7("00354 6903635", out, sizeof out), 0);
    assert_string_equal(out, "6903635");
    assert_int_equal(map_phone7("690 3635", out, sizeof out), 0);
    assert_string_equal(out, "6903635");

    map_value_pair pairs[] = { { "0", json_string("unknown") }, { "1", json_string("male") },
                               { "2", json_string("female") }, { "3", json_string("other") } };
    map_field gender = { .column = "gender", .path = "profile.gender", .values = pairs, .nvalues = 4 };
    json_t *two = json_integer(2);
    json_t *v = map_convert(&gender, two, err, sizeof err);
    assert_string_equal(fsv_get_string(v), "female");
    json_decref(v);
    json_decref(two);
    map_field num = { .column = "amount", .path = "x", .conv = MAP_CONV_DOUBLE };
    json_t *raw = json_string("1234.50");
    v = map_convert(&num, raw, err, sizeof err);
    assert_true(json_is_real(v) && json_real_value(v) == 1234.5);
    json_decref(v);
    num.conv = MAP_CONV_STRING;
    v = map_convert(&num, raw, err, sizeof err);
    assert_string_equal(fsv_get_string(v), "1234.50");
    json_decref(v);
    json_decref(raw);
    /* a float column's value as text: the digits it was written with, not 17 of them */
    const double reals[] = { 0.1, 1234.5, -2.5e-7, 1.0 / 3.0, 1e21 };
    const char *texts[] = { "0.1", "1234.5", "-2.5e-07", "0.3333333333333333", "1e+21" };
    for (size_t i = 0; i < 5; i++) {
        raw = json_real(reals[i]);
        v = map_convert(&num, raw, err, sizeof err);
        assert_string_equal(fsv_get_string(v), texts[i]);
        json_decref(v);
        json_decref(raw);
    }
    map_field js = { .column = "prefs", .path = "x", .conv = MAP_CONV_JSON };
    raw = json_string("{\"sms\":true}");
    v = map_convert(&js, raw, err, sizeof err);
    assert_true(fsv_is_true(fsv_get(fsv_map_fields(v), "sms")));
    json_decref(v);
    json_decref(raw);
    raw = json_string("{broken");
    assert_null(map_convert(&js, raw, err, sizeof err));
    assert_non_null(strstr(err, "prefs"));
    json_decref(raw);
    for (size_t i = 0; i < 4; i++)
        json_decref(pairs[i].to);
}

/* Writes a mapping file and expects map_load_file to refuse it naming a line. */
static void refuse(const char *body, const char *reason_part, int line)
{
    char path[] = "/tmp/test_consumer_mapping_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(body, f);
    fclose(f);
    cfg_error err;
    memset(&err, 0, sizeof err);
    map_config *mc = map_load_file(path, &err);
    unlink(path);
    if (mc)
        fprintf(stderr, "accepted: %s\n", body);
    assert_null(mc);
    if (!strstr(err.reason, reason_part))
        fprintf(stderr, "reason: %s\n", err.reason);
    assert_non_null(strstr(err.reason, reason_part));
    if (line > 0) {
        char want[32];
        snprintf(want, sizeof want, ":%d", line);
        assert_non_null(strstr(err.where, want));
    }
}

static void bad_mappings_are_refused(void **state)
{
    (void)state;
    refuse("mapping: { tables = ( ); };\n", "non-empty", 0);
    refuse("mapping: {\n tables = (\n { table = \"t\"; collection = \"c\"; id = { key = true; };\n"
           "   fields = ( { column = \"a\"; path = \"b\"; convert = \"roman\"; } ); } ); };\n",
           "unknown conversion", 4);
    refuse("mapping: { tables = ( { table = \"t\"; collection = \"c\"; id = { column = \"a\"; key = true; };\n"
           " fields = ( { column = \"a\"; path = \"b\"; } ); } ); };\n", "exactly one", 0);
    refuse("mapping: { tables = ( { table = \"t\"; collection = \"c\"; id = { parent = \"p\"; columns = [\"p_id\"]; };\n"
           " fields = ( { column = \"a\"; path = \"b\"; } ); } ); };\n", "parent p must be mapped", 0);
    refuse("mapping: { tables = ( { table = \"t\"; collection = \"c\"; id = { key = true; };\n"
           " fields = ( { column = \"a\"; path = \"b\"; lookup = [\"nosuch.name\"]; } ); } ); };\n",
           "lookup step", 0);
    refuse("mapping: { tables = ( { table = \"t\"; collection = \"c\"; id = { key = true; };\n"
           " fields = ( { column = \"a\"; } ); } ); };\n", "\"path\" is required", 0);
    refuse("mapping: { tables = ( { table = \"t\"; collection = \"c\"; id = { key = true; }; delete = \"soft\";\n"
           " fields = ( { column = \"a\"; path = \"b\"; } ); } ); };\n", "soft_delete", 0);
    refuse("mapping: { tables = ( { table = \"t\"; collection = \"a/b\"; id = { key = true; };\n"
           " fields = ( { column = \"a\"; path = \"b\"; } ); } ); };\n", "must not contain", 0);
    refuse("mapping: { tables = ( { table = \"t\"; collection = \"c\"; id = { key = true; }; element_if = \"b\";\n"
           " fields = ( { column = \"a\"; path = \"b\"; } ); } ); };\n", "element_if", 0);
    refuse("mapping: { tables = ( { table = \"t\"; collection = \"c\"; id = { key = true; };\n"
           " fields = ( { column = \"a\"; path = \"b\"; if_null = [ 1 ]; } ); } ); };\n", "if_null must be a scalar", 0);
    refuse("mapping: { tables = ( { table = \"t\"; collection = \"c\"; id = { key = true; };\n"
           " fields = ( { column = \"a\"; path = \"b\"; } ); } );\n"
           " derived = ( { collection = \"c\"; path = \"s\"; rules = ( ( \"b\", \"last_year\", 1 ) ); } ); };\n",
           "not_current_year", 0);
    refuse("mapping: { tables = ( { table = \"t\"; collection = \"c\"; id = { key = true; };\n"
           " fields = ( { column = \"a\"; path = \"b\"; } ); refreshes = [ \"t\" ]; } ); };\n",
           "must be mapped as an array table with index = true", 0);
    refuse("mapping: { tables = ( { table = \"t\"; collection = \"c\"; id = { key = true; };\n"
           " fields = ( { column = \"a\"; path = \"b\"; } );\n refreshes = \"u\"; } ); };\n",
           "\"refreshes\" must list", 3);
    refuse("mapping: { tables = ( { table = \"t\"; collection = \"c\"; id = { key = true; };\n"
           " fields = ( { column = \"a\"; path = \"b\"; lookup = [ \"nodot\" ]; } ); } ); };\n",
           "lookup entry 1 must be a \"table.column\" step", 2);
    refuse("mapping: { tables = ( { table = \"t\"; collection = \"c\"; id = { key = true; }; per_row = true;\n"
           " fields = ( { column = \"a\"; path = \"b\"; } ); } ); };\n", "delete = \"hard\" would delete", 0);
}

/* A mapping from configuration text. */
static map_config *load_mapping_text(const char *conf)
{
    char path[] = "/tmp/test_consumer_map_XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fputs(conf, f);
    fclose(f);
    cfg_error err;
    map_config *mc = map_load_file(path, &err);
    unlink(path);
    return mc;
}

/* An event of table at lsn with row as its after image (JSON text). */
static map_status run_row(world *w, const char *table, const char *op, const char *key, const char *row, int lsn)
{
    return run_event_fmt(w, key, "{\"op\":\"%s\",\"after\":%s,\"source\":{\"table\":\"%s\",\"schema\":\"public\","
                         "\"lsn\":%d}}", op, row, table, lsn);
}

/* The streets of the member's addresses, joined with '|' in array order. */
static const char *streets(world *w, char *buf, size_t len)
{
    json_t *arr = fsv_array_values(field(w, MEMBER, "profile.addresses"));
    size_t o = 0;
    buf[0] = 0;
    for (size_t i = 0; i < json_array_size(arr) && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? "|" : "", fsv_get_string(fsv_get(json_array_get(arr, i), "street")));
    return buf;
}

/* A move (Django: the old address's base row gets current = false, a new base row and
 * address row are inserted) takes the old address out of profile.addresses at once,
 * though its address row never changes: the base row refreshes the element. */
static void a_move_takes_the_old_address_out_at_once(void **state)
{
    world *w = *state;
    char buf[200];
    const char *base = "membership_newcomradeaddress", *foreign = "membership_newforeignaddress";
    assert_int_equal(run_event(w, "comrade_create.json", "{\"id\":42}"), MAP_OK);
    assert_int_equal(run_row(w, "map_country", "r", "{\"id\":109}", "{\"id\":109,\"code\":\"IS\"}", 100), MAP_OK);
    assert_int_equal(run_row(w, "map_country", "r", "{\"id\":110}", "{\"id\":110,\"code\":\"NO\"}", 100), MAP_OK);
#define BASE_ROW "{\"id\":%d,\"country_id\":%d,\"current\":%s}"
#define FOREIGN_ROW "{\"newcomradeaddress_ptr_id\":%d,\"comrade_id\":42,\"address\":\"%s\",\"postal_code\":\"0150\"," \
                    "\"municipality\":\"Oslo\"}"
    char row[300];
    snprintf(row, sizeof row, BASE_ROW, 1, 109, "true");
    assert_int_equal(run_row(w, base, "c", "{\"id\":1}", row, 24100000), MAP_OK);
    snprintf(row, sizeof row, FOREIGN_ROW, 1, "Old Road 1");
    assert_int_equal(run_row(w, foreign, "c", "{\"newcomradeaddress_ptr_id\":1}", row, 24100010), MAP_OK);
    assert_string_equal(streets(w, buf, sizeof buf), "Old Road 1");

    /* the move, in one transaction: the old base row is no longer current; the new
     * address is in Norway */
    const char *move[3];
    char m0[300], m1[300], m2[300];
    snprintf(row, sizeof row, BASE_ROW, 1, 109, "false");
    snprintf(m0, sizeof m0, "{\"op\":\"u\",\"after\":%s,\"source\":{\"table\":\"%s\",\"lsn\":24200000}}", row, base);
    snprintf(row, sizeof row, BASE_ROW, 2, 110, "true");
    snprintf(m1, sizeof m1, "{\"op\":\"c\",\"after\":%s,\"source\":{\"table\":\"%s\",\"lsn\":24200010}}", row, base);
    snprintf(row, sizeof row, FOREIGN_ROW, 2, "New Road 2");
    snprintf(m2, sizeof m2, "{\"op\":\"c\",\"after\":%s,\"source\":{\"table\":\"%s\",\"lsn\":24200020}}", row, foreign);
    move[0] = m0, move[1] = m1, move[2] = m2;
    const char *keys[] = { "{\"id\":1}", "{\"id\":2}", "{\"newcomradeaddress_ptr_id\":2}" };
    map_status st[3];
    run_batch_json(w, move, keys, 3, st);
    assert_int_equal(st[0], MAP_OK);
    assert_int_equal(st[1], MAP_OK);
    assert_int_equal(st[2], MAP_WAIT); /* its base row was not written when it was prepared */
    assert_string_equal(streets(w, buf, sizeof buf), ""); /* the old one is out already */
    run_batch_json(w, move + 2, keys + 2, 1, st); /* the retry */
    assert_int_equal(st[0], MAP_OK);
    assert_string_equal(streets(w, buf, sizeof buf), "New Road 2");
    json_t *arr = fsv_array_values(field(w, MEMBER, "profile.addresses"));
    assert_string_equal(fsv_get_string(fsv_get(json_array_get(arr, 0), "country")), "NO");

    /* the base row's event again, or an older one: stale, nothing changes */
    run_batch_json(w, move, keys, 1, st);
    assert_int_equal(st[0], MAP_STALE);
    snprintf(row, sizeof row, BASE_ROW, 1, 109, "true");
    assert_int_equal(run_row(w, base, "u", "{\"id\":1}", row, 24150000), MAP_STALE);
    assert_string_equal(streets(w, buf, sizeof buf), "New Road 2");

    /* and back: the elements follow their base rows, in either order of batches */
    snprintf(row, sizeof row, BASE_ROW, 1, 109, "true");
    assert_int_equal(run_row(w, base, "u", "{\"id\":1}", row, 24300000), MAP_OK);
    assert_string_equal(streets(w, buf, sizeof buf), "Old Road 1|New Road 2");
    snprintf(row, sizeof row, BASE_ROW, 2, 110, "false");
    assert_int_equal(run_row(w, base, "u", "{\"id\":2}", row, 24300010), MAP_OK);
    assert_string_equal(streets(w, buf, sizeof buf), "Old Road 1");
    /* the address row's own change still maps through its (current) base row */
    snprintf(row, sizeof row, FOREIGN_ROW, 1, "Old Road 1b");
    assert_int_equal(run_row(w, foreign, "u", "{\"newcomradeaddress_ptr_id\":1}", row, 24400000), MAP_OK);
    assert_string_equal(streets(w, buf, sizeof buf), "Old Road 1b");
    /* a base row whose address row is not there (yet) changes only its reference row */
    snprintf(row, sizeof row, BASE_ROW, 3, 109, "true");
    assert_int_equal(run_row(w, base, "c", "{\"id\":3}", row, 24500000), MAP_OK);
    assert_string_equal(streets(w, buf, sizeof buf), "Old Road 1b");
#undef BASE_ROW
#undef FOREIGN_ROW
}

/* Members 42 (MEMBER) and 43; returns 43's document. */
static const char *two_members(world *w)
{
    assert_int_equal(run_event(w, "comrade_create.json", "{\"id\":42}"), MAP_OK);
    assert_int_equal(run_comrade(w, 43, "0202022020", 24020000, "c"), MAP_OK);
    return "members/0202022020";
}

/* A corrected kennitala: the member's document moves, and the member's other rows (contact
 * info, this year's fee, union memberships) come along into the new one - the member
 * stays "active" with an e-mail - and their key index entries follow, so that a delete
 * carrying only its key finds them there; moved back, the newer state comes back. */
static void a_corrected_kennitala_takes_the_members_rows_along(void **state)
{
    world *w = *state;
    const char *fixed = "members/0202022020";
    assert_int_equal(run_event(w, "comrade_create.json", "{\"id\":42}"), MAP_OK);
    assert_int_equal(run_event(w, "contactinfo_create.json", "{\"comrade_id\":42}"), MAP_OK);
    assert_int_equal(run_event(w, "ref_union3.json", "{\"id\":3}"), MAP_OK);
    assert_int_equal(run_event(w, "union_create.json", "{\"id\":7}"), MAP_OK);
    assert_int_equal(run_row(w, "billing_membershipfee", "c", "{\"id\":6}",
                             "{\"id\":6,\"comrade_id\":42,\"year\":2026,\"date_paid\":\"2026-03-01\"}", 24030000),
                     MAP_OK);
    assert_string_equal(str(w, MEMBER, "membership.status"), "active");
    assert_int_equal(run_comrade(w, 42, "0202022020", 24100000, "u"), MAP_OK);
    assert_string_equal(str(w, fixed, "membership.status"), "active");
    assert_string_equal(str(w, fixed, "profile.email"), "jon@example.is");
    assert_string_equal(str(w, fixed, "profile.phone"), "6903635");
    assert_int_equal(json_array_size(fsv_array_values(field(w, fixed, "membership.unions"))), 1);
    assert_string_equal(str(w, "sync_keys/membership_unionmembership:7", "doc"), fixed);
    assert_string_equal(str(w, "sync_keys/billing_membershipfee:6", "doc"), fixed);
    assert_string_equal(str(w, MEMBER, "membership.status"), "inactive");
    /* the union membership ends: its delete (the key alone) finds it in the new document;
     * the contact row is deleted there too (cleared: e-mail "", no phone) */
    assert_int_equal(run_event(w, "union_delete.json", "{\"id\":7}"), MAP_OK);
    assert_int_equal(json_array_size(fsv_array_values(field(w, fixed, "membership.unions"))), 0);
    assert_int_equal(run_event(w, "contactinfo_delete.json", "{\"comrade_id\":42}"), MAP_OK);
    assert_null(field(w, fixed, "profile.phone"));
    /* the kennitala changed back: the newer state goes back with it */
    assert_int_equal(run_comrade(w, 42, "0101302989", 24200000, "u"), MAP_OK);
    assert_string_equal(str(w, MEMBER, "membership.status"), "active");
    assert_int_equal(json_array_size(fsv_array_values(field(w, MEMBER, "membership.unions"))), 0);
    assert_string_equal(str(w, MEMBER, "profile.email"), ""); /* as the newer state says */
    assert_null(field(w, MEMBER, "profile.phone"));
    assert_string_equal(str(w, "sync_keys/billing_membershipfee:6", "doc"), MEMBER);
}

/* A fee deleted while the member was in the corrected document stays deleted when the
 * kennitala changes back: the old document does not keep its old fee (found in review). */
static void a_fee_deleted_while_away_stays_deleted_when_back(void **state)
{
    world *w = *state;
    const char *fixed = "members/0202022020";
    assert_int_equal(run_event(w, "comrade_create.json", "{\"id\":42}"), MAP_OK);
    assert_int_equal(run_row(w, "billing_membershipfee", "c", "{\"id\":6}",
                             "{\"id\":6,\"comrade_id\":42,\"year\":2026,\"date_paid\":\"2026-03-01\"}", 24030000),
                     MAP_OK);
    assert_int_equal(run_comrade(w, 42, "0202022020", 24100000, "u"), MAP_OK);
    assert_string_equal(str(w, fixed, "membership.status"), "active");
    assert_int_equal(run_event_json(w,
                                    "{\"op\":\"d\",\"before\":{\"id\":6,\"comrade_id\":null,\"year\":null,"
                                    "\"date_paid\":null},\"after\":null,\"source\":{\"table\":\"billing_membershipfee\","
                                    "\"lsn\":24150000}}",
                                    "{\"id\":6}"),
                     MAP_OK);
    assert_string_equal(str(w, fixed, "membership.status"), "unpaid");
    assert_int_equal(run_comrade(w, 42, "0101302989", 24200000, "u"), MAP_OK);
    assert_string_equal(str(w, MEMBER, "membership.status"), "unpaid");
    assert_null(field(w, MEMBER, "membership.fees_paid"));
}

/* Child-row moves where writes fail or rows meet (found in review):
 * - the write to the document the fee left fails while the rest lands: the retry, stale
 *   where the fee went, takes it out all the same (apply.c keeps the document's name);
 * - a fee of the first member's own, applied before the move of another fee out of its
 *   document: its fields stay;
 * - an update of an address row kept out of the array reads no index entry. */
static void child_row_moves_survive_failures(void **state)
{
    world *w = *state;
    const char *other = two_members(w);
    char fee[200];
#define FEE_ROW "{\"id\":%d,\"comrade_id\":%d,\"year\":2026,\"date_paid\":\"2026-03-01\"}"
    snprintf(fee, sizeof fee, FEE_ROW, 6, 42);
    assert_int_equal(run_row(w, "billing_membershipfee", "c", "{\"id\":6}", fee, 24100000), MAP_OK);
    json_t *was = json_deep_copy(json_object_get(w->store, MEMBER));
    snprintf(fee, sizeof fee, FEE_ROW, 6, 43);
    assert_int_equal(run_row(w, "billing_membershipfee", "u", "{\"id\":6}", fee, 24200000), MAP_OK);
    json_object_set_new(w->store, MEMBER, was); /* that write failed */
    assert_string_equal(str(w, MEMBER, "membership.status"), "active");
    char ev[400];
    snprintf(ev, sizeof ev, "{\"op\":\"u\",\"after\":%s,\"source\":{\"table\":\"billing_membershipfee\",\"lsn\":24200000}}",
             fee);
    const char *texts[] = { ev }, *keys[] = { "{\"id\":6}" };
    map_status st;
    run_batch_leaving(w, texts, keys, 1, &st, MEMBER);
    assert_int_equal(st, MAP_OK);
    assert_string_equal(str(w, MEMBER, "membership.status"), "unpaid");
    assert_string_equal(str(w, other, "membership.status"), "active");
    run_batch_leaving(w, texts, keys, 1, &st, MEMBER); /* again: nothing left to do */
    assert_int_equal(st, MAP_STALE);

    /* member 42 pays its own fee (row 5), applied before row 6 moves out (row 6 back to
     * 42 first, then away again): row 5's fields stay */
    snprintf(fee, sizeof fee, FEE_ROW, 6, 42);
    assert_int_equal(run_row(w, "billing_membershipfee", "u", "{\"id\":6}", fee, 24300000), MAP_OK);
    snprintf(fee, sizeof fee, FEE_ROW, 5, 42);
    assert_int_equal(run_row(w, "billing_membershipfee", "c", "{\"id\":5}", fee, 24500000), MAP_OK);
    snprintf(fee, sizeof fee, FEE_ROW, 6, 43);
    assert_int_equal(run_row(w, "billing_membershipfee", "u", "{\"id\":6}", fee, 24400000), MAP_OK);
    assert_string_equal(str(w, MEMBER, "membership.status"), "active");
    assert_true(fsv_is_true(field(w, MEMBER, "membership.fees_paid")));
    assert_string_equal(str(w, other, "membership.status"), "active");
#undef FEE_ROW

    /* an address row kept out of the array (not current) changes: no index read */
    assert_int_equal(run_row(w, "map_country", "r", "{\"id\":109}", "{\"id\":109,\"code\":\"IS\"}", 100), MAP_OK);
    assert_int_equal(run_row(w, "membership_newcomradeaddress", "c", "{\"id\":1}",
                             "{\"id\":1,\"country_id\":109,\"current\":false}", 24600000), MAP_OK);
#define ADDR_ROW "{\"newcomradeaddress_ptr_id\":1,\"comrade_id\":42,\"address\":\"%s\",\"postal_code\":\"0150\"," \
                 "\"municipality\":\"Oslo\"}"
    char row[300];
    snprintf(row, sizeof row, ADDR_ROW, "Old Road");
    assert_int_equal(run_row(w, "membership_newforeignaddress", "c", "{\"newcomradeaddress_ptr_id\":1}", row, 24600010),
                     MAP_OK);
    snprintf(row, sizeof row, ADDR_ROW, "Old Road 2");
#undef ADDR_ROW
    assert_int_equal(run_row(w, "membership_newforeignaddress", "u", "{\"newcomradeaddress_ptr_id\":1}", row, 24600020),
                     MAP_OK);
    assert_null(json_object_get(w->reads, "sync_keys/membership_newforeignaddress:1"));
}

/* The refresh where writes fail and events meet in one batch (found in review):
 * - the base row's event retried after its own write failed, its element's landed, and
 *   the address row's change in between put the element back: mapped again;
 * - the address row inserted and its base row changed in one batch, the insert first:
 *   the base row finds the element through the index entry the insert wrote;
 * - a replay of an old base row event naming a country no longer there: stale, it does
 *   not wait for the country. */
static void refresh_survives_retries_and_batches(void **state)
{
    world *w = *state;
    char buf[200], row[300], b0[300], a1[300];
    const char *base = "membership_newcomradeaddress", *foreign = "membership_newforeignaddress";
    assert_int_equal(run_event(w, "comrade_create.json", "{\"id\":42}"), MAP_OK);
    assert_int_equal(run_row(w, "map_country", "r", "{\"id\":109}", "{\"id\":109,\"code\":\"IS\"}", 100), MAP_OK);
#define BASE_ROW "{\"id\":1,\"country_id\":%d,\"current\":%s}"
#define FOREIGN_ROW "{\"newcomradeaddress_ptr_id\":1,\"comrade_id\":42,\"address\":\"%s\",\"postal_code\":\"0150\"," \
                    "\"municipality\":\"Oslo\"}"
    snprintf(row, sizeof row, BASE_ROW, 109, "true");
    assert_int_equal(run_row(w, base, "c", "{\"id\":1}", row, 24100000), MAP_OK);
    /* inserted and moved out of in one batch, the insert first */
    snprintf(row, sizeof row, FOREIGN_ROW, "Road 1");
    snprintf(a1, sizeof a1, "{\"op\":\"c\",\"after\":%s,\"source\":{\"table\":\"%s\",\"lsn\":24100010}}", row, foreign);
    snprintf(row, sizeof row, BASE_ROW, 109, "false");
    snprintf(b0, sizeof b0, "{\"op\":\"u\",\"after\":%s,\"source\":{\"table\":\"%s\",\"lsn\":24200000}}", row, base);
    const char *batch[] = { a1, b0 }, *keys[] = { "{\"newcomradeaddress_ptr_id\":1}", "{\"id\":1}" };
    map_status st[2];
    run_batch_json(w, batch, keys, 2, st);
    assert_int_equal(st[0], MAP_OK);
    assert_int_equal(st[1], MAP_OK);
    assert_string_equal(streets(w, buf, sizeof buf), "");
    /* current again; then moved out of, but the base row's own write fails (its
     * reference row stays as it was) while the element's lands */
    snprintf(row, sizeof row, BASE_ROW, 109, "true");
    assert_int_equal(run_row(w, base, "u", "{\"id\":1}", row, 24300000), MAP_OK);
    assert_string_equal(streets(w, buf, sizeof buf), "Road 1");
    json_t *was = json_deep_copy(json_object_get(w->store, "sync_ref_newcomradeaddress/1"));
    snprintf(row, sizeof row, BASE_ROW, 109, "false");
    assert_int_equal(run_row(w, base, "u", "{\"id\":1}", row, 24400000), MAP_OK);
    assert_string_equal(streets(w, buf, sizeof buf), "");
    json_object_set_new(w->store, "sync_ref_newcomradeaddress/1", was);
    /* the address row changes meanwhile, reading the base row as it was: back in */
    snprintf(row, sizeof row, FOREIGN_ROW, "Road 1b");
    assert_int_equal(run_row(w, foreign, "u", "{\"newcomradeaddress_ptr_id\":1}", row, 24450000), MAP_OK);
    assert_string_equal(streets(w, buf, sizeof buf), "Road 1b");
    /* the base row's event retried: its row is applied, and the element mapped again */
    snprintf(row, sizeof row, BASE_ROW, 109, "false");
    assert_int_equal(run_row(w, base, "u", "{\"id\":1}", row, 24400000), MAP_OK);
    assert_string_equal(streets(w, buf, sizeof buf), "");
    /* an old base row event naming a country that is gone, replayed: stale, no waiting */
    snprintf(row, sizeof row, BASE_ROW, 999, "true");
    assert_int_equal(run_row(w, base, "u", "{\"id\":1}", row, 24150000), MAP_STALE);
    /* a new one naming it waits for it */
    assert_int_equal(run_row(w, base, "u", "{\"id\":1}", row, 24500000), MAP_WAIT);
#undef BASE_ROW
#undef FOREIGN_ROW
}

/* A fee and a union membership booked to the wrong member, then moved to the right one
 * (comrade_id corrected): they leave the first member's document - the fee no longer
 * makes that member active - and join the other's; and back again. */
static void a_row_moved_to_another_member_leaves_the_first(void **state)
{
    world *w = *state;
    const char *other = two_members(w);
    assert_int_equal(run_event(w, "ref_union3.json", "{\"id\":3}"), MAP_OK);
#define FEE_ROW "{\"id\":6,\"comrade_id\":%d,\"year\":2026,\"date_paid\":\"2026-03-01\"}"
#define UNION_ROW "{\"id\":7,\"comrade_id\":%d,\"union_id\":3}"
    char fee[200], un[200];
    int lsn = 24100000;
    for (int round = 0; round < 3; round++, lsn += 100000) {
        int to = round == 1 ? 43 : 42; /* booked to 42, moved to 43, moved back */
        const char *here = to == 42 ? MEMBER : other, *there = to == 42 ? other : MEMBER;
        snprintf(fee, sizeof fee, FEE_ROW, to);
        snprintf(un, sizeof un, UNION_ROW, to);
        assert_int_equal(run_row(w, "billing_membershipfee", round ? "u" : "c", "{\"id\":6}", fee, lsn), MAP_OK);
        assert_int_equal(run_row(w, "membership_unionmembership", round ? "u" : "c", "{\"id\":7}", un, lsn + 10), MAP_OK);
        assert_string_equal(str(w, here, "membership.status"), "active");
        assert_int_equal(json_array_size(fsv_array_values(field(w, here, "membership.unions"))), 1);
        assert_string_equal(str(w, "sync_keys/billing_membershipfee:6", "doc"), here);
        if (round == 0)
            continue;
        assert_string_equal(str(w, there, "membership.status"), "unpaid");
        assert_null(field(w, there, "membership.fees_paid"));
        assert_int_equal(json_array_size(fsv_array_values(field(w, there, "membership.unions"))), 0);
    }
    /* the first booking replayed: stale where it was, nothing moves */
    snprintf(fee, sizeof fee, FEE_ROW, 42);
    assert_int_equal(run_row(w, "billing_membershipfee", "c", "{\"id\":6}", fee, 24100000), MAP_STALE);
    assert_null(field(w, other, "membership.fees_paid"));
#undef FEE_ROW
#undef UNION_ROW
}

/* element_if: only the rows whose element has the field true are in the array (the
 * portal shows the current address only); a row that stops being current leaves it,
 * one that becomes current again comes back. */
static void element_if_keeps_only_current_rows(void **state)
{
    (void)state;
    world w = { 0 };
    w.mc = load_mapping_text(
        "mapping: { tables = (\n"
        " { table = \"membership_comrade\"; collection = \"members\"; id = { column = \"ssn\"; convert = \"kennitala\"; };\n"
        "   index = true; fields = ( { column = \"name\"; path = \"profile.name\"; } );\n"
        "   delete = \"hard\"; },\n"
        " { table = \"membership_newforeignaddress\"; collection = \"members\";\n"
        "   id = { parent = \"membership_comrade\"; columns = [ \"comrade_id\" ]; }; index = true;\n"
        "   array = \"profile.addresses\"; element_if = \"is_default\";\n"
        "   fields = ( { column = \"address\"; path = \"street\"; },\n"
        "              { column = \"current\"; path = \"is_default\"; convert = \"bool\"; } ); } ); };\n");
    assert_non_null(w.mc);
    w.store = json_object();
    assert_int_equal(run_event(&w, "comrade_create.json", "{\"id\":42}"), MAP_OK);
#define ADDRESS_EVENT                                                                                        \
    "{\"op\":\"%s\",\"after\":{\"id\":%d,\"comrade_id\":42,\"address\":\"%s\",\"current\":%s},"                   \
    "\"source\":{\"table\":\"membership_newforeignaddress\",\"schema\":\"public\",\"lsn\":%d}}"
    assert_int_equal(run_event_fmt(&w, "{\"id\":1}", ADDRESS_EVENT, "c", 1, "Old Road 1", "false", 24100000), MAP_OK);
    assert_int_equal(run_event_fmt(&w, "{\"id\":2}", ADDRESS_EVENT, "c", 2, "New Road 2", "true", 24110000), MAP_OK);
    json_t *arr = fsv_array_values(field(&w, MEMBER, "profile.addresses"));
    assert_int_equal(json_array_size(arr), 1);
    assert_string_equal(fsv_get_string(fsv_get(json_array_get(arr, 0), "street")), "New Road 2");
    /* the member moves back: row 2 stops being current, row 1 is current again */
    assert_int_equal(run_event_fmt(&w, "{\"id\":2}", ADDRESS_EVENT, "u", 2, "New Road 2", "false", 24120000), MAP_OK);
    assert_int_equal(run_event_fmt(&w, "{\"id\":1}", ADDRESS_EVENT, "u", 1, "Old Road 1", "true", 24130000), MAP_OK);
    arr = fsv_array_values(field(&w, MEMBER, "profile.addresses"));
    assert_int_equal(json_array_size(arr), 1);
    assert_string_equal(fsv_get_string(fsv_get(json_array_get(arr, 0), "street")), "Old Road 1");
    /* the older event of row 2 replayed is stale: it does not come back */
    assert_int_equal(run_event_fmt(&w, "{\"id\":2}", ADDRESS_EVENT, "c", 2, "New Road 2", "true", 24110000), MAP_STALE);
    map_free(w.mc);
    json_decref(w.store);
    json_decref(w.reads);
}

/* The planning document's other shape: hyphenated kennitala ids, gender as words. */
static void alternative_shape(void **state)
{
    (void)state;
    const char *conf =
        "mapping: { tables = ( { table = \"membership_comrade\"; collection = \"people\";\n"
        "  id = { column = \"ssn\"; convert = \"kennitala_hyphen\"; }; index = true; delete = \"hard\";\n"
        "  fields = ( { column = \"gender\"; path = \"gender\";\n"
        "               map = ( (0, \"unknown\"), (1, \"male\"), (2, \"female\"), (3, \"other\") ); },\n"
        "             { column = \"name\"; path = \"privacy.name\"; } ); } ); };\n";
    world w = { 0 };
    w.mc = load_mapping_text(conf);
    assert_non_null(w.mc);
    w.store = json_object();
    assert_int_equal(run_event(&w, "comrade_create.json", "{\"id\":42}"), MAP_OK);
    assert_string_equal(str(&w, "people/010130-2989", "gender"), "male");
    assert_string_equal(str(&w, "people/010130-2989", "privacy.name"), "Jón Jónsson");
    /* hard delete removes the document; an older event replayed does not bring it back */
    assert_int_equal(run_event(&w, "comrade_delete.json", "{\"id\":42}"), MAP_OK);
    assert_null(json_object_get(w.store, "people/010130-2989"));
    assert_int_equal(run_event(&w, "comrade_update.json", "{\"id\":42}"), MAP_STALE);
    assert_null(json_object_get(w.store, "people/010130-2989"));
    map_free(w.mc);
    json_decref(w.store);
    json_decref(w.reads);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(comrade_create_builds_the_portal_document),
        T(versions_of_a_row_fold_into_the_last),
        T(replay_and_older_events_are_stale),
        T(positions_are_per_table),
        T(child_waits_for_parent),
        T(portal_fields_survive),
        T(toasted_value_leaves_field_alone),
        T(soft_delete_and_row_delete),
        T(placeholders_and_truncates_are_skipped),
        T(current_year_is_the_commit_year),
        T(a_rejoining_member_gets_its_index_entry),
        T(a_member_row_that_moves_and_moves_back_takes_its_rows_along),
        T(insert_and_delete_in_one_batch_leave_no_row),
        T(element_if_keeps_only_current_rows),
        T(a_move_takes_the_old_address_out_at_once),
        T(a_row_moved_to_another_member_leaves_the_first),
        T(refresh_survives_retries_and_batches),
        T(child_row_moves_survive_failures),
        T(a_corrected_kennitala_takes_the_members_rows_along),
        T(a_fee_deleted_while_away_stays_deleted_when_back),
        T(junction_rows_gather_into_an_array),
        T(fee_paid_makes_member_active),
        T(unknown_table_and_bad_key),
        cmocka_unit_test(conversions),
        cmocka_unit_test(bad_mappings_are_refused),
        cmocka_unit_test(alternative_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
