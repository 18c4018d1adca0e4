-- 041_event_provenance: who sent each event, inside the hash chain (issue
-- 15, DESIGN.md "Gateway, provenance and console"). provenance is
-- 'gateway:<token id>' (posted to the gateway with that token),
-- 'twinctl:<operator>' (twinctl publish) or 'direct' (produced straight to
-- Kafka); signature is the agency's Ed25519 signature of the payload (the
-- event's canonical bytes), checked by the projector against
-- gateway.agency_key and again by twinctl audit verify. Rows logged before
-- this migration keep NULL provenance, and their canonical bytes (version 1)
-- are unchanged, so their chains still verify.

ALTER TABLE audit.event_log
  ADD COLUMN provenance text,
  ADD COLUMN signature bytea,
  ADD CONSTRAINT event_log_provenance CHECK (
    provenance IS NULL OR provenance = 'direct' OR provenance ~ '^(gateway|twinctl):.+$'),
  ADD CONSTRAINT event_log_signature CHECK (
    signature IS NULL OR (provenance IS NOT NULL AND octet_length(signature) = 64));

-- Canonical bytes with provenance; the same encoding as tw_chain_event_prov
-- in services/lib/chain.c: version 1's bytes, then, when provenance is set,
-- "TWP1" | len(provenance) | provenance | len(signature) | signature.
CREATE FUNCTION audit.event_canonical(p_id uuid, p_topic text, p_partition integer,
                                      p_offset bigint, p_payload bytea, p_provenance text,
                                      p_signature bytea)
RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
  SELECT audit.event_canonical(p_id, p_topic, p_partition, p_offset, p_payload)
         || CASE WHEN p_provenance IS NULL THEN ''::bytea
                 ELSE '\x54575031'::bytea
                      || int4send(octet_length(convert_to(p_provenance, 'UTF8')))
                      || convert_to(p_provenance, 'UTF8')
                      || int4send(coalesce(octet_length(p_signature), 0))
                      || coalesce(p_signature, ''::bytea) END $$;
ALTER FUNCTION audit.event_canonical(uuid, text, integer, bigint, bytea, text, bytea)
  OWNER TO twinwatch_owner;

-- where events came from, for the operators' status
CREATE INDEX event_log_provenance ON audit.event_log (provenance) WHERE provenance IS NOT NULL;
