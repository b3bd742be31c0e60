-- bench/scaleout_counts.sql: what X's calls left in one database (a shard, or the single node),
-- for run.sh's checks. psql variable sites (from run.sh): the domains whose events this database
-- should hold, an SQL text[] literal (a shard: the sites the proxy placed on it; the single node:
-- all of X's sites). Prints one line of ten counts:
--   1-3  raw rows of those sites' keys; of them, staged VALID and loaded; vault events of the sites
--   4-5  accepted and refused tracking attempts (the database's whole audit)
--   6-7  raw rows still to process (PENDING, or ERROR to retry); failed batches of its workers
--   8-10 sites, raw rows and vault events of any other site: none on a shard (the single node
--        holds the other stages' site, so run.sh does not check them there)
WITH own_sites AS (
    SELECT h.site_hk FROM business.site_h AS h WHERE h.site_bk = ANY (:sites)
), own_keys AS (
    SELECT l.api_key_hk FROM business.site_api_key_l AS l WHERE l.site_hk IN (SELECT site_hk FROM own_sites)
)
SELECT (SELECT count(*) FROM raw.site_tracking_events_r AS r WHERE r.api_key_hk IN (SELECT api_key_hk FROM own_keys)),
       (SELECT count(*) FROM staging.site_tracking_events_s AS s JOIN raw.site_tracking_events_r AS r USING (raw_event_id)
         WHERE s.validation_status = 'VALID' AND s.loaded_to_vault AND r.api_key_hk IN (SELECT api_key_hk FROM own_keys)),
       (SELECT count(*) FROM business.tracking_event_l AS e WHERE e.site_hk IN (SELECT site_hk FROM own_sites)),
       (SELECT count(*) FROM audit.audit_detail_s AS a
         WHERE a.operation = 'TRACKING_ATTEMPT' AND a.new_data ->> 'outcome' = 'accepted'),
       (SELECT count(*) FROM audit.audit_detail_s AS a
         WHERE a.operation = 'TRACKING_ATTEMPT' AND a.new_data ->> 'outcome' <> 'accepted'),
       (SELECT count(*) FROM raw.site_tracking_events_r AS r WHERE r.processing_status IN ('PENDING', 'ERROR')),
       (SELECT coalesce(sum(w.errors), 0) FROM onevault_tracking.worker_status AS w),
       (SELECT count(*) FROM business.site_h AS h WHERE h.site_hk NOT IN (SELECT site_hk FROM own_sites)),
       (SELECT count(*) FROM raw.site_tracking_events_r AS r
         WHERE NOT EXISTS (SELECT FROM own_keys AS k WHERE k.api_key_hk = r.api_key_hk)),
       (SELECT count(*) FROM business.tracking_event_l AS e
         WHERE NOT EXISTS (SELECT FROM own_sites AS o WHERE o.site_hk = e.site_hk));
