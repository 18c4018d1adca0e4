-- 030_operator_role: twinwatch_operator, the role twinctl connects as for
-- everything but `migrate` (which needs the owner). It reads every table and
-- view (status, digest, reports, dlq list, audit verify and trail) and writes
-- only what its commands write, column by column where a command changes
-- some columns of a row:
--   load-reference    upserts ref.agency, ref.locality and (020) the unit
--                     versions, unit and agency lineage
--   dlq replay        marks dead letters replayed (the replay columns)
--   offsets accept-loss  moves one stored offset, resolves its alert
--   rebuild           empties and refills the four tables it recomputes
--   rules set         alerting.set_rule (runs as the caller): the value
--                     columns of rule_config, a rule_change row
--   alerts ack        as twinwatch_supervisor (SET ROLE; 006's acknowledge)
-- and records its actions through audit.record_action. It cannot change the
-- audit trail, the event log, offsets' counters, the alerting state the
-- sentinel keeps, other projection tables, roles or the schema
-- (tests/integration/roles.sh tries each). Tokens and users (the gateway's,
-- migrations 040-049) grant their own writes to it there.
-- BYPASSRLS: rebuild refills proj.twinning and proj.pledge with COPY, which
-- PostgreSQL refuses for a role under row-level security (011), and the
-- operator's reads (digest, status) are of the whole province anyway.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'twinwatch_operator') THEN
    CREATE ROLE twinwatch_operator LOGIN BYPASSRLS;
  ELSE
    ALTER ROLE twinwatch_operator LOGIN BYPASSRLS;
  END IF;
END $$;

GRANT USAGE ON SCHEMA twinwatch, ref, audit, ingest, proj, supervision, alerting
  TO twinwatch_operator;
GRANT SELECT ON ALL TABLES IN SCHEMA twinwatch, ref, audit, ingest, proj, supervision, alerting
  TO twinwatch_operator;
-- tables later migrations create are readable too (they are created by the
-- role that runs the migrations, this one)
ALTER DEFAULT PRIVILEGES IN SCHEMA twinwatch, ref, audit, ingest, proj, supervision, alerting
  GRANT SELECT ON TABLES TO twinwatch_operator;

GRANT INSERT, UPDATE ON ref.agency, ref.locality, ref.unit_version, ref.unit_lineage,
  ref.agency_lineage TO twinwatch_operator;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA ref TO twinwatch_operator;
GRANT UPDATE (replayed_at, replayed_by, replayed_to_partition, replayed_to_offset)
  ON ingest.dead_letter TO twinwatch_operator;
GRANT UPDATE (next_offset, updated_at) ON ingest.partition_offset TO twinwatch_operator;
GRANT UPDATE (resolved_at, resolved_by, resolution) ON ingest.operational_alert
  TO twinwatch_operator;
GRANT TRUNCATE, INSERT ON proj.twinning, proj.pledge, proj.parked_delivery, proj.source_feed
  TO twinwatch_operator;
GRANT UPDATE (value, updated_at, updated_by) ON alerting.rule_config TO twinwatch_operator;
GRANT INSERT ON alerting.rule_change TO twinwatch_operator;
GRANT USAGE ON SEQUENCE alerting.rule_change_id_seq TO twinwatch_operator;
GRANT EXECUTE ON FUNCTION audit.record_action(text, text, text, jsonb) TO twinwatch_operator;
GRANT twinwatch_supervisor TO twinwatch_operator;
