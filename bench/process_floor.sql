-- I, the floor of processing: only the writes processing must make per event, set-based, in
-- batches of 1000 with a commit each, with no claim, validation, enrichment, session or vault
-- lookup and no native code: mark the raw rows PROCESSED, insert their staging rows (loaded),
-- their event links and their event satellites, copied from the template rows of H
-- (bench/floor.sql must have run). F writes at least this per event (new sessions and pages add
-- more), so I bounds F, and process_floor / copy bounds process_vs_copy.
--
-- Run by bench/run.sh after H, as psql with :n, the number of events. Prints the seconds the
-- batches took (the landing of the raw rows beforehand is not timed).

\set QUIET on
CREATE TABLE bench.floor_ids AS
WITH landed AS (
    INSERT INTO raw.site_tracking_events_r (tenant_hk, api_key_hk, client_ip, user_agent, visitor_hash,
                                            raw_payload, record_source, client_event_id)
    SELECT t.tenant_hk, t.api_key_hk, t.client_ip, t.user_agent, t.visitor_hash, t.raw_payload,
           t.record_source, 'process-floor-' || g
      FROM bench.floor_raw AS t, generate_series(1, :n) AS g
    RETURNING raw_event_id)
SELECT raw_event_id, (row_number() OVER (ORDER BY raw_event_id) - 1) / 1000 AS batch FROM landed;
CREATE INDEX ON bench.floor_ids (batch);
ANALYZE bench.floor_ids;
CHECKPOINT;

SELECT clock_timestamp() AS t0 \gset
DO $floor$
DECLARE
    v_batch bigint;
BEGIN
    FOR v_batch IN SELECT DISTINCT batch FROM bench.floor_ids ORDER BY 1 LOOP
        UPDATE raw.site_tracking_events_r AS r SET processing_status = 'PROCESSED', processed_at = clock_timestamp()
          FROM bench.floor_ids AS i WHERE i.batch = v_batch AND r.raw_event_id = i.raw_event_id;
        INSERT INTO staging.site_tracking_events_s
              (raw_event_id, client_event_id, tenant_hk, validation_status, validation_errors, validation_warnings,
               quality_score, event_type, event_name, event_timestamp, timestamp_from_client, page_url, page_host,
               page_path, page_query, page_title, referrer_url, properties, screen_width, language, timezone,
               referrer_host, channel, utm_source, utm_medium, utm_campaign, utm_term, utm_content, gclid, msclkid,
               fbclid, click_ids, browser_name, browser_version, os_name, os_version, device_type, is_bot,
               client_ip_anonymized, visitor_hash, session_id, session_source, record_source, loaded_to_vault, loaded_at)
        SELECT i.raw_event_id, 'process-floor-' || i.raw_event_id, t.tenant_hk, t.validation_status,
               t.validation_errors, t.validation_warnings, t.quality_score, t.event_type, t.event_name,
               t.event_timestamp, t.timestamp_from_client, t.page_url, t.page_host, t.page_path, t.page_query,
               t.page_title, t.referrer_url, t.properties, t.screen_width, t.language, t.timezone, t.referrer_host,
               t.channel, t.utm_source, t.utm_medium, t.utm_campaign, t.utm_term, t.utm_content, t.gclid, t.msclkid,
               t.fbclid, t.click_ids, t.browser_name, t.browser_version, t.os_name, t.os_version, t.device_type,
               t.is_bot, t.client_ip_anonymized, t.visitor_hash, t.session_id, t.session_source, t.record_source,
               true, clock_timestamp()
          FROM bench.floor_ids AS i, bench.floor_staging AS t WHERE i.batch = v_batch;
        INSERT INTO business.tracking_event_l (tracking_event_hk, tracking_event_bk, site_hk, page_hk, session_hk,
                                               api_key_hk, tenant_hk, record_source)
        SELECT sha256(convert_to('process-floor|' || i.raw_event_id, 'UTF8')), i.raw_event_id::text, t.site_hk,
               t.page_hk, t.session_hk, t.api_key_hk, t.tenant_hk, t.record_source
          FROM bench.floor_ids AS i, bench.floor_link AS t WHERE i.batch = v_batch ORDER BY 1;
        INSERT INTO business.tracking_event_details_s
              (tracking_event_hk, load_date, client_event_id, hash_diff, event_type, event_name, event_timestamp,
               properties, page_query, referrer_host, channel, utm_source, utm_medium, utm_campaign, utm_term,
               utm_content, click_ids, device_type, browser_name, browser_version, os_name, os_version, is_bot,
               visitor_hash, screen_width, language, timezone, tenant_hk, record_source)
        SELECT sha256(convert_to('process-floor|' || i.raw_event_id, 'UTF8')), clock_timestamp(),
               'process-floor-' || i.raw_event_id, t.hash_diff, t.event_type, t.event_name, t.event_timestamp,
               t.properties, t.page_query, t.referrer_host, t.channel, t.utm_source, t.utm_medium, t.utm_campaign,
               t.utm_term, t.utm_content, t.click_ids, t.device_type, t.browser_name, t.browser_version, t.os_name,
               t.os_version, t.is_bot, t.visitor_hash, t.screen_width, t.language, t.timezone, t.tenant_hk,
               t.record_source
          FROM bench.floor_ids AS i, bench.floor_details AS t WHERE i.batch = v_batch;
        COMMIT;
    END LOOP;
END
$floor$;
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS seconds \gset
SELECT bench.assert((SELECT count(*) FROM staging.site_tracking_events_s s JOIN bench.floor_ids USING (raw_event_id)) = :n
                    AND (SELECT count(*) FROM raw.site_tracking_events_r r JOIN bench.floor_ids USING (raw_event_id)
                          WHERE r.processing_status = 'PROCESSED') = :n,
                    'the processing floor did not write every event');
SELECT bench.record('process_floor', 'events/s', :n / :seconds,
                    'I: the writes processing must make per event (bench/process_floor.sql), set-based, batches of 1000',
                    format('%s events in %s s', :n, round(:seconds, 3)));
