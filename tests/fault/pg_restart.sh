#!/usr/bin/env bash
# pg_restart.sh (fault 2): PostgreSQL restarted with pg_ctl restart -m
# immediate (a crash and crash recovery, same port) several times while the
# projector writes. A batch in flight is lost with the connection, and only
# what COMMIT made durable survives recovery: the projector must reconnect,
# seek back to the stored offsets and end equal to the reference run.
. "$(dirname "$0")/../integration/harness.sh"
. "$(dirname "$0")/lib.sh"
fault_up

if [ "$FAULT_FULL" = 1 ]; then RESTARTS=8 GAP_MS="3000 12000"; else RESTARTS=4 GAP_MS="1000 4000"; fi
# the feed outlasts the restarts (each costs up to the 5 s reconnect backoff)
fault_produce_bg $((RESTARTS * (${GAP_MS% *} + ${GAP_MS#* }) / 2000 + RESTARTS + 3))
fault_start proj
fault_wait_assigned proj 60

for ((k = 1; k <= RESTARTS; k++)); do
  fault_sleep_ms $GAP_MS
  fault_loaded "restart $k"
  before=$(fault_count 'reconnected to PostgreSQL' proj)
  fault_pg_restart
  fault_injected
  fault_invariant "after restart $k" # crash recovery kept rows and offsets together
  fault_wait_log 'reconnected to PostgreSQL' proj "$before" 30
  tw_pid_alive "$T/proj.pid" || fail "the projector exited after restart $k"
  fault_say "restart $k: projector reconnected; $(q "SELECT sum(next_offset) FROM ingest.partition_offset") messages committed so far"
done

fault_require_load
fault_check pg_restart
