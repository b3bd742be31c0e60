-- demo/senders.sql: how scripts/demo.sh sends the traffic of demo/traffic.sql (which must have
-- run), and the tables it records the answers and timings in. psql variable: single_events (as
-- for demo/traffic.sql; the batches take the 1740 events after them). Prints what will be sent.

-- Three batches, as the edge collector relays its visitors' events (one client address and
-- user agent per call, its own): 1000 new events (the most one call takes); then a retry of the
-- last 100 of them with 500 new ones and 2 repeated inside the batch; then 240 new events mixed
-- with 6 bad items.
CREATE TABLE demo.batches (batch_no integer PRIMARY KEY, story text, client_ip inet, user_agent text, events jsonb);
INSERT INTO demo.batches
SELECT 1, '1000 new events', '198.51.100.10', 'example-edge-collector/2.3 (+https://example.com/collector)',
       jsonb_agg(payload ORDER BY n)
  FROM demo.events WHERE n BETWEEN :single_events + 1 AND :single_events + 1000;
INSERT INTO demo.batches
SELECT 2, 'retry: last 100 of batch 1, 500 new, 2 repeats', '198.51.100.10',
       'example-edge-collector/2.3 (+https://example.com/collector)', jsonb_agg(payload ORDER BY ord)
  FROM (SELECT payload, n AS ord FROM demo.events
         WHERE n BETWEEN :single_events + 901 AND :single_events + 1500
        UNION ALL
        SELECT payload, 1000000 + n FROM demo.events
         WHERE n IN (:single_events + 1001, :single_events + 1002)) AS items;
INSERT INTO demo.batches
SELECT 3, '240 new events and 6 bad items', '198.51.100.10',
       'example-edge-collector/2.3 (+https://example.com/collector)', jsonb_agg(payload ORDER BY ord)
  FROM (SELECT payload, n::numeric AS ord FROM demo.events WHERE n > :single_events + 1500
        UNION ALL
        SELECT bad.payload, :single_events + 1500 + bad.pos + 0.5
          FROM (VALUES (0, jsonb '{}'),
                       (40, jsonb '42'),
                       (80, jsonb '"page_view"'),
                       (120, jsonb 'null'),
                       (160, jsonb '[{"event_type": "page_view", "page_path": "/"}]'),
                       (200, jsonb_build_object('event_type', 'custom', 'event_name', 'debug_dump',
                                                'event_id', 'evt-oversize',
                                                'properties', jsonb_build_object('dump', repeat('A', 70000)))))
               AS bad (pos, payload)) AS items;


CREATE TABLE demo.batch_results (batch_no integer PRIMARY KEY, milliseconds integer, result jsonb);
CREATE TABLE demo.processing_calls (call_no integer PRIMARY KEY, milliseconds integer, result jsonb);
CREATE TABLE demo.vault_loads (call_no integer PRIMARY KEY, milliseconds integer, result jsonb);
CREATE TABLE demo.timings (step text PRIMARY KEY, events integer, milliseconds integer);
CREATE TABLE demo.raw_sends (n integer PRIMARY KEY, raw_event_id bigint NOT NULL);

-- Sends single event n as the site's tracking endpoint would: through the tracking API with the
-- key in the session setting demo.api_key, or (endpoint 'raw') through raw.ingest_tracking_event
-- for the tenant in demo.tenant_bk. The caller runs each call on its own (autocommit): one call,
-- one transaction; the answer is recorded in the same transaction, with what the demo expects.
CREATE FUNCTION demo.send_single(p_n integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    e demo.events;
BEGIN
    SELECT * INTO STRICT e FROM demo.events WHERE n = p_n AND channel = 'single';
    IF e.endpoint = 'raw' THEN
        INSERT INTO demo.raw_sends (n, raw_event_id)
        VALUES (p_n, raw.ingest_tracking_event(util.hash_binary(current_setting('demo.tenant_bk')), NULL,
                                               e.client_ip, e.user_agent, e.payload));
        RETURN;
    END IF;
    INSERT INTO demo.api_calls (story, n, client_ip, expected, answer)
    VALUES ('browser traffic', p_n, e.client_ip,
            CASE WHEN e.retry THEN 'DUPLICATE_EVENT' WHEN e.broken IS NOT NULL THEN 'INVALID_EVENT' ELSE 'success' END,
            demo.track(e.payload, current_setting('demo.api_key'), 'example.com', e.user_agent, e.client_ip));
END
$$;

-- Call seq of the rate-limit burst: a headless scraper fetching the site's pages in turn, as
-- fast as it can, from one address; calls over the rate limit are expected to be refused.
CREATE FUNCTION demo.send_burst(p_seq integer, p_ip inet, p_limit integer) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO demo.api_calls (story, seq, client_ip, expected, answer)
    SELECT 'rate-limit burst', p_seq, p_ip, CASE WHEN p_seq <= p_limit THEN 'success' ELSE 'RATE_LIMITED' END,
           api.track_page_view(current_setting('demo.api_key'), 'example.com', p.path, d.user_agent, p_ip,
                               p_page_title => p.title)
      FROM demo.pages AS p, demo.devices AS d
     WHERE p.page = 1 + (p_seq - 1) % 12 AND d.device = 16
$$;

SELECT count(*) FILTER (WHERE channel = 'single') AS single_sends,
       count(*) FILTER (WHERE channel = 'single' AND retry) AS of_which_retries,
       count(*) FILTER (WHERE endpoint = 'raw') AS via_raw_endpoint,
       (SELECT sum(jsonb_array_length(events)) FROM demo.batches) AS batch_items,
       count(DISTINCT visitor) AS visitors,
       count(DISTINCT visit) AS visits,
       count(*) FILTER (WHERE broken IS NOT NULL AND NOT retry) AS from_broken_trackers,
       date_trunc('minute', now() - min(at)) AS oldest_event_age,
       date_trunc('minute', now() - max(at)) AS newest_event_age
  FROM demo.events;
