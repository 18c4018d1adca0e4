#!/usr/bin/env bash
# devbroker_smoke.sh DEVBROKER: starts the devbroker, round-trips 100 keyed
# messages through it with kcat, pings its control socket, and checks that
# SIGTERM stops it cleanly (exit 0, bootstrap file and socket removed).
set -euo pipefail

BIN=${1:?usage: devbroker_smoke.sh PATH/TO/devbroker}
PY=/usr/bin/python3
TOPIC=twinwatch.events.v1
N=100

T=$(mktemp -d /tmp/devbroker-smoke.XXXXXX)
PID=

fail() {
  echo "FAIL: devbroker smoke: $*" >&2
  if [ -s "$T/devbroker.log" ]; then
    echo "--- devbroker log (tail) ---" >&2
    tail -n 20 "$T/devbroker.log" >&2
  fi
  exit 1
}

cleanup() {
  local rc=$?
  set +e
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kill -KILL "$PID"
    wait "$PID" 2>/dev/null
  fi
  rm -rf "$T"
  exit $rc
}
trap cleanup EXIT

[ -x "$BIN" ] || fail "$BIN is not an executable"
command -v kcat >/dev/null || fail "kcat is not installed (apt-get install kcat)"
[ -x "$PY" ] || fail "$PY is missing"

# control CMD: sends one line to the control socket and prints the answer.
control() {
  "$PY" - "$T/control.sock" "$1" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
print(s.makefile().readline().rstrip("\n"))
EOF
}

"$BIN" --bootstrap-file "$T/bootstrap" --control "$T/control.sock" \
  >"$T/devbroker.out" 2>"$T/devbroker.log" </dev/null &
PID=$!

for _ in $(seq 1 100); do
  [ -s "$T/bootstrap" ] && break
  kill -0 "$PID" 2>/dev/null || fail "devbroker exited during start-up"
  sleep 0.1
done
[ -s "$T/bootstrap" ] || fail "no bootstrap file after 10 s"
B=$(cat "$T/bootstrap")
[[ $B =~ ^[^,]+:[0-9]+(,[^,]+:[0-9]+)*$ ]] || fail "bootstrap file holds \"$B\", not HOST:PORT,..."
grep -q "^devbroker: listening on $B\$" "$T/devbroker.log" || fail "no 'listening on $B' log line"
[ "$(cat "$T/devbroker.out")" == "$B" ] || fail "stdout is not the bare bootstrap list"

seq 1 $N | awk '{ print "key-" $1 ":value-" $1 }' |
  timeout 30 kcat -P -b "$B" -t $TOPIC -K: || fail "kcat could not produce to $TOPIC"

timeout 30 kcat -C -b "$B" -t $TOPIC -e -q -f '%k\n' >"$T/keys" ||
  fail "kcat could not consume $TOPIC to its end"
got=$(wc -l <"$T/keys")
[ "$got" -eq $N ] || fail "consumed $got messages from $TOPIC, expected $N"
distinct=$(sort -u "$T/keys" | grep -c '^key-')
[ "$distinct" -eq $N ] || fail "consumed $distinct distinct keys, expected $N"

answer=$(control ping) || fail "could not talk to the control socket $T/control.sock"
[ "$answer" == "ok pong" ] || fail "control ping answered \"$answer\", expected \"ok pong\""
answer=$(control "fail Nope 1 1")
[[ $answer == error:* ]] || fail "a bad control command answered \"$answer\", expected error: ..."

kill -TERM "$PID"
rc=0
wait "$PID" || rc=$?
PID=
[ $rc -eq 0 ] || fail "devbroker exited $rc on SIGTERM, expected 0"
[ ! -e "$T/bootstrap" ] || fail "bootstrap file still there after SIGTERM"
[ ! -e "$T/control.sock" ] || fail "control socket still there after SIGTERM"

echo "ok: devbroker smoke ($N messages round-tripped, control ping, clean SIGTERM)"
