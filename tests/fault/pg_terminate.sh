#!/usr/bin/env bash
# pg_terminate.sh (fault 3): the projector's PostgreSQL connection is cut
# (pg_terminate_backend of its backend, application_name
# 'twinwatch-projector') again and again: mid-transaction (while one of the
# batch's writes runs), at its end (the offsets' compare-and-set, then the
# implicit COMMIT at the pipeline's sync, where the commit may be durable
# while the projector never hears of it) and at any moment. A tight
# server-side loop watches pg_stat_activity and terminates the backend the
# moment it is in the wanted phase. The projector must reconnect, seek back
# to the stored offsets and end equal to the reference run.
. "$(dirname "$0")/../integration/harness.sh"
. "$(dirname "$0")/lib.sh"
fault_up

if [ "$FAULT_FULL" = 1 ]; then CUTS=40; else CUTS=12; fi
fault_produce_bg $((CUTS * 3 / 2 + 4))
fault_start proj
fault_wait_assigned proj 60

# terminate WHERE-CONDITION: waits up to 5 s for the projector's backend to
# match, terminates it and prints what it was doing ("state|wait_event|query"),
# or "miss".
terminate() {
  psql -XAtq -v ON_ERROR_STOP=1 2>&1 <<SQL | sed -n 's/^.*NOTICE: *//p'
DO \$\$
DECLARE r record; t0 timestamptz := clock_timestamp();
BEGIN
  LOOP
    PERFORM pg_stat_clear_snapshot(); -- else the loop sees one frozen snapshot
    SELECT pid, state, coalesce(wait_event, '-') AS we, left(query, 30) AS q INTO r
      FROM pg_stat_activity
     WHERE application_name = 'twinwatch-projector' AND pid <> pg_backend_pid() AND ($1)
     LIMIT 1;
    IF FOUND THEN
      PERFORM pg_terminate_backend(r.pid);
      RAISE NOTICE '%|%|%', r.state, r.we, r.q;
      RETURN;
    END IF;
    EXIT WHEN clock_timestamp() - t0 > interval '5 s';
  END LOOP;
  RAISE NOTICE 'miss';
END \$\$;
SQL
}

commit=0 wal=0 mid=0 other=0 misses=0
for ((k = 1; k <= CUTS; k++)); do
  fault_loaded "cut $k"
  before=$(fault_count 'reconnected to PostgreSQL' proj)
  case $((k % 3)) in
    1) hit=$(terminate "state = 'active' AND query LIKE 'SELECT ingest.advance_offsets%'") ;;
    2) hit=$(terminate "state = 'active' AND query ~ '^(INSERT|WITH|DELETE)'") ;;
    0) hit=$(terminate "true") ;;
  esac
  case $hit in
    miss | '') misses=$((misses + 1)); continue ;;
    'active|WAL'*'|SELECT ingest.advance_offsets'*) wal=$((wal + 1)) commit=$((commit + 1)) ;;
    'active|'*'|SELECT ingest.advance_offsets'*) commit=$((commit + 1)) ;;
    'active|'*) mid=$((mid + 1)) ;;
    *) other=$((other + 1)) ;; # idle between batches: noticed at the next one
  esac
  fault_injected
  fault_say "cut $k: terminated the projector's backend: $hit"
  fault_wait_log 'reconnected to PostgreSQL' proj "$before" 30
  fault_invariant "after cut $k"
  # back to work: a commit after the reconnect (it also resets the backoff)
  n0=$(q "SELECT coalesce(sum(next_offset), 0) FROM ingest.partition_offset")
  for ((i = 0; i < 300; i++)); do
    [ "$(q "SELECT coalesce(sum(next_offset), 0) FROM ingest.partition_offset")" -gt "$n0" ] && break
    sleep 0.1
  done
  fault_sleep_ms 100 600
done
fault_say "connections cut: $commit at the end of the transaction ($wal of them in COMMIT's WAL flush), $mid mid-transaction, $other between batches; $misses attempt(s) found nothing to cut"
fault_require_load
[ "$commit" -ge 1 ] || fail "no cut landed at the end of a transaction"
[ "$mid" -ge 1 ] || fail "no cut landed mid-transaction"

fault_check pg_terminate
