-- 900_test_clock: a clock tests can move, applied only by tests
-- (`twinctl migrate --dir tests/schemas` after the real migrations; the
-- default `twinctl migrate` never reads this directory). twinwatch.now()
-- becomes the real time plus an offset that `twinctl clock set` changes, so
-- time keeps running and the sentinel's timers stay meaningful.
-- `twinctl clock set` refuses to run where this table does not exist.

CREATE TABLE twinwatch.test_clock (
  one          boolean PRIMARY KEY DEFAULT true CHECK (one),
  offset_by    interval NOT NULL DEFAULT '0',
  set_at       timestamptz NOT NULL DEFAULT now()
);
INSERT INTO twinwatch.test_clock DEFAULT VALUES;

CREATE OR REPLACE FUNCTION twinwatch.now() RETURNS timestamptz
  LANGUAGE sql STABLE AS $$
  SELECT now() + coalesce((SELECT offset_by FROM twinwatch.test_clock), '0') $$;
