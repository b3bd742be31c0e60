-- demo/load_vault.sql: one vault load call (business.load_staged_events), recorded as call :call
-- in demo.vault_loads; prints the events loaded and the hub, link and satellite rows added.
-- psql variables: call, batch_size.
INSERT INTO demo.vault_loads (call_no, result)
SELECT :call, business.load_staged_events(:batch_size)
RETURNING result ->> 'loaded',
          coalesce((result #>> '{rows_added,site_h}')::int, 0) + coalesce((result #>> '{rows_added,page_h}')::int, 0)
              + coalesce((result #>> '{rows_added,session_h}')::int, 0),
          coalesce((result #>> '{rows_added,page_site_l}')::int, 0)
              + coalesce((result #>> '{rows_added,session_site_l}')::int, 0)
              + coalesce((result #>> '{rows_added,tracking_event_l}')::int, 0),
          coalesce((result #>> '{rows_added,page_details_s}')::int, 0)
              + coalesce((result #>> '{rows_added,session_details_s}')::int, 0)
              + coalesce((result #>> '{rows_added,tracking_event_details_s}')::int, 0);
