-- ops/docker/roles-gateway.sql: sets the password of twinwatch_gateway, the
-- agency gateway's role (schemas/040_gateway_tokens.sql creates it without
-- one). Run by the compose stack's `roles` job after roles.sql, as the
-- superuser, with the password as a psql variable (never in this file):
--   psql -v ON_ERROR_STOP=1 -v gateway=… -f roles-gateway.sql
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', 'twinwatch_gateway', :'gateway')
\gexec
