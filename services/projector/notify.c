/* notify.c: the change notice a committed batch sends on the channel
 * twinwatch_projection, so that the sentinel re-evaluates what changed at
 * once. It names the twinnings, pledges, agencies and source systems the
 * batch wrote, as JSON:
 *   {"events":N,"twinnings":["AG|LOC",…],"pledges":["AG/P-1",…],
 *    "agencies":["AG",…],"sources":["SRC",…]}
 * PostgreSQL caps a payload below 8,000 bytes; a batch that touches more
 * says {"events":N,"all":true} and the listener re-evaluates everything.
 * The NOTIFY is part of the batch transaction: it is delivered on commit,
 * never for a batch that rolled back. */
#include "batch_int.h"

#include <stdio.h>
#include <string.h>

typedef struct notice {
    char *buf;
    size_t len, cap;
    int full;
    const char *agencies[TW_NOTIFY_MAX / 4];
    size_t nagencies;
} notice;

static void put(notice *n, const char *s, size_t len)
{
    if (n->full || n->len + len + 1 > n->cap) {
        n->full = 1;
        return;
    }
    memcpy(n->buf + n->len, s, len);
    n->len += len;
    n->buf[n->len] = '\0';
}

static void put_str(notice *n, const char *s)
{
    put(n, s, strlen(s));
}

/* A JSON string; codes are plain ASCII, but nothing here trusts that. */
static void put_json(notice *n, const char *a, const char *sep, const char *b)
{
    char esc[8];
    const char *parts[2] = {a, b};
    put(n, "\"", 1);
    for (int i = 0; i < 2 && parts[i]; i++) {
        if (i == 1)
            put_str(n, sep);
        for (const unsigned char *c = (const unsigned char *)parts[i]; *c; c++) {
            if (*c == '"' || *c == '\\') {
                esc[0] = '\\';
                esc[1] = (char)*c;
                put(n, esc, 2);
            } else if (*c < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *c);
                put_str(n, esc);
            } else {
                put(n, (const char *)c, 1);
            }
        }
    }
    put(n, "\"", 1);
}

static void add_agency(notice *n, const char *code)
{
    for (size_t i = 0; i < n->nagencies; i++)
        if (strcmp(n->agencies[i], code) == 0)
            return;
    if (n->nagencies == sizeof n->agencies / sizeof n->agencies[0]) {
        n->full = 1;
        return;
    }
    n->agencies[n->nagencies++] = code;
}

size_t tw_notify_payload(tw_batch *b, char *buf, size_t cap)
{
    notice n = {.buf = buf, .cap = cap};
    char head[48];
    size_t pos = 0, count = 0;
    tw_twinning *t;
    tw_pledge *p;
    tw_source *s;

    snprintf(head, sizeof head, "{\"events\":%lld", (long long)b->stats.accepted);
    put_str(&n, head);
    size_t head_len = n.len;

    put_str(&n, ",\"twinnings\":[");
    while ((t = tw_state_next_twinning(b->st, &pos)) && !n.full) {
        if (!t->dirty)
            continue;
        if (count++)
            put(&n, ",", 1);
        put_json(&n, t->agency_code, "|", t->locality_code);
        add_agency(&n, t->agency_code);
    }
    put_str(&n, "],\"pledges\":[");
    pos = count = 0;
    while ((p = tw_state_next_pledge(b->st, &pos)) && !n.full) {
        if (!p->dirty)
            continue;
        if (count++)
            put(&n, ",", 1);
        put_json(&n, p->agency_code, "/", p->pledge_id);
        add_agency(&n, p->agency_code);
    }
    put_str(&n, "],\"sources\":[");
    pos = count = 0;
    while ((s = tw_state_next_source(b->st, &pos)) && !n.full) {
        if (!s->dirty)
            continue;
        if (count++)
            put(&n, ",", 1);
        put_json(&n, s->source_system, NULL, NULL);
        add_agency(&n, s->agency_code);
    }
    put_str(&n, "],\"agencies\":[");
    for (size_t i = 0; i < n.nagencies && !n.full; i++) {
        if (i)
            put(&n, ",", 1);
        put_json(&n, n.agencies[i], NULL, NULL);
    }
    put_str(&n, "]}");
    if (!n.full)
        return n.len;
    /* Too many subjects for one payload: everything. */
    n.full = 0;
    n.len = head_len;
    put_str(&n, ",\"all\":true}");
    return n.len;
}
