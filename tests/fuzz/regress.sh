#!/usr/bin/env bash
# tests/fuzz/regress.sh BIN_DIR TARGET [RUNS]: the ctest regression check of
# one libFuzzer target: every input of its corpus (tests/fuzz/corpus/TARGET,
# seeds and inputs that once crashed), then RUNS mutations from a fixed seed.
# New inputs go to a scratch directory beside the binaries, never into the
# sources; a crash is saved there too and named in the failure.
set -euo pipefail
bin=$1 t=$2
# the control target waits on the mock cluster's thread (a broker down or up
# takes ~25 ms): fewer runs keep it to seconds like the others
runs=${3:-$([ "$t" = control ] && echo 1000 || echo 10000)}
src=$(cd "$(dirname "$0")" && pwd)
dict() { case $1 in codec) echo protobuf ;; pbjson | feed) echo json ;; *) echo "$1" ;; esac; }
work=$bin/../fuzz-regress/$t
rm -rf "$work" && mkdir -p "$work/new"
if ! "$bin/fuzz_$t" -runs="$runs" -seed=1 -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
  -dict="$src/dict/$(dict "$t").dict" -artifact_prefix="$work/" \
  "$work/new" "$src/corpus/$t" >"$work/log" 2>&1; then
  grep -a -E 'property broken|ERROR:|SUMMARY|Test unit written' "$work/log" >&2 || tail -n 30 "$work/log" >&2
  echo "fuzz.$t: FAILED (full log: $work/log; reproduce: $bin/fuzz_$t $work/crash-*)" >&2
  exit 1
fi
grep -a -E '^#[0-9]+[[:space:]]+DONE' "$work/log" | tail -n 1
