/* emit.c - one source change to its Kafka records: the event, and after a delete
 * the tombstone (kafka.tombstones). Building and sending are separate steps so that
 * the snapshot can hold one event back and mark the last one. */
#include "common/log.h"
#include "services/producer/runtime.h"

bool prod_build(producer *p, prod_relation *r, char op, const pgo_tuple *before, const pgo_tuple *after,
                const pgo_tuple *key, const ev_source *src)
{
    jbuf_reset(&p->key);
    jbuf_reset(&p->val);
    bool has_key = key && event_key(&p->key, r, key) == 0;
    int odd = 0;
    event_value(&p->val, r, op, before, after, src, &odd);
    if (odd) {
        metric_add(p->m.value_fallbacks, odd);
        log_debug("%d value(s) of %s.%s not in their type's text form: sent as strings", odd, r->schema, r->table);
    }
    return has_key;
}

int prod_send_built(producer *p, prod_relation *r, char op, bool has_key, uint64_t seq)
{
    if (kout_send(p, r, has_key ? &p->key : NULL, &p->val, seq) != 0)
        return -1;
    metric_add(relation_op_metric(r, op), 1);
    if (op == 'd' && has_key && p->set.tombstones && kout_send(p, r, &p->key, NULL, seq) != 0)
        return -1;
    return 0;
}

int prod_emit(producer *p, prod_relation *r, char op, const pgo_tuple *before, const pgo_tuple *after,
              const pgo_tuple *key, const ev_source *src, uint64_t seq)
{
    bool has_key = prod_build(p, r, op, before, after, key, src);
    return prod_send_built(p, r, op, has_key, seq);
}
