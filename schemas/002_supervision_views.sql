-- 002_supervision_views: what provincial supervisors read, per commune,
-- district, agency and province. Views over the projection tables, so they
-- are current as of the projector's last committed batch.

-- Each pledge with what it means today.
CREATE VIEW supervision.pledge_status AS
SELECT p.agency_code, p.pledge_id, p.locality_code, p.category, p.status,
       p.amount_vnd, p.target_quantity, p.unit, p.due_date, p.pledged_at,
       p.delivered_vnd, p.delivered_qty, p.last_delivery_at, p.completed_at, p.cancelled_at,
       p.revisions,
       (p.status = 'open' AND p.due_date < twinwatch.today()) AS overdue,
       CASE WHEN p.amount_vnd > 0
            THEN round(100.0 * least(p.delivered_vnd, p.amount_vnd) / p.amount_vnd, 1) END
         AS fulfilment_pct
  FROM proj.pledge p;

-- Measures per locality, the building block of every rollup.
CREATE VIEW supervision.locality_measures AS
WITH t AS (
  SELECT locality_code,
         count(*) FILTER (WHERE status = 'active') AS twinnings_active,
         count(*) AS twinnings,
         sum(delivered_vnd) AS delivered_vnd,
         sum(visits) AS visits,
         sum(gift_value_vnd) AS gift_value_vnd,
         sum(trainees) AS trainees,
         sum(jobs) AS jobs,
         sum(models_replicated) AS models_replicated,
         sum(substantive_activities) AS substantive_activities,
         sum(formal_activities) AS formal_activities,
         max(last_activity_at) AS last_activity_at
    FROM proj.twinning GROUP BY locality_code
), p AS (
  SELECT locality_code,
         count(*) FILTER (WHERE status = 'open') AS pledges_open,
         count(*) FILTER (WHERE status = 'complete') AS pledges_fulfilled,
         count(*) FILTER (WHERE status = 'cancelled') AS pledges_cancelled,
         count(*) FILTER (WHERE status = 'open' AND due_date < twinwatch.today())
           AS pledges_overdue,
         sum(amount_vnd) FILTER (WHERE status <> 'cancelled') AS pledged_vnd,
         sum(least(delivered_vnd, amount_vnd)) FILTER (WHERE status <> 'cancelled')
           AS fulfilled_vnd
    FROM proj.pledge GROUP BY locality_code
)
SELECT t.locality_code, l.name AS locality_name, l.level,
       CASE WHEN l.level = 'commune' THEN l.parent_code ELSE l.code END AS district_code,
       t.twinnings, t.twinnings_active,
       coalesce(p.pledges_open, 0) AS pledges_open,
       coalesce(p.pledges_fulfilled, 0) AS pledges_fulfilled,
       coalesce(p.pledges_cancelled, 0) AS pledges_cancelled,
       coalesce(p.pledges_overdue, 0) AS pledges_overdue,
       coalesce(p.pledged_vnd, 0)::bigint AS pledged_vnd,
       coalesce(p.fulfilled_vnd, 0)::bigint AS fulfilled_vnd,
       t.delivered_vnd::bigint AS delivered_vnd,
       t.visits::bigint AS visits, t.gift_value_vnd::bigint AS gift_value_vnd,
       t.trainees::bigint AS trainees, t.jobs::bigint AS jobs,
       t.models_replicated::bigint AS models_replicated,
       t.substantive_activities::bigint AS substantive_activities,
       t.formal_activities::bigint AS formal_activities,
       t.last_activity_at
  FROM t
  JOIN ref.locality l ON l.code = t.locality_code
  LEFT JOIN p ON p.locality_code = t.locality_code;

CREATE VIEW supervision.locality_overview AS
SELECT m.locality_code, m.locality_name, m.level, m.district_code, d.name AS district_name,
       m.twinnings_active, m.pledges_open, m.pledges_fulfilled, m.pledges_cancelled,
       m.pledges_overdue, m.pledged_vnd, m.delivered_vnd,
       round(100.0 * m.fulfilled_vnd / nullif(m.pledged_vnd, 0), 1) AS fulfilment_pct,
       m.visits, m.gift_value_vnd, m.trainees, m.jobs, m.models_replicated,
       m.substantive_activities, m.formal_activities, m.last_activity_at
  FROM supervision.locality_measures m
  LEFT JOIN ref.locality d ON d.code = m.district_code;

CREATE VIEW supervision.district_overview AS
SELECT m.district_code, d.name AS district_name,
       count(*) AS localities_twinned,
       sum(m.twinnings_active)::bigint AS twinnings_active,
       sum(m.pledges_open)::bigint AS pledges_open,
       sum(m.pledges_fulfilled)::bigint AS pledges_fulfilled,
       sum(m.pledges_cancelled)::bigint AS pledges_cancelled,
       sum(m.pledges_overdue)::bigint AS pledges_overdue,
       sum(m.pledged_vnd)::bigint AS pledged_vnd,
       sum(m.delivered_vnd)::bigint AS delivered_vnd,
       round(100.0 * sum(m.fulfilled_vnd) / nullif(sum(m.pledged_vnd), 0), 1) AS fulfilment_pct,
       sum(m.visits)::bigint AS visits, sum(m.gift_value_vnd)::bigint AS gift_value_vnd,
       sum(m.trainees)::bigint AS trainees, sum(m.jobs)::bigint AS jobs,
       sum(m.models_replicated)::bigint AS models_replicated,
       sum(m.substantive_activities)::bigint AS substantive_activities,
       sum(m.formal_activities)::bigint AS formal_activities,
       max(m.last_activity_at) AS last_activity_at
  FROM supervision.locality_measures m
  LEFT JOIN ref.locality d ON d.code = m.district_code
 GROUP BY m.district_code, d.name;

CREATE VIEW supervision.province_overview AS
SELECT count(DISTINCT m.district_code) AS districts_twinned,
       count(*) AS localities_twinned,
       sum(m.twinnings_active)::bigint AS twinnings_active,
       sum(m.pledges_open)::bigint AS pledges_open,
       sum(m.pledges_fulfilled)::bigint AS pledges_fulfilled,
       sum(m.pledges_cancelled)::bigint AS pledges_cancelled,
       sum(m.pledges_overdue)::bigint AS pledges_overdue,
       sum(m.pledged_vnd)::bigint AS pledged_vnd,
       sum(m.delivered_vnd)::bigint AS delivered_vnd,
       round(100.0 * sum(m.fulfilled_vnd) / nullif(sum(m.pledged_vnd), 0), 1) AS fulfilment_pct,
       sum(m.visits)::bigint AS visits, sum(m.trainees)::bigint AS trainees,
       sum(m.jobs)::bigint AS jobs,
       sum(m.substantive_activities)::bigint AS substantive_activities,
       sum(m.formal_activities)::bigint AS formal_activities
  FROM supervision.locality_measures m;

CREATE VIEW supervision.agency_overview AS
WITH t AS (
  SELECT agency_code,
         count(*) AS twinnings, count(*) FILTER (WHERE status = 'active') AS twinnings_active,
         sum(delivered_vnd) AS delivered_vnd, sum(visits) AS visits,
         sum(gift_value_vnd) AS gift_value_vnd, sum(trainees) AS trainees, sum(jobs) AS jobs,
         sum(models_replicated) AS models_replicated,
         sum(substantive_activities) AS substantive_activities,
         sum(formal_activities) AS formal_activities, max(last_activity_at) AS last_activity_at
    FROM proj.twinning GROUP BY agency_code
), p AS (
  SELECT agency_code,
         count(*) FILTER (WHERE status = 'open') AS pledges_open,
         count(*) FILTER (WHERE status = 'complete') AS pledges_fulfilled,
         count(*) FILTER (WHERE status = 'cancelled') AS pledges_cancelled,
         count(*) FILTER (WHERE status = 'open' AND due_date < twinwatch.today())
           AS pledges_overdue,
         sum(amount_vnd) FILTER (WHERE status <> 'cancelled') AS pledged_vnd,
         sum(least(delivered_vnd, amount_vnd)) FILTER (WHERE status <> 'cancelled')
           AS fulfilled_vnd
    FROM proj.pledge GROUP BY agency_code
)
SELECT t.agency_code, a.name AS agency_name, a.kind,
       t.twinnings, t.twinnings_active,
       coalesce(p.pledges_open, 0) AS pledges_open,
       coalesce(p.pledges_fulfilled, 0) AS pledges_fulfilled,
       coalesce(p.pledges_cancelled, 0) AS pledges_cancelled,
       coalesce(p.pledges_overdue, 0) AS pledges_overdue,
       coalesce(p.pledged_vnd, 0)::bigint AS pledged_vnd,
       t.delivered_vnd::bigint AS delivered_vnd,
       round(100.0 * p.fulfilled_vnd / nullif(p.pledged_vnd, 0), 1) AS fulfilment_pct,
       t.visits::bigint AS visits, t.gift_value_vnd::bigint AS gift_value_vnd,
       t.trainees::bigint AS trainees, t.jobs::bigint AS jobs,
       t.models_replicated::bigint AS models_replicated,
       t.substantive_activities::bigint AS substantive_activities,
       t.formal_activities::bigint AS formal_activities,
       round(100.0 * t.substantive_activities
             / nullif(t.substantive_activities + t.formal_activities, 0), 1) AS substantive_pct,
       t.last_activity_at
  FROM t
  JOIN ref.agency a ON a.code = t.agency_code
  LEFT JOIN p ON p.agency_code = t.agency_code;
