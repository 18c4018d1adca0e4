/* fuzz_feed.c: an agency's feed file (feed.c) as twinctl publish reads it:
 * the first input byte picks JSON lines (even) or CSV (odd), the rest is the
 * file. Properties: a refused record says "PATH:LINE: reason" with a line
 * inside the file, lines never go back, the reader goes on after a bad
 * record and stops; every event read renders to JSON that reads back to the
 * same canonical protobuf bytes; no more events than lines. */
#include "fuzz.h"

#include "codec.h"
#include "feed.h"

#define PATH "feed"

/* err is "feed:LINE: reason" with 1 <= LINE <= maxline. */
static void check_refusal(const char *err, size_t cap, int maxline)
{
    int line = 0, off = 0;
    FUZZ_CHECK(fuzz_message_ok(err, cap), "refusal \"%s\"", err);
    FUZZ_CHECK(sscanf(err, PATH ":%d: %n", &line, &off) == 1 && off > 0 && err[off] != '\0',
               "refusal does not name PATH:LINE: \"%s\"", err);
    FUZZ_CHECK(line >= 1 && line <= maxline, "line %d outside 1..%d: \"%s\"", line, maxline, err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    int lines = 1, last = 0;
    size_t nev = 0;

    if (size < 2)
        return 0;
    tw_feed_format fmt = data[0] & 1 ? TW_FEED_CSV : TW_FEED_JSONL;
    data++, size--;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n' || data[i] == '\r';
    FILE *f = fmemopen((void *)data, size, "r");
    FUZZ_CHECK(f != NULL, "fmemopen");
    err[0] = '\0';
    tw_feed_reader *r = tw_feed_open(f, PATH, fmt, err, sizeof err);
    if (r == NULL) {
        check_refusal(err, sizeof err, lines);
        fclose(f);
        return 0;
    }
    for (size_t iter = 0;; iter++) {
        tw_event *ev = NULL;
        err[0] = '\0';
        FUZZ_CHECK(iter <= (size_t)lines + 1, "more reads (%zu) than lines (%d)", iter, lines);
        int rc = tw_feed_next(r, &ev, err, sizeof err);
        if (rc == 0) {
            FUZZ_CHECK(ev == NULL, "event at end of file");
            FUZZ_CHECK(tw_feed_next(r, &ev, err, sizeof err) == 0, "read after end of file");
            break;
        }
        int line = tw_feed_line(r);
        FUZZ_CHECK(line >= last && line >= 1 && line <= lines, "line %d after %d (of %d)", line,
                   last, lines);
        last = line;
        if (rc < 0) {
            FUZZ_CHECK(ev == NULL, "event with a refusal");
            check_refusal(err, sizeof err, lines);
            continue;
        }
        FUZZ_CHECK(rc == 1 && ev != NULL, "rc %d", rc);
        FUZZ_CHECK(++nev <= (size_t)lines, "%zu events from %d lines", nev, lines);
        FUZZ_CHECK(ev->event_id != NULL && ev->event_id[0] != '\0', "event without an id");
        char *json = tw_feed_to_json(ev);
        FUZZ_CHECK(json != NULL, "event without JSON");
        tw_event *back = tw_feed_from_json(json, strlen(json), err, sizeof err);
        FUZZ_CHECK(back != NULL, "own JSON refused: %s: %s", err, json);
        size_t n1 = 0, n2 = 0;
        uint8_t *b1 = tw_codec_pack(ev, &n1), *b2 = tw_codec_pack(back, &n2);
        FUZZ_CHECK(b1 && b2 && n1 == n2 && memcmp(b1, b2, n1) == 0, "JSON round trip: %s", json);
        free(b1);
        free(b2);
        free(json);
        tw_event_free(back);
        tw_event_free(ev);
    }
    tw_feed_close(r);
    fclose(f);
    return 0;
}
