/* batch.c: accumulate, read what the batch touches, apply in order. The
 * writes are built by write.c. Two round trips per batch, none per event. */
#include "batch.h"
#include "batch_int.h"
#include "provenance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "date.h"
#include "log.h"
#include "uuid.h"

/* The PostgreSQL array type of each read-phase key array. */
static uint32_t read_oid(int i)
{
    return i == RA_IDS ? TW_OID_UUID_ARRAY : TW_OID_TEXT_ARRAY;
}

tw_batch *tw_batch_new(const char *topic, tw_state *cache)
{
    tw_batch *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->topic = topic;
    b->st = cache; /* not owned */
    b->seen = tw_map_new();
    b->known = tw_map_new();
    b->keys = tw_map_new();
    b->geo = tw_geo_new();
    b->arena = tw_arena_new(256 * 1024);
    if (!b->st || !b->seen || !b->known || !b->keys || !b->geo || !b->arena) {
        tw_batch_free(b);
        return NULL;
    }
    tw_map_use_arena(b->seen, b->arena);
    tw_map_use_arena(b->keys, b->arena);
    for (int i = 0; i < RA__COUNT; i++)
        tw_pgarr_init(&b->ra[i], read_oid(i));
    tw_write_init(b);
    return b;
}

static void clear_known(tw_batch *b)
{
    size_t pos = 0;
    void *v;
    while ((v = tw_map_next(b->known, &pos, NULL)))
        free(v);
    tw_map_clear(b->known);
}

void tw_batch_clear(tw_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        rd_kafka_message_destroy(b->e[i].rkm);
    b->n = 0;
    b->nparts = 0;
    tw_map_clear(b->seen);
    tw_map_clear(b->keys);
    clear_known(b);
    tw_arena_reset(b->arena); /* the events, their canonical bytes, the maps' keys */
    b->nanchors = 0;
}

void tw_batch_set_provenance(tw_batch *b, struct tw_keyring *keys, int require)
{
    b->keyring = keys;
    b->require_provenance = require;
}

void tw_batch_set_heads(tw_batch *b, const uint8_t (*heads)[32])
{
    b->heads = heads;
}

int tw_batch_add_anchor(tw_batch *b, int32_t partition, int64_t offset, const uint8_t hash[32])
{
    if (b->nanchors == TW_MAX_PARTS)
        return -1;
    b->anchor_part[b->nanchors] = partition;
    b->anchor_off[b->nanchors] = offset;
    memcpy(b->anchor_hash[b->nanchors], hash, TW_CHAIN_HASH_LEN);
    b->nanchors++;
    return 0;
}

int tw_batch_anchors(const tw_batch *b, const int32_t **parts, const int64_t **offsets)
{
    *parts = b->anchor_part;
    *offsets = b->anchor_off;
    return b->nanchors;
}

void tw_batch_free(tw_batch *b)
{
    if (!b)
        return;
    if (b->st && b->seen && b->known && b->keys && b->arena)
        tw_batch_clear(b);
    free(b->e);
    free(b->akeys);
    tw_map_free(b->seen);
    tw_map_free(b->known);
    tw_geo_free(b->geo);
    tw_map_free(b->keys);
    tw_arena_free(b->arena);
    for (int i = 0; i < RA__COUNT; i++)
        tw_pgarr_free(&b->ra[i]);
    tw_write_free(b);
    free(b);
}

size_t tw_batch_count(const tw_batch *b)
{
    return b->n;
}

const tw_batch_part *tw_batch_parts(const tw_batch *b, int *n)
{
    *n = b->nparts;
    return b->parts;
}

void tw_batch_describe(const tw_batch *b, char *out, size_t outlen)
{
    size_t n = 0;
    out[0] = '\0';
    for (int i = 0; i < b->nparts && n < outlen; i++) {
        const tw_batch_part *p = &b->parts[i];
        int w = snprintf(out + n, outlen - n, "%sp%d %lld..%lld", i ? ", " : "", p->partition,
                         (long long)p->first, (long long)p->next - 1);
        if (w < 0 || (size_t)w >= outlen - n) {
            if (outlen > 4)
                strcpy(out + outlen - 4, "...");
            return;
        }
        n += (size_t)w;
    }
}

int tw_batch_needs_lookups(const tw_batch *b, const tw_pgpipe *pipe)
{
    return b->recheck ||
           (!strcmp(pipe->sqlstate, "23505") && !strcmp(pipe->constraint, "event_log_pkey"));
}

tw_batch_stats tw_batch_stats_get(const tw_batch *b)
{
    return b->stats;
}

/* The batch part of partition, added when the batch has none yet; NULL
 * when the batch holds TW_MAX_PARTS already. */
static tw_batch_part *add_part(tw_batch *b, int32_t partition)
{
    tw_batch_part *found = tw_batch_part_of(b, partition);
    if (found)
        return found;
    if (b->nparts == TW_MAX_PARTS)
        return NULL;
    tw_batch_part *p = &b->parts[b->nparts++];
    memset(p, 0, sizeof *p);
    p->partition = partition;
    p->first = -1;
    p->hole = -1;
    p->expected = -1;
    return p;
}

/* Marks e rejected for the reason in b->scratch, which it keeps a copy of
 * (most events are not rejected: the entry holds a pointer, not the text).
 * -1 when out of memory. */
static int reject(tw_batch *b, tw_entry *e)
{
    if (!(e->rej = tw_arena_alloc(b->arena, sizeof *e->rej)))
        return -1;
    *e->rej = b->scratch;
    e->rejected = 1;
    return 0;
}

int tw_batch_add(tw_batch *b, rd_kafka_message_t *m, int64_t now_ms)
{
    tw_batch_part *p = add_part(b, m->partition);
    if (!p)
        return -1;
    if (b->n == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 1024;
        tw_entry *ne = realloc(b->e, ncap * sizeof *ne);
        if (!ne)
            return -1;
        b->e = ne;
        b->cap = ncap;
    }
    if (p->first >= 0 && m->offset < p->next) {
        rd_kafka_message_destroy(m); /* delivered twice: the batch has it */
        return 0;
    }
    if (p->first >= 0 && m->offset > p->next && p->hole < 0) {
        p->hole = p->next;
        p->hole_end = m->offset;
    }
    tw_entry *e = &b->e[b->n++];
    memset(e, 0, sizeof *e);
    e->rkm = m;
    if (p->first < 0)
        p->first = m->offset;
    p->next = m->offset + 1;
    e->ev = tw_codec_decode_in(m->payload, m->len, tw_arena_protobuf(b->arena), &b->scratch);
    if (!e->ev || tw_codec_check(e->ev, now_ms, e->id, &b->scratch) < 0)
        return reject(b, e);
    size_t n = twinwatch__v1__event__get_packed_size(e->ev);
    if (!(e->canon = tw_arena_alloc(b->arena, n)))
        return -1;
    e->canon_len = twinwatch__v1__event__pack(e->ev, e->canon);
    /* who sent it: gateway, twinctl or direct; a signature is checked in
     * apply, against the keys the read phase reads */
    tw_provenance pv;
    tw_provenance_read(m, &pv);
    if (tw_provenance_check(b->keyring, &pv, e->ev->agency_code, m->payload, m->len,
                            b->require_provenance, &b->scratch) < 0)
        return reject(b, e);
    size_t plen = strlen(pv.who) + 1;
    if (!(e->prov = tw_arena_alloc(b->arena, plen)) ||
        (pv.has_sig && !(e->sig = tw_arena_alloc(b->arena, TW_SIG_LEN))))
        return -1;
    memcpy(e->prov, pv.who, plen);
    if (pv.has_sig)
        memcpy(e->sig, pv.sig, TW_SIG_LEN);
    return 0;
}

/* ---- read phase ---- */

static int64_t expected_of(tw_batch *b, int32_t partition)
{
    const tw_batch_part *p = tw_batch_part_of(b, partition);
    return p ? p->expected : -1;
}

/* One index probe per id, whatever the planner thinks of a large array:
 * "event_id = ANY($1)" turns into a sequential scan of the whole log once
 * the array is a few thousand long. */
static const char *SQL_KNOWN =
    "SELECT id::text, payload FROM (SELECT k.id, (SELECT e.payload FROM audit.event_log e"
    " WHERE e.event_id = k.id) AS payload FROM unnest($1::uuid[]) k(id)) s"
    " WHERE payload IS NOT NULL";
static const char *SQL_AGENCIES = "SELECT code FROM ref.agency WHERE code = ANY($1)";
static const char *SQL_LOCALITIES = "SELECT code FROM ref.locality WHERE code = ANY($1)";
/* The projection rows a batch reads, their columns as tables.h describes
 * them (twinnings and pledges by key pairs, parked deliveries by pledge, in
 * the order they arrived). */
static const char *read_sql(const tw_table *t)
{
    static char sql[3][4096];
    int i = t == tw_twinning_table ? 0 : t == tw_pledge_table ? 1 : 2;
    if (sql[i][0])
        return sql[i];
    if (i == 0)
        /* under any code related through the lineage: a twinning's events
         * may come under its old or its new code (issue 13) */
        snprintf(sql[i], sizeof sql[i],
                 "SELECT %s FROM (SELECT DISTINCT k.a, c.l FROM unnest($1::text[], $2::text[])"
                 " k(a, l), LATERAL ref.related_codes(k.l) c(l)) k"
                 " JOIN proj.twinning t ON t.agency_code = k.a AND t.locality_code = k.l",
                 tw_table_read_list(t, "t"));
    else if (i == 1)
        snprintf(sql[i], sizeof sql[i],
                 "SELECT %s FROM unnest($1::text[], $2::text[]) k(a, i)"
                 " JOIN proj.pledge p ON p.agency_code = k.a AND p.pledge_id = k.i",
                 tw_table_read_list(t, "p"));
    else
        snprintf(sql[i], sizeof sql[i],
                 "SELECT %s FROM unnest($1::text[], $2::text[]) k(a, i)"
                 " JOIN proj.parked_delivery d ON d.agency_code = k.a AND d.pledge_id = k.i"
                 " ORDER BY d.kafka_partition, d.kafka_offset",
                 tw_table_read_list(t, "d"));
    return sql[i];
}

/* Adds a key once per batch to the arrays (two columns for pairs). */
static int want(tw_batch *b, char kind, const char *x, const char *y, tw_pgarr *ax, tw_pgarr *ay)
{
    char key[600];
    snprintf(key, sizeof key, "%c\x1f%s\x1f%s", kind, x, y ? y : "");
    if (tw_map_get(b->keys, key))
        return 0;
    if (tw_map_put(b->keys, key, b) < 0)
        return -1;
    tw_pgarr_text(ax, x);
    if (ay)
        tw_pgarr_text(ay, y);
    return 0;
}

static int build_read(tw_batch *b, tw_pgpipe *pipe)
{
    tw_pgparams p;
    for (int i = 0; i < RA__COUNT; i++)
        tw_pgarr_reset(&b->ra[i]);
    for (size_t i = 0; i < b->n; i++) {
        tw_entry *e = &b->e[i];
        if (e->rejected || e->rkm->offset < expected_of(b, e->rkm->partition))
            continue;
        const tw_event *ev = e->ev;
        const char *pid = tw_event_pledge_id(ev);
        tw_pgarr_uuid(&b->ra[RA_IDS], e->id);
        /* what the cache holds is current; only the rest is read */
        if ((!tw_state_has_agency(b->st, ev->agency_code) &&
             want(b, 'a', ev->agency_code, NULL, &b->ra[RA_AGENCIES], NULL) < 0) ||
            (!tw_state_has_locality(b->st, ev->locality_code) &&
             want(b, 'l', ev->locality_code, NULL, &b->ra[RA_LOCALITIES], NULL) < 0) ||
            /* a twinning may be cached under another code of its unit's lineage, or
             * changed by another partition's events under another code: always read */
            (want(b, 't', ev->agency_code, ev->locality_code, &b->ra[RA_TW_A], &b->ra[RA_TW_L]) <
             0) ||
            (*pid && !tw_state_find_pledge(b->st, ev->agency_code, pid) &&
             want(b, 'p', ev->agency_code, pid, &b->ra[RA_PL_A], &b->ra[RA_PL_I]) < 0) ||
            (*pid && ev->body_case == TWINWATCH__V1__EVENT__BODY_SUPPORT_PLEDGED &&
             want(b, 'k', ev->agency_code, pid, &b->ra[RA_PK_A], &b->ra[RA_PK_I]) < 0) ||
            (e->sig && want(b, 's', ev->agency_code, NULL, &b->ra[RA_KEYS], NULL) < 0))
            return -1;
    }
    /* Statements with no keys are not sent; read_kind records what each
     * sent statement reads, in order. */
    static const struct {
        int a1, a2;
    } keys[READ__COUNT] = {
        [READ_KNOWN] = {RA_IDS, -1},
        [READ_AGENCIES] = {RA_AGENCIES, -1},
        [READ_LOCALITIES] = {RA_LOCALITIES, -1},
        [READ_TWINNINGS] = {RA_TW_A, RA_TW_L},
        [READ_PLEDGES] = {RA_PL_A, RA_PL_I},
        [READ_PARKED] = {RA_PK_A, RA_PK_I},
        [READ_GEO] = {-1, -1},
        [READ_KEYS] = {RA_KEYS, -1},
    };
    const char *sqls[READ__COUNT] = {
        [READ_KNOWN] = SQL_KNOWN,
        [READ_AGENCIES] = SQL_AGENCIES,
        [READ_LOCALITIES] = SQL_LOCALITIES,
        [READ_TWINNINGS] = read_sql(tw_twinning_table),
        [READ_PLEDGES] = read_sql(tw_pledge_table),
        [READ_PARKED] = read_sql(tw_parked_table),
        /* reread with every batch (a few hundred rows), so that a reference
         * load takes effect at the next batch, as it does for rebuild */
        [READ_GEO] = TW_GEO_SQL,
        /* read with every batch that holds signed events, in the same
         * round trip: the loop never waits for them, and a key added or
         * revoked counts from the next batch */
        [READ_KEYS] = TW_AGENCY_KEYS_SQL,
    };
    b->nread = 0;
    b->nakeys = 0;
    for (int i = 0; i < READ__COUNT; i++) {
        if ((i == READ_KNOWN && !b->careful) || (keys[i].a1 >= 0 && b->ra[keys[i].a1].n == 0))
            continue;
        tw_pgparams_clear(&p);
        if (keys[i].a1 < 0) { /* READ_GEO: no parameters */
            if (tw_pgpipe_send(pipe, sqls[i], &p) < 0)
                return -1;
            b->read_kind[b->nread++] = (read_stmt)i;
            continue;
        }
        if (tw_pgparams_array(&p, &b->ra[keys[i].a1]) < 0 ||
            (keys[i].a2 >= 0 && tw_pgparams_array(&p, &b->ra[keys[i].a2]) < 0) ||
            tw_pgpipe_send(pipe, sqls[i], &p) < 0)
            return -1;
        b->read_kind[b->nread++] = (read_stmt)i;
    }
    return 0;
}

static const char *str(const PGresult *r, int row, int col)
{
    return PQgetvalue(r, row, col);
}

static int load_known(tw_batch *b, const PGresult *r)
{
    for (int i = 0; i < PQntuples(r); i++) {
        size_t len;
        unsigned char *bytes = PQunescapeBytea((const unsigned char *)str(r, i, 1), &len);
        known_payload *k = bytes ? malloc(sizeof *k + len) : NULL;
        if (!k) {
            PQfreemem(bytes);
            return -1;
        }
        k->len = len;
        memcpy(k->bytes, bytes, len);
        PQfreemem(bytes);
        if (tw_map_put(b->known, str(r, i, 0), k) < 0) {
            free(k);
            return -1;
        }
    }
    return 0;
}

/* Fills row's columns of table t (but skip, set by the caller) from row i
 * of r, whose columns are tw_table_read_list's. */
static int load_columns(const tw_table *t, void *row, const PGresult *r, int i, int skip)
{
    for (int c = 0; c < tw_table_ncols(t); c++)
        if (!(tw_table_col(t, c)->flags & skip) &&
            tw_column_set(tw_table_col(t, c), row, str(r, i, c)) < 0)
            return -1;
    return 0;
}

static int load_twinnings(tw_batch *b, const PGresult *r)
{
    const tw_table *t = tw_twinning_table;
    int a = tw_table_find(t, "agency_code"), l = tw_table_find(t, "locality_code");
    for (int i = 0; i < PQntuples(r); i++) {
        /* a cached entry is clean between batches: the stored row replaces it */
        tw_twinning *x = tw_state_find_twinning(b->st, str(r, i, a), str(r, i, l));
        if (!x)
            x = tw_state_load_twinning(b->st, str(r, i, a), str(r, i, l));
        if (!x || load_columns(t, x, r, i, TW_COL_KEY) < 0)
            return -1;
    }
    return 0;
}

static int load_geo(tw_batch *b, const PGresult *r)
{
    tw_geo_clear(b->geo);
    for (int i = 0; i < PQntuples(r); i++)
        if (tw_geo_add_row(b->geo, str(r, i, 0), str(r, i, 1), str(r, i, 2),
                           PQgetisnull(r, i, 3) ? NULL : str(r, i, 3),
                           PQgetisnull(r, i, 4) ? NULL : str(r, i, 4)) < 0)
            return -1;
    tw_state_set_geo(b->st, b->geo);
    return 0;
}

static int load_pledges(tw_batch *b, const PGresult *r)
{
    const tw_table *t = tw_pledge_table;
    int a = tw_table_find(t, "agency_code"), id = tw_table_find(t, "pledge_id"),
        l = tw_table_find(t, "locality_code");
    for (int i = 0; i < PQntuples(r); i++) {
        tw_pledge *x = tw_state_load_pledge(b->st, str(r, i, a), str(r, i, id), str(r, i, l));
        if (!x || load_columns(t, x, r, i, TW_COL_KEY) < 0)
            return -1;
    }
    return 0;
}

static int load_parked(tw_batch *b, const PGresult *r)
{
    const tw_table *t = tw_parked_table;
    int e = tw_table_find(t, "event_id"), a = tw_table_find(t, "agency_code"),
        id = tw_table_find(t, "pledge_id"), l = tw_table_find(t, "locality_code");
    for (int i = 0; i < PQntuples(r); i++) {
        uint8_t uuid[16];
        if (tw_uuid_parse(str(r, i, e), uuid) < 0)
            return -1;
        tw_parked *x = tw_state_load_parked(b->st, uuid, str(r, i, a), str(r, i, id), str(r, i, l));
        if (!x || load_columns(t, x, r, i, TW_COL_KEY) < 0)
            return -1;
        x->stored = 1;
    }
    return 0;
}

/* The keys of the batch's signed agencies (text results: bytea as \x hex). */
static int load_keys(tw_batch *b, const PGresult *r)
{
    for (int i = 0; i < PQntuples(r); i++) {
        size_t len;
        unsigned char *key = PQunescapeBytea((const unsigned char *)str(r, i, 1), &len);
        if (!key)
            return -1;
        if (len != TW_KEY_LEN) { /* the table's check forbids it; not a key */
            PQfreemem(key);
            continue;
        }
        if (b->nakeys == b->cap_akeys) {
            size_t ncap = b->cap_akeys ? b->cap_akeys * 2 : 16;
            tw_agency_key *nk = realloc(b->akeys, ncap * sizeof *nk);
            if (!nk) {
                PQfreemem(key);
                return -1;
            }
            b->akeys = nk;
            b->cap_akeys = ncap;
        }
        tw_agency_key *k = &b->akeys[b->nakeys++];
        snprintf(k->agency, sizeof k->agency, "%s", str(r, i, 0));
        memcpy(k->key, key, TW_KEY_LEN);
        PQfreemem(key);
    }
    return 0;
}

static void on_read_result(void *arg, int stmt, const PGresult *r)
{
    tw_batch *b = arg;
    int rc = 0;
    read_stmt kind = stmt < b->nread ? b->read_kind[stmt] : READ__COUNT;
    switch (kind) {
    case READ_KNOWN:
        rc = load_known(b, r);
        break;
    case READ_AGENCIES:
    case READ_LOCALITIES:
        for (int i = 0; i < PQntuples(r) && rc == 0; i++)
            rc = kind == READ_AGENCIES ? tw_state_add_agency(b->st, str(r, i, 0))
                                       : tw_state_add_locality(b->st, str(r, i, 0));
        break;
    case READ_TWINNINGS:
        rc = load_twinnings(b, r);
        break;
    case READ_PLEDGES:
        rc = load_pledges(b, r);
        break;
    case READ_PARKED:
        rc = load_parked(b, r);
        break;
    case READ_GEO:
        rc = load_geo(b, r);
        break;
    case READ_KEYS:
        rc = load_keys(b, r);
        break;
    default:
        break;
    }
    if (rc < 0)
        b->oom = 1;
}

/* ---- apply ---- */

int tw_batch_type_index(const tw_event *ev)
{
    int c = ev ? (int)ev->body_case - (int)TWINWATCH__V1__EVENT__BODY_TWINNING_SIGNED + 1 : 0;
    return c >= 1 && c < TW_BATCH_NTYPES ? c : 0;
}

const char *tw_batch_type_name(int t)
{
    static const char *names[TW_BATCH_NTYPES] = {
        "unknown",          "twinning_signed",   "twinning_ended",     "visit",
        "support_pledged",  "support_delivered", "training_delivered", "pledge_revised",
        "pledge_cancelled", "feed_heartbeat"};
    return t >= 0 && t < TW_BATCH_NTYPES ? names[t] : "unknown";
}

/* what: 0 accepted, 1 dead-lettered, 2 duplicate */
static void count(tw_batch *b, const tw_entry *e, int what)
{
    tw_batch_part *p = tw_batch_part_of(b, e->rkm->partition);
    b->stats.by_type[tw_batch_type_index(e->ev)][what]++;
    if (!p)
        return;
    if (what == 0)
        p->accepted++, b->stats.accepted++;
    else if (what == 1)
        p->dead++, b->stats.dead++;
    else
        p->duplicates++, b->stats.duplicates++;
}

static int same_bytes(const tw_entry *e, const uint8_t *p, size_t len)
{
    return e->canon_len == len && memcmp(e->canon, p, len) == 0;
}

void tw_batch_log_dead(const tw_batch *b)
{
    char idtext[TW_UUID_STRLEN + 1];
    for (size_t i = 0; i < b->n; i++) {
        const tw_entry *e = &b->e[i];
        if (!e->rejected || e->stale)
            continue;
        const rd_kafka_message_t *m = e->rkm;
        if (e->canon) /* the id parsed: the same rule as the dead-letter row's event_id */
            tw_uuid_format(e->id, idtext);
        tw_log_ctx where = {rd_kafka_topic_name(m->rkt), m->partition, m->offset,
                            e->canon ? idtext : NULL};
        tw_log_at(TW_LOG_WARN, &where, "dead-lettered (%s): %s", tw_reason_name(e->rej->reason),
                  e->rej->msg);
    }
}

static int apply(tw_batch *b)
{
    char idtext[TW_UUID_STRLEN + 1];
    memset(&b->stats, 0, sizeof b->stats);
    tw_state_set_geo(b->st, b->geo); /* the geography this batch read */
    for (size_t i = 0; i < b->n; i++) {
        tw_entry *e = &b->e[i];
        if (e->rkm->offset < expected_of(b, e->rkm->partition)) {
            e->stale = 1; /* committed by an earlier batch */
            continue;
        }
        if (e->rejected ||
            (e->sig && tw_signature_check(b->akeys, b->nakeys, e->ev->agency_code, e->sig, e->canon,
                                          e->canon_len, &b->scratch) < 0)) {
            if (!e->rejected && reject(b, e) < 0)
                return -1;
            count(b, e, 1);
            continue;
        }
        tw_uuid_format(e->id, idtext);
        const known_payload *k = tw_map_get(b->known, idtext);
        const tw_entry *first = tw_map_get(b->seen, idtext);
        if (k || first) {
            if (k ? same_bytes(e, k->bytes, k->len)
                  : same_bytes(e, first->canon, first->canon_len)) {
                e->duplicate = 1;
                count(b, e, 2);
            } else {
                b->scratch.reason = TW_R_CONFLICTING_DUPLICATE;
                snprintf(b->scratch.msg, sizeof b->scratch.msg,
                         "event %s was accepted before with different content", idtext);
                if (reject(b, e) < 0)
                    return -1;
                count(b, e, 1);
            }
            continue;
        }
        int rc =
            tw_project_apply(b->st, e->ev, e->id, e->rkm->partition, e->rkm->offset, &b->scratch);
        if (rc == -2)
            return -1;
        if (rc < 0) {
            /* Without id lookups a re-delivered event can fail a stateful
             * check (a second "signed" finds the twinning active) before
             * it is known as a duplicate, which docs/projection-rules.md
             * checks first: such a batch is redone with lookups. */
            if (!b->careful) {
                b->recheck = 1;
                return 1;
            }
            if (reject(b, e) < 0)
                return -1;
            count(b, e, 1);
            continue;
        }
        if (tw_map_put(b->seen, idtext, e) < 0)
            return -1;
        e->accepted = 1;
        count(b, e, 0);
    }
    return 0;
}

static double ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

static void on_write_done(void *arg, int ok, const char *err)
{
    tw_batch *b = arg;
    b->stats.write_ms = ms_since(&b->phase_start);
    b->done(b->done_arg, b, ok, err);
}

static void on_read_done(void *arg, int ok, const char *err)
{
    tw_batch *b = arg;
    if (!ok) {
        b->done(b->done_arg, b, 0, err);
        return;
    }
    double read_ms = ms_since(&b->phase_start);
    clock_gettime(CLOCK_MONOTONIC, &b->phase_start);
    int rc = b->oom ? -1 : apply(b);
    if (rc < 0) {
        b->done(b->done_arg, b, 0, "out of memory applying the batch");
        return;
    }
    if (rc > 0) {
        b->done(b->done_arg, b, 0, "an event failed a stateful check and may be a re-delivery");
        return;
    }
    if (tw_write_queue(b, b->pipe) < 0) {
        b->done(b->done_arg, b, 0, b->pipe->err[0] ? b->pipe->err : "out of memory");
        return;
    }
    b->stats.read_ms = read_ms;
    b->stats.apply_ms = ms_since(&b->phase_start);
    clock_gettime(CLOCK_MONOTONIC, &b->phase_start);
    tw_pgpipe_run(b->pipe, NULL, on_write_done, b);
}

void tw_batch_run(tw_batch *b, tw_pgpipe *pipe, const int64_t *stored, const int64_t *start,
                  int careful, tw_batch_done_fn done, void *arg)
{
    b->careful = careful;
    pipe->sqlstate[0] = pipe->constraint[0] = '\0'; /* of an earlier run */
    for (int i = 0; i < b->nparts; i++) {
        tw_batch_part *p = &b->parts[i];
        p->expected = stored[p->partition];
        if (p->next < p->expected)
            p->next = p->expected;
        if (p->hole >= 0) {
            snprintf(b->gap, sizeof b->gap,
                     "p%d: offsets %lld..%lld were not received between %lld and %lld; "
                     "not committing",
                     p->partition, (long long)p->hole, (long long)p->hole_end - 1,
                     (long long)p->hole - 1, (long long)p->hole_end);
            done(arg, b, 0, b->gap);
            return;
        }
        int64_t from = p->expected >= 0 ? p->expected : start[p->partition];
        if (from >= 0 && p->first > from) {
            /* Events between the stored offset and the batch's first were
             * never received: committing would skip them. (Kafka topics of
             * twinwatch carry no transaction markers, so offsets have no
             * gaps.) */
            snprintf(b->gap, sizeof b->gap,
                     "p%d: the batch starts at offset %lld but must start at %lld (stored): "
                     "%lld..%lld were not received; not committing",
                     p->partition, (long long)p->first, (long long)from, (long long)from,
                     (long long)p->first - 1);
            done(arg, b, 0, b->gap);
            return;
        }
        p->accepted = p->dead = p->duplicates = 0;
    }
    b->pipe = pipe;
    b->done = done;
    b->done_arg = arg;
    b->oom = 0;
    b->recheck = 0;
    clock_gettime(CLOCK_MONOTONIC, &b->phase_start);
    tw_map_clear(b->keys);
    if (build_read(b, pipe) < 0) {
        done(arg, b, 0, pipe->err[0] ? pipe->err : "out of memory building the batch");
        return;
    }
    if (b->nread == 0) /* everything is cached: no read round trip */
        on_read_done(b, 1, "");
    else
        tw_pgpipe_run(pipe, on_read_result, on_read_done, b);
}
