-- 930_operator_test_clock: `twinctl clock set` runs as twinwatch_operator
-- (schemas/030) like every command but migrate; test databases only.
GRANT UPDATE ON twinwatch.test_clock TO twinwatch_operator;
