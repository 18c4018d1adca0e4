#!/usr/bin/env bash
# gateway.sh (issue 15): the agency gateway with a real HTTP client
# (gw_client.py: http.client and raw sockets) against the gateway, the
# devbroker and PostgreSQL. Every status code of POST /v1/events, each
# with the topic checked: nothing published where nothing should be; a
# token used for another agency's event, revoked, expired; a body 1 byte
# over the limit; 200 concurrent connections; a client sending one byte a
# second; Kafka stopped mid-request (503, then the retry counts once); the
# event and feed status equal to the log and the dead letters; a successor's
# token sending for its predecessors (agency lineage), not the other way.
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
  $C req GET "$2" "${3:--}" >"$T/resp" || fail "client failed"
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
grep -m 6 '"agencyCode":"SO-NOIVU"' "$S/feed.jsonl" >"$T/noivu.jsonl"
grep -m 1 '"agencyCode":"PETROLIMEX-QNA"' "$S/feed.jsonl" >"$T/petro.jsonl"
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


# ---- 400: every bad line named, nothing published ----
before=$(topic_count)
NOW_MS=$(($(date +%s) * 1000))
{
  sed -n 4p "$T/noivu.jsonl"
  echo '{"agencyCode":"SO-NOIVU","localityCode":"20869","occurredAtMs":"1700000000000","sourceSystem":"t","sourceRef":"bad-1","supportPledged":{"pledgeId":"P-X","dueDate":"31/12/2026"}}'
  echo
  echo '{"agencyCode":"SO-NOIVU","localityCode":"20869","occurredAtMs":"1700000000000","sourceSystem":"t","sourceRef":"bad-2","visit":{"bogus":1}}'
  echo '{"agencyCode": "SO-NOIVU",'
} >"$T/bad.jsonl"
post 400 "$NOIVU" application/x-ndjson "$T/bad.jsonl"
assert_eq "$(jq_ '[e["line"] for e in d["errors"]]')" "[2, 4, 5]" "400 names every bad line"
assert_eq "$(jq_ 'd["errors"][0]["field"]')" "supportPledged.dueDate" "400 names the field"
assert_eq "$(jq_ 'd["errors"][1]["field"]')" "visit.bogus" "400 names an unknown field"
grep -q 'not a date YYYY-MM-DD' "$T/resp" || fail "400 gives the reason: $(cat "$T/resp")"
assert_eq "$(topic_count)" "$before" "a 400 publishes nothing"
# CSV: a row with a cell too few
printf 'type,agencyCode,localityCode,occurredAtMs,sourceSystem,sourceRef\nfeedHeartbeat,SO-NOIVU,20869,%s,snv-export,csv-1\nfeedHeartbeat,SO-NOIVU,20869,%s,snv-export\n' \
  "$NOW_MS" "$NOW_MS" >"$T/bad.csv"
post 400 "$NOIVU" text/csv "$T/bad.csv"
assert_eq "$(jq_ 'd["errors"][0]["line"]')" 3 "CSV: the bad row's line"
: >"$T/empty"
post 400 "$NOIVU" application/x-ndjson "$T/empty"
assert_eq "$(topic_count)" "$before" "a 400 publishes nothing (CSV, empty)"

# ---- 403: an event of another agency, named by line; nothing published ----
cat "$T/three.jsonl" "$T/petro.jsonl" >"$T/mixed.jsonl"
post 403 "$NOIVU" application/x-ndjson "$T/mixed.jsonl"
assert_eq "$(jq_ 'd["lines"]')" "[{'line': 4, 'agencyCode': 'PETROLIMEX-QNA'}]" "403 names the line"
assert_eq "$(topic_count)" "$before" "a 403 publishes nothing"

# ---- 401: no token, an unknown one, another scheme ----
post 401 - application/x-ndjson "$T/three.jsonl"
grep -q 'Authorization: Bearer' "$T/resp" || fail "401 says how: $(cat "$T/resp")"
post 401 "twgw_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" application/x-ndjson "$T/three.jsonl"
get 401 "$URL/v1/feed" "${NOIVU}x"
assert_eq "$(topic_count)" "$before" "a 401 publishes nothing"

# ---- 415, 404, 405 ----
post 415 "$NOIVU" text/plain "$T/three.jsonl"
assert_eq "$(topic_count)" "$before" "a 415 publishes nothing"
get 404 "$URL/v2/things" "$NOIVU"
get 405 "$URL/v1/events" "$NOIVU"

# ---- 200 in CSV and in length-delimited protobuf ----
printf 'type,agencyCode,localityCode,occurredAtMs,sourceSystem,sourceRef\nfeedHeartbeat,SO-NOIVU,20869,%s,snv-export,csv-1\n' \
  "$NOW_MS" >"$T/good.csv"
post 200 "$NOIVU" "text/csv; charset=utf-8" "$T/good.csv"
assert_eq "$(jq_ 'd["accepted"]')" 1 "CSV accepted"
$C topic "$KAFKA_BROKERS" "$TOPIC" "$T/all.pb" >/dev/null
post 200 "$NOIVU" application/x-protobuf "$T/all.pb"
assert_eq "$(jq_ 'd["accepted"]')" 4 "protobuf accepted (the same 4 events again)"
assert_eq "$(topic_count)" $((before + 5)) "CSV and protobuf published"

# ---- agency lineage: a successor's token sends for its predecessors, not
# the other way, nor for a sibling that went into the same successor ----
printf 'old_code,new_code,effective,kind,legal_act\nSO-KHDT,SO-TAICHINH,2025-03-01,whole,test\nSO-GTVT,SO-TAICHINH,2025-03-01,whole,test\n' \
  >"$T/agency-lineage.csv"
"$TWINCTL" load-reference --agency-lineage "$T/agency-lineage.csv" >/dev/null || fail "agency lineage"
TAICHINH=$(token SO-TAICHINH "stc export")
KHDT=$(token SO-KHDT "skhdt export")
lineage_event() { # AGENCY REF: a heartbeat of AGENCY
  printf '{"agencyCode":"%s","localityCode":"20869","occurredAtMs":"%s","sourceSystem":"export","sourceRef":"%s","feedHeartbeat":{}}\n' \
    "$1" "$NOW_MS" "$2"
}
lineage_event SO-KHDT late-1 >"$T/khdt.jsonl"
lineage_event SO-TAICHINH own-1 >"$T/taichinh.jsonl"
lineage_event SO-GTVT sib-1 >"$T/gtvt.jsonl"
post 403 "$KHDT" application/x-ndjson "$T/taichinh.jsonl"
assert_eq "$(jq_ 'd["lines"]')" "[{'line': 1, 'agencyCode': 'SO-TAICHINH'}]" \
  "a predecessor's token does not speak for its successor"
post 403 "$KHDT" application/x-ndjson "$T/gtvt.jsonl"
assert_eq "$(jq_ 'd["lines"]')" "[{'line': 1, 'agencyCode': 'SO-GTVT'}]" \
  "a predecessor's token does not speak for a sibling"
assert_eq "$(topic_count)" "$((before + 5))" "lineage 403s publish nothing"
cat "$T/taichinh.jsonl" "$T/khdt.jsonl" "$T/gtvt.jsonl" >"$T/succ.jsonl"
post 200 "$TAICHINH" application/x-ndjson "$T/succ.jsonl"
assert_eq "$(jq_ 'd["accepted"]')" 3 "the successor's token sends its own and its predecessors' events"
assert_eq "$(topic_count)" "$((before + 8))" "the successor's events published"

# ---- revoked and expired tokens: refused from the next request, no restart ----
R=$(token SO-NOIVU "to revoke")
R_ID=$(token_id)
get 200 "$URL/v1/feed" "$R"
"$TWINCTL" tokens revoke "$R_ID" --by tester >/dev/null
get 401 "$URL/v1/feed" "$R"
grep -q "token $R_ID is revoked" "$T/resp" || fail "401 says revoked: $(cat "$T/resp")"
before=$(topic_count)
post 401 "$R" application/x-ndjson "$T/three.jsonl"
assert_eq "$(topic_count)" "$before" "a revoked token publishes nothing"
E=$(token SO-NOIVU "short-lived" --expires "$(date -u -d '+3 seconds' '+%Y-%m-%d %H:%M:%S+00')")
E_ID=$(token_id)
get 200 "$URL/v1/feed" "$E"
sleep 4
post 401 "$E" application/x-ndjson "$T/three.jsonl"
grep -q "token $E_ID is expired" "$T/resp" || fail "401 says expired: $(cat "$T/resp")"
assert_eq "$(topic_count)" "$before" "an expired token publishes nothing"
assert_eq "$(q "SELECT string_agg(action, ',' ORDER BY seq) FROM audit.action_log WHERE subject = 'token:$R_ID'")" \
  "token.issue,token.revoke" "issue and revoke are in the audit trail"
"$TWINCTL" tokens list >"$T/list"
grep -Eq "^$R_ID +SO-NOIVU +revoked" "$T/list" || fail "tokens list shows the revocation"
grep -q "twgw_" "$T/list" && fail "tokens list must never show a token"

# ---- 200 concurrent connections ----
mkdir -p "$T/conc"
for i in $(seq 0 199); do
  printf '{"agencyCode":"SO-NOIVU","localityCode":"20869","occurredAtMs":"%s","sourceSystem":"snv-export","sourceRef":"hb-%d","feedHeartbeat":{}}\n' "$NOW_MS" "$i" >"$T/conc/$i.jsonl"
done
before=$(topic_count)
assert_eq "$($C concurrent "$URL/v1/events" "$NOIVU" "$T/conc" 200)" "200 200" "200 concurrent connections, each 200"
assert_eq "$(topic_count)" $((before + 200)) "the 200 events published"

# ---- a second gateway with tight limits: 413, 429, a slow client ----
PORT2=$(tw_free_port)
URL2=http://127.0.0.1:$PORT2
start_gateway gw2 "$PORT2" --set ingest.max_body_bytes=2048 --set rate.requests_per_s=1 \
  --set rate.burst=2 --set http.request_timeout_s=3
"$PY" - "$T/three.jsonl" "$T/at-limit.jsonl" "$T/over-limit.jsonl" <<'PY'
import sys
line = open(sys.argv[1], "rb").readline()
assert len(line) < 2000
open(sys.argv[2], "wb").write(line + b"\n" * (2048 - len(line)))
open(sys.argv[3], "wb").write(line + b"\n" * (2049 - len(line)))
PY
before=$(topic_count)
post 200 "$NOIVU" application/x-ndjson "$T/at-limit.jsonl" "$URL2/v1/events"
post 413 "$NOIVU" application/x-ndjson "$T/over-limit.jsonl" "$URL2/v1/events"
grep -q 'ingest.max_body_bytes' "$T/resp" || fail "413 names the setting: $(cat "$T/resp")"
assert_eq "$(topic_count)" $((before + 1)) "a 413 publishes nothing"
# the bucket holds 2, refilled at one a second; a fresh token's bucket is
# full (NOIVU's refills by however long the requests above took)
BURST=$(token SO-NOIVU "burst")
burst=$($C burst "$URL2/v1/events" "$BURST" 2 "$T/three.jsonl")
[[ $burst =~ ^200\ 200\ 429\ Retry-After:\ [1-9] ]] || fail "429 with Retry-After: $burst"
assert_eq "$(topic_count)" $((before + 1)) "a 429 publishes nothing"
get 200 "$URL/v1/feed" "$PETRO" # another token's bucket is its own
slow=$($C slow "$URL2/v1/events" "$NOIVU" "$T/three.jsonl" 15)
[[ $slow =~ ^cut\ after\ [0-9]+\ s.*408 ]] || fail "a client sending a byte a second is cut with 408: $slow"
assert_eq "$(topic_count)" $((before + 1)) "a cut request publishes nothing"

# ---- connections are bounded: beyond http.max_connections, closed at once ----
PORT5=$(tw_free_port)
start_gateway gw5 "$PORT5" --set http.max_connections=5
conn=$($C connlimit "http://127.0.0.1:$PORT5/" 5)
[[ $conn == "held: HTTP/1.1 200 OK; extra: closed" ]] || fail "connection bound: $conn"
tw_stop_pid "$T/gw5.pid"

# ---- Kafka down: 503 with Retry-After, nothing counted; the retry counts once ----
PORT3=$(tw_free_port)
start_gateway gw3 "$PORT3" --set ingest.ack_timeout_ms=2000
sed -n '4,6p' "$T/noivu.jsonl" >"$T/later.jsonl"
ids=$("$PY" -c 'import json,sys; print(",".join("'"'"'%s'"'"'" % json.loads(l)["eventId"] for l in open(sys.argv[1])))' "$T/later.jsonl")
broker() {
  "$PY" -c 'import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1])
s.sendall((sys.argv[2] + "\n").encode()); print(s.makefile().readline().strip())' "$T/broker/control.sock" "$*"
}
# the broker goes down while the request's body is arriving
mid=$($C midway "http://127.0.0.1:$PORT3/v1/events" "$NOIVU" "$T/later.jsonl" "$T/broker/control.sock" "down 1")
[[ $mid =~ ^503\ Retry-After:\ [1-9] ]] || fail "Kafka stopped mid-request: 503 with Retry-After: $mid"
post 503 "$NOIVU" application/x-ndjson "$T/later.jsonl" "http://127.0.0.1:$PORT3/v1/events"
[[ $(sed -n 2p "$T/resp") =~ ^Retry-After:\ [1-9] ]] || fail "503 has Retry-After: $(cat "$T/resp")"
[[ $(broker up 1) == ok* ]] || fail "devbroker up"
post 200 "$NOIVU" application/x-ndjson "$T/later.jsonl" "http://127.0.0.1:$PORT3/v1/events"
post 200 "$NOIVU" application/x-ndjson "$T/later.jsonl" "http://127.0.0.1:$PORT3/v1/events"
"$TWINCTL" wait --caught-up --timeout 60 >/dev/null
assert_eq "$(q "SELECT count(*) FROM audit.event_log WHERE event_id IN ($ids)")" 3 \
  "the retried events are in the log once each"

# ---- what became of an event, and the feed, equal to the log and the dead letters ----
printf '{"agencyCode":"SO-NOIVU","localityCode":"99999","occurredAtMs":"%s","sourceSystem":"snv-export","sourceRef":"nowhere-1","visit":{"purpose":"x"}}\n' "$NOW_MS" >"$T/nowhere.jsonl"
post 200 "$NOIVU" application/x-ndjson "$T/nowhere.jsonl"
DEAD_ID=$(jq_ 'd["event_ids"][0]')
post 200 "$PETRO" application/x-ndjson "$T/petro.jsonl"
PETRO_EV=$(jq_ 'd["event_ids"][0]')
"$TWINCTL" wait --caught-up --timeout 60 >/dev/null
FIRST=$("$PY" -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["eventId"])' "$T/three.jsonl")
get 200 "$URL/v1/events/$FIRST" "$NOIVU"
assert_eq "$(jq_ 'd["status"]')" accepted "an accepted event"
get 200 "$URL/v1/events/$DEAD_ID" "$NOIVU"
assert_eq "$(jq_ 'd["status"], d["reason"]')" "dead_lettered unknown_locality" "a dead-lettered event"
get 200 "$URL/v1/events/$PETRO_EV" "$NOIVU"
assert_eq "$(jq_ 'd["status"]')" pending "another agency's event is not shown"
get 200 "$URL/v1/events/$PETRO_EV" "$PETRO"
assert_eq "$(jq_ 'd["status"]')" accepted "the agency's own event"
get 400 "$URL/v1/events/not-a-uuid" "$NOIVU"
get 200 "$URL/v1/feed" "$NOIVU"
assert_eq "$(jq_ 'd["accepted"]')" "$(q "SELECT count(*) FROM audit.event_log WHERE agency_code = 'SO-NOIVU'")" \
  "feed: accepted = the log's rows"
assert_eq "$(jq_ 'json.dumps(d["dead_lettered"], sort_keys=True)')" \
  "$(q "SELECT coalesce(jsonb_object_agg(reason, n), '{}') FROM (SELECT reason, count(*) n FROM ingest.dead_letter WHERE agency_code = 'SO-NOIVU' GROUP BY reason) r")" \
  "feed: dead letters by reason = ingest.dead_letter"
assert_eq "$(jq_ '",".join(str(x["id"]) for x in d["pending_dead_letters"])')" \
  "$(q "SELECT string_agg(id::text, ',' ORDER BY id) FROM ingest.dead_letter WHERE agency_code = 'SO-NOIVU' AND replayed_at IS NULL")" \
  "feed: pending dead letters = ingest.dead_letter's"
assert_eq "$(jq_ 'd["last_event"]["event_id"]')" \
  "$(q "SELECT event_id FROM audit.event_log WHERE agency_code = 'SO-NOIVU' ORDER BY seq DESC LIMIT 1")" \
  "feed: last event"
assert_eq "$(jq_ 'd["silent"]')" False "feed: not silent"

# ---- /metrics and /healthz ----
get 200 "$URL/healthz"
get 200 "$URL/metrics"
grep -q 'twinwatch_gateway_requests_total{route="post_events",status="403"} 3' "$T/resp" ||
  fail "metrics count requests by route and status"
grep -q 'twinwatch_gateway_events_total{result="accepted"}' "$T/resp" || fail "metrics: events by result"
grep -q 'twinwatch_gateway_request_seconds_bucket{route="post_events"' "$T/resp" || fail "metrics: latency"
grep -q '^twinwatch_gateway_producer_queue ' "$T/resp" || fail "metrics: producer queue"
# the Grafana panels name only what this scrape shows
body >"$T/metrics.txt"
"$PY" "$TW_ROOT/tests/deploy/check_dashboard.py" "$TW_ROOT/ops/grafana/twinwatch.json" \
  --service gateway "$T/metrics.txt" || fail "the dashboard's gateway panels do not match /metrics"

# ---- HTTPS by configuration ----
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 1 \
  -subj /CN=127.0.0.1 >/dev/null 2>&1 || fail "openssl req"
PORT4=$(tw_free_port)
start_gateway gw4 "$PORT4" --set http.tls.cert="$T/cert.pem" --set http.tls.key="$T/key.pem"
get 200 "https://127.0.0.1:$PORT4/v1/feed" "$NOIVU"
echo "gateway: all checks passed"
