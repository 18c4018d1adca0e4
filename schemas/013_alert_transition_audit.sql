-- 013_alert_transition_audit: DESIGN.md, "Alerts": every transition is a
-- row in the alert history, an audit row, a NOTIFY and one Alert message.
-- The audit row was written for acknowledgements only (010); now every
-- transition (open, escalate, deescalate, resolve, reopen, and acknowledge,
-- whose action name stays alert.acknowledge) is one, in the operator chain,
-- by the history row's by_name ('sentinel', or the supervisor) with the
-- caller's database role, in the transaction that makes it.
--
-- A statement-level trigger: the sentinel's first evaluation over a large
-- backlog inserts ~140,000 transitions in one statement, and a row-level
-- trigger calling audit.record_action updated the chain's head row as
-- often, in one transaction; each read of the head then walked the row's
-- growing chain of versions (over 5 minutes, against 58 s without the
-- audit). Here the head is read and locked once per statement, the rows are
-- chained in order (alert_id, transition_no), and the head written once.

CREATE FUNCTION audit.on_alert_transitions() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  h audit.chain_head;
  v_at timestamptz := now();
  v_role text := CASE WHEN current_setting('role') IN ('', 'none') THEN session_user::text
                      ELSE current_setting('role') END;
  v_seq bigint;
  v_prev bytea;
  v_hash bytea;
  v_action text;
  v_subject text;
  v_detail jsonb;
  r record;
BEGIN
  SELECT * INTO STRICT h FROM audit.chain_head WHERE chain = 'operator' FOR UPDATE;
  v_seq := h.seq;
  v_hash := h.hash;
  FOR r IN SELECT * FROM new_transitions ORDER BY alert_id, transition_no LOOP
    IF coalesce(btrim(r.by_name), '') = '' THEN
      RAISE EXCEPTION 'an audited action needs the person acting (--by NAME)'
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_action := 'alert.' || r.kind;
    v_subject := 'alert:' || r.alert_id;
    v_detail := CASE WHEN r.kind = 'acknowledge'
                  THEN jsonb_build_object('transition_no', r.transition_no, 'note', r.note)
                  ELSE jsonb_build_object('transition_no', r.transition_no, 'state', r.state,
                                          'severity', r.severity, 'at', r.at,
                                          'cause_event_id', r.cause_event_id,
                                          'summary', r.summary_en)
                END;
    v_seq := v_seq + 1;
    v_prev := v_hash;
    v_hash := sha256(v_prev || audit.action_canonical(v_seq, v_at, v_role, r.by_name, v_action,
                                                      v_subject, v_detail));
    INSERT INTO audit.action_log (seq, at, db_role, by_name, action, subject, detail,
                                  prev_hash, hash)
    VALUES (v_seq, v_at, v_role, r.by_name, v_action, v_subject, v_detail, v_prev, v_hash);
  END LOOP;
  IF v_seq > h.seq THEN
    UPDATE audit.chain_head SET seq = v_seq, hash = v_hash WHERE chain = 'operator';
  END IF;
  RETURN NULL;
END $$;
ALTER FUNCTION audit.on_alert_transitions() OWNER TO twinwatch_owner;

DROP TRIGGER alert_history_audit ON alerting.alert_history;
CREATE TRIGGER alert_history_audit AFTER INSERT ON alerting.alert_history
  REFERENCING NEW TABLE AS new_transitions
  FOR EACH STATEMENT EXECUTE FUNCTION audit.on_alert_transitions();
DROP FUNCTION audit.on_acknowledge();
