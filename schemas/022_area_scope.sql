-- 022_area_scope: district-scoped supervisors (011) become area-scoped
-- (issue 13). An area is a set of current units; every former district is
-- a predefined area (its code is the district's), so an existing grant in
-- twinwatch.supervisor_district keeps seeing the communes it saw - now
-- under their current names - and whatever was done since in the units
-- they became part of.

CREATE TABLE twinwatch.area (
  code   text PRIMARY KEY CHECK (code ~ '^[0-9A-Za-z_.-]+$'),
  name   text NOT NULL CHECK (name <> ''),
  note   text NOT NULL DEFAULT ''
);
-- Operator-defined areas: their current units.
CREATE TABLE twinwatch.area_unit (
  area_code  text NOT NULL REFERENCES twinwatch.area (code),
  unit_code  text NOT NULL,
  PRIMARY KEY (area_code, unit_code)
);
-- A supervisor bound to areas (several allowed); supervisor_district rows
-- count as a binding to the area of that district.
CREATE TABLE twinwatch.supervisor_area (
  role_name  name NOT NULL,
  area_code  text NOT NULL,
  bound_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (role_name, area_code)
);

-- Does area p_area hold the twinning filed under p_locality? Yes when the
-- area lists the unit it is today, or when p_area is a (former) district
-- that held it or any unit it became part of, or is that district itself.
CREATE FUNCTION twinwatch.area_has(p_area text, p_locality text) RETURNS boolean
LANGUAGE sql STABLE AS $$
  WITH u AS (SELECT * FROM ref.unit_on(p_locality, twinwatch.today(), twinwatch.today())),
  units AS (SELECT code, valid_from, parent_code FROM ref.unit_version
             WHERE code = p_locality
            UNION ALL SELECT code, valid_from, parent_code FROM u
            UNION ALL SELECT f.code, f.valid_from, f.parent_code FROM u,
                      LATERAL ref.former_units(u.code, u.valid_from) f)
  SELECT p_locality = p_area
      OR EXISTS (SELECT 1 FROM twinwatch.area_unit a, u
                  WHERE a.area_code = p_area AND a.unit_code IN (u.code, p_locality))
      OR EXISTS (SELECT 1 FROM units WHERE parent_code = p_area) $$;

-- 011's check, now by area. True for a role bound to nothing.
CREATE OR REPLACE FUNCTION twinwatch.in_my_district(p_locality text) RETURNS boolean
LANGUAGE sql STABLE AS $$
  WITH g AS (SELECT district_code AS area FROM twinwatch.supervisor_district
              WHERE role_name = current_user
             UNION SELECT area_code FROM twinwatch.supervisor_area WHERE role_name = current_user)
  SELECT NOT EXISTS (SELECT 1 FROM g)
      OR EXISTS (SELECT 1 FROM g WHERE twinwatch.area_has(g.area, p_locality)) $$;

-- The areas as supervisors see them: the operator's, and one per district
-- that ever held a unit (named as the district was).
CREATE VIEW twinwatch.area_overview AS
SELECT a.code, a.name, false AS former_district FROM twinwatch.area a
UNION ALL
SELECT DISTINCT ON (v.code) v.code, v.name, true FROM ref.unit_version v
 WHERE v.level = 'district' AND v.code NOT IN (SELECT code FROM twinwatch.area)
 ORDER BY 1;

ALTER TABLE twinwatch.area OWNER TO twinwatch_owner;
ALTER TABLE twinwatch.area_unit OWNER TO twinwatch_owner;
ALTER TABLE twinwatch.supervisor_area OWNER TO twinwatch_owner;
ALTER VIEW twinwatch.area_overview OWNER TO twinwatch_owner;
ALTER FUNCTION twinwatch.area_has(text, text) OWNER TO twinwatch_owner;
REVOKE ALL ON twinwatch.area, twinwatch.area_unit, twinwatch.supervisor_area,
  twinwatch.area_overview FROM PUBLIC;
GRANT SELECT ON twinwatch.area, twinwatch.area_unit, twinwatch.supervisor_area,
  twinwatch.area_overview TO twinwatch_supervisor, twinwatch_sentinel;
