/* emu_fault.h - fault injection: errors, latency and "fail the next N", seeded.
 *
 * A rule matches requests by method and path prefix (both optional) and can add
 * latency (latencyMs plus a uniform 0..jitterMs) and fail them with a status:
 *   {"status":"UNAVAILABLE","rate":0.2}            20% of matching requests
 *   {"status":"ABORTED","count":3}                 the next 3 matching requests
 *   {"status":"RESOURCE_EXHAUSTED","retryAfterSeconds":2}   (Retry-After header)
 *   {"status":"DEADLINE_EXCEEDED","afterApply":true} the write is applied, then
 *                                                  the client gets 504 (default for
 *                                                  DEADLINE_EXCEEDED, as the real
 *                                                  service may do)
 *   {"latencyMs":200,"jitterMs":50,"method":"POST","pathPrefix":"/v1/projects/p/"}
 * A rule with a status and neither rate nor count fails every matching request.
 * The first failing rule decides; latencies of all matching rules add up. All
 * randomness comes from one generator seeded by --seed, so a run can be repeated.
 * The /emulator/ admin paths are never faulted.
 *
 * Admin API: GET /emulator/v1/faults (rules, remaining counts, hits), POST (adds
 * {"rules":[...]} or one rule object), DELETE (removes all). Command line:
 * --fault "status=UNAVAILABLE,rate=0.1,method=POST,path=/v1/,latency=100,jitter=20,
 *          count=5,after_apply=1,retry_after=2" (the same keys, short names). */
#ifndef EMU_FAULT_H
#define EMU_FAULT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "tools/firestore-emulator/emu_api.h"
#include "tools/firestore-emulator/emu_error.h"

typedef struct emu_faults emu_faults;

typedef struct {
    int latency_ms;
    emu_code code;       /* EMU_OK: no failure */
    bool after_apply;
    int retry_after;     /* seconds, 0 for none */
} emu_fault_decision;

emu_faults *emu_faults_new(uint64_t seed);
void emu_faults_free(emu_faults *f);
int emu_faults_add_json(emu_faults *f, const json_t *rule, emu_status *st);
int emu_faults_add_spec(emu_faults *f, const char *spec, emu_status *st);
void emu_faults_clear(emu_faults *f);
json_t *emu_faults_json(emu_faults *f);
/* A write rule ({"status":"ABORTED","count":1,"document":"members/0101302989"}) fails
 * single writes of :batchWrite, whose per-write status then says so while the other
 * writes of the request are applied; the document is a path prefix under the
 * database's documents. EMU_OK: the write goes ahead. */
emu_code emu_faults_write(emu_faults *f, const char *name);
/* Decides what happens to one request. */
void emu_faults_decide(emu_faults *f, const char *method, const char *path, emu_fault_decision *d);
/* Handles rq under decision d: fails before the call, or runs it and then fails
 * (after_apply), or just runs it. */
void emu_fault_respond(emu_ctx *ctx, const emu_request *rq, const emu_fault_decision *d, emu_response *rs);
/* The admin API on /emulator/v1/faults. */
int emu_api_faults(emu_faults *f, const char *method, const json_t *body, json_t **out, emu_status *st);

#endif
