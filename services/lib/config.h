/* config.h: one declarative table of settings per service. The same table
 * prints --help, validates values and names the bad key and file line.
 * Sources, later wins: defaults, the --config file (key = value lines),
 * TWINWATCH_<KEY> environment variables (dots and dashes as underscores,
 * upper case), then --set key=value arguments. Keys under a prefix marked
 * passthrough (kafka.*) are kept as given for librdkafka. */
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

/* defs is terminated by an entry with key NULL; passthrough_prefix (e.g.
 * "kafka.") may be NULL. Returns NULL only when out of memory. */
tw_config *tw_config_new(const tw_conf_def *defs, const char *passthrough_prefix);
void tw_config_free(tw_config *c);

/* Sets one value from source (a "FILE:LINE" or "--set" or "TWINWATCH_X")
 * for messages. Returns -1 with "SOURCE: reason" in err. */
int tw_config_set(tw_config *c, const char *key, const char *value, const char *source, char *err,
                  size_t errlen) __attribute__((warn_unused_result));
/* Reads a key = value file ('#' comments, blank lines). */
int tw_config_load_file(tw_config *c, const char *path, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Applies TWINWATCH_* variables that name a key of the table. */
int tw_config_load_env(tw_config *c, char *err, size_t errlen) __attribute__((warn_unused_result));

const char *tw_config_str(const tw_config *c, const char *key);
int64_t tw_config_int(const tw_config *c, const char *key);
int tw_config_bool(const tw_config *c, const char *key);

/* Calls fn for each passthrough key set (in the order set). */
void tw_config_each_passthrough(const tw_config *c,
                                void (*fn)(void *arg, const char *key, const char *value),
                                void *arg);

void tw_config_print_help(const tw_config *c, FILE *out);
/* Effective values; keys containing "password" or "secret" are masked. */
void tw_config_print(const tw_config *c, FILE *out);

/* Reads the local stack's environment file (KEY=VALUE lines written by
 * ops/up) and exports each variable that is not already set. The file is
 * $TWINWATCH_ENV, else ./.local/env, else SOURCE_DIR/.local/env. Returns
 * the path read, or NULL when there is none. */
const char *tw_config_load_local_env(const char *source_dir);

#endif
