-- 012_dlq_replay: twinctl dlq replay (DESIGN.md, "Validation"): an operator
-- fixes reference data, then sends dead letters back to their topic. A
-- replayed dead letter stays (the refusal happened) and says when, by whom
-- and where the replay went; the projector then meets the event again at
-- that position and accepts it or dead-letters it anew. One audit action
-- (dlq.replay) per command, written by twinctl in the same transaction.

ALTER TABLE ingest.dead_letter
  ADD COLUMN replayed_at            timestamptz,
  ADD COLUMN replayed_by            text,
  ADD COLUMN replayed_to_partition  integer,
  ADD COLUMN replayed_to_offset     bigint,
  ADD CONSTRAINT dead_letter_replay_whole CHECK (
    (replayed_at IS NULL) = (replayed_by IS NULL)
    AND (replayed_at IS NULL) = (replayed_to_partition IS NULL)
    AND (replayed_at IS NULL) = (replayed_to_offset IS NULL));

-- what is still waiting for a fix, by reason
CREATE INDEX dead_letter_pending ON ingest.dead_letter (reason, id) WHERE replayed_at IS NULL;

-- where a replay went, for twinctl dlq replay's walk from a dead letter back
-- to the one it was replayed from (its first arrival)
CREATE INDEX dead_letter_replayed_to ON ingest.dead_letter (topic, replayed_to_partition,
  replayed_to_offset) WHERE replayed_at IS NOT NULL;
