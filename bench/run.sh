#!/usr/bin/env bash
# onevault_tracking benchmark: throughputs of the extension against baselines measured in the same
# run on the same private cluster, and the ratios the performance issue sets targets for.
#
#   bash bench/run.sh            full run (about 11 minutes after the build)
#   bash bench/run.sh --quick    quick run (2 to 3 minutes after the build; no process_1m)
#   bash bench/run.sh --no-build measure whatever build is installed (skips prerequisites and build)
#   bash bench/run.sh --keep     leave the cluster running with its data afterwards, for inspection
#   bash bench/run.sh --pg 17    on PostgreSQL 17 instead of 15 (the default); combines with the
#                                others. Results go to target/bench/results-pg<version>.json
#   bash bench/run.sh --profile  also record pg_stat_statements (track = all) for B, C and F and write
#                                where each call's time (and the worker's time per event) goes to
#                                target/bench/profile-*.txt (the throughputs then include the
#                                profiler's overhead)
#
# It installs the prerequisites (scripts/prereqs.sh), builds and installs the extension in release
# mode (cargo pgrx install --release), starts a private PostgreSQL 15 (or 17) cluster with default settings
# (fsync on) in $ONEVAULT_BENCH_DIR (default /tmp/onevault_tracking_bench_pg<version>, unix socket only) on
# port $ONEVAULT_BENCH_PORT (default 55450), creates a fresh database with the One Vault core
# replica, the extension, a tenant, a site (api.register_site) and an API key
# (api.create_api_key), and measures:
#
#   A  insert_c1/c2     bare single-row INSERT of a raw-shaped row (bench.raw_like: the raw table's
#                       columns, defaults, identity, constraints and indexes), one transaction per
#                       row, pgbench, 1 and 2 clients
#   B  track_c1/c2      api.track_page_view on the default path with one processing worker
#                       running (onevault_tracking.start_workers(1)): the fast path (key, rate
#                       limit, raw row, audit; PENDING), the worker staging and loading the vault
#                       concurrently (its CPU is in the same run); one call per transaction,
#                       pgbench, 1 and 2 clients; after each run the backlog must drain
#      track_immediate_c1  the same with api_processing = immediate (PGOPTIONS of pgbench's
#                       connections): the whole pipeline in the call, as before the worker
#   C  plpgsql_c1/c2    the same workload through bench/plpgsql_pipeline.sql, the PL/pgSQL reference
#   S  sustained_c4     4 clients call api.track_page_view for 60 s (10 s with --quick) while one
#                       worker drains; vault events by 10 s after the end / 60 s; freshness_p99_s:
#                       99th percentile of processed_at - received_at over the run's events
#      insert_c4        A's bare insert, 4 clients, the same duration
#      plpgsql_sustained_c4  C, 4 clients, the same duration (loads the vault in the call)
#   D  copy             COPY of N raw-shaped rows into bench.raw_like
#   E  batch            raw.batch_ingest_tracking_events of the same N events, batches of 1000
#   F  process          the N landed events processed by one background worker in its own
#                       batches: from start_workers(1) until none is pending
#      process_sql      N more events through staging.process_pending_events(1000) in a DO loop
#      process_1m       (full runs only) F again once the tables hold about 1,000,000 events
#                       (bench/grow.sql copies the processed events as history)
#   H  floor_c1         the floor of the in-call pipeline: only the writes a call processing its
#                       event must make (bench/floor.sql)
#   H' fast_floor_c1    the floor of the fast path: the raw row, a rate-limit count and the audit
#                       call (bench/fast_floor.sql)
#   I  process_floor    the floor of F: only the writes processing must make (bench/process_floor.sql)
#   G  hash_native      onevault_tracking.hash_binary vs util.hash_binary (pgcrypto) over 1,000,000
#      hash_pgcrypto    keys, one statement each (plus hash_key against the same key built in SQL)
#      report_*         api.site_stats (and the other reports) over the loaded events and realistic
#                       traffic from the demo's generator (demo/traffic.sql, bench/traffic.sql), if present
#   R  reports at scale (last; its own tenant and site): bench/scale_load.sql generates 100,000
#                       events over 30 days set-based (about 5,000 visitors, then 50,000), lands them as
#                       the tracking API stores them and processes them (staging.process_pending_events
#                       in batches of 1000, rollup upkeep on); the report set (bench/scale_reports.sql)
#                       on the last 30 days and the last day, from the rollups and directly over the
#                       vault (onevault_tracking.report_source); then grows to 1,000,000 events (upkeep
#                       off, then onevault_tracking.rebuild_rollups(), as a bulk load) and measures
#                       again; then F with onevault_tracking.rollup_upkeep off and on
#                       (4 parts of 25,000 events, off-on-on-off). report_speedup_1m,
#                       report_growth_100k_to_1m, rollup_upkeep_cost (bench/scale_results.sql).
#                       With --quick: 10,000 then 100,000 events, parts of 5,000.
#                       BENCH_ONLY=reports_scale runs only R (with the setup and the results);
#                       BENCH_SCALE_SMALL / BENCH_SCALE_LARGE / BENCH_SCALE_PART override its sizes.
#   X  proxy_c4         scale-out (before R): api.track_page_view through the proxy package
#      single_c4        (onevault_tracking_proxy, PL/Proxy) to three shards, four more clusters beside
#                       this one ($ONEVAULT_BENCH_DIR/scaleout, ports +1 to +4), against the same calls
#                       on the single node (the benchmark database): the same 12 sites of the tenant
#                       with a key each on both sides, one call per transaction to a random site,
#                       pgbench, 4 clients, one processing worker per database; every call accepted,
#                       staged and loaded, each shard holding only its own sites' events;
#                       proxy_vs_single_c4. BENCH_ONLY=scaleout runs only X (with the setup and the
#                       results).
#
# N is 100,000 (10,000 with --quick). D, E and F run first, on empty tables (process_sql then on
# top of F's events); A, B and C then run on top of the events they left (realistic table sizes and planner statistics), each run of B and C
# with its own client addresses and session ids. pgbench runs 20 s per measurement (5 s with
# --quick) after a warm-up run, and its throughput is the mean of the per-second rates after the
# first second (so the first call per backend, which builds the user-agent parser, is not counted).
# Every run checks that its work succeeded (every tracking call accepted and, after the worker
# drained, staged VALID and loaded exactly once; every event stored, staged and loaded) and fails
# otherwise. See bench/README.md. The SQL of each step is in
# bench/*.sql, the pgbench scripts' templates in bench/pgbench/.
#
# Output: a table, the ratios with their targets (PASS/BELOW), and target/bench/results-pg<version>.json
# (throughput, units, ratios, targets, machine, PostgreSQL version, mode, date). Exit status 0 when
# everything ran, even below target (a measurement, not a test); non-zero on any error.
#
# Run it as root on Debian (PostgreSQL runs as the postgres user). The lead's tests install builds
# into the same PostgreSQL, so serialise installs: flock /tmp/onevault_tracking_install.lock bash bench/run.sh
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PORT=${ONEVAULT_BENCH_PORT:-55450}
DB=onevault_bench
OUT_DIR="$REPO/target/bench"

MODE=full
BUILD=true
PROFILE=false
KEEP=false
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
while (($#)); do
  case $1 in
    --quick) MODE=quick; shift ;;
    --no-build) BUILD=false; shift ;;
    --profile) PROFILE=true; shift ;;
    --keep) KEEP=true; shift ;;
    --pg)
      [[ ${2:-} =~ ^(15|17)$ ]] || { echo "run.sh: --pg takes 15 or 17, got '${2:-}'" >&2; exit 2; }
      export ONEVAULT_PG=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
RESULTS="$OUT_DIR/results-pg${ONEVAULT_PG:-15}.json"
BENCH_DIR=${ONEVAULT_BENCH_DIR:-/tmp/onevault_tracking_bench_pg${ONEVAULT_PG:-15}}
if [ "$MODE" = quick ]; then
  N=10000 SECONDS_PER_RUN=5 WARMUP_SECONDS=3 HASH_RUNS=2 SUSTAINED_SECONDS=10
else
  N=100000 SECONDS_PER_RUN=20 WARMUP_SECONDS=5 HASH_RUNS=3 SUSTAINED_SECONDS=60
fi
# The worker's backlog: how long after a sustained run events may still count (GRACE_SECONDS),
# and how long any drain may take before the run fails (DRAIN_TIMEOUT; F's own measurement at
# most PROCESS_TIMEOUT).
GRACE_SECONDS=10 DRAIN_TIMEOUT=600 PROCESS_TIMEOUT=1800
# process_1m: F again once the tables hold this many events (full runs only).
GROW_TO=1000000
HASH_KEYS=1000000
# R, reports at scale: the two sizes measured and the size of each upkeep part.
if [ "$MODE" = quick ]; then
  SCALE_SMALL=${BENCH_SCALE_SMALL:-10000} SCALE_LARGE=${BENCH_SCALE_LARGE:-100000} SCALE_PART=${BENCH_SCALE_PART:-5000}
else
  SCALE_SMALL=${BENCH_SCALE_SMALL:-100000} SCALE_LARGE=${BENCH_SCALE_LARGE:-1000000} SCALE_PART=${BENCH_SCALE_PART:-25000}
fi
BENCH_ONLY=${BENCH_ONLY:-}
case $BENCH_ONLY in
  '' | reports_scale | scaleout) ;;
  *) echo "run.sh: BENCH_ONLY takes reports_scale or scaleout (or nothing: every stage), got '$BENCH_ONLY'" >&2; exit 2 ;;
esac
for size in "$SCALE_SMALL" "$SCALE_LARGE" "$SCALE_PART"; do
  [[ $size =~ ^[1-9][0-9]{3,7}$ ]] || { echo "run.sh: BENCH_SCALE_* take 1000 to 99999999 events, got '$size'" >&2; exit 2; }
done
((SCALE_SMALL < SCALE_LARGE)) || { echo "run.sh: BENCH_SCALE_SMALL must be below BENCH_SCALE_LARGE" >&2; exit 2; }
BATCH_SIZE=1000

case $BENCH_DIR in
  /?*) BENCH_DIR=${BENCH_DIR%/} ;;
  *) echo "run.sh: ONEVAULT_BENCH_DIR must be an absolute path, got '$BENCH_DIR'" >&2; exit 2 ;;
esac
# X's proxy and shards listen on the next four ports.
if ! [[ $PORT =~ ^[0-9]+$ ]] || ((PORT < 1024 || PORT > 65531)); then
  echo "run.sh: ONEVAULT_BENCH_PORT must be a port number from 1024 to 65531, got '$PORT'" >&2
  exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "run.sh: run me as root (I install packages and run PostgreSQL as the postgres user)" >&2
  exit 1
fi

# shellcheck source=scripts/cluster.sh
source "$REPO/scripts/cluster.sh"
PGBENCH=$PG_BIN/pgbench
WORK="$BENCH_DIR/work"
COPY_FILE="$BENCH_DIR/raw_rows.copy"
# X, scale-out: three shard clusters and the proxy's cluster beside the benchmark's, on the next
# four ports (unix sockets in their own directories, as the benchmark's).
SCALEOUT_DIR="$BENCH_DIR/scaleout"
SCALEOUT_SHARDS=(0 1 2)
PROXY_PORT=$((PORT + 4))
shard_dir() { echo "$SCALEOUT_DIR/shard$1"; }
shard_port() { echo $((PORT + 1 + $1)); }
scaleout_stop() {
  local n
  for n in "${SCALEOUT_SHARDS[@]}"; do cluster_stop "$(shard_dir "$n")"; done
  cluster_stop "$SCALEOUT_DIR/proxy"
}
STARTED=$(date +%s)
LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)

STEP=start
step() { STEP=$*; printf '\n== %s ==\n' "$*"; }
set -o errtrace
trap 'echo "run.sh: failed in step \"$STEP\"; see the error above (PostgreSQL log: $BENCH_DIR/postgres.log)" >&2' ERR
CLUSTER_UP=false
SCALEOUT_UP=false
SUCCEEDED=false
# The cluster is stopped whatever happens; after a successful run its data (about 2 GB after a full
# run) is deleted too, and the logs stay (postgres.log, work/: the pgbench scripts and logs).
# X's clusters are stopped (and deleted) by X itself; after a failure in X, here, data kept.
cleanup() {
  if $SCALEOUT_UP; then scaleout_stop; fi
  if $KEEP && $CLUSTER_UP; then
    echo "kept: the cluster runs on $BENCH_DIR port $PORT, database $DB (stop: pg_ctl -D $BENCH_DIR/data stop as postgres)"
  elif $CLUSTER_UP; then
    cluster_stop "$BENCH_DIR"
    if $SUCCEEDED; then rm -rf -- "$BENCH_DIR/data" "$COPY_FILE"; fi
  fi
}
trap cleanup EXIT
fail() { echo "run.sh: $*" >&2; exit 1; }

bpsql() { cluster_psql "$BENCH_DIR" "$PORT" -d "$DB" -P pager=off "$@"; }
# bpsql_do ARGS: the same, for statements whose output is not wanted.
bpsql_do() { bpsql -q "$@" >/dev/null; }

# The workload of B and C (and of A's and D/E/F's payloads): realistic browsers and a crawler,
# referrers (search, social, internal, other sites, an Android mail app, direct), campaigns.
SITE=example.com
UAS=(
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15'
  'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0'
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0'
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1'
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36'
  'Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1'
  'Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36'
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0'
  'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)'
)
REFERRERS=(
  '' '' '' 'https://www.google.com/' 'https://www.bing.com/search?q=web+analytics'
  'https://news.ycombinator.com/item?id=42' 'https://t.co/AbC123' "https://$SITE/blog"
  'https://partner-blog.org/posts/12' 'android-app://com.google.android.gm'
)
CAMPAIGNS=(
  '' '' '' '' '' '' '?ref=hn&page=2'
  '?utm_source=newsletter&utm_medium=email&utm_campaign=spring+sale'
  '?utm_source=google&utm_medium=cpc&utm_campaign=brand&gclid=Cj0KCQiA'
  '?utm_source=twitter&utm_medium=social&utm_content=thread%201'
)
# Distinct client addresses of B and C: enough that no address comes near the default rate limit
# of 120 calls per minute (the limiter still counts every call).
CLIENT_IPS=20000
sql_array() {
  local out='ARRAY[' sep='' item
  for item in "$@"; do
    out+="$sep'${item//\'/\'\'}'"
    sep=', '
  done
  printf '%s]::text[]' "$out"
}
UA_ARRAY=$(sql_array "${UAS[@]}")
REFERRER_ARRAY=$(sql_array "${REFERRERS[@]}")
CAMPAIGN_ARRAY=$(sql_array "${CAMPAIGNS[@]}")

printf 'onevault_tracking benchmark (%s mode: N = %s events, %s s per pgbench run)\n' "$MODE" "$N" "$SECONDS_PER_RUN"
echo "load average at start: $LOAD_AT_START (on $(nproc) cores; other work on the machine skews the results)"

# ---------------------------------------------------------------------------------------------
if $BUILD; then
  step "prerequisites"
  export PATH="$HOME/.cargo/bin:$PATH"
  command -v cargo >/dev/null || fail "cargo not found; install Rust first (https://rustup.rs)"
  bash "$REPO/scripts/prereqs.sh"
  step "build and install (release)"
  build_log=$(mktemp "${TMPDIR:-/tmp}/onevault_tracking_bench_build.XXXXXX")
  build_started=$(date +%s)
  if ! (cd "$REPO" && install_extension --release) 2>"$build_log"; then
    tail -40 "$build_log" >&2
    fail "the release build failed (log: $build_log)"
  fi
  rm -f -- "$build_log"
  BUILD_NOTE="release, built and installed by this run ($(($(date +%s) - build_started)) s)"
  echo "$BUILD_NOTE"
else
  BUILD_NOTE="not built by this run (--no-build): the build installed in $("$PG_CONFIG" --pkglibdir)"
  echo "note: --no-build, measuring the installed build"
fi

# ---------------------------------------------------------------------------------------------
step "private cluster"
if [ -e "$BENCH_DIR" ]; then
  # Only ever delete what this script makes.
  for entry in "$BENCH_DIR"/* "$BENCH_DIR"/.[!.]*; do
    [ -e "$entry" ] || continue
    case ${entry##*/} in
      data | work | postgres.log | initdb.log | raw_rows.copy | scaleout | .s.PGSQL.*) ;;
      *) fail "$BENCH_DIR holds ${entry##*/}, which the benchmark did not create; not deleting it" ;;
    esac
  done
  cluster_stop "$BENCH_DIR"
  scaleout_stop
  rm -rf -- "$BENCH_DIR"
fi
CLUSTER_UP=true
cluster_start "$BENCH_DIR" "$PORT"
if $PROFILE; then
  printf "shared_preload_libraries = 'pg_stat_statements'\npg_stat_statements.track = all\npg_stat_statements.max = 10000\n" \
    >>"$BENCH_DIR/data/postgresql.conf"
  cluster_stop "$BENCH_DIR"
  cluster_start "$BENCH_DIR" "$PORT"
  echo "profiling: pg_stat_statements with track = all (throughputs include its overhead)"
fi
mkdir -p "$WORK" "$OUT_DIR"
rm -f -- "$OUT_DIR"/profile-*.txt
PG_VERSION=$(cluster_psql "$BENCH_DIR" "$PORT" -d postgres -At -c "SHOW server_version")
echo "PostgreSQL $PG_VERSION in $BENCH_DIR (port $PORT, fsync $(cluster_psql "$BENCH_DIR" "$PORT" -d postgres -At -c 'SHOW fsync'), shared_buffers $(cluster_psql "$BENCH_DIR" "$PORT" -d postgres -At -c 'SHOW shared_buffers'))"

step "database, tenant, site, key, workload"
cluster_fresh_db "$BENCH_DIR" "$PORT" "$DB"
TENANT_BK='Bench Corp_2026-01-01 00:00:00+00'
answer=$(bpsql -At -F ' ' -v tenant_bk="$TENANT_BK" -v site="$SITE" -f "$REPO/bench/tenant.sql")
read -r API_KEY API_KEY_HK TENANT_HK <<<"$answer"
[[ $API_KEY =~ ^ovt_[0-9a-f]{8}_[0-9a-f]{64}$ ]] || fail "api.create_api_key did not answer a key"
bpsql -q -f "$REPO/bench/plpgsql_pipeline.sql" >/dev/null
if $PROFILE; then bpsql_do -c "CREATE EXTENSION pg_stat_statements"; fi
bpsql -q -v tenant_hk="\\x$TENANT_HK" -v api_key_hk="\\x$API_KEY_HK" -v site="$SITE" -v n="$N" \
  -v uas="$UA_ARRAY" -v referrers="$REFERRER_ARRAY" -v campaigns="$CAMPAIGN_ARRAY" \
  -v copy_file="$COPY_FILE" -f "$REPO/bench/setup.sql" >/dev/null
echo "tenant $TENANT_HK, site $SITE, key ${API_KEY:0:12}..., $N bulk events in $((N / BATCH_SIZE)) batches"

# The pgbench scripts (A: bare insert; B and C: one tracking call per transaction): the random
# choices of bench/pgbench/variables.sql, then bench/pgbench/insert_raw.sql or track.sql with
# their placeholders filled in: the workload's lists and the client address of a call, one of
# CLIENT_IPS in a range of 1,048,576 addresses of its own for each run (pgbench -D run).
CLIENT_IP="'10.0.0.0'::inet + (:run * 1048576 + (:ip * 7919) % 1048576)"
# pgbench_script TEMPLATE OUT [IMPL [NAME=VALUE...]]: NAME=VALUE fills in a template's own
# placeholders @NAME@ (X's sites and keys).
pgbench_script() {
  local text pair
  text=$(<"$REPO/bench/pgbench/$1")
  # Quoted replacements: bash 5.2 would otherwise read the & of the campaigns as the match.
  text=${text//@USER_AGENTS@/"$UA_ARRAY"}
  text=${text//@REFERRERS@/"$REFERRER_ARRAY"}
  text=${text//@CAMPAIGNS@/"$CAMPAIGN_ARRAY"}
  text=${text//@CLIENT_IP@/"$CLIENT_IP"}
  text=${text//@IMPL@/"${3:-}"}
  for pair in "${@:4}"; do text=${text//"@${pair%%=*}@"/"${pair#*=}"}; done
  { cat "$REPO/bench/pgbench/variables.sql"; printf '%s\n' "$text"; } >"$2"
}
pgbench_script insert_raw.sql "$WORK/insert_raw.sql"
for impl in api bench_plpgsql; do pgbench_script track.sql "$WORK/track_$impl.sql" "$impl"; done
PGBENCH_VARS=(-D "api_key=$API_KEY" -D "site=$SITE" -D "tenant_hk=\\x$TENANT_HK" -D "api_key_hk=\\x$API_KEY_HK"
  -D "visitor_hash=\\x$(printf 'bench visitor' | sha256sum | cut -c1-64)"
  -D "user_agents=${#UAS[@]}" -D "referrers=${#REFERRERS[@]}" -D "campaigns=${#CAMPAIGNS[@]}" -D "client_ips=$CLIENT_IPS")
# The run number of the client addresses and session ids (pgbench -D run): the tracking stages
# (B, C, S, X) count it up, so no run finds another's visitors, sessions or rate-limit windows.
RUN_ID=0

# run_pgbench LABEL SCRIPT CLIENTS SECONDS: sets TPS (mean per-second rate after the first second)
# and TX (transactions processed); fails on any client error. PGBENCH_OPTIONS, when set, is the
# connections' PGOPTIONS (settings of pgbench's sessions); PGBENCH_HOST, PGBENCH_PORT and
# PGBENCH_DB, when set, point it at another cluster than the benchmark's (X's proxy).
run_pgbench() {
  local label=$1 script=$2 clients=$3 seconds=$4 log="$WORK/pgbench-$1.log"
  if ! PGOPTIONS="${PGBENCH_OPTIONS:-}" "$PGBENCH" -h "${PGBENCH_HOST:-$BENCH_DIR}" -p "${PGBENCH_PORT:-$PORT}" -U postgres -n -M prepared \
    -c "$clients" -j "$clients" -T "$seconds" -P 1 -f "$script" "${PGBENCH_VARS[@]}" -D "run=$RUN_ID" "${PGBENCH_DB:-$DB}" >"$log" 2>&1; then
    tail -20 "$log" >&2
    fail "pgbench $label failed (log: $log)"
  fi
  if grep -q 'aborted\|ERROR' "$log"; then
    grep -m5 'aborted\|ERROR' "$log" >&2
    fail "pgbench $label had client errors (log: $log)"
  fi
  TX=$(awk -F': ' '/number of transactions actually processed/ {print $2 + 0}' "$log")
  TPS=$(awk '/^progress: / { t = $2 + 0; if (t > 1.5) { sum += $4; n++ } } END { if (n) printf "%.1f", sum / n }' "$log")
  [ -n "$TPS" ] || TPS=$(awk '/^tps = / {print $3; exit}' "$log")
  [ -n "$TX" ] && [ -n "$TPS" ] || fail "could not read pgbench $label's results (log: $log)"
}

# wal_start / wal_per_tx: WAL written between them per transaction of the last pgbench run (sets
# WAL_PER_TX): what each commit has to flush, the main cost of a small transaction with fsync on.
wal_start() { WAL0=$(bpsql -At -c "SELECT pg_current_wal_lsn()"); }
wal_per_tx() { WAL_PER_TX=$(bpsql -At -c "SELECT round(pg_wal_lsn_diff(pg_current_wal_lsn(), '$WAL0') / $TX)"); }

# measure_writes LABEL SCRIPT CLIENTS COUNT_SQL [SECONDS]: a CHECKPOINT, a warm-up run, then the measured
# run (TPS, TX, WAL_PER_TX); fails unless COUNT_SQL grew by the transactions pgbench committed.
# The checkpoint comes before the warm-up, so the warm-up (not the measurement) pays the burst of
# full-page writes that follows every checkpoint, and no checkpoint falls into the measurement.
measure_writes() {
  local label=$1 script=$2 clients=$3 count_sql=$4 seconds=${5:-$SECONDS_PER_RUN} before after
  bpsql_do -c "CHECKPOINT"
  run_pgbench "$label-warmup" "$script" "$clients" "$WARMUP_SECONDS"
  before=$(bpsql -At -c "$count_sql")
  wal_start
  run_pgbench "$label" "$script" "$clients" "$seconds"
  wal_per_tx
  after=$(bpsql -At -c "$count_sql")
  ((after - before == TX)) || fail "$label: pgbench committed $TX transactions, but $((after - before)) rows were counted"
}

# profile_report METRIC CALLS TOP UNIT: the statements of the last run by total time, nested ones
# (what the calls matching TOP run inside) with their share of the time and their time per UNIT
# (a tracking call, or an event of F).
profile_report() {
  local file="$OUT_DIR/profile-$1.txt"
  bpsql -v calls="$2" -v top="$3" -v unit="$4" -f "$REPO/bench/profile.sql" >"$file"
  sed -n '1,16p' "$file" | sed 's/^/    /'
}

# profile_worker METRIC EVENTS TOP: what the processing worker ran during the last measurement
# (its top-level statements), per event.
profile_worker() {
  local file="$OUT_DIR/profile-$1-worker.txt"
  bpsql -v events="$2" -v top="$3" -f "$REPO/bench/profile_worker.sql" >"$file"
  sed -n '1,14p' "$file" | sed 's/^/    /'
}

# Processing workers of the benchmark database: start_worker (one, answers once it registered,
# so the next call takes the fast path), stop_workers, drained (waits until the backlog is empty,
# at most DRAIN_TIMEOUT s; fails otherwise or when a batch failed; sets DRAINED, the seconds).
start_worker() { bpsql_do -c "SELECT count(*) FROM onevault_tracking.start_workers(1)"; }
stop_workers() { bpsql_do -c "SELECT onevault_tracking.stop_workers()"; }
drained() { DRAINED=$(bpsql -At -c "SELECT round(bench.wait_drained($DRAIN_TIMEOUT), 2)"); }

# ---------------------------------------------------------------------------------------------
# R: reports at scale (bench/scale_*.sql; see bench/README.md, "Reports at scale"), in a tenant and
# site of their own, so that no other stage's events are in its reports; always the last stage
# (it grows the tables by a million events).
SCALE_SITE=shop.example.org
SCALE_PAGE=/pricing
# scale_label EVENTS: 100000 -> 100k, 1000000 -> 1m (the sizes' names in bench.report_times).
scale_label() {
  if (($1 % 1000000 == 0)); then echo "$(($1 / 1000000))m"; elif (($1 % 1000 == 0)); then echo "$(($1 / 1000))k"; else echo "$1"; fi
}
reports_scale() {
  local answer key_hk tenant_hk day_end from_at small large part upkeep
  step "R: reports at scale: $SCALE_SMALL events over 30 days, then $SCALE_LARGE (tenant and site of their own: $SCALE_SITE)"
  answer=$(bpsql -At -F ' ' -v tenant_bk='Bench Scale Corp_2026-01-01 00:00:00+00' -v site="$SCALE_SITE" -f "$REPO/bench/tenant.sql")
  read -r _ key_hk tenant_hk <<<"$answer"
  bpsql_do -v tenant_hk="\\x$tenant_hk" -v api_key_hk="\\x$key_hk" -v site="$SCALE_SITE" -f "$REPO/bench/scale_setup.sql"
  # The 30 days end at the last UTC midnight: the reports' ranges are whole UTC days (the site's
  # time zone is UTC) and their rollup buckets closed, as a dashboard's "last 30 days" finds them.
  IFS='|' read -r day_end from_at < <(bpsql -At -F '|' -c "SELECT date_trunc('day', now(), 'UTC'), date_trunc('day', now(), 'UTC') - interval '30 days'")
  small=$(scale_label "$SCALE_SMALL") large=$(scale_label "$SCALE_LARGE")
  # scale_grow LABEL FIRST COUNT SEED UPKEEP: COUNT more events over the 30 days, through the
  # pipeline, with the rollup upkeep on, or off and the rollups rebuilt after.
  scale_grow() {
    local started=$SECONDS
    bpsql_do -v first="$2" -v events="$3" -v visitors=$((($2 + $3) / 20)) -v from_at="$from_at" -v to_at="$day_end" \
      -v parts=1 -v seed="$4" -v site="$SCALE_SITE" -f "$REPO/bench/scale_load.sql"
    echo "  $3 events generated ($((($2 + $3) / 20)) visitors in all) in $((SECONDS - started)) s"
    bpsql_do -v label="$1" -v total=$(($2 + $3)) -v upkeep="$5" -f "$REPO/bench/scale_process.sql" \
      -v what="reports at scale: $3 events landed as the tracking API stores them, processed by staging.process_pending_events(1000) in a loop (rollup upkeep $5), up to $(($2 + $3)) events"
    bpsql -At -c "SELECT format('  %-22s %s %s (%s)', metric, round(value, 1), unit, notes) FROM bench.results WHERE metric IN ('scale_process_$1', 'scale_close_$1') ORDER BY ord"
  }
  # scale_reports LABEL EVENTS: the report set, both sources.
  scale_reports() {
    echo "  the report set at $2 events (ms; rollups: median of 5 calls, vault: of up to 3 within 20 s):"
    bpsql -q -v size="$1" -v events="$2" -v site="$SCALE_SITE" -v tenant_hex="$tenant_hk" -v day_end="$day_end" \
      -v page="$SCALE_PAGE" -v runs=5 -v vault_runs=3 -v vault_budget=20 -f "$REPO/bench/scale_reports.sql" | sed 's/^/    /'
  }
  scale_grow "$small" 0 "$SCALE_SMALL" 0.11 on
  scale_reports "$small" "$SCALE_SMALL"
  scale_grow "$large" "$SCALE_SMALL" $((SCALE_LARGE - SCALE_SMALL)) 0.22 off
  scale_reports "$large" "$SCALE_LARGE"

  step "R: rollup upkeep cost: F off and on at $SCALE_LARGE events, 4 parts of about $SCALE_PART events (off, on, on, off)"
  # Live traffic: visits of the last three hours, in 4 parts of whole visits.
  IFS='|' read -r from_at day_end < <(bpsql -At -F '|' -c "SELECT now() - interval '3 hours', now() - interval '15 minutes'")
  bpsql_do -v first="$SCALE_LARGE" -v events=$((4 * SCALE_PART)) -v visitors=$((SCALE_LARGE / 20)) -v from_at="$from_at" \
    -v to_at="$day_end" -v parts=4 -v seed=0.33 -v site="$SCALE_SITE" -f "$REPO/bench/scale_load.sql"
  for part in 0 1 2 3; do
    case $part in 0 | 3) upkeep=off ;; *) upkeep=on ;; esac
    bpsql_do -v part="$part" -v upkeep="$upkeep" -v db="$DB" -v timeout="$PROCESS_TIMEOUT" -f "$REPO/bench/scale_upkeep.sql"
    bpsql -At -c "SELECT format('  %-22s %s events/s (%s)', metric, round(value, 1), notes) FROM bench.results WHERE metric = 'upkeep_${upkeep}_part$part'"
  done
  bpsql_do -v small="$small" -v large="$large" -f "$REPO/bench/scale_results.sql"
  bpsql -At -c "SELECT format('  %-26s %s (%s)', metric, round(value, 3), notes) FROM bench.results
                 WHERE metric IN ('report_speedup_1m', 'report_growth_100k_to_1m', 'rollup_upkeep_cost') ORDER BY ord"
}

# ---------------------------------------------------------------------------------------------
# X: scale-out (bench/scaleout_*.sql, bench/pgbench/track_scaleout.sql; bench/README.md,
# "Scale-out through the proxy"): api.track_page_view through the proxy package, routed with
# PL/Proxy to the shard that holds the site, against the same calls on the single node (the
# benchmark database). Both sides have the same SCALEOUT_SITES sites of the benchmark's tenant,
# a key each; pgbench draws a site and its key per call, 4 clients, SECONDS_PER_RUN after a
# warm-up, the single node first, then the proxy (the other side idle meanwhile).
# Workers: one processing worker per database on both sides (start_workers(1) on the single
# node, and on each shard), as each database would run deployed. Without one, track_page_view
# would process the whole pipeline in the call; with one, the calls take the fast path on both
# sides and the workers' CPU is in the run (three workers on the proxy's side, one on the single
# node's). The backlog a run leaves is drained after it and not counted, as in B.
SCALEOUT_SITES=12
# Set by scaleout: all sites (an SQL array), the sites the proxy placed on each shard (SQL arrays).
SCALEOUT_SITE_ARRAY=
SHARD_SITES=()

# scaleout_each SIDE PSQL-ARGS...: psql in every database that stores SIDE's events (single: the
# benchmark database; proxy: each shard's), their outputs one after the other.
scaleout_each() {
  local side=$1 n
  shift
  if [ "$side" = single ]; then
    bpsql "$@"
    return
  fi
  for n in "${SCALEOUT_SHARDS[@]}"; do
    cluster_psql "$(shard_dir "$n")" "$(shard_port "$n")" -d onevault -P pager=off "$@"
  done
}

# scaleout_drained SIDE: waits until SIDE's workers drained the backlog, at most DRAIN_TIMEOUT s
# (the shards' workers drain at once, so waiting for one after the other waits for the slowest);
# sets DRAINED, the seconds.
scaleout_drained() {
  local started=$EPOCHREALTIME n
  if [ "$1" = single ]; then
    drained
    return
  fi
  for n in "${SCALEOUT_SHARDS[@]}"; do
    cluster_wait_for "$(shard_dir "$n")" "$(shard_port "$n")" onevault "$DRAIN_TIMEOUT" \
      "SELECT NOT EXISTS (SELECT FROM raw.site_tracking_events_r WHERE processing_status IN ('PENDING', 'ERROR'))" \
      || fail "scale-out: shard $n's worker did not drain its backlog within $DRAIN_TIMEOUT s"
  done
  DRAINED=$(awk -v from="$started" -v to="$EPOCHREALTIME" 'BEGIN { printf "%.2f", to - from }')
}

# scaleout_counts SIDE: sets COUNTS to the first seven counts of bench/scaleout_counts.sql over
# SIDE's databases (added up over the shards) and SHARD_EVENTS to each shard's vault events of its
# sites; fails when a shard holds a site, a raw row or a vault event of a site placed elsewhere.
scaleout_counts() {
  local n i line c=() sums=(0 0 0 0 0 0 0)
  if [ "$1" = single ]; then
    line=$(bpsql -At -F ' ' -v sites="$SCALEOUT_SITE_ARRAY" -f "$REPO/bench/scaleout_counts.sql")
    read -r -a c <<<"$line"
    COUNTS=("${c[@]:0:7}")
    return
  fi
  SHARD_EVENTS=()
  for n in "${SCALEOUT_SHARDS[@]}"; do
    line=$(cluster_psql "$(shard_dir "$n")" "$(shard_port "$n")" -d onevault -At -F ' ' -v sites="${SHARD_SITES[n]}" \
      -f "$REPO/bench/scaleout_counts.sql")
    read -r -a c <<<"$line"
    ((c[7] == 0 && c[8] == 0 && c[9] == 0)) \
      || fail "scale-out: shard $n holds ${c[7]} sites, ${c[8]} raw rows and ${c[9]} vault events of sites placed elsewhere"
    for i in "${!sums[@]}"; do sums[i]=$((sums[i] + c[i])); done
    SHARD_EVENTS+=("${c[2]}")
  done
  COUNTS=("${sums[@]}")
}

# scaleout_measure SIDE METRIC WHAT: as measure_track, on SIDE (single or proxy): its workers
# started, a CHECKPOINT, a warm-up run, its backlog drained, ANALYZE (so that neither side's plans
# wait for autovacuum), the measured run, the backlog drained; every call must have been accepted,
# landed, staged VALID and loaded once (and on the proxy's side, on its site's shard); recorded.
scaleout_measure() {
  local side=$1 metric=$2 what=$3 before=() after=() shards_before=() i backlog shard_note=''
  local labels=('raw rows' 'staged and loaded' 'vault events' 'accepted attempts')
  # run_pgbench's target: the benchmark database, or the proxy.
  local PGBENCH_HOST=$BENCH_DIR PGBENCH_PORT=$PORT PGBENCH_DB=$DB
  if [ "$side" = proxy ]; then PGBENCH_HOST=$SCALEOUT_DIR/proxy PGBENCH_PORT=$PROXY_PORT PGBENCH_DB=proxy; fi
  RUN_ID=$((RUN_ID + 1))
  scaleout_each "$side" -q -c "SELECT count(*) FROM onevault_tracking.start_workers(1)" -c "CHECKPOINT" >/dev/null
  run_pgbench "$metric-warmup" "$WORK/track_scaleout_$side.sql" 4 "$WARMUP_SECONDS"
  scaleout_drained "$side"
  scaleout_each "$side" -q -c "ANALYZE" >/dev/null
  scaleout_counts "$side"
  before=("${COUNTS[@]}") shards_before=("${SHARD_EVENTS[@]}")
  run_pgbench "$metric" "$WORK/track_scaleout_$side.sql" 4 "$SECONDS_PER_RUN"
  backlog=$(scaleout_each "$side" -At -c "SELECT count(*) FROM raw.site_tracking_events_r WHERE processing_status IN ('PENDING', 'ERROR')" \
    | awk '{ sum += $1 } END { print sum + 0 }')
  scaleout_drained "$side"
  scaleout_counts "$side"
  after=("${COUNTS[@]}")
  scaleout_each "$side" -q -c "SELECT onevault_tracking.stop_workers()" >/dev/null
  for i in "${!labels[@]}"; do
    ((after[i] - before[i] == TX)) \
      || fail "$metric: $TX calls but $((after[i] - before[i])) ${labels[i]} (refused attempts: $((after[4] - before[4])))"
  done
  ((after[4] == before[4])) || fail "$metric: $((after[4] - before[4])) calls were refused"
  ((after[5] == 0 && after[6] == 0)) || fail "$metric: ${after[5]} events left to process, ${after[6]} failed worker batches"
  if [ "$side" = proxy ]; then
    for i in "${!SHARD_EVENTS[@]}"; do
      shard_note+="${shard_note:+, }shard $i: $((SHARD_EVENTS[i] - shards_before[i]))"
    done
    shard_note="; events per shard: $shard_note"
  fi
  bpsql_do -c "SELECT bench.record('$metric', 'calls/s', $TPS, '$what, one call per transaction to a random one of $SCALEOUT_SITES sites, 4 clients',
    '$TX calls in $SECONDS_PER_RUN s, all accepted, staged and loaded; $backlog events pending at the end, drained in $DRAINED s$shard_note')"
  printf '  %-10s 4 clients: %s calls/s (%s calls, all accepted, staged, loaded; %s pending at the end, drained in %s s%s)\n' \
    "$metric" "$TPS" "$TX" "$backlog" "$DRAINED" "$shard_note"
}

scaleout() {
  local n line conn=() site_domains=() proxy_keys=() single_keys=() here=() placed=''
  step "X: scale-out: api.track_page_view through a proxy to ${#SCALEOUT_SHARDS[@]} shards vs the single node (pgbench, 4 clients)"
  rm -rf -- "$SCALEOUT_DIR"
  mkdir -p "$SCALEOUT_DIR"
  SCALEOUT_UP=true
  for n in "${SCALEOUT_SHARDS[@]}"; do
    cluster_start "$(shard_dir "$n")" "$(shard_port "$n")"
    cluster_fresh_db "$(shard_dir "$n")" "$(shard_port "$n")" onevault
    conn+=(-v "s$n=host=$(shard_dir "$n") port=$(shard_port "$n") dbname=onevault user=postgres")
  done
  cluster_start "$SCALEOUT_DIR/proxy" "$PROXY_PORT"
  cluster_psql "$SCALEOUT_DIR/proxy" "$PROXY_PORT" -d postgres -c "CREATE DATABASE proxy"
  line=$(cluster_psql "$SCALEOUT_DIR/proxy" "$PROXY_PORT" -d proxy -At "${conn[@]}" -v tenant_hk="\\x$TENANT_HK" \
    -v tenant_bk="$TENANT_BK" -f "$REPO/bench/scaleout_proxy.sql" | paste -sd' ')
  [ "$line" = "${#SCALEOUT_SHARDS[@]} true" ] || fail "scale-out: the proxy's setup answered '$line' (shards, tenant registered)"
  echo "  proxy on port $PROXY_PORT, shards on ports $(shard_port 0) to $(shard_port "${SCALEOUT_SHARDS[-1]}") (in $SCALEOUT_DIR)"

  # The same sites on both sides, a key each; the proxy answers where it placed them.
  cluster_psql "$SCALEOUT_DIR/proxy" "$PROXY_PORT" -d proxy -v tenant_hk="\\x$TENANT_HK" -v sites="$SCALEOUT_SITES" \
    -f "$REPO/bench/scaleout_sites.sql" >"$WORK/scaleout-sites-proxy.csv"
  bpsql -v tenant_hk="\\x$TENANT_HK" -v sites="$SCALEOUT_SITES" -f "$REPO/bench/scaleout_sites.sql" >"$WORK/scaleout-sites-single.csv"
  mapfile -t site_domains < <(cut -d, -f1 "$WORK/scaleout-sites-proxy.csv")
  mapfile -t proxy_keys < <(cut -d, -f2 "$WORK/scaleout-sites-proxy.csv")
  mapfile -t single_keys < <(cut -d, -f2 "$WORK/scaleout-sites-single.csv")
  ((${#site_domains[@]} == SCALEOUT_SITES)) || fail "scale-out: the proxy registered ${#site_domains[@]} of $SCALEOUT_SITES sites"
  [ "$(cut -d, -f1 "$WORK/scaleout-sites-single.csv")" = "$(cut -d, -f1 "$WORK/scaleout-sites-proxy.csv")" ] \
    || fail "scale-out: the single node registered other sites than the proxy (see $WORK/scaleout-sites-*.csv)"
  for line in "${proxy_keys[@]}" "${single_keys[@]}"; do
    [[ $line =~ ^ovt_[0-9a-f]{8}_[0-9a-f]{64}$ ]] || fail "scale-out: api.create_api_key answered '$line', not a key"
  done
  # Each shard must hold several sites, so that the calls spread over all of them.
  for n in "${SCALEOUT_SHARDS[@]}"; do
    mapfile -t here < <(awk -F, -v n="$n" '$3 == n { print $1 }' "$WORK/scaleout-sites-proxy.csv")
    ((${#here[@]} >= 2)) || fail "scale-out: the proxy placed ${#here[@]} of the $SCALEOUT_SITES sites on shard $n"
    SHARD_SITES[n]=$(sql_array "${here[@]}")
    placed+="${placed:+, }shard $n: ${#here[@]}"
  done
  [ "$(awk -F, '$3 ~ /^[0-9]+$/' "$WORK/scaleout-sites-proxy.csv" | wc -l)" -eq "$SCALEOUT_SITES" ] \
    || fail "scale-out: the proxy placed sites on shards it does not have (see $WORK/scaleout-sites-proxy.csv)"
  echo "  $SCALEOUT_SITES sites with a key each, through the proxy ($placed) and on the single node"

  SCALEOUT_SITE_ARRAY=$(sql_array "${site_domains[@]}")
  pgbench_script track_scaleout.sql "$WORK/track_scaleout_single.sql" api "SITES=$SCALEOUT_SITE_ARRAY" \
    "KEYS=$(sql_array "${single_keys[@]}")" "SITE_COUNT=$SCALEOUT_SITES"
  pgbench_script track_scaleout.sql "$WORK/track_scaleout_proxy.sql" api "SITES=$SCALEOUT_SITE_ARRAY" \
    "KEYS=$(sql_array "${proxy_keys[@]}")" "SITE_COUNT=$SCALEOUT_SITES"
  scaleout_measure single single_c4 'X: api.track_page_view on the single node (the benchmark database), 1 processing worker'
  scaleout_measure proxy proxy_c4 \
    "X: api.track_page_view through the proxy (onevault_tracking_proxy, PL/Proxy) to ${#SCALEOUT_SHARDS[@]} shards with 1 processing worker each, all on this machine"
  bpsql -At -c "SELECT format('  proxy_vs_single_c4 %s', round(p.value / s.value, 3)) FROM bench.results AS p, bench.results AS s
                 WHERE p.metric = 'proxy_c4' AND s.metric = 'single_c4'"
  scaleout_stop
  SCALEOUT_UP=false
  # The clusters' data and logs stay (stopped) with --keep; the site lists and the pgbench
  # scripts and logs are in $WORK.
  if ! $KEEP; then rm -rf -- "$SCALEOUT_DIR"; fi
}

# finish: results.json and the table (the last step of every run).
finish() {
  step "results"
  ELAPSED=$(($(date +%s) - STARTED))
  CPU_MODEL=$(lscpu 2>/dev/null | awk -F': *' '/^Model name/ {print $2; exit}')
  MEM_KB=$(awk '/^MemTotal/ {print $2}' /proc/meminfo 2>/dev/null || echo 0)
  COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
  [ -z "$(git -C "$REPO" status --porcelain -- src sql core Cargo.toml Cargo.lock 2>/dev/null)" ] || COMMIT="$COMMIT+uncommitted changes"
  bpsql -At -v mode="$MODE" -v date="$(date -u +%Y-%m-%dT%H:%M:%SZ)" -v nproc="$(nproc)" -v cpu="$CPU_MODEL" \
    -v mem_gb="$((MEM_KB / 1048576))" -v kernel="$(uname -r)" -v build="$BUILD_NOTE" -v commit="$COMMIT" \
    -v n="$N" -v seconds="$SECONDS_PER_RUN" -v sustained_seconds="$SUSTAINED_SECONDS" -v warmup="$WARMUP_SECONDS" -v elapsed="$ELAPSED" -v ips="$CLIENT_IPS" -v profile="$PROFILE" \
    -v scale_small="$SCALE_SMALL" -v scale_large="$SCALE_LARGE" -v scale_part="$SCALE_PART" -v only="$BENCH_ONLY" \
    -v load_start="$LOAD_AT_START" -v load_end="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)" \
    -f "$REPO/bench/results.sql" >"$RESULTS.tmp"

  # Pretty-printed in the order written when python3 is there (jq would sort nothing either way).
  if command -v python3 >/dev/null && python3 -m json.tool --indent 2 "$RESULTS.tmp" >"$RESULTS" 2>/dev/null; then
    rm -f -- "$RESULTS.tmp"
  else
    mv -- "$RESULTS.tmp" "$RESULTS"
  fi

  bpsql -f "$REPO/bench/summary.sql"
  echo "results: $RESULTS  (elapsed ${ELAPSED} s, $MODE mode)"
  SUCCEEDED=true
}

case $BENCH_ONLY in
  reports_scale | scaleout)
    "$BENCH_ONLY" # the stage's function
    finish
    exit 0
    ;;
esac

# ---------------------------------------------------------------------------------------------
step "D: COPY of $N raw-shaped rows"
bpsql_do -c "TRUNCATE bench.raw_like" -c "CHECKPOINT"
bpsql_do -v n="$N" -v copy_file="$COPY_FILE" -f "$REPO/bench/copy.sql"
bpsql -At -c "SELECT format('  %s rows/s (%s)', round(value, 1), notes) FROM bench.results WHERE metric = 'copy'"

# ---------------------------------------------------------------------------------------------
step "E: raw.batch_ingest_tracking_events of the same $N events (batches of $BATCH_SIZE)"
bpsql_do -c "CHECKPOINT"
# No worker runs yet: E's events stay PENDING for F.
bpsql_do -v n="$N" -v suffix= -v record=true -f "$REPO/bench/batch.sql"
bpsql -At -c "SELECT format('  %s events/s (%s)', round(value, 1), notes) FROM bench.results WHERE metric = 'batch'"

# ---------------------------------------------------------------------------------------------
step "F: one processing worker takes the $N landed events through staging into the vault"
bpsql_do -c "ANALYZE raw.site_tracking_events_r" -c "CHECKPOINT"
if $PROFILE; then bpsql_do -c "SELECT pg_stat_statements_reset()"; fi
bpsql_do -v n="$N" -v metric=process -v timeout="$PROCESS_TIMEOUT" \
  -v what="F: one background worker (start_workers(1)) processing the N landed events in its batches of 1000, raw to staging to vault, until none is pending" \
  -f "$REPO/bench/process_worker.sql"
bpsql -At -c "SELECT format('  %-16s %s events/s (%s)', metric, round(value, 1), notes) FROM bench.results WHERE metric = 'process'"
if $PROFILE; then profile_worker process "$N" '^$'; fi

step "F the old way (process_sql): $N more events through staging.process_pending_events(1000)"
bpsql_do -v n="$N" -v suffix=-sql -v record=false -f "$REPO/bench/batch.sql"
bpsql_do -c "ANALYZE raw.site_tracking_events_r" -c "CHECKPOINT"
if $PROFILE; then bpsql_do -c "SELECT pg_stat_statements_reset()"; fi
bpsql_do -v n="$N" -f "$REPO/bench/process.sql"
bpsql -At -c "SELECT format('  %-16s %s events/s (%s)', metric, round(value, 1), notes) FROM bench.results WHERE metric = 'process_sql'"
if $PROFILE; then profile_report process_sql "$N" process_pending_events event; fi

# ---------------------------------------------------------------------------------------------
step "realistic traffic for the reports (demo/traffic.sql: 1,200 visitors over 46 hours)"
bpsql_do -c "CREATE SCHEMA demo" -v seed=42 -v visitors=1200 -v history_hours=46 \
  -v single_events=4000 -v batch_events=0 -f "$REPO/demo/traffic.sql"
read -r TRAFFIC REFUSED <<<"$(bpsql -At -F ' ' -v api_key="$API_KEY" -v site="$SITE" -f "$REPO/bench/traffic.sql")"
((TRAFFIC > 0 && REFUSED == 0)) || fail "realistic traffic: $REFUSED of $TRAFFIC calls refused"
echo "  $TRAFFIC events through the tracking API, all accepted"

step "reports over the loaded events and the realistic traffic (optional)"
bpsql -q -v n="$(bpsql -At -c 'SELECT count(*) FROM business.tracking_event_l')" -v site="$SITE" -v tenant_hex="$TENANT_HK" -f "$REPO/bench/reports.sql" >/dev/null
reports=$(bpsql -At -c "SELECT format('  %-24s %s events/s (%s)', metric, round(value, 1), notes) FROM bench.results WHERE metric LIKE 'report%' ORDER BY ord")
echo "${reports:-  api.site_stats does not exist in this build: skipped}"

# ---------------------------------------------------------------------------------------------
step "A: bare INSERT of raw-shaped rows (pgbench, one row per transaction)"
# A, B and C run on top of the N events of D, E and F (tables of a realistic size, with planner
# statistics), never on empty tables whose plans would not be the ones production gets.
bpsql_do -c "VACUUM ANALYZE"
for clients in 1 2; do
  measure_writes "insert-c$clients" "$WORK/insert_raw.sql" "$clients" "SELECT count(*) FROM bench.raw_like"
  bpsql_do -c "SELECT bench.record('insert_c$clients', 'rows/s', $TPS,
    'A: single-row INSERT into bench.raw_like (raw table shape), one per transaction, $clients client(s)',
    '$TX rows in $SECONDS_PER_RUN s, $WAL_PER_TX bytes of WAL per row', $WAL_PER_TX)"
  printf '  %d client(s): %s rows/s (%s rows, %s bytes of WAL per row)\n' "$clients" "$TPS" "$TX" "$WAL_PER_TX"
done

# ---------------------------------------------------------------------------------------------
step "B and C: api.track_page_view (fast path, 1 worker) vs the PL/pgSQL reference (pgbench, one call per transaction)"
# measure_track METRIC IMPL CLIENTS WHAT: a CHECKPOINT, a warm-up run, the measured run, checked.
# With a worker running (B), the warm-up's backlog drains before the measured run, and after it
# every call must have been accepted and landed and, once the worker drained (at most
# DRAIN_TIMEOUT s), staged VALID and loaded exactly once. Without one (C, and B with
# api_processing = immediate), all of that must hold when the run ends.
measure_track() {
  local metric=$1 impl=$2 clients=$3 what=$4 worker backlog=0 drain_note=''
  # worker: whether the calls take the fast path (a worker runs, and the setting is not immediate).
  worker=$(bpsql -At -c "SELECT count(*) FROM onevault_tracking.worker_status WHERE running")
  if [[ ${PGBENCH_OPTIONS:-} == *immediate* ]]; then worker=0; fi
  # Each run (with its warm-up) has its own client addresses and session ids, so no run finds
  # visitors, sessions or rate-limit windows an earlier one created.
  RUN_ID=$((RUN_ID + 1))
  bpsql_do -c "CHECKPOINT"
  run_pgbench "$metric-warmup" "$WORK/track_$impl.sql" "$clients" "$WARMUP_SECONDS"
  if ((worker > 0)); then drained; fi
  read -r raw0 staged0 vault0 accepted0 rejected0 < <(bpsql -At -F ' ' -c "SELECT * FROM bench.tracked()")
  if $PROFILE; then bpsql_do -c "SELECT pg_stat_statements_reset()"; fi
  wal_start
  run_pgbench "$metric" "$WORK/track_$impl.sql" "$clients" "$SECONDS_PER_RUN"
  wal_per_tx
  backlog=$(bpsql -At -c "SELECT bench.pending()")
  if ((worker > 0)); then
    drained
    drain_note="; $backlog events pending at the end, drained by the worker in $DRAINED s"
  elif ((backlog > 0)); then
    fail "$metric: $backlog events pending after the run, with the whole pipeline in the call"
  fi
  if $PROFILE; then
    profile_report "$metric" "$TX" track_page_view call
    if ((worker > 0)); then profile_worker "$metric" "$TX" track_page_view; fi
  fi
  read -r raw1 staged1 vault1 accepted1 rejected1 < <(bpsql -At -F ' ' -c "SELECT * FROM bench.tracked()")
  # Every call must have been accepted, landed, staged VALID and loaded into the vault (staging
  # and vault keys are unique per raw event: counted once means loaded once).
  for check in "raw rows:$((raw1 - raw0))" "staged and loaded:$((staged1 - staged0))" \
    "vault events:$((vault1 - vault0))" "accepted attempts:$((accepted1 - accepted0))"; do
    ((${check#*:} == TX)) || fail "$metric: $TX calls but ${check#*:} ${check%%:*} (rejected attempts: $((rejected1 - rejected0)))"
  done
  ((rejected1 == rejected0)) || fail "$metric: $((rejected1 - rejected0)) calls were rejected"
  bpsql_do -c "SELECT bench.record('$metric', 'calls/s', $TPS, '$what, one call per transaction, $clients client(s)',
    '$TX calls in $SECONDS_PER_RUN s, all accepted, staged and loaded$drain_note; $WAL_PER_TX bytes of WAL per call', $WAL_PER_TX)"
  printf '  %-20s %d client(s): %s calls/s (%s calls, all accepted, staged, loaded%s; %s bytes of WAL per call)\n' \
    "$metric" "$clients" "$TPS" "$TX" "$drain_note" "$WAL_PER_TX"
}
for clients in 1 2; do
  start_worker
  measure_track "track_c$clients" api "$clients" 'B: api.track_page_view (native), default path: fast path with 1 worker running'
  stop_workers
  measure_track "plpgsql_c$clients" bench_plpgsql "$clients" 'C: bench_plpgsql.track_page_view (PL/pgSQL reference)'
done
# Before the worker: the whole pipeline in the call, with a worker running (so it is the setting,
# not the worker's absence, that makes the call process its event).
start_worker
PGBENCH_OPTIONS='-c onevault_tracking.api_processing=immediate' measure_track track_immediate_c1 api 1 \
  'B: api.track_page_view (native) with api_processing = immediate: the whole pipeline in the call'
stop_workers

# ---------------------------------------------------------------------------------------------
step "S: sustained, 4 clients for $SUSTAINED_SECONDS s: vault events per second with the worker draining"
# The bare insert (A's script) and C with 4 clients, and B's fast path with 4 clients while one
# worker drains: vault events by GRACE_SECONDS after the end, per second of the run.
measure_writes insert-c4 "$WORK/insert_raw.sql" 4 "SELECT count(*) FROM bench.raw_like" "$SUSTAINED_SECONDS"
INSERT_C4=$(awk -v tx="$TX" -v s="$SUSTAINED_SECONDS" 'BEGIN { printf "%.1f", tx / s }')
bpsql_do -c "SELECT bench.record('insert_c4', 'rows/s', $INSERT_C4,
  'S: single-row INSERT into bench.raw_like (A), one per transaction, 4 clients, $SUSTAINED_SECONDS s',
  '$TX rows in $SUSTAINED_SECONDS s (rows / seconds), $WAL_PER_TX bytes of WAL per row', $WAL_PER_TX)"
printf '  %-20s 4 clients: %s rows/s (%s rows)\n' insert_c4 "$INSERT_C4" "$TX"
# sustained METRIC IMPL FRESHNESS WHAT
sustained() {
  local metric=$1 impl=$2 freshness=$3 what=$4 id0
  RUN_ID=$((RUN_ID + 1))
  bpsql_do -c "CHECKPOINT"
  run_pgbench "$metric-warmup" "$WORK/track_$impl.sql" 4 "$WARMUP_SECONDS"
  if $freshness; then drained; fi
  id0=$(bpsql -At -c "SELECT coalesce(max(raw_event_id), 0) FROM raw.site_tracking_events_r")
  run_pgbench "$metric" "$WORK/track_$impl.sql" 4 "$SUSTAINED_SECONDS"
  bpsql_do -v id0="$id0" -v seconds="$SUSTAINED_SECONDS" -v tx="$TX" -v metric="$metric" -v what="$what" \
    -v grace="$GRACE_SECONDS" -v drain_timeout="$DRAIN_TIMEOUT" -v freshness="$freshness" -f "$REPO/bench/sustained.sql"
  bpsql -At -c "SELECT format('  %-20s %s %s (%s)', metric, round(value, 3), unit, notes) FROM bench.results
                 WHERE metric = '$metric' OR ($freshness AND metric = 'freshness_p99_s') ORDER BY ord"
}
start_worker
sustained sustained_c4 api true \
  "S: api.track_page_view, default path (fast path, 1 worker draining), 4 clients, $SUSTAINED_SECONDS s: events in the vault by ${GRACE_SECONDS} s after the end, per second"
stop_workers
sustained plpgsql_sustained_c4 bench_plpgsql false \
  "S: bench_plpgsql.track_page_view (stages and loads in the call), 4 clients, $SUSTAINED_SECONDS s: events in the vault per second"

# ---------------------------------------------------------------------------------------------
step "H: the floor of a tracked page view (pgbench, only the writes a call must make, 1 client)"
# bench/floor.sql: raw, staging, event link and satellite, a rate-limit count and the audit call,
# copied from a loaded event of B in one prepared statement. An upper bound for B (see the file).
# bench/fast_floor.sql (H'), in the same psql session: the raw row, the count and the audit call.
bpsql_do -v floor_script="$WORK/floor.sql" -f "$REPO/bench/floor.sql" \
  -v fast_floor_script="$WORK/fast_floor.sql" -f "$REPO/bench/fast_floor.sql"
measure_writes floor "$WORK/floor.sql" 1 "SELECT count(*) FROM audit.audit_event_h AS h JOIN audit.audit_detail_s AS d USING (audit_event_hk)
   WHERE h.audit_event_bk LIKE 'TRACKING_ATTEMPT_api.tracking_floor:%' AND d.new_data ->> 'outcome' = 'accepted'"
bpsql_do -c "SELECT bench.record('floor_c1', 'calls/s', $TPS,
  'H: the writes a tracked page view must make (bench/floor.sql), one prepared statement per transaction, 1 client',
  '$TX calls in $SECONDS_PER_RUN s, all audited; $WAL_PER_TX bytes of WAL per call', $WAL_PER_TX)"
printf '  1 client: %s calls/s (%s calls, all audited; %s bytes of WAL per call)\n' "$TPS" "$TX" "$WAL_PER_TX"

step "H': the floor of the fast path (pgbench, only the writes a call on the default path must make, 1 client)"
measure_writes fast_floor "$WORK/fast_floor.sql" 1 "SELECT count(*) FROM audit.audit_event_h AS h JOIN audit.audit_detail_s AS d USING (audit_event_hk)
   WHERE h.audit_event_bk LIKE 'TRACKING_ATTEMPT_api.tracking_fast_floor:%' AND d.new_data ->> 'outcome' = 'accepted'"
bpsql_do -c "SELECT bench.record('fast_floor_c1', 'calls/s', $TPS,
  'H'': the writes a tracked page view must make on the fast path (bench/fast_floor.sql): the raw row, a rate-limit count, the audit call; 1 client',
  '$TX calls in $SECONDS_PER_RUN s, all audited; $WAL_PER_TX bytes of WAL per call', $WAL_PER_TX)"
printf '  1 client: %s calls/s (%s calls, all audited; %s bytes of WAL per call)\n' "$TPS" "$TX" "$WAL_PER_TX"
# Its PENDING rows are not events of the workload: gone before anything processes them.
bpsql_do -c "DELETE FROM raw.site_tracking_events_r WHERE client_event_id LIKE 'fast-floor-%'"

# ---------------------------------------------------------------------------------------------
step "I: the floor of processing ($N events: only the writes processing must make, set-based)"
# bench/process_floor.sql: raw rows marked PROCESSED, staging rows, event links and satellites,
# copied from H's templates in batches of 1000. An upper bound for F (see the file).
bpsql_do -v n="$N" -f "$REPO/bench/process_floor.sql"
bpsql -At -c "SELECT format('  %s events/s (%s)', round(value, 1), notes) FROM bench.results WHERE metric = 'process_floor'"

# ---------------------------------------------------------------------------------------------
step "G: hash keys over $HASH_KEYS keys, one statement each (best of $HASH_RUNS)"
# psql cannot loop: one session runs bench/hash_round.sql once per round, then bench/hash.sql.
rounds=()
for ((r = 0; r < HASH_RUNS; r++)); do rounds+=(-f "$REPO/bench/hash_round.sql"); done
bpsql -q -v keys="$HASH_KEYS" -v site="$SITE" -v tenant="\\x$TENANT_HK" "${rounds[@]}" -f "$REPO/bench/hash.sql" >/dev/null
bpsql -At -c "SELECT format('  %-16s %s keys/s (%s)', metric, round(value), notes) FROM bench.results WHERE metric LIKE 'hash%' ORDER BY ord"

# ---------------------------------------------------------------------------------------------
if [ "$MODE" = full ]; then
  step "F once the tables hold about $GROW_TO events (process_1m): $N more events by one worker"
  # bench/grow.sql copies the processed bulk events as history (set-based, a minute or two), then
  # N new events land and one worker processes them, timed as F.
  bpsql -q -At -v target="$GROW_TO" -f "$REPO/bench/grow.sql" | { grep -v "^$" || true; }
  bpsql_do -v n="$N" -v suffix=-1m -v record=false -f "$REPO/bench/batch.sql"
  bpsql_do -c "ANALYZE raw.site_tracking_events_r" -c "CHECKPOINT"
  if $PROFILE; then bpsql_do -c "SELECT pg_stat_statements_reset()"; fi
  bpsql_do -v n="$N" -v metric=process_1m -v timeout="$PROCESS_TIMEOUT" \
    -v what="F at about $GROW_TO events stored: one background worker processing N new landed events in its batches of 1000, until none is pending" \
    -f "$REPO/bench/process_worker.sql"
  bpsql -At -c "SELECT format('  %-16s %s events/s (%s)', metric, round(value, 1), notes) FROM bench.results WHERE metric = 'process_1m'"
  if $PROFILE; then profile_worker process_1m "$N" '^$'; fi
else
  step "process_1m: not measured in quick mode"
  echo "  quick mode does not grow the tables to $GROW_TO events: process_1m and process_1m_vs_copy are"
  echo "  not shown (F on large tables needs a full run); process shows F at $N events only"
fi

# ---------------------------------------------------------------------------------------------
scaleout
reports_scale
finish
