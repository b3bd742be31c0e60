-- tests/reliability/worker.sh: whether every raw event of the suite's tenant was processed exactly
-- once: PROCESSED, one staging row each (VALID or INVALID), one vault event per VALID one with
-- one satellite row, nothing half-written. Prints the counts and t or f.
SELECT format('raw=%s processed=%s staged=%s valid=%s invalid=%s vault=%s', raw, processed, staged, valid, invalid, vault),
       raw > 0 AND processed = raw AND staged = raw AND staged_distinct = raw AND valid + invalid = raw
           AND vault = valid AND vault_distinct = valid AND satellites_off = 0
  FROM (SELECT (SELECT count(*) FROM raw.site_tracking_events_r WHERE tenant_hk = t) AS raw,
               (SELECT count(*) FROM raw.site_tracking_events_r WHERE tenant_hk = t AND processing_status = 'PROCESSED') AS processed,
               (SELECT count(*) FROM staging.site_tracking_events_s WHERE tenant_hk = t) AS staged,
               (SELECT count(DISTINCT raw_event_id) FROM staging.site_tracking_events_s WHERE tenant_hk = t) AS staged_distinct,
               (SELECT count(*) FROM staging.site_tracking_events_s WHERE tenant_hk = t AND validation_status = 'VALID' AND loaded_to_vault) AS valid,
               (SELECT count(*) FROM staging.site_tracking_events_s WHERE tenant_hk = t AND validation_status = 'INVALID') AS invalid,
               (SELECT count(*) FROM business.tracking_event_l WHERE tenant_hk = t) AS vault,
               (SELECT count(DISTINCT tracking_event_bk) FROM business.tracking_event_l WHERE tenant_hk = t) AS vault_distinct,
               (SELECT count(*) FROM business.tracking_event_l l
                 WHERE l.tenant_hk = t
                   AND (SELECT count(*) FROM business.tracking_event_details_s d
                         WHERE d.tracking_event_hk = l.tracking_event_hk) <> 1) AS satellites_off
          FROM util.hash_binary('Worker Corp') AS t) AS c;
