#!/usr/bin/env bash
# group.sh (fault 5): three projectors in one consumer group share the
# partitions; one is SIGKILLed and one added mid-run. Then a zombie: one
# member is SIGSTOPped past the session timeout (6 s in the harness), the
# others take its partitions and commit; on SIGCONT its late commit must be
# refused by the offsets' compare-and-set (ingest.advance_offsets raises
# "offset compare-and-set failed ... another projector owns it" and the
# projector logs the batch as not committed), and it must rejoin the group
# and go on. The final state must equal the reference run's.
. "$(dirname "$0")/../integration/harness.sh"
. "$(dirname "$0")/lib.sh"
fault_up

if [ "$FAULT_FULL" = 1 ]; then PRODUCE_S=100; else PRODUCE_S=40; fi
fault_produce_bg "$PRODUCE_S"
fault_reference_start # no fault touches PostgreSQL or the broker: it can run alongside

# partitions NAME: the partitions NAME holds now, from its log (the last
# assignment after the last revocation)
partitions() {
  awk '/rebalance: .* revoked/ { delete held } /assigned, starting at/ { p = $0; sub(/.*projector: p/, "", p);
       sub(/:.*/, "", p); held[p] = 1 } END { for (p in held) printf "%s ", p }' "$T/$1.log" |
    tr ' ' '\n' | sort -n | xargs
}

fault_start g1
fault_start g2
fault_start g3
for g in g1 g2 g3; do fault_wait_assigned "$g" 60; done
fault_sleep_ms 1000 3000
fault_say "group of three: g1 [$(partitions g1)], g2 [$(partitions g2)], g3 [$(partitions g3)]"

# one member killed, one added
fault_kill g1 KILL
fault_injected
fault_sleep_ms 500 2000
fault_start g4
fault_injected
fault_wait_assigned g4 60
# settled: g2, g3 and g4 hold all the partitions between them, for 2 s
stable=0 last=""
for ((i = 0; i < 600 && stable < 20; i++)); do
  now="$(partitions g2)/$(partitions g3)/$(partitions g4)"
  if [ "$(tr '/' ' ' <<<"$now" | wc -w)" = "$FAULT_PARTITIONS" ] && ! grep -q '//\|^/\|/$' <<<"$now" && [ "$now" = "$last" ]; then
    stable=$((stable + 1))
  else
    stable=0
  fi
  last=$now
  sleep 0.1
done
[ "$stable" -ge 20 ] || fail "the group did not settle after g1 was killed and g4 added (g2/g3/g4: $now)"
fault_say "group after the kill and the addition: g2 [$(partitions g2)], g3 [$(partitions g3)], g4 [$(partitions g4)]"
fault_invariant "after g1 killed and g4 added"

# The zombie. Stopped at a random moment, it would rarely commit late:
# librdkafka notices the lost session as soon as it runs again and revokes
# the partitions, and a batch not yet sent is then dropped. So it is stopped
# with a batch sent and held in transit, as a network or a stalled
# PostgreSQL would hold it, and that batch is one we choose, so that nothing
# but the offsets can refuse it: the feed is paused until g2 has committed
# its partitions to their ends, its PostgreSQL backend is SIGSTOPped while
# idle (holding no lock), one heartbeat (valid whatever the state) goes into
# each of its partitions, g2 sends that batch into the stopped backend, and
# then g2 itself is SIGSTOPped and the feed resumes. g2 has a backend per
# lane (each lane writes some of its partitions): all of them are stopped.
held=$(partitions g2)
[ -n "$held" ] || fail "g2 holds no partition: nothing to be a zombie of"
list=$(tr ' ' ',' <<<"$held")
producer="" backends=()
zfail() { # leave nothing stopped behind for the harness's cleanup
  kill -CONT ${producer:+"$producer"} "${backends[@]}" 2>/dev/null || true
  fail "$@"
}
if fault_producing; then
  producer=$(cat "$T/producer.pid")
  kill -STOP "$producer" 2>/dev/null || producer="" # it may just have finished
fi
for ((i = 0; i < 300; i++)); do
  lag=$("$TWINCTL" status | awk -v l=",$list," 'f && index(l, "," $1 ",") { s += $4 } /^partition\thigh/ { f = 1 } /^$/ { f = 0 } END { print s + 0 }')
  [ "$lag" = 0 ] && break
  sleep 0.1
done
[ "$lag" = 0 ] || zfail "g2 did not commit its partitions [$held] to their ends within 30 s"
mapfile -t backends < <(fault_pg_conn g2 | awk '{ print $1 }')
[ ${#backends[@]} -gt 0 ] || zfail "cannot find g2's PostgreSQL backends"
for backend in "${backends[@]}"; do
  for ((i = 0; i < 50; i++)); do
    [ "$(q "SELECT state FROM pg_stat_activity WHERE pid = $backend")" = idle ] || { sleep 0.02; continue; }
    kill -STOP "$backend"
    # still idle once stopped (no Kafka-side work reaches PostgreSQL now, but be sure)
    [ "$(q "SELECT state FROM pg_stat_activity WHERE pid = $backend")" = idle ] && break
    kill -CONT "$backend"
  done
done
before=$(q "SELECT string_agg(next_offset::text, ',' ORDER BY kafka_partition) FROM ingest.partition_offset WHERE kafka_partition IN ($list)")
fault_heartbeats "$list" zombie
queued=0
for ((i = 0; i < 100; i++)); do # g2 sends its batch of heartbeats into a stopped backend
  queued=$(fault_pg_conn g2 | awk '{ s += $2 } END { print s + 0 }')
  [ "$queued" -gt 0 ] && break
  sleep 0.1
done
[ "$queued" -gt 0 ] || zfail "g2 sent nothing to PostgreSQL within 10 s of the heartbeats"
sleep 0.2 # the whole pipeline
mark=$(wc -l <"$T/g2.log")
fault_kill g2 STOP
fault_injected
[ -z "$producer" ] || kill -CONT "$producer"
fault_say "zombie: g2 stopped holding [$held] at offsets [$before], its batch of heartbeats held before backend(s) ${backends[*]} ($queued bytes)"
# the others take its partitions (after the session timeout) and commit
for ((i = 0; i < 600; i++)); do
  moved=$(q "SELECT count(*) FROM ingest.partition_offset o JOIN unnest('{$list}'::int[], '{$before}'::bigint[]) b(p, n) ON o.kafka_partition = b.p WHERE o.next_offset > b.n")
  [ "$moved" = "$(wc -w <<<"$held")" ] && break
  sleep 0.1
done
kill -CONT "${backends[@]}"
[ "$moved" = "$(wc -w <<<"$held")" ] || fail "the others did not commit g2's partitions within 60 s of its stop"
fault_say "zombie: the others committed on all of [$held]; SIGCONT"
fault_kill g2 CONT
# its held batch now completes: it must be refused, by the offsets'
# compare-and-set ("another projector owns it"), and say so
for ((i = 0; i < 300; i++)); do
  late=$(tail -n +"$((mark + 1))" "$T/g2.log" | grep -m 1 -E 'compare-and-set failed|not committed|redone with id checks' || true)
  [ -n "$late" ] && break
  sleep 0.1
done
[ -n "$late" ] || fail "g2 logged nothing about its late batch within 30 s of SIGCONT: did it commit?"
grep -q 'compare-and-set failed' <<<"$late" ||
  fail "the zombie's late batch was not refused by the offsets' compare-and-set; g2 logged: ${late#*projector: }"
line=$(tail -n +"$((mark + 1))" "$T/g2.log" | grep -m 1 'compare-and-set failed')
fault_say "zombie's late commit refused: ${line#*projector: }"
# and it rejoins: a new assignment after the refusal, and it keeps running
at=$(grep -n 'compare-and-set failed' "$T/g2.log" | tail -n 1 | cut -d: -f1)
for ((i = 0; i < 600; i++)); do
  tail -n +"$at" "$T/g2.log" | grep -q 'assigned, starting at' && break
  sleep 0.1
done
tail -n +"$at" "$T/g2.log" | grep -q 'assigned, starting at' || fail "the zombie did not rejoin the group within 60 s"
tw_pid_alive "$T/g2.pid" || fail "the zombie exited"
fault_say "zombie rejoined: g2 [$(partitions g2)], g3 [$(partitions g3)], g4 [$(partitions g4)]"
fault_invariant "after the zombie"

fault_check group
