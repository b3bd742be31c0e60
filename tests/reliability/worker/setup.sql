-- tests/reliability/worker.sh: a tenant, its site and key, and the events the suite sends.
-- Prints the plaintext key.
\set ON_ERROR_STOP 1
INSERT INTO auth.tenant_h (tenant_hk, tenant_bk, record_source)
VALUES (util.hash_binary('Worker Corp'), 'Worker Corp', 'worker-suite');
SELECT api.register_site(util.hash_binary('Worker Corp'), 'worker.example', 'Worker suite',
                         p_settings := '{"rate_limit_per_minute": 100000}') \g /dev/null

-- A batch of n page views for the batch API; every tenth has an invalid session id (quarantined).
CREATE FUNCTION public.worker_batch(prefix text, n int) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_agg(jsonb_build_object(
               'event_type', 'page_view', 'page_url', 'https://worker.example/page-' || (i % 25),
               'session_id', CASE WHEN i % 10 = 0 THEN 'not a valid id!' ELSE prefix || '-' || (i % 7) END,
               'event_id', prefix || '-' || i) ORDER BY i)
      FROM generate_series(1, n) AS i
$$;

SELECT api.create_api_key(util.hash_binary('Worker Corp'), 'worker.example', 'worker suite') ->> 'api_key';
