/* emu_value.c - the Value JSON codec, ordering and sizes (see emu_value.h). */
#include "tools/firestore-emulator/emu_value.h"

#include "common/base64.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/firestore-emulator/emu_path.h"

/* ---------- timestamps ---------- */

static int emu_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t emu_days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void emu_civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static int emu_days_in_month(int y, int m)
{
    static const int dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dm[m - 1];
}

int emu_time_parse(const char *s, int64_t *us)
{
    int y, mo, d, h, mi, se;
    if (strlen(s) < 20 || emu_digits(s, 4, &y) || s[4] != '-' || emu_digits(s + 5, 2, &mo) || s[7] != '-' ||
        emu_digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || emu_digits(s + 11, 2, &h) || s[13] != ':' ||
        emu_digits(s + 14, 2, &mi) || s[16] != ':' || emu_digits(s + 17, 2, &se))
        return -1;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > emu_days_in_month(y, mo) || h > 23 || mi > 59 || se > 59)
        return -1;
    const char *p = s + 19;
    int64_t frac = 0;
    if (*p == '.') {
        int nd = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, nd++) {
            if (nd < 6)
                frac = frac * 10 + (*p - '0');
        }
        if (nd == 0 || nd > 9)
            return -1;
        for (; nd < 6; nd++)
            frac *= 10;
    }
    int64_t offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (emu_digits(p + 1, 2, &oh) || p[3] != ':' || emu_digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return -1;
        offset = (int64_t)(oh * 60 + om) * 60 * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    int64_t secs = emu_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset;
    int64_t lo = emu_days_from_civil(1, 1, 1) * 86400, hi = emu_days_from_civil(9999, 12, 31) * 86400 + 86399;
    if (secs < lo || secs > hi)
        return -1;
    *us = secs * 1000000 + frac;
    return 0;
}

void emu_time_format(int64_t us, char *out, size_t len)
{
    int64_t secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
    int64_t frac = us - secs * 1000000;
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t rem = secs - days * 86400;
    int y, m, d;
    emu_civil_from_days(days, &y, &m, &d);
    int n = snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d", y, m, d, (int)(rem / 3600), (int)(rem / 60 % 60),
                     (int)(rem % 60));
    if (n < 0 || (size_t)n >= len)
        return;
    if (frac == 0)
        snprintf(out + n, len - (size_t)n, "Z");
    else if (frac % 1000 == 0)
        snprintf(out + n, len - (size_t)n, ".%03dZ", (int)(frac / 1000));
    else
        snprintf(out + n, len - (size_t)n, ".%06dZ", (int)frac);
}

json_t *emu_time_json(int64_t us)
{
    char buf[40];
    emu_time_format(us, buf, sizeof buf);
    return json_string(buf);
}

/* ---------- base64 ---------- */

char *emu_b64_encode(const unsigned char *data, size_t len)
{
    char *out = malloc(base64_encoded_len(len, false) + 1);
    if (out)
        base64_encode(data, len, out, false);
    return out;
}

static int emu_b64_digit(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

unsigned char *emu_b64_decode(const char *s, size_t slen, size_t *len)
{
    while (slen > 0 && s[slen - 1] == '=')
        slen--;
    if (slen % 4 == 1)
        return NULL;
    unsigned char *out = malloc(slen * 3 / 4 + 1);
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < slen; i++) {
        int v = emu_b64_digit(s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits & 0xff);
        }
    }
    *len = n;
    return out;
}

/* ---------- canonical constructors and accessors ---------- */

static const char *const emu_kind_keys[] = {
    [EMU_V_NULL] = "nullValue",           [EMU_V_BOOL] = "booleanValue",     [EMU_V_INT] = "integerValue",
    [EMU_V_DOUBLE] = "doubleValue",       [EMU_V_TIMESTAMP] = "timestampValue", [EMU_V_STRING] = "stringValue",
    [EMU_V_BYTES] = "bytesValue",         [EMU_V_REF] = "referenceValue",    [EMU_V_GEO] = "geoPointValue",
    [EMU_V_ARRAY] = "arrayValue",         [EMU_V_MAP] = "mapValue",
};

/* The kind a Value's one key names. Every write and read asks this of every value, most
 * often of mapValue, last in the table: the first letter picks the candidate. */
static emu_vkind emu_kind_of_key(const char *key)
{
    emu_vkind k;
    switch (key[0]) {
    case 'n': k = EMU_V_NULL; break;
    case 'b': k = key[1] == 'y' ? EMU_V_BYTES : EMU_V_BOOL; break;
    case 'i': k = EMU_V_INT; break;
    case 'd': k = EMU_V_DOUBLE; break;
    case 't': k = EMU_V_TIMESTAMP; break;
    case 's': k = EMU_V_STRING; break;
    case 'r': k = EMU_V_REF; break;
    case 'g': k = EMU_V_GEO; break;
    case 'a': k = EMU_V_ARRAY; break;
    case 'm': k = EMU_V_MAP; break;
    default: return EMU_V_INVALID;
    }
    return strcmp(key, emu_kind_keys[k]) == 0 ? k : EMU_V_INVALID;
}

emu_vkind emu_value_kind(const json_t *v)
{
    if (!json_is_object(v) || json_object_size(v) != 1)
        return EMU_V_INVALID;
    void *it = json_object_iter((json_t *)v);
    return emu_kind_of_key(json_object_iter_key(it));
}

static json_t *emu_value_of(const json_t *v)
{
    void *it = json_object_iter((json_t *)v);
    return it ? json_object_iter_value(it) : NULL;
}

json_t *emu_value_null(void)
{
    return json_pack("{s:n}", "nullValue");
}

json_t *emu_value_int(int64_t n)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRId64, n);
    return json_pack("{s:s}", "integerValue", buf);
}

json_t *emu_value_double(double d)
{
    if (isnan(d))
        return json_pack("{s:s}", "doubleValue", "NaN");
    if (isinf(d))
        return json_pack("{s:s}", "doubleValue", d > 0 ? "Infinity" : "-Infinity");
    return json_pack("{s:f}", "doubleValue", d);
}

json_t *emu_value_timestamp(int64_t us)
{
    return json_pack("{s:o}", "timestampValue", emu_time_json(us));
}

json_t *emu_value_array(json_t *values)
{
    if (json_array_size(values) == 0) {
        json_decref(values);
        return json_pack("{s:{}}", "arrayValue");
    }
    return json_pack("{s:{s:o}}", "arrayValue", "values", values);
}

json_t *emu_value_map(json_t *fields)
{
    if (json_object_size(fields) == 0) {
        json_decref(fields);
        return json_pack("{s:{}}", "mapValue");
    }
    return json_pack("{s:{s:o}}", "mapValue", "fields", fields);
}

int64_t emu_value_get_int(const json_t *v)
{
    const char *s = json_string_value(emu_value_of(v));
    return s ? strtoll(s, NULL, 10) : 0;
}

double emu_value_get_double(const json_t *v)
{
    json_t *x = emu_value_of(v);
    if (emu_value_kind(v) == EMU_V_INT)
        return (double)emu_value_get_int(v);
    if (json_is_number(x))
        return json_number_value(x);
    const char *s = json_string_value(x);
    if (!s)
        return 0;
    if (strcmp(s, "NaN") == 0)
        return NAN;
    return s[0] == '-' ? -INFINITY : INFINITY;
}

json_t *emu_value_array_items(const json_t *v)
{
    return emu_value_kind(v) == EMU_V_ARRAY ? json_object_get(emu_value_of(v), "values") : NULL;
}

json_t *emu_value_map_fields(const json_t *v)
{
    return emu_value_kind(v) == EMU_V_MAP ? json_object_get(emu_value_of(v), "fields") : NULL;
}

/* ---------- decoding ---------- */

bool emu_field_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > EMU_MAX_FIELD_NAME)
        return false;
    return !(n >= 4 && name[0] == '_' && name[1] == '_' && name[n - 1] == '_' && name[n - 2] == '_');
}

static int emu_parse_int64(const char *s, int64_t *out)
{
    if (!*s || (s[0] == '-' && !s[1]))
        return -1;
    for (const char *p = s[0] == '-' ? s + 1 : s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
    }
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno == ERANGE)
        return -1;
    *out = v;
    return 0;
}

static int emu_decode_null(const json_t *x, const char *where, json_t **out, emu_status *st)
{
    bool ok = json_is_null(x) || (json_is_string(x) && strcmp(json_string_value(x), "NULL_VALUE") == 0) ||
              (json_is_integer(x) && json_integer_value(x) == 0);
    if (!ok)
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at '%s.null_value': expected NULL_VALUE", where);
    *out = emu_value_null();
    return 0;
}

/* True when s is an int64 in canonical form (no '+', no leading zeros, no "-0"). */
static bool emu_int_canonical(const char *s, size_t len)
{
    const char *d = s[0] == '-' ? s + 1 : s;
    size_t dl = len - (size_t)(d - s);
    if (dl == 0 || dl > 18 || (d[0] == '0' && (dl > 1 || d != s)))
        return false; /* 19 digits may overflow: the slow path checks those */
    for (size_t i = 0; i < dl; i++) {
        if (d[i] < '0' || d[i] > '9')
            return false;
    }
    return true;
}

static int emu_decode_int(const json_t *in, const json_t *x, const char *where, json_t **out, emu_status *st)
{
    int64_t n;
    if (json_is_string(x) && emu_int_canonical(json_string_value(x), json_string_length(x))) {
        *out = json_incref((json_t *)in);
        return 0;
    }
    if (json_is_integer(x))
        n = json_integer_value(x);
    else if (!json_is_string(x) || emu_parse_int64(json_string_value(x), &n) != 0)
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at '%s.integer_value': not a 64-bit integer", where);
    *out = emu_value_int(n);
    return 0;
}

static int emu_decode_double(const json_t *in, const json_t *x, const char *where, json_t **out, emu_status *st)
{
    double d;
    if (json_is_real(x)) {
        *out = json_incref((json_t *)in);
        return 0;
    }
    if (json_is_number(x)) {
        d = json_number_value(x);
    } else if (json_is_string(x)) {
        const char *s = json_string_value(x);
        char *end;
        if (strcmp(s, "NaN") == 0)
            d = NAN;
        else if (strcmp(s, "Infinity") == 0)
            d = INFINITY;
        else if (strcmp(s, "-Infinity") == 0)
            d = -INFINITY;
        else if (*s && (d = strtod(s, &end), *end == '\0') && isfinite(d))
            ;
        else
            return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at '%s.double_value': not a number", where);
    } else {
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at '%s.double_value': not a number", where);
    }
    *out = emu_value_double(d);
    return 0;
}

static int emu_decode_timestamp(const json_t *in, const json_t *x, const char *where, json_t **out, emu_status *st)
{
    int64_t us;
    if (!json_is_string(x) || emu_time_parse(json_string_value(x), &us) != 0)
        return emu_fail(st, EMU_INVALID_ARGUMENT,
                        "Invalid value at '%s.timestamp_value': not an RFC 3339 timestamp in 0001..9999", where);
    char canon[40];
    emu_time_format(us, canon, sizeof canon);
    *out = strcmp(canon, json_string_value(x)) == 0 ? json_incref((json_t *)in) : emu_value_timestamp(us);
    return 0;
}

static int emu_decode_bytes(const json_t *x, const char *where, json_t **out, emu_status *st)
{
    size_t len;
    unsigned char *raw = json_is_string(x) ? emu_b64_decode(json_string_value(x), json_string_length(x), &len) : NULL;
    if (!raw)
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at '%s.bytes_value': not base64", where);
    char *canon = emu_b64_encode(raw, len);
    *out = json_pack("{s:s}", "bytesValue", canon);
    free(raw);
    free(canon);
    return 0;
}

static int emu_decode_reference(const json_t *x, const char *where, json_t **out, emu_status *st)
{
    if (!json_is_string(x) || emu_name_check_document(json_string_value(x), NULL, st) != 0)
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at '%s.reference_value': not a document name", where);
    *out = json_pack("{s:O}", "referenceValue", x);
    return 0;
}

static int emu_decode_geo(const json_t *x, const char *where, json_t **out, emu_status *st)
{
    json_t *lat = json_object_get(x, "latitude"), *lng = json_object_get(x, "longitude");
    size_t known = (lat != NULL) + (lng != NULL);
    if (!json_is_object(x) || json_object_size(x) != known || (lat && !json_is_number(lat)) || (lng && !json_is_number(lng)))
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at '%s.geo_point_value': expected {latitude, longitude}",
                        where);
    double la = lat ? json_number_value(lat) : 0, lo = lng ? json_number_value(lng) : 0;
    if (la < -90 || la > 90 || lo < -180 || lo > 180)
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at '%s.geo_point_value': latitude or longitude out of range",
                        where);
    json_t *g = json_object();
    if (la != 0)
        json_object_set_new(g, "latitude", json_real(la));
    if (lo != 0)
        json_object_set_new(g, "longitude", json_real(lo));
    *out = json_pack("{s:o}", "geoPointValue", g);
    return 0;
}

/* Decodes the elements of an array; *out is vals itself (a new reference) when
 * every element was already canonical, so a request's values can be kept as they
 * are without copying. */
static int emu_decode_elements(const json_t *vals, int depth, const char *where, json_t **out, emu_status *st)
{
    json_t *arr = NULL;
    size_t n = json_array_size(vals);
    for (size_t i = 0; i < n; i++) {
        json_t *el = json_array_get(vals, i), *v;
        if (emu_value_decode(el, depth + 1, where, &v, st) != 0) {
            json_decref(arr);
            return -1;
        }
        if (emu_value_kind(v) == EMU_V_ARRAY) {
            json_decref(v);
            json_decref(arr);
            return emu_fail(st, EMU_INVALID_ARGUMENT, "Cannot have an array value directly inside an array value ('%s')",
                            where);
        }
        if (!arr && v != el) { /* first change: copy what came before */
            arr = json_array();
            for (size_t j = 0; j < i; j++)
                json_array_append(arr, json_array_get(vals, j));
        }
        if (arr)
            json_array_append_new(arr, v);
        else
            json_decref(v);
    }
    *out = arr ? arr : json_incref((json_t *)vals);
    return 0;
}

static int emu_decode_array(const json_t *in, const json_t *x, int depth, const char *where, json_t **out,
                            emu_status *st)
{
    json_t *vals = json_object_get(x, "values"), *arr = NULL;
    if (!json_is_object(x) || json_object_size(x) != (vals != NULL) || (vals && !json_is_array(vals)))
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at '%s.array_value': expected {\"values\":[...]}", where);
    if (!vals) {
        *out = json_incref((json_t *)in);
        return 0;
    }
    if (emu_decode_elements(vals, depth, where, &arr, st) != 0)
        return -1;
    if (arr == vals && json_array_size(vals) > 0) {
        json_decref(arr);
        *out = json_incref((json_t *)in);
        return 0;
    }
    *out = emu_value_array(arr);
    return 0;
}

static int emu_decode_map(const json_t *in, const json_t *x, int depth, const char *where, json_t **out,
                          emu_status *st)
{
    json_t *fields = json_object_get(x, "fields"), *f = NULL;
    if (!json_is_object(x) || json_object_size(x) != (fields != NULL))
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at '%s.map_value': expected {\"fields\":{...}}", where);
    if (!fields) {
        *out = json_incref((json_t *)in);
        return 0;
    }
    if (emu_fields_decode(fields, depth + 1, where, &f, st) != 0)
        return -1;
    if (f == fields && json_object_size(fields) > 0) {
        json_decref(f);
        *out = json_incref((json_t *)in);
        return 0;
    }
    *out = emu_value_map(f);
    return 0;
}

int emu_value_decode(const json_t *in, int depth, const char *where, json_t **out, emu_status *st)
{
    if (depth > EMU_MAX_DEPTH)
        return emu_fail(st, EMU_INVALID_ARGUMENT, "'%s' is nested deeper than %d levels of maps and arrays", where,
                        EMU_MAX_DEPTH);
    if (!json_is_object(in) || json_object_size(in) != 1)
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at '%s': a Value must have exactly one of its kinds set",
                        where);
    void *it = json_object_iter((json_t *)in);
    const char *key = json_object_iter_key(it);
    json_t *x = json_object_iter_value(it);
    switch (emu_kind_of_key(key)) {
    case EMU_V_NULL: return emu_decode_null(x, where, out, st);
    case EMU_V_BOOL:
        if (!json_is_boolean(x))
            return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at '%s.boolean_value': not a boolean", where);
        *out = json_incref((json_t *)in);
        return 0;
    case EMU_V_INT: return emu_decode_int(in, x, where, out, st);
    case EMU_V_DOUBLE: return emu_decode_double(in, x, where, out, st);
    case EMU_V_TIMESTAMP: return emu_decode_timestamp(in, x, where, out, st);
    case EMU_V_STRING:
        if (!json_is_string(x))
            return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at '%s.string_value': not a string", where);
        *out = json_incref((json_t *)in);
        return 0;
    case EMU_V_BYTES: return emu_decode_bytes(x, where, out, st);
    case EMU_V_REF: return emu_decode_reference(x, where, out, st);
    case EMU_V_GEO: return emu_decode_geo(x, where, out, st);
    case EMU_V_ARRAY: return emu_decode_array(in, x, depth, where, out, st);
    case EMU_V_MAP: return emu_decode_map(in, x, depth, where, out, st);
    case EMU_V_INVALID: break;
    }
    return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid JSON payload received. Unknown name \"%s\" at '%s': Cannot find field.",
                    key, where);
}

int emu_fields_decode(const json_t *in, int depth, const char *where, json_t **out, emu_status *st)
{
    if (!json_is_object(in))
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at '%s.fields': expected an object", where);
    json_t *f = NULL; /* created at the first value that had to change */
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)in, key, val) {
        json_t *v;
        if (!emu_field_name_valid(key)) {
            json_decref(f);
            return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid field name at '%s': empty, over %d bytes or reserved (__name__)",
                            where, EMU_MAX_FIELD_NAME);
        }
        if (emu_value_decode(val, depth, where, &v, st) != 0) {
            json_decref(f);
            return -1;
        }
        if (!f && v != val) {
            f = json_object();
            const char *k2;
            json_t *v2;
            json_object_foreach((json_t *)in, k2, v2) {
                if (k2 == key)
                    break;
                json_object_set(f, k2, v2);
            }
        }
        if (f)
            json_object_set_new(f, key, v);
        else
            json_decref(v);
    }
    *out = f ? f : json_incref((json_t *)in);
    return 0;
}

/* ---------- ordering ---------- */

static int emu_type_order(emu_vkind k)
{
    /* ints and doubles share one rank: numbers compare across both */
    static const int order[] = { [EMU_V_NULL] = 0,      [EMU_V_BOOL] = 1,  [EMU_V_INT] = 2,  [EMU_V_DOUBLE] = 2,
                                 [EMU_V_TIMESTAMP] = 3, [EMU_V_STRING] = 4, [EMU_V_BYTES] = 5, [EMU_V_REF] = 6,
                                 [EMU_V_GEO] = 7,       [EMU_V_ARRAY] = 8, [EMU_V_MAP] = 9,  [EMU_V_INVALID] = 10 };
    return order[k];
}

static int emu_cmp_num(const json_t *a, const json_t *b)
{
    if (emu_value_kind(a) == EMU_V_INT && emu_value_kind(b) == EMU_V_INT) {
        int64_t x = emu_value_get_int(a), y = emu_value_get_int(b);
        return (x > y) - (x < y);
    }
    long double x = emu_value_kind(a) == EMU_V_INT ? (long double)emu_value_get_int(a) : emu_value_get_double(a);
    long double y = emu_value_kind(b) == EMU_V_INT ? (long double)emu_value_get_int(b) : emu_value_get_double(b);
    if (isnan(x) || isnan(y))
        return isnan(y) - isnan(x);
    return (x > y) - (x < y);
}

static int emu_cmp_bytes(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? (c > 0) - (c < 0) : (al > bl) - (al < bl);
}

static int emu_cmp_jstring(const json_t *a, const json_t *b)
{
    return emu_cmp_bytes(json_string_value(a), json_string_length(a), json_string_value(b), json_string_length(b));
}

static int emu_cmp_b64(const json_t *a, const json_t *b)
{
    size_t al = 0, bl = 0;
    unsigned char *x = emu_b64_decode(json_string_value(a), json_string_length(a), &al);
    unsigned char *y = emu_b64_decode(json_string_value(b), json_string_length(b), &bl);
    int c = emu_cmp_bytes((const char *)x, x ? al : 0, (const char *)y, y ? bl : 0);
    free(x);
    free(y);
    return c;
}

static int emu_cmp_time(const json_t *a, const json_t *b)
{
    int64_t x = 0, y = 0;
    emu_time_parse(json_string_value(a), &x);
    emu_time_parse(json_string_value(b), &y);
    return (x > y) - (x < y);
}

static int emu_cmp_geo(const json_t *a, const json_t *b)
{
    double la = json_number_value(json_object_get(a, "latitude")), lb = json_number_value(json_object_get(b, "latitude"));
    if (la != lb)
        return la < lb ? -1 : 1;
    double oa = json_number_value(json_object_get(a, "longitude")), ob = json_number_value(json_object_get(b, "longitude"));
    return (oa > ob) - (oa < ob);
}

static int emu_cmp_array(const json_t *a, const json_t *b)
{
    json_t *x = emu_value_array_items(a), *y = emu_value_array_items(b);
    size_t nx = json_array_size(x), ny = json_array_size(y);
    for (size_t i = 0; i < nx && i < ny; i++) {
        int c = emu_value_compare(json_array_get(x, i), json_array_get(y, i));
        if (c)
            return c;
    }
    return (nx > ny) - (nx < ny);
}

static int emu_cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted keys of an object (malloc'd array of borrowed strings). */
static const char **emu_sorted_keys(const json_t *obj, size_t *n)
{
    *n = json_object_size(obj);
    const char **keys = malloc((*n + 1) * sizeof *keys);
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) keys[i++] = k;
    qsort(keys, *n, sizeof *keys, emu_cmp_keys);
    return keys;
}

static int emu_cmp_map(const json_t *a, const json_t *b)
{
    json_t *x = emu_value_map_fields(a), *y = emu_value_map_fields(b);
    size_t nx, ny;
    const char **kx = emu_sorted_keys(x, &nx), **ky = emu_sorted_keys(y, &ny);
    int c = 0;
    for (size_t i = 0; !c && i < nx && i < ny; i++) {
        c = strcmp(kx[i], ky[i]);
        c = c ? (c > 0) - (c < 0) : emu_value_compare(json_object_get(x, kx[i]), json_object_get(y, ky[i]));
    }
    if (!c)
        c = (nx > ny) - (nx < ny);
    free(kx);
    free(ky);
    return c;
}

int emu_value_compare(const json_t *a, const json_t *b)
{
    emu_vkind ka = emu_value_kind(a), kb = emu_value_kind(b);
    int ta = emu_type_order(ka), tb = emu_type_order(kb);
    if (ta != tb)
        return ta < tb ? -1 : 1;
    json_t *x = emu_value_of(a), *y = emu_value_of(b);
    switch (ka) {
    case EMU_V_NULL: return 0;
    case EMU_V_BOOL: return json_is_true(x) - json_is_true(y);
    case EMU_V_INT:
    case EMU_V_DOUBLE: return emu_cmp_num(a, b);
    case EMU_V_TIMESTAMP: return emu_cmp_time(x, y);
    case EMU_V_STRING: return emu_cmp_jstring(x, y);
    case EMU_V_BYTES: return emu_cmp_b64(x, y);
    case EMU_V_REF: return emu_name_compare(json_string_value(x), json_string_value(y));
    case EMU_V_GEO: return emu_cmp_geo(x, y);
    case EMU_V_ARRAY: return emu_cmp_array(a, b);
    case EMU_V_MAP: return emu_cmp_map(a, b);
    case EMU_V_INVALID: break;
    }
    return 0;
}

bool emu_value_equal(const json_t *a, const json_t *b)
{
    return emu_value_compare(a, b) == 0;
}

/* ---------- sizes ---------- */

size_t emu_value_size(const json_t *v)
{
    json_t *x = emu_value_of(v);
    switch (emu_value_kind(v)) {
    case EMU_V_NULL:
    case EMU_V_BOOL: return 1;
    case EMU_V_INT:
    case EMU_V_DOUBLE:
    case EMU_V_TIMESTAMP: return 8;
    case EMU_V_STRING: return json_string_length(x) + 1;
    case EMU_V_BYTES: {
        size_t n = json_string_length(x), pad = 0;
        const char *s = json_string_value(x);
        while (pad < n && s[n - 1 - pad] == '=')
            pad++;
        return n / 4 * 3 - pad;
    }
    case EMU_V_REF: return emu_doc_name_size(json_string_value(x));
    case EMU_V_GEO: return 16;
    case EMU_V_ARRAY: {
        size_t total = 0, i;
        json_t *el;
        json_array_foreach(emu_value_array_items(v), i, el) total += emu_value_size(el);
        return total;
    }
    case EMU_V_MAP: return emu_fields_size(emu_value_map_fields(v));
    case EMU_V_INVALID: break;
    }
    return 0;
}

size_t emu_fields_size(const json_t *fields)
{
    size_t total = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)fields, k, v) total += strlen(k) + 1 + emu_value_size(v);
    return total;
}

size_t emu_doc_name_size(const char *name)
{
    const char *p = strstr(name, "/documents/");
    if (!p)
        return strlen(name) + 1 + 16;
    size_t total = 16;
    for (p += strlen("/documents/"); *p;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        total += n + 1;
        p += n + (slash ? 1 : 0);
    }
    return total;
}

size_t emu_document_size(const char *name, const json_t *fields)
{
    return emu_doc_name_size(name) + emu_fields_size(fields) + 32;
}

/* ---------- field paths ---------- */

/* A path is one allocation: the segment pointers, then the segments' text (a write's
 * mask names a dozen paths, and a block per segment was a tenth of the server's CPU).
 * At most dots + 1 segments, and no more text than the path's own. */
static size_t emu_fieldpath_alloc(emu_fieldpath *fp, const char *text)
{
    size_t len = strlen(text), segs = 1;
    for (const char *d = strchr(text, '.'); d; d = strchr(d + 1, '.'))
        segs++;
    fp->n = 0;
    fp->seg = malloc(segs * sizeof *fp->seg + len + segs);
    return fp->seg ? segs : 0;
}

/* Appends a segment of n bytes after the previous one (the caller copies its text to
 * the returned place). */
static char *emu_fieldpath_push(emu_fieldpath *fp, size_t segs, size_t n)
{
    char *at = fp->n ? fp->seg[fp->n - 1] + strlen(fp->seg[fp->n - 1]) + 1 : (char *)(fp->seg + segs);
    at[n] = '\0';
    fp->seg[fp->n++] = at;
    return at;
}

/* Parses one backquoted segment starting after the opening '`'; returns the
 * position after the closing '`', or NULL. */
static const char *emu_fieldpath_quoted(const char *p, emu_fieldpath *fp, size_t segs)
{
    const char *q = p;
    size_t n = 0;
    for (; *q && *q != '`'; q++, n++)
        if (*q == '\\' && !*++q)
            break;
    if (*q != '`' || n == 0)
        return NULL;
    char *out = emu_fieldpath_push(fp, segs, n);
    for (; *p != '`'; p++)
        *out++ = *p == '\\' ? *++p : *p;
    return p + 1;
}

/* An unquoted segment: [A-Za-z_][A-Za-z0-9_]* (Firestore's "simple field name"). */
static bool emu_simple_name(const char *p, size_t n)
{
    if (p[0] >= '0' && p[0] <= '9')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

int emu_fieldpath_parse(const char *text, emu_fieldpath *fp, emu_status *st)
{
    size_t segs = emu_fieldpath_alloc(fp, text);
    if (!segs)
        return emu_fail(st, EMU_INTERNAL, "out of memory");
    const char *p = text;
    while (p && *p) {
        if (*p == '`') {
            p = emu_fieldpath_quoted(p + 1, fp, segs);
        } else {
            size_t n = strcspn(p, ".`");
            if (n == 0 || p[n] == '`' || !emu_simple_name(p, n)) { /* others must be quoted */
                p = NULL;
                break;
            }
            memcpy(emu_fieldpath_push(fp, segs, n), p, n);
            p += n;
        }
        if (p && *p == '.') {
            p++;
            if (!*p)
                p = NULL;
        } else if (p && *p) {
            p = NULL;
        }
    }
    bool ok = p != NULL && fp->n > 0;
    for (int i = 0; ok && i < fp->n; i++)
        ok = emu_field_name_valid(fp->seg[i]);
    if (!ok) {
        emu_fieldpath_free(fp);
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid field path '%.200s'", text);
    }
    return 0;
}

void emu_fieldpath_copy(emu_fieldpath *dst, const emu_fieldpath *src)
{
    size_t text = 0;
    for (int i = 0; i < src->n; i++)
        text += strlen(src->seg[i]) + 1;
    size_t segs = src->n ? (size_t)src->n : 1;
    dst->n = 0;
    dst->seg = malloc(segs * sizeof *dst->seg + text);
    for (int i = 0; dst->seg && i < src->n; i++) {
        size_t n = strlen(src->seg[i]);
        memcpy(emu_fieldpath_push(dst, segs, n), src->seg[i], n);
    }
}

void emu_fieldpath_free(emu_fieldpath *fp)
{
    free(fp->seg);
    fp->seg = NULL;
    fp->n = 0;
}

bool emu_fieldpath_prefix(const emu_fieldpath *a, const emu_fieldpath *b)
{
    if (a->n > b->n)
        return false;
    for (int i = 0; i < a->n; i++) {
        if (strcmp(a->seg[i], b->seg[i]) != 0)
            return false;
    }
    return true;
}

json_t *emu_fields_lookup(const json_t *fields, const emu_fieldpath *fp)
{
    json_t *v = NULL;
    for (int i = 0; i < fp->n && fields; i++) {
        v = json_object_get(fields, fp->seg[i]);
        if (!v)
            return NULL;
        if (i + 1 < fp->n)
            fields = emu_value_map_fields(v);
    }
    return fields ? v : NULL;
}

static void emu_fields_set_at(json_t *fields, const emu_fieldpath *fp, int i, json_t *value)
{
    const char *key = fp->seg[i];
    if (i == fp->n - 1) {
        if (value)
            json_object_set(fields, key, value);
        else
            json_object_del(fields, key);
        return;
    }
    json_t *cur = json_object_get(fields, key);
    bool is_map = cur && emu_value_kind(cur) == EMU_V_MAP;
    if (!is_map && !value)
        return; /* deleting below something that is not a map: nothing there */
    json_t *inner = is_map ? emu_value_map_fields(cur) : NULL;
    if (inner && cur->refcount == 1 && inner->refcount == 1) {
        /* only fields holds it, and the caller owns fields: a map this write made
         * (an earlier path through it copied it), changed in place */
        emu_fields_set_at(inner, fp, i + 1, value);
        return;
    }
    json_t *copy = inner ? json_copy(inner) : json_object();
    emu_fields_set_at(copy, fp, i + 1, value);
    json_object_set_new(fields, key, emu_value_map(copy));
}

void emu_fields_set(json_t *fields, const emu_fieldpath *fp, json_t *value)
{
    if (fp->n > 0)
        emu_fields_set_at(fields, fp, 0, value);
}

json_t *emu_fields_project(const json_t *fields, const emu_fieldpath *paths, int n)
{
    json_t *out = json_object();
    for (int i = 0; i < n; i++) {
        json_t *v = emu_fields_lookup(fields, &paths[i]);
        if (v)
            emu_fields_set(out, &paths[i], v);
    }
    return out;
}
