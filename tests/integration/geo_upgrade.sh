#!/usr/bin/env bash
# geo_upgrade.sh: a database that already holds reference data, events,
# twinnings and a district grant, made before unit versions (020), is
# upgraded by twinctl migrate: every locality becomes one open-ended version,
# ref.locality still answers as before, the views and the grant see the same
# rows, the hash chains stay intact; the 2025 lineage then loads on top.
. "$(dirname "$0")/harness.sh"
port=$(tw_free_port)
tw_pg_start "$T/pg" "$port"
export PGHOST=127.0.0.1 PGPORT=$port PGDATABASE=twinwatch PGUSER=twinwatch
S=$TW_ROOT/ops/sample
mkdir -p "$T/old" "$T/older"
cp "$TW_ROOT"/schemas/00[1-6]_*.sql "$T/older/"
for f in "$TW_ROOT"/schemas/0[01][0-9]_*.sql; do cp "$f" "$T/old/"; done
"$TWINCTL" migrate --dir "$T/older" >/dev/null
# events logged before the audit chains (010), as upgrade.sh does
q "INSERT INTO audit.event_log (event_id, topic, kafka_partition, kafka_offset, event_type, agency_code,
     locality_code, occurred_at, source_system, source_ref, payload)
   SELECT gen_random_uuid(), 'twinwatch.events.v1', 0, o, 'visit', 'PETROLIMEX-QNA', '20705', now(), 's',
          'r' || o, convert_to('payload ' || o, 'UTF8') FROM generate_series(0, 4) o;
   INSERT INTO ingest.partition_offset (topic, kafka_partition, next_offset) VALUES ('twinwatch.events.v1', 0, 5)"
"$TWINCTL" migrate --dir "$T/old" >/dev/null
# reference data and projection rows as the system of the time wrote them
q "INSERT INTO ref.locality (code, name, level, parent_code, mountainous)
   SELECT code, name, CASE WHEN level IN ('ward', 'township') THEN 'commune' ELSE level END,
          nullif(parent_code, ''), mountainous::boolean
     FROM (VALUES $(tail -n +2 "$S/localities.csv" | "$PY" -c '
import csv, sys
print(",".join("(%s)" % ",".join("'"'"'%s'"'"'" % v.replace("'"'"'", "'"'"''"'"'") for v in (r[0], r[1], r[2], r[3], r[5]))
               for r in csv.reader(sys.stdin)))')) v(code, name, level, parent_code, mountainous);
   INSERT INTO ref.agency (code, name, kind) VALUES ('PETROLIMEX-QNA', 'Petrolimex', 'enterprise'),
     ('CONGAN-TINH', 'Công an tỉnh', 'armed_forces');
   INSERT INTO proj.twinning (agency_code, locality_code, status, signed_at, visits) VALUES
     ('PETROLIMEX-QNA', '20705', 'active', '2021-10-15', 7), ('CONGAN-TINH', '20701', 'active', '2022-01-10', 3),
     ('CONGAN-TINH', '20707', 'active', '2022-02-10', 2), ('PETROLIMEX-QNA', '20194', 'active', '2023-01-01', 1);
   CREATE ROLE sup_ng LOGIN IN ROLE twinwatch_supervisor;
   INSERT INTO twinwatch.supervisor_district VALUES ('sup_ng', '510')"
as() { PGUSER=$1 psql -XAtq -v ON_ERROR_STOP=1 -c "$2"; }
before_ov=$(q "SELECT string_agg(locality_code || ':' || visits, ' ' ORDER BY 1) FROM supervision.locality_overview")
before_ng=$(as sup_ng "SELECT string_agg(locality_code, ' ' ORDER BY 1) FROM proj.twinning")
n_loc=$(q "SELECT count(*) FROM ref.locality")

"$TWINCTL" migrate >/dev/null || fail "migrate over a database with events"
"$TWINCTL" audit verify >/dev/null || fail "audit verify after the upgrade"
assert_eq "$(q "SELECT count(*) || ' ' || count(*) FILTER (WHERE valid_from = '-infinity' AND valid_to = 'infinity') FROM ref.unit_version")" \
  "$n_loc $n_loc" "every locality one open-ended version"
assert_eq "$(q "SELECT count(*) FROM ref.locality")" "$n_loc" "ref.locality as before"
assert_eq "$(q "SELECT string_agg(locality_code || ':' || visits, ' ' ORDER BY 1) FROM supervision.locality_overview")" \
  "$before_ov" "locality_overview as before, for units without lineage"
assert_eq "$(as sup_ng "SELECT string_agg(locality_code, ' ' ORDER BY 1) FROM proj.twinning")" "$before_ng" \
  "the district grant sees the same twinnings"

# the reorganisation loads on top of the upgraded data
"$TWINCTL" load-reference --lineage "$S/reference/lineage-2025-07-01-da-nang.csv" \
  --lineage "$S/reference/lineage-2025-07-01-operator.csv" --effective 2025-07-01 --by tester >/dev/null ||
  fail "lineage over upgraded data"
assert_eq "$(q "SELECT string_agg(locality_code || ':' || visits || ':' || twinnings, ' ' ORDER BY 1) FROM supervision.locality_overview")" \
  "20194:1:1 20704:7:1 20707:5:1" "today's geography over the upgraded rows"
assert_eq "$(as sup_ng "SELECT string_agg(locality_code, ' ' ORDER BY 1) FROM proj.twinning")" "$before_ng" \
  "the district grant still sees the same twinnings"
echo "geo_upgrade: ok"
