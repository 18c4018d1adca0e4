#!/usr/bin/env bash
# roles.sh: least privilege (schemas/010_audit.sql, 030_operator_role.sql,
# Reliability 11). Each service role and the operator (twinctl's role),
# logged in as itself, tries every write (INSERT, UPDATE,
# DELETE, TRUNCATE) on every table that it should not have, and each is
# refused with SQLSTATE 42501; nobody holds UPDATE, DELETE or TRUNCATE on the
# audit trail, and even the superuser is refused by the append-only trigger
# (SQLSTATE TW002) unless he disables triggers.
. "$(dirname "$0")/harness.sh"
harness_up

# The writes each role may do; every other (table, write) must be refused.
allowed() { # ROLE TABLE OP -> 0 when allowed
  case "$1:$2:$3" in
  twinwatch_projector:audit.event_log:INSERT | twinwatch_projector:audit.anchor:INSERT) return 0 ;;
  twinwatch_projector:ingest.dead_letter:INSERT) return 0 ;;
  twinwatch_projector:ingest.partition_offset:INSERT | twinwatch_projector:ingest.partition_offset:UPDATE) return 0 ;;
  twinwatch_projector:ingest.operational_alert:INSERT) return 0 ;;
  twinwatch_projector:proj.*:INSERT | twinwatch_projector:proj.*:UPDATE | twinwatch_projector:proj.*:DELETE) return 0 ;;
  twinwatch_operator:ref.agency:INSERT | twinwatch_operator:ref.agency:UPDATE) return 0 ;;
  twinwatch_operator:ref.locality:INSERT | twinwatch_operator:ref.locality:UPDATE) return 0 ;;
  twinwatch_operator:ref.unit_version:INSERT | twinwatch_operator:ref.unit_version:UPDATE) return 0 ;;
  twinwatch_operator:ref.unit_lineage:INSERT | twinwatch_operator:ref.unit_lineage:UPDATE) return 0 ;;
  twinwatch_operator:ref.agency_lineage:INSERT | twinwatch_operator:ref.agency_lineage:UPDATE) return 0 ;;
  twinwatch_operator:proj.twinning:INSERT | twinwatch_operator:proj.twinning:TRUNCATE) return 0 ;;
  twinwatch_operator:proj.pledge:INSERT | twinwatch_operator:proj.pledge:TRUNCATE) return 0 ;;
  twinwatch_operator:proj.parked_delivery:INSERT | twinwatch_operator:proj.parked_delivery:TRUNCATE) return 0 ;;
  twinwatch_operator:proj.source_feed:INSERT | twinwatch_operator:proj.source_feed:TRUNCATE) return 0 ;;
  twinwatch_operator:alerting.rule_change:INSERT) return 0 ;;
  twinwatch_sentinel:alerting.alert:* | twinwatch_sentinel:alerting.alert_history:* | \
    twinwatch_sentinel:alerting.outbox:* | twinwatch_sentinel:alerting.activity:* | \
    twinwatch_sentinel:alerting.last_event:* | twinwatch_sentinel:alerting.tail_state:*)
    [ "$3" != TRUNCATE ]
    return
    ;;
  esac
  return 1
}

tables=$(q "SELECT format('%s.%s', n.nspname, c.relname) FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p') AND n.nspname IN ('twinwatch', 'ref', 'audit', 'ingest', 'proj',
                                                  'supervision', 'alerting')
  ORDER BY 1")
[ "$(wc -w <<<"$tables")" -ge 15 ] || fail "too few tables found: $tables"

# attempts ROLE: one line "TABLE OP SQLSTATE" per forbidden write, tried as
# ROLE (logged in as it); a write that succeeds is rolled back and shows "ok".
checks=0
for role in twinwatch_projector twinwatch_sentinel twinwatch_supervisor twinwatch_auditor \
  twinwatch_operator; do
  stmts=""
  for t in $tables; do
    col=$(q "SELECT quote_ident(attname) FROM pg_attribute WHERE attrelid = '$t'::regclass
             AND attnum > 0 AND NOT attisdropped AND attidentity = '' AND attgenerated = ''
             ORDER BY attnum LIMIT 1")
    for op in INSERT UPDATE DELETE TRUNCATE; do
      allowed "$role" "$t" "$op" && continue
      case $op in
      INSERT) sql="INSERT INTO $t DEFAULT VALUES" ;;
      UPDATE) sql="UPDATE $t SET $col = NULL WHERE false" ;;
      DELETE) sql="DELETE FROM $t WHERE false" ;;
      TRUNCATE) sql="TRUNCATE $t" ;;
      esac
      stmts+="('$t', '$op', \$s\$$sql\$s\$),"
      checks=$((checks + 1))
    done
  done
  PGUSER=$role psql -XAtq -v ON_ERROR_STOP=1 -c "
    CREATE TEMP TABLE out (t text, op text, state text);
    DO \$d\$
    DECLARE r record; st text;
    BEGIN
      FOR r IN SELECT * FROM (VALUES ${stmts%,}) v(t, op, sql) LOOP
        BEGIN
          EXECUTE r.sql;
          st := 'ok';
          RAISE EXCEPTION 'undo' USING ERRCODE = 'TWXXX';
        EXCEPTION WHEN OTHERS THEN
          IF SQLSTATE <> 'TWXXX' THEN st := SQLSTATE; END IF;
        END;
        INSERT INTO out VALUES (r.t, r.op, st);
      END LOOP;
    END \$d\$;
    SELECT t || ' ' || op || ' ' || state FROM out" >"$T/$role.out"
  while read -r t op state; do
    [ "$state" == 42501 ] || fail "$role: $op on $t gave SQLSTATE $state, expected 42501 (refused)"
  done <"$T/$role.out"
  [ "$(wc -l <"$T/$role.out")" -gt 0 ] || fail "$role: no write tried"
done
total=$(cat "$T"/twinwatch_*.out | wc -l)
assert_eq "$total" "$checks" "writes tried"

# the audit function is for the audited paths only (SECURITY DEFINER
# acknowledge, the triggers, twinctl as operator)
for role in twinwatch_projector twinwatch_sentinel twinwatch_supervisor twinwatch_auditor; do
  out=$(PGUSER=$role psql -XAtq -v VERBOSITY=sqlstate \
    -c "SELECT audit.record_action('x', 'forged', 'x', NULL)" 2>&1) &&
    fail "$role could append an operator action"
  [[ $out == *42501* ]] || fail "$role: audit.record_action: $out"
done

# The operator (twinctl: schemas/030) changes some columns of a row and no
# others; and it cannot change roles, the schema or who it is.
operator_refused=(
  "UPDATE ingest.dead_letter SET reason = 'x' WHERE false"
  "UPDATE ingest.dead_letter SET payload = NULL WHERE false"
  "UPDATE ingest.partition_offset SET accepted = 0 WHERE false"
  "UPDATE ingest.partition_offset SET chain_head = NULL WHERE false"
  "UPDATE ingest.operational_alert SET kind = 'x' WHERE false"
  "UPDATE alerting.rule_config SET help = 'x' WHERE false"
  "UPDATE audit.chain_head SET seq = 0 WHERE false"
  "DELETE FROM ref.agency WHERE false"
  "DELETE FROM proj.pledge WHERE false"
  "UPDATE proj.pledge SET status = 'x' WHERE false"
  "UPDATE audit.event_log SET payload = NULL WHERE false"
  "DELETE FROM audit.event_log WHERE false"
  "CREATE ROLE tw_evil LOGIN SUPERUSER"
  "CREATE ROLE tw_evil"
  "ALTER ROLE twinwatch_operator CREATEROLE"
  "ALTER ROLE twinwatch_projector PASSWORD 'x'"
  "GRANT twinwatch_projector TO twinwatch_operator"
  "GRANT twinwatch_owner TO twinwatch_operator"
  "SET ROLE twinwatch_owner"
  "SET ROLE twinwatch_projector"
  "SET ROLE twinwatch_sentinel"
  "CREATE TABLE proj.evil (x int)"
  "CREATE TABLE ingest.evil (x int)"
  "CREATE FUNCTION audit.evil() RETURNS int LANGUAGE sql AS 'SELECT 1'"
  "ALTER TABLE proj.pledge ADD COLUMN evil int"
  "ALTER TABLE audit.event_log DISABLE TRIGGER USER"
  "DROP TABLE proj.source_feed"
  "CREATE SCHEMA evil"
)
for sql in "${operator_refused[@]}"; do
  out=$(PGUSER=twinwatch_operator psql -XAtq -v VERBOSITY=sqlstate -c "$sql" 2>&1) &&
    fail "the operator could: $sql"
  [[ $out == *42501* ]] || fail "operator: $sql: expected SQLSTATE 42501, got: $out"
  checks=$((checks + 1))
done
# supervisors and auditors read, and write nothing; a supervisor changes an
# alert only through alerting.acknowledge
PGUSER=twinwatch_supervisor psql -XAtq -c "SELECT count(*) FROM supervision.locality_overview" \
  >/dev/null || fail "a supervisor cannot read the views"
PGUSER=twinwatch_auditor psql -XAtq -c "SELECT count(*) FROM audit.event_log, audit.action_log" \
  >/dev/null || fail "an auditor cannot read the trail"
out=$(PGUSER=twinwatch_supervisor psql -XAtq -v VERBOSITY=sqlstate \
  -c "SELECT count(*) FROM audit.event_log" 2>&1) && fail "a supervisor reads the event log"
[[ $out == *42501* ]] || fail "supervisor reading the log: $out"

# nobody, the owner included, holds UPDATE, DELETE or TRUNCATE on the trail
# (directly or through a membership, pg_write_all_data included)
holders=$(q "SELECT string_agg(r.rolname || ':' || t || ':' || p, ' ')
  FROM pg_roles r, unnest(ARRAY['audit.event_log', 'audit.action_log', 'audit.anchor']) t,
       unnest(ARRAY['UPDATE', 'DELETE', 'TRUNCATE']) p
  WHERE NOT r.rolsuper AND r.rolname !~ '^pg_' AND has_table_privilege(r.oid, t, p)")
assert_eq "$holders" "" "roles that may change the audit trail"
assert_eq "$(q "SELECT string_agg(DISTINCT pg_get_userbyid(c.relowner), ',') FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'v', 'p')
  AND n.nspname IN ('twinwatch', 'ref', 'audit', 'ingest', 'proj', 'supervision', 'alerting')")" \
  twinwatch_owner "owner of every table and view"
assert_eq "$(q "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'twinwatch_owner'")" f \
  "twinwatch_owner can log in"

# twinctl runs as the operator ($TWINCTL, harness.sh) and does its job: an
# action audited under its role, a rebuild (TRUNCATE and COPY), a verify
"$TWINCTL" load-reference --agencies "$TW_ROOT/ops/sample/agencies.csv" \
  --localities "$TW_ROOT/ops/sample/localities.csv" >/dev/null || fail "load-reference as the operator"
"$TWINCTL" rebuild --yes >"$T/rebuild.out" 2>&1 || fail "rebuild as the operator: $(cat "$T/rebuild.out")"
"$TWINCTL" audit verify >/dev/null || fail "audit verify as the operator"
assert_eq "$(q "SELECT db_role FROM audit.action_log WHERE action = 'reference.load'")" \
  twinwatch_operator "role that loaded the reference data"
# BYPASSRLS only: rebuild's COPY into the district-scoped tables (030)
assert_eq "$(q "SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication, rolbypassrls
  FROM pg_roles WHERE rolname = 'twinwatch_operator'")" "f|t" "operator's role attributes"

# the superuser: refused by the trigger, on both tables
"$TWINCTL" rules set pledge_overdue grace_days 8 --by "Lê Văn C" >/dev/null
q "INSERT INTO audit.event_log (event_id, topic, kafka_partition, kafka_offset, event_type,
     agency_code, locality_code, occurred_at, source_system, source_ref, payload, prev_hash, hash)
   VALUES (gen_random_uuid(), 't', 0, 0, 'visit', 'A', 'L', now(), 's', 'r', '\x00',
           sha256('a'), sha256('b'))"
actions=$(q "SELECT count(*) FROM audit.action_log")
for sql in "UPDATE audit.event_log SET payload = '\x01'" "DELETE FROM audit.event_log" \
  "TRUNCATE audit.event_log" "UPDATE audit.action_log SET by_name = 'x'" \
  "DELETE FROM audit.action_log" "TRUNCATE audit.action_log" "DELETE FROM audit.chain_head"; do
  out=$(psql -XAtq -v VERBOSITY=sqlstate -c "$sql" 2>&1) && fail "the superuser could: $sql"
  [[ $out == *TW002* ]] || fail "superuser $sql: expected SQLSTATE TW002, got: $out"
done
assert_eq "$(q "SELECT count(*) FROM audit.event_log") $(q "SELECT count(*) FROM audit.action_log")" \
  "1 $actions" "rows left after the refused changes"
echo "roles: ok ($checks refusals checked)"
