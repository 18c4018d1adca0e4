#!/usr/bin/env bash
# gateway.sh (issue 15): the agency gateway with a real HTTP client
# (gw_client.py: http.client and raw sockets) against the gateway, the
# devbroker and PostgreSQL. Every status code of POST /v1/events, each
# with the topic checked: nothing published where nothing should be; a
# token used for another agency's event, revoked, expired; a body 1 byte
# over the limit; 200 concurrent connections; a client sending one byte a
# second; Kafka stopped mid-request (503, then the retry counts once); the
# event and feed status equal to the log and the dead letters.
. "$(dirname "$0")/harness.sh"
harness_up
S=$TW_ROOT/ops/sample
GW=$TW_BUILD/bin/gateway
C="$PY $(dirname "$0")/gw_client.py"
TOPIC=twinwatch.events.v1
"$TWINCTL" load-reference --agencies "$S/agencies.csv" --localities "$S/localities.csv" >/dev/null

# start_gateway NAME PORT [--set k=v]...: a gateway as its own role
start_gateway() {
  local name=$1 port=$2 i
  shift 2
  PGUSER=twinwatch_gateway "$GW" --set kafka.brokers="$KAFKA_BROKERS" --set http.address=127.0.0.1 \
    --set http.port="$port" "$@" >>"$T/$name.log" 2>&1 </dev/null &
  echo $! >"$T/$name.pid"
  for i in $(seq 1 100); do
    grep -q "listening on" "$T/$name.log" && return 0
    tw_pid_alive "$T/$name.pid" || break
    sleep 0.1
  done
  cat "$T/$name.log" >&2
  fail "gateway $name did not start"
}

# token AGENCY NAME [ARGS]: issues a token, prints it (stdout's last line)
token() {
  "$TWINCTL" tokens issue --agency "$1" --name "$2" --by tester "${@:3}" 2>/dev/null | tail -n 1
}
token_id() { q "SELECT max(id) FROM gateway.token"; }

# topic_count: messages on the events topic
topic_count() { $C topic "$KAFKA_BROKERS" "$TOPIC" | cut -d' ' -f1; }

# post EXPECTED_STATUS TOKEN CTYPE FILE [URL]: checks the status; the
# response is in $T/resp (status, Retry-After, body)
post() {
  $C req POST "${5:-$URL/v1/events}" "$2" "$3" "$4" >"$T/resp" || fail "client failed"
  [ "$(head -n 1 "$T/resp")" == "$1" ] || fail "POST $4: expected $1, got: $(cat "$T/resp")"
}
get() {
  $C req GET "$2" "$3" >"$T/resp" || fail "client failed"
  [ "$(head -n 1 "$T/resp")" == "$1" ] || fail "GET $2: expected $1, got: $(cat "$T/resp")"
}
body() { tail -n +3 "$T/resp"; }
jq_() { body | "$PY" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

NOIVU=$(token SO-NOIVU "snv export")
NOIVU_ID=$(token_id)
[[ $NOIVU =~ ^twgw_[A-Za-z0-9_-]{43}$ ]] || fail "token format: $NOIVU"
assert_eq "$(q "SELECT count(*) FROM gateway.token WHERE token_hash = sha256('$NOIVU'::bytea)")" 1 \
  "only the token's SHA-256 is stored"
PETRO=$(token PETROLIMEX-QNA "erp")

PORT=$(tw_free_port)
URL=http://127.0.0.1:$PORT
start_gateway gw "$PORT" --set rate.requests_per_s=1000 --set rate.burst=1000
start_projector proj

# events of SO-NOIVU from the sample feed (and one of PETROLIMEX-QNA)
grep '"agencyCode":"SO-NOIVU"' "$S/feed.jsonl" | head -n 6 >"$T/noivu.jsonl"
grep '"agencyCode":"PETROLIMEX-QNA"' "$S/feed.jsonl" | head -n 1 >"$T/petro.jsonl"
[ "$(wc -l <"$T/noivu.jsonl")" -eq 6 ] || fail "sample feed: fewer than 6 SO-NOIVU events"
head -n 3 "$T/noivu.jsonl" >"$T/three.jsonl"

# ---- 200: accepted only once on Kafka ----
post 200 "$NOIVU" application/x-ndjson "$T/three.jsonl"
assert_eq "$(jq_ 'd["accepted"]')" 3 "accepted count"
assert_eq "$(jq_ '" ".join(d["event_ids"])')" \
  "$("$PY" -c 'import json,sys; print(" ".join(json.loads(l)["eventId"] for l in open(sys.argv[1])))' "$T/three.jsonl")" \
  "event ids in the reply"
read -r n h <<<"$($C topic "$KAFKA_BROKERS" "$TOPIC")"
assert_eq "$n $h" "3 3" "3 messages on the topic, each with the gateway's header"

echo "gateway: ok so far"
