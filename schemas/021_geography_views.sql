-- 021_geography_views: the supervision views in the geography of a date
-- (issue 13). A twinning row is filed under the code of the unit it was
-- signed with (docs/projection-rules.md); ref.unit_on carries that unit
-- through the lineage to the unit in force on any date, so today's views
-- show xã La Dêê with everything done in xã Đắc Tôi, and the view of
-- 2024-12-31 still shows Đắc Tôi in huyện Nam Giang. Nothing is rewritten:
-- the projection rows keep their codes.

-- The version a row filed under p_code on local date p_on belongs to: the
-- code's latest version begun by then (its earliest if none had).
CREATE FUNCTION ref.version_of(p_code text, p_on date) RETURNS ref.unit_version
LANGUAGE sql STABLE AS $$
  SELECT v FROM ref.unit_version v WHERE v.code = p_code
   ORDER BY v.valid_from <= p_on DESC, CASE WHEN v.valid_from <= p_on THEN v.valid_from END DESC,
            v.valid_from
   LIMIT 1 $$;

-- That version carried to the unit in force on p_date: forward along the
-- lineage (a split goes to the successor with the lowest code, the one
-- arbitrary choice, documented), or back (a unit made of several goes to
-- the one whose code it kept, else the lowest code). A unit abolished
-- with no successor stays itself, so nothing done in it is lost.
CREATE FUNCTION ref.unit_on(p_code text, p_on date, p_date date) RETURNS ref.unit_version
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v ref.unit_version := ref.version_of(p_code, p_on);
  n ref.unit_version;
BEGIN
  IF v.code IS NULL THEN
    RETURN NULL;
  END IF;
  FOR i IN 1 .. 50 LOOP
    EXIT WHEN p_date BETWEEN v.valid_from AND v.valid_to;
    IF p_date > v.valid_to THEN
      SELECT x.* INTO n FROM ref.unit_lineage g
        JOIN ref.unit_version x ON x.code = g.new_code AND x.valid_from = g.new_from
       WHERE g.old_code = v.code AND g.old_from = v.valid_from ORDER BY x.code LIMIT 1;
    ELSE
      SELECT x.* INTO n FROM ref.unit_lineage g
        JOIN ref.unit_version x ON x.code = g.old_code AND x.valid_from = g.old_from
       WHERE g.new_code = v.code AND g.new_from = v.valid_from
       ORDER BY x.code = v.code DESC, x.code LIMIT 1;
    END IF;
    EXIT WHEN NOT FOUND;
    v := n;
  END LOOP;
  RETURN v;
END $$;

-- Every version a unit version was made from, at any distance.
CREATE FUNCTION ref.former_units(p_code text, p_from date)
RETURNS SETOF ref.unit_version LANGUAGE sql STABLE AS $$
  WITH RECURSIVE up (code, valid_from) AS (
    SELECT g.old_code, g.old_from FROM ref.unit_lineage g
     WHERE g.new_code = p_code AND g.new_from = p_from
    UNION
    SELECT g.old_code, g.old_from FROM up JOIN ref.unit_lineage g
      ON g.new_code = up.code AND g.new_from = up.valid_from)
  SELECT v.* FROM up JOIN ref.unit_version v USING (code, valid_from) $$;

-- A unit's parent of level p_level on p_date (its district, its province).
CREATE FUNCTION ref.ancestor(p_code text, p_date date, p_level text) RETURNS ref.unit_version
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v ref.unit_version := ref.unit_at(p_code, p_date);
BEGIN
  FOR i IN 1 .. 5 LOOP
    EXIT WHEN v.code IS NULL OR v.parent_code IS NULL;
    v := ref.unit_at(v.parent_code, p_date);
    IF v.level = p_level THEN
      RETURN v;
    END IF;
  END LOOP;
  RETURN NULL;
END $$;

-- A unit's former district: for a unit in force after the district level
-- ended, the district of the former unit whose code it kept (else of the
-- former unit with the lowest code) - the "Nam Giang area" supervisors
-- still think in.
CREATE FUNCTION ref.former_district(p_code text, p_from date) RETURNS ref.unit_version
LANGUAGE sql STABLE AS $$
  SELECT d FROM ref.former_units(p_code, p_from) f,
         LATERAL ref.ancestor(f.code, f.valid_to, 'district') d
   WHERE d.code IS NOT NULL ORDER BY f.code = p_code DESC, f.code LIMIT 1 $$;

-- Each twinning row with the unit it belongs to on p_date.
CREATE FUNCTION supervision.twinning_unit(p_date date)
RETURNS TABLE (agency_code text, locality_code text, unit_code text, unit_from date)
LANGUAGE sql STABLE AS $$
  SELECT t.agency_code, t.locality_code, u.code, u.valid_from
    FROM proj.twinning t,
         LATERAL ref.unit_on(t.locality_code,
                             coalesce((t.signed_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date, p_date),
                             p_date) u $$;

-- The measures of 002's locality_measures, per unit in force on p_date.
-- Two twinnings of one agency whose communes merged count as one pair.
CREATE FUNCTION supervision.locality_measures_at(p_date date)
RETURNS TABLE (locality_code text, unit_from date, locality_name text, level text,
               unit_level text, district_code text, twinnings bigint, twinnings_active bigint,
               pledges_open bigint, pledges_fulfilled bigint, pledges_cancelled bigint,
               pledges_overdue bigint, pledged_vnd bigint, fulfilled_vnd bigint,
               delivered_vnd bigint, visits bigint, gift_value_vnd bigint, trainees bigint,
               jobs bigint, models_replicated bigint, substantive_activities bigint,
               formal_activities bigint, last_activity_at timestamptz)
LANGUAGE sql STABLE AS $$
WITH tu AS (SELECT * FROM supervision.twinning_unit(p_date)),
t AS (
  SELECT tu.unit_code, tu.unit_from,
         count(DISTINCT x.agency_code) AS twinnings,
         count(DISTINCT x.agency_code) FILTER (WHERE x.status = 'active') AS twinnings_active,
         sum(x.delivered_vnd) AS delivered_vnd, sum(x.visits) AS visits,
         sum(x.gift_value_vnd) AS gift_value_vnd, sum(x.trainees) AS trainees,
         sum(x.jobs) AS jobs, sum(x.models_replicated) AS models_replicated,
         sum(x.substantive_activities) AS substantive_activities,
         sum(x.formal_activities) AS formal_activities, max(x.last_activity_at) AS last_activity_at
    FROM proj.twinning x JOIN tu USING (agency_code, locality_code)
   GROUP BY tu.unit_code, tu.unit_from
), p AS (
  SELECT tu.unit_code, tu.unit_from,
         count(*) FILTER (WHERE x.status = 'open') AS pledges_open,
         count(*) FILTER (WHERE x.status = 'complete') AS pledges_fulfilled,
         count(*) FILTER (WHERE x.status = 'cancelled') AS pledges_cancelled,
         count(*) FILTER (WHERE x.status = 'open' AND x.due_date < twinwatch.today())
           AS pledges_overdue,
         sum(x.amount_vnd) FILTER (WHERE x.status <> 'cancelled') AS pledged_vnd,
         sum(least(x.delivered_vnd, x.amount_vnd)) FILTER (WHERE x.status <> 'cancelled')
           AS fulfilled_vnd
    FROM proj.pledge x JOIN tu USING (agency_code, locality_code)
   GROUP BY tu.unit_code, tu.unit_from
)
SELECT t.unit_code, t.unit_from, v.name, ref.tier(v.level), v.level,
       CASE WHEN ref.tier(v.level) = 'district' THEN v.code
            ELSE (ref.ancestor(v.code, p_date, 'district')).code END,
       t.twinnings, t.twinnings_active,
       coalesce(p.pledges_open, 0), coalesce(p.pledges_fulfilled, 0),
       coalesce(p.pledges_cancelled, 0), coalesce(p.pledges_overdue, 0),
       coalesce(p.pledged_vnd, 0)::bigint, coalesce(p.fulfilled_vnd, 0)::bigint,
       t.delivered_vnd::bigint, t.visits::bigint, t.gift_value_vnd::bigint, t.trainees::bigint,
       t.jobs::bigint, t.models_replicated::bigint, t.substantive_activities::bigint,
       t.formal_activities::bigint, t.last_activity_at
  FROM t
  JOIN ref.unit_version v ON v.code = t.unit_code AND v.valid_from = t.unit_from
  LEFT JOIN p ON p.unit_code = t.unit_code AND p.unit_from = t.unit_from $$;

-- locality_overview in the geography of any date. The columns of 002's
-- view first, with their meaning (district_code is the unit's district on
-- that date, NULL after the district level ended), then the province of
-- that date, the former district (a grouping attribute of units made after
-- it ended) and the former units (those whose code and name differ from
-- the unit's own: xã La Dêê lists xã Đắc Tôi, not the old xã La Dêê). The
-- measures are today's (the projection's), regrouped.
CREATE FUNCTION supervision.locality_overview_at(p_date date)
RETURNS TABLE (locality_code text, locality_name text, level text, district_code text,
               district_name text, twinnings_active bigint, pledges_open bigint,
               pledges_fulfilled bigint, pledges_cancelled bigint, pledges_overdue bigint,
               pledged_vnd bigint, delivered_vnd bigint, fulfilment_pct numeric, visits bigint,
               gift_value_vnd bigint, trainees bigint, jobs bigint, models_replicated bigint,
               substantive_activities bigint, formal_activities bigint,
               last_activity_at timestamptz, unit_level text, province_code text,
               province_name text, former_district_code text, former_district_name text,
               former_codes text[], former_names text[], twinnings bigint, fulfilled_vnd bigint)
LANGUAGE sql STABLE AS $$
SELECT m.locality_code, m.locality_name, m.level, m.district_code, d.name,
       m.twinnings_active, m.pledges_open, m.pledges_fulfilled, m.pledges_cancelled,
       m.pledges_overdue, m.pledged_vnd, m.delivered_vnd,
       round(100.0 * m.fulfilled_vnd / nullif(m.pledged_vnd, 0), 1),
       m.visits, m.gift_value_vnd, m.trainees, m.jobs, m.models_replicated,
       m.substantive_activities, m.formal_activities, m.last_activity_at,
       m.unit_level, pr.code, pr.name,
       coalesce(m.district_code, fd.code), coalesce(d.name, fd.name),
       coalesce((SELECT array_agg(f.code ORDER BY f.code, f.valid_from)
                   FROM ref.former_units(m.locality_code, m.unit_from) f
                  WHERE (f.code, f.name) IS DISTINCT FROM (m.locality_code, m.locality_name)),
                '{}'),
       coalesce((SELECT array_agg(f.name ORDER BY f.code, f.valid_from)
                   FROM ref.former_units(m.locality_code, m.unit_from) f
                  WHERE (f.code, f.name) IS DISTINCT FROM (m.locality_code, m.locality_name)),
                '{}'),
       m.twinnings, m.fulfilled_vnd
  FROM supervision.locality_measures_at(p_date) m
  LEFT JOIN LATERAL ref.unit_at(m.district_code, p_date) d ON true
  LEFT JOIN LATERAL ref.ancestor(m.locality_code, p_date, 'province') pr ON true
  LEFT JOIN LATERAL ref.former_district(m.locality_code, m.unit_from) fd ON true $$;

-- Rollups of that date: per district (before 1 July 2025), or per former
-- district (an area) after; per province.
CREATE FUNCTION supervision.district_overview_at(p_date date)
RETURNS TABLE (district_code text, district_name text, localities_twinned bigint,
               twinnings_active bigint, pledges_open bigint, pledges_fulfilled bigint,
               pledges_cancelled bigint, pledges_overdue bigint, pledged_vnd bigint,
               delivered_vnd bigint, fulfilment_pct numeric, visits bigint,
               gift_value_vnd bigint, trainees bigint, jobs bigint, models_replicated bigint,
               substantive_activities bigint, formal_activities bigint,
               last_activity_at timestamptz, is_former boolean, province_code text)
LANGUAGE sql STABLE AS $$
SELECT o.former_district_code, o.former_district_name, count(*),
       sum(o.twinnings_active)::bigint, sum(o.pledges_open)::bigint,
       sum(o.pledges_fulfilled)::bigint, sum(o.pledges_cancelled)::bigint,
       sum(o.pledges_overdue)::bigint, sum(o.pledged_vnd)::bigint, sum(o.delivered_vnd)::bigint,
       round(100.0 * sum(o.fulfilled_vnd) / nullif(sum(o.pledged_vnd), 0), 1),
       sum(o.visits)::bigint, sum(o.gift_value_vnd)::bigint, sum(o.trainees)::bigint,
       sum(o.jobs)::bigint, sum(o.models_replicated)::bigint,
       sum(o.substantive_activities)::bigint, sum(o.formal_activities)::bigint,
       max(o.last_activity_at), bool_or(o.district_code IS NULL), min(o.province_code)
  FROM supervision.locality_overview_at(p_date) o
 GROUP BY o.former_district_code, o.former_district_name $$;

CREATE FUNCTION supervision.province_overview_at(p_date date)
RETURNS TABLE (districts_twinned bigint, localities_twinned bigint, twinnings_active bigint,
               pledges_open bigint, pledges_fulfilled bigint, pledges_cancelled bigint,
               pledges_overdue bigint, pledged_vnd bigint, delivered_vnd bigint,
               fulfilment_pct numeric, visits bigint, trainees bigint, jobs bigint,
               substantive_activities bigint, formal_activities bigint, province_code text,
               province_name text)
LANGUAGE sql STABLE AS $$
SELECT count(DISTINCT o.district_code), count(*), sum(o.twinnings_active)::bigint,
       sum(o.pledges_open)::bigint, sum(o.pledges_fulfilled)::bigint,
       sum(o.pledges_cancelled)::bigint, sum(o.pledges_overdue)::bigint,
       sum(o.pledged_vnd)::bigint, sum(o.delivered_vnd)::bigint,
       round(100.0 * sum(o.fulfilled_vnd) / nullif(sum(o.pledged_vnd), 0), 1),
       sum(o.visits)::bigint, sum(o.trainees)::bigint, sum(o.jobs)::bigint,
       sum(o.substantive_activities)::bigint, sum(o.formal_activities)::bigint,
       o.province_code, o.province_name
  FROM supervision.locality_overview_at(p_date) o
 GROUP BY o.province_code, o.province_name $$;

-- Today's views: the same, at twinwatch.today(). CREATE OR REPLACE keeps
-- their grants and security_invoker; new columns come last.
DROP VIEW supervision.province_overview;
DROP VIEW supervision.district_overview;
DROP VIEW supervision.locality_overview;
CREATE VIEW supervision.locality_overview AS
  SELECT * FROM supervision.locality_overview_at(twinwatch.today());
CREATE VIEW supervision.district_overview AS
  SELECT * FROM supervision.district_overview_at(twinwatch.today());
CREATE VIEW supervision.province_overview AS
  SELECT * FROM supervision.province_overview_at(twinwatch.today());
ALTER VIEW supervision.locality_overview SET (security_invoker = true);
ALTER VIEW supervision.district_overview SET (security_invoker = true);
ALTER VIEW supervision.province_overview SET (security_invoker = true);

-- Alert texts name today's unit and, when the twinning was filed under a
-- unit since merged or renamed, the one it was: "xã La Dêê (trước đây xã
-- Đắc Tôi)". Alert ids are made from the row's key, which never changes.
CREATE OR REPLACE FUNCTION alerting.locality_vi(p_code text) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce((
    SELECT lower(left(n.name, 1)) || substr(n.name, 2) ||
           CASE WHEN n.name <> o.name THEN ' (trước đây ' || lower(left(o.name, 1)) ||
                substr(o.name, 2) || ')' ELSE '' END
      FROM ref.version_of(p_code, twinwatch.today()) o,
           ref.unit_on(p_code, twinwatch.today(), twinwatch.today()) n
     WHERE o.code IS NOT NULL), p_code) $$;
CREATE OR REPLACE FUNCTION alerting.locality_en(p_code text) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce((
    SELECT n.name || CASE WHEN n.name <> o.name THEN ' (formerly ' || o.name || ')' ELSE '' END
      FROM ref.version_of(p_code, twinwatch.today()) o,
           ref.unit_on(p_code, twinwatch.today(), twinwatch.today()) n
     WHERE o.code IS NOT NULL), p_code) $$;

DO $$
DECLARE
  o record;
BEGIN
  FOR o IN SELECT p.oid::regprocedure AS fn FROM pg_proc p
             JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname IN ('ref', 'supervision') AND p.proname IN ('version_of', 'unit_on',
                  'former_units', 'ancestor', 'former_district', 'twinning_unit',
                  'locality_measures_at', 'locality_overview_at', 'district_overview_at',
                  'province_overview_at') LOOP
    EXECUTE format('ALTER ROUTINE %s OWNER TO twinwatch_owner', o.fn);
  END LOOP;
END $$;
ALTER VIEW supervision.locality_overview OWNER TO twinwatch_owner;
ALTER VIEW supervision.district_overview OWNER TO twinwatch_owner;
ALTER VIEW supervision.province_overview OWNER TO twinwatch_owner;
REVOKE ALL ON supervision.locality_overview, supervision.district_overview,
  supervision.province_overview FROM PUBLIC;
GRANT SELECT ON supervision.locality_overview, supervision.district_overview,
  supervision.province_overview TO twinwatch_supervisor, twinwatch_sentinel;

-- Every code linked to p_code through the lineage, either way, p_code
-- included: where the projector looks for the twinnings an event under
-- p_code may belong to (a superset; the state machine picks).
CREATE FUNCTION ref.related_codes(p_code text) RETURNS SETOF text LANGUAGE sql STABLE AS $$
  WITH RECURSIVE c (code) AS (
    SELECT p_code
    UNION
    SELECT x FROM c, LATERAL (SELECT g.new_code FROM ref.unit_lineage g
                               WHERE g.old_code = c.code AND g.new_code IS NOT NULL
                              UNION ALL
                              SELECT g.old_code FROM ref.unit_lineage g
                               WHERE g.new_code = c.code) n(x)
    WHERE (SELECT level FROM ref.unit_version WHERE code = x LIMIT 1) NOT IN ('province'))
  SELECT code FROM c $$;
ALTER FUNCTION ref.related_codes(text) OWNER TO twinwatch_owner;
GRANT EXECUTE ON FUNCTION ref.related_codes(text) TO twinwatch_projector;

-- Each logged event's locality as the projection read it: the code as
-- sent (the log keeps it), the unit it names on the event's local date, and
-- whether it was mapped (the code had no version that day: a retired code
-- read as its successor, or a new code as its predecessor). Derived from the
-- reference data of now, as twinctl rebuild reads it.
CREATE VIEW supervision.event_locality AS
SELECT e.seq, e.event_id, e.agency_code, e.locality_code AS code_sent, d.day,
       u.code AS unit_code, u.valid_from AS unit_from, u.name AS unit_name,
       ref.unit_at(e.locality_code, d.day) IS NULL AS mapped
  FROM audit.event_log e
 CROSS JOIN LATERAL (SELECT (e.occurred_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date AS day) d
  LEFT JOIN LATERAL ref.unit_on(e.locality_code, d.day, d.day) u ON true;
ALTER VIEW supervision.event_locality SET (security_invoker = true);
ALTER VIEW supervision.event_locality OWNER TO twinwatch_owner;
REVOKE ALL ON supervision.event_locality FROM PUBLIC;
GRANT SELECT ON supervision.event_locality TO twinwatch_auditor, twinwatch_sentinel;
GRANT USAGE ON SCHEMA supervision, ref TO twinwatch_auditor;
GRANT SELECT ON ref.unit_version, ref.unit_lineage TO twinwatch_auditor;
