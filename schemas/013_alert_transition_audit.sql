-- 013_alert_transition_audit: DESIGN.md, "Alerts": every transition is a
-- row in the alert history, an audit row, a NOTIFY and one Alert message.
-- The audit row was written for acknowledgements only (010); now every
-- transition the sentinel makes (open, escalate, deescalate, resolve,
-- reopen) is one too, in the operator chain, by 'sentinel' with the
-- sentinel's database role, in the transaction that makes it. An
-- acknowledgement keeps its action name, alert.acknowledge.

CREATE FUNCTION audit.on_alert_transition() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM audit.record_action(NEW.by_name, 'alert.' || NEW.kind, 'alert:' || NEW.alert_id,
                              CASE WHEN NEW.kind = 'acknowledge'
                                THEN jsonb_build_object('transition_no', NEW.transition_no,
                                                        'note', NEW.note)
                                ELSE jsonb_build_object('transition_no', NEW.transition_no,
                                                        'state', NEW.state,
                                                        'severity', NEW.severity,
                                                        'at', NEW.at,
                                                        'cause_event_id', NEW.cause_event_id,
                                                        'summary', NEW.summary_en)
                              END);
  RETURN NULL;
END $$;
ALTER FUNCTION audit.on_alert_transition() OWNER TO twinwatch_owner;

DROP TRIGGER alert_history_audit ON alerting.alert_history;
CREATE TRIGGER alert_history_audit AFTER INSERT ON alerting.alert_history
  FOR EACH ROW EXECUTE FUNCTION audit.on_alert_transition();
DROP FUNCTION audit.on_acknowledge();
