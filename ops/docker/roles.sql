-- ops/docker/roles.sql: sets the passwords of the service roles, which the
-- migrations create (twinwatch_projector, twinwatch_sentinel: 010_audit.sql;
-- twinwatch_supervisor: 004; twinwatch_operator, twinctl's: 030) without a
-- password. Run by the compose stack's
-- `roles` job as the superuser after `twinctl migrate`, with the passwords
-- as psql variables (never in this file):
--   psql -v ON_ERROR_STOP=1 -v projector=… -v sentinel=… -v supervisor=… -v operator=… -f roles.sql
-- The passwords are sent hashed (SCRAM, password_encryption's default).
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', r, p)
FROM (VALUES ('twinwatch_projector', :'projector'),
             ('twinwatch_sentinel', :'sentinel'),
             ('twinwatch_supervisor', :'supervisor'),
             ('twinwatch_operator', :'operator')) AS v(r, p)
\gexec
