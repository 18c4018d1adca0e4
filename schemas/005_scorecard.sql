-- 005_scorecard: the yearly agency scorecard (issue 4) and the year's
-- figures that `twinctl report annual` prints.
--
-- A year's figures are the state of the world at 24:00 local time on
-- 31 December (Asia/Ho_Chi_Minh), computed from the event log by
-- occurred_at, never from the current projection or now(): a 2025 report
-- run in 2027 says what one run on 2026-01-01 said (unless events that
-- occurred in 2025 arrived late, which is then the truer account). The
-- definitions are in README.md ("Agency scorecard").

-- Years are local calendar years: [year_start, year_end).
CREATE FUNCTION supervision.year_start(p_year integer) RETURNS timestamptz
  LANGUAGE sql IMMUTABLE STRICT
  AS $$ SELECT make_date(p_year, 1, 1)::timestamp AT TIME ZONE 'Asia/Ho_Chi_Minh' $$;

CREATE FUNCTION supervision.year_end(p_year integer) RETURNS timestamptz
  LANGUAGE sql IMMUTABLE STRICT
  AS $$ SELECT make_date(p_year + 1, 1, 1)::timestamp AT TIME ZONE 'Asia/Ho_Chi_Minh' $$;

-- Field `field` of a protobuf message (the log's payload is the event's
-- canonical protobuf bytes): a varint's value, or a length-delimited
-- field's bytes; NULL when absent. The last occurrence wins, as in
-- protobuf. Values above 2^63 (negative int64) are not expected: amounts
-- are validated non-negative.
CREATE FUNCTION twinwatch.pb_field(msg bytea, field integer, OUT varint bigint, OUT bytes bytea)
  LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
  pos integer := 0;
  n integer := length(msg);
  key bigint;
  v bigint;
  shift integer;
  b integer;
  wire integer;
BEGIN
  WHILE pos < n LOOP
    key := 0;
    shift := 0;
    LOOP
      b := get_byte(msg, pos);
      pos := pos + 1;
      key := key | ((b & 127)::bigint << shift);
      EXIT WHEN b < 128;
      shift := shift + 7;
    END LOOP;
    wire := (key & 7)::integer;
    IF wire = 0 OR wire = 2 THEN
      v := 0;
      shift := 0;
      LOOP
        b := get_byte(msg, pos);
        pos := pos + 1;
        IF shift < 63 THEN
          v := v | ((b & 127)::bigint << shift);
        END IF;
        EXIT WHEN b < 128;
        shift := shift + 7;
      END LOOP;
      IF wire = 2 THEN
        IF key >> 3 = field THEN
          varint := NULL;
          bytes := substring(msg FROM pos + 1 FOR v::integer);
        END IF;
        pos := pos + v::integer;
      ELSIF key >> 3 = field THEN
        varint := v;
        bytes := NULL;
      END IF;
    ELSIF wire = 1 THEN
      pos := pos + 8;
    ELSIF wire = 5 THEN
      pos := pos + 4;
    ELSE
      RAISE EXCEPTION 'protobuf wire type % at byte % is not supported', wire, pos;
    END IF;
  END LOOP;
END $$;

-- What the year's figures need from an event's body: the category (as its
-- name), amount_vnd, the quantity it delivers (SupportDelivered.quantity,
-- TrainingDelivered.trainees), a pledge's target_quantity, the due date a
-- pledge or revision sets, and a visit's gift. A revision's 0 / empty means
-- "unchanged" and comes out as NULL.
CREATE FUNCTION supervision.event_body(p_type text, p_payload bytea,
                                       OUT category text, OUT amount_vnd bigint,
                                       OUT quantity bigint, OUT target_quantity bigint,
                                       OUT due_date date, OUT gift_vnd bigint)
  LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
  body bytea;
  names text[] := ARRAY['CATEGORY_UNSPECIFIED', 'ECONOMIC_MODEL', 'MODEL_REPLICATION',
                        'INFRASTRUCTURE', 'HOUSING', 'LIVELIHOOD_GOODS', 'CADRE_TRAINING',
                        'VOCATIONAL_TRAINING', 'JOB_CREATION', 'SOCIAL_SECURITY', 'OTHER'];
BEGIN
  CASE p_type
  WHEN 'visit' THEN
    body := coalesce((twinwatch.pb_field(p_payload, 22)).bytes, '');
    gift_vnd := coalesce((twinwatch.pb_field(body, 3)).varint, 0);
  WHEN 'support_pledged' THEN
    body := coalesce((twinwatch.pb_field(p_payload, 23)).bytes, '');
    category := coalesce(names[(twinwatch.pb_field(body, 2)).varint + 1], 'CATEGORY_UNSPECIFIED');
    amount_vnd := coalesce((twinwatch.pb_field(body, 3)).varint, 0);
    target_quantity := coalesce((twinwatch.pb_field(body, 6)).varint, 0);
    due_date := nullif(convert_from((twinwatch.pb_field(body, 8)).bytes, 'UTF8'), '')::date;
  WHEN 'support_delivered' THEN
    body := coalesce((twinwatch.pb_field(p_payload, 24)).bytes, '');
    category := coalesce(names[(twinwatch.pb_field(body, 2)).varint + 1], 'CATEGORY_UNSPECIFIED');
    amount_vnd := coalesce((twinwatch.pb_field(body, 3)).varint, 0);
    quantity := coalesce((twinwatch.pb_field(body, 4)).varint, 0);
  WHEN 'training_delivered' THEN
    body := coalesce((twinwatch.pb_field(p_payload, 25)).bytes, '');
    quantity := coalesce((twinwatch.pb_field(body, 4)).varint, 0);
  WHEN 'pledge_revised' THEN
    body := coalesce((twinwatch.pb_field(p_payload, 26)).bytes, '');
    due_date := nullif(convert_from((twinwatch.pb_field(body, 2)).bytes, 'UTF8'), '')::date;
    amount_vnd := nullif((twinwatch.pb_field(body, 3)).varint, 0);
    target_quantity := nullif((twinwatch.pb_field(body, 4)).varint, 0);
  ELSE
    NULL;
  END CASE;
END $$;

-- One row per accepted event with its body's figures decoded and its place
-- in the activity mix (docs/projection-rules.md): substantive = every
-- training and a delivery in a substantive category; formal = every visit
-- and any other delivery.
CREATE VIEW supervision.event_fact AS
SELECT e.seq, e.event_type, e.agency_code, e.locality_code, e.pledge_id, e.occurred_at,
       (e.occurred_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date AS local_date,
       b.category, b.amount_vnd, b.quantity, b.target_quantity, b.due_date, b.gift_vnd,
       (e.event_type = 'training_delivered'
        OR (e.event_type = 'support_delivered'
            AND b.category IN ('ECONOMIC_MODEL', 'MODEL_REPLICATION', 'CADRE_TRAINING',
                               'VOCATIONAL_TRAINING', 'JOB_CREATION', 'INFRASTRUCTURE')))
         AS substantive,
       (e.event_type = 'visit'
        OR (e.event_type = 'support_delivered'
            AND b.category NOT IN ('ECONOMIC_MODEL', 'MODEL_REPLICATION', 'CADRE_TRAINING',
                                   'VOCATIONAL_TRAINING', 'JOB_CREATION', 'INFRASTRUCTURE')))
         AS formal
  FROM audit.event_log e
  CROSS JOIN LATERAL supervision.event_body(e.event_type, e.payload) b;

-- Every pledge as it stood at the end of p_year, replayed from the events
-- that occurred by then, in occurred_at order (then log order): the due
-- date, amount and target last set, what was delivered, and whether it was
-- cancelled, complete (since completed_at: the event after which it stayed
-- complete) or open.
CREATE FUNCTION supervision.pledge_year_end(p_year integer)
RETURNS TABLE (agency_code text, pledge_id text, locality_code text, category text,
               pledged_at timestamptz, due_date date, amount_vnd bigint, target_quantity bigint,
               delivered_vnd bigint, delivered_qty bigint, completed_at timestamptz,
               cancelled_at timestamptz, status text)
LANGUAGE sql STABLE AS $$
WITH ev AS (
  SELECT f.*,
         row_number() OVER (PARTITION BY f.agency_code, f.pledge_id
                            ORDER BY f.occurred_at, f.seq) AS ord
    FROM supervision.event_fact f
   WHERE f.pledge_id IS NOT NULL AND f.pledge_id <> ''
     AND f.occurred_at < supervision.year_end(p_year)
     AND f.event_type IN ('support_pledged', 'support_delivered', 'training_delivered',
                          'pledge_revised', 'pledge_cancelled')
), run AS (
  SELECT ev.agency_code, ev.pledge_id, ev.ord, ev.occurred_at,
         count(*) FILTER (WHERE ev.event_type = 'support_pledged') OVER w AS seen,
         coalesce(sum(ev.amount_vnd) FILTER (WHERE ev.event_type = 'support_delivered') OVER w, 0)
           AS dvnd,
         coalesce(sum(ev.quantity) FILTER (WHERE ev.event_type IN ('support_delivered',
                                                                  'training_delivered')) OVER w, 0)
           AS dqty,
         count(*) FILTER (WHERE ev.event_type IN ('support_delivered', 'training_delivered'))
           OVER w AS ndel,
         array_agg(ev.amount_vnd) FILTER (WHERE ev.event_type IN ('support_pledged', 'pledge_revised')
                                            AND ev.amount_vnd IS NOT NULL) OVER w AS amts,
         array_agg(ev.target_quantity) FILTER (WHERE ev.event_type IN ('support_pledged',
                                                                      'pledge_revised')
                                                 AND ev.target_quantity IS NOT NULL) OVER w AS qtys,
         array_agg(ev.due_date) FILTER (WHERE ev.event_type IN ('support_pledged', 'pledge_revised')
                                          AND ev.due_date IS NOT NULL) OVER w AS dues
    FROM ev
  WINDOW w AS (PARTITION BY ev.agency_code, ev.pledge_id ORDER BY ev.ord)
), st AS (
  SELECT r.*, r.amts[cardinality(r.amts)] AS tamt, r.qtys[cardinality(r.qtys)] AS tqty,
         r.dues[cardinality(r.dues)] AS due
    FROM run r
), ok AS (
  SELECT st.*,
         st.seen > 0
         AND CASE WHEN coalesce(st.tamt, 0) > 0 OR coalesce(st.tqty, 0) > 0
                  THEN (coalesce(st.tamt, 0) <= 0 OR st.dvnd >= st.tamt)
                       AND (coalesce(st.tqty, 0) <= 0 OR st.dqty >= st.tqty)
                  ELSE st.ndel > 0 END AS complete
    FROM st
), agg AS (
  SELECT ok.agency_code, ok.pledge_id,
         max(ok.ord) AS last_ord,
         max(ok.ord) FILTER (WHERE NOT ok.complete) AS last_incomplete
    FROM ok GROUP BY ok.agency_code, ok.pledge_id
)
SELECT p.agency_code, p.pledge_id, p.locality_code, p.category, p.occurred_at,
       fin.due, coalesce(fin.tamt, 0), coalesce(fin.tqty, 0), fin.dvnd, fin.dqty,
       CASE WHEN c.occurred_at IS NULL AND fin.complete
            THEN (SELECT min(o.occurred_at) FROM ok o
                   WHERE o.agency_code = p.agency_code AND o.pledge_id = p.pledge_id
                     AND o.ord > coalesce(a.last_incomplete, 0)) END,
       c.occurred_at,
       CASE WHEN c.occurred_at IS NOT NULL THEN 'cancelled'
            WHEN fin.complete THEN 'complete' ELSE 'open' END
  FROM ev p
  JOIN agg a ON a.agency_code = p.agency_code AND a.pledge_id = p.pledge_id
  JOIN ok fin ON fin.agency_code = p.agency_code AND fin.pledge_id = p.pledge_id
             AND fin.ord = a.last_ord
  LEFT JOIN LATERAL (SELECT min(x.occurred_at) AS occurred_at FROM ev x
                      WHERE x.agency_code = p.agency_code AND x.pledge_id = p.pledge_id
                        AND x.event_type = 'pledge_cancelled') c ON true
 WHERE p.event_type = 'support_pledged'
$$;

-- The twinning pairs that were active at some moment of p_year: signed in
-- the year, or signed before it and not ended before it began.
CREATE FUNCTION supervision.twinning_year(p_year integer)
RETURNS TABLE (agency_code text, locality_code text)
LANGUAGE sql STABLE AS $$
SELECT e.agency_code, e.locality_code
  FROM audit.event_log e
 WHERE e.event_type IN ('twinning_signed', 'twinning_ended')
   AND e.occurred_at < supervision.year_end(p_year)
 GROUP BY e.agency_code, e.locality_code
HAVING bool_or(e.event_type = 'twinning_signed'
               AND e.occurred_at >= supervision.year_start(p_year))
    OR (array_agg(e.event_type ORDER BY e.occurred_at DESC, e.seq DESC)
          FILTER (WHERE e.occurred_at < supervision.year_start(p_year)))[1] = 'twinning_signed'
$$;

-- The year's measures per (agency, locality) pair, the building block of
-- the report's district, commune and province tables and of the scorecard.
-- Activities are counted in the year (local dates); pledges by their state
-- at year end: due in the year = not cancelled by year end, due date in
-- force at year end in the year; fulfilled on time = complete at year end
-- and completed on a local date <= that due date; overdue at year end =
-- open at year end with a due date on or before 31 December.
CREATE FUNCTION supervision.pair_year(p_year integer)
RETURNS TABLE (agency_code text, locality_code text, twinning_active boolean,
               pledges_made bigint, pledged_vnd bigint, delivered_vnd bigint,
               pledges_due bigint, fulfilled_on_time bigint, overdue_at_year_end bigint,
               visits bigint, gift_value_vnd bigint, deliveries bigint, trainings bigint,
               trainees bigint, jobs bigint, models_replicated bigint,
               substantive_activities bigint, formal_activities bigint, active_quarters integer)
LANGUAGE sql STABLE AS $$
WITH a AS (
  SELECT f.agency_code, f.locality_code,
         count(*) FILTER (WHERE f.event_type = 'visit') AS visits,
         coalesce(sum(f.gift_vnd), 0) AS gift_value_vnd,
         coalesce(sum(f.amount_vnd) FILTER (WHERE f.event_type = 'support_delivered'), 0)
           AS delivered_vnd,
         count(*) FILTER (WHERE f.event_type = 'support_delivered') AS deliveries,
         count(*) FILTER (WHERE f.event_type = 'training_delivered') AS trainings,
         coalesce(sum(f.quantity) FILTER (WHERE f.event_type = 'training_delivered'), 0)
           AS trainees,
         coalesce(sum(f.quantity) FILTER (WHERE f.event_type = 'support_delivered'
                                            AND f.category = 'JOB_CREATION'), 0) AS jobs,
         coalesce(sum(f.quantity) FILTER (WHERE f.event_type = 'support_delivered'
                                            AND f.category = 'MODEL_REPLICATION'), 0)
           AS models_replicated,
         count(*) FILTER (WHERE f.substantive) AS substantive_activities,
         count(*) FILTER (WHERE f.formal) AS formal_activities,
         array_agg(DISTINCT extract(quarter FROM f.local_date)::integer)
           FILTER (WHERE f.event_type IN ('twinning_signed', 'visit', 'support_pledged',
                                          'support_delivered', 'training_delivered')) AS quarters
    FROM supervision.event_fact f
   WHERE f.occurred_at >= supervision.year_start(p_year)
     AND f.occurred_at < supervision.year_end(p_year)
     AND f.event_type <> 'feed_heartbeat'
   GROUP BY f.agency_code, f.locality_code
), p0 AS (
  SELECT y.agency_code, y.locality_code,
         count(*) FILTER (WHERE y.status <> 'cancelled'
                            AND y.pledged_at >= supervision.year_start(p_year)) AS pledges_made,
         coalesce(sum(y.amount_vnd) FILTER (WHERE y.status <> 'cancelled'
                                              AND y.pledged_at >= supervision.year_start(p_year)),
                  0) AS pledged_vnd,
         count(*) FILTER (WHERE y.status <> 'cancelled'
                            AND extract(year FROM y.due_date) = p_year) AS pledges_due,
         count(*) FILTER (WHERE y.status = 'complete' AND extract(year FROM y.due_date) = p_year
                            AND (y.completed_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date
                                <= y.due_date) AS fulfilled_on_time,
         count(*) FILTER (WHERE y.status = 'open' AND y.due_date <= make_date(p_year, 12, 31))
           AS overdue_at_year_end
    FROM supervision.pledge_year_end(p_year) y
   GROUP BY y.agency_code, y.locality_code
), p AS ( -- pairs whose pledges count in the year
  SELECT * FROM p0 WHERE pledges_made + pledges_due + overdue_at_year_end > 0
), t AS (
  SELECT * FROM supervision.twinning_year(p_year)
), k AS (
  SELECT agency_code, locality_code FROM a
  UNION SELECT agency_code, locality_code FROM p
  UNION SELECT agency_code, locality_code FROM t
)
SELECT k.agency_code, k.locality_code,
       EXISTS (SELECT 1 FROM t WHERE t.agency_code = k.agency_code
                                 AND t.locality_code = k.locality_code),
       coalesce(p.pledges_made, 0), coalesce(p.pledged_vnd, 0)::bigint,
       coalesce(a.delivered_vnd, 0)::bigint,
       coalesce(p.pledges_due, 0), coalesce(p.fulfilled_on_time, 0),
       coalesce(p.overdue_at_year_end, 0),
       coalesce(a.visits, 0), coalesce(a.gift_value_vnd, 0)::bigint,
       coalesce(a.deliveries, 0), coalesce(a.trainings, 0), coalesce(a.trainees, 0)::bigint,
       coalesce(a.jobs, 0)::bigint, coalesce(a.models_replicated, 0)::bigint,
       coalesce(a.substantive_activities, 0), coalesce(a.formal_activities, 0),
       coalesce(cardinality(a.quarters), 0)
  FROM k
  LEFT JOIN a ON a.agency_code = k.agency_code AND a.locality_code = k.locality_code
  LEFT JOIN p ON p.agency_code = k.agency_code AND p.locality_code = k.locality_code
$$;

-- The published rating formula: rules are tried in rank order and the first
-- whose every threshold the agency meets gives its rating. A NULL threshold
-- is no condition. An agency with no pledge due in the year meets any
-- on-time threshold (it had nothing to be late with); one with no visit,
-- delivery or training has a substantive share of 0. An agency that meets
-- no rule is WEAK.
CREATE TABLE supervision.rating_rules (
  rating               text PRIMARY KEY CHECK (rating IN ('EXCELLENT', 'GOOD', 'FAIR', 'WEAK')),
  rank                 integer NOT NULL UNIQUE,
  min_on_time_pct      numeric CHECK (min_on_time_pct BETWEEN 0 AND 100),
  min_substantive_pct  numeric CHECK (min_substantive_pct BETWEEN 0 AND 100),
  min_active_quarters  integer CHECK (min_active_quarters BETWEEN 0 AND 4),
  max_overdue          integer CHECK (max_overdue >= 0),
  updated_at           timestamptz NOT NULL DEFAULT now()
);
INSERT INTO supervision.rating_rules
       (rating, rank, min_on_time_pct, min_substantive_pct, min_active_quarters, max_overdue)
VALUES ('EXCELLENT', 1, 90, 50, 3, 0),
       ('GOOD',      2, 75, 35, 2, 1),
       ('FAIR',      3, 50, 20, 1, 3),
       ('WEAK',      4, NULL, NULL, NULL, NULL);

-- The scorecard of p_year: every agency with a twinning active in the year,
-- or activity, a pledge due, or a pledge overdue at its end. on_time_pct and
-- substantive_share are percentages with one decimal (NULL when there is
-- nothing to divide by); rank_in_year orders the report's table.
CREATE FUNCTION supervision.scorecard(p_year integer)
RETURNS TABLE (agency_code text, year integer, pledges_due bigint, fulfilled_on_time bigint,
               on_time_pct numeric, substantive_share numeric, active_quarters integer,
               overdue_at_year_end bigint, rating text, rank_in_year bigint)
LANGUAGE sql STABLE AS $$
WITH py AS (
  SELECT * FROM supervision.pair_year(p_year)
), q AS (
  SELECT f.agency_code,
         count(DISTINCT extract(quarter FROM f.local_date))::integer AS active_quarters
    FROM supervision.event_fact f
   WHERE f.occurred_at >= supervision.year_start(p_year)
     AND f.occurred_at < supervision.year_end(p_year)
     AND f.event_type IN ('twinning_signed', 'visit', 'support_pledged', 'support_delivered',
                          'training_delivered')
   GROUP BY f.agency_code
), s AS (
  SELECT py.agency_code,
         sum(py.pledges_due)::bigint AS pledges_due,
         sum(py.fulfilled_on_time)::bigint AS fulfilled_on_time,
         round(100.0 * sum(py.fulfilled_on_time) / nullif(sum(py.pledges_due), 0), 1)
           AS on_time_pct,
         round(100.0 * sum(py.substantive_activities)
               / nullif(sum(py.substantive_activities + py.formal_activities), 0), 1)
           AS substantive_share,
         sum(py.overdue_at_year_end)::bigint AS overdue_at_year_end
    FROM py GROUP BY py.agency_code
), r AS (
  SELECT s.*, coalesce(q.active_quarters, 0) AS active_quarters,
         coalesce((SELECT rr.rating FROM supervision.rating_rules rr
                    WHERE (rr.min_on_time_pct IS NULL OR s.pledges_due = 0
                           OR s.on_time_pct >= rr.min_on_time_pct)
                      AND (rr.min_substantive_pct IS NULL
                           OR coalesce(s.substantive_share, 0) >= rr.min_substantive_pct)
                      AND (rr.min_active_quarters IS NULL
                           OR coalesce(q.active_quarters, 0) >= rr.min_active_quarters)
                      AND (rr.max_overdue IS NULL OR s.overdue_at_year_end <= rr.max_overdue)
                    ORDER BY rr.rank LIMIT 1), 'WEAK') AS rating
    FROM s LEFT JOIN q ON q.agency_code = s.agency_code
)
SELECT r.agency_code, p_year, r.pledges_due, r.fulfilled_on_time, r.on_time_pct,
       r.substantive_share, r.active_quarters, r.overdue_at_year_end, r.rating,
       row_number() OVER (ORDER BY coalesce((SELECT rr.rank FROM supervision.rating_rules rr
                                              WHERE rr.rating = r.rating), 99),
                          r.on_time_pct DESC NULLS LAST, r.substantive_share DESC NULLS LAST,
                          r.overdue_at_year_end, r.agency_code)
  FROM r
$$;

-- The scorecard of every year from the first event's to the current one.
-- Filter on year: only that year is computed.
CREATE VIEW supervision.agency_scorecard AS
SELECT s.agency_code, y.year, s.pledges_due, s.fulfilled_on_time, s.on_time_pct,
       s.substantive_share, s.active_quarters, s.overdue_at_year_end, s.rating
  FROM generate_series((SELECT extract(year FROM min(occurred_at) AT TIME ZONE 'Asia/Ho_Chi_Minh')
                               ::integer FROM audit.event_log),
                       extract(year FROM twinwatch.today())::integer) AS y(year)
  CROSS JOIN LATERAL supervision.scorecard(y.year) s;

-- Supervisors (the role of 004_alerting.sql) read the scorecard and run
-- the report without reading the event log themselves: the functions that
-- replay it run as their owner. Reference data names the rows.
ALTER FUNCTION supervision.pledge_year_end(integer)
  SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION supervision.twinning_year(integer)
  SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION supervision.pair_year(integer)
  SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION supervision.scorecard(integer)
  SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
GRANT SELECT ON supervision.agency_scorecard, supervision.rating_rules TO twinwatch_supervisor;
GRANT USAGE ON SCHEMA ref TO twinwatch_supervisor;
GRANT SELECT ON ref.agency, ref.locality TO twinwatch_supervisor;
