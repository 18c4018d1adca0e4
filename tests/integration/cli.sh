#!/usr/bin/env bash
# cli.sh: every interface given bad input answers with a clear message
# naming what and where, a non-zero exit, and writes nothing partial.
. "$(dirname "$0")/harness.sh"
harness_up
S=$TW_ROOT/ops/sample

# arguments (expect: harness.sh)
expect 2 'unknown command "frobnicate"' "$TWINCTL" frobnicate
expect 2 'usage: twinctl COMMAND' "$TWINCTL"
expect 2 'give at least one feed FILE' "$TWINCTL" publish
expect 2 '--format xml: expected jsonl or csv' "$TWINCTL" publish --format xml x
expect 2 '--timeout soon' "$TWINCTL" wait --caught-up --timeout soon
expect 2 'ID must be a number' "$TWINCTL" dlq show abc
expect 0 'usage: twinctl publish' "$TWINCTL" publish --help

# reference data: a bad line names file:line and nothing is loaded
cp "$S/agencies.csv" "$T/agencies.csv"
echo 'BAD-KIND,Some agency,ministry' >>"$T/agencies.csv"
expect 1 "agencies.csv:$(wc -l <"$T/agencies.csv"): kind \"ministry\"" \
  "$TWINCTL" load-reference --agencies "$T/agencies.csv" --localities "$S/localities.csv"
assert_eq "$(q 'SELECT count(*) FROM ref.agency') $(q 'SELECT count(*) FROM ref.locality')" "0 0" \
  "nothing loaded from a bad file"
printf 'code,name\nX,Y\n' >"$T/short.csv"
expect 1 'short.csv:1: the header must be code,name,kind' "$TWINCTL" load-reference --agencies "$T/short.csv"
"$TWINCTL" load-reference --agencies "$S/agencies.csv" --localities "$S/localities.csv" >/dev/null
"$TWINCTL" load-reference --agencies "$S/agencies.csv" --localities "$S/localities.csv" >/dev/null

# publish: one bad line anywhere and nothing is published
head -n 5 "$S/feed.jsonl" >"$T/feed.jsonl"
echo '{"eventId":"x","agencyCode":"A","localityCode":"1","occurredAtMs":"1","visit":{},"bogus":1}' >>"$T/feed.jsonl"
head -n 8 "$S/feed.jsonl" | tail -n 3 >>"$T/feed.jsonl"
echo '{"agencyCode":"A","localityCode":"1","occurredAtMs":"1","visit":{}}' >>"$T/feed.jsonl"
echo '{"eventId":"6f1c1a52-8a57-4d4e-9d35-0b4f2d6a9a01","agencyCode":"A","localityCode":"1","occurredAtMs":"1751328000000","supportDelivered":{"amountVnd":"-4"}}' >>"$T/feed.jsonl"
expect 1 'feed.jsonl:6: .*bogus' "$TWINCTL" publish "$T/feed.jsonl"
expect 1 'feed.jsonl:10: .*eventId' "$TWINCTL" publish "$T/feed.jsonl"
expect 1 'feed.jsonl:11: bad_amount' "$TWINCTL" publish "$T/feed.jsonl"
expect 1 '3 invalid line\(s\); nothing published' "$TWINCTL" publish "$T/feed.jsonl"
hw=$(kcat -b "$KAFKA_BROKERS" -t twinwatch.events.v1 -C -e -q -f '.' 2>/dev/null | wc -c)
assert_eq "$hw" 0 "messages on the topic after a refused publish"
expect 1 'published 8 events.*3 invalid' "$TWINCTL" publish --skip-invalid "$T/feed.jsonl"
hw=$(kcat -b "$KAFKA_BROKERS" -t twinwatch.events.v1 -C -e -q -f '.' 2>/dev/null | wc -c)
assert_eq "$hw" 8 "messages on the topic after --skip-invalid"
expect 1 'nope.jsonl: No such file' "$TWINCTL" publish "$T/nope.jsonl"

# migrations: an applied migration edited afterwards is refused
mkdir -p "$T/schemas"
cp "$TW_ROOT"/schemas/*.sql "$T/schemas/"
expect 0 'database is current' "$TWINCTL" migrate --dir "$T/schemas"
echo '-- edited' >>"$T/schemas/001_core.sql"
expect 1 '001_core.sql was changed after it was applied' "$TWINCTL" migrate --dir "$T/schemas"
printf 'CREATE TABLE twinwatch.half (x int);\nSELECT 1/0;\n' >"$T/schemas/900_broken.sql"
cp "$TW_ROOT/schemas/001_core.sql" "$T/schemas/001_core.sql"
expect 1 '900_broken.sql.*division by zero' "$TWINCTL" migrate --dir "$T/schemas"
assert_eq "$(q "SELECT count(*) FROM pg_tables WHERE tablename = 'half'")" 0 "a failed migration leaves nothing"

# projector configuration
printf 'batch.max_events = 10\nbatch.maxms = 5\n' >"$T/p.conf"
expect 2 "p.conf:2: unknown key \"batch.maxms\"" "$PROJECTOR" --config "$T/p.conf"
printf 'batch.max_events = 0\n' >"$T/p.conf"
expect 2 'p.conf:1: batch.max_events = 0: out of range' "$PROJECTOR" --config "$T/p.conf"
expect 2 'TWINWATCH_BATCH_MAX_MS' env TWINWATCH_BATCH_MAX_MS=never "$PROJECTOR"
expect 2 'expected KEY=VALUE' "$PROJECTOR" --set nonsense
expect 2 'log.format must be text or json' "$PROJECTOR" --set log.format=xml
printf 'kafka.sasl.password = s3cret\n' >"$T/p.conf"
expect 0 'kafka.sasl.password = \*\*\*\*' "$PROJECTOR" --config "$T/p.conf" --print-config
"$PROJECTOR" --config "$T/p.conf" --print-config | grep -q s3cret && fail "--print-config shows a secret"
printf 'group.id =\n' >"$T/p.conf"
expect 2 'p.conf:1: group.id is empty: it needs a value' "$PROJECTOR" --config "$T/p.conf"
expect 2 'http.port = 70000: out of range 0..65535' "$PROJECTOR" --set http.port=70000

# sentinel configuration: one check per kind of mistake
SENTINEL=$TW_BUILD/bin/sentinel
expect 2 'log.format must be text or json' "$SENTINEL" --log-format xml
expect 2 'log.level must be debug, info, warn or error' "$PROJECTOR" --log-level loud
"$SENTINEL" --log-format json --log-level warn --print-config | grep -c '^log\.\(format = json\|level = warn\)$' |
  grep -qx 2 || fail "--log-format json --log-level warn not taken"
printf 'http.port = 9465\nhttp.prot = 9465\n' >"$T/s.conf"
expect 2 's.conf:2: unknown key "http.prot"' "$SENTINEL" --config "$T/s.conf"
printf '# alerts\nhttp.port = 94x65\n' >"$T/s.conf"
expect 2 's.conf:2: http.port = "94x65": expected a whole number' "$SENTINEL" --config "$T/s.conf"
printf 'retry.max_ms = 10\n' >"$T/s.conf"
expect 2 's.conf:1: retry.max_ms = 10: out of range 100..600000' "$SENTINEL" --config "$T/s.conf"
printf 'topic\n' >"$T/s.conf"
expect 2 's.conf:1: expected "key = value"' "$SENTINEL" --config "$T/s.conf"
printf 'topic = \n' >"$T/s.conf"
expect 2 's.conf:1: topic is empty: it needs a value' "$SENTINEL" --config "$T/s.conf"
expect 2 "$T/missing.conf: No such file or directory" "$SENTINEL" --config "$T/missing.conf"
expect 2 'TWINWATCH_SHUTDOWN_FLUSH_MS' env TWINWATCH_SHUTDOWN_FLUSH_MS=soon "$SENTINEL"
expect 2 'log.level must be debug, info, warn or error' "$SENTINEL" --set log.level=loud
printf 'kafka.sasl.password = s3cret\npg.conninfo = host=db password=pgs3cret\n' >"$T/s.conf"
expect 0 'kafka.sasl.password = \*\*\*\*' "$SENTINEL" --config "$T/s.conf" --print-config
"$SENTINEL" --config "$T/s.conf" --print-config | grep -q s3cret && fail "sentinel --print-config shows a secret"
expect 0 'pg.conninfo = .*password=\*\*\*\* .*sslmode=verify-full' "$PROJECTOR" --print-config \
  --set pg.conninfo='postgresql://tw:uris3cret@db:5432/twinwatch?sslmode=verify-full'
"$PROJECTOR" --print-config --set pg.conninfo='postgresql://tw:uris3cret@db/tw' | grep -q uris3cret &&
  fail "--print-config shows the password inside pg.conninfo"
# a listen address that is not one stops start-up, naming it
expect 1 '"localhost" is not an IPv4 address' timeout 20 "$SENTINEL" --set http.port=1 \
  --set http.address=localhost --set kafka.brokers="$KAFKA_BROKERS"
# kafka.* from the environment: TWINWATCH_KAFKA_<PROPERTY> is kafka.<property>
# (lower case, underscores as dots); TWINWATCH_KAFKA_BROKERS stays kafka.brokers
expect 0 'kafka.security.protocol = SASL_SSL' env TWINWATCH_KAFKA_SECURITY_PROTOCOL=SASL_SSL \
  "$PROJECTOR" --print-config
expect 0 '^kafka.brokers = b1:9093$' env TWINWATCH_KAFKA_BROKERS=b1:9093 "$PROJECTOR" --print-config
env TWINWATCH_KAFKA_BROKERS=b1:9093 "$PROJECTOR" --print-config | grep -c '^kafka\.' | grep -qx 1 ||
  fail "TWINWATCH_KAFKA_BROKERS set something besides kafka.brokers"
expect 0 'kafka.sasl.password = \*\*\*\*' env TWINWATCH_KAFKA_SASL_PASSWORD=envs3cret "$SENTINEL" --print-config
expect 0 'kafka.ssl.key.password = \*\*\*\*' env TWINWATCH_KAFKA_SSL_KEY_PASSWORD=envs3cret "$PROJECTOR" --print-config
env TWINWATCH_KAFKA_SASL_PASSWORD=envs3cret TWINWATCH_KAFKA_SSL_KEY_PASSWORD=envs3cret \
  "$SENTINEL" --print-config | grep -q envs3cret && fail "--print-config shows a secret from the environment"
# the file, then the environment, then --set
printf 'kafka.linger.ms = 7\n' >"$T/p.conf"
expect 0 '^kafka.linger.ms = 8$' env TWINWATCH_KAFKA_LINGER_MS=8 "$PROJECTOR" --config "$T/p.conf" --print-config
expect 0 '^kafka.linger.ms = 9$' env TWINWATCH_KAFKA_LINGER_MS=8 "$PROJECTOR" --config "$T/p.conf" \
  --set kafka.linger.ms=9 --print-config
# a property librdkafka refuses stops start-up naming the variable (or file:line)
expect 2 'TWINWATCH_KAFKA_SASL_MECHANISMZ: kafka.sasl.mechanismz = "\*\*\*\*": No such configuration property' \
  env TWINWATCH_KAFKA_SASL_MECHANISMZ=PLAIN "$PROJECTOR"
expect 2 'TWINWATCH_KAFKA_SECURITY_PROTOCOL: kafka.security.protocol = "tls": Invalid value' \
  env TWINWATCH_KAFKA_SECURITY_PROTOCOL=tls "$SENTINEL" --print-config
printf '# tls\nkafka.security.protocol = tls\n' >"$T/p.conf"
expect 2 'p.conf:2: kafka.security.protocol = "tls": Invalid value' "$PROJECTOR" --config "$T/p.conf"
# what a service sets itself is refused where it is set, saying why
for k in group.id enable.auto.commit enable.auto.offset.store auto.offset.reset enable.partition.eof; do
  printf 'lanes = 1\nkafka.%s = true\n' "$k" >"$T/p.conf"
  expect 2 "p.conf:2: kafka.$k cannot be set: " "$PROJECTOR" --config "$T/p.conf"
done
expect 2 'TWINWATCH_KAFKA_ENABLE_AUTO_COMMIT: kafka.enable.auto.commit cannot be set: the projector commits offsets in PostgreSQL' \
  env TWINWATCH_KAFKA_ENABLE_AUTO_COMMIT=true "$PROJECTOR"
# the rebalance callback is eager: an incremental assignor is refused, the others taken
printf 'lanes = 2\nkafka.partition.assignment.strategy = cooperative-sticky\n' >"$T/p.conf"
expect 2 'p.conf:2: kafka.partition.assignment.strategy = "cooperative-sticky": the projector supports the eager assignors' \
  "$PROJECTOR" --config "$T/p.conf"
"$PROJECTOR" --set kafka.partition.assignment.strategy=roundrobin --print-config |
  grep -q '^kafka.partition.assignment.strategy = roundrobin$' || fail "the roundrobin assignor was not taken"
for k in enable.idempotence acks request.required.acks; do
  printf 'http.port = 0\nkafka.%s = 1\n' "$k" >"$T/s.conf"
  expect 2 "s.conf:2: kafka.$k cannot be set: .*acks=all" "$SENTINEL" --config "$T/s.conf"
done
expect 2 '\-\-set: kafka.acks cannot be set' "$SENTINEL" --set kafka.acks=1
for k in enable.idempotence acks request.required.acks enable.partition.eof; do
  printf 'topic = twinwatch.events.v1\nkafka.%s = true\n' "$k" >"$T/t.conf"
  expect 2 "t.conf:2: kafka.$k cannot be set: " "$TWINCTL" --config "$T/t.conf" status
done
# client.id is the operator's to choose
expect 0 '^kafka.client.id = ops-projector-1$' "$PROJECTOR" --set kafka.client.id=ops-projector-1 --print-config

# twinctl --config: a property librdkafka refuses names the file's line
printf 'kafka.brokers = %s\n# tuning\nkafka.linger.ms = often\n' "$KAFKA_BROKERS" >"$T/t.conf"
expect 2 't.conf:3: kafka.linger.ms = "often": Invalid value' "$TWINCTL" --config "$T/t.conf" publish "$T/feed.jsonl"
expect 2 't.conf:3: .*\(TWINWATCH_CONFIG\)' env TWINWATCH_CONFIG="$T/t.conf" "$TWINCTL" status
expect 2 'TWINWATCH_KAFKA_LINGER_MS: kafka.linger.ms = "often"' env TWINWATCH_KAFKA_LINGER_MS=often "$TWINCTL" status
# a working file and no connection variable at all: broker and database from the file
NOENV=(env -u KAFKA_BROKERS -u PGHOST -u PGPORT -u PGDATABASE -u PGUSER)
printf 'kafka.brokers = %s\npg.conninfo = host=%s port=%s dbname=%s user=%s application_name=twinctl\nkafka.client.id = cli-test\n' \
  "$KAFKA_BROKERS" "$PGHOST" "$PGPORT" "$PGDATABASE" "$PGUSER" >"$T/t.conf"
sed -n 9p "$S/feed.jsonl" >"$T/one.jsonl"
expect 0 'published 1 events to twinwatch.events.v1' "${NOENV[@]}" "$TWINCTL" --config "$T/t.conf" publish "$T/one.jsonl"
hw=$(kcat -b "$KAFKA_BROKERS" -t twinwatch.events.v1 -C -e -q -f '.' 2>/dev/null | wc -c)
assert_eq "$hw" 9 "messages on the topic after twinctl --config publish"
out=$("${NOENV[@]}" TWINWATCH_CONFIG="$T/t.conf" "$TWINCTL" status) || fail "twinctl status with TWINWATCH_CONFIG: $out"
sum=$(awk -F'\t' '/^partition\thigh/ { f = 1; next } f && /^[0-9]+\t/ { n += $2 } END { print n + 0 }' <<<"$out")
assert_eq "$sum" 9 "events on the broker by twinctl status (TWINWATCH_CONFIG)"
# SASL in the file is applied: the devbroker does not do SASL, so the
# handshake is refused and nothing is acknowledged (no silent plaintext)
printf 'kafka.security.protocol = sasl_plaintext\nkafka.sasl.mechanisms = PLAIN\nkafka.sasl.username = operator\nkafka.message.timeout.ms = 3000\n' >>"$T/t.conf"
expect 1 'sasl_plaintext://.*SASL Handshake not supported by broker' \
  env TWINWATCH_KAFKA_SASL_PASSWORD=pw "${NOENV[@]}" "$TWINCTL" --config "$T/t.conf" publish "$T/one.jsonl"
hw=$(kcat -b "$KAFKA_BROKERS" -t twinwatch.events.v1 -C -e -q -f '.' 2>/dev/null | wc -c)
assert_eq "$hw" 9 "messages on the topic after a refused SASL handshake"
# the example ops/config/twinctl.conf loads
expect 0 'kafka.security.protocol = SASL_SSL' "$TWINCTL" --config "$TW_ROOT/ops/config/twinctl.conf" --print-config

# the README's example projector.conf is a file the projector takes
awk '/^# \/etc\/twinwatch\/projector.conf$/ { f = 1 } f && /^```$/ { exit } f' "$TW_ROOT/README.md" >"$T/readme.conf"
[ -s "$T/readme.conf" ] || fail "README's example projector.conf not found"
expect 0 'lanes = 2' "$PROJECTOR" --config "$T/readme.conf" --print-config
echo "cli: bad input refused everywhere with file:line messages"
