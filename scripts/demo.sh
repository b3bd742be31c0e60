#!/usr/bin/env bash
# onevault_tracking demo: builds and installs the extension, starts a private PostgreSQL 15
# cluster (unix socket only), loads the One Vault core replica, registers the site example.com
# with an API key, and replays six days of realistic traffic: about 4,300 visitors (browsers,
# devices and a few percent bots; search, social and other referrers; newsletter, ads and social
# campaigns; signups, downloads and other custom events with properties) send 20,400 events one
# call each, over 20,000 of them through the tracking API (api.track_page_view /
# api.track_custom_event: key check, rate limit, landing and audit in the call, on the fast path),
# the rest from old snippets to the raw endpoint; an edge collector relays 1,740 more in batches
# through the raw bulk path. With retries, events from broken trackers (quarantined), calls with
# wrong, misused and revoked keys and a rate-limit burst. Two background workers process
# everything into staging and the business vault as it lands; the demo then shows that a manual
# drain and the vault loader find nothing left, and reports: the site's statistics from the
# reports (api.site_stats, api.site_breakdown, api.site_timeseries, read by a reader role under
# row-level security), what was quarantined and why, what was rate limited, audit records and
# throughput. The cluster keeps running. The SQL of every step is in demo/ (demo/traffic.sql, the
# traffic generator, also serves tests/reliability/soak.sh).
#
#   bash scripts/demo.sh            run the demo (as root, on Debian; safe to run again)
#   bash scripts/demo.sh --seed 7   the same, with another pseudo-random event mix
#   bash scripts/demo.sh --stop     stop the demo cluster and delete its directory
#
# Environment: ONEVAULT_DEMO_DIR (default /tmp/onevault_tracking_demo),
#              ONEVAULT_DEMO_PORT (default 55432; the cluster listens on a unix socket only).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEMO_DIR=${ONEVAULT_DEMO_DIR:-/tmp/onevault_tracking_demo}
DEMO_PORT=${ONEVAULT_DEMO_PORT:-55432}
DB=onevault_demo
SEED=42

# The demo's numbers: VISITORS visitors (the last of them bots) over the HISTORY_HOURS before
# now; SINGLE_EVENTS single calls (the tracking API, and the raw endpoint for the ~1% from old
# snippets) sent in CHUNKS psql sessions, then a burst of BURST_CALLS page views from one address
# (more than the rate limit of onevault_tracking.rate_limit_per_minute, 120 by default) and three
# batches of BATCH_EVENTS events (1000 + 500 + 240, as demo/senders.sql makes them); staging drains the raw layer PROCESS_BATCH events per call, the
# business vault loads VAULT_BATCH staged events per call; the replay demonstration loads the
# REPLAY_EVENTS most recent ones again.
VISITORS=4600
HISTORY_HOURS=142
SINGLE_EVENTS=20400
BATCH_EVENTS=1740
CHUNKS=20
BURST_CALLS=150
PROCESS_BATCH=500
VAULT_BATCH=1000
REPLAY_EVENTS=100
# The tracking API calls of the browser traffic must be at least this many (a check).
MIN_API_EVENTS=20000
# The reader role the report runs as (LOGIN, member of onevault_tracking_reader, bound to Demo
# Corp in onevault_tracking.reader_tenants); roles are cluster-wide, so it outlives the database.
ANALYST=demo_analyst

# Tenants, as the platform would have created them (business key = name + creation time).
DEMO_TENANT='Demo Corp_2026-01-01 00:00:00+00'
OTHER_TENANT='Other Corp_2025-01-01 00:00:00+00'
# Demo Corp's sites: the one the traffic is for (the sample's pages are on example.com, and the
# demo's SQL functions send to it), and a second one whose key is misused on it.
SITE_DOMAIN=example.com
OTHER_SITE=other.example
# The client address of the rate-limit burst (a scraper; the benchmarking range, used by no visitor).
BURST_IP=198.18.0.7

usage() {
  cat <<EOF
Usage: bash scripts/demo.sh [--seed N] [--stop] [--help]

Builds and installs onevault_tracking (release mode), starts a private PostgreSQL 15 cluster
in \$ONEVAULT_DEMO_DIR (default /tmp/onevault_tracking_demo) on unix-socket port
\$ONEVAULT_DEMO_PORT (default 55432; no TCP listener), recreates the database $DB with the
One Vault core replica and the extension, registers the site $SITE_DOMAIN with an API key,
and replays six days of traffic of $VISITORS simulated visitors (about 4,300 of them send
events; browsers, devices, a few percent bots, referrers from search, social and other sites,
UTM campaigns, custom events with properties):
  - $SINGLE_EVENTS single events, at least $MIN_API_EVENTS of them through the tracking API
    (api.track_page_view / api.track_custom_event: each call is checked, rate limited, stored,
    staged and loaded at once), the ~1% from old snippets to the raw endpoint; about 2.5% come
    from broken trackers and are quarantined, about 3% are retries;
  - a few calls with wrong, misused and revoked keys, and a burst of $BURST_CALLS calls from one
    address (over the rate limit);
  - three batches (1,740 events) through the raw bulk path, then processed into staging and
    loaded into the business vault in the same pass (staging.process_pending_events), after
    which business.load_staged_events finds nothing left.
It shows progress as it goes and ends with a report: the site statistics (api.site_stats,
api.site_breakdown, api.site_timeseries by day in the site's time zone, read as the reader role
$ANALYST under row-level security), what was quarantined and why, what was rate limited, audit
record counts and throughput, then the outcome of its checks. The API keys are never printed
(only their public prefix). The cluster keeps running afterwards; the last lines print the psql
command to explore it.

  --seed N   seed of the pseudo-random event mix (a non-negative integer, default 42);
             the same seed gives the same events (timestamps are relative to now)
  --stop     stop the demo cluster, delete its directory, and exit
  --help     show this help

Run it as root on Debian: the first run installs packages and cargo-pgrx and compiles the
extension (several minutes); later runs take about two minutes, most of it the ~20,000 API
calls (250 to 450 a second on two cores).
EOF
}

STOP=false
while (($#)); do
  case $1 in
    --seed)
      [ $# -ge 2 ] || { echo "demo.sh: --seed needs a value" >&2; exit 2; }
      SEED=$2
      shift 2
      ;;
    --seed=*) SEED=${1#--seed=}; shift ;;
    --stop) STOP=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "demo.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if ! [[ $SEED =~ ^[0-9]{1,18}$ ]]; then
  echo "demo.sh: --seed must be a non-negative integer, got '$SEED'" >&2
  exit 2
fi
if ! [[ $DEMO_PORT =~ ^[0-9]+$ ]] || ((DEMO_PORT < 1024 || DEMO_PORT > 65535)); then
  echo "demo.sh: ONEVAULT_DEMO_PORT must be a port number from 1024 to 65535, got '$DEMO_PORT'" >&2
  exit 2
fi
case $DEMO_DIR in
  /*) ;;
  *) echo "demo.sh: ONEVAULT_DEMO_DIR must be an absolute path, got '$DEMO_DIR'" >&2; exit 2 ;;
esac
DEMO_DIR=${DEMO_DIR%/}
[ -n "$DEMO_DIR" ] || { echo "demo.sh: ONEVAULT_DEMO_DIR must not be /" >&2; exit 2; }

if [ "$(id -u)" -ne 0 ]; then
  echo "demo.sh: run me as root (I install packages and run PostgreSQL as the postgres user)" >&2
  exit 1
fi

# shellcheck source=scripts/cluster.sh
source "$REPO/scripts/cluster.sh"

if [ -t 1 ]; then
  BOLD=$'\033[1m' DIM=$'\033[2m' GREEN=$'\033[32m' RED=$'\033[31m' RESET=$'\033[0m'
else
  BOLD='' DIM='' GREEN='' RED='' RESET=''
fi
STEP='start'
heading() { STEP=$*; printf '\n%s== %s ==%s\n' "$BOLD" "$*" "$RESET"; }
explain() { printf '%s%s%s\n' "$DIM" "$*" "$RESET"; }
now_ns() { date +%s%N; }
# ms_between START_NS END_NS
ms_between() { echo $((($2 - $1) / 1000000)); }
# per_second COUNT MILLISECONDS
per_second() { if (($2 > 0)); then echo $(($1 * 1000 / $2)); else echo "-"; fi; }
# progress DONE TOTAL TEXT: "  [bar] PCT%  TEXT" for DONE of TOTAL (a full bar when TOTAL is 0);
# on a terminal each line overwrites the last.
progress() {
  local done_count=$(($1 > $2 ? $2 : $1)) filled bar line
  filled=$(($2 > 0 ? done_count * 30 / $2 : 30))
  bar=$(printf '%*s' "$filled" '' | tr ' ' '#')$(printf '%*s' $((30 - filled)) '' | tr ' ' '.')
  line=$(printf '  [%s] %3d%%  %s' "$bar" $(($2 > 0 ? done_count * 100 / $2 : 100)) "$3")
  if [ -t 1 ]; then printf '\r%s' "$line"; else printf '%s\n' "$line"; fi
}

# errtrace: the trap also reports failures inside the cluster.sh helpers.
set -o errtrace
trap 'echo "${RED}demo.sh: failed in step \"$STEP\" (${BASH_SOURCE[0]##*/} line $LINENO); see the error above${RESET}" >&2' ERR

# ---------------------------------------------------------------------------------------------
# --stop
# ---------------------------------------------------------------------------------------------
if $STOP; then
  if [ ! -e "$DEMO_DIR" ]; then
    echo "No demo cluster in $DEMO_DIR: nothing to stop."
    exit 0
  fi
  # Only ever delete a directory this script made: the cluster's data directory and logs.
  for entry in "$DEMO_DIR"/* "$DEMO_DIR"/.[!.]*; do
    [ -e "$entry" ] || continue
    case ${entry##*/} in
      data | postgres.log | initdb.log | .s.PGSQL.* ) ;;
      *)
        echo "demo.sh: $DEMO_DIR holds $entry, which the demo did not create; not deleting it." >&2
        exit 1
        ;;
    esac
  done
  cluster_stop "$DEMO_DIR"
  rm -rf -- "$DEMO_DIR"
  echo "Demo cluster stopped and $DEMO_DIR deleted."
  exit 0
fi

STARTED_NS=$(now_ns)
export PATH="$HOME/.cargo/bin:$PATH"

# Every SQL call of the demo: psql on the demo database, no pager, stop at the first error. The
# SQL is in demo/, one file per step, run with -f and psql variables (-v).
demo_psql() { cluster_psql "$DEMO_DIR" "$DEMO_PORT" -d "$DB" -P pager=off "$@"; }
SQL_DIR="$REPO/demo"

# The plaintext API keys exist only in these shell variables (api.create_api_key shows a key
# once; the database keeps its SHA-256). They are never printed, written to a file or put on a
# command line (where ps would show them): demo_psql_keys hands them to psql through its stdin,
# as the psql variables api_key, other_key and old_key, ahead of the files it runs (-f). The SQL
# passes them to the server as session settings (demo.api_key, ...), so the statements that
# call the API do not contain them either.
API_KEY='' OTHER_KEY='' OLD_KEY=''
demo_psql_keys() {
  printf '\\set api_key %s\n\\set other_key %s\n\\set old_key %s\n' "$API_KEY" "$OTHER_KEY" "$OLD_KEY" \
    | demo_psql -f - "$@"
}
# new_api_key KEY_VARIABLE PREFIX_VARIABLE SITE NAME: creates a key for SITE of Demo Corp; the
# plaintext goes into the shell variable KEY_VARIABLE, its public prefix into PREFIX_VARIABLE,
# the answer without the plaintext into demo.admin_calls.
new_api_key() {
  local answer
  answer=$(demo_psql -At -F ' ' -v tenant_bk="$DEMO_TENANT" -v site="$3" -v key_name="$4" \
    -f "$SQL_DIR/create_api_key.sql")
  if ! [[ ${answer%% *} =~ ^ovt_[0-9a-f]{8}_[0-9a-f]{64}$ ]]; then
    echo "${RED}demo.sh: api.create_api_key did not answer a key of the documented form${RESET}" >&2
    return 1
  fi
  printf -v "$1" '%s' "${answer%% *}"
  printf -v "$2" '%s' "${answer#* }"
}

printf '%sonevault_tracking demo%s  (seed %s, cluster %s, port %s)\n' \
  "$BOLD" "$RESET" "$SEED" "$DEMO_DIR" "$DEMO_PORT"

# ---------------------------------------------------------------------------------------------
heading "1/9 Prerequisites"
explain "PostgreSQL 15 and its headers, clang, sudo and cargo-pgrx 0.18.1 (each installed only if missing)."
if ! command -v cargo >/dev/null; then
  echo "demo.sh: cargo not found; install Rust first (https://rustup.rs), then run me again." >&2
  exit 1
fi
bash "$REPO/scripts/prereqs.sh"
echo "ok"

# ---------------------------------------------------------------------------------------------
heading "2/9 Build and install the extension"
explain "cargo pgrx install --release: the first build takes a few minutes (fat LTO); later ones are quick."
build_log=$(mktemp "${TMPDIR:-/tmp}/onevault_tracking_build.XXXXXX")
build_start=$(now_ns)
(cd "$REPO" && install_extension --release) 2>"$build_log" &
build_pid=$!
last_report=0
while kill -0 "$build_pid" 2>/dev/null; do
  sleep 1
  secs=$(($(ms_between "$build_start" "$(now_ns)") / 1000))
  if [ -t 1 ]; then
    printf '\r  building... %4d s  %-60.60s' "$secs" "$(grep -a 'Compiling\|Finished\|Installing\|Writing\|Blocking' "$build_log" | tail -1 | sed 's/\x1b\[[0-9;]*m//g; s/^ *//')"
  elif ((secs - last_report >= 30)); then
    echo "  building... $secs s"
    last_report=$secs
  fi
done
[ -t 1 ] && printf '\r%-80s\r' ''
if ! wait "$build_pid"; then
  echo "${RED}The build failed; its output ($build_log):${RESET}" >&2
  tail -40 "$build_log" >&2
  exit 1
fi
rm -f -- "$build_log"
echo "installed into $("$PG_CONFIG" --sharedir)/extension ($(($(ms_between "$build_start" "$(now_ns)") / 1000)) s)"

# ---------------------------------------------------------------------------------------------
heading "3/9 Private PostgreSQL 15 cluster"
cluster_start "$DEMO_DIR" "$DEMO_PORT"
echo "running: data in $DEMO_DIR/data, socket $DEMO_DIR/.s.PGSQL.$DEMO_PORT (no TCP listener), log $DEMO_DIR/postgres.log"

# ---------------------------------------------------------------------------------------------
heading "4/9 Database $DB: One Vault core replica + onevault_tracking"
explain "Dropped and created again, so every run starts from the same clean state."
cluster_psql "$DEMO_DIR" "$DEMO_PORT" -d postgres -c "SET client_min_messages = warning" \
  -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
cluster_psql "$DEMO_DIR" "$DEMO_PORT" -d postgres -c "CREATE DATABASE $DB"
demo_psql -1 -f "$REPO/tests/fixtures/onevault_core_replica.sql"
demo_psql -c "CREATE EXTENSION onevault_tracking"
demo_psql -c "SELECT extname AS extension, extversion AS version FROM pg_extension ORDER BY extname"
explain "What the extension needs from the platform, and whether util.log_audit_event really works"
explain "(the probe writes an audit record and rolls it back):"
demo_psql -c "SELECT component, kind, status,
                      CASE WHEN length(detail) > 70 THEN left(detail, 67) || '...' ELSE detail END AS detail
                 FROM onevault_tracking.integration_status()"

# ---------------------------------------------------------------------------------------------
heading "5/9 Tenants, sites, API keys and sample events"
explain "The platform creates tenants; here two are inserted directly. Other Corp is a year older,"
explain "which matters: util.log_audit_event files records whose tenant it cannot tell on the OLDEST"
explain "tenant, so audit rows landing on Other Corp would be a bug."
demo_psql -v demo_tenant="$DEMO_TENANT" -v other_tenant="$OTHER_TENANT" -f "$SQL_DIR/setup.sql"

echo
explain "The report at the end runs as $ANALYST: a login role in onevault_tracking_reader (read only),"
explain "bound to Demo Corp in onevault_tracking.reader_tenants, so row-level security shows it that tenant only."
demo_psql -v analyst="$ANALYST" -v demo_tenant="$DEMO_TENANT" -f "$SQL_DIR/analyst.sql"

echo
explain "Demo Corp registers its site $SITE_DOMAIN, and a second one, $OTHER_SITE (api.register_site), and"
explain "creates API keys for them (api.create_api_key). A key is shown once, in the answer; the database"
explain "keeps only its SHA-256. The demo keeps the keys in shell variables and prints only their public prefix."
demo_psql -v tenant_bk="$DEMO_TENANT" -v site="$SITE_DOMAIN" -v other_site="$OTHER_SITE" \
  -f "$SQL_DIR/register_sites.sql"
new_api_key API_KEY API_KEY_PREFIX "$SITE_DOMAIN" 'website tracker'
new_api_key OTHER_KEY OTHER_KEY_PREFIX "$OTHER_SITE" 'other.example tracker'
new_api_key OLD_KEY OLD_KEY_PREFIX "$SITE_DOMAIN" 'old WordPress plugin'
demo_psql -f "$SQL_DIR/sites_and_keys.sql"

# The sample data (demo/traffic.sql): VISITORS visitors with a device, an address and a locale;
# their visits over the last HISTORY_HOURS hours (six days); the events they send. Then how the
# demo sends them (demo/senders.sql): the three batches, the send functions, the record tables.
demo_psql -v seed="$SEED" -v visitors="$VISITORS" -v history_hours="$HISTORY_HOURS" \
  -v single_events="$SINGLE_EVENTS" -v batch_events="$BATCH_EVENTS" \
  -f "$SQL_DIR/traffic.sql" -f "$SQL_DIR/senders.sql"

explain "A sample call, as the site's tracking endpoint makes it for a browser (the first page of a visit"
explain "from a Google Ads click; the key shown by its prefix only):"
sample_n=$(demo_psql -At -c "SELECT n FROM demo.events
                              WHERE endpoint = 'api' AND broken IS NULL AND NOT retry
                                AND payload ->> 'page_url' LIKE '%gclid=%'
                              ORDER BY n LIMIT 1")
demo_psql -v n="$sample_n" -v key_prefix="$API_KEY_PREFIX" -v site="$SITE_DOMAIN" -f "$SQL_DIR/sample_call.sql"

# ---------------------------------------------------------------------------------------------
heading "6/9 Ingestion"
echo "${BOLD}Background processing${RESET}: two processing workers start for this database"
echo "(onevault_tracking.start_workers; with shared_preload_libraries a launcher keeps them running)."
demo_psql -c "SELECT * FROM onevault_tracking.start_workers(2)"
echo "${BOLD}Single events${RESET}: the tracking API, one call and one transaction per event, as the site's"
echo "tracking endpoint makes them for browsers: api.track_page_view / api.track_custom_event check the"
echo "key and its site, count the client against the rate limit, store the event and write one audit"
echo "record; while a worker serves the database (the default onevault_tracking.api_processing = auto)"
echo "they answer PENDING, and the workers, woken by each commit, validate, enrich, sessionise and load"
echo "the events into the vault within moments. The events of old snippets that post their own JSON go"
echo "to the raw endpoint raw.ingest_tracking_event instead. $CHUNKS psql sessions of $((SINGLE_EVENTS / CHUNKS)) calls each."
chunk_size=$((SINGLE_EVENTS / CHUNKS))
singles_start=$(now_ns)
for ((chunk = 1; chunk <= CHUNKS; chunk++)); do
  lo=$(((chunk - 1) * chunk_size + 1))
  hi=$((chunk == CHUNKS ? SINGLE_EVENTS : chunk * chunk_size))
  counts=$(demo_psql_keys -At -F ' ' -v tenant_bk="$DEMO_TENANT" -v lo="$lo" -v hi="$hi" \
    -f "$SQL_DIR/send_singles.sql")
  read -r ok_count invalid_count duplicate_count other_count raw_count <<<"$counts"
  elapsed_ms=$(ms_between "$singles_start" "$(now_ns)")
  progress "$hi" "$SINGLE_EVENTS" "$(printf '%5d/%d  API: %5d ok %3d invalid %3d dup %d other  raw: %3d  %4s calls/s' \
    "$hi" "$SINGLE_EVENTS" "$ok_count" "$invalid_count" "$duplicate_count" "$other_count" "$raw_count" \
    "$(per_second "$hi" "$elapsed_ms")")"
done
[ -t 1 ] && echo
singles_ms=$(ms_between "$singles_start" "$(now_ns)")
demo_psql -c "INSERT INTO demo.timings VALUES ('single', $SINGLE_EVENTS, $singles_ms)"
explain "The answer to the sample call above:"
demo_psql -At -c "SELECT jsonb_pretty(answer) FROM demo.api_calls WHERE n = $sample_n"

echo
echo "${BOLD}Refused calls${RESET}: keys that are not known, a key used on a site it is not bound to, and a key"
echo "that is revoked between two calls (the first one is accepted). A refused call stores nothing; each"
echo "attempt is audited on the key's tenant (an unknown key's on the tenant owning the site domain)"
echo "with the key's public prefix, never the key."
demo_psql_keys -v tenant_bk="$DEMO_TENANT" -v site="$SITE_DOMAIN" -v api_key_prefix="$API_KEY_PREFIX" \
  -v old_key_prefix="$OLD_KEY_PREFIX" -f "$SQL_DIR/refused_calls.sql"

echo
echo "${BOLD}Rate limit${RESET}: one address (a headless scraper at $BURST_IP) sends $BURST_CALLS page views as fast as it"
echo "can. The limiter counts calls per tenant, client address and clock minute in auth.ip_tracking_s;"
echo "over onevault_tracking.rate_limit_per_minute the API answers RATE_LIMITED with retry_after."
RATE_LIMIT=$(demo_psql -At -c "LOAD '\$libdir/onevault_tracking'" \
  -c "SELECT current_setting('onevault_tracking.rate_limit_per_minute')::integer")
# The whole burst must fall into one minute window: start it in the first 45 seconds of a minute.
second=$((10#$(date +%S)))
if ((second >= 45)); then
  explain "  (waiting $((60 - second)) s for the next minute, so that the burst stays within one)"
  while (($((10#$(date +%S))) >= 45)); do sleep 0.5; done
fi
burst_start=$(now_ns)
demo_psql_keys -o /dev/null -v burst_calls="$BURST_CALLS" -v burst_ip="$BURST_IP" -v rate_limit="$RATE_LIMIT" \
  -f "$SQL_DIR/burst.sql"
burst_ms=$(ms_between "$burst_start" "$(now_ns)")
demo_psql -c "INSERT INTO demo.timings VALUES ('rate-limit burst', $BURST_CALLS, $burst_ms)"
demo_psql -At -v ms="$burst_ms" -f "$SQL_DIR/burst_summary.sql"

echo
echo "${BOLD}Batches${RESET}: raw.batch_ingest_tracking_events, one call per batch, as the edge collector relays"
echo "its visitors' events; every item gets its own answer (accepted, duplicate or rejected), and the"
echo "valid items land even when others are bad."
batch_items_total=0
batches_ms=0
for batch in 1 2 3; do
  batch_start=$(now_ns)
  demo_psql -o /dev/null -v tenant_bk="$DEMO_TENANT" -v batch="$batch" -f "$SQL_DIR/batch.sql"
  ms=$(ms_between "$batch_start" "$(now_ns)")
  batches_ms=$((batches_ms + ms))
  summary=$(demo_psql -At -F ' ' -v batch="$batch" -v ms="$ms" -f "$SQL_DIR/batch_result.sql")
  read -r size accepted duplicates rejected story <<<"$summary"
  batch_items_total=$((batch_items_total + size))
  printf '  batch %d (%s): %4d items -> %4d accepted, %3d duplicates, %d rejected  (%d ms)\n' \
    "$batch" "$story" "$size" "$accepted" "$duplicates" "$rejected" "$ms"
done
demo_psql -c "INSERT INTO demo.timings VALUES ('batch', $batch_items_total, $batches_ms)"

# ---------------------------------------------------------------------------------------------
heading "7/9 Processing: raw -> staging -> business vault"
explain "The workers took every event through staging into the vault as it landed, in batches of up to"
explain "onevault_tracking.worker_batch_size, one transaction each. Their state (onevault_tracking.worker_status):"
workers_deadline=$((SECONDS + 120))
until [ "$(demo_psql -At -c "SELECT pending_events = 0 FROM onevault_tracking.worker_status LIMIT 1")" = t ]; do
  if ((SECONDS > workers_deadline)); then
    echo "${RED}demo.sh: the workers left events pending for 120 s${RESET}" >&2
    exit 1
  fi
  sleep 0.5
done
demo_psql -c "SELECT worker_no, running, batches, events_processed, events_valid, events_quarantined, errors,
                     round(last_batch_ms::numeric, 1) AS last_batch_ms, pending_events, lag
                FROM onevault_tracking.worker_status ORDER BY worker_no"
explain "A manual drain, staging.process_pending_events($PROCESS_BATCH), called until it claims nothing (it runs safely"
explain "beside the workers: FOR UPDATE SKIP LOCKED), finds nothing left. What it does: every raw event is validated"
explain "(invalid ones are staged as INVALID with their reasons: the quarantine), enriched (browser, OS,"
explain "device, bot, channel, campaign, anonymised address) and given a session, in $PROCESS_BATCH-event transactions;"
explain "in the same transaction each VALID event becomes a tracking_event_l row with its details satellite, and"
explain "its site, page and session become hubs (each business key once, per tenant), linked to the site, with"
explain "their own details satellites (onevault_tracking.process_loads_vault, on by default)."
explain "Without workers, the API calls stage and load their events in the call, and what waits here are the"
explain "batches' events and those sent to the raw endpoint."
to_process=$(demo_psql -At -c "SELECT count(*) FROM raw.site_tracking_events_r WHERE processing_status IN ('PENDING', 'ERROR')")
echo "$to_process raw events waiting (PENDING or ERROR)."
processing_start=$(now_ns)
processing_calls=0
processing_timings=()
claimed_total=0 valid_total=0 quarantined_total=0 errors_total=0 failed_total=0
# Retried (ERROR) events come back on later calls until they succeed or turn FAILED; the guard
# only stops a run that cannot end.
max_calls=$((to_process / PROCESS_BATCH + 20))
while :; do
  processing_calls=$((processing_calls + 1))
  if ((processing_calls > max_calls)); then
    echo "${RED}demo.sh: staging.process_pending_events still claims events after $max_calls calls${RESET}" >&2
    exit 1
  fi
  call_start=$(now_ns)
  answer=$(demo_psql -At -F ' ' -v call="$processing_calls" -v batch_size="$PROCESS_BATCH" -f "$SQL_DIR/process.sql")
  processing_timings+=("($processing_calls, $(ms_between "$call_start" "$(now_ns)"))")
  read -r claimed valid quarantined errors failed <<<"$answer"
  ((claimed > 0)) || break
  claimed_total=$((claimed_total + claimed))
  valid_total=$((valid_total + valid))
  quarantined_total=$((quarantined_total + quarantined))
  errors_total=$((errors_total + errors))
  failed_total=$((failed_total + failed))
  elapsed_ms=$(ms_between "$processing_start" "$(now_ns)")
  progress "$claimed_total" "$to_process" "$(printf '%5d/%d events  %5d valid  %3d quarantined  %6s events/s' \
    "$claimed_total" "$to_process" "$valid_total" "$quarantined_total" "$(per_second "$claimed_total" "$elapsed_ms")")"
done
[ -t 1 ] && ((claimed_total > 0)) && echo
processing_ms=$(ms_between "$processing_start" "$(now_ns)")
demo_psql -c "UPDATE demo.processing_calls AS c SET milliseconds = t.ms
                FROM (VALUES $(IFS=,; echo "${processing_timings[*]}")) AS t (call_no, ms)
               WHERE c.call_no = t.call_no" \
  -c "INSERT INTO demo.timings VALUES ('processing', $claimed_total, $processing_ms)"
printf '  %d calls (the last one found nothing): %d events in %d ms, %d valid, %d quarantined, %d errors, %d failed\n' \
  "$processing_calls" "$claimed_total" "$processing_ms" "$valid_total" "$quarantined_total" "$errors_total" "$failed_total"

# ---------------------------------------------------------------------------------------------
heading "8/9 Loading what is left: staging -> business vault"
explain "business.load_staged_events($VAULT_BATCH), called until it loads nothing, loads VALID staged events that"
explain "processing left unloaded (with onevault_tracking.process_loads_vault off, for a separate loader job)."
explain "Here the workers loaded every event already, so it finds nothing. Quarantined"
explain "(INVALID) events never reach the vault; each event is loaded exactly once."
to_load=$(demo_psql -At -c "SELECT count(*) FROM staging.site_tracking_events_s
                             WHERE validation_status = 'VALID' AND NOT loaded_to_vault")
echo "$to_load VALID staged events waiting to be loaded."
vault_start=$(now_ns)
vault_calls=0
vault_timings=()
loaded_total=0 hub_rows_total=0 link_rows_total=0 satellite_rows_total=0
# Each call takes up to VAULT_BATCH rows; the guard only stops a run that cannot end.
max_calls=$((to_load / VAULT_BATCH + 5))
while :; do
  vault_calls=$((vault_calls + 1))
  if ((vault_calls > max_calls)); then
    echo "${RED}demo.sh: business.load_staged_events still loads events after $max_calls calls${RESET}" >&2
    exit 1
  fi
  call_start=$(now_ns)
  answer=$(demo_psql -At -F ' ' -v call="$vault_calls" -v batch_size="$VAULT_BATCH" -f "$SQL_DIR/load_vault.sql")
  vault_timings+=("($vault_calls, $(ms_between "$call_start" "$(now_ns)"))")
  read -r loaded hub_rows link_rows satellite_rows <<<"$answer"
  ((loaded > 0)) || break
  loaded_total=$((loaded_total + loaded))
  hub_rows_total=$((hub_rows_total + hub_rows))
  link_rows_total=$((link_rows_total + link_rows))
  satellite_rows_total=$((satellite_rows_total + satellite_rows))
  elapsed_ms=$(ms_between "$vault_start" "$(now_ns)")
  progress "$loaded_total" "$to_load" "$(printf '%5d/%d events  rows: %4d hub %5d link %5d sat  %6s events/s' \
    "$loaded_total" "$to_load" "$hub_rows_total" "$link_rows_total" "$satellite_rows_total" \
    "$(per_second "$loaded_total" "$elapsed_ms")")"
done
[ -t 1 ] && ((loaded_total > 0)) && echo
vault_ms=$(ms_between "$vault_start" "$(now_ns)")
demo_psql -c "UPDATE demo.vault_loads AS c SET milliseconds = t.ms
                FROM (VALUES $(IFS=,; echo "${vault_timings[*]}")) AS t (call_no, ms)
               WHERE c.call_no = t.call_no" \
  -c "INSERT INTO demo.timings VALUES ('vault load', $loaded_total, $vault_ms)"
printf '  %d calls (the last one found nothing): %d events in %d ms; %d hub, %d link and %d satellite rows added\n' \
  "$vault_calls" "$loaded_total" "$vault_ms" "$hub_rows_total" "$link_rows_total" "$satellite_rows_total"

# ---------------------------------------------------------------------------------------------
heading "9/9 Report"
# Twenty thousand events landed in tables created minutes ago, faster than autovacuum analyses
# them: a report planned on their empty-table statistics nests bitmap scans over every event and
# ran for over 12 minutes here (0.2 s once analysed). An operator after a first bulk load, or a
# restore, does the same.
demo_psql -c "ANALYZE"
TENANT_HEX=$(demo_psql -At -v t="$DEMO_TENANT" <<<"SELECT encode(util.hash_binary(:'t'), 'hex')")
OTHER_TENANT_HEX=$(demo_psql -At -v t="$OTHER_TENANT" <<<"SELECT encode(util.hash_binary(:'t'), 'hex')")
VAULT_EVENTS=$(demo_psql -At -c "SELECT count(*) FROM business.tracking_event_l")
# The report's range: whole days of the site's time zone, from the oldest visit's to today's.
REPORT_RANGE=$(demo_psql -At -F ' ' -v site="$SITE_DOMAIN" -v history_hours="$HISTORY_HOURS" \
  -f "$SQL_DIR/report_range.sql")
read -r REPORT_ZONE REPORT_FROM REPORT_TO <<<"$REPORT_RANGE"

# The site statistics, as the site owner's analyst reads them: a psql session of the reader role
# (not postgres), so every row it reads passes row-level security.
printf '\n%sSite statistics%s (api.site_stats, api.site_breakdown, api.site_timeseries; people only, bots excluded)\n' "$BOLD" "$RESET"
"$PG_BIN/psql" -h "$DEMO_DIR" -p "$DEMO_PORT" -U "$ANALYST" -d "$DB" -X -q -v ON_ERROR_STOP=1 -P pager=off \
  -v site="$SITE_DOMAIN" -v zone="$REPORT_ZONE" -v report_from="$REPORT_FROM" -v report_to="$REPORT_TO" \
  -v tenant_hex="$TENANT_HEX" -v other_hex="$OTHER_TENANT_HEX" -v vault_events="$VAULT_EVENTS" \
  -f "$SQL_DIR/site_report.sql"

printf '\n%sIngestion, quarantine, rate limiting, privacy, vault, audit and throughput%s\n' "$BOLD" "$RESET"
demo_psql_keys -v demo_tenant="$DEMO_TENANT" -v replay_events="$REPLAY_EVENTS" -v vault_batch="$VAULT_BATCH" \
  -v burst_calls="$BURST_CALLS" -v burst_ip="$BURST_IP" -v rate_limit="$RATE_LIMIT" -v site="$SITE_DOMAIN" \
  -v tenant_hex="$TENANT_HEX" -v report_from="$REPORT_FROM" -v report_to="$REPORT_TO" \
  -v min_api_events="$MIN_API_EVENTS" -f "$SQL_DIR/report.sql" -f "$SQL_DIR/checks.sql"

failed_checks=$(demo_psql -At -c "SELECT count(*) FROM demo.checks WHERE NOT ok")
total_checks=$(demo_psql -At -c "SELECT count(*) FROM demo.checks")
total_s=$(($(ms_between "$STARTED_NS" "$(now_ns)") / 1000))

if [ "$failed_checks" -eq 0 ]; then
  echo "${GREEN}${BOLD}All $total_checks checks passed.${RESET} The demo took ${total_s} s."
else
  echo "${RED}${BOLD}$failed_checks of $total_checks checks FAILED${RESET} (see above). The demo took ${total_s} s."
fi
cat <<EOF

The cluster keeps running (unix socket only). Connect with:
  psql -h $DEMO_DIR -p $DEMO_PORT -U postgres -d $DB
or as the reader $ANALYST, who sees Demo Corp's rows only, and run the reports yourself:
  psql -h $DEMO_DIR -p $DEMO_PORT -U $ANALYST -d $DB
  SET onevault_tracking.tenant_id = '$TENANT_HEX';
  SELECT jsonb_pretty(api.site_stats('$SITE_DOMAIN', now() - interval '7 days', now()));
  SELECT * FROM jsonb_to_recordset(api.site_breakdown('$SITE_DOMAIN', 'referrer', now() - interval '7 days', now()))
           AS t (value text, visitors int, visits int, pageviews int);
  SELECT * FROM jsonb_to_recordset(api.site_timeseries('$SITE_DOMAIN', now() - interval '1 day', now(), 'hour'))
           AS t (bucket text, visitors int, visits int, pageviews int);
As postgres, for example:
  SELECT raw_event_id, validation_errors FROM staging.site_tracking_events_s WHERE validation_status = 'INVALID' LIMIT 5;
  SELECT story, answer FROM demo.api_calls WHERE answer ->> 'success' = 'false' ORDER BY call_no LIMIT 10;
  SELECT new_data FROM audit.audit_detail_s WHERE operation = 'TRACKING_ATTEMPT' ORDER BY load_date DESC LIMIT 5;
  SELECT * FROM raw.get_ingestion_stats();
(the sample data and the demo's records are in schema demo). Stop the cluster and delete its files with:
  bash scripts/demo.sh --stop
EOF
[ "$failed_checks" -eq 0 ]
