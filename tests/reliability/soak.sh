#!/usr/bin/env bash
# Concurrency soak: several pgbench clients call api.track_page_view and api.track_custom_event
# for a bounded time with the page views and custom events of the demo's traffic generator
# (demo/traffic.sql: browsers, devices and bots, referrers, campaigns, sessions, properties),
# picked at random and sent from random client IPs, mixed with invalid events, client retries
# (repeated event ids) and a burst from one IP over its rate limit; first with immediate
# processing, then on the fast path (api_processing = auto) with two background workers
# processing and a manual drainer running alongside them; the workers alone finish the backlog. Each script checks its
# answer (an unexpected one aborts the client), and afterwards every call is accounted for once:
#   calls = raw rows + DUPLICATE_EVENT + RATE_LIMITED answers (the limiter's count over the limit),
#   audited attempts = calls - RATE_LIMITED answers + one record per window that crossed the limit,
#   raw rows = staged VALID + INVALID (quarantined), vault events = VALID, all raw rows processed,
#   the rate limiter counted every burst call and let exactly its limit per window through,
# and the server log has no ERROR, FATAL or PANIC line.
# Usage: soak.sh SOCKET_DIR PORT [SECONDS]   (SECONDS split between the two modes; default 20)
set -euo pipefail
DIR=$1 PORT=$2
DURATION=${3:-20}
CLIENTS=${ONEVAULT_SOAK_CLIENTS:-4}
LIMIT=${ONEVAULT_SOAK_RATE_LIMIT:-30}   # the burst IP's limit per minute (the site's setting)
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$REPO/scripts/cluster.sh"
DB=onevault_soak
PHASE=$(((DURATION + 1) / 2))
started=$SECONDS

q() { cluster_psql "$DIR" "$PORT" -d $DB -At "$@"; }
work=$(mktemp -d)
drainer=
trap '[ -z "$drainer" ] || kill "$drainer" 2>/dev/null; rm -rf "$work"' EXIT

cluster_start "$DIR" "$PORT"
cluster_fresh_db "$DIR" "$PORT" $DB
log_offset=$(stat -c %s "$DIR/postgres.log")

# One tenant, site and key per mode.
declare -A KEY
for mode in immediate auto; do
  q -c "INSERT INTO auth.tenant_h (tenant_hk, tenant_bk, record_source)
        VALUES (util.hash_binary('Soak $mode'), 'Soak $mode', 'soak')" \
    -c "SELECT api.register_site(util.hash_binary('Soak $mode'), 'soak-$mode.example', 'Soak',
                                 p_settings := '{\"rate_limit_per_minute\": $LIMIT}')" >/dev/null
  KEY[$mode]=$(q -c "SELECT api.create_api_key(util.hash_binary('Soak $mode'), 'soak-$mode.example', 'soak') ->> 'api_key'")
done

# The traffic: the events of demo/traffic.sql that go to the tracking API from working trackers
# (no broken tracker, no retry), numbered 1..TRAFFIC: 4,000 events of 1,200 visitors over six
# days, about a sixth of them from bots. The clients pick them at random, so an event is sent
# many times: without its event_id, or the repeats would be duplicates.
q -c "CREATE SCHEMA demo" -v seed=42 -v visitors=1200 -v history_hours=142 -v single_events=4000 \
  -v batch_events=0 -f "$REPO/demo/traffic.sql" \
  -c "CREATE TABLE soak_traffic AS
      SELECT row_number() OVER (ORDER BY n) AS e, payload - 'event_id' AS payload, user_agent
        FROM demo.events WHERE endpoint = 'api' AND broken IS NULL AND NOT retry" \
  -c "ALTER TABLE soak_traffic ADD PRIMARY KEY (e)"
TRAFFIC=$(q -c "SELECT count(*) FROM soak_traffic")

# The scripts: each raises (division by zero) when the answer is not what it must be.
cat >"$work/traffic.sql" <<EOF
\set e random(1, $TRAFFIC)
\set a random(0, 255)
\set b random(0, 255)
\set c random(1, 254)
SELECT 1 / coalesce((a ->> 'success')::boolean AND a ->> 'status' = :status::text, false)::int
  FROM soak_traffic AS t,
       demo.track(t.payload, :key::text, :domain::text, t.user_agent,
                  ('10.' || :a::text || '.' || :b::text || '.' || :c::text)::inet) AS a
 WHERE t.e = :e;
EOF
UA="'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0'"
cat >"$work/invalid.sql" <<EOF
\set a random(0, 255)
\set c random(1, 254)
SELECT 1 / coalesce(a ->> 'error_code' = 'INVALID_EVENT' AND a ? 'raw_event_id', false)::int
  FROM api.track_page_view(:key::text, :domain::text, '/bad', $UA,
                           ('192.168.' || :a::text || '.' || :c::text)::inet,
                           p_session_id := 'not a valid session id!') AS a;
EOF
cat >"$work/retry.sql" <<EOF
\set e random(1, 300)
\set c random(1, 254)
SELECT 1 / coalesce((a ->> 'success')::boolean OR a ->> 'error_code' = 'DUPLICATE_EVENT', false)::int
  FROM api.track_page_view(:key::text, :domain::text, '/retry', $UA, ('100.64.0.' || :c::text)::inet,
                           p_page_title := 'Retry', p_event_id := 'retry-' || :e::text) AS a;
EOF
cat >"$work/burst.sql" <<EOF
SELECT 1 / coalesce((a ->> 'success')::boolean OR a ->> 'error_code' = 'RATE_LIMITED', false)::int
  FROM api.track_page_view(:key::text, :domain::text, '/burst', $UA, '203.0.113.99'::inet,
                           p_page_title := 'Burst') AS a;
EOF
SCRIPTS=(traffic invalid retry burst)
WEIGHTS=(8 1 1 1)

# run_phase MODE STATUS: pgbench for $PHASE seconds; per-script transaction counts in $work/MODE.counts.
# One pgbench thread (-j 1): its per-script counters are shared by its threads without a lock, so
# with several threads they lose counts (the server, not the clients, is the bottleneck anyway).
run_phase() {
  local mode=$1 status=$2 args=() i
  for i in "${!SCRIPTS[@]}"; do args+=(-f "$work/${SCRIPTS[$i]}.sql@${WEIGHTS[$i]}"); done
  PGOPTIONS="-c onevault_tracking.api_processing=$mode" \
    "$PG_BIN/pgbench" -h "$DIR" -p "$PORT" -U postgres -n -c "$CLIENTS" -j 1 -T "$PHASE" -M prepared \
    -D key="${KEY[$mode]}" -D domain="soak-$mode.example" -D status="$status" "${args[@]}" $DB \
    >"$work/$mode.pgbench" 2>&1 || { cat "$work/$mode.pgbench"; echo "soak: FAILED: pgbench ($mode) reported errors"; exit 1; }
  grep -q '^number of failed transactions: 0 ' "$work/$mode.pgbench" \
    || { cat "$work/$mode.pgbench"; echo "soak: FAILED: pgbench ($mode) counted failed transactions"; exit 1; }
  awk '/^SQL script/ {name=$4} /^ - [0-9]+ transactions/ {print name, $2}' "$work/$mode.pgbench" \
    | sed "s#$work/##; s#\.sql##" >"$work/$mode.counts"
}

# check MODE: every call accounted for once.
check() {
  local mode=$1 calls invalid_calls retry_calls burst_calls
  calls=$(awk '{s += $2} END {print s}' "$work/$mode.counts")
  invalid_calls=$(awk '$1 == "invalid" {print $2}' "$work/$mode.counts")
  retry_calls=$(awk '$1 == "retry" {print $2}' "$work/$mode.counts")
  burst_calls=$(awk '$1 == "burst" {print $2}' "$work/$mode.counts")
  read -r raw processed valid invalid vault duplicates limited accepted rejected audited retry_rows retry_distinct \
          burst_counted burst_allowed burst_refused burst_crossed <<<"$(q -F ' ' -c "
    WITH t AS (SELECT util.hash_binary('Soak $mode') AS t),
    attempts AS (
      SELECT d.new_data ->> 'outcome' AS outcome, d.new_data ->> 'error_code' AS code
        FROM audit.audit_event_h a JOIN audit.audit_detail_s d USING (audit_event_hk), t
       WHERE a.tenant_hk = t.t AND d.operation = 'TRACKING_ATTEMPT'),
    burst AS (
      SELECT s.request_count FROM auth.ip_tracking_s s JOIN auth.security_tracking_h h USING (security_tracking_hk), t
       WHERE h.tenant_hk = t.t AND s.ip_address = '203.0.113.99')
    SELECT (SELECT count(*) FROM raw.site_tracking_events_r, t WHERE tenant_hk = t.t),
           (SELECT count(*) FROM raw.site_tracking_events_r, t WHERE tenant_hk = t.t AND processing_status = 'PROCESSED'),
           (SELECT count(*) FROM staging.site_tracking_events_s, t WHERE tenant_hk = t.t AND validation_status = 'VALID'),
           (SELECT count(*) FROM staging.site_tracking_events_s, t WHERE tenant_hk = t.t AND validation_status = 'INVALID'),
           (SELECT count(*) FROM business.tracking_event_l, t WHERE tenant_hk = t.t),
           (SELECT count(*) FROM attempts WHERE code = 'DUPLICATE_EVENT'),
           (SELECT count(*) FROM attempts WHERE code = 'RATE_LIMITED'),
           (SELECT count(*) FROM attempts WHERE outcome = 'accepted'),
           (SELECT count(*) FROM attempts WHERE code = 'INVALID_EVENT'),
           (SELECT count(*) FROM attempts),
           (SELECT count(*) FROM raw.site_tracking_events_r, t WHERE tenant_hk = t.t AND client_event_id LIKE 'retry-%'),
           (SELECT count(DISTINCT client_event_id) FROM raw.site_tracking_events_r, t WHERE tenant_hk = t.t AND client_event_id LIKE 'retry-%'),
           (SELECT coalesce(sum(request_count), 0) FROM burst),
           (SELECT coalesce(sum(least(request_count, $LIMIT)), 0) FROM burst),
           (SELECT coalesce(sum(greatest(request_count - $LIMIT, 0)), 0) FROM burst),
           (SELECT count(*) FROM burst WHERE request_count > $LIMIT)")"
  echo "soak $mode: calls=$calls ($(tr '\n' ' ' <"$work/$mode.counts" | sed 's/ $//')) raw=$raw processed=$processed" \
       "valid=$valid quarantined=$invalid vault=$vault accepted=$accepted invalid_event=$rejected duplicate=$duplicates" \
       "rate_limited=$burst_refused (audited: $limited) audited=$audited retry_rows=$retry_rows/$retry_distinct burst_counted=$burst_counted allowed=$burst_allowed"
  [ "$calls" -gt 0 ] && [ "$raw" -eq $((calls - duplicates - burst_refused)) ] \
    && [ "$audited" -eq $((calls - burst_refused + burst_crossed)) ] \
    && [ "$processed" -eq "$raw" ] && [ "$((valid + invalid))" -eq "$raw" ] && [ "$vault" -eq "$valid" ] \
    && [ "$accepted" -eq "$valid" ] && [ "$rejected" -eq "$invalid_calls" ] && [ "$invalid" -eq "$invalid_calls" ] \
    && [ "$retry_rows" -eq "$retry_distinct" ] && [ "$retry_rows" -eq $((retry_calls - duplicates)) ] \
    && [ "$burst_counted" -eq "$burst_calls" ] && [ "$limited" -eq "$burst_crossed" ] \
    || { echo "soak: FAILED: the $mode calls do not add up"; exit 1; }
  # The burst must have reached the limiter, or 0 refused = 0 limited would pass unseen.
  [ "$burst_calls" -gt "$LIMIT" ] && [ "$burst_refused" -gt 0 ] && [ "$limited" -gt 0 ] && [ "$burst_allowed" -ge "$LIMIT" ] \
    || { echo "soak: FAILED: the $mode burst ($burst_calls calls, limit $LIMIT) was never rate limited ($limited)"; exit 1; }
}

# Immediate: raw, staging and vault in each call.
run_phase immediate PROCESSED
check immediate

# The fast path: two background workers process the calls as they land, and a manual drainer
# runs beside them (FOR UPDATE SKIP LOCKED: no event is taken twice) until the calls are done.
q -c "SELECT count(*) FROM onevault_tracking.start_workers(2)" >/dev/null
q -c "CREATE TABLE public.soak_done ()"
q -c "DO \$\$
      DECLARE deadline timestamptz := clock_timestamp() + interval '$((PHASE + 60)) seconds';
      BEGIN
        WHILE clock_timestamp() < deadline AND NOT EXISTS (SELECT FROM public.soak_done) LOOP
          PERFORM staging.process_pending_events(50);
          COMMIT;
          PERFORM pg_sleep(0.2);
        END LOOP;
      END \$\$" >"$work/drainer.out" 2>&1 &
drainer=$!
run_phase auto PENDING
q -c "INSERT INTO public.soak_done DEFAULT VALUES"
wait "$drainer" || { cat "$work/drainer.out"; echo "soak: FAILED: the drainer failed"; exit 1; }
drainer=
# The workers finish the backlog by themselves.
deadline=$((SECONDS + 60))
until [ "$(q -c "SELECT pending_events = 0 FROM onevault_tracking.worker_status LIMIT 1")" = t ]; do
  [ $SECONDS -lt $deadline ] || { echo "soak: FAILED: the workers left events pending for 60 s"; exit 1; }
  sleep 0.2
done
read -r by_workers worker_errors <<<"$(q -F ' ' -c "SELECT sum(events_processed), sum(errors) FROM onevault_tracking.worker_status")"
[ "$by_workers" -gt 0 ] && [ "$worker_errors" -eq 0 ] \
  || { echo "soak: FAILED: the workers processed $by_workers events with $worker_errors failed batches"; exit 1; }
q -c "SELECT onevault_tracking.stop_workers()" >/dev/null
check auto

problems=$(tail -c +"$((log_offset + 1))" "$DIR/postgres.log" | grep -E ' (ERROR|FATAL|PANIC): ' || true)
[ -z "$problems" ] || { echo "$problems" | head -20; echo "soak: FAILED: the server log has errors"; exit 1; }
PGOPTIONS='-c client_min_messages=warning' cluster_psql "$DIR" "$PORT" -d postgres -c "DROP DATABASE $DB"
echo "soak: ok ($CLIENTS clients, 2 x $PHASE s, processed by the workers: $by_workers, $((SECONDS - started)) s)"
