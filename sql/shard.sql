-- What a database needs to be one shard of a scaled-out deployment (README, "Scaling out"): the
-- proxy (proxy/, the onevault_tracking_proxy package) provisions tenants here, gives the shard
-- its own range of event ids, and moves sites between shards with the functions below. All of
-- them are for the administrator (and the proxy's connection role), none for trackers or readers.

-- A tenant of the platform on this shard: its hub row only, which is all the extension needs
-- (api.register_site checks it). The platform's other tenant rows (profile, users, roles) stay
-- in the database where the platform created the tenant. Idempotent; audited when it adds the row.
CREATE FUNCTION onevault_tracking.provision_tenant(p_tenant_hk bytea, p_tenant_bk text)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
AS $provision_tenant$
DECLARE
    added integer;
    audited jsonb;
BEGIN
    IF p_tenant_hk IS NULL OR octet_length(p_tenant_hk) <> 32 THEN
        RAISE EXCEPTION 'p_tenant_hk must be a 32-byte tenant hash key'
            USING ERRCODE = '22023', HINT = 'Pass the tenant_hk of the platform''s auth.tenant_h row.';
    END IF;
    IF p_tenant_bk IS NULL OR btrim(p_tenant_bk) = '' OR length(p_tenant_bk) > 255 THEN
        RAISE EXCEPTION 'p_tenant_bk must be 1 to 255 characters'
            USING ERRCODE = '22023', HINT = 'Pass the tenant_bk of the platform''s auth.tenant_h row.';
    END IF;
    INSERT INTO auth.tenant_h (tenant_hk, tenant_bk, load_date, record_source)
    VALUES (p_tenant_hk, p_tenant_bk, CURRENT_TIMESTAMP, 'onevault_tracking')
    ON CONFLICT (tenant_hk) DO NOTHING;
    GET DIAGNOSTICS added = ROW_COUNT;
    IF added = 1 THEN
        audited := onevault_tracking.log_platform_audit_event(
            'TENANT_PROVISIONED', 'auth.tenant_h', 'tenant:' || encode(p_tenant_hk, 'hex'),
            'onevault_tracking:' || session_user,
            jsonb_build_object('tenant_id', encode(p_tenant_hk, 'hex'), 'tenant_bk', p_tenant_bk));
        IF (audited ->> 'success') IS DISTINCT FROM 'true' THEN
            RAISE EXCEPTION 'util.log_audit_event failed (%): %', audited ->> 'error_code', audited ->> 'error_message'
                USING ERRCODE = '39000', HINT = 'The tenant was not provisioned: it is audited or not done.';
        END IF;
    END IF;
    RETURN jsonb_build_object('success', true, 'tenant_hk', encode(p_tenant_hk, 'hex'), 'created', added = 1);
END
$provision_tenant$;

-- The raw event ids of shard N are N * 2^48 + 1 to (N + 1) * 2^48. An event's vault key is made
-- of its raw id (core/src/vault.rs), so two shards numbering events alike would give a moved
-- site's events the keys of the new shard's own: one range per shard keeps every id, and every
-- event key, unique across the deployment. Shard 0 keeps the range a single node already uses.
-- Refuses when this database already holds ids outside the range (it was another shard).
CREATE FUNCTION onevault_tracking.claim_shard_event_ids(p_shard integer)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
AS $claim_shard_event_ids$
DECLARE
    range_start bigint;
    range_end bigint;
    highest bigint;
    next_id bigint;
BEGIN
    IF p_shard IS NULL OR p_shard < 0 OR p_shard > 32766 THEN
        RAISE EXCEPTION 'p_shard must be 0 to 32766'
            USING ERRCODE = '22023', HINT = 'The shard number is its position in the proxy''s server options (p0, p1, ...).';
    END IF;
    range_start := p_shard::bigint * 281474976710656 + 1;
    range_end := (p_shard::bigint + 1) * 281474976710656;
    SELECT max(raw_event_id) INTO highest FROM raw.site_tracking_events_r;
    IF highest IS NOT NULL AND highest NOT BETWEEN range_start AND range_end THEN
        -- Moved-in events keep their ids: only ids above the range mean another numbering.
        IF highest > range_end THEN
            RAISE EXCEPTION 'this database holds raw event id %, beyond shard %''s range % to %', highest, p_shard, range_start, range_end
                USING ERRCODE = '55000', HINT = 'A database numbered as another shard cannot take this number.';
        END IF;
    END IF;
    -- The next id: the sequence's own when it is in the range already (ids of rolled-back
    -- inserts are never reused), else the first free one of the range.
    SELECT max(raw_event_id) INTO highest FROM raw.site_tracking_events_r
     WHERE raw_event_id BETWEEN range_start AND range_end;
    next_id := coalesce(pg_catalog.pg_sequence_last_value(
                   pg_catalog.pg_get_serial_sequence('raw.site_tracking_events_r', 'raw_event_id')::regclass) + 1, 1);
    IF next_id NOT BETWEEN range_start AND range_end OR next_id <= highest THEN
        next_id := coalesce(highest + 1, range_start);
        EXECUTE format('ALTER TABLE raw.site_tracking_events_r ALTER COLUMN raw_event_id RESTART WITH %s', next_id);
    END IF;
    RETURN jsonb_build_object('success', true, 'shard', p_shard, 'first_id', range_start,
                              'last_id', range_end, 'next_id', next_id);
END
$claim_shard_event_ids$;

-- Moving a site: the proxy's onevault_tracking_proxy.move_site reads batches from the old shard
-- (site_transfer_batch), loads them into the new one (site_transfer_load), compares
-- (site_transfer_counts), then deletes the site from the old shard (delete_site_data).
--
-- A batch is one jsonb object: {"rows": {"<table>": [rows as jsonb], ...}, "next": cursor or
-- null}. Phases, each read with a cursor until "next" is null:
--   site     the site's hub and details, its keys (hubs, details, links): one batch;
--   events   the site's vault events with their details, pages and sessions, by event key;
--   staging  the site's staging rows (quarantined ones included) with their raw rows, by raw id.
-- Rollups are not moved: the new shard rebuilds them from the moved events.
CREATE FUNCTION onevault_tracking.site_transfer_batch(
    p_tenant_hk bytea, p_site_domain text, p_phase text, p_after text DEFAULT NULL, p_limit integer DEFAULT 5000)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
AS $site_transfer_batch$
DECLARE
    domain constant text := coalesce(onevault_tracking.site_domain(p_site_domain), btrim(p_site_domain));
    site bytea;
    batch_rows jsonb;
    next_cursor text;
BEGIN
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 100000 THEN
        RAISE EXCEPTION 'p_limit must be 1 to 100000' USING ERRCODE = '22023', HINT = 'The rows of one batch travel as one jsonb value.';
    END IF;
    SELECT h.site_hk INTO site FROM business.site_h AS h WHERE h.tenant_hk = p_tenant_hk AND h.site_bk = domain;
    IF site IS NULL THEN
        RAISE EXCEPTION 'site "%" of tenant % is not on this shard', domain, encode(p_tenant_hk, 'hex')
            USING ERRCODE = 'P0002', HINT = 'The proxy''s onevault_tracking_proxy.sites says where each site is.';
    END IF;
    CASE p_phase
    WHEN 'site' THEN
        WITH keys AS (SELECT l.* FROM business.site_api_key_l AS l WHERE l.site_hk = site)
        SELECT jsonb_build_object(
                   'business.site_h', (SELECT jsonb_agg(to_jsonb(h)) FROM business.site_h AS h WHERE h.site_hk = site),
                   'business.site_details_s', (SELECT jsonb_agg(to_jsonb(s)) FROM business.site_details_s AS s WHERE s.site_hk = site),
                   'business.api_key_h', (SELECT jsonb_agg(to_jsonb(h)) FROM business.api_key_h AS h
                                           WHERE h.api_key_hk IN (SELECT k.api_key_hk FROM keys AS k)),
                   'business.api_key_details_s', (SELECT jsonb_agg(to_jsonb(s)) FROM business.api_key_details_s AS s
                                                   WHERE s.api_key_hk IN (SELECT k.api_key_hk FROM keys AS k)),
                   'business.site_api_key_l', (SELECT jsonb_agg(to_jsonb(k)) FROM keys AS k))
          INTO batch_rows;
    WHEN 'events' THEN
        WITH events AS MATERIALIZED (
            SELECT l.* FROM business.tracking_event_l AS l
             WHERE l.site_hk = site AND (p_after IS NULL OR l.tracking_event_hk > decode(p_after, 'hex'))
             ORDER BY l.tracking_event_hk
             LIMIT p_limit)
        SELECT jsonb_build_object(
                   'business.page_h', (SELECT jsonb_agg(to_jsonb(h)) FROM business.page_h AS h
                                        WHERE h.page_hk IN (SELECT e.page_hk FROM events AS e)),
                   'business.page_details_s', (SELECT jsonb_agg(to_jsonb(s)) FROM business.page_details_s AS s
                                                WHERE s.page_hk IN (SELECT e.page_hk FROM events AS e)),
                   'business.page_site_l', (SELECT jsonb_agg(to_jsonb(l)) FROM business.page_site_l AS l
                                             WHERE l.site_hk = site AND l.page_hk IN (SELECT e.page_hk FROM events AS e)),
                   'business.session_h', (SELECT jsonb_agg(to_jsonb(h)) FROM business.session_h AS h
                                           WHERE h.session_hk IN (SELECT e.session_hk FROM events AS e)),
                   'business.session_details_s', (SELECT jsonb_agg(to_jsonb(s)) FROM business.session_details_s AS s
                                                   WHERE s.session_hk IN (SELECT e.session_hk FROM events AS e)),
                   'business.session_site_l', (SELECT jsonb_agg(to_jsonb(l)) FROM business.session_site_l AS l
                                                WHERE l.site_hk = site AND l.session_hk IN (SELECT e.session_hk FROM events AS e)),
                   'business.tracking_event_l', (SELECT jsonb_agg(to_jsonb(e)) FROM events AS e),
                   'business.tracking_event_details_s', (SELECT jsonb_agg(to_jsonb(s)) FROM business.tracking_event_details_s AS s
                                                          WHERE s.tracking_event_hk IN (SELECT e.tracking_event_hk FROM events AS e))),
               (SELECT CASE WHEN count(*) = p_limit THEN max(encode(e.tracking_event_hk, 'hex')) END FROM events AS e)
          INTO batch_rows, next_cursor;
    WHEN 'staging' THEN
        WITH staged AS MATERIALIZED (
            SELECT s.* FROM staging.site_tracking_events_s AS s
             WHERE s.tenant_hk = p_tenant_hk AND s.site_domain = domain
               AND (p_after IS NULL OR s.raw_event_id > p_after::bigint)
             ORDER BY s.raw_event_id
             LIMIT p_limit)
        SELECT jsonb_build_object(
                   'raw.site_tracking_events_r', (SELECT jsonb_agg(to_jsonb(r)) FROM raw.site_tracking_events_r AS r
                                                   WHERE r.raw_event_id IN (SELECT s.raw_event_id FROM staged AS s)),
                   'staging.site_tracking_events_s', (SELECT jsonb_agg(to_jsonb(s) - 'staging_event_id') FROM staged AS s)),
               (SELECT CASE WHEN count(*) = p_limit THEN max(s.raw_event_id)::text END FROM staged AS s)
          INTO batch_rows, next_cursor;
    ELSE
        RAISE EXCEPTION 'unknown phase "%"', p_phase
            USING ERRCODE = '22023', HINT = 'The phases are site, events and staging, in that order.';
    END CASE;
    RETURN jsonb_build_object('rows', jsonb_strip_nulls(batch_rows), 'next', next_cursor);
END
$site_transfer_batch$;

-- Loads a batch of site_transfer_batch into this shard. Rows already here stay (hubs, links,
-- raw and staging rows by their keys, so a batch loads twice without harm). Satellite rows
-- merge into the history this shard may have started for the same key meanwhile (a session the
-- site's visitors continued here after the switch): the rows are inserted, then each touched
-- key's rows are end-dated by the next one in time and its latest row is the current one.
CREATE FUNCTION onevault_tracking.site_transfer_load(p_batch jsonb)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
AS $site_transfer_load$
DECLARE
    target record;
    batch_rows jsonb;
    columns text;
    loaded integer;
    answer jsonb := '{}';
BEGIN
    -- Parents before children (the foreign keys), and raw before staging.
    FOR target IN
        SELECT t.name, t.parent
          FROM unnest(ARRAY['business.site_h', 'business.site_details_s', 'business.api_key_h',
                            'business.api_key_details_s', 'business.site_api_key_l', 'business.page_h',
                            'business.page_details_s', 'business.page_site_l', 'business.session_h',
                            'business.session_details_s', 'business.session_site_l',
                            'business.tracking_event_l', 'business.tracking_event_details_s',
                            'raw.site_tracking_events_r', 'staging.site_tracking_events_s'],
                      ARRAY[NULL, 'site_hk', NULL, 'api_key_hk', NULL, NULL, 'page_hk', NULL, NULL,
                            'session_hk', NULL, NULL, 'tracking_event_hk', NULL, NULL])
                   WITH ORDINALITY AS t (name, parent, position)
         ORDER BY t.position
    LOOP
        batch_rows := p_batch -> 'rows' -> target.name;
        CONTINUE WHEN batch_rows IS NULL OR jsonb_array_length(batch_rows) = 0;
        SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO columns
          FROM pg_catalog.pg_attribute AS a
         WHERE a.attrelid = target.name::regclass AND a.attnum > 0 AND NOT a.attisdropped
           AND NOT (target.name = 'staging.site_tracking_events_s' AND a.attname = 'staging_event_id');
        IF target.parent IS NULL THEN
            EXECUTE format('INSERT INTO %s (%s) %s SELECT %s FROM jsonb_populate_recordset(NULL::%s, $1) ON CONFLICT DO NOTHING',
                           target.name, columns,
                           CASE WHEN target.name = 'raw.site_tracking_events_r' THEN 'OVERRIDING SYSTEM VALUE' ELSE '' END,
                           columns, target.name)
              USING batch_rows;
            GET DIAGNOSTICS loaded = ROW_COUNT;
        ELSE
            -- A current row arrives end-dated at infinity (the partial unique index allows one
            -- current row per key); the two updates then set the history straight.
            EXECUTE format('INSERT INTO %1$s (%2$s) SELECT %3$s FROM jsonb_populate_recordset(NULL::%1$s, $1) AS r
                             WHERE NOT EXISTS (SELECT 1 FROM %1$s AS t WHERE t.%4$I = r.%4$I AND t.load_date = r.load_date)',
                           target.name, columns,
                           replace(columns, 'load_end_date', 'coalesce(load_end_date, ''infinity'') AS load_end_date'),
                           target.parent)
              USING batch_rows;
            GET DIAGNOSTICS loaded = ROW_COUNT;
            EXECUTE format('UPDATE %1$s AS t SET load_end_date = n.next_load
                              FROM (SELECT s.%2$I AS parent, s.load_date,
                                           lead(s.load_date) OVER (PARTITION BY s.%2$I ORDER BY s.load_date) AS next_load
                                      FROM %1$s AS s
                                     WHERE s.%2$I IN (SELECT (r ->> %3$L)::bytea FROM jsonb_array_elements($1) AS r)) AS n
                             WHERE t.%2$I = n.parent AND t.load_date = n.load_date
                               AND n.next_load IS NOT NULL AND t.load_end_date IS DISTINCT FROM n.next_load',
                           target.name, target.parent, target.parent)
              USING batch_rows;
            EXECUTE format('UPDATE %1$s AS t SET load_end_date = NULL
                             WHERE t.%2$I IN (SELECT (r ->> %3$L)::bytea FROM jsonb_array_elements($1) AS r)
                               AND t.load_end_date = ''infinity''',
                           target.name, target.parent, target.parent)
              USING batch_rows;
        END IF;
        answer := answer || jsonb_build_object(target.name, loaded);
    END LOOP;
    RETURN answer;
END
$site_transfer_load$;

-- What a shard holds of a site, per table, for the move's verification. Events (vault, details,
-- raw and staging rows) are counted without the ids of p_without_shard's range (the events the
-- new shard stored itself after the switch); pages, sessions and keys as they are.
CREATE FUNCTION onevault_tracking.site_transfer_counts(
    p_tenant_hk bytea, p_site_domain text, p_without_shard integer DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
AS $site_transfer_counts$
DECLARE
    domain constant text := coalesce(onevault_tracking.site_domain(p_site_domain), btrim(p_site_domain));
    site bytea;
    own_first constant bigint := coalesce(p_without_shard::bigint * 281474976710656 + 1, 0);
    own_last constant bigint := coalesce((p_without_shard::bigint + 1) * 281474976710656, -1);
    answer jsonb;
BEGIN
    SELECT h.site_hk INTO site FROM business.site_h AS h WHERE h.tenant_hk = p_tenant_hk AND h.site_bk = domain;
    SELECT jsonb_build_object(
               'sites', count(site),
               'events', (SELECT count(*) FROM business.tracking_event_l AS l
                           WHERE l.site_hk = site
                             AND l.tracking_event_bk::bigint NOT BETWEEN own_first AND own_last),
               'event_details', (SELECT count(*) FROM business.tracking_event_l AS l
                                   JOIN business.tracking_event_details_s AS s USING (tracking_event_hk)
                                  WHERE l.site_hk = site
                                    AND l.tracking_event_bk::bigint NOT BETWEEN own_first AND own_last),
               'staged', (SELECT count(*) FROM staging.site_tracking_events_s AS s
                           WHERE s.tenant_hk = p_tenant_hk AND s.site_domain = domain
                             AND s.raw_event_id NOT BETWEEN own_first AND own_last),
               'raw', (SELECT count(*) FROM raw.site_tracking_events_r AS r
                        WHERE r.raw_event_id IN (SELECT s.raw_event_id FROM staging.site_tracking_events_s AS s
                                                  WHERE s.tenant_hk = p_tenant_hk AND s.site_domain = domain)
                          AND r.raw_event_id NOT BETWEEN own_first AND own_last),
               'pages', (SELECT count(*) FROM business.page_site_l AS l WHERE l.site_hk = site),
               'sessions', (SELECT count(*) FROM business.session_site_l AS l WHERE l.site_hk = site),
               'api_keys', (SELECT count(*) FROM business.site_api_key_l AS l WHERE l.site_hk = site),
               'unprocessed', (SELECT count(*) FROM raw.site_tracking_events_r AS r
                                WHERE r.tenant_hk = p_tenant_hk AND r.processing_status IN ('PENDING', 'ERROR')))
      INTO answer;
    RETURN answer;
END
$site_transfer_counts$;

-- Waits until every client transaction of this database that began before the call has ended
-- (tracking calls the proxy routed here before it switched a site to another shard), at most
-- p_timeout_seconds; then processes what is pending, so the site's last events are in the vault.
-- Answers the events processed; fails with 57014 when older transactions are still running.
CREATE FUNCTION onevault_tracking.settle_before_move(p_timeout_seconds integer DEFAULT 60)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
AS $settle_before_move$
DECLARE
    started constant timestamptz := clock_timestamp();
    step jsonb;
    processed bigint := 0;
BEGIN
    -- pg_stat_activity is read once per transaction unless its snapshot is cleared: each look
    -- clears it (without this, the loop saw the first look's backends for ever).
    LOOP
        PERFORM pg_catalog.pg_stat_clear_snapshot();
        EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity AS a
                               WHERE a.datname = current_database() AND a.backend_type = 'client backend'
                                 AND a.pid <> pg_backend_pid() AND a.xact_start < started);
        IF clock_timestamp() > started + make_interval(secs => p_timeout_seconds) THEN
            RAISE EXCEPTION 'transactions older than the switch are still running after % s', p_timeout_seconds
                USING ERRCODE = '57014',
                      DETAIL = (SELECT string_agg(format('pid %s (%s, since %s, waiting for %s %s, blocked by %s): %s', a.pid, a.state, a.xact_start, a.wait_event_type, a.wait_event, pg_catalog.pg_blocking_pids(a.pid), left(a.query, 200)), '; ')
                                  FROM pg_catalog.pg_stat_activity AS a
                                 WHERE a.datname = current_database() AND a.backend_type = 'client backend'
                                   AND a.pid <> pg_backend_pid() AND a.xact_start < started),
                      HINT = 'Call onevault_tracking_proxy.move_site again: it resumes here.';
        END IF;
        PERFORM pg_catalog.pg_sleep(0.05);
    END LOOP;
    LOOP
        step := onevault_tracking.process_pipeline_step(5000);
        EXIT WHEN (step ->> 'raw_to_staging')::bigint = 0 AND (step ->> 'staging_to_business')::bigint = 0;
        processed := processed + (step ->> 'raw_to_staging')::bigint;
    END LOOP;
    RETURN jsonb_build_object('processed', processed);
END
$settle_before_move$;

-- Removes a site and everything stored of it from this shard, once it lives on another one:
-- rollups, events (vault, staging, raw), sessions and pages only this site uses, keys, details
-- and hub. Audited (SITE_DATA_DELETED, with the counts).
CREATE FUNCTION onevault_tracking.delete_site_data(p_tenant_hk bytea, p_site_domain text)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
AS $delete_site_data$
DECLARE
    domain constant text := coalesce(onevault_tracking.site_domain(p_site_domain), btrim(p_site_domain));
    site bytea;
    counts jsonb := '{}';
    n bigint;
    audited jsonb;
BEGIN
    SELECT h.site_hk INTO site FROM business.site_h AS h WHERE h.tenant_hk = p_tenant_hk AND h.site_bk = domain;
    IF site IS NULL THEN
        RETURN jsonb_build_object('success', true, 'deleted', counts);
    END IF;
    -- The site's loads and rollup closings take this turn (sql/rollups.sql): none runs meanwhile.
    PERFORM pg_catalog.pg_advisory_xact_lock(('x' || encode(substr(site, 1, 8), 'hex'))::bit(64)::bigint # 7016996765293437281);
    DELETE FROM business.site_traffic_rollup AS r WHERE r.tenant_hk = p_tenant_hk AND r.site_hk = site;
    DELETE FROM business.site_traffic_bucket AS b WHERE b.tenant_hk = p_tenant_hk AND b.site_hk = site;
    CREATE TEMPORARY TABLE site_delete_events ON COMMIT DROP AS
        SELECT l.tracking_event_hk, l.page_hk, l.session_hk FROM business.tracking_event_l AS l WHERE l.site_hk = site;
    DELETE FROM business.tracking_event_details_s AS s USING site_delete_events AS e WHERE s.tracking_event_hk = e.tracking_event_hk;
    DELETE FROM business.tracking_event_l AS l USING site_delete_events AS e WHERE l.tracking_event_hk = e.tracking_event_hk;
    GET DIAGNOSTICS n = ROW_COUNT;
    counts := counts || jsonb_build_object('events', n);
    CREATE TEMPORARY TABLE site_delete_staged ON COMMIT DROP AS
        SELECT s.raw_event_id FROM staging.site_tracking_events_s AS s WHERE s.tenant_hk = p_tenant_hk AND s.site_domain = domain;
    DELETE FROM staging.site_tracking_events_s AS s USING site_delete_staged AS d WHERE s.raw_event_id = d.raw_event_id;
    DELETE FROM raw.site_tracking_events_r AS r USING site_delete_staged AS d WHERE r.raw_event_id = d.raw_event_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    counts := counts || jsonb_build_object('raw', n);
    -- Sessions: a client-sent session id may be shared with another site of the tenant.
    DELETE FROM business.session_site_l AS l WHERE l.site_hk = site;
    CREATE TEMPORARY TABLE site_delete_sessions ON COMMIT DROP AS
        SELECT h.session_hk FROM business.session_h AS h
         WHERE h.session_hk IN (SELECT e.session_hk FROM site_delete_events AS e)
           AND NOT EXISTS (SELECT 1 FROM business.session_site_l AS l WHERE l.session_hk = h.session_hk)
           AND NOT EXISTS (SELECT 1 FROM business.tracking_event_l AS l WHERE l.session_hk = h.session_hk);
    DELETE FROM business.session_details_s AS s USING site_delete_sessions AS d WHERE s.session_hk = d.session_hk;
    DELETE FROM business.session_h AS h USING site_delete_sessions AS d WHERE h.session_hk = d.session_hk;
    GET DIAGNOSTICS n = ROW_COUNT;
    counts := counts || jsonb_build_object('sessions', n);
    CREATE TEMPORARY TABLE site_delete_pages ON COMMIT DROP AS
        SELECT l.page_hk FROM business.page_site_l AS l WHERE l.site_hk = site;
    DELETE FROM business.page_site_l AS l WHERE l.site_hk = site;
    DELETE FROM business.page_details_s AS s USING site_delete_pages AS d WHERE s.page_hk = d.page_hk;
    DELETE FROM business.page_h AS h USING site_delete_pages AS d WHERE h.page_hk = d.page_hk;
    GET DIAGNOSTICS n = ROW_COUNT;
    counts := counts || jsonb_build_object('pages', n);
    CREATE TEMPORARY TABLE site_delete_keys ON COMMIT DROP AS
        SELECT l.api_key_hk FROM business.site_api_key_l AS l WHERE l.site_hk = site;
    DELETE FROM business.site_api_key_l AS l WHERE l.site_hk = site;
    DELETE FROM business.api_key_details_s AS s USING site_delete_keys AS d WHERE s.api_key_hk = d.api_key_hk;
    DELETE FROM business.api_key_h AS h USING site_delete_keys AS d WHERE h.api_key_hk = d.api_key_hk;
    GET DIAGNOSTICS n = ROW_COUNT;
    counts := counts || jsonb_build_object('api_keys', n);
    DELETE FROM business.site_details_s AS s WHERE s.site_hk = site;
    DELETE FROM business.site_h AS h WHERE h.site_hk = site;
    audited := onevault_tracking.log_platform_audit_event(
        'SITE_DATA_DELETED', 'business.site_h', 'site:' || encode(site, 'hex') || ':' || txid_current(),
        'onevault_tracking:' || session_user,
        jsonb_build_object('tenant_id', encode(p_tenant_hk, 'hex'), 'site', domain, 'deleted', counts));
    IF (audited ->> 'success') IS DISTINCT FROM 'true' THEN
        RAISE EXCEPTION 'util.log_audit_event failed (%): %', audited ->> 'error_code', audited ->> 'error_message'
            USING ERRCODE = '39000', HINT = 'Nothing was deleted: the deletion is audited or not done.';
    END IF;
    RETURN jsonb_build_object('success', true, 'deleted', counts);
END
$delete_site_data$;
