#!/usr/bin/env bash
# provenance.sh (issue 15): every event's provenance in the hash-chained
# log, whichever door it came through: the gateway (gateway:<token id>),
# twinctl publish (twinctl:<operator>), an agency's own producer with its
# Ed25519 signature (direct, signature kept); with
# ingest.require_provenance, an unsigned direct event is dead-lettered
# unauthenticated and a wrongly signed one bad_signature. The feed status
# equals the dead letters; audit verify passes, then catches a tampered
# signature. A second database projected without require_provenance
# accepts the unsigned events as direct and still refuses the bad signature.
# With the secret the gateway and the projector share, a direct producer
# that writes the gateway's header is refused (bad_signature).
. "$(dirname "$0")/harness.sh"
harness_up
S=$TW_ROOT/ops/sample
C="$PY $(dirname "$0")/gw_client.py"
SIGN="$PY $(dirname "$0")/sign_produce.py"
TOPIC=twinwatch.events.v1
"$TWINCTL" load-reference --agencies "$S/agencies.csv" --localities "$S/localities.csv" >/dev/null

TOKEN=$("$TWINCTL" tokens issue --agency SO-NOIVU --name "snv" --by tester 2>/dev/null | tail -n 1)
TOKEN_ID=$(q "SELECT max(id) FROM gateway.token")
$SIGN keygen "$T/agency.key" "$T/agency.pub.pem"
"$TWINCTL" keys add --agency SO-NOIVU --by tester "$T/agency.pub.pem" | grep -q "of SO-NOIVU added by tester" ||
  fail "keys add"
assert_eq "$(q "SELECT action || ' ' || by_name FROM audit.action_log WHERE action = 'key.add'")" \
  "key.add tester" "keys add is audited"
expect 1 'registered already' "$TWINCTL" keys add --agency SO-NOIVU --by tester "$T/agency.pub.pem"
echo "not a key" >"$T/bad.pub"
expect 1 'not an Ed25519 public key' "$TWINCTL" keys add --agency SO-NOIVU --by tester "$T/bad.pub"

openssl rand -hex 32 >"$T/gw.secret"
PORT=$(tw_free_port)
PGUSER=twinwatch_gateway "$TW_BUILD/bin/gateway" --set kafka.brokers="$KAFKA_BROKERS" \
  --set http.address=127.0.0.1 --set http.port="$PORT" --set provenance.secret_file="$T/gw.secret" \
  >>"$T/gw.log" 2>&1 </dev/null &
echo $! >"$T/gw.pid"
start_projector proj --set ingest.require_provenance=true --set ingest.gateway_secret_file="$T/gw.secret"

# five sets of two heartbeats of SO-NOIVU, one set per door
NOW_MS=$(($(date +%s) * 1000))
for set in gw ctl signed unsigned wrong forged; do
  for i in 1 2; do
    printf '{"agencyCode":"SO-NOIVU","localityCode":"20869","occurredAtMs":"%s","sourceSystem":"snv-export","sourceRef":"%s-%d","feedHeartbeat":{}}\n' \
      "$NOW_MS" "$set" "$i"
  done >"$T/$set.jsonl"
done
for _ in $(seq 1 50); do grep -q "listening on" "$T/gw.log" && break; sleep 0.1; done
$C req POST "http://127.0.0.1:$PORT/v1/events" "$TOKEN" application/x-ndjson "$T/gw.jsonl" >"$T/resp"
[ "$(head -n 1 "$T/resp")" = 200 ] || fail "gateway: $(cat "$T/resp")"
"$TWINCTL" publish "$T/ctl.jsonl" >/dev/null
for set in signed unsigned wrong forged; do
  "$TWINCTL" publish --topic "scratch.$set" "$T/$set.jsonl" >/dev/null
  mode=$set
  [ "$set" = forged ] && mode=forged-gateway
  assert_eq "$($SIGN produce "$KAFKA_BROKERS" "scratch.$set" "$TOPIC" "$mode" "$T/agency.key")" 2 \
    "$set: produced directly"
done
"$TWINCTL" wait --caught-up --timeout 60 >/dev/null || fail "projector did not catch up"

prov_of() {
  q "SELECT string_agg(l.provenance || CASE WHEN l.signature IS NULL THEN '' ELSE '+sig' END, ' '
                       ORDER BY l.source_ref)
       FROM audit.event_log l WHERE l.source_ref LIKE '$1-%'"
}
dead_of() { q "SELECT string_agg(d.reason, ' ' ORDER BY d.id) FROM ingest.dead_letter d WHERE position(convert_to('$1-', 'UTF8') in d.payload) > 0"; }
assert_eq "$(prov_of gw)" "gateway:$TOKEN_ID gateway:$TOKEN_ID" "through the gateway"
USERNAME=${USER:-$(id -un)}
assert_eq "$(prov_of ctl)" "twinctl:$USERNAME twinctl:$USERNAME" "through twinctl publish"
assert_eq "$(prov_of signed)" "direct+sig direct+sig" "signed direct"
assert_eq "$(prov_of unsigned)" "" "unsigned direct: not logged"
assert_eq "$(dead_of unsigned)" "unauthenticated unauthenticated" "unsigned direct: dead letters"
assert_eq "$(prov_of wrong)" "" "wrongly signed: not logged"
assert_eq "$(dead_of wrong)" "bad_signature bad_signature" "wrongly signed: dead letters"
assert_eq "$(dead_of forged)" "bad_signature bad_signature" "the gateway's header without its MAC"

# the agency reads the same in its feed
$C req GET "http://127.0.0.1:$PORT/v1/feed" "$TOKEN" >"$T/resp"
assert_eq "$(tail -n +3 "$T/resp" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps(d["dead_lettered"], sort_keys=True), d["accepted"])')" \
  "$(q "SELECT coalesce(jsonb_object_agg(reason, n), '{}') FROM (SELECT reason, count(*) n FROM ingest.dead_letter WHERE agency_code = 'SO-NOIVU' GROUP BY reason) r") $(q "SELECT count(*) FROM audit.event_log WHERE agency_code = 'SO-NOIVU'")" \
  "feed status = ingest.dead_letter and the log"

# audit verify checks the chains with provenance, and the signatures again
expect 0 'every chain intact' "$TWINCTL" audit verify
SEQ=$(q "SELECT min(seq) FROM audit.event_log WHERE signature IS NOT NULL")
psql -XAtq -v ON_ERROR_STOP=1 -c "SET session_replication_role = replica;
  UPDATE audit.event_log SET signature = set_byte(signature, 0, get_byte(signature, 0) # 1)
   WHERE seq = $SEQ"
expect 1 "seq $SEQ .*signature does not verify with any key registered for SO-NOIVU" \
  "$TWINCTL" audit verify
expect 1 'chain\(s\) broken' "$TWINCTL" audit verify
psql -XAtq -v ON_ERROR_STOP=1 -c "SET session_replication_role = replica;
  UPDATE audit.event_log SET signature = set_byte(signature, 0, get_byte(signature, 0) # 1)
   WHERE seq = $SEQ"
expect 0 'every chain intact' "$TWINCTL" audit verify

# an operator who replays the unauthenticated dead letters vouches for them
"$TWINCTL" dlq replay --reason unauthenticated --by fixer >/dev/null
"$TWINCTL" wait --caught-up --timeout 60 >/dev/null || fail "projector did not catch up after the replay"
assert_eq "$(prov_of unsigned)" "twinctl:fixer twinctl:fixer" "replayed by an operator: twinctl:<operator>"

# without require_provenance (a second database, a second group): unsigned
# direct events are accepted as direct; a bad signature is still refused
harness_db noreq
"$TWINCTL" load-reference --agencies "$S/agencies.csv" --localities "$S/localities.csv" >/dev/null
"$TWINCTL" keys add --agency SO-NOIVU --by tester "$T/agency.pub.pem" >/dev/null
start_projector proj2 --set ingest.require_provenance=false --set group.id=noreq
"$TWINCTL" wait --caught-up --timeout 60 >/dev/null || fail "second projector did not catch up"
assert_eq "$(prov_of unsigned)" "direct direct" "unsigned direct without require_provenance"
assert_eq "$(dead_of wrong)" "bad_signature bad_signature" "a bad signature is refused all the same"
echo "provenance: all checks passed"
