-- 042_gateway_operator: what twinctl's tokens and keys commands write, for
-- twinwatch_operator (the role twinctl connects as; schemas/030, issue 17),
-- column by column: issue inserts a token (its hash only), revoke sets the
-- two revocation columns, keys add inserts a public key. Reads of the two
-- tables (tokens list, keys list, audit verify's signatures) too. The role
-- may not exist on a database migrated without 030's branch: then nothing
-- is granted here.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'twinwatch_operator') THEN
    GRANT USAGE ON SCHEMA gateway TO twinwatch_operator;
    GRANT SELECT ON gateway.token, gateway.agency_key TO twinwatch_operator;
    GRANT INSERT (agency_code, name, token_hash, issued_by, expires_at) ON gateway.token
      TO twinwatch_operator;
    GRANT UPDATE (revoked_at, revoked_by) ON gateway.token TO twinwatch_operator;
    GRANT INSERT (agency_code, public_key, added_by) ON gateway.agency_key TO twinwatch_operator;
  END IF;
END $$;
