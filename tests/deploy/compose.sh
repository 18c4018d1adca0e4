#!/usr/bin/env bash
# compose.sh (ctest deploy.compose): checks the deployment files offline, since
# Docker does not run here. 1. Debian's docker-compose (v1) parses and
# validates docker-compose.yml with no Docker daemon, and refuses to start
# without the passwords of .env; 2. check_deploy.py checks what the stack
# names against the project (images, Dockerfile, mounts, volumes, ports,
# each service's settings through the real binary, packages in Debian's
# index); 3. the systemd units pass `systemd-analyze verify` without a
# warning and keep the hardening baseline; 4. ops/docker/roles.sql, run as
# the compose stack runs it, lets each service role log in with its password
# (SCRAM) on a throwaway PostgreSQL.
set -euo pipefail
TW_ROOT=${TW_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$TW_ROOT/ops/lib.sh"
T=$(mktemp -d /tmp/twdeploy.XXXXXX)
chmod 755 "$T"
cleanup() {
  tw_pg_stop "$T/pg" immediate
  rm -rf "$T"
}
trap cleanup EXIT
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}
cd "$TW_ROOT"

# ------------------------------------------------ 1. docker-compose config
command -v docker-compose >/dev/null ||
  fail "docker-compose is not installed (apt-get install docker-compose; ops/test does)"
# No daemon: DOCKER_HOST points nowhere, so a step that needed one would fail.
dc() {
  env -i PATH=/usr/bin:/bin HOME="$T" DOCKER_HOST="unix://$T/no-docker.sock" \
    docker-compose --project-directory "$TW_ROOT" "$@"
}
dc --env-file ops/docker/env.example -f docker-compose.yml config -q ||
  fail "docker-compose config refuses docker-compose.yml"
dc --env-file ops/docker/env.example -f docker-compose.yml config >"$T/compose.yml"
: >"$T/empty.env"
if out=$(dc --env-file "$T/empty.env" -f docker-compose.yml config -q 2>&1); then
  fail "docker-compose.yml starts without the passwords of .env"
fi
grep -q 'TWINWATCH_PG_ADMIN_PASSWORD' <<<"$out" ||
  fail "without .env, docker-compose should name the missing password: $out"
# every password of the stack is in env.example, and nothing in the file is a literal one
for v in $(grep -o '\${TWINWATCH_[A-Z_]*PASSWORD' docker-compose.yml | sort -u | cut -c3-); do
  grep -q "^$v=" ops/docker/env.example || fail "ops/docker/env.example lacks $v"
done
! grep -nE '(PASSWORD|password)[:=] *[^$ ]' docker-compose.yml | grep -v '\${' ||
  fail "a literal password in docker-compose.yml"
echo "ok: docker-compose $(docker-compose version --short) validates docker-compose.yml without a daemon"

# ------------------------------------------------ 2. against the project
# check_deploy.py asks apt-cache about every package the Dockerfile
# installs: the index must be there (something may have cleaned it)
if ! ls /var/lib/apt/lists/ 2>/dev/null | grep -q '_Packages'; then
  [ "$(id -u)" -eq 0 ] || fail "Debian's package index is empty: run apt-get update"
  for i in 1 2 3; do
    apt-get update -qq >/dev/null 2>&1 && break
    sleep 10
  done
fi
/usr/bin/python3 "$TW_ROOT/tests/deploy/check_deploy.py" "$TW_ROOT" "$TW_BUILD" "$T/compose.yml" ||
  fail "check_deploy.py"

# ------------------------------------------------ 3. systemd units
command -v systemd-analyze >/dev/null || fail "systemd-analyze is missing (package systemd)"
mkdir "$T/units"
for u in ops/systemd/*.service; do
  # the binaries where the build put them, so that verify checks they exist
  sed "s|/usr/local/bin/|$TW_BUILD/bin/|g" "$u" >"$T/units/$(basename "$u")"
  grep -q '^Restart=on-failure$' "$u" || [[ $u == *migrate* ]] || fail "$u: no Restart=on-failure"
  for k in NoNewPrivileges=yes ProtectSystem=strict User=twinwatch; do
    grep -q "^$k$" "$u" || fail "$u: lacks $k"
  done
  conf=$(grep -o -- '--config /etc/twinwatch/[a-z-]*\.conf' "$u" | sed 's|.*/||' || true)
  [ -z "$conf" ] || [ -f "ops/config/$conf" ] || fail "$u: ops/config/$conf does not exist"
done
grep -q '^u twinwatch ' ops/systemd/twinwatch.sysusers.conf || fail "no sysusers entry for twinwatch"
out=$(systemd-analyze verify --man=no "$T"/units/*.service 2>&1) || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify warns: $out"
for u in "$T"/units/twinwatch-sentinel.service "$T"/units/twinwatch-projector@.service; do
  level=$(systemd-analyze security --offline=yes --no-pager "$u" 2>/dev/null |
    sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
  [ -n "$level" ] || fail "systemd-analyze security gave no exposure level for $u"
  awk -v l="$level" 'BEGIN { exit !(l <= 2.5) }' ||
    fail "$(basename "$u"): exposure $level, above the baseline's 2.5"
  echo "ok: $(basename "$u"): systemd-analyze security exposure $level"
done
echo "ok: systemd-analyze verify: $(ls ops/systemd/*.service | xargs -n1 basename | tr '\n' ' ')"

# ------------------------------------------------ 4. roles.sql on PostgreSQL
port=$(tw_free_port)
tw_pg_start "$T/pg" "$port"
export PGHOST=127.0.0.1 PGPORT=$port PGDATABASE=twinwatch PGUSER=twinwatch
"$TW_BUILD/bin/twinctl" migrate --dir "$TW_ROOT/schemas" >"$T/migrate.log" 2>&1 ||
  { cat "$T/migrate.log" >&2; fail "twinctl migrate"; }
# the migrations create the roles (schemas/004, 010, 030), without passwords
n=$(psql -Atqc "SELECT count(*) FROM pg_authid WHERE rolname IN ('twinwatch_projector',
  'twinwatch_sentinel', 'twinwatch_supervisor', 'twinwatch_operator') AND rolpassword IS NULL")
[ "$n" = 4 ] || fail "the migrations should create the 4 login roles without a password ($n)"
# the service roles by password only (what the postgres image does for remote hosts)
{ printf 'host all twinwatch_projector,twinwatch_sentinel,twinwatch_supervisor,twinwatch_operator 127.0.0.1/32 scram-sha-256\n'
  cat "$T/pg/pg_hba.conf"; } >"$T/hba" && cat "$T/hba" >"$T/pg/pg_hba.conf"
psql -qc "SELECT pg_reload_conf()" >/dev/null
P1="pro'jector \"one\"" P2='sentinel;$x' P3='supervisor\' P4="operator ' four"
psql -v ON_ERROR_STOP=1 -v projector="$P1" -v sentinel="$P2" -v supervisor="$P3" -v operator="$P4" \
  -f ops/docker/roles.sql >"$T/roles.log" 2>&1 || { cat "$T/roles.log" >&2; fail "roles.sql"; }
login() { PGPASSWORD=$2 psql -U "$1" -Atqc 'SELECT current_user' 2>&1; }
[ "$(login twinwatch_projector "$P1")" = twinwatch_projector ] || fail "twinwatch_projector cannot log in"
[ "$(login twinwatch_sentinel "$P2")" = twinwatch_sentinel ] || fail "twinwatch_sentinel cannot log in"
[ "$(login twinwatch_supervisor "$P3")" = twinwatch_supervisor ] || fail "twinwatch_supervisor cannot log in"
[ "$(login twinwatch_operator "$P4")" = twinwatch_operator ] || fail "twinwatch_operator cannot log in"
out=$(login twinwatch_projector "$P2" || true)
grep -q 'password authentication failed' <<<"$out" ||
  fail "twinwatch_projector logs in with a wrong password: $out"
n=$(psql -Atqc "SELECT count(*) FROM pg_authid WHERE rolname LIKE 'twinwatch\_%' AND rolpassword LIKE 'SCRAM-SHA-256\$%'")
[ "$n" = 4 ] || fail "expected 4 SCRAM passwords, have $n"
echo "ok: roles.sql sets SCRAM passwords; each role logs in with its own and not another's"

# ------------------------------------------------ 5. the image's build stage
# What Docker would do in the first stage, without Docker: only the files it
# COPYs, then its own cmake RUN line (so a source the build needs and the
# Dockerfile forgets fails here).
df=ops/docker/Dockerfile
stage1=$(awk '/^FROM /{n++} n==1' "$df" | sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta')
mkdir "$T/src"
while read -r _ src dst; do
  [ -e "$src" ] || fail "$df: COPY $src: no such file"
  mkdir -p "$(dirname "$T/src/$dst")"
  cp -r "$src" "$T/src/${dst%/}"
done < <(grep '^COPY ' <<<"$stage1" | grep -v -- '--from')
run=$(grep '^RUN .*cmake ' <<<"$stage1" | sed 's/^RUN //')
[ -n "$run" ] || fail "$df: no cmake RUN in the build stage"
(cd "$T/src" && bash -c "$run") >"$T/image-build.log" 2>&1 ||
  { tail -n 30 "$T/image-build.log" >&2; fail "$df: the build stage's cmake fails on the files it copies"; }
for b in projector sentinel twinctl; do
  [ -x "$T/src/build/bin/$b" ] || fail "$df: the build stage does not make $b"
done
echo "ok: $df's build stage builds projector, sentinel, twinctl from the files it copies"
echo "PASS deploy.compose"
