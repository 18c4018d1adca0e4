-- 040_gateway_tokens: the agency gateway's credentials and its database role
-- (issue 15, DESIGN.md "Gateway, provenance and console"). An agency's
-- system posts events to services/gateway with a bearer token; only the
-- token's SHA-256 is stored, so a copy of this table signs nobody in. Issue
-- and revoke are operator actions on the operator chain (audit.record_action,
-- called by twinctl in the transaction of the change). The gateway connects
-- as twinwatch_gateway, which reads nothing directly: it calls the three
-- SECURITY DEFINER functions below, each answering for one agency only.

CREATE SCHEMA IF NOT EXISTS gateway;

CREATE TABLE gateway.token (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  agency_code  text NOT NULL REFERENCES ref.agency (code),
  name         text NOT NULL CHECK (btrim(name) <> ''),
  token_hash   bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
  issued_at    timestamptz NOT NULL DEFAULT now(),
  issued_by    text NOT NULL CHECK (btrim(issued_by) <> ''),
  expires_at   timestamptz,
  revoked_at   timestamptz,
  revoked_by   text,
  CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
);

-- Agencies' Ed25519 public keys, for events produced straight to Kafka and
-- signed (twinctl keys add, audited). The projector reads them.
CREATE TABLE gateway.agency_key (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  agency_code  text NOT NULL REFERENCES ref.agency (code),
  public_key   bytea NOT NULL UNIQUE CHECK (octet_length(public_key) = 32),
  added_at     timestamptz NOT NULL DEFAULT now(),
  added_by     text NOT NULL CHECK (btrim(added_by) <> ''),
  revoked_at   timestamptz
);
CREATE INDEX agency_key_agency ON gateway.agency_key (agency_code) WHERE revoked_at IS NULL;

-- What a presented token is, looked up by its hash on every request (so a
-- revocation or an expiry applies to the next request): no row when
-- unknown; state 'active', 'revoked' or 'expired'.
CREATE FUNCTION gateway.token_auth(p_hash bytea)
RETURNS TABLE (token_id bigint, agency_code text, state text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT t.id, t.agency_code,
         CASE WHEN t.revoked_at IS NOT NULL THEN 'revoked'
              WHEN t.expires_at IS NOT NULL AND t.expires_at <= now() THEN 'expired'
              ELSE 'active' END
    FROM gateway.token t WHERE t.token_hash = p_hash $$;

-- What became of one event of agency p_agency: accepted (in the log),
-- dead_lettered (its latest dead letter not replayed since), or nothing
-- known (no row: the gateway says pending when it published it). An event
-- of another agency is not shown.
CREATE FUNCTION gateway.event_status(p_agency text, p_event_id uuid)
RETURNS TABLE (status text, reason text, message text, at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT 'accepted', NULL::text, NULL::text, l.logged_at FROM audit.event_log l
   WHERE l.event_id = p_event_id AND l.agency_code = p_agency
  UNION ALL
  (SELECT CASE WHEN d.reason = 'conflicting_duplicate' THEN 'duplicate' ELSE 'dead_lettered' END,
          d.reason, d.message, d.dead_at
     FROM ingest.dead_letter d
    WHERE d.event_id = p_event_id AND d.agency_code = p_agency
      AND NOT EXISTS (SELECT 1 FROM audit.event_log l WHERE l.event_id = p_event_id)
    ORDER BY d.id DESC LIMIT 1) $$;

-- One agency's feed, as its IT staff need it to fix their export: events
-- accepted, dead letters by reason, those still waiting for a fix (not
-- replayed) with ids and reasons, the last event logged, and whether the
-- feed is silent (nothing logged within the feed_silent rule's hours).
CREATE FUNCTION gateway.feed_status(p_agency text, p_pending_limit integer)
RETURNS json
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  WITH last AS (
    SELECT l.event_id, l.logged_at, l.occurred_at, l.event_type FROM audit.event_log l
     WHERE l.agency_code = p_agency ORDER BY l.seq DESC LIMIT 1),
  silence AS (
    SELECT make_interval(hours => coalesce(
             (SELECT value FROM alerting.rule_config
               WHERE rule = 'feed_silent' AND key = 'silence_hours'), 48)::int) AS h)
  SELECT json_build_object(
    'agency', p_agency,
    'accepted', (SELECT count(*) FROM audit.event_log l WHERE l.agency_code = p_agency),
    'dead_lettered', coalesce((SELECT json_object_agg(reason, n ORDER BY reason)
                                 FROM (SELECT reason, count(*) AS n FROM ingest.dead_letter
                                        WHERE agency_code = p_agency GROUP BY reason) r), '{}'),
    'pending_dead_letters_total', (SELECT count(*) FROM ingest.dead_letter
                                    WHERE agency_code = p_agency AND replayed_at IS NULL),
    'pending_dead_letters', coalesce((SELECT json_agg(json_build_object(
                                        'id', d.id, 'event_id', d.event_id, 'reason', d.reason,
                                        'message', d.message, 'dead_at', d.dead_at) ORDER BY d.id)
                                        FROM (SELECT * FROM ingest.dead_letter
                                               WHERE agency_code = p_agency
                                                 AND replayed_at IS NULL
                                               ORDER BY id LIMIT p_pending_limit) d), '[]'),
    'last_event', (SELECT json_build_object('event_id', event_id, 'type', event_type,
                                            'occurred_at', occurred_at, 'logged_at', logged_at)
                     FROM last),
    'silent_after_hours', (SELECT extract(epoch FROM h) / 3600 FROM silence)::int,
    'silent', coalesce((SELECT logged_at < twinwatch.now() - (SELECT h FROM silence) FROM last),
                       true)) $$;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'twinwatch_gateway') THEN
    CREATE ROLE twinwatch_gateway LOGIN;
  ELSE
    ALTER ROLE twinwatch_gateway LOGIN;
  END IF;
END $$;

ALTER SCHEMA gateway OWNER TO twinwatch_owner;
ALTER TABLE gateway.token OWNER TO twinwatch_owner;
ALTER TABLE gateway.agency_key OWNER TO twinwatch_owner;
ALTER FUNCTION gateway.token_auth(bytea) OWNER TO twinwatch_owner;
ALTER FUNCTION gateway.event_status(text, uuid) OWNER TO twinwatch_owner;
ALTER FUNCTION gateway.feed_status(text, integer) OWNER TO twinwatch_owner;
REVOKE ALL ON ALL TABLES IN SCHEMA gateway FROM PUBLIC;
REVOKE ALL ON FUNCTION gateway.token_auth(bytea), gateway.event_status(text, uuid),
  gateway.feed_status(text, integer) FROM PUBLIC;

-- twinwatch_gateway: the three functions, nothing else.
GRANT USAGE ON SCHEMA gateway TO twinwatch_gateway;
GRANT EXECUTE ON FUNCTION gateway.token_auth(bytea), gateway.event_status(text, uuid),
  gateway.feed_status(text, integer) TO twinwatch_gateway;
-- The projector checks signatures against the registered keys.
GRANT USAGE ON SCHEMA gateway TO twinwatch_projector;
GRANT SELECT ON gateway.agency_key TO twinwatch_projector;
-- The auditor reads who holds which credential (never a token: only hashes).
GRANT USAGE ON SCHEMA gateway TO twinwatch_auditor;
GRANT SELECT ON gateway.token, gateway.agency_key TO twinwatch_auditor;
