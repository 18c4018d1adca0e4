/* inspect.c: twinctl wait, status, digest and dlq: what an operator asks of
 * a running twinwatch. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "feed.h"
#include "kafka.h"
#include "pg.h"
#include "tables.h"
#include "twinctl.h"

typedef struct {
    int n;
    int64_t high[1024];
} watermarks;

/* High watermarks of every partition of topic. */
static int read_watermarks(rd_kafka_t *rk, const char *topic, watermarks *w, char *err,
                           size_t errlen)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, t, &md, 10000);
    rd_kafka_topic_destroy(t);
    if (e || md->topic_cnt != 1 || md->topics[0].err) {
        snprintf(err, errlen, "metadata of %s: %s", topic,
                 rd_kafka_err2str(e               ? e
                                  : md->topic_cnt ? md->topics[0].err
                                                  : RD_KAFKA_RESP_ERR_UNKNOWN));
        if (md)
            rd_kafka_metadata_destroy(md);
        return -1;
    }
    w->n = md->topics[0].partition_cnt < 1024 ? md->topics[0].partition_cnt : 1024;
    rd_kafka_metadata_destroy(md);
    for (int p = 0; p < w->n; p++) {
        int64_t lo, hi;
        e = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000);
        if (e) {
            snprintf(err, errlen, "watermarks of %s/%d: %s", topic, p, rd_kafka_err2str(e));
            return -1;
        }
        w->high[p] = hi;
    }
    return 0;
}

static rd_kafka_t *kafka_client(void)
{
    static const char *const defaults[] = {"client.id", "twinctl", NULL};
    char err[512];
    rd_kafka_conf_t *conf = twctl_kafka_conf("Kafka client", defaults);
    rd_kafka_t *rk = conf ? rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err) : NULL;
    if (conf && !rk) {
        rd_kafka_conf_destroy(conf);
        fprintf(stderr, "twinctl: Kafka client: %s\n", err);
    }
    return rk;
}

/* stored[p] = next offset stored for p, -1 when none. */
static int read_stored(PGconn *pg, const char *topic, int64_t *stored, int n)
{
    const char *params[1] = {topic};
    for (int i = 0; i < n; i++)
        stored[i] = -1;
    PGresult *r = PQexecParams(pg,
                               "SELECT kafka_partition, next_offset FROM ingest.partition_offset"
                               " WHERE topic = $1",
                               1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char line[400];
        fprintf(stderr, "twinctl: stored offsets: %s\n",
                tw_pg_errline(PQresultErrorMessage(r), line, sizeof line));
        PQclear(r);
        return -1;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        int p = atoi(PQgetvalue(r, i, 0));
        if (p >= 0 && p < n)
            stored[p] = strtoll(PQgetvalue(r, i, 1), NULL, 10);
    }
    PQclear(r);
    return 0;
}

int twctl_wait(int argc, char **argv)
{
    double timeout = 60;
    int caught_up = 0;
    const char *topic = twctl_topic();
    static const struct option opts[] = {{"caught-up", no_argument, NULL, 'c'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"topic", required_argument, NULL, 'T'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "ct:T:h", opts, NULL)) != -1;) {
        char *end;
        if (c == 'c')
            caught_up = 1;
        else if (c == 'T')
            topic = optarg;
        else if (c == 't') {
            timeout = strtod(optarg, &end);
            if (*end || end == optarg || timeout <= 0)
                return twctl_usage_error("wait", "--timeout %s: expected seconds > 0", optarg);
        } else if (c == 'h') {
            printf("usage: twinctl wait --caught-up [--timeout S] [--topic T]\n"
                   "Returns 0 once the projector's stored offsets reach the broker's high\n"
                   "watermarks on every partition; 1 after S seconds (default 60).\n");
            return TW_EXIT_OK;
        } else
            return TW_EXIT_USAGE;
    }
    if (!caught_up || optind < argc)
        return twctl_usage_error("wait", "usage: twinctl wait --caught-up [--timeout S]");

    rd_kafka_t *rk = kafka_client();
    if (!rk)
        return TW_EXIT_FAIL;
    PGconn *pg = twctl_pg();
    watermarks w;
    int64_t stored[1024];
    char err[512];
    struct timespec t0, t;
    int rc = TW_EXIT_FAIL;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (read_watermarks(rk, topic, &w, err, sizeof err) < 0) {
        fprintf(stderr, "twinctl wait: %s\n", err);
        goto done;
    }
    for (;;) {
        long long lag = 0;
        if (read_stored(pg, topic, stored, w.n) < 0)
            goto done;
        for (int p = 0; p < w.n; p++)
            if (w.high[p] > 0 && stored[p] < w.high[p])
                lag += w.high[p] - (stored[p] < 0 ? 0 : stored[p]);
        if (lag == 0) {
            rc = TW_EXIT_OK;
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
        double el = (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
        if (el > timeout) {
            fprintf(stderr,
                    "twinctl wait: not caught up after %.0fs: %lld event(s) behind "
                    "(is the projector running? see .local/log/projector.log)\n",
                    timeout, lag);
            break;
        }
        usleep(50000);
    }
done:
    PQfinish(pg);
    rd_kafka_destroy(rk);
    return rc;
}

static void print_result(PGresult *r, int with_header)
{
    int nf = PQnfields(r);
    if (with_header) {
        for (int j = 0; j < nf; j++)
            printf("%s%s", j ? "\t" : "", PQfname(r, j));
        printf("\n");
    }
    for (int i = 0; i < PQntuples(r); i++) {
        for (int j = 0; j < nf; j++)
            printf("%s%s", j ? "\t" : "", PQgetisnull(r, i, j) ? "-" : PQgetvalue(r, i, j));
        printf("\n");
    }
}

static int query_print(PGconn *pg, const char *title, const char *sql, int nparams,
                       const char *const *params)
{
    PGresult *r = PQexecParams(pg, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char line[400];
        fprintf(stderr, "twinctl: %s: %s\n", title,
                tw_pg_errline(PQresultErrorMessage(r), line, sizeof line));
        PQclear(r);
        return -1;
    }
    if (title)
        printf("\n%s\n", title);
    print_result(r, 1);
    PQclear(r);
    return 0;
}

int twctl_status(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--help")) {
        printf("usage: twinctl status\nPer partition: high watermark, stored offset, lag and\n"
               "counts; dead letters by reason; accepted events by type.\n");
        return TW_EXIT_OK;
    }
    if (argc > 1)
        return twctl_usage_error("status", "unexpected argument \"%s\"", argv[1]);
    rd_kafka_t *rk = kafka_client();
    PGconn *pg = twctl_pg();
    watermarks w = {0};
    int64_t stored[1024];
    char err[512];
    int rc = TW_EXIT_FAIL;

    printf("partitions of %s\npartition\thigh\tstored\tlag\n", twctl_topic());
    if (!rk || read_watermarks(rk, twctl_topic(), &w, err, sizeof err) < 0) {
        fprintf(stderr, "twinctl status: broker unreachable: %s\n", rk ? err : "");
    } else if (read_stored(pg, twctl_topic(), stored, w.n) == 0) {
        for (int p = 0; p < w.n; p++)
            printf("%d\t%lld\t%lld\t%lld\n", p, (long long)w.high[p],
                   (long long)(stored[p] < 0 ? 0 : stored[p]),
                   (long long)(w.high[p] - (stored[p] < 0 ? 0 : stored[p])));
    }
    if (query_print(pg, "totals",
                    "SELECT coalesce(sum(accepted), 0) AS accepted,"
                    " coalesce(sum(dead_lettered), 0) AS dead_lettered,"
                    " coalesce(sum(duplicates), 0) AS duplicates_ignored,"
                    " max(updated_at) AS last_commit FROM ingest.partition_offset",
                    0, NULL) < 0 ||
        query_print(pg, "open operational alerts (twinctl offsets accept-loss to resolve)",
                    "SELECT id, kind, kafka_partition AS partition, lost_from,"
                    " lost_to - 1 AS lost_through, raised_at, message"
                    " FROM ingest.operational_alert WHERE resolved_at IS NULL ORDER BY id",
                    0, NULL) < 0 ||
        query_print(
            pg, "dead letters by reason (pending: not replayed yet, twinctl dlq replay)",
            "SELECT reason, count(*) AS events,"
            " count(*) FILTER (WHERE replayed_at IS NULL) AS pending, max(dead_at) AS latest"
            " FROM ingest.dead_letter GROUP BY reason ORDER BY 2 DESC, 1",
            0, NULL) < 0 ||
        query_print(pg, "accepted events by type",
                    "SELECT event_type, count(*) AS events FROM audit.event_log"
                    " GROUP BY event_type ORDER BY 2 DESC, 1",
                    0, NULL) < 0)
        goto done;
    rc = TW_EXIT_OK;
done:
    PQfinish(pg);
    if (rk)
        rd_kafka_destroy(rk);
    return rc;
}

/* Canonical projection state: every projection row as text, sorted, hashed.
 * Kafka positions of parked deliveries are left out, so a rebuild from the
 * log and a live projection compare equal. */
static const char *digest_sql(void)
{
    static char sql[4096];
    snprintf(sql, sizeof sql,
             "SELECT encode(sha256(convert_to(coalesce(string_agg(line, E'\\n' ORDER BY line),"
             " ''), 'UTF8')), 'hex'), count(*) FROM ("
             " SELECT 'twinning|' || %s::text AS line FROM proj.twinning t"
             " UNION ALL SELECT 'pledge|' || %s::text FROM proj.pledge p"
             " UNION ALL SELECT 'parked|' || %s::text FROM proj.parked_delivery k"
             " UNION ALL SELECT 'source|' || %s::text FROM proj.source_feed s) x",
             tw_table_digest_row(tw_twinning_table, "t"), tw_table_digest_row(tw_pledge_table, "p"),
             tw_table_digest_row(tw_parked_table, "k"), tw_table_digest_row(tw_source_table, "s"));
    return sql;
}

int twctl_digest(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--help")) {
        printf("usage: twinctl digest\nPrints the SHA-256 of the canonical projection state "
               "and its row count;\nequal digests mean equal supervision state.\n");
        return TW_EXIT_OK;
    }
    if (argc > 1)
        return twctl_usage_error("digest", "unexpected argument \"%s\"", argv[1]);
    PGconn *pg = twctl_pg();
    int rc = TW_EXIT_FAIL;
    if (twctl_exec(pg, "set time zone", "SET TimeZone = 'UTC'; SET DateStyle = 'ISO'") == 0) {
        PGresult *r = PQexec(pg, digest_sql());
        if (PQresultStatus(r) == PGRES_TUPLES_OK) {
            printf("%s  %s rows\n", PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
            rc = TW_EXIT_OK;
        } else {
            char line[400];
            fprintf(stderr, "twinctl digest: %s\n",
                    tw_pg_errline(PQresultErrorMessage(r), line, sizeof line));
        }
        PQclear(r);
    }
    PQfinish(pg);
    return rc;
}

static int dlq_list(int argc, char **argv)
{
    const char *reason = NULL, *limit = "50", *pending = "false";
    static const struct option opts[] = {{"reason", required_argument, NULL, 'r'},
                                         {"limit", required_argument, NULL, 'l'},
                                         {"pending", no_argument, NULL, 'p'},
                                         {NULL, 0, NULL, 0}};
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "r:l:p", opts, NULL)) != -1;) {
        if (c == 'r')
            reason = optarg;
        else if (c == 'p')
            pending = "true";
        else if (c == 'l') {
            limit = optarg;
            if (strspn(limit, "0123456789") != strlen(limit) || !*limit)
                return twctl_usage_error("dlq list", "--limit %s: expected a number", limit);
        } else
            return TW_EXIT_USAGE;
    }
    if (optind < argc)
        return twctl_usage_error("dlq list", "unexpected argument \"%s\"", argv[optind]);
    PGconn *pg = twctl_pg();
    const char *params[3] = {reason, limit, pending};
    int rc = query_print(pg, NULL,
                         "SELECT id, to_char(dead_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')"
                         " AS dead_at_utc, kafka_partition || '@' || kafka_offset AS position,"
                         " reason, coalesce(event_id::text, '-') AS event_id,"
                         " coalesce('to ' || replayed_to_partition || '@' || replayed_to_offset,"
                         " '-') AS replayed, message"
                         " FROM ingest.dead_letter WHERE ($1::text IS NULL OR reason = $1)"
                         " AND NOT ($3::bool AND replayed_at IS NOT NULL)"
                         " ORDER BY id LIMIT $2::int",
                         3, params);
    PQfinish(pg);
    return rc < 0 ? TW_EXIT_FAIL : TW_EXIT_OK;
}

static int dlq_show(const char *id)
{
    if (!*id || strspn(id, "0123456789") != strlen(id))
        return twctl_usage_error("dlq show", "ID must be a number (twinctl dlq list shows them)");
    PGconn *pg = twctl_pg();
    const char *params[1] = {id};
    PGresult *r = PQexecParams(pg,
                               "SELECT id, topic, kafka_partition, kafka_offset,"
                               " convert_from(coalesce(kafka_key, ''), 'UTF8') AS key, event_id,"
                               " event_type, agency_code, locality_code, reason, message, dead_at,"
                               " payload FROM ingest.dead_letter WHERE id = $1::bigint",
                               1, NULL, params, NULL, NULL, 1);
    int rc = TW_EXIT_FAIL;
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        fprintf(stderr, "twinctl dlq show: no dead letter %s\n", id);
        goto done;
    }
    PQclear(r);
    /* text for the columns, binary for the payload: two queries, plainly */
    r = PQexecParams(pg,
                     "SELECT id, topic, kafka_partition, kafka_offset,"
                     " coalesce(encode(kafka_key, 'escape'), '-'), coalesce(event_id::text, '-'),"
                     " coalesce(event_type, '-'), coalesce(agency_code, '-'),"
                     " coalesce(locality_code, '-'), reason, message, dead_at,"
                     " coalesce(format('%s by %s, to partition %s offset %s', replayed_at,"
                     " replayed_by, replayed_to_partition, replayed_to_offset), '-'),"
                     " length(payload)"
                     " FROM ingest.dead_letter WHERE id = $1::bigint",
                     1, NULL, params, NULL, NULL, 0);
    static const char *labels[] = {"id",       "topic",      "partition", "offset",       "key",
                                   "event_id", "event_type", "agency",    "locality",     "reason",
                                   "message",  "dead_at",    "replayed",  "payload_bytes"};
    for (int j = 0; j < 14; j++)
        printf("%-14s %s\n", labels[j], PQgetvalue(r, 0, j));
    PQclear(r);
    r = PQexecParams(pg, "SELECT payload FROM ingest.dead_letter WHERE id = $1::bigint", 1, NULL,
                     params, NULL, NULL, 1);
    tw_reject rej;
    tw_event *ev = tw_codec_decode(PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0), &rej);
    if (ev) {
        char *json = tw_feed_to_json(ev);
        printf("%-14s %s\n", "payload", json ? json : "(out of memory)");
        free(json);
        tw_event_free(ev);
    } else {
        printf("%-14s", "payload_hex");
        for (int i = 0; i < PQgetlength(r, 0, 0) && i < 256; i++)
            printf("%s%02x", i % 32 ? "" : "\n  ", (unsigned char)PQgetvalue(r, 0, 0)[i]);
        printf("\n");
    }
    rc = TW_EXIT_OK;
done:
    PQclear(r);
    PQfinish(pg);
    return rc;
}

int twctl_dlq(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help")) {
        printf("usage: twinctl dlq list [--reason R] [--pending] [--limit N]\n"
               "       twinctl dlq show ID\n"
               "       twinctl dlq replay (ID... | --reason R) [--by NAME] [--note TEXT] "
               "[--dry-run]\n"
               "Dead letters: refused events with their reason, position and raw bytes;\n"
               "replay sends them back to their topic once the cause is fixed (audited).\n");
        return argc < 2 ? TW_EXIT_USAGE : TW_EXIT_OK;
    }
    if (!strcmp(argv[1], "list"))
        return dlq_list(argc - 1, argv + 1);
    if (!strcmp(argv[1], "show")) {
        if (argc != 3)
            return twctl_usage_error("dlq show", "usage: twinctl dlq show ID");
        return dlq_show(argv[2]);
    }
    if (!strcmp(argv[1], "replay"))
        return twctl_dlq_replay(argc - 1, argv + 1);
    return twctl_usage_error("dlq", "unknown subcommand \"%s\" (list, show or replay)", argv[1]);
}

/* The operator accepts that retention removed a partition's unseen events:
 * the stored offset moves from the lost range's start to the broker's log
 * start (compare-and-set), and the alert records who and why, in one
 * transaction. The projector resumes there within 30 s. */
static int accept_loss(const char *part, const char *by, const char *note)
{
    PGconn *pg = twctl_pg();
    const char *params[] = {twctl_topic(), part, by, note};
    PGresult *r = PQexecParams(
        pg,
        "WITH a AS (SELECT id, lost_from, lost_to FROM ingest.operational_alert"
        "  WHERE kind = 'offsets_lost' AND topic = $1 AND kafka_partition = $2::int"
        "  AND resolved_at IS NULL AND lost_to > lost_from ORDER BY id LIMIT 1 FOR UPDATE),"
        " o AS (UPDATE ingest.partition_offset p SET next_offset = a.lost_to, updated_at = now()"
        "  FROM a WHERE p.topic = $1 AND p.kafka_partition = $2::int"
        "  AND p.next_offset = a.lost_from RETURNING a.id, a.lost_from, a.lost_to),"
        " r AS (UPDATE ingest.operational_alert x SET resolved_at = now(), resolved_by = $3::text,"
        "  resolution = format('loss of offsets %s..%s accepted: %s', o.lost_from,"
        "  o.lost_to - 1, $4::text) FROM o WHERE x.id = o.id RETURNING x.id)"
        " SELECT o.id, o.lost_from, o.lost_to, (SELECT count(*) FROM a) FROM o, r"
        " UNION ALL SELECT NULL, NULL, NULL, (SELECT count(*) FROM a)"
        " WHERE NOT EXISTS (SELECT 1 FROM o)",
        4, NULL, params, NULL, NULL, 0);
    int rc = TW_EXIT_FAIL;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char line[400];
        fprintf(stderr, "twinctl offsets accept-loss: %s\n",
                tw_pg_errline(PQresultErrorMessage(r), line, sizeof line));
    } else if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
        printf("partition %s: loss of offsets %s..%lld accepted by %s; the projector resumes at "
               "%s\n",
               part, PQgetvalue(r, 0, 1), strtoll(PQgetvalue(r, 0, 2), NULL, 10) - 1, by,
               PQgetvalue(r, 0, 2));
        rc = TW_EXIT_OK;
    } else if (PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 3), "0") != 0) {
        fprintf(stderr,
                "twinctl offsets accept-loss: partition %s's stored offset is no longer "
                "the start of the lost range (it moved); nothing changed\n",
                part);
    } else {
        fprintf(stderr,
                "twinctl offsets accept-loss: no open offsets_lost alert with a known "
                "range for partition %s (twinctl status lists them)\n",
                part);
    }
    PQclear(r);
    PQfinish(pg);
    return rc;
}

int twctl_offsets(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help")) {
        printf("usage: twinctl offsets accept-loss PARTITION --by NAME [--note TEXT]\n"
               "Accepts that the broker's retention removed events of PARTITION before the\n"
               "projector saw them (an open offsets_lost alert, see twinctl status): moves\n"
               "the stored offset to the broker's log start and resolves the alert, recording\n"
               "who and why. Nothing else ever skips events.\n");
        return argc < 2 ? TW_EXIT_USAGE : TW_EXIT_OK;
    }
    if (strcmp(argv[1], "accept-loss") != 0)
        return twctl_usage_error("offsets", "unknown subcommand \"%s\" (accept-loss)", argv[1]);
    const char *part = NULL, *by = NULL, *note = "";
    static const struct option opts[] = {{"by", required_argument, NULL, 'b'},
                                         {"note", required_argument, NULL, 'n'},
                                         {NULL, 0, NULL, 0}};
    optind = 1;
    argc--; /* parsed from "accept-loss" on */
    argv++;
    for (int c; (c = getopt_long(argc, argv, "b:n:", opts, NULL)) != -1;) {
        if (c == 'b')
            by = optarg;
        else if (c == 'n')
            note = optarg;
        else
            return TW_EXIT_USAGE;
    }
    if (optind < argc)
        part = argv[optind++];
    if (optind < argc)
        return twctl_usage_error("offsets accept-loss", "unexpected argument \"%s\"", argv[optind]);
    if (!part || strspn(part, "0123456789") != strlen(part) || strlen(part) > 4)
        return twctl_usage_error("offsets accept-loss", "PARTITION must be a partition number");
    if (!by || !*by)
        return twctl_usage_error("offsets accept-loss", "--by NAME is required (who accepts)");
    return accept_loss(part, by, note);
}
