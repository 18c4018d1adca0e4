/* codec.c: decoding and the stateless half of validation. Each refusal has
 * its own reason and a message that names the field and the value. */
#include "codec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "date.h"
#include "pbjson.h"
#include "uuid.h"

#define EV(x) TWINWATCH__V1__EVENT__BODY_##x

static const char *reason_names[TW_R__COUNT] = {
    [TW_R_OK] = "ok",
    [TW_R_UNDECODABLE] = "undecodable",
    [TW_R_UNKNOWN_BODY] = "unknown_body",
    [TW_R_MISSING_FIELD] = "missing_field",
    [TW_R_BAD_FIELD] = "bad_field",
    [TW_R_FUTURE_EVENT] = "future_event",
    [TW_R_BAD_AMOUNT] = "bad_amount",
    [TW_R_DUE_BEFORE_PLEDGE] = "due_before_pledge",
    [TW_R_UNKNOWN_AGENCY] = "unknown_agency",
    [TW_R_UNKNOWN_LOCALITY] = "unknown_locality",
    [TW_R_TWINNING_NOT_ACTIVE] = "twinning_not_active",
    [TW_R_TWINNING_ALREADY_ACTIVE] = "twinning_already_active",
    [TW_R_DUPLICATE_PLEDGE] = "duplicate_pledge",
    [TW_R_UNKNOWN_PLEDGE] = "unknown_pledge",
    [TW_R_PLEDGE_CANCELLED] = "pledge_cancelled",
    [TW_R_PLEDGE_LOCALITY_MISMATCH] = "pledge_locality_mismatch",
    [TW_R_CONFLICTING_DUPLICATE] = "conflicting_duplicate",
    [TW_R_LOCALITY_AMBIGUOUS] = "locality_ambiguous",
    [TW_R_UNAUTHENTICATED] = "unauthenticated",
    [TW_R_BAD_SIGNATURE] = "bad_signature",
};

const char *tw_reason_name(tw_reason r)
{
    return (unsigned)r < TW_R__COUNT ? reason_names[r] : "unknown";
}

int tw_reject_set(tw_reject *rej, tw_reason r, const char *fmt, ...)
{
    va_list ap;
    rej->reason = r;
    rej->field[0] = '\0';
    va_start(ap, fmt);
    vsnprintf(rej->msg, sizeof rej->msg, fmt, ap);
    va_end(ap);
    tw_pbjson_clean_text(rej->msg); /* it quotes the sender's bytes: logs, a text column */
    return -1;
}

/* Names the field at fault (its .proto name) under prefix (a body's JSON
 * name, or ""), in the JSON mapping's lowerCamelCase; returns -1. */
static int at_field(tw_reject *rej, const char *prefix, const char *name)
{
    size_t n = 0, cap = sizeof rej->field - 1;
    for (const char *p = prefix; *p && n < cap; p++)
        rej->field[n++] = *p;
    if (*prefix && n < cap)
        rej->field[n++] = '.';
    for (const char *p = name; *p && n < cap; p++) {
        if (*p == '_' && p[1]) {
            p++;
            rej->field[n++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
        } else {
            rej->field[n++] = *p;
        }
    }
    rej->field[n] = '\0';
    return -1;
}

tw_event *tw_codec_decode(const void *buf, size_t len, tw_reject *rej)
{
    return tw_codec_decode_in(buf, len, NULL, rej);
}

/* Whether m or a message inside it kept an unknown field numbered 0.
 * protobuf-c's unpack takes one from a multi-byte tag, but no protobuf
 * parser (its own included) reads back the bytes it then packs: such an
 * event would have no canonical form. */
static int has_field_zero(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < m->n_unknown_fields; i++)
        if (m->unknown_fields[i].tag == 0)
            return 1;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *member = (const char *)m + f->offset;
        size_t count = 1;
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            count = *(const size_t *)((const char *)m + f->quantifier_offset);
            member = *(const char *const *)member;
        }
        for (size_t k = 0; k < count; k++) {
            const ProtobufCMessage *sub = ((const ProtobufCMessage *const *)member)[k];
            if (sub &&
                (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ||
                 *(const uint32_t *)((const char *)m + f->quantifier_offset) == f->id) &&
                has_field_zero(sub))
                return 1;
        }
    }
    return 0;
}

tw_event *tw_codec_decode_in(const void *buf, size_t len, ProtobufCAllocator *alloc, tw_reject *rej)
{
    tw_event *ev = twinwatch__v1__event__unpack(alloc, len, buf);
    if (!ev) {
        tw_reject_set(rej, TW_R_UNDECODABLE, "%zu bytes are not a twinwatch.v1.Event", len);
    } else if (has_field_zero(&ev->base)) {
        tw_reject_set(rej, TW_R_UNDECODABLE, "%zu bytes hold a field numbered 0 (not protobuf)",
                      len);
        protobuf_c_message_free_unpacked(&ev->base, alloc);
        ev = NULL;
    }
    return ev;
}

const char *tw_event_type(const tw_event *ev)
{
    switch (ev->body_case) {
    case EV(TWINNING_SIGNED):
        return "twinning_signed";
    case EV(TWINNING_ENDED):
        return "twinning_ended";
    case EV(VISIT):
        return "visit";
    case EV(SUPPORT_PLEDGED):
        return "support_pledged";
    case EV(SUPPORT_DELIVERED):
        return "support_delivered";
    case EV(TRAINING_DELIVERED):
        return "training_delivered";
    case EV(PLEDGE_REVISED):
        return "pledge_revised";
    case EV(PLEDGE_CANCELLED):
        return "pledge_cancelled";
    case EV(FEED_HEARTBEAT):
        return "feed_heartbeat";
    default:
        return "unknown";
    }
}

const char *tw_event_pledge_id(const tw_event *ev)
{
    switch (ev->body_case) {
    case EV(SUPPORT_PLEDGED):
        return ev->support_pledged->pledge_id;
    case EV(SUPPORT_DELIVERED):
        return ev->support_delivered->pledge_id;
    case EV(TRAINING_DELIVERED):
        return ev->training_delivered->pledge_id;
    case EV(PLEDGE_REVISED):
        return ev->pledge_revised->pledge_id;
    case EV(PLEDGE_CANCELLED):
        return ev->pledge_cancelled->pledge_id;
    default:
        return "";
    }
}

uint8_t *tw_codec_pack(const tw_event *ev, size_t *len)
{
    size_t n = twinwatch__v1__event__get_packed_size(ev);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf)
        *len = twinwatch__v1__event__pack(ev, buf);
    return buf;
}

static int check_enum(const ProtobufCEnumDescriptor *d, int value, const char *field,
                      tw_reject *rej)
{
    if (protobuf_c_enum_descriptor_get_value(d, value))
        return 0;
    tw_reject_set(rej, TW_R_BAD_FIELD, "%s: enum value %d is not in the contract", field, value);
    return at_field(rej, "", field);
}

static int check_amount(int64_t v, const char *field, tw_reject *rej)
{
    if (v < 0)
        tw_reject_set(rej, TW_R_BAD_AMOUNT, "%s is negative (%lld)", field, (long long)v);
    else if (v > TW_MAX_VND)
        tw_reject_set(rej, TW_R_BAD_AMOUNT, "%s = %lld is above 10^15", field, (long long)v);
    else
        return 0;
    return at_field(rej, "", field);
}

static int check_date(const char *s, const char *field, int required, int32_t *days, tw_reject *rej)
{
    *days = TW_DATE_NONE;
    if (!*s) {
        if (!required)
            return 0;
        tw_reject_set(rej, TW_R_MISSING_FIELD, "%s is empty", field);
        return at_field(rej, "", field);
    }
    if (tw_date_parse(s, days) < 0) {
        tw_reject_set(rej, TW_R_BAD_FIELD, "%s \"%.40s\" is not a date YYYY-MM-DD", field, s);
        return at_field(rej, "", field);
    }
    return 0;
}

static int need_pledge_id(const char *id, tw_reject *rej)
{
    if (*id)
        return 0;
    tw_reject_set(rej, TW_R_MISSING_FIELD, "pledge_id is empty");
    return at_field(rej, "", "pledge_id");
}

static int check_body(const tw_event *ev, tw_reject *rej)
{
    int32_t d1, d2;

    switch (ev->body_case) {
    case EV(TWINNING_SIGNED): {
        const Twinwatch__V1__TwinningSigned *b = ev->twinning_signed;
        if (check_date(b->start_date, "start_date", 0, &d1, rej) < 0 ||
            check_date(b->end_date, "end_date", 0, &d2, rej) < 0)
            return -1;
        if (d1 != TW_DATE_NONE && d2 != TW_DATE_NONE && d2 < d1) {
            tw_reject_set(rej, TW_R_BAD_FIELD, "end_date %s is before start_date %s", b->end_date,
                          b->start_date);
            return at_field(rej, "", "end_date");
        }
        return 0;
    }
    case EV(VISIT):
        return check_amount(ev->visit->gift_value_vnd, "gift_value_vnd", rej);
    case EV(SUPPORT_PLEDGED): {
        const Twinwatch__V1__SupportPledged *b = ev->support_pledged;
        if (need_pledge_id(b->pledge_id, rej) < 0 ||
            check_enum(&twinwatch__v1__category__descriptor, b->category, "category", rej) < 0 ||
            check_enum(&twinwatch__v1__funding_source__descriptor, b->funding, "funding", rej) <
                0 ||
            check_amount(b->amount_vnd, "amount_vnd", rej) < 0 ||
            check_amount(b->in_kind_value_vnd, "in_kind_value_vnd", rej) < 0 ||
            check_amount(b->target_quantity, "target_quantity", rej) < 0 ||
            check_date(b->due_date, "due_date", 0, &d1, rej) < 0)
            return -1;
        d2 = tw_date_of_ms(ev->occurred_at_ms);
        if (d1 != TW_DATE_NONE && d1 < d2) {
            char pd[11];
            tw_date_format(d2, pd);
            tw_reject_set(rej, TW_R_DUE_BEFORE_PLEDGE,
                          "pledge %s: due date %s is before the pledge date %s", b->pledge_id,
                          b->due_date, pd);
            return at_field(rej, "", "due_date");
        }
        return 0;
    }
    case EV(SUPPORT_DELIVERED): {
        const Twinwatch__V1__SupportDelivered *b = ev->support_delivered;
        if (check_enum(&twinwatch__v1__category__descriptor, b->category, "category", rej) < 0 ||
            check_amount(b->amount_vnd, "amount_vnd", rej) < 0 ||
            check_amount(b->quantity, "quantity", rej) < 0)
            return -1;
        return 0;
    }
    case EV(TRAINING_DELIVERED):
        return check_enum(&twinwatch__v1__audience__descriptor, ev->training_delivered->audience,
                          "audience", rej);
    case EV(PLEDGE_REVISED): {
        const Twinwatch__V1__PledgeRevised *b = ev->pledge_revised;
        if (need_pledge_id(b->pledge_id, rej) < 0 ||
            check_date(b->new_due_date, "new_due_date", 0, &d1, rej) < 0 ||
            check_amount(b->new_amount_vnd, "new_amount_vnd", rej) < 0 ||
            check_amount(b->new_target_quantity, "new_target_quantity", rej) < 0)
            return -1;
        return 0;
    }
    case EV(PLEDGE_CANCELLED):
        return need_pledge_id(ev->pledge_cancelled->pledge_id, rej);
    case EV(TWINNING_ENDED):
    case EV(FEED_HEARTBEAT):
        return 0;
    default:
        return tw_reject_set(rej, TW_R_UNKNOWN_BODY,
                             "no known body (field %d): a newer contract, or none set",
                             (int)ev->body_case);
    }
}

/* check_body, with the field it names put under the body's JSON name. */
static int body_checked(const tw_event *ev, tw_reject *rej)
{
    char name[sizeof rej->field];
    const ProtobufCFieldDescriptor *b;

    if (check_body(ev, rej) == 0)
        return 0;
    b = protobuf_c_message_descriptor_get_field(&twinwatch__v1__event__descriptor,
                                                (unsigned)ev->body_case);
    if (rej->field[0] && b) {
        tw_reject body = {0};
        at_field(&body, "", b->name);
        snprintf(name, sizeof name, "%s", rej->field);
        return at_field(rej, body.field, name);
    }
    return -1;
}

static int utf8_ok(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = tw_pbjson_utf8_seq(p);
        if (n == 0)
            return 0;
        p += n;
    }
    return 1;
}

/* Finds the first string of m, nested messages included, that is not UTF-8
 * (protobuf-c's unpack does not check; PostgreSQL's text columns refuse it,
 * which would fail a whole batch again and again). Walks the descriptors, so
 * a field added to the contract is covered. Returns 1 with its path in path. */
static int find_bad_utf8(const ProtobufCMessage *m, char *path, size_t pathlen)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *member = (const char *)m + f->offset;
        size_t count = 1;
        if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            count = *(const size_t *)((const char *)m + f->quantifier_offset);
            member = *(const char *const *)member;
        } else if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                   *(const uint32_t *)((const char *)m + f->quantifier_offset) != f->id) {
            continue;
        }
        for (size_t k = 0; k < count; k++) {
            const void *v = ((const void *const *)member)[k];
            if (v == NULL)
                continue;
            if (f->type == PROTOBUF_C_TYPE_STRING && !utf8_ok(v)) {
                snprintf(path, pathlen, "%s", f->name);
                return 1;
            }
            if (f->type == PROTOBUF_C_TYPE_MESSAGE && find_bad_utf8(v, path, pathlen)) {
                size_t nl = strlen(f->name), il = strlen(path);
                if (nl + 1 + il < pathlen) { /* "body.field": the message's name in front */
                    memmove(path + nl + 1, path, il + 1);
                    memcpy(path, f->name, nl);
                    path[nl] = '.';
                }
                return 1;
            }
        }
    }
    return 0;
}

int tw_codec_check(const tw_event *ev, int64_t now_ms, uint8_t event_id[16], tw_reject *rej)
{
    char path[128];
    if (ev->body_case == TWINWATCH__V1__EVENT__BODY__NOT_SET) {
        if (ev->base.n_unknown_fields > 0)
            return tw_reject_set(rej, TW_R_UNKNOWN_BODY, "body is field %u, unknown to contract v1",
                                 ev->base.unknown_fields[0].tag);
        return tw_reject_set(rej, TW_R_UNKNOWN_BODY, "no body set");
    }
    if (find_bad_utf8(&ev->base, path, sizeof path)) {
        tw_reject_set(rej, TW_R_BAD_FIELD, "%s is not valid UTF-8", path);
        return at_field(rej, "", path);
    }
    if (!*ev->event_id) {
        tw_reject_set(rej, TW_R_MISSING_FIELD, "event_id is empty");
        return at_field(rej, "", "event_id");
    }
    if (tw_uuid_parse(ev->event_id, event_id) < 0) {
        tw_reject_set(rej, TW_R_BAD_FIELD, "event_id \"%.40s\" is not a UUID", ev->event_id);
        return at_field(rej, "", "event_id");
    }
    if (!*ev->agency_code) {
        tw_reject_set(rej, TW_R_MISSING_FIELD, "agency_code is empty");
        return at_field(rej, "", "agency_code");
    }
    if (!*ev->locality_code) {
        tw_reject_set(rej, TW_R_MISSING_FIELD, "locality_code is empty");
        return at_field(rej, "", "locality_code");
    }
    if (ev->occurred_at_ms == 0)
        tw_reject_set(rej, TW_R_MISSING_FIELD, "occurred_at_ms is 0");
    else if (ev->occurred_at_ms < TW_MIN_OCCURRED_MS)
        tw_reject_set(rej, TW_R_BAD_FIELD, "occurred_at_ms %lld is before 2000-01-01",
                      (long long)ev->occurred_at_ms);
    else if (ev->occurred_at_ms > now_ms + 86400000LL)
        tw_reject_set(rej, TW_R_FUTURE_EVENT,
                      "occurred_at_ms %lld is more than a day in the future",
                      (long long)ev->occurred_at_ms);
    else
        return body_checked(ev, rej);
    return at_field(rej, "", "occurred_at_ms");
}
