-- 020_unit_versions: administrative units over time (issue 13). A unit is
-- a version: a code, a name, a level and a parent, valid from one date to
-- another (both days included). A code may name different units at
-- different dates: xã La Dêê 20704 before 1 July 2025 is the old commune,
-- after it the commune made of old La Dêê and Đắc Tôi (20705). Lineage
-- links each ended version to the versions that took over from it, with
-- the legal act; a version that ends with no successor must say so
-- (kind 'abolished'). The event log keeps codes as sent; the projection
-- resolves them against these tables (docs/projection-rules.md).
--
-- ref.locality, read by the projector, the views, the alert texts and the
-- report since 001, becomes a view: each code's latest version, with the
-- old three-value level (a ward, township or special zone is a commune-
-- level unit). Old readers keep their meaning for units without lineage;
-- new code reads ref.unit_version.

CREATE TABLE ref.unit_version (
  code                  text NOT NULL CHECK (code ~ '^[0-9A-Za-z_-]+$'),
  valid_from            date NOT NULL DEFAULT '-infinity',
  valid_to              date NOT NULL DEFAULT 'infinity',
  name                  text NOT NULL CHECK (name <> ''),
  level                 text NOT NULL CHECK (level IN ('province', 'district', 'commune', 'ward',
                                                       'township', 'special_zone')),
  parent_code           text,
  ethnic_minority       boolean NOT NULL DEFAULT false,
  mountainous           boolean NOT NULL DEFAULT false,
  border                boolean NOT NULL DEFAULT false,
  especially_difficult  boolean NOT NULL DEFAULT false,
  source                text NOT NULL DEFAULT '',  -- file:line it was loaded from
  updated_at            timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (code, valid_from),
  CHECK (valid_from <= valid_to),
  CHECK ((level = 'province') = (parent_code IS NULL))
);

-- The administrative tier of a level: what "commune" meant before 2025.
CREATE FUNCTION ref.tier(p_level text) RETURNS text LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT CASE WHEN p_level IN ('ward', 'township', 'special_zone') THEN 'commune'
              ELSE p_level END $$;

-- Two versions of one code never overlap; checked at commit, so a load may
-- shorten one version and add the next in any order.
CREATE FUNCTION ref.check_unit_overlap() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  o record;
BEGIN
  SELECT a.code, a.valid_from AS a_from, a.valid_to AS a_to, b.valid_from AS b_from,
         b.valid_to AS b_to INTO o
    FROM ref.unit_version a JOIN ref.unit_version b
      ON b.code = a.code AND b.valid_from > a.valid_from AND b.valid_from <= a.valid_to
   WHERE a.code = NEW.code LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'unit % has overlapping versions: % to % and % to %', o.code, o.a_from,
      o.a_to, o.b_from, o.b_to USING ERRCODE = 'exclusion_violation';
  END IF;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER unit_version_no_overlap AFTER INSERT OR UPDATE ON ref.unit_version
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ref.check_unit_overlap();

CREATE TABLE ref.unit_lineage (
  old_code    text NOT NULL,
  old_from    date NOT NULL,
  new_code    text,               -- NULL when kind = 'abolished'
  new_from    date,
  effective   date NOT NULL,      -- the first day of the new units
  kind        text NOT NULL CHECK (kind IN ('whole', 'partial', 'rename', 'retype', 'keep',
                                             'abolished')),
  legal_act   text NOT NULL DEFAULT '',
  note        text NOT NULL DEFAULT '',  -- the source's own wording ("Nhập toàn bộ")
  source      text NOT NULL DEFAULT '',  -- file:line it was loaded from
  FOREIGN KEY (old_code, old_from) REFERENCES ref.unit_version (code, valid_from)
    ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED,
  FOREIGN KEY (new_code, new_from) REFERENCES ref.unit_version (code, valid_from)
    ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED,
  CHECK ((kind = 'abolished') = (new_code IS NULL)),
  CHECK ((new_code IS NULL) = (new_from IS NULL))
);
CREATE UNIQUE INDEX unit_lineage_edge
  ON ref.unit_lineage (old_code, old_from, coalesce(new_code, ''), coalesce(new_from, 'infinity'));
CREATE INDEX unit_lineage_new ON ref.unit_lineage (new_code, new_from);

-- Agencies change too (departments merged in 2025). Agency codes are
-- twinwatch's own identifiers, not an official list, and are never reused:
-- a successor gets its own code, the predecessor an end date and a lineage
-- row. A successor answers for its predecessors' open pledges.
ALTER TABLE ref.agency ADD COLUMN valid_from date NOT NULL DEFAULT '-infinity',
                       ADD COLUMN valid_to date NOT NULL DEFAULT 'infinity',
                       ADD CHECK (valid_from <= valid_to);
CREATE TABLE ref.agency_lineage (
  old_code    text NOT NULL REFERENCES ref.agency (code),
  new_code    text REFERENCES ref.agency (code),  -- NULL when kind = 'abolished'
  effective   date NOT NULL,
  kind        text NOT NULL CHECK (kind IN ('whole', 'partial', 'rename', 'abolished')),
  legal_act   text NOT NULL DEFAULT '',
  note        text NOT NULL DEFAULT '',
  source      text NOT NULL DEFAULT '',
  CHECK ((kind = 'abolished') = (new_code IS NULL)),
  CHECK (old_code IS DISTINCT FROM new_code)
);
CREATE UNIQUE INDEX agency_lineage_edge ON ref.agency_lineage (old_code, coalesce(new_code, ''));

-- Every unit known so far becomes one version, valid from the beginning
-- and never ending, until a lineage load ends it.
INSERT INTO ref.unit_version (code, name, level, parent_code, ethnic_minority, mountainous,
                              border, especially_difficult, updated_at)
SELECT code, name, level, parent_code, ethnic_minority, mountainous, border,
       especially_difficult, updated_at
  FROM ref.locality;
-- check them now: ALTER TABLE below refuses a table with checks pending
SET CONSTRAINTS ALL IMMEDIATE;

DROP TABLE ref.locality CASCADE; -- with it go the views of 002 below, recreated unchanged

CREATE VIEW ref.locality AS
SELECT DISTINCT ON (v.code) v.code, v.name, ref.tier(v.level) AS level, v.parent_code,
       v.ethnic_minority, v.mountainous, v.border, v.especially_difficult, v.updated_at,
       v.level AS unit_level, v.valid_from, v.valid_to
  FROM ref.unit_version v
 ORDER BY v.code, v.valid_from DESC;

-- The version of a code valid on a date, if any.
CREATE FUNCTION ref.unit_at(p_code text, p_date date) RETURNS ref.unit_version
LANGUAGE sql STABLE AS $$
  SELECT v FROM ref.unit_version v
   WHERE v.code = p_code AND p_date BETWEEN v.valid_from AND v.valid_to $$;
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

ALTER VIEW supervision.locality_measures SET (security_invoker = true);
ALTER VIEW supervision.locality_overview SET (security_invoker = true);
ALTER VIEW supervision.district_overview SET (security_invoker = true);
ALTER VIEW supervision.province_overview SET (security_invoker = true);

DO $$
DECLARE
  o record;
BEGIN
  FOR o IN SELECT c.oid::regclass AS rel, c.relkind FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE (n.nspname, c.relname) IN (('ref', 'unit_version'), ('ref', 'unit_lineage'),
                  ('ref', 'agency_lineage'), ('ref', 'locality'),
                  ('supervision', 'locality_measures'), ('supervision', 'locality_overview'),
                  ('supervision', 'district_overview'), ('supervision', 'province_overview')) LOOP
    EXECUTE format('ALTER %s %s OWNER TO twinwatch_owner',
                   CASE o.relkind WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END, o.rel);
  END LOOP;
END $$;
ALTER FUNCTION ref.tier(text) OWNER TO twinwatch_owner;
ALTER FUNCTION ref.check_unit_overlap() OWNER TO twinwatch_owner;
ALTER FUNCTION ref.unit_at(text, date) OWNER TO twinwatch_owner;
REVOKE ALL ON ref.unit_version, ref.unit_lineage, ref.agency_lineage, ref.locality,
  supervision.locality_measures, supervision.locality_overview, supervision.district_overview,
  supervision.province_overview FROM PUBLIC;
GRANT SELECT ON ref.unit_version, ref.unit_lineage, ref.agency_lineage, ref.locality
  TO twinwatch_projector, twinwatch_sentinel, twinwatch_supervisor;
GRANT SELECT ON supervision.locality_measures, supervision.locality_overview,
  supervision.district_overview, supervision.province_overview
  TO twinwatch_supervisor, twinwatch_sentinel;

-- The level a unit's name gives (the statistics office's lists name every
-- commune-level unit with its type first).
CREATE FUNCTION ref.level_of_name(p_name text) RETURNS text LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT CASE WHEN p_name LIKE 'Xã %' THEN 'commune' WHEN p_name LIKE 'Phường %' THEN 'ward'
              WHEN p_name LIKE 'Thị trấn %' THEN 'township'
              WHEN p_name LIKE 'Đặc khu %' THEN 'special_zone' END $$;
ALTER FUNCTION ref.level_of_name(text) OWNER TO twinwatch_owner;
