#!/usr/bin/env bash
# Many sessions at once ingest, process and load events for the same new page and session.
# Passes when no session saw an error (no unique violation, no deadlock) and the vault holds
# exactly one hub and one link row for the page and the session, and every event once.
# Usage: vault_stress.sh SOCKET_DIR PORT   (a cluster with the core replica loaded)
set -euo pipefail
DIR=$1 PORT=$2
CLIENTS=${ONEVAULT_STRESS_CLIENTS:-8}
ROUNDS=${ONEVAULT_STRESS_ROUNDS:-5}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$REPO/scripts/cluster.sh"
DB=onevault_stress

cluster_fresh_db "$DIR" "$PORT" $DB
cluster_psql "$DIR" "$PORT" -d $DB \
  -c "INSERT INTO auth.tenant_h (tenant_hk, tenant_bk, record_source)
      VALUES (util.hash_binary('Stress Corp'), 'Stress Corp', 'stress')"

# Every round, all clients start together on a page and session nobody has loaded yet.
logs=$(mktemp -d)
for round in $(seq 1 "$ROUNDS"); do
  pids=()
  for client in $(seq 1 "$CLIENTS"); do
    cluster_psql "$DIR" "$PORT" -d $DB -At -c "
      SELECT onevault_tracking.process_event(raw.ingest_tracking_event(
        util.hash_binary('Stress Corp'), NULL, '198.51.100.$client', 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0',
        jsonb_build_object('event_type', 'page_view', 'page_url', 'https://example.com/round-$round',
                           'page_title', 'Round $round', 'session_id', 'session-$round')))
        ->> 'loaded_to_vault'" >"$logs/$round-$client.out" 2>"$logs/$round-$client.err" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || true; done
done

errors=$(cat "$logs"/*.err | grep -c . || true)
not_loaded=$(cat "$logs"/*.out | grep -vc '^true$' || true)
read -r pages page_links sessions session_links events current <<<"$(cluster_psql "$DIR" "$PORT" -d $DB -At -F ' ' -c "
  SELECT (SELECT count(*) FROM business.page_h), (SELECT count(*) FROM business.page_site_l),
         (SELECT count(*) FROM business.session_h), (SELECT count(*) FROM business.session_site_l),
         (SELECT count(*) FROM business.tracking_event_l),
         (SELECT count(*) FROM business.page_details_s WHERE load_end_date IS NULL)")"
cat "$logs"/*.err | sort | uniq -c | head -5
rm -rf "$logs"
PGOPTIONS='-c client_min_messages=warning' cluster_psql "$DIR" "$PORT" -d postgres -c "DROP DATABASE $DB"

expected=$((CLIENTS * ROUNDS))
echo "vault stress: $CLIENTS clients x $ROUNDS rounds: errors=$errors not_loaded=$not_loaded pages=$pages/$ROUNDS page_links=$page_links sessions=$sessions session_links=$session_links events=$events/$expected current_page_details=$current"
[ "$errors" -eq 0 ] && [ "$not_loaded" -eq 0 ] && [ "$pages" -eq "$ROUNDS" ] && [ "$page_links" -eq "$ROUNDS" ] \
  && [ "$sessions" -eq "$ROUNDS" ] && [ "$session_links" -eq "$ROUNDS" ] && [ "$events" -eq "$expected" ] \
  && [ "$current" -eq "$ROUNDS" ]
