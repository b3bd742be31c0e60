#!/usr/bin/env bash
# Scale-out (README, "Scaling out"): a proxy database and three shard databases, four PostgreSQL
# 15 clusters on this machine (unix sockets only), the proxy package on the proxy and the
# extension on every shard. Sites are registered and tracked through the proxy, then checked:
# every site and event on exactly its shard, reports through the proxy equal to the shard's own,
# tenant-wide statistics equal to the sum of the shards', a stopped shard failing only its sites,
# and a site moved between shards while it is tracked keeping every event.
# Prints "ok - ..." / "not ok - ..." per check and a summary line of per-shard counts.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$REPO/tests/scaleout
source "$REPO/scripts/cluster.sh"
if [ "$ONEVAULT_PG" != 15 ]; then
  echo "scale-out: PL/Proxy can be installed for PostgreSQL 15 only on this machine"
  exit "$SKIPPED"
fi

BASE=${ONEVAULT_SCALEOUT_DIR:-/tmp/onevault_tracking_scaleout}
PROXY_PORT=${ONEVAULT_SCALEOUT_PORT:-5660}
SHARDS=(0 1 2)
shard_dir() { echo "$BASE/shard$1"; }
shard_port() { echo $((PROXY_PORT + 1 + $1)); }
shard_conn() { echo "host=$(shard_dir "$1") port=$(shard_port "$1") dbname=onevault user=postgres"; }
proxy() { cluster_psql "$BASE/proxy" "$PROXY_PORT" -d proxy -At "$@"; }
shard() { local n=$1; shift; cluster_psql "$(shard_dir "$n")" "$(shard_port "$n")" -d onevault -At "$@"; }

tenant_of() { awk -F, -v d="$1" '$1 == d { print $4 }' "$BASE/sites.csv"; }
failures=0
# check DESCRIPTION ACTUAL EXPECTED
check() {
  if [ "$2" = "$3" ]; then
    echo "ok - $1"
  else
    printf 'not ok - %s\n#   expected: %s\n#   actual:   %s\n' "$1" "$3" "$2"
    failures=$((failures + 1))
  fi
}
stop_all() {
  for n in "${SHARDS[@]}"; do cluster_stop "$(shard_dir "$n")"; done
  cluster_stop "$BASE/proxy"
}
trap stop_all EXIT

# The clusters, the shards' databases (core replica and extension) and the proxy.
rm -rf "$BASE" && mkdir -p "$BASE" && chmod 755 "$BASE"
for n in "${SHARDS[@]}"; do
  cluster_start "$(shard_dir "$n")" "$(shard_port "$n")"
  cluster_fresh_db "$(shard_dir "$n")" "$(shard_port "$n")" onevault
done
cluster_start "$BASE/proxy" "$PROXY_PORT"
cluster_psql "$BASE/proxy" "$PROXY_PORT" -d postgres -c "CREATE DATABASE proxy"
proxy -v s0="$(shard_conn 0)" -v s1="$(shard_conn 1)" -v s2="$(shard_conn 2)" -f "$HERE/setup_proxy.sql" >"$BASE/setup.out"
check "shard 1 numbers its events from 2^48 + 1" "$(sed -n 1p "$BASE/setup.out")" 281474976710657
check "a third shard is appended to the cluster" "$(sed -n 2p "$BASE/setup.out")" 3

# Sites and keys through the proxy.
proxy -f "$HERE/register.sql" >"$BASE/sites.csv"
check "nine sites registered with a key each" "$(grep -c ',ovt_' "$BASE/sites.csv")" 9
for n in "${SHARDS[@]}"; do
  placed=$(awk -F, -v n="$n" '$2 == n { print $1 }' "$BASE/sites.csv" | paste -sd' ')
  [ -n "$placed" ] || placed="(none)"
  check "shard $n holds exactly the sites placed on it ($placed)" \
    "$(shard "$n" -c "SELECT coalesce(string_agg(site_bk, ' ' ORDER BY site_bk), '(none)') FROM business.site_h")" "$placed"
done
check "the proxy maps allowed and www. domains to their site" \
  "$(proxy -c "SELECT string_agg(domain || '>' || site_domain, ' ' ORDER BY domain) FROM onevault_tracking_proxy.domains WHERE domain <> site_domain")" \
  "alpha-shop.example>alpha.example charlie-blog.example>charlie.example"

# Bad input through the proxy: clear errors with SQLSTATEs, nothing placed.
sqlstate_of() { proxy -v VERBOSITY=verbose -c "$1" 2>&1 | sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\):.*/\1/p' | head -1; }
check "a site of a tenant the proxy does not know is refused (23503)" \
  "$(sqlstate_of "SELECT api.register_site(sha256('nobody'), 'nobody.example', 'Nobody')")" 23503
check "a key for a site that is not placed is refused (P0002)" \
  "$(sqlstate_of "SELECT api.create_api_key(sha256(convert_to('Scale Corp', 'UTF8')), 'unplaced.example', 'k')")" P0002
check "revoking a key the proxy did not create is refused (P0002)" \
  "$(sqlstate_of "SELECT api.revoke_api_key(sha256(convert_to('Scale Corp', 'UTF8')), 'ovt_00000000')")" P0002
check "a domain the shard refuses is refused with the shard's error (22023)" \
  "$(sqlstate_of "SELECT api.register_site(sha256(convert_to('Scale Corp', 'UTF8')), 'not a domain', 'Bad')")" 22023
check "moving a site to a shard that does not exist is refused (22023)" \
  "$(sqlstate_of "CALL onevault_tracking_proxy.move_site(sha256(convert_to('Scale Corp', 'UTF8')), 'alpha.example', 7)")" 22023
check "an administrator role cannot move sites or add shards: that is the owner's (42501)" \
  "$(sqlstate_of "SET ROLE onevault_tracking_admin; CALL onevault_tracking_proxy.move_site(sha256(convert_to('Scale Corp', 'UTF8')), 'alpha.example', 0)") $(sqlstate_of "SET ROLE onevault_tracking_admin; SELECT onevault_tracking_proxy.add_shards('{x}')")" \
  "42501 42501"
check "adding no shard is refused (22023)" "$(sqlstate_of "SELECT onevault_tracking_proxy.add_shards('{}')")" 22023
check "nothing was placed by the refused calls" \
  "$(proxy -c "SELECT count(*) FROM onevault_tracking_proxy.sites") $(proxy -c "SELECT count(*) FROM onevault_tracking_proxy.api_keys")" "9 9"

# Tracking through the proxy, then every shard processes what it received.
proxy -v sites="$BASE/sites.csv" -f "$HERE/track.sql" >"$BASE/expected.csv"
check "every tracking call through the proxy was accepted" "$(awk -F, '{ s += $3 } END { print s + 0 }' "$BASE/expected.csv")" 0
for n in "${SHARDS[@]}"; do shard "$n" -f "$HERE/shard_events.sql"; done | sort >"$BASE/stored.csv"
check "every event is stored on its site's shard and nowhere else" \
  "$(cat "$BASE/stored.csv")" "$(cut -d, -f1,2 "$BASE/expected.csv" | sort)"

# Audit records and rate limits live with the data: each shard audited the calls of its own
# sites' keys, and only those, and counted their clients.
for n in "${SHARDS[@]}"; do
  check "shard $n audited the tracking calls of its own sites' keys and no other" \
    "$(shard "$n" -c "SELECT coalesce(string_agg(DISTINCT d.new_data ->> 'api_key_prefix', ' ' ORDER BY d.new_data ->> 'api_key_prefix'), '(none)')
                        FROM audit.audit_detail_s AS d
                       WHERE d.operation = 'TRACKING_ATTEMPT' AND d.new_data ->> 'api_key_prefix' IS NOT NULL")" \
    "$(awk -F, -v n="$n" '$2 == n { print substr($3, 1, 12) }' "$BASE/sites.csv" | sort | paste -sd' ')"
  check "shard $n counted its clients for rate limiting" \
    "$(shard "$n" -c "SELECT count(*) > 0 FROM auth.ip_tracking_s")" t
done

# Reports through the proxy equal the shard's own, site by site.
from=$(date -u -d '-1 day' '+%Y-%m-%d %H:00:00+00')
to=$(date -u -d '+2 hours' '+%Y-%m-%d %H:00:00+00')
same=0
while IFS=, read -r domain site_shard _ tenant; do
  through_proxy=$(proxy -v tenant="$tenant" -v domain="$domain" -v from="$from" -v to="$to" -f "$HERE/reports.sql")
  on_shard=$(shard "$site_shard" -v tenant="$tenant" -v domain="$domain" -v from="$from" -v to="$to" -f "$HERE/reports.sql")
  [ "$through_proxy" = "$on_shard" ] && [ -n "$through_proxy" ] && same=$((same + 1))
done <"$BASE/sites.csv"
check "stats, breakdowns, filtered breakdown, hourly series and CSV export through the proxy equal the shard's, for every site" "$same" 9
tenant_sites() { # the tenant-wide report of Scale Corp, one line per site
  echo "SET onevault_tracking.tenant_id = '$(tenant_of alpha.example)';
        SELECT concat_ws(' ', site_domain, visitors, visits, pageviews, events, bounces, duration_seconds)
          FROM api.tenant_site_stats('$from', '$to')"
}
check "the tenant-wide report through the proxy (RUN ON ALL) is the union of the shards' rows" \
  "$(proxy -c "$(tenant_sites)")" "$(for n in "${SHARDS[@]}"; do shard "$n" -c "$(tenant_sites)"; done | sort)"
check "the tenant-wide report counts every page view of the tenant's six sites" \
  "$(proxy -c "$(tenant_sites)" | awk '{ s++; p += $4 } END { print s, (p > 0) }')" "6 1"
tenant_totals() { # the tenant-wide ingestion statistics of Scale Corp: total and processed events
  echo "SELECT coalesce(sum(total_events), 0) || ' ' || coalesce(sum(processed_events), 0)
          FROM raw.get_ingestion_stats(sha256(convert_to('Scale Corp', 'UTF8')))"
}
sum_of_shards=$(for n in "${SHARDS[@]}"; do shard "$n" -c "$(tenant_totals)"; done \
  | awk '{ t += $1; p += $2 } END { print t " " p }')
check "tenant-wide ingestion statistics through the proxy (RUN ON ALL) equal the shards' sum" \
  "$(proxy -c "$(tenant_totals)")" "$sum_of_shards"

# A stopped shard fails its own sites only.
read -r down_site down_key < <(awk -F, '$2 == 2 { print $1, $3; exit }' "$BASE/sites.csv")
read -r up_site up_key < <(awk -F, '$2 == 0 { print $1, $3; exit }' "$BASE/sites.csv")
track_once() { proxy -c "SELECT api.track_page_view('$1', '$2', '/while-shard-2-is-down', 'Mozilla/5.0 Firefox/120.0', '198.51.100.99') ->> '$3'"; }
cluster_stop "$(shard_dir 2)"
check "with shard 2 stopped, a page view of its site $down_site answers SHARD_UNAVAILABLE" \
  "$(track_once "$down_key" "$down_site" error_code)" SHARD_UNAVAILABLE
check "with shard 2 stopped, a page view of $up_site on shard 0 is accepted" "$(track_once "$up_key" "$up_site" success)" true
check "with shard 2 stopped, a report of $down_site fails with SQLSTATE 08006 naming the shard" \
  "$(PGOPTIONS="-c onevault_tracking.tenant_id=$(tenant_of "$down_site")" proxy -v VERBOSITY=verbose \
       -c "SELECT api.site_stats('$down_site', now() - interval '1 day', now())" 2>&1 | grep -o '08006: shard 2 cannot be reached' || true)" \
  "08006: shard 2 cannot be reached"
check "with shard 2 stopped, a report of $up_site answers" \
  "$(PGOPTIONS="-c onevault_tracking.tenant_id=$(tenant_of "$up_site")" proxy \
       -c "SELECT api.site_stats('$up_site', now() - interval '1 day', now()) ->> 'pageviews' > '0'")" t
cluster_start "$(shard_dir 2)" "$(shard_port 2)"
check "shard 2 back: its site is tracked again" "$(track_once "$down_key" "$down_site" success)" true

# Moving a site from shard 0 to shard 1 while it is tracked.
read -r moving_site moving_key moving_tenant < <(awk -F, '$2 == 0 { print $1, $3, $4; exit }' "$BASE/sites.csv")
before=$(shard 0 -f "$HERE/shard_events.sql" | awk -F, -v d="$moving_site" '$1 == d { print $2 }')
proxy -v key="$moving_key" -v domain="$moving_site" -f "$HERE/move_traffic.sql" >"$BASE/move_traffic.out" &
traffic=$!
sleep 1
proxy -c "CALL onevault_tracking_proxy.move_site('\\x$moving_tenant', '$moving_site', 1, 100)" >"$BASE/move.out"
wait "$traffic"
IFS='|' read -r accepted sent <"$BASE/move_traffic.out"
check "every page view sent while $moving_site moved was accepted" "$accepted" "$sent"
check "the move verified, then deleted the site's events from shard 0" \
  "$(echo "SELECT (r ->> 'moved') || ' ' || ((r -> 'deleted' ->> 'events')::bigint >= $before) FROM (SELECT :'report'::jsonb AS r) AS m" \
     | proxy -v report="$(cat "$BASE/move.out")")" "true true"
check "the proxy places $moving_site on shard 1, the move finished" \
  "$(proxy -c "SELECT shard || ' ' || (moving_to IS NULL) FROM onevault_tracking_proxy.sites WHERE site_domain = '$moving_site'")" "1 true"
check "shard 0 holds nothing of $moving_site any more" \
  "$(shard 0 -c "SELECT count(*) FROM business.site_h WHERE site_bk = '$moving_site'") $(shard 0 -f "$HERE/shard_events.sql" | grep -c "^$moving_site," || true)" "0 0"
check "shard 1 holds every event of $moving_site: the $before before the move and the $accepted sent during it" \
  "$(shard 1 -f "$HERE/shard_events.sql" | awk -F, -v d="$moving_site" '$1 == d { print $2 }')" "$((before + accepted))"
check "reports of the moved site through the proxy equal shard 1's own" \
  "$(proxy -v tenant="$moving_tenant" -v domain="$moving_site" -v from="$from" -v to="$to" -f "$HERE/reports.sql")" \
  "$(shard 1 -v tenant="$moving_tenant" -v domain="$moving_site" -v from="$from" -v to="$to" -f "$HERE/reports.sql")"

# A backup of the proxy restores with its placement and routes as before.
"$PG_BIN/pg_dump" -h "$BASE/proxy" -p "$PROXY_PORT" -U postgres -Fc -f "$BASE/proxy.dump" proxy
cluster_psql "$BASE/proxy" "$PROXY_PORT" -d postgres -c "CREATE DATABASE proxy_restored"
"$PG_BIN/pg_restore" -h "$BASE/proxy" -p "$PROXY_PORT" -U postgres --exit-on-error -d proxy_restored "$BASE/proxy.dump"
placement="SELECT string_agg(concat_ws(' ', site_domain, shard, moving_to, allowed_domains, api_keys), '; ' ORDER BY site_domain)
             FROM onevault_tracking_proxy.placement_overview"
check "a pg_dump backup of the proxy restores with every site's placement, domains and keys" \
  "$(cluster_psql "$BASE/proxy" "$PROXY_PORT" -d proxy_restored -At -c "$placement")" "$(proxy -c "$placement")"
check "the restored proxy routes a page view of $moving_site to shard 1" \
  "$(cluster_psql "$BASE/proxy" "$PROXY_PORT" -d proxy_restored -At -c "SELECT api.track_page_view('$moving_key', '$moving_site', '/restored', 'Mozilla/5.0 Firefox/120.0', '198.51.100.98') ->> 'success'") $(shard 1 -c "SELECT count(*) FROM raw.site_tracking_events_r WHERE raw_payload ->> 'page_url' LIKE '%/restored'")" \
  "true 1"

summary=()
for n in "${SHARDS[@]}"; do
  summary+=("shard $n: $(shard "$n" -c "SELECT (SELECT count(*) FROM business.site_h) || ' sites, ' || (SELECT count(*) FROM business.tracking_event_l) || ' events'")")
done
echo "scale-out summary: $(IFS=';'; echo "${summary[*]}" | sed 's/;/; /g')"
[ "$failures" -eq 0 ]
