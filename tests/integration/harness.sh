# harness.sh: sourced by integration tests. Starts a throwaway PostgreSQL
# and devbroker on free ports in a temporary directory, migrates, and stops
# everything on exit. Exports PG* and KAFKA_BROKERS for twinctl and psql.
set -euo pipefail
TW_ROOT=${TW_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
. "$TW_ROOT/ops/lib.sh"
PROJECTOR=$TW_BUILD/bin/projector
PY=/usr/bin/python3

T=$(mktemp -d /tmp/twtest.XXXXXX)
chmod 755 "$T"
export TWINWATCH_ENV=$T/none # never read a developer's .local/env

# twinctl runs as twinwatch_operator (schemas/030), as an operator's would:
# the tests' PGUSER is the superuser (psql's, for setting up and checking),
# which only migrate uses (migrate.conninfo). A test that names another
# role (PGUSER=tw_clerk "$TWINCTL" ...) keeps it.
TWINCTL=$T/twinctl
cat >"$TWINCTL" <<WRAP
#!/bin/sh
[ "\${PGUSER:-}" = twinwatch ] && export PGUSER=twinwatch_operator
exec "$TW_BUILD/bin/twinctl" "\$@"
WRAP
chmod 755 "$TWINCTL"
export TWINWATCH_MIGRATE_CONNINFO="user=twinwatch"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

harness_cleanup() {
  local rc=$?
  set +e
  for f in "$T"/*.pid; do [ -f "$f" ] && tw_stop_pid "$f" 5; done
  tw_stop_pid "$T/broker/devbroker.pid" 5
  tw_pg_stop "$T/pg" immediate
  if [ $rc -ne 0 ]; then
    echo "--- logs kept in $T ---" >&2
    for f in "$T"/*.log "$T"/pg/server.log; do
      case $f in *initdb.log) continue ;; esac
      [ -f "$f" ] && { echo "== $f (tail)"; tail -n 30 "$f"; } >&2
    done
  else
    rm -rf "$T"
  fi
  exit $rc
}
trap harness_cleanup EXIT

harness_up() {
  local port
  port=$(tw_free_port)
  tw_pg_start "$T/pg" "$port"
  export PGHOST=127.0.0.1 PGPORT=$port PGDATABASE=twinwatch PGUSER=twinwatch
  export KAFKA_BROKERS
  KAFKA_BROKERS=$(tw_broker_start "$T/broker" "$@")
  "$TWINCTL" migrate >/dev/null
  harness_operator_password
}

# The operator logs in with a real password (SCRAM; the other roles keep
# trust), from a pgpass file, so that tests/integration/secrets.sh can look
# for it wherever a run leaves text. OPERATOR_PASSWORD is the password.
harness_operator_password() {
  OPERATOR_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr '+/' 'xy')
  psql -XAtq -v ON_ERROR_STOP=1 -v pw="$OPERATOR_PASSWORD" >/dev/null <<'SQL'
ALTER ROLE twinwatch_operator PASSWORD :'pw';
SQL
  printf '127.0.0.1:%s:*:twinwatch_operator:%s\n' "$PGPORT" "$OPERATOR_PASSWORD" >"$T/pgpass"
  chmod 600 "$T/pgpass"
  export PGPASSFILE=$T/pgpass
  local hba=$T/pg/pg_hba.conf
  if ! grep -q twinwatch_operator "$hba"; then
    { echo "host all twinwatch_operator 127.0.0.1/32 scram-sha-256"; cat "$hba"; } >"$hba.new"
    cat "$hba.new" >"$hba" && rm -f "$hba.new"
    psql -XAtq -c "SELECT pg_reload_conf()" >/dev/null
  fi
}

# harness_db NAME: a second, migrated database on the same server, made
# the current one (PGDATABASE) for twinctl, psql and the projectors started
# after; the topic stays the same, so a new consumer group reads it again
harness_db() {
  psql -XAtq -d postgres -c "CREATE DATABASE $1"
  export PGDATABASE=$1
  "$TWINCTL" migrate >/dev/null
}

# start_projector NAME [--set k=v]...: a projector logging to $T/NAME.log,
# connected as its own role (schemas/010_audit.sql)
start_projector() {
  local name=$1
  shift
  PGUSER=twinwatch_projector "$PROJECTOR" --set kafka.brokers="$KAFKA_BROKERS" --set kafka.session.timeout.ms=6000 "$@" >>"$T/$name.log" 2>&1 </dev/null &
  echo $! >"$T/$name.pid"
}

stop_projector() {
  tw_stop_pid "$T/$1.pid" 10
}

q() { psql -XAtq -v ON_ERROR_STOP=1 -c "$1"; }

assert_eq() {
  [ "$1" == "$2" ] || fail "$3: expected [$2], got [$1]"
}

# expect CODE PATTERN CMD...: runs CMD, checks the exit code and that
# stderr+stdout matches PATTERN (extended regex).
expect() {
  local code=$1 pat=$2 out rc
  shift 2
  set +e
  out=$("$@" 2>&1)
  rc=$?
  set -e
  [ "$rc" -eq "$code" ] || fail "$*: exit $rc, expected $code; output: $out"
  grep -qE -- "$pat" <<<"$out" || fail "$*: output does not match /$pat/: $out"
}

# http_get URL: the status on the first line, then the body ("000" and the
# error when nothing answers); http_status URL: the status alone.
http_get() {
  "$PY" - "$1" <<'PY'
import sys, urllib.request, urllib.error
try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
        print(r.status); sys.stdout.write(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code); sys.stdout.write(e.read().decode())
except OSError as e:
    print("000"); print(e)
PY
}
http_status() { http_get "$1" >"$T/last-response.txt"; head -1 "$T/last-response.txt"; }
