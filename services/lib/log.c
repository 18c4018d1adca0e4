/* log.c: one line per event of interest on stderr, "time level program: msg"
 * or one JSON object per line with --log-format json. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/time.h>

static const char *log_program = "twinwatch";
static int log_json;
static tw_log_level log_min = TW_LOG_INFO;

void tw_log_init(const char *program)
{
    log_program = program;
}

int tw_log_set_format(const char *format)
{
    if (strcmp(format, "text") == 0)
        log_json = 0;
    else if (strcmp(format, "json") == 0)
        log_json = 1;
    else
        return -1;
    return 0;
}

void tw_log_set_level(tw_log_level level)
{
    log_min = level;
}

static void json_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
}

static void emit(tw_log_level level, const tw_log_ctx *ctx, const char *fmt, va_list ap)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    char msg[2048], ts[32];
    struct timeval tv;
    struct tm tm;

    vsnprintf(msg, sizeof msg, fmt, ap);
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    if (log_json) {
        fprintf(stderr, "{\"ts\":\"%s.%03dZ\",\"level\":\"%s\",\"program\":\"%s\",", ts,
                (int)(tv.tv_usec / 1000), names[level], log_program);
        if (ctx) {
            fputs("\"topic\":\"", stderr);
            json_escape(stderr, ctx->topic ? ctx->topic : "");
            fprintf(stderr,
                    "\",\"partition\":%d,\"offset\":%lld,\"event_id\":", (int)ctx->partition,
                    (long long)ctx->offset);
            if (ctx->event_id) {
                fputc('"', stderr);
                json_escape(stderr, ctx->event_id);
                fputs("\",", stderr);
            } else {
                fputs("null,", stderr);
            }
        }
        fputs("\"msg\":\"", stderr);
        json_escape(stderr, msg);
        fputs("\"}\n", stderr);
    } else if (ctx) {
        fprintf(stderr, "%s.%03dZ %-5s %s: %s/%d@%lld event %s: %s\n", ts, (int)(tv.tv_usec / 1000),
                names[level], log_program, ctx->topic ? ctx->topic : "", (int)ctx->partition,
                (long long)ctx->offset, ctx->event_id ? ctx->event_id : "-", msg);
    } else {
        fprintf(stderr, "%s.%03dZ %-5s %s: %s\n", ts, (int)(tv.tv_usec / 1000), names[level],
                log_program, msg);
    }
}

void tw_log(tw_log_level level, const char *fmt, ...)
{
    va_list ap;
    if (level < log_min)
        return;
    va_start(ap, fmt);
    emit(level, NULL, fmt, ap);
    va_end(ap);
}

void tw_log_at(tw_log_level level, const tw_log_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    if (level < log_min)
        return;
    va_start(ap, fmt);
    emit(level, ctx, fmt, ap);
    va_end(ap);
}
