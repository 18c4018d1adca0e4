#!/usr/bin/env bash
# ops/docker/kafka-topics.sh BOOTSTRAP: creates twinwatch's topics (DESIGN.md
# "Event contract") in the compose stack's kafka-init job, in the
# apache/kafka image; a topic that exists is left as it is. Partitions:
# events TWINWATCH_EVENTS_PARTITIONS (default 6, >= projectors x lanes),
# alerts and anchors 6 like the devbroker. Replication factor 1: one broker.
set -euo pipefail
bootstrap=${1:?usage: kafka-topics.sh BOOTSTRAP}
kt=/opt/kafka/bin/kafka-topics.sh
create() {
  "$kt" --bootstrap-server "$bootstrap" --create --if-not-exists --topic "$1" \
    --partitions "$2" --replication-factor "${TWINWATCH_REPLICATION_FACTOR:-1}" "${@:3}"
}
create twinwatch.events.v1 "${TWINWATCH_EVENTS_PARTITIONS:-6}"
create twinwatch.alerts.v1 6
create twinwatch.audit-anchors.v1 6
"$kt" --bootstrap-server "$bootstrap" --describe --topic 'twinwatch\..*'
