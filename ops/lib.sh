# ops/lib.sh: shared shell functions for ops/up, ops/down, ops/test and the
# integration tests: packages, build, a private PostgreSQL, the devbroker.
# Source it; it defines functions and TW_ROOT and changes nothing by itself.

TW_ROOT=${TW_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
TW_BUILD=${TW_BUILD:-$TW_ROOT/build}
TW_PACKAGES="build-essential cmake pkg-config librdkafka-dev libpq-dev libprotobuf-c-dev
  protobuf-c-compiler libev-dev libjansson-dev libssl-dev libcmocka-dev libmicrohttpd-dev
  postgresql-15 postgresql-client-15 kcat python3 python3-confluent-kafka python3-psycopg2
  python3-protobuf protobuf-compiler procps util-linux tzdata docker-compose python3-yaml
  systemd libsodium-dev openssl curl python3-cryptography clang-14 libfuzzer-14-dev"

tw_say() { printf '%s\n' "$*" >&2; }
tw_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Installs the Debian packages that are missing (as root, or with sudo).
tw_install_packages() {
  local missing=() p
  for p in $TW_PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
      missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  tw_say "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq >/dev/null || tw_die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null || tw_die "apt-get install ${missing[*]} failed"
}

# Configures and builds into $TW_BUILD (extra CMake arguments pass through).
# Quiet when it works; the compiler's output when it does not.
tw_build() {
  mkdir -p "$TW_BUILD"
  if ! cmake -S "$TW_ROOT" -B "$TW_BUILD" -DCMAKE_BUILD_TYPE=${TW_BUILD_TYPE:-RelWithDebInfo} "$@" \
    >"$TW_BUILD/configure.log" 2>&1; then
    cat "$TW_BUILD/configure.log" >&2
    tw_die "cmake configure failed"
  fi
  if ! cmake --build "$TW_BUILD" -j"$(nproc)" >"$TW_BUILD/build.log" 2>&1; then
    grep -E -A5 'error|Error' "$TW_BUILD/build.log" | head -n 60 >&2
    tw_die "build failed (full log: $TW_BUILD/build.log)"
  fi
}

# Builds the libFuzzer targets of tests/fuzz into $TW_ROOT/build-fuzz with
# clang-14 (ASan + UBSan; only the library and the targets). Prints the
# directory of the binaries.
tw_build_fuzz() {
  local dir=$TW_ROOT/build-fuzz
  mkdir -p "$dir"
  if ! cmake -S "$TW_ROOT" -B "$dir" -DCMAKE_C_COMPILER=clang-14 -DTW_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$dir/configure.log" 2>&1; then
    cat "$dir/configure.log" >&2
    tw_die "cmake configure of the fuzz targets failed"
  fi
  if ! cmake --build "$dir" -j"$(nproc)" >"$dir/build.log" 2>&1; then
    grep -E -A5 'error|Error' "$dir/build.log" | head -n 60 >&2
    tw_die "fuzz build failed (full log: $dir/build.log)"
  fi
  echo "$dir/bin"
}

tw_free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

tw_pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$d" ] || tw_die "PostgreSQL server binaries not found (apt-get install postgresql-15)"
  echo "$d"
}

# Runs a PostgreSQL server program as the postgres user when we are root
# (initdb and postgres refuse root).
tw_pg_run() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# tw_pg_start DATADIR PORT: initialises (once) and starts a private cluster
# on 127.0.0.1:PORT with trust auth for the superuser "twinwatch", and
# creates the database "twinwatch". Durable settings: fsync and
# synchronous_commit stay on.
tw_pg_start() {
  local dir=$1 port=$2 bin
  bin=$(tw_pg_bin)
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$dir"
    runuser -u postgres -- test -w "$dir" ||
      tw_die "$dir is not reachable by the postgres user (a parent directory is private)"
  fi
  if [ ! -f "$dir/PG_VERSION" ]; then
    tw_pg_run "$bin/initdb" -D "$dir" -U twinwatch -A trust -E UTF8 --locale=C.UTF-8 \
      >"$dir.initdb.log" 2>&1 || { cat "$dir.initdb.log" >&2; tw_die "initdb $dir failed"; }
    cat >>"$dir/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
shared_buffers = 256MB
max_wal_size = 4GB
checkpoint_timeout = 15min
wal_buffers = 16MB
timezone = 'UTC'
logging_collector = off
log_min_messages = warning
CONF
  fi
  tw_pg_run "$bin/pg_ctl" -D "$dir" -o "-p $port" -l "$dir/server.log" -w -t 60 start \
    >/dev/null || { tail -n 20 "$dir/server.log" >&2; tw_die "PostgreSQL did not start"; }
  local i
  for i in $(seq 1 100); do
    pg_isready -q -h 127.0.0.1 -p "$port" && break
    sleep 0.1
  done
  psql -h 127.0.0.1 -p "$port" -U twinwatch -d postgres -Atqc \
    "SELECT 1 FROM pg_database WHERE datname = 'twinwatch'" | grep -q 1 ||
    psql -h 127.0.0.1 -p "$port" -U twinwatch -d postgres -qc "CREATE DATABASE twinwatch" ||
    tw_die "cannot create database twinwatch"
}

tw_pg_stop() {
  local dir=$1 mode=${2:-fast}
  [ -f "$dir/postmaster.pid" ] || return 0
  tw_pg_run "$(tw_pg_bin)/pg_ctl" -D "$dir" -m "$mode" -w -t 60 stop >/dev/null 2>&1 || true
}

tw_pg_running() {
  [ -f "$1/postmaster.pid" ] && tw_pg_run "$(tw_pg_bin)/pg_ctl" -D "$1" status >/dev/null 2>&1
}

# tw_broker_start DIR: starts the devbroker, waits for DIR/bootstrap and
# prints the bootstrap list. Its pid is in DIR/devbroker.pid.
tw_broker_start() {
  local dir=$1 i
  shift
  mkdir -p "$dir"
  rm -f "$dir/bootstrap"
  "$TW_BUILD/bin/devbroker" --bootstrap-file "$dir/bootstrap" --control "$dir/control.sock" "$@" \
    >"$dir/devbroker.out" 2>"$dir/devbroker.log" </dev/null &
  echo $! >"$dir/devbroker.pid"
  for i in $(seq 1 100); do
    [ -s "$dir/bootstrap" ] && { cat "$dir/bootstrap"; return 0; }
    kill -0 "$(cat "$dir/devbroker.pid")" 2>/dev/null || break
    sleep 0.1
  done
  cat "$dir/devbroker.log" >&2
  tw_die "devbroker did not start"
}

# tw_stop_pid FILE [SECONDS]: SIGTERM, wait, then SIGKILL; removes FILE.
tw_stop_pid() {
  local f=$1 t=${2:-10} pid i
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 1 $((t * 10))); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$f"
}

tw_pid_alive() {
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}
