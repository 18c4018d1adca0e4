/* test_config.c: the settings table: defaults, files with line numbers,
 * environment overrides, bounds, passthrough keys, masking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "csv.h"

static const tw_conf_def defs[] = {
    {"batch.max_events", TW_CONF_INT, "5000", 1, 100000, "events per batch"},
    {"pg.conninfo", TW_CONF_STRING, "", 0, 0, "libpq"},
    {"strict", TW_CONF_BOOL, "false", 0, 0, "a flag"},
    {NULL, 0, NULL, 0, 0, NULL},
};

static char *write_tmp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/twcfgXXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_defaults_and_file(void **s)
{
    (void)s;
    char err[256];
    tw_config *c = tw_config_new(defs, "kafka.");
    assert_int_equal(tw_config_int(c, "batch.max_events"), 5000);
    char *p = write_tmp("# comment\n\nbatch.max_events = 200\nkafka.linger.ms=5\nstrict = yes\n");
    assert_int_equal(tw_config_load_file(c, p, err, sizeof err), 0);
    unlink(p);
    assert_int_equal(tw_config_int(c, "batch.max_events"), 200);
    assert_string_equal(tw_config_str(c, "kafka.linger.ms"), "5");
    assert_true(tw_config_bool(c, "strict"));
    tw_config_free(c);
}

static void test_errors_name_key_and_line(void **s)
{
    (void)s;
    char err[256];
    tw_config *c = tw_config_new(defs, "kafka.");
    char *p = write_tmp("batch.max_events = 10\nbatch.max_event = 20\n");
    assert_int_equal(tw_config_load_file(c, p, err, sizeof err), -1);
    assert_non_null(strstr(err, ":2: unknown key \"batch.max_event\""));
    unlink(p);
    p = write_tmp("batch.max_events = 0\n");
    assert_int_equal(tw_config_load_file(c, p, err, sizeof err), -1);
    assert_non_null(strstr(err, ":1: batch.max_events = 0: out of range 1..100000"));
    unlink(p);
    p = write_tmp("batch.max_events = many\n");
    assert_int_equal(tw_config_load_file(c, p, err, sizeof err), -1);
    assert_non_null(strstr(err, "expected a whole number"));
    unlink(p);
    p = write_tmp("just words\n");
    assert_int_equal(tw_config_load_file(c, p, err, sizeof err), -1);
    assert_non_null(strstr(err, ":1: expected \"key = value\""));
    unlink(p);
    assert_int_equal(tw_config_load_file(c, "/nonexistent/x.conf", err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/x.conf"));
    assert_int_equal(tw_config_set(c, "strict", "maybe", "--set", err, sizeof err), -1);
    assert_non_null(strstr(err, "--set: strict = \"maybe\": expected true or false"));
    tw_config_free(c);
}

static void test_env_overrides(void **s)
{
    (void)s;
    char err[256];
    tw_config *c = tw_config_new(defs, NULL);
    setenv("TWINWATCH_BATCH_MAX_EVENTS", "77", 1);
    assert_int_equal(tw_config_load_env(c, err, sizeof err), 0);
    assert_int_equal(tw_config_int(c, "batch.max_events"), 77);
    setenv("TWINWATCH_BATCH_MAX_EVENTS", "-1", 1);
    assert_int_equal(tw_config_load_env(c, err, sizeof err), -1);
    assert_non_null(strstr(err, "TWINWATCH_BATCH_MAX_EVENTS"));
    unsetenv("TWINWATCH_BATCH_MAX_EVENTS");
    /* no passthrough prefix: kafka keys are unknown */
    assert_int_equal(tw_config_set(c, "kafka.acks", "all", "x", err, sizeof err), -1);
    tw_config_free(c);
}

static void test_print_masks_secrets(void **s)
{
    (void)s;
    char err[256], buf[1024] = {0};
    tw_config *c = tw_config_new(defs, "kafka.");
    assert_int_equal(tw_config_set(c, "kafka.sasl.password", "hunter2", "x", err, sizeof err), 0);
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    tw_config_print(c, f);
    fclose(f);
    assert_null(strstr(buf, "hunter2"));
    assert_non_null(strstr(buf, "kafka.sasl.password = ****"));
    tw_config_free(c);
}

/* Stands in for librdkafka's check: knows linger.ms only, as a number. */
static int check_linger(const char *key, const char *value, char *why, size_t whylen)
{
    if (strcmp(key, "linger.ms") != 0) {
        snprintf(why, whylen, "No such configuration property: \"%s\"", key);
        return -1;
    }
    if (strspn(value, "0123456789") != strlen(value) || !*value) {
        snprintf(why, whylen, "Invalid value");
        return -1;
    }
    return 0;
}

static void collect(void *arg, const char *key, const char *value, const char *source)
{
    char *out = arg;
    size_t n = strlen(out);
    snprintf(out + n, 512 - n, "%s=%s@%s;", key, value, source);
}

static void test_passthrough_env_reserved(void **s)
{
    (void)s;
    static const tw_conf_def kdefs[] = {
        {"kafka.brokers", TW_CONF_STRING, "b:1", 1, 0, "brokers"},
        {NULL, 0, NULL, 0, 0, NULL},
    };
    static const tw_conf_reserved reserved[] = {{"kafka.acks", "the producer needs acks=all"},
                                                {NULL, NULL}};
    char err[256], seen[512] = "";
    tw_config *c = tw_config_new(kdefs, "kafka.");
    tw_config_passthrough_rules(c, check_linger, reserved);
    char *p = write_tmp("# x\nkafka.linger.ms = 5\n");
    assert_int_equal(tw_config_load_file(c, p, err, sizeof err), 0);
    unlink(p);
    /* a declared key keeps its variable; others under kafka. are properties */
    setenv("TWINWATCH_KAFKA_BROKERS", "b:2", 1);
    setenv("TWINWATCH_KAFKA_LINGER_MS", "7", 1);
    assert_int_equal(tw_config_load_env(c, err, sizeof err), 0);
    assert_string_equal(tw_config_str(c, "kafka.brokers"), "b:2");
    tw_config_each_passthrough(c, collect, seen);
    assert_string_equal(seen, "kafka.linger.ms=7@TWINWATCH_KAFKA_LINGER_MS;");
    setenv("TWINWATCH_KAFKA_LINGER_MS", "soon", 1);
    assert_int_equal(tw_config_load_env(c, err, sizeof err), -1);
    assert_string_equal(err,
                        "TWINWATCH_KAFKA_LINGER_MS: kafka.linger.ms = \"soon\": Invalid value");
    unsetenv("TWINWATCH_KAFKA_LINGER_MS");
    setenv("TWINWATCH_KAFKA_ACKS", "1", 1);
    assert_int_equal(tw_config_load_env(c, err, sizeof err), -1);
    assert_string_equal(
        err, "TWINWATCH_KAFKA_ACKS: kafka.acks cannot be set: the producer needs acks=all");
    unsetenv("TWINWATCH_KAFKA_ACKS");
    unsetenv("TWINWATCH_KAFKA_BROKERS");
    p = write_tmp("kafka.linger.ms = 5\n\nkafka.acks = 1\n");
    assert_int_equal(tw_config_load_file(c, p, err, sizeof err), -1);
    assert_non_null(strstr(err, ":3: kafka.acks cannot be set: the producer needs acks=all"));
    unlink(p);
    assert_int_equal(tw_config_set(c, "kafka.sasl.password", "x", "--set", err, sizeof err), -1);
    assert_string_equal(err, "--set: kafka.sasl.password = \"****\": No such configuration "
                             "property: \"sasl.password\"");
    tw_config_free(c);
}

static void test_csv_records(void **s)
{
    (void)s;
    char text[] =
        "\xEF\xBB\xBF"
        "code,name\r\n1,\"Đắc Tôi, Nam Giang\"\r\n2,\"say \"\"hi\"\"\nthere\"\n3,x\"y\n4,ok\n";
    char err[128], **f;
    FILE *in = fmemopen(text, strlen(text), "r");
    tw_csv *c = tw_csv_open(in);
    assert_int_equal(tw_csv_next(c, &f, err, sizeof err), 2);
    assert_string_equal(f[0], "code");
    assert_int_equal(tw_csv_next(c, &f, err, sizeof err), 2);
    assert_string_equal(f[1], "Đắc Tôi, Nam Giang");
    assert_int_equal(tw_csv_line(c), 2);
    assert_int_equal(tw_csv_next(c, &f, err, sizeof err), 2);
    assert_string_equal(f[1], "say \"hi\"\nthere");
    assert_int_equal(tw_csv_next(c, &f, err, sizeof err), -1); /* x"y: a stray quote */
    assert_non_null(strstr(err, "quote inside an unquoted field"));
    assert_int_equal(tw_csv_next(c, &f, err, sizeof err), 2); /* the reader goes on */
    assert_int_equal(tw_csv_line(c), 6);
    assert_string_equal(f[1], "ok");
    assert_int_equal(tw_csv_next(c, &f, err, sizeof err), 0);
    tw_csv_close(c);
    fclose(in);
    char nul[] = "a,b\0c\nd,e\n";
    in = fmemopen(nul, sizeof nul - 1, "r");
    c = tw_csv_open(in);
    assert_int_equal(tw_csv_next(c, &f, err, sizeof err), -1);
    assert_non_null(strstr(err, "NUL byte"));
    assert_int_equal(tw_csv_next(c, &f, err, sizeof err), 2);
    assert_string_equal(f[0], "d");
    tw_csv_close(c);
    fclose(in);
    char notbom[] = "\xEF\xBC\xA1,x\n"; /* U+FF21, a fullwidth A: not a BOM */
    in = fmemopen(notbom, strlen(notbom), "r");
    c = tw_csv_open(in);
    assert_int_equal(tw_csv_next(c, &f, err, sizeof err), 2);
    assert_string_equal(f[0], "\xEF\xBC\xA1");
    tw_csv_close(c);
    fclose(in);
    char bad[] = "a,\"unterminated\n";
    in = fmemopen(bad, strlen(bad), "r");
    c = tw_csv_open(in);
    assert_int_equal(tw_csv_next(c, &f, err, sizeof err), -1);
    assert_non_null(strstr(err, "not closed"));
    tw_csv_close(c);
    fclose(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_file),
        cmocka_unit_test(test_errors_name_key_and_line),
        cmocka_unit_test(test_env_overrides),
        cmocka_unit_test(test_print_masks_secrets),
        cmocka_unit_test(test_passthrough_env_reserved),
        cmocka_unit_test(test_csv_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
