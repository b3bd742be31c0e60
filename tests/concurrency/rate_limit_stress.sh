#!/usr/bin/env bash
# Many clients of one IP call api.track_page_view at the same moment with a limit of L per
# minute: exactly L calls may succeed (the counter is one atomic upsert, no check-then-insert).
# Usage: rate_limit_stress.sh SOCKET_DIR PORT   (a cluster where the extension is installed)
set -euo pipefail
DIR=$1 PORT=$2
CALLS=${ONEVAULT_RATE_CALLS:-40}
LIMIT=${ONEVAULT_RATE_LIMIT:-10}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$REPO/scripts/cluster.sh"
DB=onevault_rate

cluster_fresh_db "$DIR" "$PORT" $DB
cluster_psql "$DIR" "$PORT" -d $DB \
  -c "INSERT INTO auth.tenant_h (tenant_hk, tenant_bk, record_source)
      VALUES (util.hash_binary('Rate Corp'), 'Rate Corp', 'stress')" \
  -c "SELECT api.register_site(util.hash_binary('Rate Corp'), 'example.com', 'Example')" >/dev/null
key=$(cluster_psql "$DIR" "$PORT" -d $DB -At -c "
  SELECT api.create_api_key(util.hash_binary('Rate Corp'), 'example.com', 'stress',
                            p_rate_limit_per_minute := $LIMIT) ->> 'api_key'")

# The limit counts per clock minute: start well inside one.
while [ "$(date +%S | sed 's/^0//')" -ge 45 ]; do sleep 1; done
logs=$(mktemp -d)
pids=()
for call in $(seq 1 "$CALLS"); do
  cluster_psql "$DIR" "$PORT" -d $DB -At -c "
    SELECT coalesce(answer ->> 'error_code', 'OK')
      FROM api.track_page_view('$key', 'example.com', '/burst/$call', 'Mozilla/5.0', '203.0.113.50') AS answer" \
    >"$logs/$call.out" 2>"$logs/$call.err" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || true; done

allowed=$(cat "$logs"/*.out | grep -c '^OK$' || true)
limited=$(cat "$logs"/*.out | grep -c '^RATE_LIMITED$' || true)
errors=$(cat "$logs"/*.err | grep -c . || true)
counted=$(cluster_psql "$DIR" "$PORT" -d $DB -At -c "SELECT sum(request_count) FROM auth.ip_tracking_s")
cat "$logs"/*.err | sort | uniq -c | head -5
rm -rf "$logs"
PGOPTIONS='-c client_min_messages=warning' cluster_psql "$DIR" "$PORT" -d postgres -c "DROP DATABASE $DB"

echo "rate limit stress: $CALLS concurrent calls, limit $LIMIT: allowed=$allowed limited=$limited errors=$errors counted=$counted"
[ "$allowed" -eq "$LIMIT" ] && [ "$limited" -eq $((CALLS - LIMIT)) ] && [ "$errors" -eq 0 ] && [ "$counted" -eq "$CALLS" ]
