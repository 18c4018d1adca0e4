-- Issue 13: since the 2025 reform one twinning's (or pledge's) events come
-- under two Kafka keys (the old code and the new), so on two partitions,
-- possibly projected by two lanes or projectors at once. Each writes rows
-- it computed from what it read or cached; row_version makes that a
-- compare-and-set (services/lib/tables.h, TW_COL_VERSION): an upsert writes
-- version + 1 only where the stored row still has the version it read, and
-- a batch whose row changed meanwhile fails and is retried from the stored
-- offsets. Bookkeeping: not part of twinctl digest.
ALTER TABLE proj.twinning ADD COLUMN row_version bigint NOT NULL DEFAULT 0;
ALTER TABLE proj.pledge ADD COLUMN row_version bigint NOT NULL DEFAULT 0;
