#!/usr/bin/env bash
# upgrade.sh: a database logged before 010_audit gets its rows chained by
# the migration, partition by partition in offset order, exactly as the
# projector chains them: twinctl audit verify finds the chains intact, the
# heads stored beside the offsets are theirs, and a changed old row is named.
. "$(dirname "$0")/harness.sh"
port=$(tw_free_port)
tw_pg_start "$T/pg" "$port"
export PGHOST=127.0.0.1 PGPORT=$port PGDATABASE=twinwatch PGUSER=twinwatch
mkdir -p "$T/old"
cp "$TW_ROOT"/schemas/00[1-6]_*.sql "$T/old/"
"$TWINCTL" migrate --dir "$T/old" >/dev/null
# rows as the projector of the time wrote them (no links), 7 and 4 per partition
q "INSERT INTO audit.event_log (event_id, topic, kafka_partition, kafka_offset, event_type,
     agency_code, locality_code, occurred_at, source_system, source_ref, payload)
   SELECT gen_random_uuid(), 'twinwatch.events.v1', p, o * 2, 'visit', 'A', 'L', now(), 's',
          p || '-' || o, convert_to('payload ' || p || '/' || o, 'UTF8')
     FROM (VALUES (0, 7), (1, 4)) v(p, n), generate_series(n - 1, 0, -1) o;
   INSERT INTO ingest.partition_offset (topic, kafka_partition, next_offset)
   VALUES ('twinwatch.events.v1', 0, 14), ('twinwatch.events.v1', 1, 8)"
"$TWINCTL" migrate >/dev/null
"$TWINCTL" audit verify >"$T/verify.out" || fail "verify after the upgrade: $(cat "$T/verify.out")"
grep -q '^chain twinwatch.events.v1/p0: 7 rows ok' "$T/verify.out" || fail "p0: $(cat "$T/verify.out")"
grep -q '^chain twinwatch.events.v1/p1: 4 rows ok' "$T/verify.out" || fail "p1: $(cat "$T/verify.out")"
assert_eq "$(q "SELECT string_agg(format('p%s %s %s', kafka_partition, chain_offset,
  encode(chain_head, 'hex')), ' ' ORDER BY kafka_partition) FROM ingest.partition_offset")" \
  "$(sed -nE 's|^chain twinwatch.events.v1/(p[0-9]+): [0-9]+ rows ok, head (.*)$|\1 \2|p' "$T/verify.out" |
    awk '{o = ($1 == "p0") ? 12 : 6; print $1, o, $2}' | paste -sd' ')" "heads stored by the migration"
psql -XAtq -c "SET session_replication_role = replica;
  UPDATE audit.event_log SET payload = 'changed' WHERE kafka_partition = 1 AND kafka_offset = 2"
set +e
"$TWINCTL" audit verify >"$T/broken.out" 2>&1
rc=$?
set -e
assert_eq "$rc" 1 "verify exit after changing an upgraded row"
grep -q '^chain twinwatch.events.v1/p1: BROKEN after 1 intact rows: offset 2 .*: altered' "$T/broken.out" ||
  fail "changed upgraded row: $(cat "$T/broken.out")"
echo "upgrade: ok"
