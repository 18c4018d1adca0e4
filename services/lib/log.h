/* log.h: one-line, levelled logs with the context in front, text or JSON. */
#ifndef TW_LOG_H
#define TW_LOG_H

#include <stdint.h>

typedef enum { TW_LOG_DEBUG, TW_LOG_INFO, TW_LOG_WARN, TW_LOG_ERROR } tw_log_level;

/* Sets the program name printed in front of every line ("projector"). */
void tw_log_init(const char *program);
/* "text" or "json"; returns -1 for anything else. */
int tw_log_set_format(const char *format) __attribute__((warn_unused_result));
void tw_log_set_level(tw_log_level level);

void tw_log(tw_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Where an event came from, for lines about one event. event_id may be NULL
 * (an undecodable message has none). */
typedef struct tw_log_ctx {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const char *event_id;
} tw_log_ctx;

/* tw_log with the event's place: in text "TOPIC/PARTITION@OFFSET event ID:"
 * before the message; in JSON "topic", "partition", "offset" and "event_id"
 * fields, so that a log pipeline can find the event without parsing text. */
void tw_log_at(tw_log_level level, const tw_log_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define tw_debug(...) tw_log(TW_LOG_DEBUG, __VA_ARGS__)
#define tw_info(...)  tw_log(TW_LOG_INFO, __VA_ARGS__)
#define tw_warn(...)  tw_log(TW_LOG_WARN, __VA_ARGS__)
#define tw_error(...) tw_log(TW_LOG_ERROR, __VA_ARGS__)

#endif
