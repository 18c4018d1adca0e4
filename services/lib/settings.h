/* settings.h: a service's settings from its command line and environment. */
#ifndef TW_SETTINGS_H
#define TW_SETTINGS_H

#include <stdio.h>

#include "config.h"

/* Prints the service's usage line and its settings' help to out. */
typedef void (*tw_usage_fn)(FILE *out, const tw_config *cfg);

/* Files first (--config), then the environment, then --set; applies the
 * log settings. Returns 0 to run, 1 when done already (--help,
 * --print-config), -1 on a bad setting (the message, prefixed with prog,
 * is printed). */
int tw_settings_load(tw_config *cfg, const char *prog, tw_usage_fn usage, int argc, char **argv);

#endif
