-- 011_district_scope: a supervisor login bound to a district sees only that
-- district's rows (issue 5, optional district scoping). Row-level security
-- on the tables under the supervision views, which now run with the
-- invoker's rights (security_invoker), so the policies see the supervisor.
-- A supervisor with no row here sees the whole province. The scorecard
-- (005) runs as its owner and is not scoped.

CREATE TABLE twinwatch.supervisor_district (
  role_name      name PRIMARY KEY,
  district_code  text NOT NULL REFERENCES ref.locality (code),
  bound_at       timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE twinwatch.supervisor_district OWNER TO twinwatch_owner;

-- Is locality (a district, or a commune of it) visible to the current role?
-- True for a role bound to no district.
CREATE FUNCTION twinwatch.in_my_district(p_locality text) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN s.d IS NULL THEN true
              ELSE p_locality = s.d OR EXISTS (SELECT 1 FROM ref.locality l
                                               WHERE l.code = p_locality AND l.parent_code = s.d)
         END
    FROM (SELECT (SELECT district_code FROM twinwatch.supervisor_district
                   WHERE role_name = current_user) AS d) s $$;
ALTER FUNCTION twinwatch.in_my_district(text) OWNER TO twinwatch_owner;

-- Supervisors read through the policy; the writers' policies let every row
-- through (the owner, i.e. SECURITY DEFINER functions, and superusers are
-- not subject to row-level security).
ALTER TABLE proj.twinning ENABLE ROW LEVEL SECURITY;
ALTER TABLE proj.pledge ENABLE ROW LEVEL SECURITY;
ALTER TABLE alerting.alert ENABLE ROW LEVEL SECURITY;
CREATE POLICY supervisor_district ON proj.twinning FOR SELECT TO twinwatch_supervisor
  USING (twinwatch.in_my_district(locality_code));
CREATE POLICY supervisor_district ON proj.pledge FOR SELECT TO twinwatch_supervisor
  USING (twinwatch.in_my_district(locality_code));
CREATE POLICY supervisor_district ON alerting.alert FOR SELECT TO twinwatch_supervisor
  USING (twinwatch.in_my_district(locality_code));
CREATE POLICY writers ON proj.twinning TO twinwatch_projector, twinwatch_sentinel
  USING (true) WITH CHECK (true);
CREATE POLICY writers ON proj.pledge TO twinwatch_projector, twinwatch_sentinel
  USING (true) WITH CHECK (true);
CREATE POLICY writers ON alerting.alert TO twinwatch_sentinel, twinwatch_auditor
  USING (true) WITH CHECK (true);

ALTER VIEW supervision.pledge_status SET (security_invoker = true);
ALTER VIEW supervision.locality_measures SET (security_invoker = true);
ALTER VIEW supervision.locality_overview SET (security_invoker = true);
ALTER VIEW supervision.district_overview SET (security_invoker = true);
ALTER VIEW supervision.province_overview SET (security_invoker = true);
ALTER VIEW supervision.agency_overview SET (security_invoker = true);
GRANT USAGE ON SCHEMA twinwatch, proj, ref TO twinwatch_supervisor;
GRANT SELECT ON proj.twinning, proj.pledge, ref.locality, ref.agency,
  twinwatch.supervisor_district TO twinwatch_supervisor;
