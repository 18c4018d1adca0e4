/* feed.c: agency feed files (JSON lines, or CSV whose headers are JSON paths)
 * turned into protobuf Events, and Events rendered back into JSON. The
 * mapping itself is pbjson's; what is twinwatch's is here: the eventId rule,
 * reading records, and building a JSON object from a CSV row. Nothing here
 * names an Event field except the eventId rule, so fields added to the
 * .proto just work. */
#include "feed.h"
#include "csv.h"
#include "pbjson.h"
#include "uuid.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <jansson.h>

#define REASON_MAX 512 /* one record's refusal, before "PATH:LINE: " */

struct tw_feed_reader {
    FILE *f;    /* not owned */
    char *path; /* for messages */
    tw_feed_format fmt;
    int line;     /* JSONL: physical lines read so far */
    int rec_line; /* first line of the last record */
    bool done;    /* end of file or read error seen */
    char *buf;    /* JSONL: getline's buffer */
    size_t bufcap;
    tw_csv *csv;                                /* CSV: the record reader */
    char **cells;                               /* CSV: the last record, owned by csv */
    size_t ncells;                              /* CSV: how many cells it has */
    char **cols;                                /* CSV: header names */
    const ProtobufCFieldDescriptor **col_field; /* Event field of a column's first segment */
    size_t ncols, type_col;
};

/* ---- Events ---------------------------------------------------------------- */

/* Applies the eventId rule to m, a just-mapped Event it takes: a missing or
 * empty eventId is derived from sourceSystem and sourceRef. Returns the Event,
 * or NULL (m freed) with the reason in err. */
static tw_event *with_event_id(ProtobufCMessage *m, char *err, size_t errlen)
{
    tw_event *ev = (tw_event *)m;
    char id[TW_UUID_STRLEN + 1], *copy;

    if (ev->event_id != NULL && ev->event_id[0] != '\0')
        return ev;
    if (ev->source_system == NULL || ev->source_system[0] == '\0' || ev->source_ref == NULL ||
        ev->source_ref[0] == '\0') {
        snprintf(err, errlen, "no eventId and no sourceSystem+sourceRef to derive it from");
        goto fail;
    }
    tw_uuid_event_id(ev->source_system, ev->source_ref, id);
    if ((copy = strdup(id)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (ev->event_id != NULL && ev->event_id != protobuf_c_empty_string)
        free(ev->event_id);
    ev->event_id = copy;
    return ev;

fail:
    protobuf_c_message_free_unpacked(m, NULL);
    return NULL;
}

/* The Event for a decoded JSON object (not taken). */
static tw_event *event_from_object(json_t *obj, char *err, size_t errlen)
{
    ProtobufCMessage *m =
        tw_pbjson_from_object(&twinwatch__v1__event__descriptor, obj, err, errlen);

    return m != NULL ? with_event_id(m, err, errlen) : NULL;
}

tw_event *tw_feed_from_json(const char *text, size_t len, char *err, size_t errlen)
{
    ProtobufCMessage *m =
        tw_pbjson_from_json(&twinwatch__v1__event__descriptor, text, len, err, errlen);

    return m != NULL ? with_event_id(m, err, errlen) : NULL;
}

char *tw_feed_to_json(const tw_event *ev)
{
    return ev != NULL ? tw_pbjson_to_json(&ev->base) : NULL;
}

void tw_event_free(tw_event *ev)
{
    if (ev != NULL)
        protobuf_c_message_free_unpacked(&ev->base, NULL);
}

/* ---- JSON lines ------------------------------------------------------------ */

/* The next physical line into r->buf, with a UTF-8 BOM dropped from the
 * first. Returns its length, or -1 at end of file or on a read error. */
static ssize_t next_line(tw_feed_reader *r)
{
    ssize_t n = getline(&r->buf, &r->bufcap, r->f);

    if (n < 0)
        return -1;
    if (++r->line == 1 && n >= 3 && memcmp(r->buf, "\xef\xbb\xbf", 3) == 0) {
        memmove(r->buf, r->buf + 3, (size_t)n - 2);
        n -= 3;
    }
    return n;
}

/* At end of input: 0, or -1 if the stream failed. Either way the reader
 * reports end of file from now on. */
static int input_end(tw_feed_reader *r, char *reason, size_t rlen)
{
    r->done = true;
    r->rec_line = r->line;
    if (ferror(r->f)) {
        snprintf(reason, rlen, "read failed: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int jsonl_next(tw_feed_reader *r, tw_event **ev, char *reason, size_t rlen)
{
    ssize_t n;
    size_t len, start;

    for (;;) {
        if ((n = next_line(r)) < 0)
            return input_end(r, reason, rlen);
        len = (size_t)n;
        while (len > 0 && (r->buf[len - 1] == '\n' || r->buf[len - 1] == '\r'))
            len--;
        for (start = 0; start < len && isspace((unsigned char)r->buf[start]); start++)
            ;
        if (start < len)
            break;
    }
    r->rec_line = r->line;
    *ev = tw_feed_from_json(r->buf + start, len - start, reason, rlen);
    return *ev != NULL ? 1 : -1;
}

/* ---- CSV ------------------------------------------------------------------ */

/* Reads the next record that is not a blank line into r->cells (csv.c's
 * storage, valid until the next read). Returns 1, 0 at end of file, or -1
 * with a reason; after a bad record the next call reads the one after it. */
static int csv_record(tw_feed_reader *r, char *reason, size_t rlen)
{
    char **fields;
    int n;

    do {
        n = tw_csv_next(r->csv, &fields, reason, rlen);
        r->rec_line = tw_csv_line(r->csv);
    } while (n == 1 && fields[0][0] == '\0'); /* a blank line is one empty cell */
    if (n <= 0 && ferror(r->f)) {
        r->done = true;
        snprintf(reason, rlen, "read failed: %s", strerror(errno));
        return -1;
    }
    if (n == 0) {
        r->done = true;
        return 0;
    }
    if (n < 0)
        return -1;
    r->cells = fields;
    r->ncells = (size_t)n;
    return 1;
}

/* Sets value (taken) at the dotted path in obj, making objects on the way. */
static int put_path(json_t *obj, const char *path, json_t *value)
{
    char *copy = strdup(path), *seg, *dot;
    int rc = -1;

    if (copy == NULL || value == NULL)
        goto fail;
    for (seg = copy; (dot = strchr(seg, '.')) != NULL; seg = dot + 1) {
        *dot = '\0';
        json_t *child = json_object_get(obj, seg);
        if (child == NULL) {
            if (json_object_set_new(obj, seg, child = json_object()) < 0)
                goto fail;
        } else if (!json_is_object(child)) {
            goto fail;
        }
        obj = child;
    }
    if (json_object_get(obj, seg) != NULL)
        goto fail;
    rc = json_object_set_new(obj, seg, value);
    value = NULL; /* taken by obj */
fail:
    json_decref(value);
    free(copy);
    return rc;
}

static int csv_header(tw_feed_reader *r, char *reason, size_t rlen)
{
    int rc = csv_record(r, reason, rlen);
    bool have_type = false;

    if (rc == 0)
        snprintf(reason, rlen, "empty file: expected a header line");
    if (rc <= 0)
        return -1;
    r->ncols = r->ncells;
    r->cols = calloc(r->ncols, sizeof *r->cols);
    r->col_field = calloc(r->ncols, sizeof *r->col_field);
    if (r->cols == NULL || r->col_field == NULL)
        goto oom;
    for (size_t i = 0; i < r->ncols; i++) {
        const char *name = r->cells[i];
        size_t seglen = strcspn(name, ".");
        if ((r->cols[i] = strdup(name)) == NULL)
            goto oom;
        if (name[0] == '\0' || strstr(name, "..") != NULL || name[strlen(name) - 1] == '.' ||
            seglen == 0) {
            snprintf(reason, rlen, "column %zu: bad column name \"%s\"", i + 1, name);
            return -1;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(r->cols[j], name) == 0) {
                snprintf(reason, rlen, "column \"%s\" appears twice", name);
                return -1;
            }
        }
        if (strcmp(name, "type") == 0) {
            r->type_col = i;
            have_type = true;
            continue;
        }
        char *first = strndup(name, seglen);
        if (first == NULL)
            goto oom;
        r->col_field[i] = tw_pbjson_find_field(&twinwatch__v1__event__descriptor, first);
        free(first);
    }
    if (!have_type) {
        snprintf(reason, rlen, "no \"type\" column naming each row's body");
        return -1;
    }
    return 0;

oom:
    snprintf(reason, rlen, "out of memory");
    return -1;
}

/* The JSON object a CSV row stands for: non-empty cells at their paths, the
 * body's columns under the body named by the type column. */
static json_t *csv_row_object(tw_feed_reader *r, char *reason, size_t rlen)
{
    const ProtobufCFieldDescriptor *body = NULL;
    const char *type = r->cells[r->type_col];
    json_t *obj = json_object(), *body_obj = NULL;

    if (obj == NULL)
        goto oom;
    if (type[0] != '\0') {
        body = tw_pbjson_find_field(&twinwatch__v1__event__descriptor, type);
        if (body == NULL || !(body->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ||
            body->type != PROTOBUF_C_TYPE_MESSAGE) {
            snprintf(reason, rlen, "unknown type \"%s\"", type);
            goto fail;
        }
        /* present even with no cells: an empty body is still the body */
        if ((body_obj = json_object()) == NULL || json_object_set_new(obj, body->name, body_obj))
            goto oom;
    }
    for (size_t i = 0; i < r->ncols; i++) {
        const ProtobufCFieldDescriptor *top = r->col_field[i];
        const char *col = r->cols[i], *text = r->cells[i], *dot = strchr(col, '.');
        if (i == r->type_col || text[0] == '\0')
            continue;
        if (top != NULL && (top->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && top != body) {
            snprintf(reason, rlen, "column \"%s\" is set but the row's type is \"%s\"", col, type);
            goto fail;
        }
        json_t *value = json_string(text);
        if (value == NULL) {
            snprintf(reason, rlen, "column \"%s\": not valid UTF-8", col);
            goto fail;
        }
        bool in_body = top != NULL && top == body && dot != NULL;
        if (put_path(in_body ? body_obj : obj, in_body ? dot + 1 : col, value) < 0) {
            snprintf(reason, rlen, "column \"%s\" clashes with another column", col);
            goto fail;
        }
    }
    return obj;

oom:
    snprintf(reason, rlen, "out of memory");
fail:
    json_decref(obj);
    return NULL;
}

static int csv_next(tw_feed_reader *r, tw_event **ev, char *reason, size_t rlen)
{
    json_t *obj;
    int rc = csv_record(r, reason, rlen);

    if (rc <= 0)
        return rc;
    if (r->ncells != r->ncols) {
        snprintf(reason, rlen, "row has %zu cells but the header has %zu", r->ncells, r->ncols);
        return -1;
    }
    if ((obj = csv_row_object(r, reason, rlen)) == NULL)
        return -1;
    *ev = event_from_object(obj, reason, rlen);
    json_decref(obj);
    return *ev != NULL ? 1 : -1;
}

/* ---- the reader ----------------------------------------------------------- */

tw_feed_reader *tw_feed_open(FILE *f, const char *path, tw_feed_format fmt, char *err,
                             size_t errlen)
{
    tw_feed_reader *r = NULL;
    char reason[REASON_MAX];

    if (f == NULL) {
        snprintf(err, errlen, "%s: no stream to read", path ? path : "feed");
        goto fail;
    }
    if ((r = calloc(1, sizeof *r)) == NULL || (r->path = strdup(path ? path : "-")) == NULL) {
        snprintf(err, errlen, "%s: out of memory", path ? path : "feed");
        goto fail;
    }
    r->f = f;
    r->fmt = fmt;
    if (fmt == TW_FEED_CSV) {
        if ((r->csv = tw_csv_open(f)) == NULL) {
            snprintf(err, errlen, "%s: out of memory", r->path);
            goto fail;
        }
        if (csv_header(r, reason, sizeof reason) < 0) {
            snprintf(err, errlen, "%s:%d: %s", r->path, r->rec_line > 0 ? r->rec_line : 1,
                     tw_pbjson_clean_text(reason));
            goto fail;
        }
    }
    return r;

fail:
    tw_feed_close(r);
    return NULL;
}

int tw_feed_next(tw_feed_reader *r, tw_event **ev, char *err, size_t errlen)
{
    char reason[REASON_MAX];
    int rc;

    *ev = NULL;
    if (r->done)
        return 0;
    if (r->fmt == TW_FEED_CSV)
        rc = csv_next(r, ev, reason, sizeof reason);
    else
        rc = jsonl_next(r, ev, reason, sizeof reason);
    if (rc < 0)
        snprintf(err, errlen, "%s:%d: %s", r->path, r->rec_line, tw_pbjson_clean_text(reason));
    return rc;
}

int tw_feed_line(const tw_feed_reader *r)
{
    return r->rec_line;
}

void tw_feed_close(tw_feed_reader *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; r->cols != NULL && i < r->ncols; i++)
        free(r->cols[i]);
    free(r->cols);
    free(r->col_field);
    tw_csv_close(r->csv);
    free(r->buf);
    free(r->path);
    free(r);
}
