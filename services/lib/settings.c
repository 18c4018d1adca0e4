/* settings.c: how every twinwatch service reads its settings from the
 * command line: --config FILE, then TWINWATCH_* environment variables,
 * then --set KEY=VALUE and its shorthands --log-format and --log-level (the
 * last one wins), --print-config and --help;
 * and then applies log.format and log.level. */
#include "settings.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

int tw_settings_load(tw_config *cfg, const char *prog, tw_usage_fn usage, int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"set", required_argument, NULL, 's'},
                                         {"log-format", required_argument, NULL, 'f'},
                                         {"log-level", required_argument, NULL, 'l'},
                                         {"print-config", no_argument, NULL, 'p'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static const char *levels[] = {"debug", "info", "warn", "error"};
    char err[512];
    int print_config = 0, level = -1;

    /* Files first, then the environment, then --set: read options twice. */
    for (int c; (c = getopt_long(argc, argv, "c:s:phf:l:", opts, NULL)) != -1;) {
        if (c == 'c' && tw_config_load_file(cfg, optarg, err, sizeof err) < 0) {
            fprintf(stderr, "%s: %s\n", prog, err);
            return -1;
        } else if (c == 'h') {
            usage(stdout, cfg);
            return 1;
        } else if (c == 'p') {
            print_config = 1;
        } else if (c == '?') {
            usage(stderr, cfg);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument \"%s\"\n", prog, argv[optind]);
        return -1;
    }
    if (tw_config_load_env(cfg, err, sizeof err) < 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return -1;
    }
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "c:s:phf:l:", opts, NULL)) != -1;) {
        if (c == 'f' || c == 'l') { /* --log-format X is --set log.format=X */
            if (tw_config_set(cfg, c == 'f' ? "log.format" : "log.level", optarg,
                              c == 'f' ? "--log-format" : "--log-level", err, sizeof err) < 0) {
                fprintf(stderr, "%s: %s\n", prog, err);
                return -1;
            }
            continue;
        }
        if (c != 's')
            continue;
        char *eq = strchr(optarg, '=');
        if (!eq) {
            fprintf(stderr, "%s: --set %s: expected KEY=VALUE\n", prog, optarg);
            return -1;
        }
        *eq = '\0';
        if (tw_config_set(cfg, optarg, eq + 1, "--set", err, sizeof err) < 0) {
            fprintf(stderr, "%s: %s\n", prog, err);
            return -1;
        }
    }
    if (tw_log_set_format(tw_config_str(cfg, "log.format")) < 0) {
        fprintf(stderr, "%s: log.format must be text or json\n", prog);
        return -1;
    }
    for (int i = 0; i < 4; i++)
        if (!strcmp(tw_config_str(cfg, "log.level"), levels[i]))
            level = i;
    if (level < 0) {
        fprintf(stderr, "%s: log.level must be debug, info, warn or error\n", prog);
        return -1;
    }
    tw_log_set_level((tw_log_level)level);
    if (print_config) {
        tw_config_print(cfg, stdout);
        return 1;
    }
    return 0;
}
