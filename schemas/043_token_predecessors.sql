-- 043_token_predecessors: a token may submit events for its own agency and
-- for the codes of its agency's predecessors (ref.agency_lineage, 020/023):
-- a merged department's late exports still come under the old code. Never
-- the other way: a predecessor's token does not speak for its successor,
-- nor for a sibling that went into the same successor.

-- p_agency and every code that went, directly or through others, into it.
CREATE FUNCTION gateway.agency_codes(p_agency text) RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  WITH RECURSIVE up(code, depth) AS (
    SELECT p_agency, 0
    UNION
    SELECT g.old_code, u.depth + 1 FROM ref.agency_lineage g JOIN up u ON g.new_code = u.code
     WHERE u.depth < 20)
  SELECT DISTINCT code FROM up $$;
ALTER FUNCTION gateway.agency_codes(text) OWNER TO twinwatch_owner;
REVOKE ALL ON FUNCTION gateway.agency_codes(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gateway.agency_codes(text) TO twinwatch_gateway;
