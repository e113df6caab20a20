/* pgval.h - PostgreSQL column values (text output form) to JSON, as contract
 * section 4 and proto/README.md fix them.
 *
 * The walsender and COPY both give values in PostgreSQL's text form; the producer's
 * sessions set DateStyle=ISO, IntervalStyle=iso_8601, TimeZone=UTC,
 * extra_float_digits=3 and bytea_output=hex, so one converter serves the snapshot and
 * the stream. A type is known by its OID: built-in OIDs are in a table here; other
 * types (enums, domains, arrays of them, extension types) are resolved by the caller
 * from the catalog (relation.c) into a pgv_type. */
#ifndef SERVICES_PRODUCER_PGVAL_H
#define SERVICES_PRODUCER_PGVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/jbuf.h"

typedef enum {
    PGV_TEXT = 0, /* text types, enums, unknown types: the text as a string */
    PGV_INT,
    PGV_FLOAT,
    PGV_NUMERIC,
    PGV_BOOL,
    PGV_JSON,
    PGV_BYTEA,
    PGV_DATE,
    PGV_TIME,
    PGV_TIMETZ,
    PGV_TIMESTAMP,
    PGV_TIMESTAMPTZ,
    PGV_INTERVAL,
    PGV_UUID,
} pgv_kind;

typedef struct pgv_type {
    pgv_kind kind;  /* of the value, or of the elements of an array */
    bool array;
} pgv_type;

/* The type of a built-in OID; false when the OID is not built in (or not known
 * here): the caller then asks the catalog. */
bool pgv_builtin(uint32_t oid, pgv_type *out);
/* A built-in type by name as pgoutput's Type message or the catalog names it
 * ("int4", "_int4", "timestamptz"); false when not one of ours. */
bool pgv_by_name(const char *name, pgv_type *out);

/* Appends the JSON form of the text value s[0..n). Returns 0, or -1 when the text was
 * not in the form the type promises (then the value is written as a JSON string of
 * the text, so nothing is lost). */
int pgv_to_json(jbuf *out, pgv_type t, const char *s, size_t n);

/* The string an unchanged TOASTed value becomes (Debezium's). */
#define PGV_UNAVAILABLE "__debezium_unavailable_value"

#endif
