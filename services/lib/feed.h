/* feed.h: agency feed files (JSON lines in the protobuf JSON mapping, or CSV
 * with JSON-path headers) turned into protobuf Events, and Events back into
 * JSON. The mapping walks protobuf-c's descriptors, never field by field. */
#ifndef TW_FEED_H
#define TW_FEED_H

#include <stdio.h>
#include <stddef.h>
#include "twinwatch/v1/events.pb-c.h"

typedef Twinwatch__V1__Event tw_event;

typedef enum { TW_FEED_JSONL, TW_FEED_CSV } tw_feed_format;

typedef struct tw_feed_reader tw_feed_reader;

/* Maps one JSON object to a new Event (caller frees with tw_event_free).
 * Missing eventId is derived from sourceSystem and sourceRef (tw_uuid_event_id);
 * with neither, the line is refused. Returns NULL with a reason in err. */
tw_event *tw_feed_from_json(const char *text, size_t len, char *err, size_t errlen);

/* Opens a reader on f (not owned) named path for messages. For CSV the header
 * line is read here. Returns NULL with a reason in err. */
tw_feed_reader *tw_feed_open(FILE *f, const char *path, tw_feed_format fmt, char *err,
                             size_t errlen);

/* Reads the next record: 1 with *ev set (caller owns), 0 at end of file,
 * -1 for a bad record with "PATH:LINE: reason" in err (the reader stays
 * usable: call again for the next record). Blank lines are skipped. */
int tw_feed_next(tw_feed_reader *r, tw_event **ev, char *err, size_t errlen);

/* Line number of the record last returned. */
int tw_feed_line(const tw_feed_reader *r);

void tw_feed_close(tw_feed_reader *r);

/* Renders an Event in the protobuf JSON mapping (lowerCamelCase, enums by
 * name, int64 as strings, default values omitted). Returns a malloc'd
 * NUL-terminated string the caller frees, or NULL on allocation failure. */
char *tw_feed_to_json(const tw_event *ev);

/* Frees an Event made by this module or by protobuf-c's unpack. */
void tw_event_free(tw_event *ev);

#endif
