/* replay.c: twinctl dlq replay. After an operator fixes what made events
 * fail (reference data, usually), the chosen dead letters go back to their
 * topic, raw bytes and key unchanged, through an idempotent acks=all
 * producer; the projector meets each again at its new position and accepts
 * it or dead-letters it anew. In one PostgreSQL transaction that holds the
 * rows locked from choice to commit: the rows are marked replayed (when, by
 * whom, to which partition and offset) and one audit action (dlq.replay)
 * is written. Should the commit fail after the broker took the messages,
 * the rows stay unmarked and a second replay sends them again: the
 * projector treats an event_id it has accepted as a duplicate, so nothing
 * is counted twice. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pg.h"
#include "provenance.h"
#include "twinctl.h"

typedef struct {
    const char *id, *topic, *reason;
    const void *key, *payload;
    size_t key_len, payload_len;
    int has_key;
    int32_t partition; /* where the broker put the replay */
    int64_t offset;
    int acked;
    char err[160];
} replay_row;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    replay_row *row = m->_private;
    (void)rk;
    (void)opaque;
    if (m->err) {
        snprintf(row->err, sizeof row->err, "%s", rd_kafka_err2str(m->err));
    } else {
        row->partition = m->partition;
        row->offset = m->offset;
        row->acked = 1;
    }
}

/* Sends every row; 0 once the broker acknowledged them all. The operator
 * replaying vouches for the events: they are logged as twinctl:<by>
 * (provenance.h), whatever door they first came through. */
static int send_all(replay_row *rows, int n, const char *by)
{
    rd_kafka_t *rk = twctl_producer("dlq replay", "twinctl-dlq-replay", "5", on_delivery);
    int sent = 0;
    if (!rk)
        return -1;
    for (; sent < n; sent++) {
        replay_row *r = &rows[sent];
        rd_kafka_resp_err_t e;
        while ((e = rd_kafka_producev(
                    rk, RD_KAFKA_V_TOPIC(r->topic),
                    RD_KAFKA_V_KEY(r->has_key ? r->key : NULL, r->has_key ? r->key_len : 0),
                    RD_KAFKA_V_VALUE((void *)r->payload, r->payload_len),
                    RD_KAFKA_V_HEADER(TW_HDR_OPERATOR, by, (ssize_t)strlen(by)),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(r),
                    RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 100);
        if (e) {
            fprintf(stderr, "twinctl dlq replay: dead letter %s: produce to %s: %s\n", r->id,
                    r->topic, rd_kafka_err2str(e));
            break;
        }
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_resp_err_t fe = rd_kafka_flush(rk, 120000);
    rd_kafka_destroy(rk);
    int bad = sent < n || fe;
    if (fe)
        fprintf(stderr, "twinctl dlq replay: %s waiting for the broker's acknowledgements\n",
                rd_kafka_err2str(fe));
    for (int i = 0; i < sent; i++)
        if (!rows[i].acked) {
            fprintf(stderr, "twinctl dlq replay: dead letter %s not acknowledged: %s\n", rows[i].id,
                    rows[i].err[0] ? rows[i].err : "no delivery report");
            bad = 1;
        }
    return bad ? -1 : 0;
}

/* The rows chosen, locked: ids (a PostgreSQL array literal), or those not
 * yet replayed of a reason and/or an agency. In the order their events
 * first arrived: a dead letter born of an earlier replay takes the place
 * of the one it was replayed from (followed back through replayed_to), so
 * that a twinning's signing replayed once before the fix still goes out
 * before the visits that were refused after it and never replayed. (The id
 * is sorted as a number: "ORDER BY id" next to an output column "id" of
 * type text sorted "100" before "42".) Binary results, for the payload;
 * text columns come as their bytes, which libpq follows with a zero byte. */
static PGresult *choose(PGconn *pg, const char *ids, const char *reason, const char *agency)
{
    const char *params[] = {ids, reason, agency};
    return PQexecParams(
        pg,
        "WITH RECURSIVE chosen AS ("
        "  SELECT * FROM ingest.dead_letter"
        "  WHERE ($1::bigint[] IS NOT NULL AND id = ANY ($1::bigint[]))"
        "     OR ($1::bigint[] IS NULL AND replayed_at IS NULL"
        "         AND ($2::text IS NULL OR reason = $2)"
        "         AND ($3::text IS NULL OR agency_code = $3))"
        "  FOR UPDATE),"
        " up (id, at_id, topic, part, off) AS ("
        "  SELECT id, id, topic, kafka_partition, kafka_offset FROM chosen"
        "  UNION ALL"
        "  SELECT up.id, p.id, p.topic, p.kafka_partition, p.kafka_offset FROM up"
        "  JOIN ingest.dead_letter p ON p.topic = up.topic"
        "   AND p.replayed_to_partition = up.part AND p.replayed_to_offset = up.off)"
        " SELECT c.id::text AS id_text, c.topic, c.reason, c.kafka_key IS NOT NULL,"
        "  coalesce(c.kafka_key, ''), c.payload, c.replayed_at IS NOT NULL,"
        "  coalesce(c.replayed_to_partition || '@' || c.replayed_to_offset, '')"
        " FROM chosen c JOIN (SELECT id, min(at_id) AS origin FROM up GROUP BY id) o USING (id)"
        " ORDER BY o.origin, c.id",
        3, NULL, params, NULL, NULL, 1);
}

/* Marks the rows and writes the audit action, in the open transaction. */
static int record(PGconn *pg, const replay_row *rows, int n, const char *by, const char *reason,
                  const char *agency, const char *note)
{
    json_t *detail = json_object(), *list = json_array();
    char line[400], *text = NULL;
    int rc = -1;
    if (!detail || !list)
        goto done;
    for (int i = 0; i < n; i++) {
        const replay_row *r = &rows[i];
        json_array_append_new(list, json_pack("{s:I,s:s,s:s,s:i,s:I}", "dead_letter",
                                              (json_int_t)strtoll(r->id, NULL, 10), "reason",
                                              r->reason, "topic", r->topic, "partition",
                                              (int)r->partition, "offset", (json_int_t)r->offset));
    }
    json_object_set_new(detail, "replayed", list);
    list = NULL;
    if (reason)
        json_object_set_new(detail, "reason", json_string(reason));
    if (agency)
        json_object_set_new(detail, "agency", json_string(agency));
    if (note)
        json_object_set_new(detail, "note", json_string(note));
    if (!(text = json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS)))
        goto done;
    /* the rows are marked from the audit row's own list: one statement */
    const char *params[] = {by, text};
    PGresult *u =
        PQexecParams(pg,
                     "UPDATE ingest.dead_letter d SET replayed_at = now(),"
                     " replayed_by = $1, replayed_to_partition = (x->>'partition')::int,"
                     " replayed_to_offset = (x->>'offset')::bigint"
                     " FROM jsonb_array_elements($2::jsonb -> 'replayed') x"
                     " WHERE d.id = (x->>'dead_letter')::bigint AND d.replayed_at IS NULL",
                     2, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(u) == PGRES_COMMAND_OK && strtol(PQcmdTuples(u), NULL, 10) == n;
    if (!ok)
        fprintf(stderr, "twinctl dlq replay: mark the dead letters replayed: %s\n",
                PQresultStatus(u) == PGRES_COMMAND_OK
                    ? "some changed meanwhile"
                    : tw_pg_errline(PQresultErrorMessage(u), line, sizeof line));
    PQclear(u);
    if (!ok)
        goto done;
    char subject[64];
    if (n == 1)
        snprintf(subject, sizeof subject, "dlq:%s", rows[0].id);
    else
        snprintf(subject, sizeof subject, "dlq");
    rc = twctl_record_action(pg, by, "dlq.replay", subject, text);
done:
    free(text);
    json_decref(list);
    json_decref(detail);
    return rc;
}

/* "{12,15}" from the ID arguments; NULL and a message when one is not a number. */
static char *id_array(int argc, char **argv)
{
    size_t len = 3;
    for (int i = 0; i < argc; i++) {
        if (!*argv[i] || strspn(argv[i], "0123456789") != strlen(argv[i]) || strlen(argv[i]) > 18) {
            twctl_usage_error("dlq replay", "%s: an ID is a number (twinctl dlq list shows them)",
                              argv[i]);
            return NULL;
        }
        len += strlen(argv[i]) + 1;
    }
    char *s = malloc(len), *p = s;
    if (!s)
        return NULL;
    *p++ = '{';
    for (int i = 0; i < argc; i++)
        p += sprintf(p, "%s%s", i ? "," : "", argv[i]);
    strcpy(p, "}");
    return s;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: twinctl dlq replay (ID... | [--reason R] [--agency A]) [--by NAME]\n"
            "                          [--note TEXT] [--dry-run]\n"
            "Sends dead letters back to their topic, raw bytes and key unchanged, once what\n"
            "refused them is fixed (twinctl load-reference, usually). The projector meets each\n"
            "again and accepts it or dead-letters it anew (twinctl dlq list). --reason and\n"
            "--agency take every dead letter not yet replayed of that reason and/or agency\n"
            "(an unknown agency's later events are refused as twinning_not_active: replay\n"
            "by --agency). They go out in the order they first arrived. The rows are marked\n"
            "replayed and one audit action (dlq.replay) records who, why and where they went.\n");
}

int twctl_dlq_replay(int argc, char **argv)
{
    const char *reason = NULL, *agency = NULL, *by = NULL, *note = NULL;
    int dry = 0;
    static const struct option opts[] = {{"reason", required_argument, NULL, 'r'},
                                         {"agency", required_argument, NULL, 'a'},
                                         {"by", required_argument, NULL, 'b'},
                                         {"note", required_argument, NULL, 'n'},
                                         {"dry-run", no_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "r:a:b:n:dh", opts, NULL)) != -1;) {
        if (c == 'r')
            reason = optarg;
        else if (c == 'a')
            agency = optarg;
        else if (c == 'b')
            by = optarg;
        else if (c == 'n')
            note = optarg;
        else if (c == 'd')
            dry = 1;
        else if (c == 'h') {
            usage(stdout);
            return TW_EXIT_OK;
        } else {
            usage(stderr);
            return TW_EXIT_USAGE;
        }
    }
    int nids = argc - optind;
    if ((nids > 0) == (reason || agency))
        return twctl_usage_error("dlq replay",
                                 "give dead letter IDs, or --reason R and/or --agency A: not both");
    if (!(by = twctl_by(by)))
        return twctl_usage_error("dlq replay", "--by NAME is needed: the replay is audited");
    char *ids = NULL;
    if (nids > 0 && !(ids = id_array(nids, argv + optind)))
        return TW_EXIT_USAGE;

    PGconn *pg = twctl_pg();
    PGresult *r = NULL;
    replay_row *rows = NULL;
    int rc = TW_EXIT_FAIL, n = 0;
    char line[400];
    if (twctl_exec(pg, "begin", "BEGIN") < 0)
        goto done;
    r = choose(pg, ids, reason, agency);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "twinctl dlq replay: %s\n",
                tw_pg_errline(PQresultErrorMessage(r), line, sizeof line));
        goto done;
    }
    n = PQntuples(r);
    /* every ID named must exist and wait for a replay: all or nothing */
    int refused = 0;
    for (int i = 0; i < n; i++)
        if (*PQgetvalue(r, i, 6)) {
            fprintf(stderr, "twinctl dlq replay: dead letter %s was replayed already (to %s)\n",
                    PQgetvalue(r, i, 0), PQgetvalue(r, i, 7));
            refused = 1;
        }
    if (ids && n < nids) {
        for (int a = optind; a < argc; a++) {
            int found = 0;
            for (int i = 0; i < n && !found; i++)
                found = strtoll(PQgetvalue(r, i, 0), NULL, 10) == strtoll(argv[a], NULL, 10);
            if (!found) {
                fprintf(stderr, "twinctl dlq replay: no dead letter %s\n", argv[a]);
                refused = 1;
            }
        }
    }
    if (refused) {
        fprintf(stderr, "twinctl dlq replay: nothing replayed\n");
        goto done;
    }
    if (n == 0) {
        printf("no dead letter%s%s%s%s waits for a replay\n", reason ? " with reason " : "",
               reason ? reason : "", agency ? " of agency " : "", agency ? agency : "");
        rc = TW_EXIT_OK;
        goto done;
    }
    if (!(rows = calloc((size_t)n, sizeof *rows))) {
        fprintf(stderr, "twinctl dlq replay: out of memory\n");
        goto done;
    }
    for (int i = 0; i < n; i++)
        rows[i] = (replay_row){.id = PQgetvalue(r, i, 0),
                               .topic = PQgetvalue(r, i, 1),
                               .reason = PQgetvalue(r, i, 2),
                               .has_key = *PQgetvalue(r, i, 3) != 0,
                               .key = PQgetvalue(r, i, 4),
                               .key_len = (size_t)PQgetlength(r, i, 4),
                               .payload = PQgetvalue(r, i, 5),
                               .payload_len = (size_t)PQgetlength(r, i, 5)};
    if (dry) {
        for (int i = 0; i < n; i++)
            printf("would replay dead letter %s (%s) to %s\n", rows[i].id, rows[i].reason,
                   rows[i].topic);
        printf("dry run: nothing sent, nothing recorded\n");
        rc = TW_EXIT_OK;
    } else if (send_all(rows, n, by) < 0) {
        fprintf(stderr, "twinctl dlq replay: not recorded; the rows stay waiting (a second "
                        "replay is safe: an event accepted twice counts once)\n");
    } else if (record(pg, rows, n, by, reason, agency, note) < 0 ||
               twctl_exec(pg, "commit", "COMMIT") < 0) {
        fprintf(stderr, "twinctl dlq replay: the broker has the messages but the replay was "
                        "not recorded; the rows stay waiting (a second replay is safe)\n");
    } else {
        for (int i = 0; i < n; i++)
            printf("dead letter %s (%s) replayed to %s/%d@%lld\n", rows[i].id, rows[i].reason,
                   rows[i].topic, (int)rows[i].partition, (long long)rows[i].offset);
        printf("%d dead letter(s) replayed by %s; twinctl wait --caught-up, then twinctl dlq "
               "list shows any refused again\n",
               n, by);
        rc = TW_EXIT_OK;
    }
done:
    if (rc != TW_EXIT_OK || dry)
        PQclear(PQexec(pg, "ROLLBACK"));
    free(rows);
    PQclear(r);
    PQfinish(pg);
    free(ids);
    return rc;
}
