-- 001_core: reference data, the event log, ingest bookkeeping and the
-- projection tables the projector maintains per batch.

CREATE SCHEMA IF NOT EXISTS twinwatch;
CREATE SCHEMA IF NOT EXISTS ref;
CREATE SCHEMA IF NOT EXISTS audit;
CREATE SCHEMA IF NOT EXISTS ingest;
CREATE SCHEMA IF NOT EXISTS proj;
CREATE SCHEMA IF NOT EXISTS supervision;

-- The one clock that views (and later the sentinel) read.
CREATE FUNCTION twinwatch.now() RETURNS timestamptz
  LANGUAGE sql STABLE AS $$ SELECT now() $$;

-- Local "today" in Asia/Ho_Chi_Minh.
CREATE FUNCTION twinwatch.today() RETURNS date
  LANGUAGE sql STABLE AS $$ SELECT (twinwatch.now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date $$;

CREATE TABLE ref.agency (
  code        text PRIMARY KEY CHECK (code ~ '^[A-Z0-9][A-Z0-9_.-]*$'),
  name        text NOT NULL CHECK (name <> ''),
  kind        text NOT NULL CHECK (kind IN ('department', 'enterprise', 'locality',
                                            'armed_forces', 'association')),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ref.locality (
  code                  text PRIMARY KEY CHECK (code ~ '^[0-9A-Za-z_-]+$'),
  name                  text NOT NULL CHECK (name <> ''),
  level                 text NOT NULL CHECK (level IN ('province', 'district', 'commune')),
  parent_code           text REFERENCES ref.locality (code) DEFERRABLE INITIALLY DEFERRED,
  ethnic_minority       boolean NOT NULL DEFAULT false,
  mountainous           boolean NOT NULL DEFAULT false,
  border                boolean NOT NULL DEFAULT false,
  especially_difficult  boolean NOT NULL DEFAULT false,
  updated_at            timestamptz NOT NULL DEFAULT now(),
  CHECK ((level = 'province') = (parent_code IS NULL))
);

-- One row per accepted event. seq is the order the projector accepted them
-- (within a partition, the offset order), so a rebuild replays exactly that.
-- payload is the event's canonical protobuf bytes: everything a rebuild needs.
CREATE TABLE audit.event_log (
  seq              bigint GENERATED ALWAYS AS IDENTITY,
  event_id         uuid PRIMARY KEY,
  topic            text NOT NULL,
  kafka_partition  integer NOT NULL,
  kafka_offset     bigint NOT NULL,
  event_type       text NOT NULL,
  agency_code      text NOT NULL,
  locality_code    text NOT NULL,
  pledge_id        text,
  occurred_at      timestamptz NOT NULL,
  recorded_at      timestamptz,
  source_system    text NOT NULL,
  source_ref       text NOT NULL,
  payload          bytea NOT NULL,
  logged_at        timestamptz NOT NULL DEFAULT now()
);

-- The next offset to read per partition: the commit point of exactly-once.
-- Counters let an operator reconcile produced = accepted + dead + duplicates.
CREATE TABLE ingest.partition_offset (
  topic            text NOT NULL,
  kafka_partition  integer NOT NULL,
  next_offset      bigint NOT NULL CHECK (next_offset >= 0),
  accepted         bigint NOT NULL DEFAULT 0,
  dead_lettered    bigint NOT NULL DEFAULT 0,
  duplicates       bigint NOT NULL DEFAULT 0,
  updated_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (topic, kafka_partition)
) WITH (fillfactor = 50);

-- Compare-and-set of a batch's partitions: every expected offset must be the
-- stored one (NULL = never stored), or the whole transaction fails. A
-- projector that lost its partitions (a zombie) cannot commit over the owner.
CREATE FUNCTION ingest.advance_offsets(p_topic text, p_parts integer[], p_expected bigint[],
                                       p_next bigint[], p_accepted bigint[],
                                       p_dead bigint[], p_dups bigint[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  i integer;
  n integer;
BEGIN
  FOR i IN 1 .. coalesce(array_length(p_parts, 1), 0) LOOP
    IF p_expected[i] IS NULL THEN
      INSERT INTO ingest.partition_offset AS o
             (topic, kafka_partition, next_offset, accepted, dead_lettered, duplicates)
      VALUES (p_topic, p_parts[i], p_next[i], p_accepted[i], p_dead[i], p_dups[i])
      ON CONFLICT DO NOTHING;
    ELSE
      UPDATE ingest.partition_offset o
         SET next_offset = p_next[i], accepted = o.accepted + p_accepted[i],
             dead_lettered = o.dead_lettered + p_dead[i], duplicates = o.duplicates + p_dups[i],
             updated_at = now()
       WHERE o.topic = p_topic AND o.kafka_partition = p_parts[i]
         AND o.next_offset = p_expected[i];
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> 1 THEN
      RAISE EXCEPTION 'offset compare-and-set failed for %/%: expected %, another projector owns it',
        p_topic, p_parts[i], coalesce(p_expected[i]::text, 'none stored')
        USING ERRCODE = 'serialization_failure';
    END IF;
  END LOOP;
END $$;

-- Fails the transaction when a set-based write touched fewer rows than it
-- carried: another projector wrote the same keys first (a pledge id reused
-- by an agency in two localities, handled by two projectors at once). The
-- batch is retried and then sees that row.
CREATE FUNCTION ingest.expect_rows(p_got bigint, p_want bigint, p_what text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF p_got <> p_want THEN
    RAISE EXCEPTION '% of % rows of % written: another projector wrote the same keys; retrying',
      p_got, p_want, p_what USING ERRCODE = 'serialization_failure';
  END IF;
END $$;

-- The projector inserts a batch's events without looking their ids up
-- first (re-deliveries are rare); when some were already logged, this fails
-- the batch with SQLSTATE TW001 and the projector redoes it with lookups.
CREATE FUNCTION ingest.expect_new_events(p_got bigint, p_want bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF p_got <> p_want THEN
    RAISE EXCEPTION '% of % events are already in the log; the batch is redone with id checks',
      p_want - p_got, p_want USING ERRCODE = 'TW001';
  END IF;
END $$;

-- Refused events with their raw bytes, written in the batch's transaction.
CREATE TABLE ingest.dead_letter (
  id               bigserial PRIMARY KEY,
  topic            text NOT NULL,
  kafka_partition  integer NOT NULL,
  kafka_offset     bigint NOT NULL,
  kafka_key        bytea,
  event_id         uuid,
  event_type       text,
  agency_code      text,
  locality_code    text,
  reason           text NOT NULL,
  message          text NOT NULL,
  payload          bytea NOT NULL,
  dead_at          timestamptz NOT NULL DEFAULT now(),
  UNIQUE (topic, kafka_partition, kafka_offset)
);

CREATE TABLE proj.twinning (
  agency_code             text NOT NULL,
  locality_code           text NOT NULL,
  status                  text NOT NULL CHECK (status IN ('active', 'ended')),
  programme               text NOT NULL DEFAULT '',
  start_date              date,
  end_date                date,
  terms                   integer NOT NULL DEFAULT 1,
  signed_at               timestamptz,
  ended_at                timestamptz,
  visits                  bigint NOT NULL DEFAULT 0,
  gift_value_vnd          bigint NOT NULL DEFAULT 0,
  delivered_vnd           bigint NOT NULL DEFAULT 0,
  trainees                bigint NOT NULL DEFAULT 0,
  jobs                    bigint NOT NULL DEFAULT 0,
  models_replicated       bigint NOT NULL DEFAULT 0,
  substantive_activities  bigint NOT NULL DEFAULT 0,
  formal_activities       bigint NOT NULL DEFAULT 0,
  last_activity_at        timestamptz,
  PRIMARY KEY (agency_code, locality_code)
) WITH (fillfactor = 70); -- room on each page for HOT updates: rows change every batch

CREATE TABLE proj.pledge (
  agency_code        text NOT NULL,
  pledge_id          text NOT NULL,
  locality_code      text NOT NULL,
  category           text NOT NULL,
  funding            text NOT NULL,
  status             text NOT NULL CHECK (status IN ('open', 'complete', 'cancelled')),
  amount_vnd         bigint NOT NULL DEFAULT 0,
  in_kind            text NOT NULL DEFAULT '',
  in_kind_value_vnd  bigint NOT NULL DEFAULT 0,
  target_quantity    bigint NOT NULL DEFAULT 0,
  unit               text NOT NULL DEFAULT '',
  due_date           date,
  pledged_at         timestamptz NOT NULL,
  delivered_vnd      bigint NOT NULL DEFAULT 0,
  delivered_qty      bigint NOT NULL DEFAULT 0,
  deliveries         bigint NOT NULL DEFAULT 0,
  last_delivery_at   timestamptz,
  completed_at       timestamptz,
  cancelled_at       timestamptz,
  revisions          bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (agency_code, pledge_id)
) WITH (fillfactor = 70);
CREATE INDEX pledge_locality ON proj.pledge (locality_code, agency_code);

-- Deliveries that named a pledge not yet seen, waiting for it.
CREATE TABLE proj.parked_delivery (
  event_id         uuid PRIMARY KEY,
  agency_code      text NOT NULL,
  pledge_id        text NOT NULL,
  locality_code    text NOT NULL,
  amount_vnd       bigint NOT NULL,
  quantity         bigint NOT NULL,
  occurred_at      timestamptz NOT NULL,
  kafka_partition  integer NOT NULL,
  kafka_offset     bigint NOT NULL
);
CREATE INDEX parked_delivery_pledge ON proj.parked_delivery (agency_code, pledge_id);

CREATE TABLE proj.source_feed (
  source_system  text PRIMARY KEY,
  agency_code    text NOT NULL,
  last_seen_at   timestamptz NOT NULL,
  events         bigint NOT NULL DEFAULT 0
) WITH (fillfactor = 70);
