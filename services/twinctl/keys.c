/* keys.c: twinctl keys add|list, the Ed25519 public keys of agencies that
 * produce to Kafka themselves and sign their events (provenance.h). The
 * projector checks each signed event against its agency's keys; twinctl
 * audit verify checks the stored signatures again. Adding a key is an
 * audited action on the operator chain, in the transaction of the insert. */
#include <getopt.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"
#include "provenance.h"
#include "twinctl.h"
#include "uuid.h"

static const char *USAGE =
    "usage: twinctl keys add --agency CODE --by NAME FILE\n"
    "       twinctl keys list [--agency CODE]\n"
    "FILE holds the agency's Ed25519 public key: PEM (openssl pkey -pubout), 64 hex digits,\n"
    "base64, or the 32 raw bytes. The agency signs each event's canonical bytes (the packed\n"
    "protobuf Event) with its private key and sends the 64-byte signature in the Kafka\n"
    "header tw-signature. Adding a key is recorded in the audit trail with --by NAME.\n";

/* The 12 bytes before the key in an Ed25519 SubjectPublicKeyInfo (RFC 8410). */
static const uint8_t SPKI_PREFIX[12] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                        0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};

static int b64(const char *s, size_t n, uint8_t *out, size_t cap, size_t *len)
{
    char *clean = malloc(n + 1);
    size_t m = 0, pad = 0;
    if (!clean)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (s[i] != '\n' && s[i] != '\r' && s[i] != ' ')
            clean[m++] = s[i];
    clean[m] = '\0';
    if (m % 4 || m / 4 * 3 > cap + 2) {
        free(clean);
        return -1;
    }
    int r = EVP_DecodeBlock(out, (const unsigned char *)clean, (int)m);
    pad = m >= 2 ? (clean[m - 1] == '=') + (clean[m - 2] == '=') : 0;
    free(clean);
    if (r < 0)
        return -1;
    *len = (size_t)r - pad;
    return 0;
}

/* Reads the public key in path; -1 with the reason printed. */
static int read_key(const char *path, uint8_t key[TW_KEY_LEN])
{
    char buf[4096];
    uint8_t der[256];
    size_t n, len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (n == TW_KEY_LEN) {
        memcpy(key, buf, TW_KEY_LEN);
        return 0;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    char *begin = strstr(buf, "-----BEGIN PUBLIC KEY-----");
    if (begin) {
        char *body = begin + strlen("-----BEGIN PUBLIC KEY-----");
        char *end = strstr(body, "-----END PUBLIC KEY-----");
        if (end && b64(body, (size_t)(end - body), der, sizeof der, &len) == 0 && len == 44 &&
            !memcmp(der, SPKI_PREFIX, sizeof SPKI_PREFIX)) {
            memcpy(key, der + 12, TW_KEY_LEN);
            return 0;
        }
        fprintf(stderr, "twinctl keys add: %s: a PEM public key, but not an Ed25519 one\n", path);
        return -1;
    }
    if (n == 2 * TW_KEY_LEN) {
        size_t i;
        for (i = 0; i < TW_KEY_LEN; i++) {
            int hi = tw_hex_value(buf[2 * i]), lo = tw_hex_value(buf[2 * i + 1]);
            if (hi < 0 || lo < 0)
                break;
            key[i] = (uint8_t)(hi << 4 | lo);
        }
        if (i == TW_KEY_LEN)
            return 0;
    }
    if (b64(buf, n, der, sizeof der, &len) == 0 && len == TW_KEY_LEN) {
        memcpy(key, der, TW_KEY_LEN);
        return 0;
    }
    fprintf(stderr,
            "twinctl keys add: %s: not an Ed25519 public key (PEM, 64 hex digits, base64 or 32 "
            "raw bytes)\n",
            path);
    return -1;
}

static int add_key(const char *agency, const char *by, const char *path)
{
    uint8_t key[TW_KEY_LEN];
    char hex[2 * TW_KEY_LEN + 1], line[400];
    PGconn *pg;
    PGresult *r;
    int rc = TW_EXIT_FAIL;
    if (read_key(path, key) < 0)
        return TW_EXIT_FAIL;
    for (int i = 0; i < TW_KEY_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", key[i]);
    pg = twctl_pg();
    if (twctl_exec(pg, "begin", "BEGIN") < 0)
        goto done;
    const char *p[] = {agency, hex, by};
    r = PQexecParams(pg,
                     "INSERT INTO gateway.agency_key (agency_code, public_key, added_by)"
                     " VALUES ($1, decode($2, 'hex'), $3) RETURNING id",
                     3, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (st && !strcmp(st, "23503"))
            fprintf(stderr, "twinctl keys add: no agency \"%s\" in the reference data\n", agency);
        else if (st && !strcmp(st, "23505"))
            fprintf(stderr, "twinctl keys add: this key is registered already\n");
        else
            fprintf(stderr, "twinctl keys add: %s\n",
                    tw_pg_errline(PQresultErrorMessage(r), line, sizeof line));
        PQclear(r);
        goto done;
    }
    char id[32], subject[48];
    snprintf(id, sizeof id, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    snprintf(subject, sizeof subject, "key:%s", id);
    const char *p2[] = {by, subject, agency, hex};
    if (PQresultStatus(r = PQexecParams(pg,
                                        "SELECT audit.record_action($1, 'key.add', $2,"
                                        " jsonb_build_object('agency', $3::text, 'public_key',"
                                        " $4::text))",
                                        4, NULL, p2, NULL, NULL, 0)) != PGRES_TUPLES_OK) {
        fprintf(stderr, "twinctl keys add: record in the audit trail: %s\n",
                tw_pg_errline(PQresultErrorMessage(r), line, sizeof line));
        PQclear(r);
        goto done;
    }
    PQclear(r);
    if (twctl_exec(pg, "commit", "COMMIT") < 0)
        goto done;
    printf("key %s of %s added by %s: %s\n", id, agency, by, hex);
    rc = TW_EXIT_OK;
done:
    PQfinish(pg);
    return rc;
}

static int list_keys(const char *agency)
{
    char line[400];
    PGconn *pg = twctl_pg();
    const char *p[] = {agency};
    PGresult *r = PQexecParams(pg,
                               "SELECT id, agency_code, encode(public_key, 'hex'),"
                               " to_char(added_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'),"
                               " added_by FROM gateway.agency_key"
                               " WHERE $1::text IS NULL OR agency_code = $1 ORDER BY id",
                               1, NULL, p, NULL, NULL, 0);
    int rc = TW_EXIT_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "twinctl keys list: %s\n",
                tw_pg_errline(PQresultErrorMessage(r), line, sizeof line));
        rc = TW_EXIT_FAIL;
    } else {
        for (int i = 0; i < PQntuples(r); i++)
            printf("%-5s %-20s %s  %s  %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
                   PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4));
    }
    PQclear(r);
    PQfinish(pg);
    return rc;
}

int twctl_keys(int argc, char **argv)
{
    const char *agency = NULL, *by = NULL;
    static const struct option opts[] = {{"agency", required_argument, NULL, 'a'},
                                         {"by", required_argument, NULL, 'b'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? TW_EXIT_USAGE : TW_EXIT_OK;
    }
    const char *sub = argv[1];
    argc--;
    argv++; /* the sub-command plays the program name for getopt */
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "a:b:h", opts, NULL)) != -1;) {
        if (c == 'a')
            agency = optarg;
        else if (c == 'b')
            by = optarg;
        else if (c == 'h') {
            fputs(USAGE, stdout);
            return TW_EXIT_OK;
        } else
            return TW_EXIT_USAGE;
    }
    if (!strcmp(sub, "add")) {
        if (optind != argc - 1)
            return twctl_usage_error("keys", "add: give one key FILE");
        if (!agency || !*agency)
            return twctl_usage_error("keys", "add: --agency CODE is needed");
        if (!by || !*by)
            return twctl_usage_error("keys", "add: --by NAME is needed (it is audited)");
        return add_key(agency, by, argv[optind]);
    }
    if (!strcmp(sub, "list")) {
        if (optind != argc)
            return twctl_usage_error("keys", "list: unexpected argument \"%s\"", argv[optind]);
        return list_keys(agency);
    }
    return twctl_usage_error("keys", "unknown sub-command \"%s\" (add, list)", sub);
}
