/* emit.c - one source change to its Kafka records: the event, and after a delete
 * the tombstone (kafka.tombstones). */
#include "common/log.h"
#include "services/producer/runtime.h"

int prod_emit(producer *p, prod_relation *r, char op, const pgo_tuple *before, const pgo_tuple *after,
              const pgo_tuple *key, const ev_source *src, uint64_t seq)
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
    if (kout_send(p, r, has_key ? &p->key : NULL, &p->val, seq) != 0)
        return -1;
    metric_add(relation_op_metric(r, op), 1);
    if (op == 'd' && has_key && p->set.tombstones && kout_send(p, r, &p->key, NULL, seq) != 0)
        return -1;
    return 0;
}
