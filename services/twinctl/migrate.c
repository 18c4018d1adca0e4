/* migrate.c: twinctl migrate. Applies schemas/NNN_name.sql in order, each in
 * its own transaction, recording its SHA-256; a migration edited after it
 * was applied is refused rather than silently diverging. */
#include <dirent.h>
#include <getopt.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"
#include "twinctl.h"

typedef struct {
    int version;
    char name[256];
    char path[4096];
} migration;

static int by_version(const void *a, const void *b)
{
    return ((const migration *)a)->version - ((const migration *)b)->version;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
        buf[n] = '\0';
        *len = (size_t)n;
    } else {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

static void sha256_hex(const char *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
}

static int list_migrations(const char *dir, migration **out, int *n)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int cap = 0;
    *out = NULL;
    *n = 0;
    if (!d) {
        fprintf(stderr, "twinctl migrate: cannot open %s: %m\n", dir);
        return -1;
    }
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        size_t len = strlen(nm);
        if (len < 9 || strcmp(nm + len - 4, ".sql") != 0 || nm[3] != '_' || nm[0] < '0' ||
            nm[0] > '9' || nm[1] < '0' || nm[1] > '9' || nm[2] < '0' || nm[2] > '9')
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            migration *m = realloc(*out, (size_t)cap * sizeof *m);
            if (!m) {
                closedir(d);
                return -1;
            }
            *out = m;
        }
        migration *m = &(*out)[(*n)++];
        m->version = atoi(nm);
        snprintf(m->name, sizeof m->name, "%s", nm);
        snprintf(m->path, sizeof m->path, "%s/%s", dir, nm);
    }
    closedir(d);
    qsort(*out, (size_t)*n, sizeof **out, by_version);
    for (int i = 1; i < *n; i++)
        if ((*out)[i].version == (*out)[i - 1].version) {
            fprintf(stderr, "twinctl migrate: %s and %s have the same number\n", (*out)[i - 1].path,
                    (*out)[i].path);
            return -1;
        }
    return 0;
}

int twctl_migrate(int argc, char **argv)
{
    const char *dir = TW_SOURCE_DIR "/schemas";
    static const struct option opts[] = {{"dir", required_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    migration *ms = NULL;
    int n = 0, applied = 0, rc = TW_EXIT_FAIL;
    PGconn *pg = NULL;

    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1;) {
        if (c == 'd')
            dir = optarg;
        else if (c == 'h') {
            printf("usage: twinctl migrate [--dir DIR]\n"
                   "Applies DIR/NNN_name.sql (default %s) not yet applied, in order.\n",
                   TW_SOURCE_DIR "/schemas");
            return TW_EXIT_OK;
        } else
            return TW_EXIT_USAGE;
    }
    if (optind < argc)
        return twctl_usage_error("migrate", "unexpected argument \"%s\"", argv[optind]);
    if (list_migrations(dir, &ms, &n) < 0)
        goto done;
    pg = twctl_pg_owner();
    if (twctl_exec(pg, "lock", "SELECT pg_advisory_lock(16016)") < 0 ||
        twctl_exec(pg, "create the migration record",
                   "CREATE SCHEMA IF NOT EXISTS twinwatch;"
                   "CREATE TABLE IF NOT EXISTS twinwatch.schema_migration ("
                   " version integer PRIMARY KEY, name text NOT NULL, sha256 text NOT NULL,"
                   " applied_at timestamptz NOT NULL DEFAULT now())") < 0)
        goto done;
    for (int i = 0; i < n; i++) {
        size_t len;
        char sum[65], vbuf[16];
        char *sql = slurp(ms[i].path, &len);
        if (!sql) {
            fprintf(stderr, "twinctl migrate: cannot read %s\n", ms[i].path);
            goto done;
        }
        sha256_hex(sql, len, sum);
        snprintf(vbuf, sizeof vbuf, "%d", ms[i].version);
        const char *params[3] = {vbuf, ms[i].name, sum};
        PGresult *r = PQexecParams(
            pg, "SELECT name, sha256 FROM twinwatch.schema_migration WHERE version = $1", 1, NULL,
            params, NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
            if (strcmp(PQgetvalue(r, 0, 1), sum) != 0) {
                fprintf(stderr,
                        "twinctl migrate: %s was changed after it was applied (applied sha256 "
                        "%.12s…, file %.12s…): restore it and put the change in a new "
                        "migration\n",
                        ms[i].path, PQgetvalue(r, 0, 1), sum);
                PQclear(r);
                free(sql);
                goto done;
            }
            PQclear(r);
            free(sql);
            continue;
        }
        PQclear(r);
        if (twctl_exec(pg, "begin", "BEGIN") < 0) {
            free(sql);
            goto done;
        }
        char what[4200];
        snprintf(what, sizeof what, "%s", ms[i].path);
        int ok = twctl_exec(pg, what, sql) == 0;
        free(sql);
        if (ok) {
            r = PQexecParams(pg,
                             "INSERT INTO twinwatch.schema_migration (version, name, sha256)"
                             " VALUES ($1, $2, $3)",
                             3, NULL, params, NULL, NULL, 0);
            ok = PQresultStatus(r) == PGRES_COMMAND_OK;
            PQclear(r);
        }
        if (!ok || twctl_exec(pg, "commit", "COMMIT") < 0) {
            PQclear(PQexec(pg, "ROLLBACK"));
            fprintf(stderr, "twinctl migrate: %s not applied; nothing of it was kept\n",
                    ms[i].name);
            goto done;
        }
        printf("applied %s\n", ms[i].name);
        applied++;
    }
    printf("migrations: %d applied now, %d in %s, database is current\n", applied, n, dir);
    rc = TW_EXIT_OK;
done:
    free(ms);
    if (pg)
        PQfinish(pg);
    return rc;
}
