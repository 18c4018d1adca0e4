-- 023_agency_succession: agencies change too (issue 13): departments were
-- merged in 2025 and the province's bodies moved under the city. A
-- predecessor keeps its code and its history (events keep the code they
-- were sent with); ref.agency_lineage (020) names its successor, and the
-- successor answers for the predecessor's open pledges: the views below
-- show them as inherited.

-- The agency that answers on p_date for p_code: along the lineage in force
-- by then (a partial split goes to the successor with the lowest code).
CREATE FUNCTION ref.agency_on(p_code text, p_date date) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  c text := p_code;
  n text;
BEGIN
  FOR i IN 1 .. 20 LOOP
    SELECT g.new_code INTO n FROM ref.agency_lineage g
     WHERE g.old_code = c AND g.effective <= p_date AND g.new_code IS NOT NULL
     ORDER BY g.new_code LIMIT 1;
    EXIT WHEN NOT FOUND;
    c := n;
  END LOOP;
  RETURN c;
END $$;

-- A code the agency lineage names, checked with a message a person can act
-- on (load-reference prints it with the file:line).
CREATE FUNCTION ref.known_agency(p_code text) RETURNS text LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF p_code <> '' AND NOT EXISTS (SELECT 1 FROM ref.agency WHERE code = p_code) THEN
    RAISE EXCEPTION 'agency % is not in the reference data: load it with --agencies first',
      p_code USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN nullif(p_code, '');
END $$;
ALTER FUNCTION ref.known_agency(text) OWNER TO twinwatch_owner;

-- Each predecessor's pledges still open today, under the agency that
-- answers for them now.
CREATE VIEW supervision.inherited_pledge AS
SELECT ref.agency_on(p.agency_code, twinwatch.today()) AS agency_code, a.name AS agency_name,
       p.agency_code AS pledged_by, o.name AS pledged_by_name, p.pledge_id, p.locality_code,
       p.category, p.amount_vnd, p.delivered_vnd, p.due_date,
       (p.due_date < twinwatch.today()) AS overdue
  FROM proj.pledge p
  JOIN ref.agency o ON o.code = p.agency_code
  JOIN ref.agency a ON a.code = ref.agency_on(p.agency_code, twinwatch.today())
 WHERE p.status = 'open' AND ref.agency_on(p.agency_code, twinwatch.today()) <> p.agency_code;
ALTER VIEW supervision.inherited_pledge SET (security_invoker = true);

-- The successions, with what each successor inherited.
CREATE VIEW supervision.agency_succession AS
SELECT g.old_code, o.name AS old_name, g.new_code, n.name AS new_name, g.effective, g.kind,
       g.legal_act,
       (SELECT count(*) FROM supervision.inherited_pledge i WHERE i.pledged_by = g.old_code)
         AS open_pledges_inherited,
       (SELECT coalesce(sum(i.amount_vnd - least(i.delivered_vnd, i.amount_vnd)), 0)
          FROM supervision.inherited_pledge i WHERE i.pledged_by = g.old_code)::bigint
         AS open_vnd_inherited
  FROM ref.agency_lineage g
  JOIN ref.agency o ON o.code = g.old_code
  LEFT JOIN ref.agency n ON n.code = g.new_code;
ALTER VIEW supervision.agency_succession SET (security_invoker = true);

ALTER FUNCTION ref.agency_on(text, date) OWNER TO twinwatch_owner;
ALTER VIEW supervision.inherited_pledge OWNER TO twinwatch_owner;
ALTER VIEW supervision.agency_succession OWNER TO twinwatch_owner;
REVOKE ALL ON supervision.inherited_pledge, supervision.agency_succession FROM PUBLIC;
GRANT SELECT ON supervision.inherited_pledge, supervision.agency_succession
  TO twinwatch_supervisor, twinwatch_sentinel;
