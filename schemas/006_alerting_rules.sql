-- 006_alerting_rules: the alert rules as set-based SQL the sentinel calls
-- (DESIGN.md "Alerts"). alerting.evaluate(scope) brings the alerts of the
-- scope's subjects to what the projection and twinwatch.now() say, one
-- statement per rule diffing desired against existing alerts; every
-- transition writes the alert row, a history row, an outbox row and a
-- NOTIFY twinwatch_alerts in the caller's transaction. It returns the next
-- instant at which some rule changes by time alone.

-- The sentinel tails the event log by seq; BRIN keeps that range scan cheap
-- without slowing the projector's inserts.
CREATE INDEX event_log_seq_brin ON audit.event_log USING brin (seq);

-- The latest event of each subject, for an alert's cause_event_id.
CREATE TABLE alerting.last_event (
  subject   text PRIMARY KEY, -- 'p:AGENCY/PLEDGE', 't:AGENCY|LOCALITY', 'a:AGENCY', 's:SOURCE'
  event_id  uuid NOT NULL,
  seq       bigint NOT NULL
);

-- How far alerting.tail() has read the event log. Every row below next_seq
-- is read. Projectors commit concurrently (lanes, groups), so a row can
-- appear below the highest seq seen; cand_seq (the highest seq seen at the
-- previous call) becomes next_seq only once every transaction that was
-- running then (xid below cand_xmax) has finished.
CREATE TABLE alerting.tail_state (
  one        boolean PRIMARY KEY DEFAULT true CHECK (one),
  next_seq   bigint NOT NULL,
  cand_seq   bigint,
  cand_xmax  xid8
);
INSERT INTO alerting.tail_state VALUES (true, 1, NULL, NULL);

CREATE FUNCTION alerting.alert_uuid(p_rule text, p_subject text) RETURNS uuid
  LANGUAGE sql IMMUTABLE AS $$ SELECT md5('twinwatch.alert|' || p_rule || '|' || p_subject)::uuid $$;

CREATE FUNCTION alerting.cfg(p_rule text, p_key text) RETURNS numeric
  LANGUAGE sql STABLE AS $$ SELECT value FROM alerting.rule_config WHERE rule = p_rule AND key = p_key $$;

-- The end of a local date: "due 2026-03-31" ends at 2026-04-01 00:00 in
-- Asia/Ho_Chi_Minh, plus p_days days.
CREATE FUNCTION alerting.local_end(p_date date, p_days numeric) RETURNS timestamptz
  LANGUAGE sql IMMUTABLE AS $$
  SELECT ((p_date + 1 + p_days::integer)::timestamp AT TIME ZONE 'Asia/Ho_Chi_Minh') $$;

-- 150000000 -> '150.000.000' (Vietnamese grouping) or '150,000,000'.
CREATE FUNCTION alerting.fmt_int(p_n bigint, p_sep text) RETURNS text
  LANGUAGE sql IMMUTABLE AS $$
  SELECT replace(to_char(p_n, 'FM999,999,999,999,999,999'), ',', p_sep) $$;

-- A varint at byte p of b: (value, next position).
CREATE FUNCTION alerting.pb_varint(b bytea, p integer, OUT v bigint, OUT np integer)
  LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
  shift integer := 0;
  c integer;
BEGIN
  v := 0;
  np := p;
  LOOP
    IF np >= length(b) OR shift > 63 THEN
      v := NULL;
      RETURN;
    END IF;
    c := get_byte(b, np);
    np := np + 1;
    v := v | ((c & 127)::bigint << shift);
    EXIT WHEN c < 128;
    shift := shift + 7;
  END LOOP;
END $$;

-- Whether an event (canonical protobuf bytes of Event) is a substantive
-- activity (DESIGN.md "Event contract"): every TrainingDelivered (field 25),
-- a SupportDelivered (field 24) whose category (its field 2) is
-- ECONOMIC_MODEL, MODEL_REPLICATION, INFRASTRUCTURE, CADRE_TRAINING,
-- VOCATIONAL_TRAINING or JOB_CREATION; a Visit (22) never.
CREATE FUNCTION alerting.pb_substantive(b bytea) RETURNS boolean
  LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
  p integer := 0;
  k record;
  l record;
  f integer;
  wt integer;
  endp integer;
  q integer;
  cat bigint := 0;
BEGIN
  WHILE p < length(b) LOOP
    k := alerting.pb_varint(b, p);
    IF k.v IS NULL THEN RETURN false; END IF;
    p := k.np;
    f := (k.v >> 3)::integer;
    wt := (k.v & 7)::integer;
    IF wt = 0 THEN
      p := (alerting.pb_varint(b, p)).np;
    ELSIF wt = 1 THEN
      p := p + 8;
    ELSIF wt = 5 THEN
      p := p + 4;
    ELSIF wt = 2 THEN
      l := alerting.pb_varint(b, p);
      IF l.v IS NULL THEN RETURN false; END IF;
      endp := l.np + l.v::integer;
      IF f = 25 THEN
        RETURN true;
      ELSIF f = 24 THEN
        q := l.np;
        WHILE q < endp LOOP
          k := alerting.pb_varint(b, q);
          IF k.v IS NULL THEN RETURN false; END IF;
          q := k.np;
          wt := (k.v & 7)::integer;
          IF (k.v >> 3) = 2 AND wt = 0 THEN
            cat := (alerting.pb_varint(b, q)).v;
            EXIT;
          ELSIF wt = 0 THEN
            q := (alerting.pb_varint(b, q)).np;
          ELSIF wt = 1 THEN
            q := q + 8;
          ELSIF wt = 5 THEN
            q := q + 4;
          ELSIF wt = 2 THEN
            l := alerting.pb_varint(b, q);
            q := l.np + l.v::integer;
          ELSE
            RETURN false;
          END IF;
        END LOOP;
        RETURN cat IN (1, 2, 3, 6, 7, 8);
      END IF;
      p := endp;
    ELSE
      RETURN false;
    END IF;
  END LOOP;
  RETURN false;
END $$;

-- Brings alerting.activity and alerting.last_event up to the event log:
-- reads every row from next_seq on (usually the last call's rows again and
-- the new ones), idempotently, then moves next_seq as far as is safe.
CREATE FUNCTION alerting.tail() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  st alerting.tail_state;
  v_max bigint;
  v_snap pg_snapshot := pg_current_snapshot();
BEGIN
  SELECT * INTO st FROM alerting.tail_state FOR UPDATE;
  INSERT INTO alerting.activity (event_id, seq, agency_code, occurred_at, substantive)
  SELECT e.event_id, e.seq, e.agency_code, e.occurred_at,
         e.event_type = 'training_delivered' OR
         (e.event_type = 'support_delivered' AND alerting.pb_substantive(e.payload))
    FROM audit.event_log e
   WHERE e.seq >= st.next_seq
     AND e.event_type IN ('visit', 'support_delivered', 'training_delivered')
     AND NOT EXISTS (SELECT 1 FROM alerting.activity a WHERE a.event_id = e.event_id);
  INSERT INTO alerting.last_event AS x (subject, event_id, seq)
  SELECT DISTINCT ON (s) s, event_id, seq
    FROM audit.event_log e,
         LATERAL (VALUES (CASE WHEN e.pledge_id <> '' THEN 'p:' || e.agency_code || '/' || e.pledge_id END),
                         ('t:' || e.agency_code || '|' || e.locality_code),
                         ('a:' || e.agency_code),
                         ('s:' || e.source_system)) v(s)
   WHERE e.seq >= st.next_seq AND s IS NOT NULL
   ORDER BY s, seq DESC
  ON CONFLICT (subject) DO UPDATE SET event_id = excluded.event_id, seq = excluded.seq
   WHERE x.seq < excluded.seq;
  SELECT max(seq) INTO v_max FROM audit.event_log WHERE seq >= st.next_seq;
  IF st.cand_xmax IS NOT NULL AND pg_snapshot_xmin(v_snap) >= st.cand_xmax THEN
    st.next_seq := greatest(st.next_seq, st.cand_seq + 1);
  END IF;
  UPDATE alerting.tail_state
     SET next_seq = st.next_seq, cand_seq = coalesce(v_max, st.next_seq - 1),
         cand_xmax = pg_snapshot_xmax(v_snap);
END $$;

-- What each rule wants: one row per subject that should have an alert, with
-- its severity and its sentences. p_subjects NULL means every subject.
CREATE TYPE alerting.desired AS (
  subject text, severity text, agency_code text, locality_code text, pledge_id text,
  source_system text, summary_vi text, summary_en text);

CREATE FUNCTION alerting.locality_vi(p_code text) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce((SELECT lower(left(name, 1)) || substr(name, 2) FROM ref.locality
                    WHERE code = p_code), p_code) $$;
CREATE FUNCTION alerting.locality_en(p_code text) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce((SELECT name FROM ref.locality WHERE code = p_code), p_code) $$;

CREATE FUNCTION alerting.desired_pledge_overdue(p_subjects text[])
RETURNS SETOF alerting.desired LANGUAGE sql STABLE AS $$
  WITH c AS (SELECT alerting.cfg('pledge_overdue', 'grace_days') AS grace,
                    alerting.cfg('pledge_overdue', 'critical_days') AS crit, twinwatch.now() AS now),
  p AS (
    SELECT p.*, c.*,
           (c.now AT TIME ZONE 'Asia/Ho_Chi_Minh')::date - p.due_date AS late,
           CASE WHEN p.amount_vnd > 0 THEN floor(100.0 * least(p.delivered_vnd, p.amount_vnd) / p.amount_vnd)
                WHEN p.target_quantity > 0 THEN floor(100.0 * least(p.delivered_qty, p.target_quantity) / p.target_quantity)
                ELSE 0 END::int AS pct
      FROM proj.pledge p, c
     WHERE p.status = 'open' AND p.due_date IS NOT NULL
       AND (p_subjects IS NULL OR (p.agency_code, p.pledge_id) IN
            (SELECT split_part(s, '/', 1), substr(s, strpos(s, '/') + 1) FROM unnest(p_subjects) s))
       AND c.now >= alerting.local_end(p.due_date, c.grace))
  SELECT p.agency_code || '/' || p.pledge_id,
         CASE WHEN p.now >= alerting.local_end(p.due_date, p.crit) THEN 'critical' ELSE 'warning' END,
         p.agency_code, p.locality_code, p.pledge_id, NULL,
         format('Cam kết %s của %s cho %s (%s ₫, hạn %s) quá hạn %s ngày, đã thực hiện %s%%.',
                p.pledge_id, p.agency_code, alerting.locality_vi(p.locality_code),
                alerting.fmt_int(p.amount_vnd, '.'), to_char(p.due_date, 'DD/MM/YYYY'),
                p.late, p.pct),
         format('Pledge %s of %s to %s (%s VND, due %s) is %s days overdue, %s%% delivered.',
                p.pledge_id, p.agency_code, alerting.locality_en(p.locality_code),
                alerting.fmt_int(p.amount_vnd, ','), to_char(p.due_date, 'YYYY-MM-DD'),
                p.late, p.pct)
    FROM p $$;

CREATE FUNCTION alerting.desired_pledge_stalled(p_subjects text[])
RETURNS SETOF alerting.desired LANGUAGE sql STABLE AS $$
  WITH c AS (SELECT alerting.cfg('pledge_stalled', 'stall_days') AS stall, twinwatch.now() AS now)
  SELECT p.agency_code || '/' || p.pledge_id, 'warning', p.agency_code, p.locality_code,
         p.pledge_id, NULL,
         format('Cam kết %s của %s cho %s (%s ₫) chưa có đợt thực hiện nào trong %s ngày qua.',
                p.pledge_id, p.agency_code, alerting.locality_vi(p.locality_code),
                alerting.fmt_int(p.amount_vnd, '.'),
                extract(day FROM c.now - coalesce(p.last_delivery_at, p.pledged_at))::int),
         format('Pledge %s of %s to %s (%s VND) has had no delivery for %s days.',
                p.pledge_id, p.agency_code, alerting.locality_en(p.locality_code),
                alerting.fmt_int(p.amount_vnd, ','),
                extract(day FROM c.now - coalesce(p.last_delivery_at, p.pledged_at))::int)
    FROM proj.pledge p, c
   WHERE p.status = 'open'
     AND (p.due_date IS NULL OR c.now < alerting.local_end(p.due_date, 0))
     AND c.now >= coalesce(p.last_delivery_at, p.pledged_at) + make_interval(days => c.stall::int)
     AND (p_subjects IS NULL OR (p.agency_code, p.pledge_id) IN
          (SELECT split_part(s, '/', 1), substr(s, strpos(s, '/') + 1) FROM unnest(p_subjects) s)) $$;

CREATE FUNCTION alerting.desired_twinning_dormant(p_subjects text[])
RETURNS SETOF alerting.desired LANGUAGE sql STABLE AS $$
  WITH c AS (SELECT alerting.cfg('twinning_dormant', 'dormant_days') AS d, twinwatch.now() AS now)
  SELECT t.agency_code || '|' || t.locality_code, 'warning', t.agency_code, t.locality_code,
         NULL, NULL,
         format('Kết nghĩa giữa %s và %s không có hoạt động nào trong %s ngày (lần cuối %s).',
                t.agency_code, alerting.locality_vi(t.locality_code),
                extract(day FROM c.now - coalesce(t.last_activity_at, t.signed_at))::int,
                to_char(coalesce(t.last_activity_at, t.signed_at) AT TIME ZONE 'Asia/Ho_Chi_Minh',
                        'DD/MM/YYYY')),
         format('The twinning of %s with %s has had no activity for %s days (last on %s).',
                t.agency_code, alerting.locality_en(t.locality_code),
                extract(day FROM c.now - coalesce(t.last_activity_at, t.signed_at))::int,
                to_char(coalesce(t.last_activity_at, t.signed_at) AT TIME ZONE 'Asia/Ho_Chi_Minh',
                        'YYYY-MM-DD'))
    FROM proj.twinning t, c
   WHERE t.status = 'active' AND coalesce(t.last_activity_at, t.signed_at) IS NOT NULL
     AND c.now >= coalesce(t.last_activity_at, t.signed_at) + make_interval(days => c.d::int)
     AND (p_subjects IS NULL OR (t.agency_code, t.locality_code) IN
          (SELECT split_part(s, '|', 1), substr(s, strpos(s, '|') + 1) FROM unnest(p_subjects) s)) $$;

CREATE FUNCTION alerting.desired_formalism(p_subjects text[])
RETURNS SETOF alerting.desired LANGUAGE sql STABLE AS $$
  WITH c AS (SELECT alerting.cfg('formalism', 'window_days') AS w,
                    alerting.cfg('formalism', 'min_activities') AS n,
                    alerting.cfg('formalism', 'min_substantive_pct') AS pct,
                    twinwatch.now() AS now),
  a AS (SELECT a.agency_code, count(*) AS total, count(*) FILTER (WHERE a.substantive) AS subst
          FROM alerting.activity a, c
         WHERE a.occurred_at > c.now - make_interval(days => c.w::int) AND a.occurred_at <= c.now
           AND (p_subjects IS NULL OR a.agency_code = ANY (p_subjects))
         GROUP BY a.agency_code)
  SELECT a.agency_code, 'warning', a.agency_code, NULL, NULL, NULL,
         format('Trong %s ngày qua, %s có %s hoạt động kết nghĩa nhưng chỉ %s hoạt động thực chất (%s%%, dưới %s%%): chủ yếu thăm hỏi, tặng quà.',
                c.w, a.agency_code, a.total, a.subst, floor(100.0 * a.subst / a.total), c.pct),
         format('Over the last %s days %s had %s twinning activities but only %s substantive (%s%%, below %s%%): mostly visits and gifts.',
                c.w, a.agency_code, a.total, a.subst, floor(100.0 * a.subst / a.total), c.pct)
    FROM a, c
   WHERE a.total >= c.n AND 100.0 * a.subst / a.total < c.pct $$;

CREATE FUNCTION alerting.desired_feed_silent(p_subjects text[])
RETURNS SETOF alerting.desired LANGUAGE sql STABLE AS $$
  WITH c AS (SELECT alerting.cfg('feed_silent', 'silence_hours') AS h, twinwatch.now() AS now)
  SELECT f.source_system, 'warning', f.agency_code, NULL, NULL, f.source_system,
         format('Hệ thống %s của %s không gửi dữ liệu nào (kể cả tín hiệu sống) từ %s, đã %s giờ.',
                f.source_system, f.agency_code,
                to_char(f.last_seen_at AT TIME ZONE 'Asia/Ho_Chi_Minh', 'HH24:MI DD/MM/YYYY'),
                floor(extract(epoch FROM c.now - f.last_seen_at) / 3600)),
         format('Source system %s of %s has sent nothing (not even a heartbeat) since %s, %s hours ago.',
                f.source_system, f.agency_code,
                to_char(f.last_seen_at AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYYY-MM-DD HH24:MI'),
                floor(extract(epoch FROM c.now - f.last_seen_at) / 3600))
    FROM proj.source_feed f, c
   WHERE c.now >= f.last_seen_at + make_interval(hours => c.h::int)
     AND (p_subjects IS NULL OR f.source_system = ANY (p_subjects)) $$;

-- The last-event key of a rule's subject.
CREATE FUNCTION alerting.subject_key(p_rule text, p_subject text) RETURNS text
  LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE p_rule WHEN 'pledge_overdue' THEN 'p:' WHEN 'pledge_stalled' THEN 'p:'
                     WHEN 'twinning_dormant' THEN 't:' WHEN 'formalism' THEN 'a:'
                     ELSE 's:' END || p_subject $$;

-- Diffs one rule's desired alerts against its existing ones over the scope
-- and writes every transition (alert, history, outbox, NOTIFY) in one
-- statement. Returns the number of transitions.
CREATE FUNCTION alerting.apply_rule(p_rule text, p_subjects text[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  n integer;
BEGIN
  IF p_subjects IS NOT NULL AND cardinality(p_subjects) = 0 THEN
    RETURN 0;
  END IF;
  WITH d AS (
    SELECT * FROM alerting.desired_pledge_overdue(p_subjects) WHERE p_rule = 'pledge_overdue'
    UNION ALL SELECT * FROM alerting.desired_pledge_stalled(p_subjects) WHERE p_rule = 'pledge_stalled'
    UNION ALL SELECT * FROM alerting.desired_twinning_dormant(p_subjects) WHERE p_rule = 'twinning_dormant'
    UNION ALL SELECT * FROM alerting.desired_formalism(p_subjects) WHERE p_rule = 'formalism'
    UNION ALL SELECT * FROM alerting.desired_feed_silent(p_subjects) WHERE p_rule = 'feed_silent'),
  e AS (
    SELECT * FROM alerting.alert
     WHERE rule = p_rule AND (p_subjects IS NULL OR subject = ANY (p_subjects))),
  diff AS (
    SELECT coalesce(e.alert_id, alerting.alert_uuid(p_rule, d.subject)) AS alert_id,
           coalesce(d.subject, e.subject) AS subject,
           CASE WHEN d.subject IS NULL THEN 'resolve'
                WHEN e.alert_id IS NULL THEN 'open'
                WHEN e.state = 'resolved' THEN 'reopen'
                WHEN d.severity = 'critical' THEN 'escalate'
                ELSE 'deescalate' END AS kind,
           CASE WHEN d.subject IS NULL THEN 'resolved'
                WHEN e.alert_id IS NULL OR e.state = 'resolved' OR d.severity = 'critical' THEN 'open'
                ELSE e.state END AS state,
           coalesce(d.severity, e.severity) AS severity,
           coalesce(e.transition_no, 0) + 1 AS transition_no,
           CASE WHEN e.alert_id IS NULL OR e.state = 'resolved' THEN twinwatch.now()
                ELSE e.opened_at END AS opened_at,
           coalesce(d.agency_code, e.agency_code) AS agency_code,
           coalesce(d.locality_code, e.locality_code) AS locality_code,
           coalesce(d.pledge_id, e.pledge_id) AS pledge_id,
           coalesce(d.source_system, e.source_system) AS source_system,
           coalesce(d.summary_vi, 'Đã hết cảnh báo: ' || e.summary_vi) AS summary_vi,
           coalesce(d.summary_en, 'Resolved: ' || e.summary_en) AS summary_en,
           (SELECT l.event_id FROM alerting.last_event l
             WHERE l.subject = alerting.subject_key(p_rule, coalesce(d.subject, e.subject)))
             AS cause_event_id
      FROM d FULL JOIN e ON e.subject = d.subject
     WHERE (d.subject IS NULL AND e.state <> 'resolved')
        OR (d.subject IS NOT NULL AND (e.alert_id IS NULL OR e.state = 'resolved'
                                       OR e.severity <> d.severity))),
  up AS (
    INSERT INTO alerting.alert AS a (alert_id, rule, subject, state, severity, transition_no,
                                     opened_at, changed_at, agency_code, locality_code, pledge_id,
                                     source_system, summary_vi, summary_en, cause_event_id)
    SELECT alert_id, p_rule, subject, state, severity, transition_no, opened_at, twinwatch.now(),
           agency_code, locality_code, pledge_id, source_system, summary_vi, summary_en,
           cause_event_id
      FROM diff
    ON CONFLICT (alert_id) DO UPDATE
      SET state = excluded.state, severity = excluded.severity,
          transition_no = excluded.transition_no, opened_at = excluded.opened_at,
          changed_at = excluded.changed_at, summary_vi = excluded.summary_vi,
          summary_en = excluded.summary_en, cause_event_id = excluded.cause_event_id,
          acked_by = CASE WHEN excluded.state = 'acknowledged' THEN a.acked_by END,
          acked_at = CASE WHEN excluded.state = 'acknowledged' THEN a.acked_at END
    RETURNING a.alert_id),
  h AS (
    INSERT INTO alerting.alert_history (alert_id, transition_no, state, severity, at, kind,
                                        by_name, summary_vi, summary_en, cause_event_id)
    SELECT alert_id, transition_no, state, severity, twinwatch.now(), kind, 'sentinel',
           summary_vi, summary_en, cause_event_id
      FROM diff WHERE alert_id IN (SELECT alert_id FROM up)
    RETURNING alert_id, transition_no, state, severity),
  o AS (
    INSERT INTO alerting.outbox (alert_id, transition_no)
    SELECT alert_id, transition_no FROM h
    RETURNING alert_id, transition_no)
  SELECT count(pg_notify('twinwatch_alerts',
                         json_build_object('alert_id', h.alert_id, 'transition_no', h.transition_no,
                                           'rule', p_rule, 'state', h.state,
                                           'severity', h.severity)::text))
    INTO n
    FROM h JOIN o USING (alert_id, transition_no);
  RETURN n;
END $$;

-- The next instant after now at which some rule's condition changes by
-- time alone, over the given subjects (NULL: every subject; empty: none).
-- The sentinel asks it for all subjects after a full evaluation and for the
-- batch's subjects after a scoped one, keeping the earlier timer.
CREATE FUNCTION alerting.next_deadline(p_pledges text[], p_twinnings text[], p_agencies text[],
                                       p_sources text[])
RETURNS timestamptz LANGUAGE sql STABLE AS $$
  WITH c AS (SELECT twinwatch.now() AS now,
                    alerting.cfg('pledge_overdue', 'grace_days') AS grace,
                    alerting.cfg('pledge_overdue', 'critical_days') AS crit,
                    make_interval(days => alerting.cfg('pledge_stalled', 'stall_days')::int) AS stall,
                    make_interval(days => alerting.cfg('twinning_dormant', 'dormant_days')::int) AS dormant,
                    make_interval(hours => alerting.cfg('feed_silent', 'silence_hours')::int) AS silence,
                    make_interval(days => alerting.cfg('formalism', 'window_days')::int) AS win)
  SELECT min(t) FROM (
    SELECT min(x) FROM c, proj.pledge p,
           LATERAL (VALUES (alerting.local_end(p.due_date, 0)),
                           (alerting.local_end(p.due_date, c.grace)),
                           (alerting.local_end(p.due_date, c.crit)),
                           (coalesce(p.last_delivery_at, p.pledged_at) + c.stall)) v(x)
     WHERE p.status = 'open' AND x > c.now
       AND (p_pledges IS NULL OR (p.agency_code, p.pledge_id) IN
            (SELECT split_part(s, '/', 1), substr(s, strpos(s, '/') + 1) FROM unnest(p_pledges) s))
    UNION ALL
    SELECT min(coalesce(t.last_activity_at, t.signed_at) + c.dormant)
      FROM proj.twinning t, c
     WHERE t.status = 'active' AND coalesce(t.last_activity_at, t.signed_at) + c.dormant > c.now
       AND (p_twinnings IS NULL OR (t.agency_code, t.locality_code) IN
            (SELECT split_part(s, '|', 1), substr(s, strpos(s, '|') + 1) FROM unnest(p_twinnings) s))
    UNION ALL
    SELECT min(f.last_seen_at + c.silence) FROM proj.source_feed f, c
     WHERE f.last_seen_at + c.silence > c.now
       AND (p_sources IS NULL OR f.source_system = ANY (p_sources))
    UNION ALL
    -- the oldest activity in the window leaves it (index on occurred_at)
    SELECT min(a.occurred_at) + min(c.win) FROM alerting.activity a, c
     WHERE a.occurred_at > c.now - c.win
       AND (p_agencies IS NULL OR a.agency_code = ANY (p_agencies))
    UNION ALL
    -- a future-dated activity enters it
    SELECT min(a.occurred_at) FROM alerting.activity a, c
     WHERE a.occurred_at > c.now
       AND (p_agencies IS NULL OR a.agency_code = ANY (p_agencies))) u(t) $$;

-- One evaluation: p_scope is the projector's NOTIFY payload
-- ({"twinnings": [...], "pledges": [...], "agencies": [...], "sources": [...]}),
-- or NULL / {"all": true} for every subject. Returns the transitions written
-- and the next deadline.
CREATE FUNCTION alerting.evaluate(p_scope jsonb, OUT transitions integer, OUT next_at timestamptz,
                                  OUT now_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
  v_all boolean := p_scope IS NULL OR coalesce((p_scope ->> 'all')::boolean, false);
  v_p text[];
  v_t text[];
  v_a text[];
  v_s text[];
BEGIN
  -- one evaluation or acknowledgement at a time: each diffs against alert
  -- rows the other may be changing (a second sentinel only waits)
  PERFORM pg_advisory_xact_lock(16017);
  PERFORM alerting.tail();
  IF NOT v_all THEN
    v_p := ARRAY(SELECT jsonb_array_elements_text(coalesce(p_scope -> 'pledges', '[]')));
    v_t := ARRAY(SELECT jsonb_array_elements_text(coalesce(p_scope -> 'twinnings', '[]')));
    v_a := ARRAY(SELECT jsonb_array_elements_text(coalesce(p_scope -> 'agencies', '[]')));
    v_s := ARRAY(SELECT jsonb_array_elements_text(coalesce(p_scope -> 'sources', '[]')));
  END IF;
  transitions := alerting.apply_rule('pledge_overdue', v_p)
               + alerting.apply_rule('pledge_stalled', v_p)
               + alerting.apply_rule('twinning_dormant', v_t)
               + alerting.apply_rule('formalism', v_a)
               + alerting.apply_rule('feed_silent', v_s);
  next_at := alerting.next_deadline(v_p, v_t, v_a, v_s);
  now_at := twinwatch.now();
END $$;

-- A supervisor acknowledges an open alert: who and why are recorded in the
-- history, and the transition is published like any other. The only way a
-- supervisor changes an alert.
CREATE FUNCTION alerting.acknowledge(p_alert_id uuid, p_by text, p_note text)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  a alerting.alert;
BEGIN
  IF coalesce(btrim(p_by), '') = '' OR coalesce(btrim(p_note), '') = '' THEN
    RAISE EXCEPTION 'an acknowledgement needs who (--by) and why (--note)'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM pg_advisory_xact_lock(16017); -- see alerting.evaluate
  SELECT * INTO a FROM alerting.alert WHERE alert_id = p_alert_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no alert %', p_alert_id USING ERRCODE = 'no_data_found';
  END IF;
  IF a.state <> 'open' THEN
    RAISE EXCEPTION 'alert % is %, only an open alert can be acknowledged', p_alert_id, a.state
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  UPDATE alerting.alert
     SET state = 'acknowledged', transition_no = a.transition_no + 1,
         changed_at = twinwatch.now(), acked_by = p_by, acked_at = twinwatch.now()
   WHERE alert_id = p_alert_id;
  INSERT INTO alerting.alert_history (alert_id, transition_no, state, severity, at, kind, by_name,
                                      note, summary_vi, summary_en, cause_event_id)
  VALUES (p_alert_id, a.transition_no + 1, 'acknowledged', a.severity, twinwatch.now(),
          'acknowledge', p_by, p_note, a.summary_vi, a.summary_en, a.cause_event_id);
  INSERT INTO alerting.outbox (alert_id, transition_no) VALUES (p_alert_id, a.transition_no + 1);
  PERFORM pg_notify('twinwatch_alerts',
                    json_build_object('alert_id', p_alert_id, 'transition_no', a.transition_no + 1,
                                      'rule', a.rule, 'state', 'acknowledged',
                                      'severity', a.severity)::text);
  RETURN a.transition_no + 1;
END $$;
REVOKE ALL ON FUNCTION alerting.acknowledge(uuid, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION alerting.acknowledge(uuid, text, text) TO twinwatch_supervisor;

-- `twinctl rules set`: changes one parameter, records who did it, and tells
-- the sentinel (NOTIFY twinwatch_rules) to re-evaluate with it.
CREATE FUNCTION alerting.set_rule(p_rule text, p_key text, p_value numeric, p_by text, p_note text)
RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
  v_old numeric;
BEGIN
  IF coalesce(btrim(p_by), '') = '' THEN
    RAISE EXCEPTION 'a rule change needs who made it (--by)' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT value INTO v_old FROM alerting.rule_config WHERE rule = p_rule AND key = p_key FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no parameter %.% (twinctl rules list shows them)', p_rule, p_key
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_value < 0 OR p_value <> trunc(p_value) OR p_value > 100000 THEN
    RAISE EXCEPTION '%.% must be a whole number from 0 to 100000, not %', p_rule, p_key, p_value
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  UPDATE alerting.rule_config SET value = p_value, updated_at = now(), updated_by = p_by
   WHERE rule = p_rule AND key = p_key;
  INSERT INTO alerting.rule_change (rule, key, old_value, new_value, by_name, note)
  VALUES (p_rule, p_key, v_old, p_value, p_by, coalesce(p_note, ''));
  PERFORM pg_notify('twinwatch_rules', p_rule);
  RETURN v_old;
END $$;
