/* provenance.c: an event's provenance from its Kafka headers, and Ed25519
 * signatures (provenance.h). */
#include "provenance.h"

#include <libpq-fe.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

void tw_provenance_read(const rd_kafka_message_t *m, tw_provenance *p)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *v;
    size_t n;
    memset(p, 0, sizeof *p);
    snprintf(p->who, sizeof p->who, "direct");
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR || !hdrs)
        return;
    if (rd_kafka_header_get_last(hdrs, TW_HDR_GATEWAY_TOKEN, &v, &n) == 0 && v && n > 0) {
        snprintf(p->who, sizeof p->who, "gateway:%.*s", (int)n, (const char *)v);
        snprintf(p->token_id, sizeof p->token_id, "%.*s", (int)n, (const char *)v);
        if (rd_kafka_header_get_last(hdrs, TW_HDR_GATEWAY_MAC, &v, &n) == 0 && v &&
            n == TW_MAC_LEN) {
            memcpy(p->mac, v, TW_MAC_LEN);
            p->has_mac = 1;
        }
    } else if (rd_kafka_header_get_last(hdrs, TW_HDR_OPERATOR, &v, &n) == 0 && v && n > 0)
        snprintf(p->who, sizeof p->who, "twinctl:%.*s", (int)n, (const char *)v);
    if (rd_kafka_header_get_last(hdrs, TW_HDR_SIGNATURE, &v, &n) == 0 && v) {
        if (n == TW_SIG_LEN) {
            memcpy(p->sig, v, TW_SIG_LEN);
            p->has_sig = 1;
        } else {
            p->bad_header = 1;
        }
    }
}

int tw_sig_verify(const uint8_t sig[TW_SIG_LEN], const uint8_t *msg, size_t len,
                  const uint8_t key[TW_KEY_LEN])
{
    static int ready;
    if (!ready) {
        if (sodium_init() < 0)
            return -1;
        ready = 1;
    }
    return crypto_sign_verify_detached(sig, msg, len, key) == 0;
}

int tw_secret_load(const char *path, uint8_t *out, size_t cap, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    size_t n;
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium cannot start");
        if (f)
            fclose(f);
        return -1;
    }
    if (!f) {
        snprintf(err, errlen, "%s: cannot read it", path);
        return -1;
    }
    n = fread(out, 1, cap, f);
    fclose(f);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        n--;
    if (n < 32) {
        snprintf(err, errlen, "%s: a secret of at least 32 bytes is needed (openssl rand -hex 32)",
                 path);
        return -1;
    }
    return (int)n;
}

void tw_gateway_mac(const uint8_t *secret, size_t slen, const char *token_id, const void *value,
                    size_t len, uint8_t out[TW_MAC_LEN])
{
    crypto_auth_hmacsha256_state st;
    static const uint8_t zero = 0;
    crypto_auth_hmacsha256_init(&st, secret, slen);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)token_id, strlen(token_id));
    crypto_auth_hmacsha256_update(&st, &zero, 1);
    crypto_auth_hmacsha256_update(&st, value, len);
    crypto_auth_hmacsha256_final(&st, out);
}

#define RELOAD_MIN_S 2.0 /* a miss reloads the keys at most this often */

typedef struct agency_key {
    char agency[64];
    uint8_t key[TW_KEY_LEN];
} agency_key;

struct tw_keyring {
    char *conninfo;
    PGconn *conn;
    agency_key *keys;
    size_t n;
    double loaded_at; /* 0: never */
    char err[256];
    uint8_t secret[TW_SECRET_MAX]; /* the gateway's, when set */
    size_t secret_len;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

tw_keyring *tw_keyring_new(const char *conninfo)
{
    tw_keyring *k = calloc(1, sizeof *k);
    if (k && !(k->conninfo = strdup(conninfo ? conninfo : ""))) {
        free(k);
        return NULL;
    }
    return k;
}

void tw_keyring_set_gateway_secret(tw_keyring *k, const uint8_t *secret, size_t len)
{
    k->secret_len = len < sizeof k->secret ? len : sizeof k->secret;
    memcpy(k->secret, secret, k->secret_len);
}

void tw_keyring_free(tw_keyring *k)
{
    if (!k)
        return;
    if (k->conn)
        PQfinish(k->conn);
    free(k->keys);
    free(k->conninfo);
    free(k);
}

/* Reads every key not revoked; keeps the old set when it cannot. */
static void reload(tw_keyring *k)
{
    PGresult *r = NULL;
    k->loaded_at = now_s();
    if (!k->conn || PQstatus(k->conn) != CONNECTION_OK) {
        if (k->conn)
            PQfinish(k->conn);
        k->conn = PQconnectdb(k->conninfo);
        if (PQstatus(k->conn) != CONNECTION_OK) {
            snprintf(k->err, sizeof k->err, "agency keys: connect: %s", PQerrorMessage(k->conn));
            PQfinish(k->conn);
            k->conn = NULL;
            return;
        }
    }
    r = PQexecParams(k->conn,
                     "SELECT agency_code, public_key FROM gateway.agency_key"
                     " WHERE revoked_at IS NULL",
                     0, NULL, NULL, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(k->err, sizeof k->err, "agency keys: %s", PQresultErrorMessage(r));
        PQclear(r);
        return;
    }
    agency_key *keys = calloc((size_t)PQntuples(r) + 1, sizeof *keys);
    if (!keys) {
        PQclear(r);
        return;
    }
    size_t n = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        if (PQgetlength(r, i, 1) != TW_KEY_LEN)
            continue;
        snprintf(keys[n].agency, sizeof keys[n].agency, "%s", PQgetvalue(r, i, 0));
        memcpy(keys[n].key, PQgetvalue(r, i, 1), TW_KEY_LEN);
        n++;
    }
    PQclear(r);
    free(k->keys);
    k->keys = keys;
    k->n = n;
    k->err[0] = '\0';
    tw_debug("agency keys: %zu loaded", n);
}

/* 1 when a key of agency verifies sig over msg. */
static int verified(const tw_keyring *k, const char *agency, const uint8_t *sig, const uint8_t *msg,
                    size_t len)
{
    for (size_t i = 0; i < k->n; i++)
        if (!strcmp(k->keys[i].agency, agency) && tw_sig_verify(sig, msg, len, k->keys[i].key) == 1)
            return 1;
    return 0;
}

int tw_provenance_check(tw_keyring *k, const tw_provenance *p, const char *agency,
                        const uint8_t *canon, size_t len, const void *value, size_t vlen,
                        int require, tw_reject *rej)
{
    if (p->token_id[0] && k && k->secret_len) {
        uint8_t mac[TW_MAC_LEN];
        tw_gateway_mac(k->secret, k->secret_len, p->token_id, value, vlen, mac);
        if (!p->has_mac || sodium_memcmp(mac, p->mac, TW_MAC_LEN) != 0)
            return tw_reject_set(rej, TW_R_BAD_SIGNATURE,
                                 "a %s header without the gateway's valid %s: not from the gateway",
                                 TW_HDR_GATEWAY_TOKEN, TW_HDR_GATEWAY_MAC);
    }
    if (p->bad_header)
        return tw_reject_set(rej, TW_R_BAD_SIGNATURE,
                             "the %s header is not a %d-byte Ed25519 signature", TW_HDR_SIGNATURE,
                             TW_SIG_LEN);
    if (p->has_sig) {
        if (!k)
            return tw_reject_set(rej, TW_R_BAD_SIGNATURE, "no agency keys to check it against");
        if (!k->loaded_at)
            reload(k);
        if (verified(k, agency, p->sig, canon, len))
            return 0;
        if (now_s() - k->loaded_at >= RELOAD_MIN_S) {
            reload(k);
            if (verified(k, agency, p->sig, canon, len))
                return 0;
        }
        return tw_reject_set(rej, TW_R_BAD_SIGNATURE,
                             "the signature does not verify with any key registered for %s%s%s",
                             agency, k->err[0] ? ": " : " (twinctl keys add)", k->err);
    }
    if (require && !strcmp(p->who, "direct"))
        return tw_reject_set(rej, TW_R_UNAUTHENTICATED,
                             "ingest.require_provenance: neither through the gateway or twinctl "
                             "publish nor signed by %s",
                             agency);
    return 0;
}
