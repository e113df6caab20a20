/* emu_fault.c - seeded fault injection rules (see emu_fault.h). */
#include "tools/firestore-emulator/emu_fault.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMU_MAX_RULES 64

typedef struct {
    char method[16];
    char prefix[512];
    char document[512]; /* a write rule: fails the writes of :batchWrite to these documents */
    emu_code code;
    double rate;
    long long remaining;  /* "fail the next N": -1 when not counted */
    int latency_ms, jitter_ms;
    bool after_apply;
    int retry_after;
    long long hits;
} emu_rule;

struct emu_faults {
    pthread_mutex_t mu;
    emu_rule rules[EMU_MAX_RULES];
    int n;
    uint64_t rng, seed;
};

emu_faults *emu_faults_new(uint64_t seed)
{
    emu_faults *f = calloc(1, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
    f->seed = seed;
    f->rng = seed ? seed : 1;
    return f;
}

void emu_faults_free(emu_faults *f)
{
    if (!f)
        return;
    pthread_mutex_destroy(&f->mu);
    free(f);
}

/* xorshift64*: a uniform double in [0,1); holds mu. */
static double emu_fault_rand(emu_faults *f)
{
    f->rng ^= f->rng >> 12;
    f->rng ^= f->rng << 25;
    f->rng ^= f->rng >> 27;
    return (double)((f->rng * 0x2545f4914f6cdd1dULL) >> 11) / 9007199254740992.0;
}

static int emu_rule_int(const json_t *rule, const char *key, long long lo, long long hi, long long *out, emu_status *st)
{
    json_t *v = json_object_get(rule, key);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return emu_fail(st, EMU_INVALID_ARGUMENT, "fault rule: %s must be an integer in %lld..%lld", key, lo, hi);
    *out = json_integer_value(v);
    return 0;
}

static int emu_rule_parse(const json_t *r, emu_rule *rule, emu_status *st)
{
    static const char *const keys[] = { "status", "rate", "count", "method", "pathPrefix", "latencyMs",
                                        "jitterMs", "afterApply", "retryAfterSeconds", "document", NULL };
    memset(rule, 0, sizeof *rule);
    rule->remaining = -1;
    if (!json_is_object(r))
        return emu_fail(st, EMU_INVALID_ARGUMENT, "fault rule must be an object");
    if (emu_known_keys(r, keys, "fault rule", st) != 0)
        return -1;
    json_t *status = json_object_get(r, "status"), *rate = json_object_get(r, "rate");
    if (status && (!json_is_string(status) || emu_code_parse(json_string_value(status), &rule->code) != 0 ||
                   rule->code == EMU_OK))
        return emu_fail(st, EMU_INVALID_ARGUMENT, "fault rule: status must be a google.rpc.Code name other than OK");
    if (rate && (!json_is_number(rate) || json_number_value(rate) < 0 || json_number_value(rate) > 1))
        return emu_fail(st, EMU_INVALID_ARGUMENT, "fault rule: rate must be a number in 0..1");
    long long lat = 0, jit = 0, retry = rule->code == EMU_RESOURCE_EXHAUSTED ? 1 : 0;
    if (emu_rule_int(r, "count", 0, 1LL << 40, &rule->remaining, st) != 0 ||
        emu_rule_int(r, "latencyMs", 0, 600000, &lat, st) != 0 || emu_rule_int(r, "jitterMs", 0, 600000, &jit, st) != 0 ||
        emu_rule_int(r, "retryAfterSeconds", 0, 3600, &retry, st) != 0)
        return -1;
    rule->latency_ms = (int)lat;
    rule->jitter_ms = (int)jit;
    rule->retry_after = (int)retry;
    rule->rate = rate ? json_number_value(rate) : (rule->remaining >= 0 ? 0 : 1);
    json_t *aa = json_object_get(r, "afterApply");
    rule->after_apply = aa ? json_is_true(aa) : rule->code == EMU_DEADLINE_EXCEEDED;
    const char *m = json_string_value(json_object_get(r, "method")), *p = json_string_value(json_object_get(r, "pathPrefix"));
    snprintf(rule->method, sizeof rule->method, "%s", m ? m : "");
    snprintf(rule->prefix, sizeof rule->prefix, "%s", p ? p : "");
    json_t *doc = json_object_get(r, "document");
    if (doc && (!json_is_string(doc) || !*json_string_value(doc) || !status || lat || jit || m || p))
        return emu_fail(st, EMU_INVALID_ARGUMENT,
                        "fault rule: document must be a document path (\"members/0101302989\"), with a status and "
                        "without method, pathPrefix or latency");
    snprintf(rule->document, sizeof rule->document, "%s", doc ? json_string_value(doc) : "");
    if (!status && !lat && !jit)
        return emu_fail(st, EMU_INVALID_ARGUMENT, "fault rule needs a status or a latency");
    return 0;
}

int emu_faults_add_json(emu_faults *f, const json_t *rule, emu_status *st)
{
    emu_rule r;
    if (emu_rule_parse(rule, &r, st) != 0)
        return -1;
    pthread_mutex_lock(&f->mu);
    int rc = 0;
    if (f->n == EMU_MAX_RULES)
        rc = emu_fail(st, EMU_RESOURCE_EXHAUSTED, "at most %d fault rules", EMU_MAX_RULES);
    else
        f->rules[f->n++] = r;
    pthread_mutex_unlock(&f->mu);
    return rc;
}

/* "k=v,k=v" with short names -> the JSON rule. */
int emu_faults_add_spec(emu_faults *f, const char *spec, emu_status *st)
{
    static const char *const map[][2] = { { "status", "status" },       { "rate", "rate" },
                                          { "count", "count" },         { "method", "method" },
                                          { "path", "pathPrefix" },     { "latency", "latencyMs" },
                                          { "jitter", "jitterMs" },     { "after_apply", "afterApply" },
                                          { "retry_after", "retryAfterSeconds" }, { "document", "document" } };
    json_t *rule = json_object();
    char *copy = strdup(spec), *save = NULL;
    int rc = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        size_t i = 0;
        if (eq)
            *eq = '\0';
        while (i < sizeof map / sizeof map[0] && strcmp(map[i][0], tok) != 0)
            i++;
        if (!eq || i == sizeof map / sizeof map[0]) {
            rc = emu_fail(st, EMU_INVALID_ARGUMENT, "--fault: unknown or valueless key \"%.40s\"", tok);
            break;
        }
        const char *val = eq + 1, *key = map[i][1];
        char *end;
        if (strcmp(key, "rate") == 0)
            json_object_set_new(rule, key, json_real(strtod(val, &end)));
        else if (strcmp(key, "afterApply") == 0)
            json_object_set_new(rule, key, json_boolean(strcmp(val, "1") == 0 || strcmp(val, "true") == 0));
        else if (strcmp(key, "status") == 0 || strcmp(key, "method") == 0 || strcmp(key, "pathPrefix") == 0 ||
                 strcmp(key, "document") == 0)
            json_object_set_new(rule, key, json_string(val));
        else
            json_object_set_new(rule, key, json_integer(strtoll(val, &end, 10)));
    }
    if (rc == 0)
        rc = emu_faults_add_json(f, rule, st);
    free(copy);
    json_decref(rule);
    return rc;
}

void emu_faults_clear(emu_faults *f)
{
    pthread_mutex_lock(&f->mu);
    f->n = 0;
    pthread_mutex_unlock(&f->mu);
}

json_t *emu_faults_json(emu_faults *f)
{
    json_t *rules = json_array();
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < f->n; i++) {
        const emu_rule *r = &f->rules[i];
        json_t *o = json_pack("{s:f,s:i,s:i,s:b,s:i,s:I}", "rate", r->rate, "latencyMs", r->latency_ms, "jitterMs",
                              r->jitter_ms, "afterApply", r->after_apply, "retryAfterSeconds", r->retry_after, "hits",
                              (json_int_t)r->hits);
        if (r->code != EMU_OK)
            json_object_set_new(o, "status", json_string(emu_code_name(r->code)));
        if (r->remaining >= 0)
            json_object_set_new(o, "count", json_integer(r->remaining));
        if (r->method[0])
            json_object_set_new(o, "method", json_string(r->method));
        if (r->prefix[0])
            json_object_set_new(o, "pathPrefix", json_string(r->prefix));
        if (r->document[0])
            json_object_set_new(o, "document", json_string(r->document));
        json_array_append_new(rules, o);
    }
    json_t *out = json_pack("{s:o,s:I}", "rules", rules, "seed", (json_int_t)f->seed);
    pthread_mutex_unlock(&f->mu);
    return out;
}

static bool emu_rule_matches(const emu_rule *r, const char *method, const char *path)
{
    return !r->document[0] && (!r->method[0] || strcmp(r->method, method) == 0) &&
           strncmp(path, r->prefix, strlen(r->prefix)) == 0;
}

/* Whether rule r fires now (rate or count); holds mu. */
static bool emu_rule_fires(emu_faults *f, emu_rule *r)
{
    bool fire = r->remaining > 0 || (r->remaining < 0 && r->rate > 0 && emu_fault_rand(f) < r->rate);
    if (!fire)
        return false;
    if (r->remaining > 0)
        r->remaining--;
    r->hits++;
    return true;
}

emu_code emu_faults_write(emu_faults *f, const char *name)
{
    emu_code code = EMU_OK;
    const char *docs = name ? strstr(name, "/documents/") : NULL;
    if (!f || !docs)
        return EMU_OK;
    docs += strlen("/documents/");
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < f->n && code == EMU_OK; i++) {
        emu_rule *r = &f->rules[i];
        if (r->document[0] && strncmp(docs, r->document, strlen(r->document)) == 0 && emu_rule_fires(f, r))
            code = r->code;
    }
    pthread_mutex_unlock(&f->mu);
    return code;
}

void emu_faults_decide(emu_faults *f, const char *method, const char *path, emu_fault_decision *d)
{
    memset(d, 0, sizeof *d);
    if (!f || strncmp(path, "/emulator/", 10) == 0)
        return;
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < f->n; i++) {
        emu_rule *r = &f->rules[i];
        if (!emu_rule_matches(r, method, path))
            continue;
        d->latency_ms += r->latency_ms + (r->jitter_ms ? (int)(emu_fault_rand(f) * (r->jitter_ms + 1)) : 0);
        if (r->code == EMU_OK || d->code != EMU_OK || !emu_rule_fires(f, r))
            continue;
        d->code = r->code;
        d->after_apply = r->after_apply;
        d->retry_after = r->retry_after;
    }
    pthread_mutex_unlock(&f->mu);
}

void emu_fault_respond(emu_ctx *ctx, const emu_request *rq, const emu_fault_decision *d, emu_response *rs)
{
    memset(rs, 0, sizeof *rs);
    if (d->code == EMU_OK || d->after_apply)
        emu_api_handle(ctx, rq, rs);
    if (d->code == EMU_OK)
        return;
    emu_status st;
    emu_fail(&st, d->code, "Injected fault: %s%s", emu_code_name(d->code),
             d->after_apply ? " (after the request was applied)" : "");
    const char *route = rs->route;
    emu_response_clear(rs);
    rs->route = route ? route : "faulted";
    emu_response_error(rs, &st);
    rs->retry_after = d->retry_after;
}

int emu_api_faults(emu_faults *f, const char *method, const json_t *body, json_t **out, emu_status *st)
{
    if (strcmp(method, "GET") == 0) {
        *out = emu_faults_json(f);
        return 0;
    }
    if (strcmp(method, "DELETE") == 0) {
        emu_faults_clear(f);
        *out = emu_faults_json(f);
        return 0;
    }
    if (strcmp(method, "POST") != 0)
        return emu_fail(st, EMU_NOT_FOUND, "Method %.16s is not supported on this path.", method);
    json_t *rules = json_object_get(body, "rules");
    if (rules && !json_is_array(rules))
        return emu_fail(st, EMU_INVALID_ARGUMENT, "rules must be a list");
    if (!rules) {
        if (emu_faults_add_json(f, body, st) != 0)
            return -1;
    } else {
        size_t i;
        json_t *r;
        json_array_foreach(rules, i, r) {
            if (emu_faults_add_json(f, r, st) != 0)
                return -1;
        }
    }
    *out = emu_faults_json(f);
    return 0;
}
