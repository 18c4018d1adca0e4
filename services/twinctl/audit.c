/* audit.c: twinctl audit verify|trail. verify recomputes every hash chain of
 * the audit trail (one per Kafka partition, one for operator actions) from
 * the rows alone, in one snapshot, and names the first broken row of each
 * chain and what is wrong with it; trail prints the history of one subject.
 * The canonical encodings are those of services/lib/chain.c and
 * schemas/010_audit.sql. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anchor.h"
#include "chain.h"
#include "date.h"
#include "kafka.h"
#include "pg.h"
#include "twinctl.h"
#include "uuid.h"

static const char *USAGE =
    "usage: twinctl audit verify [--from DATE | --anchors]\n"
    "       twinctl audit trail --subject pledge:AGENCY/PLEDGE | twinning:AGENCY|LOCALITY |"
    " alert:ID\n"
    "verify recomputes every hash chain and prints, per chain, the rows checked and the head;\n"
    "on a break it names the chain, the first bad row and what is wrong, and exits 1.\n"
    "--from DATE checks rows logged from DATE on (UTC), trusting the link before them.\n"
    "--anchors also checks that every chain head published to " TW_TOPIC_ANCHORS "\n"
    "is still a row of its chain with that hash (a truncated or recomputed chain).\n";

/* One chain being walked row by row. A broken link is judged once the
 * next row is known (see judge()). */
typedef struct walk {
    char name[160];
    char topic[128];
    int32_t partition; /* -1: the operator chain */
    int64_t rows;
    uint8_t expect[TW_CHAIN_HASH_LEN]; /* the hash the next row must chain to */
    uint8_t before[TW_CHAIN_HASH_LEN]; /* the hash the previous row chained to */
    int have_before;
    char last[200]; /* the previous row, for messages */
    int state;      /* 0 intact, 1 link broken (judged later), 2 judged */
    char bad[200];
    uint8_t bad_prev[TW_CHAIN_HASH_LEN], bad_expect[TW_CHAIN_HASH_LEN];
    int has_next;
    uint8_t next_prev[TW_CHAIN_HASH_LEN];
    char verdict[700];
} walk;

static void walk_start(walk *w, const char *topic, int32_t partition)
{
    memset(w, 0, sizeof *w);
    snprintf(w->topic, sizeof w->topic, "%s", topic);
    w->partition = partition;
    if (partition >= 0)
        snprintf(w->name, sizeof w->name, "%s/p%d", topic, partition);
    else
        snprintf(w->name, sizeof w->name, "operator");
}

/* Feeds one row: its identity for messages, its stored links and the hash
 * its bytes give. from: the chain starts mid-way (--from), trust its link. */
static void walk_row(walk *w, const char *id, const uint8_t *prev, const uint8_t *hash,
                     const uint8_t computed[TW_CHAIN_HASH_LEN], int from)
{
    if (w->state == 2)
        return;
    if (w->state == 1) {
        w->has_next = 1;
        memcpy(w->next_prev, prev, TW_CHAIN_HASH_LEN);
        w->state = 2;
        return;
    }
    if (w->rows == 0)
        memcpy(w->expect, from ? prev : tw_chain_genesis, TW_CHAIN_HASH_LEN);
    if (memcmp(prev, w->expect, TW_CHAIN_HASH_LEN) != 0) {
        if (w->have_before && memcmp(prev, w->before, TW_CHAIN_HASH_LEN) == 0) {
            snprintf(w->verdict, sizeof w->verdict,
                     "%s: inserted: it is not in the chain (the next row, %s, is chained to the "
                     "row before it)",
                     w->last, id);
            w->state = 2;
            return;
        }
        snprintf(w->bad, sizeof w->bad, "%s", id);
        memcpy(w->bad_prev, prev, TW_CHAIN_HASH_LEN);
        memcpy(w->bad_expect, w->expect, TW_CHAIN_HASH_LEN);
        w->state = 1;
        return;
    }
    if (memcmp(computed, hash, TW_CHAIN_HASH_LEN) != 0) {
        snprintf(w->verdict, sizeof w->verdict,
                 "%s: altered: its bytes no longer hash to its stored hash", id);
        w->state = 2;
        return;
    }
    memcpy(w->before, w->expect, TW_CHAIN_HASH_LEN);
    w->have_before = 1;
    memcpy(w->expect, hash, TW_CHAIN_HASH_LEN);
    snprintf(w->last, sizeof w->last, "%s", id);
    w->rows++;
}

/* A broken link: the row names a predecessor that is elsewhere in the chain
 * (reordered), or nowhere, while the next row chains over it (inserted), or
 * nowhere at all (the rows before it are missing). */
static void judge(walk *w, PGconn *pg)
{
    char hex[2 * TW_CHAIN_HASH_LEN + 1], part[16], where[200] = "";
    if (w->state != 1 && !(w->state == 2 && w->bad[0] && !w->verdict[0]))
        return;
    tw_chain_hex(w->bad_prev, hex);
    snprintf(part, sizeof part, "%d", w->partition);
    const char *params[] = {w->topic, part, hex};
    PGresult *r =
        w->partition >= 0
            ? PQexecParams(pg,
                           "SELECT format('offset %s (seq %s, event %s)', kafka_offset, seq,"
                           " event_id) FROM audit.event_log WHERE topic = $1 AND"
                           " kafka_partition = $2::int AND hash = decode($3, 'hex') LIMIT 1",
                           3, NULL, params, NULL, NULL, 0)
            : PQexecParams(pg,
                           "SELECT format('seq %s', seq) FROM audit.action_log"
                           " WHERE hash = decode($1, 'hex') LIMIT 1",
                           1, NULL, params + 2, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        snprintf(where, sizeof where, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    if (where[0])
        snprintf(w->verdict, sizeof w->verdict,
                 "%s: reordered: it was chained after the row now at %s", w->bad, where);
    else if (w->has_next && memcmp(w->next_prev, w->bad_expect, TW_CHAIN_HASH_LEN) == 0)
        snprintf(w->verdict, sizeof w->verdict,
                 "%s: inserted: it is not in the chain (the next row is chained to the row "
                 "before it)",
                 w->bad);
    else
        snprintf(w->verdict, sizeof w->verdict,
                 "%s: missing rows before it: it was chained to a row that is no longer in the "
                 "log (the last intact row is %s)",
                 w->bad, w->rows ? w->last : "none");
    w->state = 2;
}

/* The head recorded beside the chain (ingest.partition_offset.chain_head,
 * audit.chain_head) must be the hash of its last row. */
static int check_head(walk *w, const char *recorded)
{
    uint8_t h[TW_CHAIN_HASH_LEN];
    if (w->state)
        return 0;
    if (!recorded || tw_chain_parse_hex(recorded, h) < 0)
        memcpy(h, tw_chain_genesis, TW_CHAIN_HASH_LEN);
    if (memcmp(h, w->rows ? w->expect : h, TW_CHAIN_HASH_LEN) == 0)
        return 0;
    snprintf(w->verdict, sizeof w->verdict,
             "%s: missing rows after it: the chain's recorded head is not its last row's hash "
             "(a truncated tail, or an altered head)",
             w->rows ? w->last : "the chain's start");
    w->state = 2;
    return -1;
}

static int report(walk *w, PGconn *pg)
{
    char hex[2 * TW_CHAIN_HASH_LEN + 1];
    judge(w, pg);
    if (w->state) {
        printf("chain %s: BROKEN after %lld intact rows: %s\n", w->name, (long long)w->rows,
               w->verdict);
        return 1;
    }
    tw_chain_hex(w->expect, hex);
    printf("chain %s: %lld rows ok, head %s\n", w->name, (long long)w->rows, hex);
    return 0;
}

static int64_t be64(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | u[i];
    return (int64_t)v;
}

static int32_t be32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (int32_t)((uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3]);
}

/* Recorded heads of the partitions' chains, "topic/partition" -> hex. */
typedef struct heads {
    PGresult *r;
} heads;

static const char *recorded_head(const heads *h, const char *topic, int32_t partition)
{
    for (int i = 0; i < PQntuples(h->r); i++)
        if (!strcmp(PQgetvalue(h->r, i, 0), topic) && atoi(PQgetvalue(h->r, i, 1)) == partition)
            return PQgetisnull(h->r, i, 2) ? NULL : PQgetvalue(h->r, i, 2);
    return NULL;
}

static const char *SQL_EVENTS =
    "SELECT seq, event_id, topic, kafka_partition, kafka_offset, payload, prev_hash, hash"
    " FROM audit.event_log WHERE $1::timestamptz IS NULL OR logged_at >= $1::timestamptz"
    " ORDER BY topic, kafka_partition, kafka_offset, seq";

static const char *SQL_ACTIONS =
    "SELECT seq, audit.action_canonical(seq, at, db_role, by_name, action, subject, detail),"
    " prev_hash, hash FROM audit.action_log"
    " WHERE $1::timestamptz IS NULL OR at >= $1::timestamptz ORDER BY seq";

/* Walks the partitions' chains; returns the number of broken chains, -1 on
 * a database error. */
static int verify_events(PGconn *pg, const char *from, const heads *h, tw_anchor_set *anchors)
{
    const char *params[] = {from};
    int broken = 0, started = 0;
    walk w;
    if (!PQsendQueryParams(pg, SQL_EVENTS, 1, NULL, params, NULL, NULL, 1) ||
        !PQsetSingleRowMode(pg)) {
        fprintf(stderr, "twinctl audit verify: read the event log: %s", PQerrorMessage(pg));
        return -1;
    }
    PGresult *r;
    int failed = 0;
    /* Judging needs the connection: finished chains wait until the scan ends. */
    size_t nfin = 0, capfin = 0;
    walk *fin = NULL;
    while ((r = PQgetResult(pg))) {
        if (PQresultStatus(r) == PGRES_SINGLE_TUPLE) {
            char id[200], uuid[TW_UUID_STRLEN + 1];
            const char *topic = PQgetvalue(r, 0, 2);
            int32_t part = be32(PQgetvalue(r, 0, 3));
            int64_t off = be64(PQgetvalue(r, 0, 4)), seq = be64(PQgetvalue(r, 0, 0));
            uint8_t computed[TW_CHAIN_HASH_LEN];
            if (!started || part != w.partition || strcmp(topic, w.topic) != 0) {
                if (started) {
                    if (nfin == capfin) {
                        capfin = capfin ? 2 * capfin : 16;
                        walk *t = realloc(fin, capfin * sizeof *t);
                        if (!t) {
                            failed = 1;
                            PQclear(r);
                            continue;
                        }
                        fin = t;
                    }
                    fin[nfin++] = w;
                }
                walk_start(&w, topic, part);
                started = 1;
            }
            tw_uuid_format((const uint8_t *)PQgetvalue(r, 0, 1), uuid);
            snprintf(id, sizeof id, "offset %lld (seq %lld, event %s)", (long long)off,
                     (long long)seq, uuid);
            if (PQgetlength(r, 0, 6) != TW_CHAIN_HASH_LEN ||
                PQgetlength(r, 0, 7) != TW_CHAIN_HASH_LEN) {
                if (w.state == 0) {
                    snprintf(w.verdict, sizeof w.verdict, "%s: altered: its links are not hashes",
                             id);
                    w.state = 2;
                }
            } else if (tw_chain_event((const uint8_t *)PQgetvalue(r, 0, 6),
                                      (const uint8_t *)PQgetvalue(r, 0, 1), topic, part, off,
                                      (const uint8_t *)PQgetvalue(r, 0, 5),
                                      (size_t)PQgetlength(r, 0, 5), computed) < 0) {
                failed = 1;
            } else {
                walk_row(&w, id, (const uint8_t *)PQgetvalue(r, 0, 6),
                         (const uint8_t *)PQgetvalue(r, 0, 7), computed, from != NULL);
                if (anchors && w.state == 0)
                    tw_anchor_seen(anchors, topic, part, off, w.expect);
            }
        } else if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            char line[400];
            fprintf(stderr, "twinctl audit verify: read the event log: %s\n",
                    tw_pg_errline(PQresultErrorMessage(r), line, sizeof line));
            failed = 1;
        }
        PQclear(r);
    }
    if (started && !failed) {
        if (nfin == capfin) {
            walk *t = realloc(fin, (capfin + 1) * sizeof *t);
            if (t)
                fin = t;
            else
                failed = 1;
        }
        if (!failed)
            fin[nfin++] = w;
    }
    for (size_t i = 0; !failed && i < nfin; i++) {
        check_head(&fin[i], recorded_head(h, fin[i].topic, fin[i].partition));
        broken += report(&fin[i], pg);
    }
    /* A recorded head whose chain has no rows at all: all of them are gone. */
    for (int i = 0; !failed && !from && i < PQntuples(h->r); i++) {
        int found = 0;
        if (PQgetisnull(h->r, i, 2))
            continue;
        for (size_t j = 0; j < nfin && !found; j++)
            found = !strcmp(fin[j].topic, PQgetvalue(h->r, i, 0)) &&
                    fin[j].partition == atoi(PQgetvalue(h->r, i, 1));
        if (!found) {
            printf("chain %s/p%s: BROKEN: every row is missing (its recorded head is %s)\n",
                   PQgetvalue(h->r, i, 0), PQgetvalue(h->r, i, 1), PQgetvalue(h->r, i, 2));
            broken++;
        }
    }
    free(fin);
    return failed ? -1 : broken;
}

static int verify_actions(PGconn *pg, const char *from)
{
    const char *params[] = {from};
    walk w;
    int rc = 0;
    walk_start(&w, "", -1);
    PGresult *r = PQexecParams(pg, SQL_ACTIONS, 1, NULL, params, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char line[400];
        fprintf(stderr, "twinctl audit verify: read the operator actions: %s\n",
                tw_pg_errline(PQresultErrorMessage(r), line, sizeof line));
        PQclear(r);
        return -1;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        char id[64];
        uint8_t computed[TW_CHAIN_HASH_LEN];
        snprintf(id, sizeof id, "seq %lld", (long long)be64(PQgetvalue(r, i, 0)));
        if (PQgetlength(r, i, 2) != TW_CHAIN_HASH_LEN ||
            PQgetlength(r, i, 3) != TW_CHAIN_HASH_LEN ||
            tw_chain_link((const uint8_t *)PQgetvalue(r, i, 2),
                          (const uint8_t *)PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1),
                          computed) < 0) {
            rc = -1;
            break;
        }
        walk_row(&w, id, (const uint8_t *)PQgetvalue(r, i, 2), (const uint8_t *)PQgetvalue(r, i, 3),
                 computed, from != NULL);
    }
    PQclear(r);
    if (rc < 0)
        return -1;
    r = PQexec(pg, "SELECT encode(hash, 'hex') FROM audit.chain_head WHERE chain = 'operator'");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return -1;
    }
    if (PQntuples(r) == 1)
        check_head(&w, PQgetvalue(r, 0, 0));
    PQclear(r);
    return report(&w, pg);
}

static int verify(int argc, char **argv)
{
    const char *from = NULL;
    int rc = TW_EXIT_FAIL, with_anchors = 0;
    char fromts[64];
    tw_anchor_set *anchors = NULL;
    static const struct option opts[] = {{"from", required_argument, NULL, 'f'},
                                         {"anchors", no_argument, NULL, 'a'},
                                         {NULL, 0, NULL, 0}};
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "f:a", opts, NULL)) != -1;) {
        if (c == 'f') {
            int32_t d;
            if (tw_date_parse(optarg, &d) < 0)
                return twctl_usage_error("audit verify", "--from %s: expected a date YYYY-MM-DD",
                                         optarg);
            snprintf(fromts, sizeof fromts, "%s 00:00:00+00", optarg);
            from = fromts;
        } else if (c == 'a') {
            with_anchors = 1;
        } else {
            return TW_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return twctl_usage_error("audit verify", "unexpected argument \"%s\"\n%s", argv[optind],
                                 USAGE);
    if (with_anchors && from)
        return twctl_usage_error("audit verify", "--anchors checks whole chains: not with --from");
    if (with_anchors) {
        char err[600];
        /* Read before the snapshot: every anchor published so far must be in it. */
        if (!(anchors = tw_anchor_read(twctl_brokers(), twctl_config(), err, sizeof err))) {
            fprintf(stderr, "twinctl audit verify: read the anchors: %s\n", err);
            return TW_EXIT_FAIL;
        }
    }
    PGconn *pg = twctl_pg();
    heads h = {NULL};
    if (twctl_exec(pg, "begin", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") < 0)
        goto done;
    h.r = PQexec(pg, "SELECT topic, kafka_partition, encode(chain_head, 'hex')"
                     " FROM ingest.partition_offset ORDER BY 1, 2");
    if (PQresultStatus(h.r) != PGRES_TUPLES_OK) {
        char line[400];
        fprintf(stderr, "twinctl audit verify: read the chain heads: %s\n",
                tw_pg_errline(PQresultErrorMessage(h.r), line, sizeof line));
        goto done;
    }
    int be = verify_events(pg, from, &h, anchors);
    int ba = be < 0 ? -1 : verify_actions(pg, from);
    if (be < 0 || ba < 0)
        goto done;
    int bad = be + ba;
    if (anchors)
        bad += tw_anchor_report(anchors, stdout);
    if (bad) {
        printf("audit verify: %d chain(s) broken\n", bad);
        goto done;
    }
    if (anchors)
        printf("audit verify: every chain intact, and all %zu anchors found in them\n",
               tw_anchor_count(anchors));
    else
        printf("audit verify: every chain intact\n");
    rc = TW_EXIT_OK;
done:
    PQclear(h.r);
    tw_anchor_free(anchors);
    PQfinish(pg);
    return rc;
}

static const char *SQL_TRAIL =
    "WITH ev AS ("
    "  SELECT occurred_at AS at, 'event' AS kind,"
    "   format('%s p%s@%s %s (%s/%s)', event_type, kafka_partition, kafka_offset, event_id,"
    "   source_system, source_ref) AS what, '' AS who"
    "  FROM audit.event_log"
    "  WHERE ($1 = 'pledge' AND agency_code = $2 AND pledge_id = $3)"
    "     OR ($1 = 'twinning' AND agency_code = $2 AND locality_code = $3)),"
    " ac AS ("
    "  SELECT at, 'action' AS kind, format('%s %s', action, detail) AS what,"
    "   format('%s (role %s), action %s', by_name, db_role, seq) AS who"
    "  FROM audit.action_log WHERE subject = $4"
    /* the sentinel's transitions are audit rows too (013); al shows them */
    "   AND (action NOT LIKE 'alert.%' OR action = 'alert.acknowledge')),"
    " al AS ("
    "  SELECT at, 'alert' AS kind, format('%s -> %s (%s): %s', kind, state, severity, summary_en)"
    "   AS what, by_name AS who"
    "  FROM alerting.alert_history WHERE $1 = 'alert' AND alert_id::text = $2)"
    " SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), kind, what, who"
    " FROM (SELECT * FROM ev UNION ALL SELECT * FROM ac UNION ALL SELECT * FROM al) t"
    " ORDER BY at, kind";

static int trail(int argc, char **argv)
{
    const char *subject = NULL;
    char kind[16] = "", a[256] = "", b[256] = "";
    static const struct option opts[] = {{"subject", required_argument, NULL, 's'},
                                         {NULL, 0, NULL, 0}};
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "s:", opts, NULL)) != -1;) {
        if (c == 's')
            subject = optarg;
        else
            return TW_EXIT_USAGE;
    }
    if (optind < argc)
        return twctl_usage_error("audit trail", "unexpected argument \"%s\"\n%s", argv[optind],
                                 USAGE);
    if (!subject)
        return twctl_usage_error("audit trail", "--subject is required\n%s", USAGE);
    const char *colon = strchr(subject, ':');
    const char *rest = colon ? colon + 1 : "";
    size_t kl = colon ? (size_t)(colon - subject) : 0;
    const char *sep = NULL;
    if (kl == 6 && !strncmp(subject, "pledge", 6))
        sep = strchr(rest, '/');
    else if (kl == 8 && !strncmp(subject, "twinning", 8))
        sep = strchr(rest, '|');
    else if (kl == 5 && !strncmp(subject, "alert", 5)) {
        uint8_t u[16];
        if (tw_uuid_parse(rest, u) < 0)
            return twctl_usage_error("audit trail", "alert:%s: expected an alert id (a UUID)",
                                     rest);
        snprintf(kind, sizeof kind, "alert");
        snprintf(a, sizeof a, "%s", rest);
    } else
        return twctl_usage_error("audit trail",
                                 "--subject %s: expected pledge:AGENCY/PLEDGE, "
                                 "twinning:AGENCY|LOCALITY or alert:ID",
                                 subject);
    if (!kind[0]) {
        if (!sep || sep == rest || !sep[1] || (size_t)(sep - rest) >= sizeof a ||
            strlen(sep + 1) >= sizeof b)
            return twctl_usage_error("audit trail", "--subject %s: expected %s", subject,
                                     kl == 6 ? "pledge:AGENCY/PLEDGE" : "twinning:AGENCY|LOCALITY");
        snprintf(kind, sizeof kind, "%.*s", (int)kl, subject);
        snprintf(a, sizeof a, "%.*s", (int)(sep - rest), rest);
        snprintf(b, sizeof b, "%s", sep + 1);
    }
    PGconn *pg = twctl_pg();
    const char *params[] = {kind, a, b, subject};
    PGresult *r = PQexecParams(pg, SQL_TRAIL, 4, NULL, params, NULL, NULL, 0);
    int rc = TW_EXIT_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char line[400];
        fprintf(stderr, "twinctl audit trail: %s\n",
                tw_pg_errline(PQresultErrorMessage(r), line, sizeof line));
        rc = TW_EXIT_FAIL;
    } else if (PQntuples(r) == 0) {
        fprintf(stderr, "twinctl audit trail: nothing recorded for %s\n", subject);
        rc = TW_EXIT_FAIL;
    } else {
        for (int i = 0; i < PQntuples(r); i++)
            printf("%s  %-6s  %s%s%s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
                   PQgetvalue(r, i, 2), *PQgetvalue(r, i, 3) ? "  by " : "", PQgetvalue(r, i, 3));
    }
    PQclear(r);
    PQfinish(pg);
    return rc;
}

int twctl_audit(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? TW_EXIT_USAGE : TW_EXIT_OK;
    }
    if (!strcmp(argv[1], "verify"))
        return verify(argc - 1, argv + 1);
    if (!strcmp(argv[1], "trail"))
        return trail(argc - 1, argv + 1);
    return twctl_usage_error("audit", "unknown subcommand \"%s\" (verify, trail)", argv[1]);
}
