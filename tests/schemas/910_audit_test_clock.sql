-- 910_audit_test_clock: the test clock (900) under the roles of
-- schemas/010_audit.sql: owned by twinwatch_owner like every table, and
-- readable by every role whose queries call twinwatch.now(). Changed only
-- by `twinctl clock set`, which records the change in the audit trail.
ALTER TABLE twinwatch.test_clock OWNER TO twinwatch_owner;
GRANT SELECT ON twinwatch.test_clock
  TO twinwatch_projector, twinwatch_sentinel, twinwatch_supervisor, twinwatch_auditor;
