/* fuzz_config.c: a --config file (config.c), parsed from a buffer. The table
 * has one key of each kind the services use (a conninfo, an int with bounds,
 * a bool, a required string, a secret) and the kafka.* passthrough with a
 * reserved key and a value check. Properties: a refusal says
 * "FILE:LINE: reason" with a line inside the file; --print-config prints one
 * line per key and masks every secret (secret keys print ****, a conninfo's
 * password=****, a conninfo that does not parse is not echoed); and what
 * --print-config prints loads back to the same print-out (a fixed point). */
#include "fuzz.h"

#include <libpq-fe.h>

#include "config.h"

#define PATH "fuzz.conf"

static const tw_conf_def defs[] = {
    {"pg.conninfo", TW_CONF_STRING, "", 0, 0, "PostgreSQL connection (empty: PG*)"},
    {"batch.max-events", TW_CONF_INT, "500", 1, 100000, "events per batch"},
    {"http.enabled", TW_CONF_BOOL, "true", 0, 0, "serve /healthz"},
    {"name", TW_CONF_STRING, "p0", 1, 0, "instance name"},
    {"alert.secret", TW_CONF_STRING, NULL, 0, 0, "a secret"},
    {NULL, 0, NULL, 0, 0, NULL},
};

static const tw_conf_reserved reserved[] = {
    {"kafka.enable.auto.commit", "offsets are committed in PostgreSQL"},
    {NULL, NULL},
};

static int check(const char *key, const char *value, char *why, size_t whylen)
{
    if (strlen(value) > 200) {
        snprintf(why, whylen, "%s: longer than 200 bytes", key);
        return -1;
    }
    return 0;
}

static tw_config *load(const char *text, size_t len, char *err, size_t errlen)
{
    tw_config *c = tw_config_new(defs, "kafka.");
    FUZZ_CHECK(c != NULL, "new");
    tw_config_passthrough_rules(c, check, reserved);
    FILE *f = fmemopen((void *)text, len, "r");
    FUZZ_CHECK(f != NULL, "fmemopen");
    int rc = tw_config_load_stream(c, f, PATH, err, errlen);
    fclose(f);
    if (rc < 0) {
        tw_config_free(c);
        return NULL;
    }
    return c;
}

static char *print(const tw_config *c, size_t *len)
{
    char *out = NULL;
    FILE *f = open_memstream(&out, len);
    tw_config_print(c, f);
    fclose(f);
    return out;
}

/* Checks each printed line for an unmasked secret; writes the lines that
 * load back (those with a value) to reload. */
static void check_printed(char *text, FILE *reload)
{
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *sep = strstr(line, " =");
        FUZZ_CHECK(sep != NULL && (sep[2] == ' ' || sep[2] == '\0'), "printed line \"%s\"", line);
        *sep = '\0';
        const char *key = line, *value = sep[2] ? sep + 3 : sep + 2;
        if (strcmp(key, "pg.conninfo") == 0 && *value && strncmp(value, "****", 4) != 0) {
            /* read it back as libpq does: its password, if any, is masked */
            char *why = NULL;
            PQconninfoOption *o = PQconninfoParse(value, &why);
            FUZZ_CHECK(o != NULL, "printed conninfo does not parse: %s: %s", why, value);
            for (PQconninfoOption *p = o; p->keyword; p++)
                if (strcmp(p->keyword, "password") == 0)
                    FUZZ_CHECK(!p->val || strcmp(p->val, "****") == 0, "password shown: %s", value);
            PQconninfoFree(o);
        }
        if (tw_config_is_secret(key))
            FUZZ_CHECK(strcmp(value, "****") == 0 || *value == '\0', "secret %s shown: %s", key,
                       value);
        if (*value) /* unset and empty read the same; an empty secret prints **** */
            fprintf(reload, "%s = %s\n", key, value);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512] = "";
    int lines = 1, line = 0, off = 0;

    if (size == 0)
        return 0;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    tw_config *c = load((const char *)data, size, err, sizeof err);
    if (c == NULL) {
        FUZZ_CHECK(fuzz_message_ok(err, sizeof err), "refusal \"%s\"", err);
        FUZZ_CHECK(sscanf(err, PATH ":%d: %n", &line, &off) == 1 && off > 0 && err[off],
                   "refusal does not name FILE:LINE: \"%s\"", err);
        FUZZ_CHECK(line >= 1 && line <= lines, "line %d of %d: %s", line, lines, err);
        return 0;
    }
    size_t n1 = 0, n2 = 0, nr = 0;
    char *p1 = print(c, &n1), *again = NULL;
    FILE *reload = open_memstream(&again, &nr);
    check_printed(p1, reload);
    fclose(reload);

    tw_config *c2 = load(again, nr, err, sizeof err);
    FUZZ_CHECK(c2 != NULL, "--print-config output refused: %s", err);
    char *p2 = print(c2, &n2), *copy = NULL;
    size_t nc = 0;
    reload = open_memstream(&copy, &nc);
    check_printed(p2, reload);
    fclose(reload);
    FUZZ_CHECK(nc == nr && memcmp(copy, again, nr) == 0, "print/load not a fixed point:\n%s\n%s",
               again, copy);
    free(p1);
    free(p2);
    free(again);
    free(copy);
    tw_config_free(c);
    tw_config_free(c2);
    return 0;
}
