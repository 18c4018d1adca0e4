/* twinctl.h: the operator's command line; one file per group of commands. */
#ifndef TWINCTL_H
#define TWINCTL_H

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "config.h"

/* Exit codes: 0 done, 1 failed, 2 bad arguments. */
#define TW_EXIT_OK    0
#define TW_EXIT_FAIL  1
#define TW_EXIT_USAGE 2

/* A connection from pg.conninfo (--config, TWINWATCH_PG_CONNINFO, --set),
 * or the PG* variables (which .local/env provides after ops/up). Prints
 * why and exits 1 on failure. */
PGconn *twctl_pg(void);
/* The same with migrate.conninfo when set: the owner, for migrate only. */
PGconn *twctl_pg_owner(void);
/* Kafka bootstrap servers: kafka.brokers, else KAFKA_BROKERS. */
const char *twctl_brokers(void);
/* The events topic (the topic setting). */
const char *twctl_topic(void);
/* twinctl's settings, for the clients that take kafka.* from them. */
const tw_config *twctl_config(void);
/* A librdkafka conf for one of twinctl's clients: kafka.brokers, then
 * defaults (key, value pairs, NULL-terminated; may be NULL), then every
 * kafka.* setting (TLS, SASL...). Prints "twinctl WHAT: reason" and returns
 * NULL when librdkafka refuses one. */
rd_kafka_conf_t *twctl_kafka_conf(const char *what, const char *const *defaults);
/* An idempotent, acks=all producer for command WHAT (client.id, linger.ms
 * given), with the kafka.* settings and on_delivery as its delivery report
 * callback. Prints why and returns NULL when it cannot be made. */
rd_kafka_t *twctl_producer(const char *what, const char *client_id, const char *linger_ms,
                           void (*on_delivery)(rd_kafka_t *, const rd_kafka_message_t *, void *));
/* Prints "twinctl CMD: msg" to stderr and returns TW_EXIT_USAGE. */
int twctl_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Runs sql; prints the error naming what and returns -1 when it fails. */
int twctl_exec(PGconn *pg, const char *what, const char *sql) __attribute__((warn_unused_result));

/* The person acting: given (--by), else the login name; NULL when neither. */
const char *twctl_by(const char *given);
/* Appends one operator action to the audit trail's operator chain
 * (audit.record_action), in pg's open transaction, so that it commits or
 * rolls back with the action's effect. detail_json: a JSON object or NULL.
 * Prints why and returns -1 on failure. */
int twctl_record_action(PGconn *pg, const char *by, const char *action, const char *subject,
                        const char *detail_json) __attribute__((warn_unused_result));

int twctl_migrate(int argc, char **argv);
int twctl_load_reference(int argc, char **argv);
int twctl_publish(int argc, char **argv);
int twctl_wait(int argc, char **argv);
int twctl_status(int argc, char **argv);
int twctl_digest(int argc, char **argv);
int twctl_report(int argc, char **argv);
int twctl_dlq(int argc, char **argv);
int twctl_dlq_replay(int argc, char **argv); /* argv[0] is "replay" */
int twctl_rebuild(int argc, char **argv);
int twctl_offsets(int argc, char **argv);
int twctl_alerts(int argc, char **argv);
int twctl_rules(int argc, char **argv);
int twctl_clock(int argc, char **argv);
int twctl_audit(int argc, char **argv);
int twctl_tokens(int argc, char **argv);
int twctl_keys(int argc, char **argv);

#endif
