#!/usr/bin/env bash
# disk_full.sh: the disk under PostgreSQL's data fills while events flow.
# twinwatch's tables live in a tablespace on a small tmpfs the test mounts
# itself (the WAL stays on the main disk, as a production cluster's pg_wal
# on its own volume); the test fills the tmpfs with a file. Then the
# projector's batches fail (PostgreSQL: "could not extend file ... No space
# left on device", in its log), it backs off and stays up, /healthz answers
# 503 saying no batch commits while events wait, nothing is committed half (log rows = accepted counted, dead letters
# = dead-lettered counted) and no stored offset moves. Once the file is
# removed it resumes by itself (the same process) and ends equal to the
# reference run (same feed, no fault, its database on the main disk).
. "$(dirname "$0")/../integration/harness.sh"
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || fail "disk_full.sh mounts a tmpfs: it needs root"
fault_up

SMALL=$T/small
mkdir -p "$SMALL"
mount -t tmpfs -o size=96m,mode=0700 tmpfs "$SMALL" || fail "cannot mount a tmpfs on $SMALL"
trap 'rc=$?; set +e; umount -l "$SMALL" 2>/dev/null; (exit $rc); harness_cleanup' EXIT
chown postgres: "$SMALL"
runuser -u postgres -- mkdir "$SMALL/ts"
q "CREATE TABLESPACE small LOCATION '$SMALL/ts'"
# twinwatch's tables and indexes (the catalogs, and the files a new
# connection writes, stay on the main disk, so that psql can still look)
q "ALTER TABLE ALL IN TABLESPACE pg_default OWNED BY twinwatch_owner SET TABLESPACE small;
   ALTER INDEX ALL IN TABLESPACE pg_default OWNED BY twinwatch_owner SET TABLESPACE small"
n=$(q "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname IN ('audit', 'ingest', 'proj') AND c.relkind IN ('r', 'i')
         AND c.reltablespace <> (SELECT oid FROM pg_tablespace WHERE spcname = 'small')")
assert_eq "$n" 0 "tables and indexes of audit, ingest, proj left on the main disk"
fault_say "tables on a 96 MB tmpfs: $(df -h --output=used,avail "$SMALL" | tail -n 1)"

port=$(tw_free_port)
fault_produce_bg 40
fault_start proj --set http.port="$port" --set http.address=127.0.0.1 --set health.stall_ms=3000
fault_wait_assigned proj 60
pid=$(fault_pid proj)
for _ in $(seq 100); do
  [ "$(q "SELECT coalesce(sum(next_offset), 0) FROM ingest.partition_offset")" -gt 0 ] && break
  sleep 0.2
done

# fill it: a file takes every free block
dd if=/dev/zero of="$SMALL/filler" bs=1M status=none 2>/dev/null || true
fault_injected
fault_say "filled: $(df -h --output=used,avail "$SMALL" | tail -n 1)"
for _ in $(seq 150); do
  grep -q 'No space left on device' "$T/proj.log" && break
  sleep 0.2
done
grep -q 'No space left on device' "$T/proj.log" ||
  fail "no batch failed for want of space within 30 s: $(tail -n 3 "$T/proj.log")"
fault_say "first refusal: $(grep -m 1 'No space left on device' "$T/proj.log" | cut -c1-200)"
sleep 2 # a batch that fitted in the last free pages has committed by now
before=$(q "SELECT string_agg(kafka_partition || ':' || next_offset, ' ' ORDER BY 1)
            FROM ingest.partition_offset")
fault_invariant "disk full"
failures0=$(fault_count 'No space left on device' proj)
# /healthz as a load balancer asks it, every half second: the stall is
# timed from the first answer that sees events waiting
health=""
for _ in $(seq 16); do
  body=$(http_get "http://127.0.0.1:$port/healthz")
  [ "$(head -n 1 <<<"$body")" = 503 ] && health=$body
  sleep 0.5
done
after=$(q "SELECT string_agg(kafka_partition || ':' || next_offset, ' ' ORDER BY 1)
           FROM ingest.partition_offset")
assert_eq "$after" "$before" "stored offsets while the disk is full"
fault_invariant "disk still full"
failures=$(($(fault_count 'No space left on device' proj) - failures0))
[ "$failures" -ge 1 ] || fail "the projector stopped retrying while the disk was full"
# backs off: not one failure after another
[ "$failures" -le 20 ] || fail "$failures failed batches in 8 s: no back-off"
tw_pid_alive "$T/proj.pid" || fail "the projector exited when the disk filled"
[ -n "$health" ] || fail "/healthz never answered 503 in 8 s with the disk full: $body"
# the projector's reason names the stall (the cause is in its log)
grep -q 'no batch committed for' <<<"$health" || fail "/healthz does not say why: $health"
fault_say "/healthz: $(tail -n +2 <<<"$health" | head -n 2 | tr '\n' ' ')"

rm -f "$SMALL/filler"
t_free=$SECONDS
fault_say "space freed; $failures failed batches in 8 s while full"
fault_produce_wait
fault_caught_up 300 || fail "the projector did not resume after the space came back"
[ "$(fault_pid proj)" = "$pid" ] && tw_pid_alive "$T/proj.pid" ||
  fail "the projector is not the process that saw the disk fill"
fault_say "caught up $((SECONDS - t_free))s after the space came back"
for _ in $(seq 50); do [ "$(http_status "http://127.0.0.1:$port/healthz")" = 200 ] && break; sleep 0.2; done
assert_eq "$(http_status "http://127.0.0.1:$port/healthz")" 200 "/healthz after the space came back"

fault_check disk_full
