-- name: upsert_transit_consent_request
-- A consent request to a transit State about one licence version. Asked again about the same version, the
-- first request date stays (the silent period runs on); asked about a later version, the request starts
-- afresh. A request without a shipment window keeps the window asked for before (the window is one pair:
-- either end given replaces both). $1 licence_id, $2 transit_state, $3 requested_on, $4 shipment_from, $5 shipment_to, $6 requested_at, $7 requested_by, $8 licence_version
INSERT INTO transit_consent_request (licence_id, transit_state, requested_on, shipment_from, shipment_to, requested_at, requested_by, licence_version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    ON CONFLICT ON CONSTRAINT transit_consent_request_pkey
    DO UPDATE SET shipment_from = CASE WHEN EXCLUDED.shipment_from IS NULL AND EXCLUDED.shipment_to IS NULL
                                       THEN transit_consent_request.shipment_from ELSE EXCLUDED.shipment_from END,
                  shipment_to = CASE WHEN EXCLUDED.shipment_from IS NULL AND EXCLUDED.shipment_to IS NULL
                                     THEN transit_consent_request.shipment_to ELSE EXCLUDED.shipment_to END,
                  requested_on = CASE WHEN EXCLUDED.licence_version > transit_consent_request.licence_version
                                      THEN EXCLUDED.requested_on ELSE transit_consent_request.requested_on END,
                  requested_at = CASE WHEN EXCLUDED.licence_version > transit_consent_request.licence_version
                                      THEN EXCLUDED.requested_at ELSE transit_consent_request.requested_at END,
                  requested_by = CASE WHEN EXCLUDED.licence_version > transit_consent_request.licence_version
                                      THEN EXCLUDED.requested_by ELSE transit_consent_request.requested_by END,
                  licence_version = greatest(EXCLUDED.licence_version, transit_consent_request.licence_version)
RETURNING licence_id, transit_state, requested_on, shipment_from, shipment_to, requested_at, requested_by, licence_version;

-- name: list_transit_consent_requests
-- The consent requests of a licence. $1 licence_id
SELECT licence_id, transit_state, requested_on, shipment_from, shipment_to, requested_at, requested_by, licence_version
  FROM transit_consent_request
 WHERE licence_id = $1
 ORDER BY transit_state;

-- name: insert_transit_consent
-- One decision of a transit State on one licence version. $1 licence_id, $2 transit_state, $3 decision, $4 decided_on, $5 valid_until, $6 reason, $7 source, $8 recorded_at, $9 recorded_by, $10 licence_version, $11 confidentiality (the notice's level; NULL for this registry's own record)
INSERT INTO transit_consent (licence_id, transit_state, decision, decided_on, valid_until, reason, source, recorded_at, recorded_by, licence_version, confidentiality)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
RETURNING transit_consent_id, licence_id, transit_state, decision, decided_on, valid_until, reason, source, recorded_at, recorded_by, licence_version, confidentiality;

-- name: list_latest_transit_consents
-- The decision that counts for each transit State on a licence: on the latest version it answered, the
-- latest recorded (a late answer to an earlier version does not hide one on a later version). $1 licence_id
SELECT DISTINCT ON (transit_state)
       transit_consent_id, licence_id, transit_state, decision, decided_on, valid_until, reason, source, recorded_at, recorded_by, licence_version, confidentiality
  FROM transit_consent
 WHERE licence_id = $1
 ORDER BY transit_state, licence_version DESC, transit_consent_id DESC;

-- name: list_transit_consents
-- Every decision on a licence, a page after an id. $1 licence_id, $2 after transit_consent_id, $3 limit
SELECT transit_consent_id, licence_id, transit_state, decision, decided_on, valid_until, reason, source, recorded_at, recorded_by, licence_version, confidentiality
  FROM transit_consent
 WHERE licence_id = $1 AND transit_consent_id > $2
 ORDER BY transit_consent_id
 LIMIT $3;

-- name: list_undecided_transit_consent_requests
-- Requests of draft, pending or suspended local licences on whose version the transit State has not decided,
-- leaving out the transit States whose silence is never deemed consent: their requests stay undecided for as
-- long as the licence waits, and a batch of them at the head would keep every later one from the timer.
-- $1 limit, $2 transit States that refuse tacit consent
SELECT r.licence_id, r.transit_state, r.requested_on, r.shipment_from, r.shipment_to, r.requested_at, r.requested_by,
       r.licence_version
  FROM transit_consent_request r
  JOIN licence l ON l.licence_id = r.licence_id
 WHERE l.status IN ('draft', 'pending', 'suspended') AND l.origin = 'local'
   AND r.transit_state = ANY(l.transit_states)
   AND r.transit_state <> ALL($2::text[])
   AND NOT EXISTS (SELECT 1 FROM transit_consent c
                    WHERE c.licence_id = r.licence_id AND c.transit_state = r.transit_state
                      AND c.licence_version >= r.licence_version)
 ORDER BY r.requested_on, r.licence_id, r.transit_state
 LIMIT $1;
