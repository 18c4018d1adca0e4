#!/usr/bin/env bash
# secrets.sh: no password or token a run uses appears in what the run leaves
# behind. The operator (twinctl) and the projector log in with real SCRAM
# passwords (pgpass file, PGPASSWORD), a Kafka SASL password is set through
# the environment and a config file, and a run does the usual and the
# failing things: publish, wait, status, dlq list, rebuild, audit verify,
# --print-config, a refused login, a conninfo that does not parse, a bad
# config value. Then every file the run wrote (logs, outputs, the server's
# log) and every process title is searched for each secret.
. "$(dirname "$0")/harness.sh"
harness_up

# the secrets: random, so that a hit is never a coincidence
secret() { head -c 15 /dev/urandom | base64 | tr '+/' 'xy'; }
PROJECTOR_PW=$(secret)
SASL_PW=$(secret)
FILE_SASL_PW=$(secret)
CONNINFO_PW=$(secret)
BADQUOTE_PW=$(secret)
WRONG_PW=$(secret)
psql -XAtq -v ON_ERROR_STOP=1 -v pw="$PROJECTOR_PW" >/dev/null <<'SQL'
ALTER ROLE twinwatch_projector PASSWORD :'pw';
SQL
hba=$T/pg/pg_hba.conf
{ echo "host all twinwatch_projector 127.0.0.1/32 scram-sha-256"; cat "$hba"; } >"$hba.new"
cat "$hba.new" >"$hba" && rm -f "$hba.new"
q "SELECT pg_reload_conf()" >/dev/null
# the password is needed: without it the projector is refused
out=$(PGUSER=twinwatch_projector psql -XAtqc "SELECT 1" -w 2>&1) &&
  fail "twinwatch_projector logs in without its password"

port=$(tw_free_port)
PGPASSWORD=$PROJECTOR_PW TWINWATCH_KAFKA_SASL_PASSWORD=$SASL_PW \
  start_projector p1 --set http.port="$port" --set http.address=127.0.0.1 --set log.level=debug

# twinctl's usual day, as the operator (pgpass), with a SASL password in the environment
export TWINWATCH_KAFKA_SASL_PASSWORD=$SASL_PW
"$TWINCTL" load-reference --agencies "$TW_ROOT/ops/sample/agencies.csv" \
  --localities "$TW_ROOT/ops/sample/localities.csv" >"$T/load.out" 2>&1 || fail "load-reference"
head -n 300 "$TW_ROOT/ops/sample/feed.jsonl" >"$T/feed.jsonl"
"$TWINCTL" publish "$T/feed.jsonl" >"$T/publish.out" 2>&1 ||
  fail "publish: $(tail -n 5 "$T/publish.out")"
printf 'not json\n{"eventId":"x"}\n' >"$T/bad.jsonl"
"$TWINCTL" publish "$T/bad.jsonl" >"$T/publish-bad.out" 2>&1 && fail "a bad feed was published"
"$TWINCTL" wait --caught-up --timeout 60 >"$T/wait.out" 2>&1 || fail "wait: $(cat "$T/wait.out")"
for cmd in status "dlq list" digest "audit verify" "--print-config status"; do
  # shellcheck disable=SC2086
  "$TWINCTL" $cmd >>"$T/twinctl.out" 2>&1 || fail "twinctl $cmd: $(tail -n 5 "$T/twinctl.out")"
done
"$TWINCTL" rebuild --yes >>"$T/twinctl.out" 2>&1 || fail "rebuild"
http_get "http://127.0.0.1:$port/healthz" >"$T/healthz.out"
http_get "http://127.0.0.1:$port/metrics" >"$T/metrics.out"

# the process titles while everything runs
ps -eo pid,args >"$T/ps.out"
for p in /proc/[0-9]*; do { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null || true; echo; done >"$T/cmdlines.out"

# failures: a refused login, a conninfo with a password that does not
# parse, a config file's secrets, a bad value next to a secret
PGPASSWORD=$WRONG_PW PGUSER=twinwatch_projector "$PROJECTOR" --set kafka.brokers="$KAFKA_BROKERS" \
  >"$T/refused.out" 2>&1 </dev/null &
refused=$!
for _ in $(seq 100); do grep -q 'password authentication failed' "$T/refused.out" && break; sleep 0.1; done
kill "$refused" 2>/dev/null || true
wait "$refused" 2>/dev/null || true
grep -q 'password authentication failed' "$T/refused.out" ||
  fail "the projector with a wrong password does not say so: $(tail -n 3 "$T/refused.out")"
"$TWINCTL" --set pg.conninfo="host=127.0.0.1 port=1 user=x password=$CONNINFO_PW" status \
  >"$T/conninfo.out" 2>&1 && fail "twinctl status against a closed port succeeded"
grep -q 'port 1 failed' "$T/conninfo.out" || fail "no reason given: $(cat "$T/conninfo.out")"
"$TWINCTL" --set pg.conninfo="host=db password='$BADQUOTE_PW" --print-config >"$T/badquote.out" 2>&1 ||
  true
grep -q 'pg.conninfo = \*\*\*\*' "$T/badquote.out" || fail "a bad conninfo is not masked: $(cat "$T/badquote.out")"
printf 'kafka.sasl.password = %s\nbatch.max-events = lots\n' "$FILE_SASL_PW" >"$T/secret.conf"
chmod 600 "$T/secret.conf"
expect 2 'batch.max-events' "$PROJECTOR" --config "$T/secret.conf" --print-config
printf 'kafka.sasl.password = %s\n' "$FILE_SASL_PW" >"$T/secret.conf"
"$PROJECTOR" --config "$T/secret.conf" --print-config >"$T/print.out" 2>&1 || fail "--print-config"
grep -q '^kafka.sasl.password = \*\*\*\*$' "$T/print.out" || fail "SASL password not masked"
stop_projector p1

# every file the run left (the pgpass and the config file hold the secrets
# by design), every output and every process title
found=$(grep -rlaF \
  -e "$OPERATOR_PASSWORD" -e "$PROJECTOR_PW" -e "$SASL_PW" -e "$FILE_SASL_PW" -e "$CONNINFO_PW" \
  -e "$BADQUOTE_PW" -e "$WRONG_PW" "$T" --exclude=pgpass --exclude=secret.conf --exclude=ps.out \
  --exclude=cmdlines.out || true)
[ -z "$found" ] || fail "a secret appears in: $found"
# process titles: only this script's own children were given secrets, and
# through the environment or files, never on a command line
! grep -aF -e "$OPERATOR_PASSWORD" -e "$PROJECTOR_PW" -e "$SASL_PW" -e "$FILE_SASL_PW" \
  "$T/ps.out" "$T/cmdlines.out" || fail "a secret in a process title"
n=$(find "$T" -type f ! -name pgpass ! -name secret.conf | wc -l)
[ "$n" -ge 10 ] || fail "too few files searched ($n)"
echo "secrets: ok (7 secrets, $n files and every process title searched)"
