/* write.c: a batch's single write transaction, one statement per table,
 * each carrying all of its rows as binary arrays through unnest():
 * the event log, dead letters, twinnings, pledges, parked deliveries,
 * source feeds, preceded by the compare-and-set of the partitions' offsets.
 * The statements share the pipeline's implicit transaction, which commits
 * at the sync point or not at all. */
#include "batch_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain.h"
#include "date.h"

enum {
    /* audit.event_log */
    L_ID,
    L_PART,
    L_OFF,
    L_TYPE,
    L_AGENCY,
    L_LOCALITY,
    L_PLEDGE,
    L_OCCURRED,
    L_RECORDED,
    L_SOURCE,
    L_REF,
    L_PAYLOAD,
    L_PREV,
    L_HASH,
    /* ingest.partition_offset's chain heads */
    H_PART,
    H_OFF,
    H_HEAD,
    /* audit.anchor */
    A_PART,
    A_OFF,
    A_HASH,
    /* ingest.dead_letter */
    D_PART,
    D_OFF,
    D_KEY,
    D_ID,
    D_TYPE,
    D_AGENCY,
    D_LOCALITY,
    D_REASON,
    D_MESSAGE,
    D_PAYLOAD,
    /* proj.twinning */
    T_AGENCY,
    T_LOCALITY,
    T_STATUS,
    T_PROGRAMME,
    T_START,
    T_END,
    T_TERMS,
    T_SIGNED,
    T_ENDED,
    T_VISITS,
    T_GIFT,
    T_DELIVERED,
    T_TRAINEES,
    T_JOBS,
    T_MODELS,
    T_SUBST,
    T_FORMAL,
    T_LAST,
    /* proj.pledge */
    P_AGENCY,
    P_ID,
    P_LOCALITY,
    P_CATEGORY,
    P_FUNDING,
    P_STATUS,
    P_AMOUNT,
    P_INKIND,
    P_INKIND_VALUE,
    P_TARGET,
    P_UNIT,
    P_DUE,
    P_PLEDGED,
    P_DVND,
    P_DQTY,
    P_DELIVERIES,
    P_LASTDEL,
    P_COMPLETED,
    P_CANCELLED,
    P_REVISIONS,
    /* proj.parked_delivery */
    K_ID,
    K_AGENCY,
    K_PLEDGE,
    K_LOCALITY,
    K_AMOUNT,
    K_QTY,
    K_OCCURRED,
    K_PART,
    K_OFF,
    K_DELETE,
    /* proj.source_feed */
    S_SOURCE,
    S_AGENCY,
    S_SEEN,
    S_EVENTS,
    /* ingest.partition_offset */
    O_PART,
    O_EXPECTED,
    O_NEXT,
    O_ACC,
    O_DEAD,
    O_DUP,
    W__COUNT
};

_Static_assert(W__COUNT <= WA__COUNT, "WA__COUNT too small");

static uint32_t oid_of(int i)
{
    switch (i) {
    case L_ID:
    case D_ID:
    case K_ID:
    case K_DELETE:
        return TW_OID_UUID_ARRAY;
    case L_PART:
    case D_PART:
    case T_TERMS:
    case K_PART:
    case O_PART:
    case H_PART:
    case A_PART:
        return TW_OID_INT4_ARRAY;
    case L_OFF:
    case H_OFF:
    case A_OFF:
    case D_OFF:
    case T_VISITS:
    case T_GIFT:
    case T_DELIVERED:
    case T_TRAINEES:
    case T_JOBS:
    case T_MODELS:
    case T_SUBST:
    case T_FORMAL:
    case P_AMOUNT:
    case P_INKIND_VALUE:
    case P_TARGET:
    case P_DVND:
    case P_DQTY:
    case P_DELIVERIES:
    case P_REVISIONS:
    case K_AMOUNT:
    case K_QTY:
    case K_OFF:
    case S_EVENTS:
    case O_EXPECTED:
    case O_NEXT:
    case O_ACC:
    case O_DEAD:
    case O_DUP:
        return TW_OID_INT8_ARRAY;
    case L_OCCURRED:
    case L_RECORDED:
    case T_SIGNED:
    case T_ENDED:
    case T_LAST:
    case P_PLEDGED:
    case P_LASTDEL:
    case P_COMPLETED:
    case P_CANCELLED:
    case K_OCCURRED:
    case S_SEEN:
        return TW_OID_TIMESTAMPTZ_ARRAY;
    case T_START:
    case T_END:
    case P_DUE:
        return TW_OID_DATE_ARRAY;
    case L_PAYLOAD:
    case L_PREV:
    case L_HASH:
    case H_HEAD:
    case A_HASH:
    case D_KEY:
    case D_PAYLOAD:
        return TW_OID_BYTEA_ARRAY;
    default:
        return TW_OID_TEXT_ARRAY;
    }
}

void tw_write_init(tw_batch *b)
{
    for (int i = 0; i < W__COUNT; i++)
        tw_pgarr_init(&b->wa[i], oid_of(i));
}

void tw_write_free(tw_batch *b)
{
    for (int i = 0; i < W__COUNT; i++)
        tw_pgarr_free(&b->wa[i]);
    free(b->sources);
}

/* Event ids were not looked up (see tw_batch_run): an id already in the log
 * fails the whole batch with a unique violation of event_log_pkey rather
 * than being inserted twice. A plain INSERT, not ON CONFLICT: that would
 * probe the index once more per row to learn what the insert learns anyway.
 * Each row carries its link of its partition's hash chain (see chain.h). */
static const char *SQL_LOG =
    "INSERT INTO audit.event_log (event_id, topic, kafka_partition, kafka_offset,"
    " event_type, agency_code, locality_code, pledge_id, occurred_at, recorded_at, source_system,"
    " source_ref, payload, prev_hash, hash) SELECT unnest($2::uuid[]), $1, unnest($3::int4[]), "
    "unnest($4::int8[]),"
    " unnest($5::text[]), unnest($6::text[]), unnest($7::text[]), unnest($8::text[]),"
    " unnest($9::timestamptz[]), unnest($10::timestamptz[]), unnest($11::text[]),"
    " unnest($12::text[]), unnest($13::bytea[]), unnest($14::bytea[]), unnest($15::bytea[])";

/* The chain heads beside the offsets, whose rows the compare-and-set has
 * locked: the stored head is the truth a restarted projector goes on from. */
static const char *SQL_HEADS =
    "UPDATE ingest.partition_offset o SET chain_head = h.head, chain_offset = h.off"
    " FROM unnest($2::int4[], $3::int8[], $4::bytea[]) AS h(part, off, head)"
    " WHERE o.topic = $1 AND o.kafka_partition = h.part";

/* The anchors published since the lane's last batch (see anchors.c). */
static const char *SQL_ANCHOR =
    "INSERT INTO audit.anchor (topic, kafka_partition, kafka_offset, hash)"
    " SELECT $1, unnest($2::int4[]), unnest($3::int8[]), unnest($4::bytea[])";

static const char *SQL_DEAD =
    "INSERT INTO ingest.dead_letter (topic, kafka_partition, kafka_offset, kafka_key, event_id,"
    " event_type, agency_code, locality_code, reason, message, payload)"
    " SELECT $1, unnest($2::int4[]), unnest($3::int8[]), unnest($4::bytea[]),"
    " unnest($5::uuid[]), unnest($6::text[]), unnest($7::text[]), unnest($8::text[]),"
    " unnest($9::text[]), unnest($10::text[]), unnest($11::bytea[])";

static const char *SQL_TWINNING =
    "INSERT INTO proj.twinning AS x (agency_code, locality_code, status, programme, start_date,"
    " end_date, terms, signed_at, ended_at, visits, gift_value_vnd, delivered_vnd, trainees, jobs,"
    " models_replicated, substantive_activities, formal_activities, last_activity_at)"
    " SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::text[]), unnest($4::text[]), "
    "unnest($5::date[]), unnest($6::date[]), unnest($7::int4[]), unnest($8::timestamptz[]), "
    "unnest($9::timestamptz[]), unnest($10::int8[]), unnest($11::int8[]), unnest($12::int8[]), "
    "unnest($13::int8[]), unnest($14::int8[]), unnest($15::int8[]), unnest($16::int8[]), "
    "unnest($17::int8[]), unnest($18::timestamptz[])"
    " ON CONFLICT (agency_code, locality_code) DO UPDATE SET status = excluded.status,"
    " programme = excluded.programme, start_date = excluded.start_date,"
    " end_date = excluded.end_date, terms = excluded.terms, signed_at = excluded.signed_at,"
    " ended_at = excluded.ended_at, visits = excluded.visits,"
    " gift_value_vnd = excluded.gift_value_vnd, delivered_vnd = excluded.delivered_vnd,"
    " trainees = excluded.trainees, jobs = excluded.jobs,"
    " models_replicated = excluded.models_replicated,"
    " substantive_activities = excluded.substantive_activities,"
    " formal_activities = excluded.formal_activities,"
    " last_activity_at = excluded.last_activity_at";

/* A pledge belongs to the locality that created it; an upsert never moves
 * it. If another projector created the same (agency, pledge) elsewhere
 * meanwhile, fewer rows come back and expect_rows fails the batch. */
static const char *SQL_PLEDGE =
    "WITH u AS (INSERT INTO proj.pledge AS x (agency_code, pledge_id, locality_code, category,"
    " funding, status, amount_vnd, in_kind, in_kind_value_vnd, target_quantity, unit, due_date,"
    " pledged_at, delivered_vnd, delivered_qty, deliveries, last_delivery_at, completed_at,"
    " cancelled_at, revisions)"
    " SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::text[]), unnest($4::text[]), "
    "unnest($5::text[]), unnest($6::text[]), unnest($7::int8[]), unnest($8::text[]), "
    "unnest($9::int8[]), unnest($10::int8[]), unnest($11::text[]), unnest($12::date[]), "
    "unnest($13::timestamptz[]), unnest($14::int8[]), unnest($15::int8[]), unnest($16::int8[]), "
    "unnest($17::timestamptz[]), unnest($18::timestamptz[]), unnest($19::timestamptz[]), "
    "unnest($20::int8[])"
    " ON CONFLICT (agency_code, pledge_id) DO UPDATE SET status = excluded.status,"
    " amount_vnd = excluded.amount_vnd, target_quantity = excluded.target_quantity,"
    " due_date = excluded.due_date, delivered_vnd = excluded.delivered_vnd,"
    " delivered_qty = excluded.delivered_qty, deliveries = excluded.deliveries,"
    " last_delivery_at = excluded.last_delivery_at, completed_at = excluded.completed_at,"
    " cancelled_at = excluded.cancelled_at, revisions = excluded.revisions"
    " WHERE x.locality_code = excluded.locality_code RETURNING 1)"
    " SELECT ingest.expect_rows(count(*), $21::bigint, 'proj.pledge') FROM u";

static const char *SQL_PARK =
    "INSERT INTO proj.parked_delivery (event_id, agency_code, pledge_id, locality_code,"
    " amount_vnd, quantity, occurred_at, kafka_partition, kafka_offset)"
    " SELECT unnest($1::uuid[]), unnest($2::text[]), unnest($3::text[]), unnest($4::text[]), "
    "unnest($5::int8[]), unnest($6::int8[]), unnest($7::timestamptz[]), unnest($8::int4[]), "
    "unnest($9::int8[])";

static const char *SQL_UNPARK = "DELETE FROM proj.parked_delivery WHERE event_id = ANY($1)";

/* A source system sends for every locality of its agency, so several
 * partitions (and projectors) update one row: the batch writes what it
 * adds, never an absolute value read earlier. */
static const char *SQL_SOURCE =
    "INSERT INTO proj.source_feed AS x (source_system, agency_code, last_seen_at, events)"
    " SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::timestamptz[]), unnest($4::int8[])"
    " ON CONFLICT (source_system) DO UPDATE SET"
    " last_seen_at = greatest(x.last_seen_at, excluded.last_seen_at),"
    " events = x.events + excluded.events";

static const char *SQL_OFFSETS =
    "SELECT ingest.advance_offsets($1, $2::int4[], $3::int8[], $4::int8[], $5::int8[],"
    " $6::int8[], $7::int8[])";

static const char *SQL_NOTIFY = "SELECT pg_notify('twinwatch_projection', $1)";

/* The batch part of partition (the batch holds few partitions). */
static tw_batch_part *part_of(tw_batch *b, int32_t partition)
{
    for (int i = 0; i < b->nparts; i++)
        if (b->parts[i].partition == partition)
            return &b->parts[i];
    return NULL;
}

/* Chains the accepted events onto their partitions' heads, in offset order
 * (a partition's messages arrive in it). Duplicates and dead letters are no
 * links. The projector's heads move only when the batch commits. */
static int chain_events(tw_batch *b)
{
    for (int i = 0; i < b->nparts; i++) {
        tw_batch_part *bp = &b->parts[i];
        memcpy(bp->head, b->heads[bp->partition], sizeof bp->head);
        bp->chained = 0;
    }
    for (size_t i = 0; i < b->n; i++) {
        tw_entry *e = &b->e[i];
        if (!e->accepted)
            continue;
        tw_batch_part *bp = part_of(b, e->rkm->partition);
        if (!bp)
            return -1;
        memcpy(e->prev, bp->head, sizeof e->prev);
        if (tw_chain_event(e->prev, e->id, b->topic, e->rkm->partition, e->rkm->offset, e->canon,
                           e->canon_len, e->hash) < 0)
            return -1;
        memcpy(bp->head, e->hash, sizeof bp->head);
        bp->head_offset = e->rkm->offset;
        bp->chained++;
    }
    return 0;
}

static void fill_log_and_dead(tw_batch *b)
{
    tw_pgarr *w = b->wa;
    for (size_t i = 0; i < b->n; i++) {
        const tw_entry *e = &b->e[i];
        const rd_kafka_message_t *m = e->rkm;
        if (e->accepted) {
            const tw_event *ev = e->ev;
            const char *pid = tw_event_pledge_id(ev);
            tw_pgarr_uuid(&w[L_ID], e->id);
            tw_pgarr_int4(&w[L_PART], m->partition);
            tw_pgarr_int8(&w[L_OFF], m->offset);
            tw_pgarr_text(&w[L_TYPE], tw_event_type(ev));
            tw_pgarr_text(&w[L_AGENCY], ev->agency_code);
            tw_pgarr_text(&w[L_LOCALITY], ev->locality_code);
            tw_pgarr_text(&w[L_PLEDGE], *pid ? pid : NULL);
            tw_pgarr_ts_ms(&w[L_OCCURRED], ev->occurred_at_ms);
            tw_pgarr_ts_ms(&w[L_RECORDED], ev->recorded_at_ms);
            tw_pgarr_text(&w[L_SOURCE], ev->source_system);
            tw_pgarr_text(&w[L_REF], ev->source_ref);
            tw_pgarr_bytes(&w[L_PAYLOAD], e->canon, e->canon_len);
            tw_pgarr_bytes(&w[L_PREV], e->prev, sizeof e->prev);
            tw_pgarr_bytes(&w[L_HASH], e->hash, sizeof e->hash);
        } else if (e->rejected && !e->stale) {
            const tw_event *ev = e->ev;
            tw_pgarr_int4(&w[D_PART], m->partition);
            tw_pgarr_int8(&w[D_OFF], m->offset);
            if (m->key)
                tw_pgarr_bytes(&w[D_KEY], m->key, m->key_len);
            else
                tw_pgarr_null(&w[D_KEY]);
            if (e->canon) /* the id parsed: the stateless checks passed */
                tw_pgarr_uuid(&w[D_ID], e->id);
            else
                tw_pgarr_null(&w[D_ID]);
            tw_pgarr_text(&w[D_TYPE], ev ? tw_event_type(ev) : NULL);
            tw_pgarr_text(&w[D_AGENCY], ev && *ev->agency_code ? ev->agency_code : NULL);
            tw_pgarr_text(&w[D_LOCALITY], ev && *ev->locality_code ? ev->locality_code : NULL);
            tw_pgarr_text(&w[D_REASON], tw_reason_name(e->rej->reason));
            tw_pgarr_text(&w[D_MESSAGE], e->rej->msg);
            tw_pgarr_bytes(&w[D_PAYLOAD], m->payload ? m->payload : "", m->len);
        }
    }
}

static int by_source_system(const void *x, const void *y)
{
    const tw_source *a = *(tw_source *const *)x, *c = *(tw_source *const *)y;
    return strcmp(a->source_system, c->source_system);
}

static void fill_state(tw_batch *b)
{
    tw_pgarr *w = b->wa;
    for (int i = 0; i < b->nanchors; i++) {
        tw_pgarr_int4(&w[A_PART], b->anchor_part[i]);
        tw_pgarr_int8(&w[A_OFF], b->anchor_off[i]);
        tw_pgarr_bytes(&w[A_HASH], b->anchor_hash[i], TW_CHAIN_HASH_LEN);
    }
    size_t pos = 0;
    tw_twinning *t;
    tw_pledge *p;
    tw_parked *k = NULL;
    tw_source *s;

    while ((t = tw_state_next_twinning(b->st, &pos))) {
        if (!t->dirty)
            continue;
        tw_pgarr_text(&w[T_AGENCY], t->agency_code);
        tw_pgarr_text(&w[T_LOCALITY], t->locality_code);
        tw_pgarr_text(&w[T_STATUS], tw_twinning_status_name(t->status));
        tw_pgarr_text(&w[T_PROGRAMME], t->programme);
        tw_pgarr_date(&w[T_START], t->start_date);
        tw_pgarr_date(&w[T_END], t->end_date);
        tw_pgarr_int4(&w[T_TERMS], t->terms);
        tw_pgarr_ts_ms(&w[T_SIGNED], t->signed_at);
        tw_pgarr_ts_ms(&w[T_ENDED], t->ended_at);
        tw_pgarr_int8(&w[T_VISITS], t->visits);
        tw_pgarr_int8(&w[T_GIFT], t->gift_value_vnd);
        tw_pgarr_int8(&w[T_DELIVERED], t->delivered_vnd);
        tw_pgarr_int8(&w[T_TRAINEES], t->trainees);
        tw_pgarr_int8(&w[T_JOBS], t->jobs);
        tw_pgarr_int8(&w[T_MODELS], t->models_replicated);
        tw_pgarr_int8(&w[T_SUBST], t->substantive);
        tw_pgarr_int8(&w[T_FORMAL], t->formal);
        tw_pgarr_ts_ms(&w[T_LAST], t->last_activity_at);
    }
    pos = 0;
    while ((p = tw_state_next_pledge(b->st, &pos))) {
        if (!p->dirty)
            continue;
        tw_pgarr_text(&w[P_AGENCY], p->agency_code);
        tw_pgarr_text(&w[P_ID], p->pledge_id);
        tw_pgarr_text(&w[P_LOCALITY], p->locality_code);
        tw_pgarr_text(&w[P_CATEGORY], tw_category_name(p->category));
        tw_pgarr_text(&w[P_FUNDING], tw_funding_name(p->funding));
        tw_pgarr_text(&w[P_STATUS], tw_pledge_status_name(p->status));
        tw_pgarr_int8(&w[P_AMOUNT], p->amount_vnd);
        tw_pgarr_text(&w[P_INKIND], p->in_kind);
        tw_pgarr_int8(&w[P_INKIND_VALUE], p->in_kind_value_vnd);
        tw_pgarr_int8(&w[P_TARGET], p->target_quantity);
        tw_pgarr_text(&w[P_UNIT], p->unit);
        tw_pgarr_date(&w[P_DUE], p->due_date);
        tw_pgarr_ts_ms(&w[P_PLEDGED], p->pledged_at);
        tw_pgarr_int8(&w[P_DVND], p->delivered_vnd);
        tw_pgarr_int8(&w[P_DQTY], p->delivered_qty);
        tw_pgarr_int8(&w[P_DELIVERIES], p->deliveries);
        tw_pgarr_ts_ms(&w[P_LASTDEL], p->last_delivery_at);
        tw_pgarr_ts_ms(&w[P_COMPLETED], p->completed_at);
        tw_pgarr_ts_ms(&w[P_CANCELLED], p->cancelled_at);
        tw_pgarr_int8(&w[P_REVISIONS], p->revisions);
    }
    pos = 0;
    while ((k = tw_state_next_parked(b->st, &pos, k))) {
        if (k->stored && k->applied) {
            tw_pgarr_uuid(&w[K_DELETE], k->event_id);
        } else if (!k->stored && !k->applied) {
            tw_pgarr_uuid(&w[K_ID], k->event_id);
            tw_pgarr_text(&w[K_AGENCY], k->agency_code);
            tw_pgarr_text(&w[K_PLEDGE], k->pledge_id);
            tw_pgarr_text(&w[K_LOCALITY], k->locality_code);
            tw_pgarr_int8(&w[K_AMOUNT], k->amount_vnd);
            tw_pgarr_int8(&w[K_QTY], k->quantity);
            tw_pgarr_ts_ms(&w[K_OCCURRED], k->occurred_at);
            tw_pgarr_int4(&w[K_PART], k->partition);
            tw_pgarr_int8(&w[K_OFF], k->offset);
        }
    }
    /* Source rows are shared by partitions, hence by lanes and projectors:
     * every batch locks them in the same (sorted) order, so that two
     * batches wait for one another instead of deadlocking. */
    size_t ns = 0;
    pos = 0;
    while ((s = tw_state_next_source(b->st, &pos)))
        if (s->dirty) {
            if (ns == b->nsources) {
                size_t cap = b->nsources ? 2 * b->nsources : 64;
                tw_source **t = realloc(b->sources, cap * sizeof *t);
                if (!t) {
                    b->oom = 1;
                    break;
                }
                b->sources = t;
                b->nsources = cap;
            }
            b->sources[ns++] = s;
        }
    qsort(b->sources, ns, sizeof *b->sources, by_source_system);
    for (size_t i = 0; i < ns; i++) {
        s = b->sources[i];
        tw_pgarr_text(&w[S_SOURCE], s->source_system);
        tw_pgarr_text(&w[S_AGENCY], s->agency_code);
        tw_pgarr_ts_ms(&w[S_SEEN], s->last_seen_at);
        tw_pgarr_int8(&w[S_EVENTS], s->events);
    }
    for (int i = 0; i < b->nparts; i++) {
        const tw_batch_part *bp = &b->parts[i];
        if (bp->chained > 0) {
            tw_pgarr_int4(&w[H_PART], bp->partition);
            tw_pgarr_int8(&w[H_OFF], bp->head_offset);
            tw_pgarr_bytes(&w[H_HEAD], bp->head, sizeof bp->head);
        }
        tw_pgarr_int4(&w[O_PART], bp->partition);
        if (bp->expected < 0)
            tw_pgarr_null(&w[O_EXPECTED]);
        else
            tw_pgarr_int8(&w[O_EXPECTED], bp->expected);
        tw_pgarr_int8(&w[O_NEXT], bp->next);
        tw_pgarr_int8(&w[O_ACC], bp->accepted);
        tw_pgarr_int8(&w[O_DEAD], bp->dead);
        tw_pgarr_int8(&w[O_DUP], bp->duplicates);
    }
}

/* Queues sql with the arrays first..last (and the topic first when
 * with_topic), unless the first array is empty. */
static int queue(tw_batch *b, tw_pgpipe *pipe, const char *sql, int with_topic, int first, int last)
{
    tw_pgparams p;
    if (b->wa[first].n == 0)
        return 0;
    tw_pgparams_clear(&p);
    if (with_topic)
        tw_pgparams_text(&p, b->topic);
    for (int i = first; i <= last; i++)
        if (tw_pgparams_array(&p, &b->wa[i]) < 0)
            return -1;
    return tw_pgpipe_send(pipe, sql, &p);
}

/* As queue(), with the row count as one more parameter for expect_rows. */
static int queue_counted(tw_batch *b, tw_pgpipe *pipe, const char *sql, int with_topic, int first,
                         int last)
{
    tw_pgparams p;
    char n[24];
    if (b->wa[first].n == 0)
        return 0;
    tw_pgparams_clear(&p);
    if (with_topic)
        tw_pgparams_text(&p, b->topic);
    for (int i = first; i <= last; i++)
        if (tw_pgparams_array(&p, &b->wa[i]) < 0)
            return -1;
    snprintf(n, sizeof n, "%zu", b->wa[first].n);
    tw_pgparams_text(&p, n);
    return tw_pgpipe_send(pipe, sql, &p);
}

int tw_write_queue(tw_batch *b, tw_pgpipe *pipe)
{
    for (int i = 0; i < W__COUNT; i++)
        tw_pgarr_reset(&b->wa[i]);
    if (chain_events(b) < 0)
        return -1;
    fill_log_and_dead(b);
    fill_state(b);
    if (b->oom)
        return -1;
    /* The offsets' compare-and-set first: a zombie's batch is refused by
     * it, before it writes anything, and not by whatever key the new owner
     * wrote first. The rows it locks are this projector's partitions'. */
    if (queue(b, pipe, SQL_OFFSETS, 1, O_PART, O_DUP) < 0 ||
        queue(b, pipe, SQL_LOG, 1, L_ID, L_HASH) < 0 ||
        queue(b, pipe, SQL_HEADS, 1, H_PART, H_HEAD) < 0 ||
        queue(b, pipe, SQL_ANCHOR, 1, A_PART, A_HASH) < 0 ||
        queue(b, pipe, SQL_DEAD, 1, D_PART, D_PAYLOAD) < 0 ||
        queue(b, pipe, SQL_TWINNING, 0, T_AGENCY, T_LAST) < 0 ||
        queue_counted(b, pipe, SQL_PLEDGE, 0, P_AGENCY, P_REVISIONS) < 0 ||
        queue(b, pipe, SQL_UNPARK, 0, K_DELETE, K_DELETE) < 0 ||
        queue(b, pipe, SQL_PARK, 0, K_ID, K_OFF) < 0 ||
        queue(b, pipe, SQL_SOURCE, 0, S_SOURCE, S_EVENTS) < 0)
        return -1;
    if (b->stats.accepted > 0) { /* something the sentinel may care about changed */
        char payload[TW_NOTIFY_MAX + 1];
        tw_pgparams p;
        tw_pgparams_clear(&p);
        tw_notify_payload(b, payload, sizeof payload);
        tw_pgparams_text(&p, payload);
        if (tw_pgpipe_send(pipe, SQL_NOTIFY, &p) < 0)
            return -1;
    }
    return 0;
}
