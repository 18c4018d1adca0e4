/* config.h: one declarative table of settings per service. The same table
 * prints --help, validates values and names the bad key and file line.
 * Sources, later wins: defaults, the --config file (key = value lines),
 * TWINWATCH_<KEY> environment variables (dots and dashes as underscores,
 * upper case), then --set key=value arguments. Keys under a prefix marked
 * passthrough (kafka.*) are kept as given for librdkafka; a TWINWATCH_
 * variable that names no key of the table but falls under that prefix sets
 * one (TWINWATCH_KAFKA_SASL_USERNAME -> kafka.sasl.username). */
#ifndef TW_CONFIG_H
#define TW_CONFIG_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

typedef enum { TW_CONF_STRING, TW_CONF_INT, TW_CONF_BOOL } tw_conf_type;

typedef struct tw_conf_def {
    const char *key;
    tw_conf_type type;
    const char *def;  /* default as text; NULL = unset */
    int64_t min, max; /* for TW_CONF_INT; a TW_CONF_STRING with min 1 must not be empty */
    const char *help;
} tw_conf_def;

typedef struct tw_config tw_config;

/* A passthrough key the program sets itself because its guarantees depend
 * on the value: refused wherever it is given, saying why. */
typedef struct tw_conf_reserved {
    const char *key; /* e.g. "kafka.enable.auto.commit" */
    const char *why; /* e.g. "the projector commits offsets in PostgreSQL" */
} tw_conf_reserved;

/* Checks one passthrough value (key without the prefix); returns -1 with
 * the reason in why. */
typedef int (*tw_conf_check_fn)(const char *key, const char *value, char *why, size_t whylen);

/* defs is terminated by an entry with key NULL; passthrough_prefix (e.g.
 * "kafka.") may be NULL. Returns NULL only when out of memory. */
tw_config *tw_config_new(const tw_conf_def *defs, const char *passthrough_prefix);
void tw_config_free(tw_config *c);
/* Rules for passthrough keys, applied as each is set: check (may be NULL)
 * validates the value, and the keys of reserved (terminated by key NULL;
 * may be NULL) are refused. Neither is copied. */
void tw_config_passthrough_rules(tw_config *c, tw_conf_check_fn check,
                                 const tw_conf_reserved *reserved);

/* Sets one value from source (a "FILE:LINE" or "--set" or "TWINWATCH_X")
 * for messages. Returns -1 with "SOURCE: reason" in err. */
int tw_config_set(tw_config *c, const char *key, const char *value, const char *source, char *err,
                  size_t errlen) __attribute__((warn_unused_result));
/* Reads a key = value file ('#' comments, blank lines). */
int tw_config_load_file(tw_config *c, const char *path, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* The same from an open stream (not closed), named path in messages. */
int tw_config_load_stream(tw_config *c, FILE *f, const char *path, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Applies TWINWATCH_* variables that name a key of the table, then those
 * under the passthrough prefix: TWINWATCH_KAFKA_X_Y sets kafka.x.y (lower
 * case, underscores as dots). Other TWINWATCH_* variables are ignored. */
int tw_config_load_env(tw_config *c, char *err, size_t errlen) __attribute__((warn_unused_result));

const char *tw_config_str(const tw_config *c, const char *key);
int64_t tw_config_int(const tw_config *c, const char *key);
int tw_config_bool(const tw_config *c, const char *key);

/* Calls fn for each passthrough key set, in the order first set, with its
 * latest value and where that came from ("FILE:LINE", "TWINWATCH_X", "--set"). */
void tw_config_each_passthrough(const tw_config *c,
                                void (*fn)(void *arg, const char *key, const char *value,
                                           const char *source),
                                void *arg);
/* Whether a key's value is a secret that --print-config and messages mask. */
int tw_config_is_secret(const char *key);

/* The keys with type, help, default and variable; then the passthrough
 * prefix and the reserved keys. */
void tw_config_print_help(const tw_config *c, FILE *out);
/* Effective values; secrets (keys containing "password", "secret" or
 * "sasl.", kafka.ssl.key.pem, the password in a conninfo) are masked. */
void tw_config_print(const tw_config *c, FILE *out);

/* Reads the local stack's environment file (KEY=VALUE lines written by
 * ops/up) and exports each variable that is not already set. The file is
 * $TWINWATCH_ENV, else ./.local/env, else SOURCE_DIR/.local/env. Returns
 * the path read, or NULL when there is none. */
const char *tw_config_load_local_env(const char *source_dir);

#endif
