-- 004_alerting: the sentinel's alerts (DESIGN.md "Alerts"): one row per
-- (rule, subject), every transition in the history and the outbox, rule
-- parameters in a table the sentinel reads at each evaluation. The rule
-- evaluation itself is in 006_alerting_rules.sql.

CREATE SCHEMA IF NOT EXISTS alerting;

-- Rule parameters; `twinctl rules set RULE KEY VALUE` changes them through
-- alerting.set_rule (006), which records who changed what.
CREATE TABLE alerting.rule_config (
  rule        text NOT NULL CHECK (rule IN ('pledge_overdue', 'pledge_stalled', 'twinning_dormant',
                                            'formalism', 'feed_silent')),
  key         text NOT NULL,
  value       numeric NOT NULL CHECK (value >= 0),
  help        text NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  updated_by  text NOT NULL DEFAULT 'migration 004',
  PRIMARY KEY (rule, key)
);
INSERT INTO alerting.rule_config (rule, key, value, help) VALUES
  ('pledge_overdue', 'grace_days', 7, 'days after the due date (local) before the alert opens'),
  ('pledge_overdue', 'critical_days', 30, 'days after the due date before it escalates to critical'),
  ('pledge_stalled', 'stall_days', 90, 'days without a delivery (or since the pledge) of an open pledge'),
  ('twinning_dormant', 'dormant_days', 180, 'days without activity of an active twinning'),
  ('formalism', 'window_days', 365, 'trailing window of an agency''s activities'),
  ('formalism', 'min_activities', 3, 'activities in the window before the rule applies'),
  ('formalism', 'min_substantive_pct', 20, 'substantive share (%) below which it fires'),
  ('feed_silent', 'silence_hours', 48, 'hours without any event (heartbeats count) from a source');

-- The audit of rule changes: one row per `twinctl rules set`.
CREATE TABLE alerting.rule_change (
  id         bigserial PRIMARY KEY,
  rule       text NOT NULL,
  key        text NOT NULL,
  old_value  numeric,
  new_value  numeric NOT NULL,
  by_name    text NOT NULL CHECK (by_name <> ''),
  note       text NOT NULL DEFAULT '',
  at         timestamptz NOT NULL DEFAULT now()
);

-- One alert per (rule, subject). alert_id is derived from (rule, subject)
-- (006: alerting.alert_uuid), so a re-derivation after a rebuild names the
-- same alert. Subjects: "AGENCY/PLEDGE_ID" (pledge rules), "AGENCY|LOCALITY"
-- (twinning_dormant), "AGENCY" (formalism), "SOURCE_SYSTEM" (feed_silent).
CREATE TABLE alerting.alert (
  alert_id        uuid PRIMARY KEY,
  rule            text NOT NULL,
  subject         text NOT NULL,
  state           text NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
  severity        text NOT NULL CHECK (severity IN ('warning', 'critical')),
  transition_no   integer NOT NULL CHECK (transition_no >= 1),
  opened_at       timestamptz NOT NULL, -- of the current episode (a reopen sets it again)
  changed_at      timestamptz NOT NULL,
  agency_code     text,
  locality_code   text,
  pledge_id       text,
  source_system   text,
  summary_vi      text NOT NULL,
  summary_en      text NOT NULL,
  cause_event_id  uuid,
  acked_by        text,
  acked_at        timestamptz,
  UNIQUE (rule, subject)
);
CREATE INDEX alert_state ON alerting.alert (state, rule);
CREATE INDEX alert_locality ON alerting.alert (locality_code);

-- Every transition of every alert, never updated.
CREATE TABLE alerting.alert_history (
  alert_id        uuid NOT NULL REFERENCES alerting.alert (alert_id),
  transition_no   integer NOT NULL,
  state           text NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
  severity        text NOT NULL CHECK (severity IN ('warning', 'critical')),
  at              timestamptz NOT NULL,       -- twinwatch.now() of the transition
  committed_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  kind            text NOT NULL CHECK (kind IN ('open', 'escalate', 'deescalate', 'acknowledge',
                                                'resolve', 'reopen')),
  by_name         text NOT NULL,              -- 'sentinel' or the supervisor who acknowledged
  note            text NOT NULL DEFAULT '',
  summary_vi      text NOT NULL,
  summary_en      text NOT NULL,
  cause_event_id  uuid,
  PRIMARY KEY (alert_id, transition_no)
);

-- Transitions waiting for the publisher (twinwatch.alerts.v1). A row is
-- marked sent only after the broker acknowledged its message.
CREATE TABLE alerting.outbox (
  id             bigserial PRIMARY KEY,
  alert_id       uuid NOT NULL,
  transition_no  integer NOT NULL,
  queued_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  sent_at        timestamptz,
  UNIQUE (alert_id, transition_no),
  FOREIGN KEY (alert_id, transition_no) REFERENCES alerting.alert_history (alert_id, transition_no)
);
CREATE INDEX outbox_unsent ON alerting.outbox (id) WHERE sent_at IS NULL;

-- Per-activity facts the formalism rule needs over a trailing window
-- (proj.twinning keeps only totals): one row per visit, delivery or
-- training in the event log, with whether it is substantive. The sentinel
-- fills it from audit.event_log (seq order), so it is derived like any
-- projection and survives a rebuild unchanged.
CREATE TABLE alerting.activity (
  event_id     uuid PRIMARY KEY,
  seq          bigint NOT NULL,
  agency_code  text NOT NULL,
  occurred_at  timestamptz NOT NULL,
  substantive  boolean NOT NULL
);
CREATE INDEX activity_agency ON alerting.activity (agency_code, occurred_at);
CREATE INDEX activity_occurred ON alerting.activity (occurred_at);

-- The supervisor role (issue 5 adds the others): reads the views and the
-- alerts, acknowledges only through alerting.acknowledge (006).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'twinwatch_supervisor') THEN
    CREATE ROLE twinwatch_supervisor NOLOGIN;
  END IF;
END $$;
GRANT USAGE ON SCHEMA supervision, alerting TO twinwatch_supervisor;
GRANT SELECT ON ALL TABLES IN SCHEMA supervision TO twinwatch_supervisor;
GRANT SELECT ON alerting.alert, alerting.alert_history, alerting.rule_config
  TO twinwatch_supervisor;
