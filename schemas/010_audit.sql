-- 010_audit: the tamper-evident audit trail and the roles (issue 5,
-- DESIGN.md "Audit trail"). Event-log rows form one hash chain per Kafka
-- partition, written by the projector (hashes computed in C, see
-- services/lib/chain.c); operator actions form one more chain, appended by
-- audit.record_action. Neither table can be changed or emptied: no role holds
-- UPDATE, DELETE or TRUNCATE on them and a trigger refuses them anyway. Every
-- table belongs to twinwatch_owner, which nothing logs in as; each service
-- has a role of its own with what it needs and no more.

-- Roles. Cluster-wide, so created only when missing (several databases of
-- one cluster share them). twinwatch_supervisor exists since 004.
DO $$
DECLARE
  r text;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'twinwatch_owner') THEN
    CREATE ROLE twinwatch_owner NOLOGIN;
  END IF;
  FOREACH r IN ARRAY ARRAY['twinwatch_projector', 'twinwatch_sentinel', 'twinwatch_supervisor',
                           'twinwatch_auditor'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('CREATE ROLE %I LOGIN', r);
    ELSE
      EXECUTE format('ALTER ROLE %I LOGIN', r);
    END IF;
  END LOOP;
END $$;

-- Canonical bytes of an event-log row, version 1; the same encoding as
-- tw_chain_event in services/lib/chain.c (README "Audit trail and roles"):
-- "TWE1" | event_id (16) | len(topic) | topic | partition | offset |
-- len(payload) | payload, integers big-endian (int4, int8). Where the event
-- was accepted is part of it, so a row moved to another offset breaks.
CREATE FUNCTION audit.event_canonical(p_id uuid, p_topic text, p_partition integer,
                                      p_offset bigint, p_payload bytea)
RETURNS bytea LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT '\x54574531'::bytea || uuid_send(p_id)
         || int4send(octet_length(convert_to(p_topic, 'UTF8'))) || convert_to(p_topic, 'UTF8')
         || int4send(p_partition) || int8send(p_offset)
         || int4send(octet_length(p_payload)) || p_payload $$;

-- Each row carries the hash it was chained to and its own:
-- hash = SHA-256(prev_hash || canonical bytes). A partition's head (its last
-- row's hash, and that row's offset) is kept beside its offset, written in
-- the same transaction.
ALTER TABLE audit.event_log ADD COLUMN prev_hash bytea, ADD COLUMN hash bytea;
ALTER TABLE ingest.partition_offset ADD COLUMN chain_head bytea, ADD COLUMN chain_offset bigint;

-- An upgraded database: rows logged before this migration are chained here,
-- partition by partition in offset order, exactly as the projector would
-- have chained them. (Row by row: slow on a large log, once.)
DO $$
DECLARE
  r record;
  v_prev bytea;
  v_key text := NULL;
  v_hash bytea;
BEGIN
  FOR r IN SELECT seq, event_id, topic, kafka_partition, kafka_offset, payload
             FROM audit.event_log ORDER BY topic, kafka_partition, kafka_offset, seq LOOP
    IF v_key IS DISTINCT FROM r.topic || '/' || r.kafka_partition THEN
      v_key := r.topic || '/' || r.kafka_partition;
      v_prev := decode(repeat('00', 32), 'hex');
    END IF;
    v_hash := sha256(v_prev || audit.event_canonical(r.event_id, r.topic, r.kafka_partition,
                                                     r.kafka_offset, r.payload));
    UPDATE audit.event_log SET prev_hash = v_prev, hash = v_hash WHERE seq = r.seq;
    UPDATE ingest.partition_offset SET chain_head = v_hash, chain_offset = r.kafka_offset
     WHERE topic = r.topic AND kafka_partition = r.kafka_partition;
    v_prev := v_hash;
  END LOOP;
END $$;
ALTER TABLE audit.event_log
  ALTER COLUMN prev_hash SET NOT NULL, ALTER COLUMN hash SET NOT NULL,
  ADD CONSTRAINT event_log_hash_len CHECK (octet_length(prev_hash) = 32 AND octet_length(hash) = 32);

-- Anchors: chain heads the projector published to twinwatch.audit-anchors.v1
-- (every audit.anchor_interval_s and at shutdown), recorded in the
-- transaction of the batch that made them. The copy outside the database is
-- the one `twinctl audit verify --anchors` trusts; this one says what was sent.
CREATE TABLE audit.anchor (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  topic            text NOT NULL,
  kafka_partition  integer NOT NULL,
  kafka_offset     bigint NOT NULL,  -- of the chain's row whose hash this is
  hash             bytea NOT NULL CHECK (octet_length(hash) = 32),
  recorded_at      timestamptz NOT NULL DEFAULT now()
);

-- Operator actions: one row per command that changes something, in the
-- transaction of its effect. seq is the row's position in the one operator
-- chain, given under the chain's lock (audit.chain_head), hence gapless.
CREATE TABLE audit.action_log (
  seq        bigint PRIMARY KEY CHECK (seq >= 1),
  at         timestamptz NOT NULL,
  db_role    text NOT NULL,
  by_name    text NOT NULL CHECK (btrim(by_name) <> ''),
  action     text NOT NULL,
  subject    text NOT NULL,
  detail     jsonb NOT NULL DEFAULT '{}',
  prev_hash  bytea NOT NULL CHECK (octet_length(prev_hash) = 32),
  hash       bytea NOT NULL CHECK (octet_length(hash) = 32)
);
CREATE INDEX action_log_subject ON audit.action_log (subject, seq);

CREATE TABLE audit.chain_head (
  chain  text PRIMARY KEY,
  seq    bigint NOT NULL,
  hash   bytea NOT NULL
);
INSERT INTO audit.chain_head VALUES ('operator', 0, decode(repeat('00', 32), 'hex'));

-- Canonical bytes of an operator-action row, version 1: "TWA1" | seq (int8)
-- | at (timestamptz_send: int8 microseconds since 2000-01-01 UTC) | then
-- db_role, by_name, action, subject, detail::text each as int4 length and
-- UTF-8 bytes. twinctl audit verify rebuilds the same bytes in C.
CREATE FUNCTION audit.action_canonical(p_seq bigint, p_at timestamptz, p_role text, p_by text,
                                       p_action text, p_subject text, p_detail jsonb)
RETURNS bytea LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT '\x54574131'::bytea || int8send(p_seq) || timestamptz_send(p_at)
         || int4send(octet_length(convert_to(p_role, 'UTF8'))) || convert_to(p_role, 'UTF8')
         || int4send(octet_length(convert_to(p_by, 'UTF8'))) || convert_to(p_by, 'UTF8')
         || int4send(octet_length(convert_to(p_action, 'UTF8'))) || convert_to(p_action, 'UTF8')
         || int4send(octet_length(convert_to(p_subject, 'UTF8'))) || convert_to(p_subject, 'UTF8')
         || int4send(octet_length(convert_to(p_detail::text, 'UTF8')))
         || convert_to(p_detail::text, 'UTF8') $$;

-- Appends one operator action to the operator chain. The head row is locked
-- FOR UPDATE, so concurrent appends queue and never fork the chain; the
-- hash is computed here, in SQL (sha256() is built in), because the head
-- must be read and advanced in one step inside the caller's transaction,
-- whichever client or SQL function (alerting.acknowledge) is acting. The
-- database role is the caller's (SET ROLE included), not this function's.
CREATE FUNCTION audit.record_action(p_by text, p_action text, p_subject text, p_detail jsonb)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  h audit.chain_head;
  v_at timestamptz := now();
  v_role text := CASE WHEN current_setting('role') IN ('', 'none') THEN session_user::text
                      ELSE current_setting('role') END;
  v_detail jsonb := coalesce(p_detail, '{}');
  v_hash bytea;
BEGIN
  IF coalesce(btrim(p_by), '') = '' THEN
    RAISE EXCEPTION 'an audited action needs the person acting (--by NAME)'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT * INTO STRICT h FROM audit.chain_head WHERE chain = 'operator' FOR UPDATE;
  v_hash := sha256(h.hash || audit.action_canonical(h.seq + 1, v_at, v_role, p_by, p_action,
                                                    p_subject, v_detail));
  INSERT INTO audit.action_log (seq, at, db_role, by_name, action, subject, detail, prev_hash, hash)
  VALUES (h.seq + 1, v_at, v_role, p_by, p_action, p_subject, v_detail, h.hash, v_hash);
  UPDATE audit.chain_head SET seq = h.seq + 1, hash = v_hash WHERE chain = 'operator';
  RETURN h.seq + 1;
END $$;
REVOKE ALL ON FUNCTION audit.record_action(text, text, text, jsonb) FROM PUBLIC;

-- Operator actions that happen inside other modules' SQL are recorded by
-- triggers, so that no path to them escapes the audit: an acknowledgement
-- (alerting.acknowledge), a rule change (alerting.set_rule), an accepted
-- loss of offsets (twinctl offsets accept-loss).
CREATE FUNCTION audit.on_acknowledge() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM audit.record_action(NEW.by_name, 'alert.acknowledge', 'alert:' || NEW.alert_id,
                              jsonb_build_object('transition_no', NEW.transition_no,
                                                 'note', NEW.note));
  RETURN NULL;
END $$;
CREATE TRIGGER alert_history_audit AFTER INSERT ON alerting.alert_history
  FOR EACH ROW WHEN (NEW.kind = 'acknowledge') EXECUTE FUNCTION audit.on_acknowledge();

CREATE FUNCTION audit.on_rule_change() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM audit.record_action(NEW.by_name, 'rule.set', 'rule:' || NEW.rule || '.' || NEW.key,
                              jsonb_build_object('old', NEW.old_value, 'new', NEW.new_value,
                                                 'note', NEW.note));
  RETURN NULL;
END $$;
CREATE TRIGGER rule_change_audit AFTER INSERT ON alerting.rule_change
  FOR EACH ROW EXECUTE FUNCTION audit.on_rule_change();

CREATE FUNCTION audit.on_accept_loss() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM audit.record_action(NEW.resolved_by, 'offsets.accept_loss',
                              'partition:' || NEW.topic || '/' || NEW.kafka_partition,
                              jsonb_build_object('lost_from', NEW.lost_from, 'lost_to',
                                                 NEW.lost_to, 'resolution', NEW.resolution));
  RETURN NULL;
END $$;
CREATE TRIGGER operational_alert_audit AFTER UPDATE OF resolved_at ON ingest.operational_alert
  FOR EACH ROW WHEN (OLD.resolved_at IS NULL AND NEW.resolved_at IS NOT NULL)
  EXECUTE FUNCTION audit.on_accept_loss();

-- Append-only: whoever tries (a superuser included, unless he disables
-- triggers, which verify then catches) gets SQLSTATE TW002.
CREATE FUNCTION audit.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% on %.% refused: the audit trail is append-only', TG_OP, TG_TABLE_SCHEMA,
    TG_TABLE_NAME USING ERRCODE = 'TW002';
END $$;
CREATE TRIGGER event_log_append_only BEFORE UPDATE OR DELETE ON audit.event_log
  FOR EACH ROW EXECUTE FUNCTION audit.refuse_change();
CREATE TRIGGER event_log_no_truncate BEFORE TRUNCATE ON audit.event_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();
CREATE TRIGGER action_log_append_only BEFORE UPDATE OR DELETE ON audit.action_log
  FOR EACH ROW EXECUTE FUNCTION audit.refuse_change();
CREATE TRIGGER action_log_no_truncate BEFORE TRUNCATE ON audit.action_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();
CREATE TRIGGER anchor_append_only BEFORE UPDATE OR DELETE ON audit.anchor
  FOR EACH ROW EXECUTE FUNCTION audit.refuse_change();
CREATE TRIGGER anchor_no_truncate BEFORE TRUNCATE ON audit.anchor
  FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();
CREATE TRIGGER chain_head_no_delete BEFORE DELETE ON audit.chain_head
  FOR EACH ROW EXECUTE FUNCTION audit.refuse_change();

-- Everything belongs to twinwatch_owner, a role nobody logs in as; the
-- migrations (run by a superuser or a member of twinwatch_owner) are the
-- only writers of the schema. Later migrations transfer their own objects.
DO $$
DECLARE
  o record;
BEGIN
  FOR o IN SELECT n.nspname AS s FROM pg_namespace n
            WHERE n.nspname IN ('twinwatch', 'ref', 'audit', 'ingest', 'proj', 'supervision',
                                'alerting') LOOP
    EXECUTE format('ALTER SCHEMA %I OWNER TO twinwatch_owner', o.s);
  END LOOP;
  FOR o IN SELECT c.oid::regclass AS rel, c.relkind FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname IN ('twinwatch', 'ref', 'audit', 'ingest', 'proj', 'supervision',
                                'alerting') AND c.relkind IN ('r', 'v', 'm', 'p') LOOP
    EXECUTE format('ALTER %s %s OWNER TO twinwatch_owner',
                   CASE o.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                  ELSE 'TABLE' END, o.rel);
  END LOOP;
  FOR o IN SELECT p.oid::regprocedure AS fn FROM pg_proc p
             JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname IN ('twinwatch', 'ref', 'audit', 'ingest', 'proj', 'supervision',
                                'alerting') LOOP
    EXECUTE format('ALTER ROUTINE %s OWNER TO twinwatch_owner', o.fn);
  END LOOP;
END $$;
-- Not even the owner may change the trail (it could grant itself back, which
-- only a migration could do, and the trigger still refuses).
REVOKE UPDATE, DELETE, TRUNCATE ON audit.event_log, audit.action_log, audit.anchor
  FROM twinwatch_owner;
REVOKE ALL ON ALL TABLES IN SCHEMA twinwatch, ref, audit, ingest, proj, supervision, alerting
  FROM PUBLIC;

-- twinwatch_projector: appends to the event log and the dead letters,
-- advances offsets and chain heads, maintains the projection tables.
GRANT USAGE ON SCHEMA twinwatch, ref, audit, ingest, proj TO twinwatch_projector;
GRANT SELECT ON ref.agency, ref.locality TO twinwatch_projector;
GRANT SELECT, INSERT ON audit.event_log, audit.anchor, ingest.dead_letter TO twinwatch_projector;
GRANT SELECT, INSERT, UPDATE ON ingest.partition_offset TO twinwatch_projector;
GRANT SELECT, INSERT ON ingest.operational_alert TO twinwatch_projector;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA proj TO twinwatch_projector;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA ingest, proj TO twinwatch_projector;

-- twinwatch_sentinel: writes the alerting tables (not the rule parameters,
-- which change only through the audited alerting.set_rule), reads what the
-- rules read.
GRANT USAGE ON SCHEMA twinwatch, ref, audit, proj, supervision, alerting TO twinwatch_sentinel;
GRANT SELECT ON ALL TABLES IN SCHEMA ref, proj, supervision, alerting TO twinwatch_sentinel;
GRANT SELECT ON audit.event_log TO twinwatch_sentinel;
GRANT INSERT, UPDATE, DELETE ON alerting.alert, alerting.alert_history, alerting.outbox,
  alerting.activity, alerting.last_event, alerting.tail_state TO twinwatch_sentinel;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA alerting TO twinwatch_sentinel;

-- twinwatch_supervisor: reads the views (004, 005) and acknowledges only
-- through alerting.acknowledge (006). Nothing more here.

-- twinwatch_auditor: reads the trail, the chain heads and what the trail of
-- an alert shows; writes nothing.
GRANT USAGE ON SCHEMA audit, ingest, alerting TO twinwatch_auditor;
GRANT SELECT ON ALL TABLES IN SCHEMA audit TO twinwatch_auditor;
GRANT SELECT ON ingest.partition_offset, alerting.alert, alerting.alert_history
  TO twinwatch_auditor;
