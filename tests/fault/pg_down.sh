#!/usr/bin/env bash
# pg_down.sh (fault 8): PostgreSQL is down for a while (15 s; 60 s in the
# full run) while the broker keeps receiving new events. The projector must
# pause (stay up, no busy loop, a bounded number of log lines), keep its
# memory bounded however much piles up on the broker (peak RSS printed;
# above 128 MB fails, DESIGN.md's bound), and catch up once PostgreSQL is
# back, ending equal to the reference run.
. "$(dirname "$0")/../integration/harness.sh"
. "$(dirname "$0")/lib.sh"
fault_up

if [ "$FAULT_FULL" = 1 ]; then DOWN_S=60; else DOWN_S=15; fi
RSS_LIMIT_MB=128
# most of the feed arrives during the outage
fault_produce_bg $((DOWN_S + 6))
fault_start proj
fault_wait_assigned proj 60
sleep 2
committed=$(q "SELECT sum(next_offset) FROM ingest.partition_offset")
[ "${committed:-0}" -gt 0 ] || fail "nothing committed before the outage"

pid=$(fault_pid proj)
lines0=$(wc -l <"$T/proj.log")
cpu0=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
fault_pg_stop fast
fault_injected
fault_say "PostgreSQL stopped for ${DOWN_S}s with $committed messages committed"
sleep "$DOWN_S"
tw_pid_alive "$T/proj.pid" || fail "the projector exited while PostgreSQL was down"
fault_producing || fault_say "note: the feed ended during the outage"
cpu=$(($(awk '{ print $14 + $15 }' "/proc/$pid/stat") - cpu0))
lines=$(($(wc -l <"$T/proj.log") - lines0))
fault_rss_sample proj
fault_pg_start
t_up=$SECONDS
fault_say "PostgreSQL back; during the outage the projector used $((cpu * 1000 / $(getconf CLK_TCK))) ms of CPU, wrote $lines log lines, peak RSS so far $(($(fault_peak_rss_kb 'proj') / 1024)) MB"
sed -n "$((lines0 + 1)),\$p" "$T/proj.log" | grep -m 2 -E 'error|warn' | cut -c1-300 || true
# paused, not spinning: well under half a core while it waits
[ $((cpu * 100 / $(getconf CLK_TCK))) -lt $((DOWN_S * 50)) ] ||
  fail "the projector used $((cpu / $(getconf CLK_TCK))) s of CPU in a ${DOWN_S}s outage: a busy loop"
[ "$lines" -le $((DOWN_S * 4 + 20)) ] || fail "$lines log lines in a ${DOWN_S}s outage: not one line per failure"

fault_produce_wait
fault_caught_up 300 || fail "the projector did not catch up after PostgreSQL came back"
fault_say "caught up $((SECONDS - t_up))s after PostgreSQL came back"
peak=$(($(fault_peak_rss_kb 'proj') / 1024))
fault_say "projector peak RSS ${peak} MB (limit ${RSS_LIMIT_MB} MB)"
[ "$peak" -le "$RSS_LIMIT_MB" ] || fail "peak RSS ${peak} MB is above ${RSS_LIMIT_MB} MB"

fault_check pg_down
