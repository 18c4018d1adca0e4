/* write.c: a batch's single write transaction, one statement per table,
 * each carrying all of its rows as binary arrays through unnest() (the
 * projection tables' statements and arrays come from their descriptions,
 * services/lib/tables.h):
 * the event log, dead letters, twinnings, pledges, parked deliveries,
 * source feeds, preceded by the compare-and-set of the partitions' offsets.
 * The statements share the pipeline's implicit transaction, which commits
 * at the sync point or not at all. */
#include "batch_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain.h"
#include "provenance.h"
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
    L_PROV,
    L_SIG,
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
    /* proj.parked_delivery rows whose pledge arrived */
    K_DELETE,
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
    case K_DELETE:
        return TW_OID_UUID_ARRAY;
    case L_PART:
    case D_PART:
    case O_PART:
    case H_PART:
    case A_PART:
        return TW_OID_INT4_ARRAY;
    case L_OFF:
    case H_OFF:
    case A_OFF:
    case D_OFF:
    case O_EXPECTED:
    case O_NEXT:
    case O_ACC:
    case O_DEAD:
    case O_DUP:
        return TW_OID_INT8_ARRAY;
    case L_OCCURRED:
    case L_RECORDED:
        return TW_OID_TIMESTAMPTZ_ARRAY;
        return TW_OID_DATE_ARRAY;
    case L_PAYLOAD:
    case L_PREV:
    case L_HASH:
    case L_SIG:
    case H_HEAD:
    case A_HASH:
    case D_KEY:
    case D_PAYLOAD:
        return TW_OID_BYTEA_ARRAY;
    default:
        return TW_OID_TEXT_ARRAY;
    }
}

/* The projection tables' upserts (tables.h), in the order they are
 * queued. A pledge belongs to the locality that created it; an upsert
 * never moves it. Twinnings and pledges carry a row version (TW_COL_VERSION):
 * a row another lane or projector changed since this one read or cached it
 * is not updated (since the 2025 reform one twinning's events come under
 * two Kafka keys, so two partitions). Parking a delivery and creating its
 * pledge both write their twinning's row, so they cannot miss each other.
 * Either way fewer rows come back and expect_rows fails the batch, which is
 * retried from the stored offsets with the caches dropped, rereading the
 * rows. */
static const tw_table *table_of(int i)
{
    const tw_table *const t[TW_BATCH_NTABLES] = {tw_twinning_table, tw_pledge_table,
                                                 tw_parked_table, tw_source_table};
    return t[i];
}

/* Whether table t's upsert counts its rows (expect_rows). */
static int counted(const tw_table *t)
{
    return t == tw_twinning_table || t == tw_pledge_table;
}

static const char *upsert_sql(int i)
{
    static char sql[2][4096];
    const tw_table *t = table_of(i);
    if (!counted(t))
        return tw_table_upsert(t, NULL);
    char *s = sql[t == tw_pledge_table];
    if (!s[0])
        snprintf(s, sizeof sql[0],
                 "WITH u AS (%s RETURNING 1)"
                 " SELECT ingest.expect_rows(count(*), $%d::bigint, '%s') FROM u",
                 tw_table_upsert(
                     t, t == tw_pledge_table ? "x.locality_code = excluded.locality_code" : NULL),
                 tw_table_ncols(t) + 1, tw_table_name(t));
    return s;
}

void tw_write_init(tw_batch *b)
{
    for (int i = 0; i < W__COUNT; i++)
        tw_pgarr_init(&b->wa[i], oid_of(i));
    for (int t = 0; t < TW_BATCH_NTABLES; t++)
        for (int c = 0; c < tw_table_ncols(table_of(t)); c++)
            tw_pgarr_init(&b->rows[t][c], tw_column_array_oid(tw_table_col(table_of(t), c)));
}

void tw_write_free(tw_batch *b)
{
    for (int i = 0; i < W__COUNT; i++)
        tw_pgarr_free(&b->wa[i]);
    for (int t = 0; t < TW_BATCH_NTABLES; t++)
        for (int c = 0; c < tw_table_ncols(table_of(t)); c++)
            tw_pgarr_free(&b->rows[t][c]);
    free(b->sources);
}

/* Appends row to the arrays of table t, a column each. */
static void add_row(tw_batch *b, int t, const void *row)
{
    for (int c = 0; c < tw_table_ncols(table_of(t)); c++)
        tw_column_push(tw_table_col(table_of(t), c), row, &b->rows[t][c]);
}

/* Event ids were not looked up (see tw_batch_run): an id already in the log
 * fails the whole batch with a unique violation of event_log_pkey rather
 * than being inserted twice. A plain INSERT, not ON CONFLICT: that would
 * probe the index once more per row to learn what the insert learns anyway.
 * Each row carries its link of its partition's hash chain (see chain.h). */
static const char *SQL_LOG =
    "INSERT INTO audit.event_log (event_id, topic, kafka_partition, kafka_offset,"
    " event_type, agency_code, locality_code, pledge_id, occurred_at, recorded_at, source_system,"
    " source_ref, payload, prev_hash, hash, provenance, signature) SELECT unnest($2::uuid[]), $1,"
    " unnest($3::int4[]), unnest($4::int8[]),"
    " unnest($5::text[]), unnest($6::text[]), unnest($7::text[]), unnest($8::text[]),"
    " unnest($9::timestamptz[]), unnest($10::timestamptz[]), unnest($11::text[]),"
    " unnest($12::text[]), unnest($13::bytea[]), unnest($14::bytea[]), unnest($15::bytea[]),"
    " unnest($16::text[]), unnest($17::bytea[])";

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

static const char *SQL_UNPARK = "DELETE FROM proj.parked_delivery WHERE event_id = ANY($1)";

static const char *SQL_OFFSETS =
    "SELECT ingest.advance_offsets($1, $2::int4[], $3::int8[], $4::int8[], $5::int8[],"
    " $6::int8[], $7::int8[])";

static const char *SQL_NOTIFY = "SELECT pg_notify('twinwatch_projection', $1)";

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
        tw_batch_part *bp = tw_batch_part_of(b, e->rkm->partition);
        if (!bp)
            return -1;
        memcpy(e->prev, bp->head, sizeof e->prev);
        if (tw_chain_event_prov(e->prev, e->id, b->topic, e->rkm->partition, e->rkm->offset,
                                e->canon, e->canon_len, e->prov, e->sig, e->sig ? TW_SIG_LEN : 0,
                                e->hash) < 0)
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
            tw_pgarr_text(&w[L_PROV], e->prov);
            if (e->sig)
                tw_pgarr_bytes(&w[L_SIG], e->sig, TW_SIG_LEN);
            else
                tw_pgarr_null(&w[L_SIG]);
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

    while ((t = tw_state_next_twinning(b->st, &pos)))
        if (t->dirty)
            add_row(b, TW_BATCH_TWINNING, t);
    pos = 0;
    while ((p = tw_state_next_pledge(b->st, &pos)))
        if (p->dirty)
            add_row(b, TW_BATCH_PLEDGE, p);
    pos = 0;
    while ((k = tw_state_next_parked(b->st, &pos, k))) {
        if (k->stored && k->applied) {
            tw_pgarr_uuid(&w[K_DELETE], k->event_id);
        } else if (!k->stored && !k->applied) {
            add_row(b, TW_BATCH_PARKED, k);
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
    for (size_t i = 0; i < ns; i++)
        add_row(b, TW_BATCH_SOURCE, b->sources[i]);
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

/* Queues table t's upsert with its arrays, unless it has no rows; the
 * twinnings' and pledges' with the row count as one more parameter, for
 * expect_rows. */
static int queue_rows(tw_batch *b, tw_pgpipe *pipe, int t)
{
    tw_pgparams p;
    char n[24];
    if (b->rows[t][0].n == 0)
        return 0;
    tw_pgparams_clear(&p);
    for (int c = 0; c < tw_table_ncols(table_of(t)); c++)
        if (tw_pgparams_array(&p, &b->rows[t][c]) < 0)
            return -1;
    if (counted(table_of(t))) {
        snprintf(n, sizeof n, "%zu", b->rows[t][0].n);
        tw_pgparams_text(&p, n);
    }
    return tw_pgpipe_send(pipe, upsert_sql(t), &p);
}

int tw_write_queue(tw_batch *b, tw_pgpipe *pipe)
{
    for (int i = 0; i < W__COUNT; i++)
        tw_pgarr_reset(&b->wa[i]);
    for (int t = 0; t < TW_BATCH_NTABLES; t++)
        for (int c = 0; c < tw_table_ncols(table_of(t)); c++)
            tw_pgarr_reset(&b->rows[t][c]);
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
        queue(b, pipe, SQL_LOG, 1, L_ID, L_SIG) < 0 ||
        queue(b, pipe, SQL_HEADS, 1, H_PART, H_HEAD) < 0 ||
        queue(b, pipe, SQL_ANCHOR, 1, A_PART, A_HASH) < 0 ||
        queue(b, pipe, SQL_DEAD, 1, D_PART, D_PAYLOAD) < 0 ||
        queue_rows(b, pipe, TW_BATCH_TWINNING) < 0 || queue_rows(b, pipe, TW_BATCH_PLEDGE) < 0 ||
        queue(b, pipe, SQL_UNPARK, 0, K_DELETE, K_DELETE) < 0 ||
        queue_rows(b, pipe, TW_BATCH_PARKED) < 0 || queue_rows(b, pipe, TW_BATCH_SOURCE) < 0)
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
