#!/usr/bin/env bash
# audit.sh: the audit trail's hash chains (DESIGN.md "Audit trail",
# Reliability 10). The projector, connected as twinwatch_projector, chains
# the sample feed across a restart; twinctl audit verify finds every chain
# intact and agrees with the chains recomputed in SQL; then a superuser with
# triggers disabled alters, deletes, inserts and reorders rows, and verify
# names the chain, the row and what is wrong, exiting 1, each time. A
# truncated tail, or a chain recomputed after a change, passes verify (the
# database agrees with itself) and is caught by verify --anchors, against
# the heads the projector published to twinwatch.audit-anchors.v1.
. "$(dirname "$0")/harness.sh"
harness_up
S=$TW_ROOT/ops/sample
"$TWINCTL" load-reference --agencies "$S/agencies.csv" --localities "$S/localities.csv" >/dev/null

# the feed in two halves with a restart between: the second half chains
# onto the heads the restarted projector read back
head -n 1500 "$S/feed.jsonl" >"$T/a.jsonl"
tail -n +1501 "$S/feed.jsonl" >"$T/b.jsonl"
start_projector p1 --set audit.anchor_interval_s=1
"$TWINCTL" publish "$T/a.jsonl" >/dev/null
"$TWINCTL" wait --caught-up --timeout 120 || fail "projector did not catch up with the first half"
stop_projector p1
start_projector p1 --set audit.anchor_interval_s=1
"$TWINCTL" publish "$T/b.jsonl" "$S/feed-sample.csv" >/dev/null
"$TWINCTL" wait --caught-up --timeout 120 || fail "projector did not catch up with the second half"
stop_projector p1

# vrun NAME ARGS...: runs twinctl audit verify, output in $T/NAME.out, exit code in $vrc
vrun() {
  local name=$1
  shift
  set +e
  "$TWINCTL" audit verify "$@" >"$T/$name.out" 2>&1
  vrc=$?
  set -e
}
# broken NAME CHAIN PATTERN: verify exits 1 and names CHAIN with PATTERN
broken() {
  vrun "$1"
  [ "$vrc" -eq 1 ] || fail "$1: verify exited $vrc, expected 1: $(cat "$T/$1.out")"
  grep -qE -- "^chain $2: BROKEN .*$3" "$T/$1.out" ||
    fail "$1: verify did not report /chain $2: BROKEN .*$3/: $(cat "$T/$1.out")"
  [ "$(grep -c BROKEN "$T/$1.out")" -eq 1 ] || fail "$1: more than one chain reported: $(cat "$T/$1.out")"
}
intact() {
  vrun "$1"
  [ "$vrc" -eq 0 ] || fail "$1: verify exited $vrc on an intact log: $(cat "$T/$1.out")"
}

intact clean
logged=$(q "SELECT count(*) FROM audit.event_log")
[ "$logged" -gt 2500 ] || fail "only $logged events logged"
checked=$(awk '/^chain twinwatch.events.v1\/p[0-9]+: [0-9]+ rows ok/ {n += $3} END {print n}' "$T/clean.out")
assert_eq "$checked" "$logged" "rows verify checked"
assert_eq "$(grep -c '^chain twinwatch.events.v1/p' "$T/clean.out")" 6 "partition chains reported"
grep -q '^chain operator: ' "$T/clean.out" || fail "no operator chain in: $(cat "$T/clean.out")"

# the C encoding (projector, verify) and the SQL one (010_audit.sql, which
# chains an upgraded database's rows) give the same chains
sql_heads=$(q "WITH RECURSIVE r AS (
    SELECT topic, kafka_partition, kafka_offset, seq,
           row_number() OVER (PARTITION BY topic, kafka_partition ORDER BY kafka_offset, seq) AS n,
           audit.event_canonical(event_id, topic, kafka_partition, kafka_offset, payload,
                                 provenance, signature) AS c
      FROM audit.event_log),
  h AS (SELECT topic, kafka_partition, n, sha256(decode(repeat('00', 32), 'hex') || c) AS hash
          FROM r WHERE n = 1
        UNION ALL
        SELECT r.topic, r.kafka_partition, r.n, sha256(h.hash || r.c)
          FROM h JOIN r ON r.topic = h.topic AND r.kafka_partition = h.kafka_partition
                       AND r.n = h.n + 1)
  SELECT string_agg(format('%s/p%s %s', topic, kafka_partition, encode(hash, 'hex')), ' '
                    ORDER BY kafka_partition)
    FROM (SELECT DISTINCT ON (topic, kafka_partition) * FROM h
           ORDER BY topic, kafka_partition, n DESC) t")
c_heads=$(sed -nE 's|^chain (twinwatch.events.v1/p[0-9]+): [0-9]+ rows ok, head ([0-9a-f]{64})$|\1 \2|p' \
  "$T/clean.out" | sort -t p -k3 -n | paste -sd' ')
assert_eq "$c_heads" "$sql_heads" "chain heads computed in C and in SQL"
stored=$(q "SELECT string_agg(format('%s/p%s %s', topic, kafka_partition, encode(chain_head, 'hex')),
  ' ' ORDER BY kafka_partition) FROM ingest.partition_offset")
assert_eq "$stored" "$sql_heads" "chain heads stored beside the offsets"
every_linked=$(q "SELECT count(*) FROM audit.event_log l WHERE prev_hash <> decode(repeat('00', 32), 'hex')
  AND NOT EXISTS (SELECT 1 FROM audit.event_log p WHERE p.hash = l.prev_hash)")
assert_eq "$every_linked" 0 "rows chained to a hash no row has"

# tamper SQL: as the superuser, triggers disabled
tamper() { psql -XAtq -v ON_ERROR_STOP=1 -c "SET session_replication_role = replica; $1"; }
# row P N: "offset seq event_id" of the Nth row (0-based) of partition P
row() {
  q "SELECT kafka_offset || ' ' || seq || ' ' || event_id FROM audit.event_log
     WHERE kafka_partition = $1 ORDER BY kafka_offset LIMIT 1 OFFSET $2"
}

# 1. altered: one byte of a payload
read -r off seq id <<<"$(row 0 10)"
tamper "CREATE TABLE public.saved AS SELECT * FROM audit.event_log WHERE seq = $seq;
        UPDATE audit.event_log SET payload = set_byte(payload, 5, get_byte(payload, 5) # 1)
         WHERE seq = $seq"
broken altered 'twinwatch.events.v1/p0' "offset $off \\(seq $seq, event $id\\): altered"
tamper "UPDATE audit.event_log l SET payload = s.payload FROM public.saved s WHERE l.seq = s.seq"
intact restored1

# 2. missing: a row deleted
read -r off seq id <<<"$(row 1 7)"
read -r noff nseq nid <<<"$(row 1 8)"
tamper "DELETE FROM public.saved; INSERT INTO public.saved SELECT * FROM audit.event_log WHERE seq = $seq;
        DELETE FROM audit.event_log WHERE seq = $seq"
broken deleted 'twinwatch.events.v1/p1' "offset $noff \\(seq $nseq, event $nid\\): missing rows before it"
tamper "INSERT INTO audit.event_log OVERRIDING SYSTEM VALUE SELECT * FROM public.saved"
intact restored2

# 3. inserted: a forged event with a correctly computed link, placed after
#    an existing row (and one whose links are made up)
read -r off seq id <<<"$(row 2 4)"
tamper "INSERT INTO audit.event_log (event_id, topic, kafka_partition, kafka_offset, event_type,
          agency_code, locality_code, occurred_at, source_system, source_ref, payload, prev_hash, hash)
        SELECT '00000000-0000-4000-8000-00000000f0f0', topic, kafka_partition, kafka_offset,
               event_type, agency_code, locality_code, occurred_at, 'forger', 'x', payload, hash,
               sha256(hash || audit.event_canonical('00000000-0000-4000-8000-00000000f0f0', topic,
                                                    kafka_partition, kafka_offset, payload))
          FROM audit.event_log WHERE seq = $seq"
broken inserted 'twinwatch.events.v1/p2' "offset $off \\(seq [0-9]+, event 00000000-0000-4000-8000-00000000f0f0\\): inserted"
tamper "DELETE FROM audit.event_log WHERE event_id = '00000000-0000-4000-8000-00000000f0f0'"
intact restored3
tamper "INSERT INTO audit.event_log (event_id, topic, kafka_partition, kafka_offset, event_type,
          agency_code, locality_code, occurred_at, source_system, source_ref, payload, prev_hash, hash)
        SELECT '00000000-0000-4000-8000-00000000f0f1', topic, kafka_partition, kafka_offset,
               event_type, agency_code, locality_code, occurred_at, 'forger', 'x', payload,
               sha256('a'::bytea), sha256('b'::bytea)
          FROM audit.event_log WHERE seq = $seq"
broken inserted_junk 'twinwatch.events.v1/p2' "event 00000000-0000-4000-8000-00000000f0f1\\): inserted"
tamper "DELETE FROM audit.event_log WHERE event_id = '00000000-0000-4000-8000-00000000f0f1'"
intact restored4

# 4. reordered: two rows' offsets swapped
read -r off1 seq1 id1 <<<"$(row 3 5)"
read -r off2 seq2 id2 <<<"$(row 3 6)"
swap() {
  tamper "UPDATE audit.event_log SET kafka_offset = CASE seq WHEN $seq1 THEN $1 ELSE $2 END
           WHERE seq IN ($seq1, $seq2)"
}
swap "$off2" "$off1"
broken reordered 'twinwatch.events.v1/p3' "offset $off1 \\(seq $seq2, event $id2\\): reordered: it was chained after the row now at offset $off2 \\(seq $seq1"
swap "$off1" "$off2"
intact restored5

# 5. the operator chain: an action row altered, then deleted
"$TWINCTL" rules set pledge_overdue grace_days 9 --by "Trần Thị B" --note "audit test" >/dev/null
"$TWINCTL" rules set pledge_overdue grace_days 7 --by "Trần Thị B" --note "audit test" >/dev/null
intact actions
grep -qE '^chain operator: [0-9]+ rows ok' "$T/actions.out" || fail "operator chain: $(cat "$T/actions.out")"
first=$(q "SELECT min(seq) FROM audit.action_log WHERE action = 'rule.set'")
tamper "UPDATE audit.action_log SET by_name = 'someone else' WHERE seq = $first"
broken action_altered operator "seq $first: altered"
tamper "UPDATE audit.action_log SET by_name = 'Trần Thị B' WHERE seq = $first"
intact restored6
tamper "CREATE TABLE public.saved_action AS SELECT * FROM audit.action_log WHERE seq = $first;
        DELETE FROM audit.action_log WHERE seq = $first"
broken action_deleted operator "seq $((first + 1)): missing rows before it"
tamper "INSERT INTO audit.action_log SELECT * FROM public.saved_action"
intact restored7

# --from: only rows logged from a date on; bad arguments exit 2
vrun from --from 2000-01-01
[ "$vrc" -eq 0 ] || fail "verify --from: exit $vrc: $(cat "$T/from.out")"
vrun badfrom --from yesterday
[ "$vrc" -eq 2 ] && grep -q 'expected a date' "$T/badfrom.out" || fail "verify --from yesterday: exit $vrc"
vrun badarg --frobnicate
[ "$vrc" -eq 2 ] || fail "verify --frobnicate: exit $vrc"
# 6. anchors: every published head is in its chain; each is recorded
vrun anchors --anchors
[ "$vrc" -eq 0 ] || fail "verify --anchors on an intact log: exit $vrc: $(cat "$T/anchors.out")"
grep -qE 'all [1-9][0-9]* anchors found' "$T/anchors.out" || fail "no anchors: $(cat "$T/anchors.out")"
assert_eq "$(q "SELECT count(*) > 0 FROM audit.anchor")" t "anchors recorded"
assert_eq "$(q "SELECT count(*) FROM audit.anchor a WHERE NOT EXISTS (SELECT 1 FROM audit.event_log l
  WHERE (l.topic, l.kafka_partition, l.kafka_offset, l.hash) = (a.topic, a.kafka_partition,
  a.kafka_offset, a.hash))")" 0 "recorded anchors that are not heads of their chains"
vrun anchors_from --anchors --from 2020-01-01
[ "$vrc" -eq 2 ] || fail "verify --anchors --from: exit $vrc"

# a truncated tail, the head beside the offsets moved back with it: only
# the anchors tell
last=$(q "SELECT max(kafka_offset) FROM audit.event_log WHERE kafka_partition = 4")
tamper "DELETE FROM audit.event_log WHERE kafka_partition = 4 AND kafka_offset > $last - 20;
        UPDATE ingest.partition_offset o SET chain_head = l.hash, chain_offset = l.kafka_offset
          FROM (SELECT hash, kafka_offset FROM audit.event_log WHERE kafka_partition = 4
                ORDER BY kafka_offset DESC LIMIT 1) l WHERE o.kafka_partition = 4"
intact truncated
vrun truncated_anchors --anchors
[ "$vrc" -eq 1 ] || fail "verify --anchors missed a truncated tail: $(cat "$T/truncated_anchors.out")"
grep -qE "^chain twinwatch.events.v1/p4: BROKEN against its anchors: the head [0-9a-f]{64} published at offset $last is not in the database" \
  "$T/truncated_anchors.out" || fail "truncated tail: $(cat "$T/truncated_anchors.out")"

# a chain recomputed from a changed row on: consistent in itself, unlike its anchors
tamper "UPDATE audit.event_log SET payload = set_byte(payload, 5, get_byte(payload, 5) # 1)
         WHERE seq = (SELECT seq FROM audit.event_log WHERE kafka_partition = 5
                       ORDER BY kafka_offset LIMIT 1 OFFSET 3);
        DO \$\$
        DECLARE r record; h bytea := decode(repeat('00', 32), 'hex');
        BEGIN
          FOR r IN SELECT * FROM audit.event_log WHERE kafka_partition = 5 ORDER BY kafka_offset LOOP
            UPDATE audit.event_log SET prev_hash = h,
                   hash = sha256(h || audit.event_canonical(r.event_id, r.topic, r.kafka_partition,
                                                            r.kafka_offset, r.payload,
                                                            r.provenance, r.signature))
             WHERE seq = r.seq RETURNING hash INTO h;
          END LOOP;
          UPDATE ingest.partition_offset SET chain_head = h WHERE kafka_partition = 5;
        END \$\$"
vrun recomputed
grep -q '^chain twinwatch.events.v1/p5: [0-9]* rows ok' "$T/recomputed.out" ||
  fail "the recomputed chain is not self-consistent: $(cat "$T/recomputed.out")"
vrun recomputed_anchors --anchors
[ "$vrc" -eq 1 ] || fail "verify --anchors missed a recomputed chain: $(cat "$T/recomputed_anchors.out")"
grep -qE '^chain twinwatch.events.v1/p5: BROKEN against its anchors: .* is not that row.s hash: the chain was rewritten' \
  "$T/recomputed_anchors.out" || fail "recomputed chain: $(cat "$T/recomputed_anchors.out")"
echo "audit: ok"
