/* project.c: applies events to twinnings, pledges, parked deliveries and
 * source feeds, following docs/projection-rules.md to the letter. It never
 * talks to a database: callers load the rows a batch touches and write back
 * the ones marked dirty. */
#include "project.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "date.h"
#include "map.h"

#define EV(x)  TWINWATCH__V1__EVENT__BODY_##x
#define CAT(x) TWINWATCH__V1__CATEGORY__##x

struct tw_state {
    tw_map *agencies, *localities;
    tw_map *twinnings; /* "agency\x1flocality" -> tw_twinning */
    tw_map *pledges;   /* "agency\x1fpledge" -> tw_pledge */
    tw_map *parked;    /* "agency\x1fpledge" -> tw_parked list, arrival order */
    tw_map *sources;   /* source_system -> tw_source */
    const tw_geo *geo; /* borrowed; NULL: codes never change */
    int mapped;        /* the last event's code was mapped to another unit */
};

static int present = 1;

void tw_state_set_geo(tw_state *st, const tw_geo *geo)
{
    st->geo = geo;
}

int tw_project_mapped(const tw_state *st)
{
    return st->mapped;
}

tw_state *tw_state_new(void)
{
    tw_state *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->agencies = tw_map_new();
    st->localities = tw_map_new();
    st->twinnings = tw_map_new();
    st->pledges = tw_map_new();
    st->parked = tw_map_new();
    st->sources = tw_map_new();
    if (!st->agencies || !st->localities || !st->twinnings || !st->pledges || !st->parked ||
        !st->sources) {
        tw_state_free(st);
        return NULL;
    }
    return st;
}

static void twinning_free(tw_twinning *t)
{
    free(t->agency_code);
    free(t->locality_code);
    free(t->programme);
    free(t);
}

static void pledge_free(tw_pledge *p)
{
    free(p->agency_code);
    free(p->pledge_id);
    free(p->locality_code);
    free(p->in_kind);
    free(p->unit);
    free(p);
}

static void parked_free(tw_parked *k)
{
    free(k->agency_code);
    free(k->pledge_id);
    free(k->locality_code);
    free(k);
}

static void source_free(tw_source *s)
{
    free(s->source_system);
    free(s->agency_code);
    free(s);
}

static void free_parked(tw_state *st)
{
    size_t pos = 0;
    tw_parked *k;
    while ((k = tw_map_next(st->parked, &pos, NULL))) {
        while (k) {
            tw_parked *next = k->next;
            parked_free(k);
            k = next;
        }
    }
    tw_map_clear(st->parked);
}

static void free_sources(tw_state *st)
{
    size_t pos = 0;
    tw_source *s;
    while ((s = tw_map_next(st->sources, &pos, NULL)))
        source_free(s);
    tw_map_clear(st->sources);
}

static void free_values(tw_state *st)
{
    size_t pos = 0;
    tw_twinning *t;
    tw_pledge *p;

    while ((t = tw_map_next(st->twinnings, &pos, NULL)))
        twinning_free(t);
    pos = 0;
    while ((p = tw_map_next(st->pledges, &pos, NULL)))
        pledge_free(p);
    free_parked(st);
    free_sources(st);
}

void tw_state_committed(tw_state *st)
{
    size_t pos = 0;
    tw_twinning *t;
    tw_pledge *p;
    /* a dirty row was written with the next version (tables.h) */
    while ((t = tw_map_next(st->twinnings, &pos, NULL))) {
        t->row_version += t->dirty != 0;
        t->dirty = 0;
    }
    pos = 0;
    while ((p = tw_map_next(st->pledges, &pos, NULL))) {
        p->row_version += p->dirty != 0;
        p->dirty = 0;
    }
    free_parked(st);
    free_sources(st);
}

size_t tw_state_size(const tw_state *st)
{
    return tw_map_count(st->twinnings) + tw_map_count(st->pledges);
}

void tw_state_reset(tw_state *st)
{
    free_values(st);
    tw_map_clear(st->agencies);
    tw_map_clear(st->localities);
    tw_map_clear(st->twinnings);
    tw_map_clear(st->pledges);
    tw_map_clear(st->parked);
    tw_map_clear(st->sources);
}

void tw_state_free(tw_state *st)
{
    if (!st)
        return;
    if (st->twinnings && st->pledges && st->parked && st->sources)
        free_values(st);
    tw_map_free(st->agencies);
    tw_map_free(st->localities);
    tw_map_free(st->twinnings);
    tw_map_free(st->pledges);
    tw_map_free(st->parked);
    tw_map_free(st->sources);
    free(st);
}

static void pair_key(char *out, size_t outlen, const char *a, const char *b);

tw_twinning *tw_state_find_twinning(tw_state *st, const char *agency, const char *locality)
{
    char key[512];
    pair_key(key, sizeof key, agency, locality);
    return tw_map_get(st->twinnings, key);
}

tw_pledge *tw_state_find_pledge(tw_state *st, const char *agency, const char *pledge_id)
{
    char key[512];
    pair_key(key, sizeof key, agency, pledge_id);
    return tw_map_get(st->pledges, key);
}

int tw_state_has_agency(const tw_state *st, const char *code)
{
    return tw_map_get(st->agencies, code) != NULL;
}

int tw_state_has_locality(const tw_state *st, const char *code)
{
    return tw_map_get(st->localities, code) != NULL;
}

int tw_state_add_agency(tw_state *st, const char *code)
{
    return tw_map_put(st->agencies, code, &present);
}

int tw_state_add_locality(tw_state *st, const char *code)
{
    return tw_map_put(st->localities, code, &present);
}

static void pair_key(char *out, size_t outlen, const char *a, const char *b)
{
    snprintf(out, outlen, "%s\x1f%s", a, b);
}

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

tw_twinning *tw_state_load_twinning(tw_state *st, const char *agency, const char *locality)
{
    char key[512];
    tw_twinning *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->agency_code = strdup(agency);
    t->locality_code = strdup(locality);
    t->programme = strdup("");
    t->start_date = t->end_date = TW_DATE_NONE;
    pair_key(key, sizeof key, agency, locality);
    if (!t->agency_code || !t->locality_code || !t->programme ||
        tw_map_put(st->twinnings, key, t) < 0) {
        twinning_free(t);
        return NULL;
    }
    return t;
}

tw_pledge *tw_state_load_pledge(tw_state *st, const char *agency, const char *pledge_id,
                                const char *locality)
{
    char key[512];
    tw_pledge *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->agency_code = strdup(agency);
    p->pledge_id = strdup(pledge_id);
    p->locality_code = strdup(locality);
    p->in_kind = strdup("");
    p->unit = strdup("");
    p->due_date = TW_DATE_NONE;
    pair_key(key, sizeof key, agency, pledge_id);
    if (!p->agency_code || !p->pledge_id || !p->locality_code || !p->in_kind || !p->unit ||
        tw_map_put(st->pledges, key, p) < 0) {
        pledge_free(p);
        return NULL;
    }
    return p;
}

tw_parked *tw_state_load_parked(tw_state *st, const uint8_t event_id[16], const char *agency,
                                const char *pledge_id, const char *locality)
{
    char key[512];
    tw_parked *k = calloc(1, sizeof *k), *head;
    if (!k)
        return NULL;
    memcpy(k->event_id, event_id, 16);
    k->agency_code = strdup(agency);
    k->pledge_id = strdup(pledge_id);
    k->locality_code = strdup(locality);
    pair_key(key, sizeof key, agency, pledge_id);
    head = tw_map_get(st->parked, key);
    if (!k->agency_code || !k->pledge_id || !k->locality_code ||
        (!head && tw_map_put(st->parked, key, k) < 0)) {
        parked_free(k);
        return NULL;
    }
    if (head) {
        while (head->next)
            head = head->next;
        head->next = k;
    }
    return k;
}

tw_source *tw_state_load_source(tw_state *st, const char *source_system, const char *agency)
{
    tw_source *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->source_system = strdup(source_system);
    s->agency_code = strdup(agency);
    if (!s->source_system || !s->agency_code || tw_map_put(st->sources, source_system, s) < 0) {
        source_free(s);
        return NULL;
    }
    return s;
}

tw_twinning *tw_state_next_twinning(tw_state *st, size_t *pos)
{
    return tw_map_next(st->twinnings, pos, NULL);
}

tw_pledge *tw_state_next_pledge(tw_state *st, size_t *pos)
{
    return tw_map_next(st->pledges, pos, NULL);
}

tw_source *tw_state_next_source(tw_state *st, size_t *pos)
{
    return tw_map_next(st->sources, pos, NULL);
}

tw_parked *tw_state_next_parked(tw_state *st, size_t *pos, tw_parked *prev)
{
    if (prev && prev->next)
        return prev->next;
    return tw_map_next(st->parked, pos, NULL);
}

static int substantive_category(int c)
{
    return c == CAT(ECONOMIC_MODEL) || c == CAT(MODEL_REPLICATION) || c == CAT(CADRE_TRAINING) ||
           c == CAT(VOCATIONAL_TRAINING) || c == CAT(JOB_CREATION) || c == CAT(INFRASTRUCTURE);
}

/* Recomputes open/complete after a delivery or a revision made at `at`. */
static void settle(tw_pledge *p, int64_t at)
{
    int complete;

    if (p->status == TW_PLEDGE_CANCELLED)
        return;
    if (p->amount_vnd > 0 || p->target_quantity > 0)
        complete = (p->amount_vnd <= 0 || p->delivered_vnd >= p->amount_vnd) &&
                   (p->target_quantity <= 0 || p->delivered_qty >= p->target_quantity);
    else
        complete = p->deliveries > 0;
    if (complete && p->status == TW_PLEDGE_OPEN) {
        p->status = TW_PLEDGE_COMPLETE;
        p->completed_at = at;
    } else if (!complete && p->status == TW_PLEDGE_COMPLETE) {
        p->status = TW_PLEDGE_OPEN;
        p->completed_at = 0;
    }
}

static void deliver(tw_pledge *p, int64_t amount, int64_t quantity, int64_t at)
{
    p->delivered_vnd += amount;
    p->delivered_qty += quantity;
    p->deliveries++;
    if (at > p->last_delivery_at)
        p->last_delivery_at = at;
    settle(p, at);
    p->dirty = 1;
}

static void activity(tw_twinning *t, int64_t at)
{
    if (at > t->last_activity_at)
        t->last_activity_at = at;
    t->dirty = 1;
}

static int touch_source(tw_state *st, const tw_event *ev)
{
    tw_source *s;
    if (!*ev->source_system)
        return 0;
    s = tw_map_get(st->sources, ev->source_system);
    if (!s && !(s = tw_state_load_source(st, ev->source_system, ev->agency_code)))
        return -2;
    if (ev->occurred_at_ms > s->last_seen_at)
        s->last_seen_at = ev->occurred_at_ms;
    s->events++;
    s->dirty = 1;
    return 0;
}

/* A delivery or training naming a pledge: applied now, or parked. */
static int deliver_or_park(tw_state *st, const tw_event *ev, const uint8_t event_id[16],
                           const tw_twinning *t, tw_pledge *p, int64_t amount, int64_t quantity,
                           int32_t partition, int64_t offset)
{
    const char *pid = tw_event_pledge_id(ev);
    if (!*pid)
        return 0;
    if (p) {
        deliver(p, amount, quantity, ev->occurred_at_ms);
        return 0;
    }
    tw_parked *k = tw_state_load_parked(st, event_id, ev->agency_code, pid, t->locality_code);
    if (!k)
        return -2;
    k->amount_vnd = amount;
    k->quantity = quantity;
    k->occurred_at = ev->occurred_at_ms;
    k->partition = partition;
    k->offset = offset;
    return 0;
}

static int apply_pledged(tw_state *st, const tw_event *ev, tw_twinning *t, tw_pledge *p,
                         tw_reject *rej)
{
    const Twinwatch__V1__SupportPledged *b = ev->support_pledged;
    char key[512];

    if (p)
        return tw_reject_set(rej, TW_R_DUPLICATE_PLEDGE,
                             "pledge %s of %s already exists (locality %s)", b->pledge_id,
                             ev->agency_code, p->locality_code);
    if (!(p = tw_state_load_pledge(st, ev->agency_code, b->pledge_id, t->locality_code)))
        return -2;
    free(p->in_kind);
    free(p->unit);
    p->in_kind = dup_or_empty(b->in_kind);
    p->unit = dup_or_empty(b->unit);
    if (!p->in_kind || !p->unit)
        return -2;
    p->category = b->category;
    p->funding = b->funding;
    p->amount_vnd = b->amount_vnd;
    p->in_kind_value_vnd = b->in_kind_value_vnd;
    p->target_quantity = b->target_quantity;
    if (!*b->due_date || tw_date_parse(b->due_date, &p->due_date) < 0)
        p->due_date = TW_DATE_NONE;
    p->pledged_at = ev->occurred_at_ms;
    p->status = TW_PLEDGE_OPEN;
    p->dirty = 1;
    pair_key(key, sizeof key, ev->agency_code, b->pledge_id);
    for (tw_parked *k = tw_map_get(st->parked, key); k; k = k->next) {
        if (k->applied || strcmp(k->locality_code, t->locality_code) != 0)
            continue;
        deliver(p, k->amount_vnd, k->quantity, k->occurred_at);
        k->applied = 1;
    }
    activity(t, ev->occurred_at_ms);
    return 0;
}

static int apply_revised(const tw_event *ev, tw_pledge *p, tw_reject *rej)
{
    const Twinwatch__V1__PledgeRevised *b = ev->pledge_revised;
    int32_t due = TW_DATE_NONE;

    if (*b->new_due_date && tw_date_parse(b->new_due_date, &due) == 0 &&
        due < tw_date_of_ms(p->pledged_at)) {
        char pd[11];
        tw_date_format(tw_date_of_ms(p->pledged_at), pd);
        return tw_reject_set(rej, TW_R_DUE_BEFORE_PLEDGE,
                             "pledge %s: new due date %s is before the pledge date %s",
                             p->pledge_id, b->new_due_date, pd);
    }
    if (due != TW_DATE_NONE)
        p->due_date = due;
    if (b->new_amount_vnd > 0)
        p->amount_vnd = b->new_amount_vnd;
    if (b->new_target_quantity > 0)
        p->target_quantity = b->new_target_quantity;
    p->revisions++;
    p->dirty = 1;
    settle(p, ev->occurred_at_ms);
    return 0;
}

#define MAX_CODES 32

int tw_project_codes(const tw_state *st, const tw_event *ev, const char **codes, int max)
{
    tw_geo_res r;
    if (st->geo) {
        tw_geo_resolve(st->geo, ev->locality_code, tw_date_of_ms(ev->occurred_at_ms), &r);
        if (r.unit)
            return tw_geo_lineage_codes(st->geo, r.unit, codes, max);
    }
    codes[0] = ev->locality_code;
    return max > 0 ? 1 : 0;
}

/* Resolves the event's locality (refusing what cannot be placed) and
 * fills codes with where its twinning may be filed. Returns the count, or
 * -1 with rej filled. */
static int locality_codes(tw_state *st, const tw_event *ev, const char **codes, tw_reject *rej)
{
    tw_geo_res r;
    char day[11], ended[11], cands[256];

    st->mapped = 0;
    if (!st->geo) {
        if (!tw_map_get(st->localities, ev->locality_code))
            return tw_reject_set(rej, TW_R_UNKNOWN_LOCALITY,
                                 "locality %s is not in the reference data", ev->locality_code);
        codes[0] = ev->locality_code;
        return 1;
    }
    tw_geo_resolve(st->geo, ev->locality_code, tw_date_of_ms(ev->occurred_at_ms), &r);
    tw_date_format(tw_date_of_ms(ev->occurred_at_ms), day);
    switch (r.status) {
    case TW_GEO_VALID:
        break;
    case TW_GEO_MAPPED:
        st->mapped = 1;
        break;
    case TW_GEO_AMBIGUOUS:
        tw_geo_candidates_text(&r, cands, sizeof cands);
        return tw_reject_set(rej, TW_R_LOCALITY_AMBIGUOUS,
                             "locality %s on %s could be any of %s (it was split); send the code "
                             "of the unit it happened in",
                             ev->locality_code, day, cands);
    case TW_GEO_ABOLISHED:
        tw_date_format(r.ended, ended);
        return tw_reject_set(rej, TW_R_UNKNOWN_LOCALITY,
                             "locality %s ended on %s with no successor; no unit has it on %s",
                             ev->locality_code, ended, day);
    case TW_GEO_UNKNOWN:
    default:
        return tw_reject_set(rej, TW_R_UNKNOWN_LOCALITY,
                             "locality %s is not in the reference data on %s", ev->locality_code,
                             day);
    }
    return tw_geo_lineage_codes(st->geo, r.unit, codes, MAX_CODES);
}

/* The twinning an event belongs to, among those filed under codes: its
 * pledge's, when the event names one filed there (deliveries follow their
 * pledge through a merger); else an active one under the code as sent
 * (so each Kafka key keeps writing its own row); else the first active one
 * in lineage order; else the first found (ended: to re-sign or refuse). */
static tw_twinning *find_twinning(tw_state *st, const tw_event *ev, const char **codes, int n,
                                  const tw_pledge *p)
{
    tw_twinning *any = NULL, *t;
    for (int i = 0; p && i < n; i++)
        if (!strcmp(codes[i], p->locality_code))
            return tw_state_find_twinning(st, ev->agency_code, codes[i]);
    for (int i = 0; i < n; i++)
        if (!strcmp(codes[i], ev->locality_code) &&
            (t = tw_state_find_twinning(st, ev->agency_code, codes[i])) &&
            t->status == TW_TWINNING_ACTIVE)
            return t;
    for (int i = 0; i < n; i++) {
        t = tw_state_find_twinning(st, ev->agency_code, codes[i]);
        if (t && t->status == TW_TWINNING_ACTIVE)
            return t;
        if (t && !any)
            any = t;
    }
    return any;
}

int tw_project_apply(tw_state *st, const tw_event *ev, const uint8_t event_id[16],
                     int32_t partition, int64_t offset, tw_reject *rej)
{
    char key[512];
    tw_twinning *t;
    tw_pledge *p = NULL;
    const char *pid = tw_event_pledge_id(ev);
    const char *codes[MAX_CODES];
    int ncodes, rc = 0;

    if (!tw_map_get(st->agencies, ev->agency_code))
        return tw_reject_set(rej, TW_R_UNKNOWN_AGENCY, "agency %s is not in the reference data",
                             ev->agency_code);
    if ((ncodes = locality_codes(st, ev, codes, rej)) < 0)
        return -1;
    if (*pid) {
        pair_key(key, sizeof key, ev->agency_code, pid);
        p = tw_map_get(st->pledges, key);
    }
    t = find_twinning(st, ev, codes, ncodes, p && ev->body_case != EV(SUPPORT_PLEDGED) ? p : NULL);

    if (ev->body_case == EV(FEED_HEARTBEAT))
        return touch_source(st, ev);
    if (ev->body_case == EV(TWINNING_SIGNED)) {
        const Twinwatch__V1__TwinningSigned *b = ev->twinning_signed;
        if (t && t->status == TW_TWINNING_ACTIVE)
            return tw_reject_set(rej, TW_R_TWINNING_ALREADY_ACTIVE,
                                 "twinning %s|%s is already active", ev->agency_code,
                                 t->locality_code);
        if (!t && !(t = tw_state_load_twinning(st, ev->agency_code, codes[0])))
            return -2;
        char *prog = dup_or_empty(b->programme);
        if (!prog)
            return -2;
        free(t->programme);
        t->programme = prog;
        if (!*b->start_date || tw_date_parse(b->start_date, &t->start_date) < 0)
            t->start_date = TW_DATE_NONE;
        if (!*b->end_date || tw_date_parse(b->end_date, &t->end_date) < 0)
            t->end_date = TW_DATE_NONE;
        t->status = TW_TWINNING_ACTIVE;
        t->signed_at = ev->occurred_at_ms;
        t->ended_at = 0;
        t->terms++;
        activity(t, ev->occurred_at_ms);
        return touch_source(st, ev);
    }
    if (!t || t->status != TW_TWINNING_ACTIVE)
        return tw_reject_set(rej, TW_R_TWINNING_NOT_ACTIVE, "twinning %s|%s is %s", ev->agency_code,
                             t ? t->locality_code : ev->locality_code, !t ? "not signed" : "ended");

    if (p && ev->body_case != EV(SUPPORT_PLEDGED) &&
        strcmp(p->locality_code, t->locality_code) != 0)
        return tw_reject_set(rej, TW_R_PLEDGE_LOCALITY_MISMATCH,
                             "pledge %s of %s belongs to locality %s, not %s", pid, ev->agency_code,
                             p->locality_code, ev->locality_code);

    switch (ev->body_case) {
    case EV(TWINNING_ENDED):
        t->status = TW_TWINNING_ENDED;
        t->ended_at = ev->occurred_at_ms;
        t->dirty = 1;
        break;
    case EV(VISIT):
        t->visits++;
        t->gift_value_vnd += ev->visit->gift_value_vnd;
        t->formal++;
        activity(t, ev->occurred_at_ms);
        break;
    case EV(SUPPORT_PLEDGED):
        rc = apply_pledged(st, ev, t, p, rej);
        break;
    case EV(SUPPORT_DELIVERED): {
        const Twinwatch__V1__SupportDelivered *b = ev->support_delivered;
        t->delivered_vnd += b->amount_vnd;
        if (b->category == CAT(JOB_CREATION))
            t->jobs += b->quantity;
        if (b->category == CAT(MODEL_REPLICATION))
            t->models_replicated += b->quantity;
        if (substantive_category(b->category))
            t->substantive++;
        else
            t->formal++;
        activity(t, ev->occurred_at_ms);
        rc = deliver_or_park(st, ev, event_id, t, p, b->amount_vnd, b->quantity, partition, offset);
        break;
    }
    case EV(TRAINING_DELIVERED): {
        const Twinwatch__V1__TrainingDelivered *b = ev->training_delivered;
        t->trainees += b->trainees;
        t->substantive++;
        activity(t, ev->occurred_at_ms);
        rc = deliver_or_park(st, ev, event_id, t, p, 0, b->trainees, partition, offset);
        break;
    }
    case EV(PLEDGE_REVISED):
    case EV(PLEDGE_CANCELLED):
        if (!p)
            return tw_reject_set(rej, TW_R_UNKNOWN_PLEDGE, "pledge %s of %s has not been seen", pid,
                                 ev->agency_code);
        if (p->status == TW_PLEDGE_CANCELLED)
            return tw_reject_set(rej, TW_R_PLEDGE_CANCELLED, "pledge %s of %s is cancelled", pid,
                                 ev->agency_code);
        if (ev->body_case == EV(PLEDGE_REVISED)) {
            rc = apply_revised(ev, p, rej);
        } else {
            p->status = TW_PLEDGE_CANCELLED;
            p->cancelled_at = ev->occurred_at_ms;
            p->dirty = 1;
        }
        break;
    default:
        return tw_reject_set(rej, TW_R_UNKNOWN_BODY, "no known body");
    }
    if (rc != 0)
        return rc;
    return touch_source(st, ev);
}

static const char *enum_name(const ProtobufCEnumDescriptor *d, int v)
{
    const ProtobufCEnumValue *e = protobuf_c_enum_descriptor_get_value(d, v);
    return e ? e->name : "UNKNOWN";
}

static int enum_value(const ProtobufCEnumDescriptor *d, const char *name)
{
    const ProtobufCEnumValue *e = protobuf_c_enum_descriptor_get_value_by_name(d, name);
    return e ? e->value : 0;
}

const char *tw_category_name(int c)
{
    return enum_name(&twinwatch__v1__category__descriptor, c);
}

const char *tw_funding_name(int f)
{
    return enum_name(&twinwatch__v1__funding_source__descriptor, f);
}

int tw_category_from_name(const char *name)
{
    return enum_value(&twinwatch__v1__category__descriptor, name);
}

int tw_funding_from_name(const char *name)
{
    return enum_value(&twinwatch__v1__funding_source__descriptor, name);
}

const char *tw_twinning_status_name(tw_twinning_status s)
{
    return s == TW_TWINNING_ACTIVE ? "active" : s == TW_TWINNING_ENDED ? "ended" : "none";
}

const char *tw_pledge_status_name(tw_pledge_status s)
{
    return s == TW_PLEDGE_COMPLETE ? "complete" : s == TW_PLEDGE_CANCELLED ? "cancelled" : "open";
}
