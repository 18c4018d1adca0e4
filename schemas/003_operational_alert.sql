-- 003: conditions the operator on call must act on, as rows a dashboard and
-- twinctl can show, not only as log lines.

-- Events lost to broker retention before they were projected: a partition's
-- stored next offset is below the broker's log start. The projector pauses
-- that partition (never skips) and raises one alert per lost range;
-- `twinctl offsets accept-loss` records who accepted the loss and moves the
-- stored offset to the log start.
CREATE TABLE ingest.operational_alert (
  id               bigserial PRIMARY KEY,
  kind             text NOT NULL CHECK (kind IN ('offsets_lost')),
  topic            text NOT NULL,
  kafka_partition  integer NOT NULL,
  lost_from        bigint NOT NULL,  -- the stored next offset
  lost_to          bigint,           -- the broker's log start (exclusive); NULL when unknown
  message          text NOT NULL,
  raised_at        timestamptz NOT NULL DEFAULT now(),
  resolved_at      timestamptz,
  resolved_by      text,
  resolution       text,
  CHECK ((resolved_at IS NULL) = (resolved_by IS NULL))
);
CREATE UNIQUE INDEX operational_alert_open
  ON ingest.operational_alert (kind, topic, kafka_partition, lost_from)
  WHERE resolved_at IS NULL;

-- The projector no longer counts inserted log rows (a unique violation of
-- event_log_pkey is its re-delivery signal).
DROP FUNCTION ingest.expect_new_events(bigint, bigint);
