/* tokens.c: twinctl tokens issue|list|revoke, the agency gateway's
 * credentials (schemas/040_gateway_tokens.sql). A token is 256 random bits,
 * printed once; the database keeps only its SHA-256 (tw_token_hash, the
 * same function the gateway hashes a presented token with). Issue and
 * revoke are audited actions on the operator chain, in the transaction of
 * the change. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"
#include "token.h"
#include "twinctl.h"

static const char *USAGE =
    "usage: twinctl tokens issue --agency CODE --name TEXT [--expires DATE|TIME] --by NAME\n"
    "       twinctl tokens list [--agency CODE] [--json]\n"
    "       twinctl tokens revoke ID --by NAME\n"
    "A token lets one agency's system post events to the gateway (POST /v1/events) for that\n"
    "agency only. issue prints the token ONCE: give it to the agency's IT staff over a safe\n"
    "channel; only its hash is kept. --expires takes a date (valid to the end of that day,\n"
    "Asia/Ho_Chi_Minh) or a time with zone. A revocation or an expiry applies to the next\n"
    "request. issue and revoke are recorded in the audit trail with --by NAME.\n";

static int fail_pg(const char *what, PGresult *r)
{
    char line[400];
    fprintf(stderr, "twinctl tokens %s: %s\n", what,
            tw_pg_errline(PQresultErrorMessage(r), line, sizeof line));
    PQclear(r);
    return TW_EXIT_FAIL;
}

static int issue_token(const char *agency, const char *name, const char *expires, const char *by)
{
    char token[TW_TOKEN_MAX], hex[65], detail[512];
    uint8_t hash[32];
    PGconn *pg;
    PGresult *r;
    int rc = TW_EXIT_FAIL;

    if (tw_token_new(token, sizeof token) < 0) {
        fprintf(stderr, "twinctl tokens issue: no random bytes from the system\n");
        return TW_EXIT_FAIL;
    }
    tw_token_hash(token, strlen(token), hash);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", hash[i]);
    pg = twctl_pg();
    if (twctl_exec(pg, "begin", "BEGIN") < 0)
        goto done;
    const char *p[] = {agency, name, hex, by, expires};
    r = PQexecParams(pg,
                     "INSERT INTO gateway.token (agency_code, name, token_hash, issued_by,"
                     " expires_at) VALUES ($1, $2, decode($3, 'hex'), $4,"
                     " CASE WHEN $5 ~ '^\\d{4}-\\d{2}-\\d{2}$'"
                     "  THEN (($5::date + 1)::timestamp AT TIME ZONE 'Asia/Ho_Chi_Minh')"
                     "  ELSE $5::timestamptz END)"
                     " RETURNING id, expires_at, expires_at IS NOT NULL AND expires_at <= now()",
                     5, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (st && !strcmp(st, "23503")) {
            fprintf(stderr, "twinctl tokens issue: no agency \"%s\" in the reference data\n",
                    agency);
            PQclear(r);
            goto done;
        }
        fail_pg("issue", r);
        goto done;
    }
    if (!strcmp(PQgetvalue(r, 0, 2), "t")) {
        fprintf(stderr, "twinctl tokens issue: --expires %s is already past\n", expires);
        PQclear(r);
        goto done;
    }
    char id[32], subject[48];
    snprintf(id, sizeof id, "%s", PQgetvalue(r, 0, 0));
    snprintf(subject, sizeof subject, "token:%s", id);
    snprintf(detail, sizeof detail, "{\"agency\": \"%s\", \"expires_at\": %s%s%s}", agency,
             PQgetisnull(r, 0, 1) ? "" : "\"", PQgetisnull(r, 0, 1) ? "null" : PQgetvalue(r, 0, 1),
             PQgetisnull(r, 0, 1) ? "" : "\"");
    PQclear(r);
    /* the name goes in through jsonb_build_object, escaped by PostgreSQL */
    const char *p2[] = {by, subject, detail, name};
    r = PQexecParams(pg,
                     "SELECT audit.record_action($1, 'token.issue', $2,"
                     " $3::jsonb || jsonb_build_object('name', $4::text))",
                     4, NULL, p2, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fail_pg("issue: record in the audit trail", r);
        goto done;
    }
    PQclear(r);
    if (twctl_exec(pg, "commit", "COMMIT") < 0)
        goto done;
    printf("token %s for %s (\"%s\"), issued by %s%s%s\n", id, agency, name, by,
           expires ? ", expires " : "", expires ? expires : "");
    printf("%s\n", token);
    fprintf(stderr, "This is the only time the token is shown: only its hash is kept.\n");
    rc = TW_EXIT_OK;
done:
    PQfinish(pg);
    return rc;
}

static int list_tokens(const char *agency, int json)
{
    PGconn *pg = twctl_pg();
    const char *p[] = {agency};
    PGresult *r = PQexecParams(
        pg,
        json ? "SELECT coalesce(json_agg(json_build_object('id', id, 'agency', agency_code,"
               " 'name', name, 'issued_at', issued_at, 'issued_by', issued_by, 'expires_at',"
               " expires_at, 'revoked_at', revoked_at, 'revoked_by', revoked_by, 'state',"
               " CASE WHEN revoked_at IS NOT NULL THEN 'revoked' WHEN expires_at <= now()"
               " THEN 'expired' ELSE 'active' END) ORDER BY id), '[]')"
               " FROM gateway.token WHERE $1::text IS NULL OR agency_code = $1"
             : "SELECT id, agency_code, CASE WHEN revoked_at IS NOT NULL THEN 'revoked'"
               " WHEN expires_at <= now() THEN 'expired' ELSE 'active' END,"
               " to_char(issued_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), issued_by,"
               " coalesce(to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), '-'),"
               " name FROM gateway.token WHERE $1::text IS NULL OR agency_code = $1 ORDER BY id",
        1, NULL, p, NULL, NULL, 0);
    int rc = TW_EXIT_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = fail_pg("list", r);
        PQfinish(pg);
        return rc;
    }
    if (json) {
        printf("%s\n", PQgetvalue(r, 0, 0));
    } else {
        printf("%-5s %-20s %-8s %-17s %-12s %-17s %s\n", "id", "agency", "state", "issued (UTC)",
               "by", "expires (UTC)", "name");
        for (int i = 0; i < PQntuples(r); i++)
            printf("%-5s %-20s %-8s %-17s %-12s %-17s %s\n", PQgetvalue(r, i, 0),
                   PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3),
                   PQgetvalue(r, i, 4), PQgetvalue(r, i, 5), PQgetvalue(r, i, 6));
    }
    PQclear(r);
    PQfinish(pg);
    return rc;
}

static int revoke_token(const char *id, const char *by)
{
    PGconn *pg = twctl_pg();
    PGresult *r;
    int rc = TW_EXIT_FAIL;
    char subject[48];
    const char *p[] = {id, by};

    if (twctl_exec(pg, "begin", "BEGIN") < 0)
        goto done;
    r = PQexecParams(pg,
                     "UPDATE gateway.token SET revoked_at = now(), revoked_by = $2"
                     " WHERE id = $1::int8 AND revoked_at IS NULL RETURNING agency_code, name",
                     2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fail_pg("revoke", r);
        goto done;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        r = PQexecParams(pg, "SELECT revoked_at FROM gateway.token WHERE id = $1::int8", 1, NULL, p,
                         NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
            fprintf(stderr, "twinctl tokens revoke: token %s was revoked already (%s)\n", id,
                    PQgetvalue(r, 0, 0));
        else
            fprintf(stderr, "twinctl tokens revoke: no token %s (twinctl tokens list)\n", id);
        PQclear(r);
        goto done;
    }
    char agency[128];
    snprintf(agency, sizeof agency, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    snprintf(subject, sizeof subject, "token:%s", id);
    const char *p2[] = {by, subject, agency};
    r = PQexecParams(pg,
                     "SELECT audit.record_action($1, 'token.revoke', $2,"
                     " jsonb_build_object('agency', $3::text))",
                     3, NULL, p2, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fail_pg("revoke: record in the audit trail", r);
        goto done;
    }
    PQclear(r);
    if (twctl_exec(pg, "commit", "COMMIT") < 0)
        goto done;
    printf("token %s of %s revoked by %s; the gateway refuses it from the next request\n", id,
           agency, by);
    rc = TW_EXIT_OK;
done:
    PQfinish(pg);
    return rc;
}

int twctl_tokens(int argc, char **argv)
{
    const char *agency = NULL, *name = NULL, *expires = NULL, *by = NULL;
    int json = 0;
    static const struct option opts[] = {{"agency", required_argument, NULL, 'a'},
                                         {"name", required_argument, NULL, 'n'},
                                         {"expires", required_argument, NULL, 'e'},
                                         {"by", required_argument, NULL, 'b'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    if (argc < 2)
        return twctl_usage_error("tokens", "issue, list or revoke ID (twinctl tokens --help)");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(USAGE, stdout);
        return TW_EXIT_OK;
    }
    const char *sub = argv[1];
    /* the sub-command's options: argv[1] plays the program name */
    argc--;
    argv++;
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "a:n:e:b:jh", opts, NULL)) != -1;) {
        switch (c) {
        case 'a':
            agency = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'e':
            expires = optarg;
            break;
        case 'b':
            by = optarg;
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            fputs(USAGE, stdout);
            return TW_EXIT_OK;
        default:
            return TW_EXIT_USAGE;
        }
    }
    int nrest = argc - optind;
    char **rest = argv + optind;
    if (!strcmp(sub, "issue")) {
        if (nrest)
            return twctl_usage_error("tokens", "issue: unexpected argument \"%s\"", rest[0]);
        if (!agency || !*agency)
            return twctl_usage_error("tokens", "issue: --agency CODE is needed");
        if (!name || !*name)
            return twctl_usage_error("tokens",
                                     "issue: --name TEXT is needed (whose system it is for)");
        if (!by || !*by)
            return twctl_usage_error("tokens", "issue: --by NAME is needed (it is audited)");
        return issue_token(agency, name, expires, by);
    }
    if (!strcmp(sub, "list")) {
        if (nrest)
            return twctl_usage_error("tokens", "list: unexpected argument \"%s\"", rest[0]);
        return list_tokens(agency, json);
    }
    if (!strcmp(sub, "revoke")) {
        if (nrest != 1)
            return twctl_usage_error("tokens", "revoke ID --by NAME: give one token id");
        char *end;
        long long v = strtoll(rest[0], &end, 10);
        if (!*rest[0] || *end || v <= 0)
            return twctl_usage_error("tokens", "revoke: \"%s\" is not a token id", rest[0]);
        if (!by || !*by)
            return twctl_usage_error("tokens", "revoke: --by NAME is needed (it is audited)");
        return revoke_token(rest[0], by);
    }
    return twctl_usage_error("tokens", "unknown sub-command \"%s\" (issue, list, revoke)", sub);
}
