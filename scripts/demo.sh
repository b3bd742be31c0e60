#!/usr/bin/env bash
# onevault_tracking demo: builds and installs the extension, starts a private PostgreSQL 15
# cluster (unix socket only), loads the One Vault core replica, registers the site example.com
# with an API key, and replays six days of realistic traffic: about 4,300 visitors (browsers,
# devices and a few percent bots; search, social and other referrers; newsletter, ads and social
# campaigns; signups, downloads and other custom events with properties) send 20,400 events one
# call each, over 20,000 of them through the tracking API (api.track_page_view /
# api.track_custom_event: key check, rate limit, landing, staging and vault loading in one call),
# the rest from old snippets to the raw endpoint; an edge collector relays 1,740 more in batches
# through the raw bulk path. With retries, events from broken trackers (quarantined), calls with
# wrong, misused and revoked keys and a rate-limit burst. It then processes the batches into
# staging, loads them into the business vault, and reports: the site's statistics from the
# reports (api.site_stats, api.site_breakdown, api.site_timeseries, read by a reader role under
# row-level security), what was quarantined and why, what was rate limited, audit records and
# throughput. The cluster keeps running.
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
# batches (1,740 events); staging drains the raw layer PROCESS_BATCH events per call, the
# business vault loads VAULT_BATCH staged events per call; the replay demonstration loads the
# REPLAY_EVENTS most recent ones again.
VISITORS=4600
HISTORY_HOURS=142
SINGLE_EVENTS=20400
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

# Every SQL call of the demo: psql on the demo database, no pager, stop at the first error.
demo_psql() { cluster_psql "$DEMO_DIR" "$DEMO_PORT" -d "$DB" -P pager=off "$@"; }

# The plaintext API keys exist only in these shell variables (api.create_api_key shows a key
# once; the database keeps its SHA-256). They are never printed, written to a file or put on a
# command line (where ps would show them): demo_psql_keys hands them to psql through its stdin,
# as the psql variables api_key, other_key and old_key, ahead of the SQL it reads from its own
# stdin. The SQL passes them to the server as session settings (demo.api_key, ...), so the
# statements that call the API do not contain them either.
API_KEY='' OTHER_KEY='' OLD_KEY=''
demo_psql_keys() {
  {
    printf '\\set api_key %s\n\\set other_key %s\n\\set old_key %s\n' "$API_KEY" "$OTHER_KEY" "$OLD_KEY"
    cat
  } | demo_psql "$@"
}
# new_api_key KEY_VARIABLE PREFIX_VARIABLE SITE NAME: creates a key for SITE of Demo Corp; the
# plaintext goes into the shell variable KEY_VARIABLE, its public prefix into PREFIX_VARIABLE,
# the answer without the plaintext into demo.admin_calls.
new_api_key() {
  local answer
  answer=$(demo_psql -At -F ' ' -v tenant_bk="$DEMO_TENANT" -v site="$3" -v key_name="$4" <<'SQL'
WITH created AS (
    SELECT api.create_api_key(util.hash_binary(:'tenant_bk'), :'site', :'key_name') AS answer
), kept AS (
    INSERT INTO demo.admin_calls (action, subject, answer)
    SELECT 'api.create_api_key', :'key_name', answer - 'api_key' FROM created
)
SELECT answer ->> 'api_key', answer ->> 'key_prefix' FROM created;
SQL
)
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
# The sample data and the demo's records live in their own schema "demo" (not part of the
# extension). demo.admin_calls keeps the answers of the site and key administration (without
# the plaintext keys), demo.api_calls every tracking API call with what the demo expects of it.
demo_psql -v demo_tenant="$DEMO_TENANT" -v other_tenant="$OTHER_TENANT" <<'SQL'
INSERT INTO auth.tenant_h (tenant_hk, tenant_bk, load_date, record_source)
VALUES (util.hash_binary(:'demo_tenant'), :'demo_tenant', '2026-01-01 00:00:00+00', 'demo'),
       (util.hash_binary(:'other_tenant'), :'other_tenant', '2025-01-01 00:00:00+00', 'demo');
SELECT tenant_bk, load_date, encode(tenant_hk, 'hex') AS tenant_hk FROM auth.tenant_h ORDER BY load_date;

CREATE SCHEMA demo;
COMMENT ON SCHEMA demo IS 'Sample data of scripts/demo.sh; not part of onevault_tracking';
CREATE TABLE demo.admin_calls (call_no serial PRIMARY KEY, action text, subject text, answer jsonb);
CREATE TABLE demo.api_calls (
    call_no bigserial PRIMARY KEY,
    story text NOT NULL,         -- browser traffic, wrong key, domain mismatch, revoked key, rate-limit burst
    n integer,                   -- the event (demo.events) a browser traffic call sends
    seq integer,                 -- the call's number within its story
    client_ip inet,
    expected text NOT NULL,      -- 'success' or the error_code the demo expects
    answer jsonb NOT NULL,
    called_at timestamptz NOT NULL DEFAULT clock_timestamp());
SQL

echo
explain "The report at the end runs as $ANALYST: a login role in onevault_tracking_reader (read only),"
explain "bound to Demo Corp in onevault_tracking.reader_tenants, so row-level security shows it that tenant only."
demo_psql -v analyst="$ANALYST" -v demo_tenant="$DEMO_TENANT" <<'SQL'
SET client_min_messages = warning;
-- Roles are cluster-wide: created on the first run, kept (and checked) on later ones.
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'analyst') AS create_analyst \gset
\if :create_analyst
CREATE ROLE :"analyst" LOGIN IN ROLE onevault_tracking_reader;
\endif
ALTER ROLE :"analyst" NOSUPERUSER NOBYPASSRLS LOGIN;
GRANT onevault_tracking_reader TO :"analyst";
INSERT INTO onevault_tracking.reader_tenants (role_name, tenant_hk) VALUES (:'analyst', util.hash_binary(:'demo_tenant'));
SQL

echo
explain "Demo Corp registers its site $SITE_DOMAIN, and a second one, $OTHER_SITE (api.register_site), and"
explain "creates API keys for them (api.create_api_key). A key is shown once, in the answer; the database"
explain "keeps only its SHA-256. The demo keeps the keys in shell variables and prints only their public prefix."
demo_psql -v tenant_bk="$DEMO_TENANT" -v site="$SITE_DOMAIN" -v other_site="$OTHER_SITE" <<'SQL'
INSERT INTO demo.admin_calls (action, subject, answer)
VALUES ('api.register_site', :'site',
        api.register_site(util.hash_binary(:'tenant_bk'), :'site', 'Example', p_timezone => 'Europe/Berlin')),
       ('api.register_site', :'other_site',
        api.register_site(util.hash_binary(:'tenant_bk'), :'other_site', 'Example (other site)',
                          p_timezone => 'America/New_York'));
SQL
new_api_key API_KEY API_KEY_PREFIX "$SITE_DOMAIN" 'website tracker'
new_api_key OTHER_KEY OTHER_KEY_PREFIX "$OTHER_SITE" 'other.example tracker'
new_api_key OLD_KEY OLD_KEY_PREFIX "$SITE_DOMAIN" 'old WordPress plugin'
demo_psql <<'SQL'
\pset footer off
SELECT c.subject AS site, d.site_name, d.timezone, d.allowed_domains, (c.answer ->> 'created')::boolean AS created,
       left(c.answer ->> 'site_hk', 16) || '...' AS site_hk
  FROM demo.admin_calls AS c
  JOIN business.site_h AS h ON h.site_bk = c.subject
  JOIN business.site_details_s AS d ON d.site_hk = h.site_hk AND d.load_end_date IS NULL
 WHERE c.action = 'api.register_site'
 ORDER BY c.call_no;
SELECT c.subject AS key_name, c.answer ->> 'key_prefix' AS key_prefix, c.answer ->> 'site_domain' AS site,
       c.answer -> 'scopes' AS scopes, coalesce(c.answer ->> 'expires_at', 'never') AS expires,
       coalesce(c.answer ->> 'rate_limit_per_minute', 'default') AS rate_limit,
       left(encode(d.key_hash, 'hex'), 16) || '...' AS stored_sha256
  FROM demo.admin_calls AS c
  JOIN business.api_key_details_s AS d
    ON d.key_prefix = c.answer ->> 'key_prefix' AND d.load_end_date IS NULL
 WHERE c.action = 'api.create_api_key'
 ORDER BY c.call_no;
SQL

# The sample data: VISITORS visitors with a device, an address and a locale; their visits over
# the last HISTORY_HOURS hours (six days); the events they send; and the three batches.
demo_psql -v seed="$SEED" -v single_events="$SINGLE_EVENTS" -v visitors="$VISITORS" \
  -v history_hours="$HISTORY_HOURS" <<'SQL'
-- Index (1-based) of the weighted choice r in [0, 1) among weights.
CREATE FUNCTION demo.pick(weights float8[], r float8) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(min(i)::integer, cardinality(weights))
      FROM (SELECT i, sum(w) OVER (ORDER BY i) / sum(w) OVER () AS upto
              FROM unnest(weights) WITH ORDINALITY AS u (w, i)) AS c
     WHERE r < upto
$$;

CREATE FUNCTION demo.iso8601(ts timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- A deterministic UUID-shaped id, as trackers make session ids.
CREATE FUNCTION demo.uuid_like(seed text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT regexp_replace(md5(seed), '^(.{8})(.{4})(.{4})(.{4})(.{12})$', '\1-\2-\3-\4-\5')
$$;

-- Browsers and devices; weight is the share of human visitors. The bots are not drawn: the last
-- visitors are the bots of demo.bot_devices (crawlers, an uptime check, scrapers).
CREATE TABLE demo.devices (device integer PRIMARY KEY, kind text, weight float8, user_agent text);
INSERT INTO demo.devices VALUES
 (1, 'desktop', 24, 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'),
 (2, 'desktop',  9, 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0'),
 (3, 'desktop',  4, 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0'),
 (4, 'desktop',  2, 'Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0'),
 (5, 'desktop',  8, 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.2 Safari/605.1.15'),
 (6, 'desktop',  5, 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'),
 (7, 'mobile',  16, 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.2 Mobile/15E148 Safari/604.1'),
 (8, 'mobile',   3, 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1'),
 (9, 'mobile',  10, 'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36'),
 (10, 'mobile',  3, 'Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/27.0 Chrome/125.0.0.0 Mobile Safari/537.36'),
 (11, 'tablet',  4, 'Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.7 Mobile/15E148 Safari/604.1'),
 (12, 'tablet',  2, 'Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'),
 (13, 'crawler', 0, 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)'),
 (14, 'crawler', 0, 'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)'),
 (15, 'script',  0, 'curl/8.5.0'),
 (16, 'script',  0, 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36'),
 (17, 'crawler', 0, 'Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)'),
 (18, 'crawler', 0, 'Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)'),
 (19, 'script',  0, 'python-requests/2.32.3');
-- The bot visitors, the last of all (k = 1 is the first bot): six Googlebots, four bingbots, three
-- GPTBots, three AhrefsBots, a curl uptime check, six python-requests and ten headless scrapers.
CREATE TABLE demo.bot_devices (k integer PRIMARY KEY, device integer);
INSERT INTO demo.bot_devices
SELECT k, d FROM unnest(ARRAY[13, 13, 13, 13, 13, 13, 14, 14, 14, 14, 17, 17, 17, 18, 18, 18, 15,
                              19, 19, 19, 19, 19, 19, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16]) WITH ORDINALITY AS b (d, k);

CREATE TABLE demo.locales (locale integer PRIMARY KEY, weight float8, language text, timezone text);
INSERT INTO demo.locales VALUES
 (1, 25, 'en-US', 'America/New_York'), (2, 15, 'en-US', 'America/Los_Angeles'),
 (3, 15, 'en-GB', 'Europe/London'),    (4, 15, 'de-DE', 'Europe/Berlin'),
 (5, 10, 'fr-FR', 'Europe/Paris'),     (6, 6, 'es-ES', 'Europe/Madrid'),
 (7, 6, 'nl-NL', 'Europe/Amsterdam'),  (8, 4, 'ja-JP', 'Asia/Tokyo'),
 (9, 4, 'pt-BR', 'America/Sao_Paulo');

-- The site's pages: how often a visit lands on one (landing) and moves on to it (browse).
CREATE TABLE demo.pages (page integer PRIMARY KEY, landing float8, browse float8, path text, title text);
INSERT INTO demo.pages VALUES
 (1, 30, 16, '/', 'Example | Privacy-first analytics'),
 (2,  8, 18, '/pricing', 'Pricing | Example'),
 (3,  6, 14, '/features', 'Features | Example'),
 (4, 14,  5, '/blog/data-vault-2-0-explained', 'Data Vault 2.0, explained | Example Blog'),
 (5, 12,  5, '/blog/privacy-first-analytics', 'Analytics without cookies | Example Blog'),
 (6,  3,  3, '/blog/whats-new-november-2026', 'What''s new in November | Example Blog'),
 (7,  8, 12, '/docs/getting-started', 'Getting started | Example Docs'),
 (8,  5,  8, '/docs/tracking-api', 'Tracking API | Example Docs'),
 (9,  2, 10, '/signup', 'Create your account | Example'),
 (10, 1,  4, '/contact', 'Contact us | Example'),
 (11, 1,  3, '/about', 'About us | Example'),
 (12, 1,  2, '/careers', 'Careers | Example');

-- Where a visit comes from: the referrer its first page carries, and the campaign tags of the
-- link (%s is a click id); newsletter, ads and campaigns land on a set page.
CREATE TABLE demo.sources (source integer PRIMARY KEY, weight float8, referrer text, tags text, landing integer);
INSERT INTO demo.sources VALUES
 (1, 27, NULL, NULL, NULL),
 (2, 20, 'https://www.google.com/', NULL, NULL),
 (3,  4, 'https://www.bing.com/', NULL, NULL),
 (4,  3, 'https://duckduckgo.com/', NULL, NULL),
 (5,  1, 'https://www.ecosia.org/', NULL, NULL),
 (6,  3, 'https://t.co/', NULL, NULL),
 (7,  3, 'https://l.facebook.com/', 'fbclid=IwAR%s', NULL),
 (8,  3, 'https://www.linkedin.com/', NULL, NULL),
 (9,  2, 'https://www.reddit.com/r/dataengineering/', NULL, NULL),
 (10, 2, 'https://news.ycombinator.com/', NULL, NULL),
 (11, 4, NULL, 'utm_source=newsletter&utm_medium=email&utm_campaign=november_digest', 6),
 (12, 2, 'https://mail.google.com/', 'utm_source=newsletter&utm_medium=email&utm_campaign=november_digest', 6),
 (13, 5, 'https://www.google.com/', 'utm_source=google&utm_medium=cpc&utm_campaign=brand_search&utm_term=privacy+analytics&gclid=Cj0KCQiA%s', 1),
 (14, 1.5, 'https://www.bing.com/', 'utm_source=bing&utm_medium=cpc&utm_campaign=brand_search&msclkid=%s', 1),
 (15, 2, 'https://www.linkedin.com/', 'utm_source=linkedin&utm_medium=social&utm_campaign=launch_week&utm_content=video', 3),
 (16, 3, 'https://dev.to/dataeng/privacy-friendly-analytics-compared-4k2p', NULL, NULL),
 (17, 2, 'https://medium.com/@vaultbuilder/data-vault-in-practice-9f1c2e', NULL, NULL),
 (18, 1, 'https://www.producthunt.com/products/example', 'ref=producthunt', NULL);

-- The same seed gives the same visitors and events (timestamps end at the current minute).
SELECT setseed((:seed % 2147483647)::float8 / 2147483647) \g /dev/null

-- Visitors, each with a device, a locale and an address of its own (documentation, private and
-- carrier-grade NAT ranges, and the crawlers' own): the visitor hash is site + address + user
-- agent, so two visitors never share one. Visitors 1 to 3 have the addresses the report uses to
-- show anonymisation. A visitor's browser sends its events either directly (one call per event)
-- or, for about one visitor in ten, to the edge collector that relays them in batches; the
-- collector always adds a session_id, browsers sending directly only on some visitors (the
-- site's newer tracker snippet).
CREATE TABLE demo.visitors AS
WITH draws AS MATERIALIZED (
    SELECT v, random() AS r_device, random() AS r_family, random() AS r_a, random() AS r_b,
           random() AS r_locale, random() AS r_screen, random() AS r_route, random() AS r_snippet,
           random() AS r_visits
      FROM generate_series(1, :visitors) AS v
), typed AS (
    SELECT d.*, b.k AS bot,
           coalesce(b.device,
                    demo.pick((SELECT array_agg(weight ORDER BY device) FROM demo.devices), d.r_device)) AS device
      FROM draws AS d
      LEFT JOIN demo.bot_devices AS b ON b.k = d.v - (:visitors - (SELECT count(*) FROM demo.bot_devices))
)
SELECT t.v AS visitor, dev.device, dev.kind, dev.user_agent,
       CASE WHEN t.v = 1 THEN inet '192.168.1.100'
            WHEN t.v = 2 THEN inet '2001:db8:85a3:8d3:1319:8a2e:370:7348'
            WHEN t.v = 3 THEN inet '::ffff:203.0.113.77'
            WHEN dev.device = 13 THEN ('66.249.66.' || t.bot)::inet
            WHEN dev.device = 14 THEN ('157.55.39.' || t.bot)::inet
            WHEN dev.device = 15 THEN inet '192.168.200.10'
            WHEN dev.device = 16 THEN ('192.168.200.' || 100 + t.bot)::inet
            WHEN dev.device = 17 THEN ('20.171.207.' || t.bot)::inet
            WHEN dev.device = 18 THEN ('54.36.148.' || t.bot)::inet
            WHEN dev.device = 19 THEN ('192.168.201.' || t.bot)::inet
            WHEN t.r_family < 0.25 THEN
                format('2001:db8:%s:%s::%s', to_hex(floor(t.r_a * 65536)::int), to_hex(t.v),
                       to_hex(1 + floor(t.r_b * 65535)::int))::inet
            WHEN t.v < 1016 THEN ((ARRAY['203.0.113.', '198.51.100.', '192.0.2.', '10.20.30.'])[1 + t.v % 4]
                                  || 1 + (t.v / 4 * 37) % 254)::inet
            ELSE format('100.%s.%s.%s', 64 + t.v / 254 / 256, t.v / 254 % 256, 1 + t.v % 254)::inet
       END AS client_ip,
       CASE WHEN dev.kind IN ('desktop', 'mobile', 'tablet') THEN loc.language
            WHEN dev.device = 16 THEN 'en-US' END AS language,
       CASE WHEN dev.kind IN ('desktop', 'mobile', 'tablet') THEN loc.timezone
            WHEN dev.device = 16 THEN 'UTC' END AS timezone,
       CASE dev.kind
            WHEN 'desktop' THEN (ARRAY[1280, 1366, 1440, 1536, 1920, 2560])[1 + floor(t.r_screen * 6)::int]
            WHEN 'mobile' THEN (ARRAY[375, 390, 393, 412, 414, 430])[1 + floor(t.r_screen * 6)::int]
            WHEN 'tablet' THEN (ARRAY[768, 810, 820, 834, 1024])[1 + floor(t.r_screen * 5)::int]
            ELSE CASE WHEN dev.device = 16 THEN 800 END
       END AS screen_width,
       CASE WHEN t.v > 3 AND dev.kind IN ('desktop', 'mobile', 'tablet') AND t.r_route < 0.10
            THEN 'collector' ELSE 'direct' END AS route,
       dev.kind IN ('desktop', 'mobile', 'tablet') AND (t.r_route < 0.10 OR t.r_snippet < 0.40) AS sends_session_id,
       CASE dev.device WHEN 13 THEN 5 WHEN 14 THEN 4 WHEN 15 THEN 23 WHEN 16 THEN 1
                       WHEN 17 THEN 3 WHEN 18 THEN 3 WHEN 19 THEN 2
            ELSE least(8, 1 + floor(-ln(1 - t.r_visits) * 0.9))::int END AS visits
  FROM typed AS t
  JOIN demo.devices AS dev USING (device)
  JOIN demo.locales AS loc
    ON loc.locale = demo.pick((SELECT array_agg(weight ORDER BY locale) FROM demo.locales), t.r_locale);

-- Visits: each starts 2 to history_hours (142) hours ago (the uptime check runs every 6 hours),
-- and a visitor's visits are over 2 hours apart (closer ones are dropped), so each one is a
-- session of its own.
CREATE TABLE demo.visits AS
WITH draws AS MATERIALIZED (
    SELECT v.visitor, v.device, k, random() AS r_start, random() AS r_pages, random() AS r_source
      FROM demo.visitors AS v, generate_series(1, v.visits) AS k
), timed AS (
    SELECT d.*,
           date_trunc('minute', now())
               - CASE WHEN d.device = 15 THEN d.k * interval '6 hours' - interval '7 minutes'
                      WHEN d.visitor <= 3 AND d.k = 1 THEN (2 + d.visitor) * interval '1 hour'
                      ELSE interval '2 hours' + d.r_start * (:history_hours - 2) * interval '1 hour' END AS started_at
      FROM draws AS d
), spaced AS (
    SELECT t.*, lag(started_at) OVER (PARTITION BY visitor ORDER BY started_at) AS previous_start
      FROM timed AS t
)
SELECT row_number() OVER (ORDER BY s.started_at, s.visitor)::int AS visit, s.visitor, s.started_at,
       CASE s.device
            WHEN 13 THEN 3 + floor(s.r_pages * 10)::int
            WHEN 14 THEN 2 + floor(s.r_pages * 5)::int
            WHEN 15 THEN 1
            WHEN 16 THEN 5 + floor(s.r_pages * 8)::int
            WHEN 17 THEN 4 + floor(s.r_pages * 8)::int
            WHEN 18 THEN 3 + floor(s.r_pages * 8)::int
            WHEN 19 THEN 4 + floor(s.r_pages * 8)::int
            ELSE least(12, 1 + floor(-ln(1 - s.r_pages) * 2.3))::int
       END AS pages,
       CASE WHEN s.device < 13
            THEN demo.pick((SELECT array_agg(weight ORDER BY source) FROM demo.sources), s.r_source)
       END AS source,
       substr(md5('click:' || :seed || ':' || s.visitor || ':' || s.k), 1, 20) AS click_id
  FROM spaced AS s
 WHERE s.previous_start IS NULL OR s.started_at - s.previous_start > interval '2 hours';

-- Every event of every visit: page views 25 s to 3 min apart (a crawler's seconds apart), and
-- on some pages a custom event a few seconds after the page view. The first page carries the
-- visit's referrer and campaign tags, later pages the previous page as referrer.
CREATE TABLE demo.visit_events AS
WITH draws AS MATERIALIZED (
    SELECT vi.visit, vi.visitor, vi.started_at, vi.source, vi.click_id, i, random() AS r_gap,
           random() AS r_page, random() AS r_custom, random() AS r_name, random() AS r_prop,
           random() AS r_login
      FROM demo.visits AS vi, generate_series(1, vi.pages) AS i
), paged AS (
    SELECT d.*, v.device, v.kind,
           CASE WHEN d.i = 1 AND v.device = 15 THEN 1
                WHEN d.i = 1 THEN coalesce(src.landing,
                    demo.pick((SELECT array_agg(landing ORDER BY page) FROM demo.pages), d.r_page))
                ELSE demo.pick((SELECT array_agg(browse ORDER BY page) FROM demo.pages), d.r_page)
           END AS page,
           CASE WHEN d.i = 1 THEN interval '0'
                WHEN v.kind = 'crawler' THEN (3 + d.r_gap * 17) * interval '1 second'
                WHEN v.kind = 'script' THEN (1 + d.r_gap * 2) * interval '1 second'
                ELSE (25 + d.r_gap * 155) * interval '1 second'
           END AS gap
      FROM draws AS d
      JOIN demo.visitors AS v USING (visitor)
      LEFT JOIN demo.sources AS src USING (source)
), page_views AS (
    SELECT p.*, pg.path, pg.title,
           p.started_at + sum(p.gap) OVER w AS at,
           CASE WHEN p.kind NOT IN ('desktop', 'mobile', 'tablet') THEN NULL
                WHEN p.i = 1 THEN src.referrer ELSE 'https://example.com' || lag(pg.path) OVER w END AS referrer,
           CASE WHEN p.i = 1 THEN replace(src.tags, '%s', p.click_id) END AS tags
      FROM paged AS p
      JOIN demo.pages AS pg USING (page)
      LEFT JOIN demo.sources AS src USING (source)
    WINDOW w AS (PARTITION BY p.visit ORDER BY p.i)
), customs AS (
    SELECT pv.*,
           CASE WHEN pv.kind NOT IN ('desktop', 'mobile', 'tablet') THEN NULL
                WHEN pv.path = '/pricing' AND pv.r_custom < 0.35 THEN 'signup_click'
                WHEN pv.path = '/signup' AND pv.r_custom < 0.55 THEN 'form_submit'
                WHEN pv.path = '/' AND pv.r_custom < 0.12 THEN 'video_play'
                WHEN pv.path = '/features' AND pv.r_custom < 0.25 THEN 'video_play'
                WHEN pv.path LIKE '/blog/%' AND pv.r_custom < 0.10 THEN 'newsletter_subscribe'
                WHEN pv.path LIKE '/blog/%' AND pv.r_custom < 0.18 THEN 'file_download'
                WHEN pv.path LIKE '/docs/%' AND pv.r_custom < 0.20 THEN 'outbound_click'
                WHEN pv.path = '/contact' AND pv.r_custom < 0.40 THEN 'form_submit'
           END AS custom_name
      FROM page_views AS pv
)
SELECT c.visit, c.visitor, c.i * 2 AS step, c.at, 'page_view' AS event_type, NULL AS event_name,
       c.path, c.title, c.referrer, c.tags,
       CASE WHEN c.kind IN ('desktop', 'mobile', 'tablet') THEN jsonb_build_object('logged_in', c.r_login < 0.12) END AS properties
  FROM customs AS c
UNION ALL
SELECT c.visit, c.visitor, c.i * 2 + 1, c.at + (3 + c.r_name * 15) * interval '1 second', 'custom',
       c.custom_name, c.path, c.title, c.referrer, c.tags,
       CASE c.custom_name
           WHEN 'signup_click' THEN jsonb_build_object(
               'button', 'pricing_table', 'plan', (ARRAY['free', 'pro', 'business'])[1 + floor(c.r_prop * 3)::int])
           WHEN 'form_submit' THEN jsonb_build_object(
               'form', CASE WHEN c.path = '/signup' THEN 'signup' ELSE 'contact' END, 'fields', 5,
               'valid', c.r_prop < 0.9)
           WHEN 'video_play' THEN jsonb_build_object('video_id', 'product-tour-2026', 'position_s', 0,
                                                     'muted', c.r_prop < 0.5)
           WHEN 'newsletter_subscribe' THEN jsonb_build_object('form', 'blog_footer', 'double_opt_in', true)
           WHEN 'file_download' THEN CASE c.path
               WHEN '/blog/data-vault-2-0-explained' THEN jsonb_build_object('file', 'data-vault-2.0-whitepaper.pdf', 'size_kb', 2048)
               WHEN '/blog/privacy-first-analytics' THEN jsonb_build_object('file', 'privacy-checklist.pdf', 'size_kb', 310)
               ELSE jsonb_build_object('file', 'release-notes-2026-11.pdf', 'size_kb', 120) END
           WHEN 'outbound_click' THEN jsonb_build_object('url', 'https://github.com/example/onevault', 'label', 'GitHub')
       END
  FROM customs AS c
 WHERE c.custom_name IS NOT NULL;

-- Every event a client sends, numbered n in sending order: 1..single_events are sent directly,
-- one per call, the next 1740 through the collector's batches. Each stream takes whole visits
-- in a random order until it is full (the last visit taken may be cut short) and sends them in
-- time order. About 3% of the single sends are a browser retrying the previous event (same
-- payload, same event_id) after a network timeout. About 2.5% of the events come from broken
-- tracker code: they pass the raw layer but fail validation, each in one of ten ways.
CREATE TABLE demo.events AS
WITH visit_sizes AS (
    SELECT e.visit, v.route, count(*) AS size,
           v.kind NOT IN ('desktop', 'mobile', 'tablet') OR v.visitor <= 3 AS always, random() AS r_order
      FROM demo.visit_events AS e JOIN demo.visitors AS v USING (visitor)
     GROUP BY e.visit, v.route, v.kind, v.visitor
), visit_order AS (
    SELECT s.*,
           sum(size) OVER (PARTITION BY route ORDER BY always DESC, r_order, visit) - size AS before,
           CASE route WHEN 'direct' THEN :single_events ELSE 1740 END AS wanted
      FROM visit_sizes AS s
), taken AS (
    SELECT e.visit, e.visitor, e.step, e.at, e.event_type, e.event_name, e.path, e.title,
           e.referrer, e.tags, e.properties, v.device, v.kind, v.client_ip, v.user_agent,
           v.language, v.timezone, v.screen_width, v.sends_session_id, o.route AS stream
      FROM (SELECT x.*, row_number() OVER (PARTITION BY x.visit ORDER BY x.step) AS rank
              FROM demo.visit_events AS x) AS e
      JOIN visit_order AS o USING (visit)
      JOIN demo.visitors AS v USING (visitor)
     WHERE o.before + e.rank <= o.wanted
), numbered AS (
    SELECT t.*,
           CASE t.stream WHEN 'direct' THEN 0 ELSE :single_events END
               + row_number() OVER (PARTITION BY t.stream ORDER BY t.at, t.visit, t.step) AS n,
           random() AS r_bad, random() AS r_break, random() AS r_retry
      FROM taken AS t
), shaped AS (
    SELECT nb.*,
           CASE WHEN nb.kind IN ('desktop', 'mobile', 'tablet') AND nb.r_bad < 0.025 THEN
               (ARRAY['eventType', 'pageUrl', 'ftp_url', 'ip_host', 'custom_unnamed', 'month_old',
                      'epoch_timestamp', 'nested_property', 'spaced_session_id', 'width_as_text'])
               [demo.pick(ARRAY[18, 8, 12, 8, 12, 12, 8, 10, 8, 4], nb.r_break)]
           END AS broken,
           jsonb_strip_nulls(jsonb_build_object(
               'event_type', nb.event_type,
               'event_name', nb.event_name,
               'event_id', CASE WHEN nb.device = 15 THEN 'uptime-' || extract(epoch FROM nb.at)::bigint
                                ELSE 'evt-' || lpad(n::text, 5, '0') END,
               'timestamp', CASE WHEN nb.device = 15
                                 THEN to_char(nb.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"')
                                 ELSE demo.iso8601(nb.at) END,
               'session_id', CASE WHEN nb.sends_session_id THEN demo.uuid_like(:seed || ':visit:' || nb.visit) END,
               'page_url', 'https://example.com' || nb.path || coalesce('?' || nb.tags, ''),
               'page_title', CASE WHEN nb.device <> 15 THEN nb.title END,
               'referrer', nb.referrer,
               'screen_width', nb.screen_width,
               'language', nb.language,
               'timezone', nb.timezone,
               'properties', nb.properties)) AS clean
      FROM numbered AS nb
), payloads AS (
    SELECT s.*,
           CASE s.broken
               WHEN 'eventType' THEN s.clean - 'event_type' || jsonb_build_object('eventType', s.event_type)
               WHEN 'pageUrl' THEN s.clean - 'page_url' || jsonb_build_object('pageUrl', s.clean -> 'page_url')
               WHEN 'ftp_url' THEN s.clean || jsonb_build_object('page_url', 'ftp://files.example.com/pub/data-vault-whitepaper.pdf')
               WHEN 'ip_host' THEN s.clean || jsonb_build_object('page_url', 'http://10.20.0.15:8080' || s.path)
               WHEN 'custom_unnamed' THEN s.clean - 'event_name' || jsonb_build_object('event_type', 'custom')
               WHEN 'month_old' THEN s.clean || jsonb_build_object('timestamp', demo.iso8601(s.at - interval '30 days'))
               WHEN 'epoch_timestamp' THEN s.clean || jsonb_build_object('timestamp', (extract(epoch FROM s.at) * 1000)::bigint)
               WHEN 'nested_property' THEN s.clean || jsonb_build_object('properties',
                   coalesce(s.clean -> 'properties', '{}') || jsonb_build_object(
                       'experiment', jsonb_build_object('id', 'pricing-page-v2', 'variant', 'b')))
               WHEN 'spaced_session_id' THEN s.clean || jsonb_build_object('session_id', 'visit ' || s.visit || ' of ' || s.visitor)
               WHEN 'width_as_text' THEN s.clean || jsonb_build_object('screen_width', s.screen_width::text)
               ELSE s.clean
           END AS payload,
           s.stream = 'direct' AND s.n % 2 = 0 AND s.r_retry < 0.06 AS retry
      FROM shaped AS s
)
SELECT n,
       CASE WHEN stream = 'direct' THEN 'single' ELSE 'batch' END AS channel,
       retry,
       CASE WHEN retry THEN lag(visitor) OVER w ELSE visitor END AS visitor,
       CASE WHEN retry THEN lag(visit) OVER w ELSE visit END AS visit,
       CASE WHEN retry THEN lag(broken) OVER w ELSE broken END AS broken,
       CASE WHEN retry THEN lag(at) OVER w ELSE at END AS at,
       CASE WHEN retry THEN lag(client_ip) OVER w ELSE client_ip END AS client_ip,
       CASE WHEN retry THEN lag(user_agent) OVER w ELSE user_agent END AS user_agent,
       CASE WHEN retry THEN lag(payload) OVER w ELSE payload END AS payload
  FROM payloads
WINDOW w AS (ORDER BY n)
 ORDER BY n;
ALTER TABLE demo.events ADD PRIMARY KEY (n);
-- Every number must be sent: the visitors must have made enough events for both streams.
SELECT count(*) FILTER (WHERE channel = 'single') = :single_events
       AND count(*) FILTER (WHERE channel = 'batch') = 1740 AS enough_events
  FROM demo.events \gset
\if :enough_events
\else
DO $$BEGIN RAISE EXCEPTION 'the visitors made too few events for the single calls and the batches; raise VISITORS'; END$$;
\endif
-- How each event is sent: the browsers' through the tracking API, one call per event; those of
-- the broken trackers whose payload the API's typed parameters cannot even express (eventType or
-- pageUrl instead of event_type or page_url, an epoch number as timestamp, screen_width as text:
-- old snippets posting their own JSON) through the raw endpoint raw.ingest_tracking_event, one
-- call per event too; the collector's in batches.
ALTER TABLE demo.events ADD COLUMN endpoint text GENERATED ALWAYS AS (
    CASE WHEN channel = 'batch' THEN 'batch'
         WHEN broken IN ('eventType', 'pageUrl', 'epoch_timestamp', 'width_as_text') THEN 'raw'
         ELSE 'api' END) STORED;

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

-- What each kind of broken tracker does, for the report.
CREATE TABLE demo.breakages (broken text PRIMARY KEY, what text);
INSERT INTO demo.breakages VALUES
 ('eventType', 'camelCase snippet: sends eventType instead of event_type'),
 ('pageUrl', 'SPA plugin: sends pageUrl instead of page_url'),
 ('ftp_url', 'download tracker: reports the ftp:// file as the page'),
 ('ip_host', 'a staging server (http://10.20.0.15:8080) with the live snippet'),
 ('custom_unnamed', 'custom event without event_name'),
 ('month_old', 'device clock a month behind'),
 ('epoch_timestamp', 'timestamp as epoch milliseconds (a number)'),
 ('nested_property', 'A/B test tool: properties.experiment is an object'),
 ('spaced_session_id', 'session_id with spaces ("visit 12 of 345")'),
 ('width_as_text', 'screen_width as a string ("1920")');

CREATE TABLE demo.batch_results (batch_no integer PRIMARY KEY, milliseconds integer, result jsonb);
CREATE TABLE demo.processing_calls (call_no integer PRIMARY KEY, milliseconds integer, result jsonb);
CREATE TABLE demo.vault_loads (call_no integer PRIMARY KEY, milliseconds integer, result jsonb);
CREATE TABLE demo.timings (step text PRIMARY KEY, events integer, milliseconds integer);
CREATE TABLE demo.raw_sends (n integer PRIMARY KEY, raw_event_id bigint NOT NULL);

-- The page path an API caller passes: the page URL without https://example.com (keeping its
-- query string, with the campaign tags); a page that is not on the site (a broken tracker's) as
-- it is, so validation sees it.
CREATE FUNCTION demo.api_page_path(page_url text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN page_url LIKE 'https://example.com/%' THEN substr(page_url, length('https://example.com') + 1)
                ELSE page_url END
$$;

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
            CASE WHEN e.payload ->> 'event_type' = 'custom'
                 THEN api.track_custom_event(
                          current_setting('demo.api_key'), 'example.com', e.payload ->> 'event_name',
                          e.payload -> 'properties', demo.api_page_path(e.payload ->> 'page_url'),
                          e.user_agent, e.client_ip, e.payload ->> 'referrer', e.payload ->> 'page_title',
                          e.payload ->> 'session_id', e.payload ->> 'event_id',
                          (e.payload ->> 'timestamp')::timestamptz)
                 ELSE api.track_page_view(
                          current_setting('demo.api_key'), 'example.com',
                          demo.api_page_path(e.payload ->> 'page_url'), e.user_agent, e.client_ip,
                          e.payload ->> 'referrer', e.payload ->> 'page_title', e.payload ->> 'session_id',
                          e.payload ->> 'event_id', (e.payload ->> 'timestamp')::timestamptz,
                          e.payload -> 'properties')
            END);
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
SQL

explain "A sample call, as the site's tracking endpoint makes it for a browser (the first page of a visit"
explain "from a Google Ads click; the key shown by its prefix only):"
sample_n=$(demo_psql -At -c "SELECT n FROM demo.events
                              WHERE endpoint = 'api' AND broken IS NULL AND NOT retry
                                AND payload ->> 'page_url' LIKE '%gclid=%'
                              ORDER BY n LIMIT 1")
demo_psql -v n="$sample_n" -v key_prefix="$API_KEY_PREFIX" -v site="$SITE_DOMAIN" <<'SQL'
\pset footer off
\pset null '(null)'
\x on
SELECT 'api.track_page_view' AS "function", :'key_prefix' || '_<secret>' AS p_api_key, :'site' AS p_site_domain,
       demo.api_page_path(payload ->> 'page_url') AS p_page_path, user_agent AS p_user_agent,
       client_ip AS p_client_ip, payload ->> 'referrer' AS p_referrer, payload ->> 'page_title' AS p_page_title,
       payload ->> 'session_id' AS p_session_id, payload ->> 'event_id' AS p_event_id,
       payload ->> 'timestamp' AS p_event_timestamp, payload -> 'properties' AS p_properties
  FROM demo.events
 WHERE n = :n;
SQL

# ---------------------------------------------------------------------------------------------
heading "6/9 Ingestion"
echo "${BOLD}Single events${RESET}: the tracking API, one call and one transaction per event, as the site's"
echo "tracking endpoint makes them for browsers: api.track_page_view / api.track_custom_event check the"
echo "key and its site, count the client against the rate limit, store the event, and (with the default"
echo "onevault_tracking.api_processing = immediate) validate, enrich, sessionise and load it into the"
echo "vault at once; one audit record per call. The events of old snippets that post their own JSON go"
echo "to the raw endpoint raw.ingest_tracking_event instead. $CHUNKS psql sessions of $((SINGLE_EVENTS / CHUNKS)) calls each."
chunk_size=$((SINGLE_EVENTS / CHUNKS))
singles_start=$(now_ns)
for ((chunk = 1; chunk <= CHUNKS; chunk++)); do
  lo=$(((chunk - 1) * chunk_size + 1))
  hi=$((chunk == CHUNKS ? SINGLE_EVENTS : chunk * chunk_size))
  # Each generated statement runs on its own (autocommit): one transaction per event.
  counts=$(demo_psql_keys -At -F ' ' -v tenant_bk="$DEMO_TENANT" -v lo="$lo" -v hi="$hi" <<'SQL'
SELECT set_config('demo.api_key', :'api_key', false), set_config('demo.tenant_bk', :'tenant_bk', false) \g /dev/null
\o /dev/null
SELECT format('SELECT demo.send_single(%s)', n)
  FROM demo.events
 WHERE channel = 'single' AND n BETWEEN :lo AND :hi
 ORDER BY n
\gexec
\o
SELECT count(*) FILTER (WHERE answer ->> 'success' = 'true'),
       count(*) FILTER (WHERE answer ->> 'error_code' = 'INVALID_EVENT'),
       count(*) FILTER (WHERE answer ->> 'error_code' = 'DUPLICATE_EVENT'),
       count(*) FILTER (WHERE answer ->> 'success' <> 'true'
                          AND answer ->> 'error_code' NOT IN ('INVALID_EVENT', 'DUPLICATE_EVENT')),
       (SELECT count(*) FROM demo.raw_sends)
  FROM demo.api_calls
 WHERE story = 'browser traffic';
SQL
)
  read -r ok_count invalid_count duplicate_count other_count raw_count <<<"$counts"
  elapsed_ms=$(ms_between "$singles_start" "$(now_ns)")
  filled=$((hi * 30 / SINGLE_EVENTS))
  bar=$(printf '%*s' "$filled" '' | tr ' ' '#')$(printf '%*s' $((30 - filled)) '' | tr ' ' '.')
  line=$(printf '  [%s] %3d%%  %5d/%d  API: %5d ok %3d invalid %3d dup %d other  raw: %3d  %4s calls/s' \
    "$bar" $((hi * 100 / SINGLE_EVENTS)) "$hi" "$SINGLE_EVENTS" "$ok_count" "$invalid_count" \
    "$duplicate_count" "$other_count" "$raw_count" "$(per_second "$hi" "$elapsed_ms")")
  if [ -t 1 ]; then printf '\r%s' "$line"; else printf '%s\n' "$line"; fi
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
demo_psql_keys -v tenant_bk="$DEMO_TENANT" -v site="$SITE_DOMAIN" -v other_site="$OTHER_SITE" \
  -v api_key_prefix="$API_KEY_PREFIX" -v old_key_prefix="$OLD_KEY_PREFIX" <<'SQL'
\pset footer off
SELECT set_config('demo.api_key', :'api_key', false), set_config('demo.other_key', :'other_key', false),
       set_config('demo.old_key', :'old_key', false) \g /dev/null
SELECT user_agent AS firefox FROM demo.devices WHERE device = 3 \gset
SELECT user_agent AS iphone FROM demo.devices WHERE device = 7 \gset
-- Each statement on its own (autocommit): one call, one transaction.
INSERT INTO demo.api_calls (story, seq, client_ip, expected, answer)
VALUES ('wrong key: never issued', 1, '203.0.113.250', 'INVALID_API_KEY',
        api.track_page_view('ovt_00000000_' || repeat('0', 64), :'site', '/pricing', :'firefox', '203.0.113.250'));
INSERT INTO demo.api_calls (story, seq, client_ip, expected, answer)
VALUES ('wrong key: right prefix, wrong secret', 1, '203.0.113.250', 'INVALID_API_KEY',
        api.track_page_view(:'api_key_prefix' || '_' || repeat('f', 64), :'site', '/pricing', :'firefox', '203.0.113.250'));
INSERT INTO demo.api_calls (story, seq, client_ip, expected, answer)
VALUES ('wrong key: empty', 1, '2001:db8:bad:1::66', 'INVALID_API_KEY',
        api.track_page_view('', :'site', '/', :'iphone', '2001:db8:bad:1::66'));
INSERT INTO demo.api_calls (story, seq, client_ip, expected, answer)
VALUES ('domain mismatch: other.example key', 1, '192.0.2.201', 'DOMAIN_MISMATCH',
        api.track_page_view(current_setting('demo.other_key'), :'site', '/pricing', :'firefox', '192.0.2.201',
                            p_event_id => 'other-site-0001'));
INSERT INTO demo.api_calls (story, seq, client_ip, expected, answer)
VALUES ('domain mismatch: other.example key', 2, '192.0.2.201', 'DOMAIN_MISMATCH',
        api.track_custom_event(current_setting('demo.other_key'), :'site', 'signup_click', '{"button": "hero"}',
                               '/pricing', :'firefox', '192.0.2.201', p_event_id => 'other-site-0002'));
INSERT INTO demo.api_calls (story, seq, client_ip, expected, answer)
VALUES ('revoked key: old WordPress plugin', 1, '198.51.100.77', 'success',
        api.track_page_view(current_setting('demo.old_key'), :'site', '/blog/privacy-first-analytics', :'iphone',
                            '198.51.100.77', 'https://news.ycombinator.com/', 'Analytics without cookies | Example Blog',
                            p_event_id => 'wp-plugin-0001'));
INSERT INTO demo.admin_calls (action, subject, answer)
VALUES ('api.revoke_api_key', 'old WordPress plugin', api.revoke_api_key(util.hash_binary(:'tenant_bk'), :'old_key_prefix'));
INSERT INTO demo.api_calls (story, seq, client_ip, expected, answer)
VALUES ('revoked key: old WordPress plugin', 2, '198.51.100.77', 'API_KEY_REVOKED',
        api.track_page_view(current_setting('demo.old_key'), :'site', '/docs/getting-started', :'iphone',
                            '198.51.100.77', 'https://example.com/blog/privacy-first-analytics',
                            'Getting started | Example Docs', p_event_id => 'wp-plugin-0002'));
SELECT story || ' #' || seq AS call, coalesce(answer ->> 'error_code', 'success') AS answer,
       coalesce(answer ->> 'key_prefix', '') AS answered_key_prefix,
       coalesce(answer ->> 'message', answer ->> 'status') AS message
  FROM demo.api_calls
 WHERE story NOT IN ('browser traffic', 'rate-limit burst')
 ORDER BY call_no;
SELECT format('(api.revoke_api_key revoked %s at %s, between the two calls of that key.)',
              answer ->> 'key_prefix', answer ->> 'revoked_at') AS revoked
  FROM demo.admin_calls WHERE action = 'api.revoke_api_key' \gset
\echo :revoked
SQL

echo
echo "${BOLD}Rate limit${RESET}: one address (a headless scraper at $BURST_IP) sends $BURST_CALLS page views as fast as it"
echo "can. The limiter counts calls per tenant, client address and clock minute in auth.ip_tracking_s;"
echo "over onevault_tracking.rate_limit_per_minute the API answers RATE_LIMITED with retry_after."
# The whole burst must fall into one minute window: start it in the first 45 seconds of a minute.
second=$((10#$(date +%S)))
if ((second >= 45)); then
  explain "  (waiting $((60 - second)) s for the next minute, so that the burst stays within one)"
  while (($((10#$(date +%S))) >= 45)); do sleep 0.5; done
fi
burst_start=$(now_ns)
demo_psql_keys -o /dev/null -v burst_calls="$BURST_CALLS" -v burst_ip="$BURST_IP" <<'SQL'
LOAD '$libdir/onevault_tracking';
SELECT set_config('demo.api_key', :'api_key', false) \g /dev/null
SELECT current_setting('onevault_tracking.rate_limit_per_minute')::integer AS rate_limit \gset
SELECT format('SELECT demo.send_burst(%s, %L, %s)', k, :'burst_ip', :rate_limit)
  FROM generate_series(1, :burst_calls) AS k
\gexec
SQL
burst_ms=$(ms_between "$burst_start" "$(now_ns)")
demo_psql -c "INSERT INTO demo.timings VALUES ('rate-limit burst', $BURST_CALLS, $burst_ms)"
demo_psql -At -v ms="$burst_ms" <<'SQL'
SELECT format('  %s calls in %s ms (%s to %s): %s accepted, %s RATE_LIMITED (from call %s on; retry_after %s to %s s)',
              count(*), :ms, to_char(min(called_at), 'HH24:MI:SS.MS'), to_char(max(called_at), 'HH24:MI:SS.MS'),
              count(*) FILTER (WHERE answer ->> 'success' = 'true'),
              count(*) FILTER (WHERE answer ->> 'error_code' = 'RATE_LIMITED'),
              coalesce(min(seq) FILTER (WHERE answer ->> 'error_code' = 'RATE_LIMITED')::text, '-'),
              coalesce(min((answer ->> 'retry_after')::int)::text, '-'), coalesce(max((answer ->> 'retry_after')::int)::text, '-'))
  FROM demo.api_calls
 WHERE story = 'rate-limit burst';
SQL

echo
echo "${BOLD}Batches${RESET}: raw.batch_ingest_tracking_events, one call per batch, as the edge collector relays"
echo "its visitors' events; every item gets its own answer (accepted, duplicate or rejected), and the"
echo "valid items land even when others are bad."
batch_items_total=0
batches_ms=0
for batch in 1 2 3; do
  batch_start=$(now_ns)
  demo_psql -o /dev/null -v tenant_bk="$DEMO_TENANT" -v batch="$batch" <<'SQL'
INSERT INTO demo.batch_results (batch_no, result)
SELECT b.batch_no,
       raw.batch_ingest_tracking_events(util.hash_binary(:'tenant_bk'),
                                        util.hash_binary('demo_api_key_edge_collector'),
                                        b.client_ip, b.user_agent, b.events)
  FROM demo.batches AS b
 WHERE b.batch_no = :batch;
SQL
  ms=$(ms_between "$batch_start" "$(now_ns)")
  batches_ms=$((batches_ms + ms))
  summary=$(demo_psql -At -F ' ' -v batch="$batch" -v ms="$ms" <<'SQL'
UPDATE demo.batch_results SET milliseconds = :ms WHERE batch_no = :batch;
SELECT (result ->> 'size'), (result ->> 'accepted'), (result ->> 'duplicates'), (result ->> 'rejected'), b.story
  FROM demo.batch_results JOIN demo.batches AS b USING (batch_no)
 WHERE batch_no = :batch;
SQL
)
  read -r size accepted duplicates rejected story <<<"$summary"
  batch_items_total=$((batch_items_total + size))
  printf '  batch %d (%s): %4d items -> %4d accepted, %3d duplicates, %d rejected  (%d ms)\n' \
    "$batch" "$story" "$size" "$accepted" "$duplicates" "$rejected" "$ms"
done
demo_psql -c "INSERT INTO demo.timings VALUES ('batch', $batch_items_total, $batches_ms)"

# ---------------------------------------------------------------------------------------------
heading "7/9 Processing: raw -> staging -> business vault"
explain "staging.process_pending_events($PROCESS_BATCH), called until it claims nothing: every raw event is validated"
explain "(invalid ones are staged as INVALID with their reasons: the quarantine), enriched (browser, OS,"
explain "device, bot, channel, campaign, anonymised address) and given a session, in $PROCESS_BATCH-event transactions;"
explain "in the same transaction each VALID event becomes a tracking_event_l row with its details satellite, and"
explain "its site, page and session become hubs (each business key once, per tenant), linked to the site, with"
explain "their own details satellites (onevault_tracking.process_loads_vault, on by default)."
explain "The API calls staged (and loaded) their events already; what waits here are the batches' events and"
explain "those sent to the raw endpoint."
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
  answer=$(demo_psql -At -F ' ' -v call="$processing_calls" -v batch_size="$PROCESS_BATCH" <<'SQL'
INSERT INTO demo.processing_calls (call_no, result)
SELECT :call, staging.process_pending_events(:batch_size)
RETURNING result ->> 'claimed', result ->> 'valid', result ->> 'quarantined', result ->> 'errors', result ->> 'failed';
SQL
)
  processing_timings+=("($processing_calls, $(ms_between "$call_start" "$(now_ns)"))")
  read -r claimed valid quarantined errors failed <<<"$answer"
  ((claimed > 0)) || break
  claimed_total=$((claimed_total + claimed))
  valid_total=$((valid_total + valid))
  quarantined_total=$((quarantined_total + quarantined))
  errors_total=$((errors_total + errors))
  failed_total=$((failed_total + failed))
  elapsed_ms=$(ms_between "$processing_start" "$(now_ns)")
  done_count=$((claimed_total > to_process ? to_process : claimed_total))
  filled=$((to_process > 0 ? done_count * 30 / to_process : 30))
  bar=$(printf '%*s' "$filled" '' | tr ' ' '#')$(printf '%*s' $((30 - filled)) '' | tr ' ' '.')
  line=$(printf '  [%s] %3d%%  %5d/%d events  %5d valid  %3d quarantined  %6s events/s' "$bar" \
    $((to_process > 0 ? done_count * 100 / to_process : 100)) "$claimed_total" "$to_process" \
    "$valid_total" "$quarantined_total" "$(per_second "$claimed_total" "$elapsed_ms")")
  if [ -t 1 ]; then printf '\r%s' "$line"; else printf '%s\n' "$line"; fi
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
explain "Here processing and the API calls loaded every event already, so it finds nothing. Quarantined"
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
  answer=$(demo_psql -At -F ' ' -v call="$vault_calls" -v batch_size="$VAULT_BATCH" <<'SQL'
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
SQL
)
  vault_timings+=("($vault_calls, $(ms_between "$call_start" "$(now_ns)"))")
  read -r loaded hub_rows link_rows satellite_rows <<<"$answer"
  ((loaded > 0)) || break
  loaded_total=$((loaded_total + loaded))
  hub_rows_total=$((hub_rows_total + hub_rows))
  link_rows_total=$((link_rows_total + link_rows))
  satellite_rows_total=$((satellite_rows_total + satellite_rows))
  elapsed_ms=$(ms_between "$vault_start" "$(now_ns)")
  done_count=$((loaded_total > to_load ? to_load : loaded_total))
  filled=$((to_load > 0 ? done_count * 30 / to_load : 30))
  bar=$(printf '%*s' "$filled" '' | tr ' ' '#')$(printf '%*s' $((30 - filled)) '' | tr ' ' '.')
  line=$(printf '  [%s] %3d%%  %5d/%d events  rows: %4d hub %5d link %5d sat  %6s events/s' "$bar" \
    $((to_load > 0 ? done_count * 100 / to_load : 100)) "$loaded_total" "$to_load" \
    "$hub_rows_total" "$link_rows_total" "$satellite_rows_total" "$(per_second "$loaded_total" "$elapsed_ms")")
  if [ -t 1 ]; then printf '\r%s' "$line"; else printf '%s\n' "$line"; fi
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
TENANT_HEX=$(demo_psql -At -v t="$DEMO_TENANT" <<<"SELECT encode(util.hash_binary(:'t'), 'hex')")
OTHER_TENANT_HEX=$(demo_psql -At -v t="$OTHER_TENANT" <<<"SELECT encode(util.hash_binary(:'t'), 'hex')")
VAULT_EVENTS=$(demo_psql -At -c "SELECT count(*) FROM business.tracking_event_l")
# The range the report covers: from the start of the site's day with the oldest visit to the end
# of its current day, so the time series has whole days.
REPORT_RANGE=$(demo_psql -At -F ' ' -v site="$SITE_DOMAIN" -v history_hours="$HISTORY_HOURS" <<'SQL'
SELECT d.timezone, to_char(f.report_from AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       to_char(f.report_to AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
  FROM business.site_h AS h
  JOIN business.site_details_s AS d ON d.site_hk = h.site_hk AND d.load_end_date IS NULL
 CROSS JOIN LATERAL (
       SELECT date_trunc('day', (now() - :history_hours * interval '1 hour') AT TIME ZONE d.timezone)
                  AT TIME ZONE d.timezone AS report_from,
              (date_trunc('day', now() AT TIME ZONE d.timezone) + interval '1 day') AT TIME ZONE d.timezone AS report_to) AS f
 WHERE h.site_bk = :'site';
SQL
)
read -r REPORT_ZONE REPORT_FROM REPORT_TO <<<"$REPORT_RANGE"

# The site statistics, as the site owner's analyst reads them: a psql session of the reader role
# (not postgres), so every row it reads passes row-level security.
printf '\n%sSite statistics%s (api.site_stats, api.site_breakdown, api.site_timeseries; people only, bots excluded)\n' "$BOLD" "$RESET"
"$PG_BIN/psql" -h "$DEMO_DIR" -p "$DEMO_PORT" -U "$ANALYST" -d "$DB" -X -q -v ON_ERROR_STOP=1 -P pager=off \
  -v site="$SITE_DOMAIN" -v zone="$REPORT_ZONE" -v report_from="$REPORT_FROM" -v report_to="$REPORT_TO" \
  -v tenant_hex="$TENANT_HEX" -v other_hex="$OTHER_TENANT_HEX" -v vault_events="$VAULT_EVENTS" \
  -v analyst="$ANALYST" <<'SQL'
\pset footer off
\pset null ''
\pset numericlocale on
-- Row-level security at work: what this reader sees of the vault's events, by tenant setting.
SELECT set_config('onevault_tracking.tenant_id', '', false) \g /dev/null
SELECT count(*) AS rows_unset FROM business.tracking_event_l \gset
SELECT set_config('onevault_tracking.tenant_id', :'other_hex', false) \g /dev/null
SELECT count(*) AS rows_other FROM business.tracking_event_l \gset
SELECT set_config('onevault_tracking.tenant_id', :'tenant_hex', false) \g /dev/null
SELECT count(*) AS rows_demo FROM business.tracking_event_l \gset
SELECT format(E'Read as %s (a LOGIN role in onevault_tracking_reader, bound to Demo Corp): row-level security\n'
              'shows it %s of the vault''s %s events with Demo Corp''s tenant_id set, %s with none set, %s with Other Corp''s.',
              current_user, to_char(:rows_demo, 'FM999,999,990'), to_char(:vault_events, 'FM999,999,990'),
              :rows_unset, :rows_other) AS line \gset
\echo :line
\echo

-- The report functions read the range and site from these settings.
SELECT set_config('demo.site', :'site', false), set_config('demo.report_from', :'report_from', false),
       set_config('demo.report_to', :'report_to', false) \g /dev/null
-- One breakdown as rows: rank, value, visitors, visits, and pageviews (events for event names and
-- properties).
CREATE FUNCTION pg_temp.top(p_dimension text, p_limit integer DEFAULT 10, p_bots boolean DEFAULT false)
RETURNS TABLE (rank bigint, value text, visitors bigint, visits bigint, n bigint)
LANGUAGE sql STABLE AS $$
    SELECT e.rank, e.r ->> 'value', (e.r ->> 'visitors')::bigint, (e.r ->> 'visits')::bigint,
           coalesce(e.r ->> 'pageviews', e.r ->> 'events')::bigint
      FROM jsonb_array_elements(api.site_breakdown(current_setting('demo.site'), p_dimension,
               current_setting('demo.report_from')::timestamptz, current_setting('demo.report_to')::timestamptz,
               p_limit, p_bots)) WITH ORDINALITY AS e (r, rank)
$$;
-- A share in percent, right-aligned.
CREATE FUNCTION pg_temp.pct(part bigint, whole bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT lpad(round(100.0 * part / nullif(whole, 0)) || '%', 4) $$;

SELECT format('%s, %s to %s (%s, the site''s time zone)', :'site',
              to_char(:'report_from'::timestamptz AT TIME ZONE :'zone', 'Dy DD Mon'),
              to_char((:'report_to'::timestamptz AT TIME ZONE :'zone') - interval '1 day', 'Dy DD Mon YYYY'),
              :'zone') AS title \gset
\echo :title
SELECT s.visitors, s.visits, s.pageviews, s.views_per_visit AS "views per visit",
       s.bounce_rate || '%' AS "bounce rate",
       s.visit_duration / 60 || 'm ' || lpad((s.visit_duration % 60)::text, 2, '0') || 's' AS "visit duration",
       s.events - s.pageviews AS "custom events"
  FROM jsonb_to_record(api.site_stats(:'site', :'report_from', :'report_to'))
       AS s (visitors bigint, visits bigint, pageviews bigint, events bigint, views_per_visit numeric,
             bounce_rate integer, visit_duration integer);
SELECT (s ->> 'visitors')::bigint AS total_visitors, (s ->> 'visits')::bigint AS total_visits,
       (s ->> 'pageviews')::bigint AS total_pageviews
  FROM api.site_stats(:'site', :'report_from', :'report_to') AS s \gset
-- Bots: the difference with p_include_bots, and who they are (browsers only seen with bots).
SELECT format(E'Bots are excluded by default; with bots: %s more pageviews and %s more visitors\n(%s).\n'
              '* relays its visitors'' events in batches with its own user agent, a server''s: they count as a bot''s.',
              to_char((b ->> 'pageviews')::bigint - :total_pageviews, 'FM999,999,990'),
              to_char((b ->> 'visitors')::bigint - :total_visitors, 'FM999,999,990'),
              (SELECT string_agg(coalesce(x.value, 'edge collector*') || ' ' || to_char(x.n - coalesce(y.n, 0), 'FM999,999,990'),
                                 ', ' ORDER BY x.n - coalesce(y.n, 0) DESC, x.value)
                 FROM pg_temp.top('browser', 100, true) AS x
                 LEFT JOIN pg_temp.top('browser', 100) AS y ON y.value IS NOT DISTINCT FROM x.value
                WHERE x.n > coalesce(y.n, 0))) AS line
  FROM api.site_stats(:'site', :'report_from', :'report_to', true) AS b \gset
\echo :line

\echo
\echo 'By day (visits: the visits that started that day)'
SELECT t.bucket AS day, to_char(t.bucket::date, 'Dy') AS " ", t.visitors, t.visits, t.pageviews,
       repeat('#', round(40.0 * t.pageviews / nullif(max(t.pageviews) OVER (), 0))::integer) AS " "
  FROM jsonb_to_recordset(api.site_timeseries(:'site', :'report_from', :'report_to', 'day'))
       AS t (bucket text, visitors bigint, visits bigint, pageviews bigint)
 ORDER BY t.bucket;

\echo
\echo 'Pages (entries and exits: visits that started or ended on the page)'
SELECT p.value AS page, p.visitors, p.n AS pageviews, coalesce(en.visits, 0) AS entries,
       coalesce(ex.visits, 0) AS exits
  FROM pg_temp.top('page', 12) AS p
  LEFT JOIN pg_temp.top('entry_page', 100) AS en USING (value)
  LEFT JOIN pg_temp.top('exit_page', 100) AS ex USING (value)
 ORDER BY p.rank;

\echo
\echo 'Sources: visits by channel and by referrer (of their first event)'
SELECT c.value AS channel, c.visits, pg_temp.pct(c.visits, :total_visits) AS share,
       coalesce(r.value, CASE WHEN r.rank IS NOT NULL THEN '(none: direct)' END) AS referrer, r.visits
  FROM pg_temp.top('channel', 8) AS c
  FULL JOIN pg_temp.top('referrer', 8) AS r USING (rank)
 ORDER BY rank;

\echo
\echo 'Campaigns: visits by UTM tag (visits without tags left out)'
WITH s AS (SELECT row_number() OVER (ORDER BY rank) AS rank, value, visits FROM pg_temp.top('utm_source', 50) WHERE value IS NOT NULL),
     m AS (SELECT row_number() OVER (ORDER BY rank) AS rank, value, visits FROM pg_temp.top('utm_medium', 50) WHERE value IS NOT NULL),
     c AS (SELECT row_number() OVER (ORDER BY rank) AS rank, value, visits FROM pg_temp.top('utm_campaign', 50) WHERE value IS NOT NULL)
SELECT s.value AS utm_source, s.visits, m.value AS utm_medium, m.visits, c.value AS utm_campaign, c.visits
  FROM s FULL JOIN m USING (rank) FULL JOIN c USING (rank)
 ORDER BY rank;

\echo
\echo 'Browsers, operating systems and devices: visitors'
SELECT b.value AS browser, b.visitors, pg_temp.pct(b.visitors, :total_visitors) AS share,
       o.value AS os, o.visitors, pg_temp.pct(o.visitors, :total_visitors) AS share,
       d.value AS device, d.visitors, pg_temp.pct(d.visitors, :total_visitors) AS share
  FROM pg_temp.top('browser', 8) AS b
  FULL JOIN pg_temp.top('os', 8) AS o USING (rank)
  FULL JOIN pg_temp.top('device', 8) AS d USING (rank)
 ORDER BY rank;

\echo
\echo 'Custom events, and two of their properties (signup_click: plan; file_download: file)'
WITH p AS (SELECT row_number() OVER (ORDER BY rank) AS rank, value, n FROM pg_temp.top('property:plan', 20) WHERE value IS NOT NULL),
     f AS (SELECT row_number() OVER (ORDER BY rank) AS rank, value, n FROM pg_temp.top('property:file', 20) WHERE value IS NOT NULL)
SELECT e.value AS event, e.visitors, e.n AS events, p.value AS plan, p.n AS events, f.value AS file, f.n AS events
  FROM pg_temp.top('event_name', 10) AS e
  FULL JOIN p USING (rank) FULL JOIN f USING (rank)
 ORDER BY rank;
SQL

printf '\n%sIngestion, quarantine, rate limiting, privacy, vault, audit and throughput%s\n' "$BOLD" "$RESET"
demo_psql_keys -v demo_tenant="$DEMO_TENANT" -v other_tenant="$OTHER_TENANT" \
  -v replay_events="$REPLAY_EVENTS" -v vault_batch="$VAULT_BATCH" -v burst_calls="$BURST_CALLS" \
  -v burst_ip="$BURST_IP" -v site="$SITE_DOMAIN" -v tenant_hex="$TENANT_HEX" \
  -v report_from="$REPORT_FROM" -v report_to="$REPORT_TO" -v min_api_events="$MIN_API_EVENTS" <<'SQL'
\pset footer off
\pset null '-'
\pset numericlocale on
LOAD '$libdir/onevault_tracking';
SELECT current_setting('onevault_tracking.rate_limit_per_minute')::integer AS rate_limit \gset
\echo
\echo 'What was sent and what raw.site_tracking_events_r holds (a repeated event_id is stored once; "refused":'
\echo 'answered with an error code and not stored; events that fail validation are stored, then quarantined)'
WITH api AS (
    SELECT CASE WHEN story = 'browser traffic' THEN 1 WHEN story = 'rate-limit burst' THEN 3 ELSE 2 END AS ord,
           count(*) AS sent,
           count(*) FILTER (WHERE answer ? 'raw_event_id' AND answer ->> 'error_code' IS DISTINCT FROM 'DUPLICATE_EVENT') AS stored,
           count(*) FILTER (WHERE answer ->> 'error_code' = 'DUPLICATE_EVENT') AS duplicates,
           count(*) FILTER (WHERE NOT answer ? 'raw_event_id') AS refused
      FROM demo.api_calls
     GROUP BY 1
), lines AS (
    SELECT ord, (ARRAY['tracking API: browser traffic', 'tracking API: wrong, misused, revoked keys',
                       'tracking API: rate-limit burst'])[ord] AS channel,
           sent, stored, duplicates, refused
      FROM api
    UNION ALL
    SELECT 4, 'raw endpoint: old snippets', (SELECT count(*) FROM demo.events WHERE endpoint = 'raw'),
           count(DISTINCT raw_event_id), count(*) - count(DISTINCT raw_event_id), 0
      FROM demo.raw_sends
    UNION ALL
    SELECT 5, 'raw bulk path: 3 batches', sum((result ->> 'size')::int),
           sum((result ->> 'accepted')::int), sum((result ->> 'duplicates')::int), sum((result ->> 'rejected')::int)
      FROM demo.batch_results
)
SELECT channel, sent, stored, duplicates_avoided, refused
  FROM (SELECT ord, channel, sent, stored, duplicates AS duplicates_avoided, refused
          FROM lines
        UNION ALL
        SELECT 9, 'total', sum(sent), sum(stored), sum(duplicates), sum(refused)
          FROM lines) AS t
 ORDER BY ord;
SELECT 'Rejected batch items (never stored): '
       || string_agg(error_code || ' ' || n, ', ' ORDER BY n DESC, error_code) || '.' AS line
  FROM (SELECT item ->> 'error_code' AS error_code, count(*) AS n
          FROM demo.batch_results AS r, jsonb_array_elements(r.result -> 'results') AS item
         WHERE item ->> 'status' = 'rejected'
         GROUP BY 1) AS x \gset
\echo :line

\echo
\echo 'Tracking API answers ("unexpected": not what the demo expects of the call: a clean event success,'
\echo 'a broken one INVALID_EVENT, a retry DUPLICATE_EVENT, ...)'
SELECT coalesce(answer ->> 'error_code', 'success') AS answer, count(*) AS calls,
       count(*) FILTER (WHERE coalesce(answer ->> 'error_code', 'success') <> expected) AS unexpected,
       coalesce((array_agg(answer ->> 'message' ORDER BY call_no) FILTER (WHERE answer ? 'message'))[1],
                'status ' || string_agg(DISTINCT answer ->> 'status', ', ')
                    || ', loaded_to_vault ' || string_agg(DISTINCT answer ->> 'loaded_to_vault', ', ')) AS message
  FROM demo.api_calls
 GROUP BY 1
 ORDER BY 2 DESC, 1;

-- The staged events: VALID rows only, with who sent them. The batch API takes one client address
-- and user agent per call, so the events the edge collector relays carry the collector's, not
-- the visitor's: browser, OS, device and visitor hash are the collector's (its user agent is a
-- server's, so they count as a bot), while everything from the payload (pages, referrers,
-- campaigns, the session_id it adds) is the visitor's. The checks use it.
CREATE VIEW demo.traffic AS
SELECT s.*,
       CASE WHEN r.batch_id IS NOT NULL THEN 'edge collector'
            WHEN s.is_bot THEN 'bot'
            ELSE 'browser' END AS sender
  FROM staging.site_tracking_events_s AS s
  JOIN raw.site_tracking_events_r AS r USING (raw_event_id)
 WHERE s.validation_status = 'VALID';

\echo
SELECT format('Quarantine: %s of the %s stored events (%s%%) failed validation: staged INVALID with their reasons',
              to_char(count(*) FILTER (WHERE s.validation_status = 'INVALID'), 'FM999,999,990'),
              to_char(count(*), 'FM999,999,990'),
              round(100.0 * count(*) FILTER (WHERE s.validation_status = 'INVALID') / count(*), 1)) AS line1,
       format('and kept out of the vault. %s came through the tracking API (which answered INVALID_EVENT, with the',
              count(*) FILTER (WHERE s.validation_status = 'INVALID' AND r.batch_id IS NULL AND r.api_key_hk IS NOT NULL)) AS line2,
       format('reasons), %s through the raw endpoint and %s in batches. By broken tracker:',
              count(*) FILTER (WHERE s.validation_status = 'INVALID' AND r.batch_id IS NULL AND r.api_key_hk IS NULL),
              count(*) FILTER (WHERE s.validation_status = 'INVALID' AND r.batch_id IS NOT NULL)) AS line3
  FROM staging.site_tracking_events_s AS s
  JOIN raw.site_tracking_events_r AS r USING (raw_event_id) \gset q_
\echo :q_line1
\echo :q_line2
\echo :q_line3
SELECT b.what AS tracker_bug, string_agg(DISTINCT e.endpoint, ', ') AS sent_via, count(s.*) AS events,
       count(*) FILTER (WHERE s.validation_status = 'INVALID') AS quarantined,
       (SELECT string_agg(DISTINCT c ->> 'code', ', ')
          FROM jsonb_array_elements(jsonb_agg(s.validation_errors)) AS l, jsonb_array_elements(l) AS c) AS reasons
  FROM demo.breakages AS b
  JOIN (SELECT DISTINCT ON (payload ->> 'event_id') * FROM demo.events ORDER BY payload ->> 'event_id', n) AS e
    ON e.broken = b.broken
  JOIN raw.site_tracking_events_r AS r ON r.client_event_id = e.payload ->> 'event_id'
  JOIN staging.site_tracking_events_s AS s USING (raw_event_id)
 GROUP BY b.broken, b.what
 ORDER BY 3 DESC, 1;
\echo 'The reasons (one event may have several), with one message each as validation wrote it:'
SELECT e ->> 'code' AS code, e ->> 'field' AS field, count(*) AS events,
       CASE WHEN length(min(e ->> 'message')) > 100 THEN left(min(e ->> 'message'), 97) || '...'
            ELSE min(e ->> 'message') END AS example_message
  FROM staging.site_tracking_events_s AS s, jsonb_array_elements(s.validation_errors) AS e
 WHERE s.validation_status = 'INVALID'
 GROUP BY 1, 2
 ORDER BY 3 DESC, 1, 2;

\echo
\echo 'Rate limiting (auth.ip_tracking_s: calls per tenant, client address and minute window)'
SELECT format('The burst: %s page views from %s in %s s; %s accepted, %s answered RATE_LIMITED (from call %s on, retry_after %s s).',
              count(*), :'burst_ip',
              round(extract(epoch FROM max(called_at) - min(called_at))::numeric, 1),
              count(*) FILTER (WHERE answer ->> 'success' = 'true'),
              count(*) FILTER (WHERE answer ->> 'error_code' = 'RATE_LIMITED'),
              coalesce(min(seq) FILTER (WHERE answer ->> 'error_code' = 'RATE_LIMITED')::text, '-'),
              coalesce(max((answer ->> 'retry_after')::int)::text, '-')) AS line
  FROM demo.api_calls
 WHERE story = 'rate-limit burst' \gset
\echo :line
SELECT format('Its window counted %s calls and is blocked (%s).', i.request_count, coalesce(i.block_reason, 'no reason'))
           AS line
  FROM auth.ip_tracking_s AS i
 WHERE i.ip_address = :'burst_ip'::inet
 ORDER BY i.load_date DESC
 LIMIT 1 \gset
\echo :line
SELECT format(E'Everyone else stayed under the limit of %s a minute: %s addresses, at most %s calls from one in a\n'
              'minute window; no other call was answered RATE_LIMITED.',
              :rate_limit, to_char(count(DISTINCT i.ip_address), 'FM999,999,990'), max(i.request_count)) AS line
  FROM auth.ip_tracking_s AS i
 WHERE i.ip_address <> :'burst_ip'::inet \gset
\echo :line

\echo
\echo 'Client addresses: what was sent and what the tracking tables keep (IPv4 its /24, IPv6 its /48)'
SELECT DISTINCT ON (family(e.client_ip), host(e.client_ip) LIKE '::ffff:%', e.visitor <= 3)
       CASE WHEN host(e.client_ip) LIKE '::ffff:%' THEN 'IPv4-mapped IPv6'
            ELSE 'IPv' || family(e.client_ip) END AS kind,
       host(e.client_ip) AS sent, host(r.client_ip) AS stored
  FROM demo.events AS e
  JOIN raw.site_tracking_events_r AS r ON r.client_event_id = e.payload ->> 'event_id'
 WHERE e.channel = 'single' AND NOT e.retry
 ORDER BY family(e.client_ip), host(e.client_ip) LIKE '::ffff:%', e.visitor <= 3 DESC, e.n;

-- The business vault: every hub, link and satellite with its row count (satellites: all rows
-- of their history and the current ones).
CREATE VIEW demo.vault_tables AS
SELECT v.ord, v.kind, v.table_name, v.rows, v.current_rows, v.holds
  FROM (VALUES
    (1, 'hub', 'business.site_h', (SELECT count(*) FROM business.site_h), NULL::bigint,
     'one row per site (normalised domain)'),
    (2, 'hub', 'business.page_h', (SELECT count(*) FROM business.page_h), NULL,
     'one row per page (site + path)'),
    (3, 'hub', 'business.session_h', (SELECT count(*) FROM business.session_h), NULL,
     'one row per session (client-sent or derived id)'),
    (4, 'link', 'business.page_site_l', (SELECT count(*) FROM business.page_site_l), NULL,
     'page -> its site'),
    (5, 'link', 'business.session_site_l', (SELECT count(*) FROM business.session_site_l), NULL,
     'session -> its site'),
    (6, 'link', 'business.tracking_event_l', (SELECT count(*) FROM business.tracking_event_l), NULL,
     'one row per event: site, page, session, API key'),
    (7, 'satellite', 'business.page_details_s', (SELECT count(*) FROM business.page_details_s),
     (SELECT count(*) FROM business.page_details_s WHERE load_end_date IS NULL),
     'title, host, path (a new row when they change)'),
    (8, 'satellite', 'business.session_details_s', (SELECT count(*) FROM business.session_details_s),
     (SELECT count(*) FROM business.session_details_s WHERE load_end_date IS NULL),
     'entry page, source, campaign, device (first event)'),
    (9, 'satellite', 'business.tracking_event_details_s', (SELECT count(*) FROM business.tracking_event_details_s),
     (SELECT count(*) FROM business.tracking_event_details_s WHERE load_end_date IS NULL),
     'event type and name, time, enrichment'))
  AS v (ord, kind, table_name, rows, current_rows, holds);

-- Replay: the most recent VALID staged events are marked not loaded again (as after a crash
-- between load and commit bookkeeping, or an operator re-running a load) and loaded once more.
CREATE TABLE demo.vault_before_replay AS SELECT * FROM demo.vault_tables;
UPDATE staging.site_tracking_events_s SET loaded_to_vault = false, loaded_at = NULL
 WHERE staging_event_id IN (SELECT staging_event_id FROM staging.site_tracking_events_s
                             WHERE validation_status = 'VALID'
                             ORDER BY staging_event_id DESC
                             LIMIT :replay_events);
CREATE TABLE demo.vault_replay AS SELECT business.load_staged_events(:vault_batch) AS result;

\echo
\echo 'The business vault (only VALID events; satellites keep history: "current" rows are not end-dated)'
SELECT kind, table_name AS "table", rows, current_rows AS current, holds
  FROM demo.vault_tables
 ORDER BY ord;
SELECT format('Replay is idempotent: the %s most recent VALID staged events were marked not loaded and loaded again; business.load_staged_events added %s.',
              :replay_events,
              CASE WHEN (SELECT coalesce(sum(value::int), 0) FROM jsonb_each_text(result -> 'rows_added')) = 0
                   THEN 'nothing' ELSE 'rows (NOT idempotent)' END) AS line
  FROM demo.vault_replay \gset
\echo :line

\echo
\echo 'Audit records (util.log_audit_event) per operation and tenant'
SELECT coalesce(d.operation, 'total') AS operation, count(*) FILTER (WHERE t.tenant_bk = :'demo_tenant') AS "Demo Corp",
       count(*) FILTER (WHERE t.tenant_bk IS DISTINCT FROM :'demo_tenant') AS "any other tenant",
       coalesce(w.what, '') AS "one per"
  FROM audit.audit_detail_s AS d
  JOIN audit.audit_event_h AS a USING (audit_event_hk)
  LEFT JOIN auth.tenant_h AS t ON t.tenant_hk = a.tenant_hk
  LEFT JOIN (VALUES ('TRACKING_ATTEMPT', 'tracking API call, whatever its answer'),
                    ('SITE_REGISTERED', 'site registered'),
                    ('API_KEY_CREATED', 'API key created'),
                    ('API_KEY_REVOKED', 'API key revoked'),
                    ('TRACKING_EVENT_RECEIVED', 'event stored by the raw endpoint'),
                    ('TRACKING_BATCH_RECEIVED', 'batch'),
                    ('TRACKING_EVENTS_PROCESSED', 'processing call that claimed events'),
                    ('TRACKING_EVENTS_LOADED', 'vault load call that loaded events (the replay''s too)'))
       AS w (operation, what) ON w.operation = d.operation
 GROUP BY ROLLUP ((d.operation, w.what))
 ORDER BY d.operation IS NULL, 2 DESC, 1;
\echo 'TRACKING_ATTEMPT records by outcome (details carry the key''s public prefix and the anonymised'
\echo 'network, never the key or the full address)'
SELECT d.new_data ->> 'outcome' AS outcome, coalesce(d.new_data ->> 'error_code', '-') AS error_code,
       count(*) AS records, coalesce(string_agg(DISTINCT d.new_data ->> 'api_key_prefix', ', '), '-') AS api_key_prefixes,
       count(DISTINCT d.new_data ->> 'client_network') AS client_networks
  FROM audit.audit_detail_s AS d
 WHERE d.operation = 'TRACKING_ATTEMPT'
 GROUP BY 1, 2
 ORDER BY 3 DESC, 1, 2;

\echo
\echo 'Throughput (wall clock on this machine, including psql)'
SELECT CASE step WHEN 'single' THEN 'tracking API + raw endpoint: one call and transaction per event'
                 WHEN 'rate-limit burst' THEN 'tracking API: the rate-limit burst'
                 WHEN 'batch' THEN 'raw bulk path: 3 batch calls'
                 WHEN 'processing' THEN 'processing raw -> staging -> business vault'
                 WHEN 'vault load' THEN 'loading what processing left (none)' END AS step,
       events, round(milliseconds / 1000.0, 1) AS seconds,
       CASE WHEN milliseconds > 0 THEN round(events * 1000.0 / milliseconds) END AS per_second,
       CASE WHEN step IN ('single', 'rate-limit burst') THEN 'calls/s (each staged and loaded at once)'
            ELSE 'events/s' END AS unit
  FROM demo.timings
 ORDER BY array_position(ARRAY['single', 'rate-limit burst', 'batch', 'processing', 'vault load'], step);

-- Checks of what the demo expects; failures are listed and make the script exit 1. The reports
-- are checked too, for the demo's tenant.
SELECT set_config('onevault_tracking.tenant_id', :'tenant_hex', false) \g /dev/null
CREATE TABLE demo.checks AS
WITH sent AS (
    -- Each stored client event once, with what the demo knows about it.
    SELECT DISTINCT ON (e.payload ->> 'event_id') e.*, v.sends_session_id, r.raw_event_id
      FROM demo.events AS e
      JOIN demo.visitors AS v USING (visitor)
      JOIN raw.site_tracking_events_r AS r ON r.client_event_id = e.payload ->> 'event_id'
     ORDER BY e.payload ->> 'event_id', e.n
), derived AS (
    -- Events of visitors whose tracker sends no session_id: one derived session per visit.
    SELECT count(DISTINCT t.visit) AS visits, count(DISTINCT s.session_id) AS sessions,
           count(DISTINCT (t.visit, s.session_id)) AS pairs
      FROM sent AS t
      JOIN staging.site_tracking_events_s AS s USING (raw_event_id)
     WHERE t.channel = 'single' AND NOT t.sends_session_id AND s.validation_status = 'VALID'
), vault AS (
    -- The business vault against the staging rows it was loaded from.
    SELECT (SELECT count(*) FROM staging.site_tracking_events_s WHERE validation_status = 'VALID') AS valid_staged,
           (SELECT count(*) FROM staging.site_tracking_events_s
             WHERE validation_status = 'VALID' AND NOT loaded_to_vault) AS valid_not_loaded,
           (SELECT count(*) FROM staging.site_tracking_events_s
             WHERE validation_status <> 'VALID' AND loaded_to_vault) AS invalid_loaded,
           (SELECT count(*) FROM business.tracking_event_l) AS event_links,
           -- A page is (tenant, site, path); the site is the normalised domain (lower case, no
           -- trailing dot, no leading "www."), as in onevault_tracking_core::vault.
           (SELECT count(DISTINCT (tenant_hk, regexp_replace(lower(rtrim(btrim(page_host), '.')), '^www\.', ''), page_path))
              FROM staging.site_tracking_events_s
             WHERE validation_status = 'VALID' AND rtrim(btrim(page_host), '.') <> '' AND page_path IS NOT NULL) AS staged_pages,
           (SELECT count(*) FROM business.page_h) AS page_hubs,
           (SELECT count(*) FROM (SELECT page_hk FROM business.page_details_s WHERE load_end_date IS NULL
                                   GROUP BY page_hk HAVING count(*) > 1) AS k) AS pages_with_two_current,
           (SELECT count(*) FROM business.page_h AS p
             WHERE NOT EXISTS (SELECT FROM business.page_details_s AS d
                                WHERE d.page_hk = p.page_hk AND d.load_end_date IS NULL)) AS pages_without_current,
           (SELECT (result ->> 'loaded')::int FROM demo.vault_replay) AS replay_loaded,
           (SELECT coalesce(sum(value::int), 0) FROM demo.vault_replay, jsonb_each_text(result -> 'rows_added')) AS replay_rows_added,
           (SELECT sum(a.rows) - sum(b.rows) FROM demo.vault_tables AS a
              JOIN demo.vault_before_replay AS b USING (ord)) AS replay_rows_grown,
           (SELECT count(*)
              FROM (SELECT page_path, count(*) AS page_views
                      FROM staging.site_tracking_events_s
                     WHERE validation_status = 'VALID' AND event_type = 'page_view'
                     GROUP BY page_path) AS staged
              FULL JOIN (SELECT d.page_path, count(*) AS page_views
                           FROM business.tracking_event_l AS l
                           JOIN business.tracking_event_details_s AS e
                             ON e.tracking_event_hk = l.tracking_event_hk AND e.load_end_date IS NULL
                           JOIN business.page_details_s AS d ON d.page_hk = l.page_hk AND d.load_end_date IS NULL
                          WHERE e.event_type = 'page_view'
                          GROUP BY d.page_path) AS vaulted USING (page_path)
             WHERE staged.page_views IS DISTINCT FROM vaulted.page_views) AS page_views_differing,
           (SELECT (SELECT count(*) FROM business.site_h WHERE tenant_hk <> util.hash_binary(:'demo_tenant'))
                 + (SELECT count(*) FROM business.page_h WHERE tenant_hk <> util.hash_binary(:'demo_tenant'))
                 + (SELECT count(*) FROM business.session_h WHERE tenant_hk <> util.hash_binary(:'demo_tenant'))
                 + (SELECT count(*) FROM business.tracking_event_l WHERE tenant_hk <> util.hash_binary(:'demo_tenant'))
           ) AS vault_elsewhere
), answers AS (
    -- Every tracking API call: its answer as outcome and error code (as the audit records them).
    SELECT c.*, coalesce(c.answer ->> 'error_code', 'success') AS code,
           CASE WHEN c.answer ->> 'success' = 'true' THEN 'accepted'
                WHEN c.answer ->> 'error_code' = 'DUPLICATE_EVENT' THEN 'duplicate' ELSE 'rejected' END AS outcome
      FROM demo.api_calls AS c
), api AS (
    SELECT (SELECT count(*) FROM answers) AS api_calls,
           (SELECT count(*) FROM answers WHERE code <> expected) AS api_unexpected,
           (SELECT count(*) FROM answers WHERE code = 'success') AS api_successes,
           -- Successes whose event the call stored, staged VALID and loaded into the vault at once.
           (SELECT count(*) FROM answers AS a
              JOIN raw.site_tracking_events_r AS r ON r.raw_event_id = (a.answer ->> 'raw_event_id')::bigint
              JOIN staging.site_tracking_events_s AS s ON s.raw_event_id = r.raw_event_id
             WHERE a.code = 'success' AND a.answer ->> 'status' = 'PROCESSED' AND a.answer ->> 'loaded_to_vault' = 'true'
               AND r.batch_id IS NULL AND r.api_key_hk IS NOT NULL
               AND s.validation_status = 'VALID' AND s.loaded_to_vault) AS api_successes_landed,
           -- Events the API stored: each success, and each INVALID_EVENT that names its raw event.
           (SELECT count(DISTINCT (answer ->> 'raw_event_id')) FROM answers
             WHERE code = 'success' OR (code = 'INVALID_EVENT' AND answer ? 'raw_event_id')) AS api_stored_answers,
           (SELECT count(*) FROM raw.site_tracking_events_r WHERE batch_id IS NULL AND api_key_hk IS NOT NULL) AS api_stored,
           (SELECT count(*) FROM raw.site_tracking_events_r WHERE batch_id IS NULL AND api_key_hk IS NULL) AS raw_endpoint_stored,
           (SELECT count(*) FROM answers WHERE story = 'rate-limit burst' AND code = 'RATE_LIMITED') AS burst_limited,
           (SELECT count(*) || ' row, ' || coalesce(sum(request_count), 0) || ' calls, '
                   || CASE WHEN bool_and(is_blocked) THEN 'blocked' ELSE 'not blocked' END
              FROM auth.ip_tracking_s WHERE ip_address = :'burst_ip'::inet) AS burst_windows,
           -- The limiter counts each call whose key passed: all but the key refusals.
           (SELECT count(*) FROM answers
             WHERE code NOT IN ('INVALID_API_KEY', 'API_KEY_REVOKED', 'API_KEY_EXPIRED', 'DOMAIN_MISMATCH')) AS api_calls_metered,
           (SELECT coalesce(sum(request_count), 0) FROM auth.ip_tracking_s) AS limiter_requests,
           (SELECT count(*)
              FROM (SELECT outcome, code, count(*) AS calls FROM answers GROUP BY 1, 2) AS a
              FULL JOIN (SELECT d.new_data ->> 'outcome' AS outcome,
                                coalesce(d.new_data ->> 'error_code', 'success') AS code, count(*) AS records
                           FROM audit.audit_detail_s AS d
                           JOIN audit.audit_event_h AS h USING (audit_event_hk)
                          WHERE d.operation = 'TRACKING_ATTEMPT' AND h.tenant_hk = util.hash_binary(:'demo_tenant')
                          GROUP BY 1, 2) AS r USING (outcome, code)
             WHERE a.calls IS DISTINCT FROM r.records) AS attempts_differing,
           -- Site and key administration audited: sites created or changed, keys created, keys revoked.
           (SELECT count(*) FROM demo.admin_calls
             WHERE (action = 'api.register_site' AND (answer ->> 'created' = 'true' OR answer ->> 'details_changed' = 'true'))
                OR action = 'api.create_api_key'
                OR (action = 'api.revoke_api_key' AND answer ->> 'already_revoked' = 'false')) AS admin_records,
           -- Audit details holding one of the demo's keys, or anything of a key's form (a presented key).
           (SELECT count(*) FROM audit.audit_detail_s
             WHERE new_data::text ~ 'ovt_[0-9a-f]{8}_[0-9a-f]{64}'
                OR strpos(new_data::text, :'api_key') > 0 OR strpos(new_data::text, :'other_key') > 0
                OR strpos(new_data::text, :'old_key') > 0) AS audit_keys,
           -- Audit details holding a full client address: any string value that is one of the
           -- addresses sent, or a TRACKING_ATTEMPT client_network with host bits.
           (SELECT count(DISTINCT d.audit_event_hk)
              FROM audit.audit_detail_s AS d
             CROSS JOIN LATERAL jsonb_path_query(d.new_data, 'strict $.**') AS v
              JOIN (SELECT DISTINCT host(client_ip) AS ip
                      FROM (SELECT client_ip FROM demo.api_calls UNION ALL SELECT client_ip FROM demo.events
                            UNION ALL SELECT client_ip FROM demo.batches) AS c) AS sent
                ON split_part(v #>> '{}', '/', 1) = sent.ip
             WHERE jsonb_typeof(v) = 'string')
         + (SELECT count(*)
              FROM (SELECT (new_data ->> 'client_network')::inet AS network FROM audit.audit_detail_s
                     WHERE operation = 'TRACKING_ATTEMPT' AND new_data ->> 'client_network' IS NOT NULL) AS n
             WHERE host(n.network) <> host(network(set_masklen(n.network,
                       CASE WHEN family(n.network) = 4 THEN 24
                            WHEN host(n.network) LIKE '::ffff:%' THEN 120 ELSE 48 END)))) AS audit_full_ips
), reports AS (
    -- The reports against staging: all time, bots included, every VALID event of example.com.
    SELECT (api.site_stats(:'site', '-infinity', 'infinity', true) ->> 'pageviews')::bigint AS report_pageviews,
           (SELECT count(*) FROM staging.site_tracking_events_s
             WHERE validation_status = 'VALID' AND event_type = 'page_view' AND page_host = :'site') AS staged_pageviews,
           (api.site_stats(:'site', :'report_from', :'report_to') ->> 'visits')::bigint AS report_visits,
           (SELECT sum((b ->> 'visits')::bigint)
              FROM jsonb_array_elements(api.site_timeseries(:'site', :'report_from', :'report_to', 'day')) AS b) AS series_visits,
           (SELECT count(*) FROM demo.api_calls WHERE story = 'browser traffic') AS api_traffic_calls
), facts AS (
    SELECT (SELECT count(*) FROM demo.events WHERE channel = 'single' AND NOT retry) AS single_new,
           (SELECT count(*) FROM raw.site_tracking_events_r
             WHERE batch_id IS NULL
               AND client_event_id IN (SELECT payload ->> 'event_id' FROM demo.events WHERE channel = 'single')) AS single_stored,
           (SELECT count(*) FROM raw.site_tracking_events_r WHERE batch_id IS NOT NULL) AS batch_stored,
           (SELECT count(*) FROM demo.batch_results) AS batches,
           (SELECT count(*) FROM demo.processing_calls WHERE (result ->> 'claimed')::int > 0) AS processing_calls,
           (SELECT count(*) FROM demo.vault_loads WHERE (result ->> 'loaded')::int > 0)
               + (SELECT count(*) FROM demo.vault_replay WHERE (result ->> 'loaded')::int > 0) AS vault_load_calls,
           (SELECT count(*) FROM audit.audit_event_h WHERE tenant_hk = util.hash_binary(:'demo_tenant')) AS audit_demo,
           (SELECT count(*) FROM audit.audit_event_h WHERE tenant_hk IS DISTINCT FROM util.hash_binary(:'demo_tenant')) AS audit_elsewhere,
           (SELECT count(*) FROM raw.site_tracking_events_r
             WHERE host(client_ip) <> host(network(set_masklen(client_ip,
                       CASE WHEN family(client_ip) = 4 THEN 24
                            WHEN host(client_ip) LIKE '::ffff:%' THEN 120 ELSE 48 END)))) AS full_ips,
           (SELECT count(*) FROM raw.site_tracking_events_r WHERE tenant_hk <> util.hash_binary(:'demo_tenant')) AS raw_elsewhere,
           (SELECT count(*) FROM raw.site_tracking_events_r
             WHERE processing_status IN ('PENDING', 'ERROR', 'FAILED')) AS unprocessed,
           (SELECT count(*) FROM raw.site_tracking_events_r AS r
             WHERE (SELECT count(*) FROM staging.site_tracking_events_s AS s
                     WHERE s.raw_event_id = r.raw_event_id) <> 1) AS not_staged_once,
           (SELECT count(*) FROM staging.site_tracking_events_s
             WHERE validation_status = 'INVALID'
               AND (jsonb_array_length(validation_errors) = 0
                    OR EXISTS (SELECT FROM jsonb_array_elements(validation_errors) AS e
                                WHERE coalesce(e ->> 'code', '') = '' OR coalesce(e ->> 'message', '') = ''))) AS invalid_without_reasons,
           (SELECT count(*) FROM sent JOIN staging.site_tracking_events_s AS s USING (raw_event_id)
             WHERE (sent.broken IS NOT NULL) <> (s.validation_status = 'INVALID')) AS wrong_outcome,
           (SELECT count(*) FILTER (WHERE sender = 'bot') FROM demo.traffic) AS bot_events,
           (SELECT count(*) FILTER (WHERE sender <> 'edge collector') FROM demo.traffic) AS direct_events,
           derived.visits AS derived_visits, derived.sessions AS derived_sessions, derived.pairs AS derived_pairs,
           vault.*, api.*, reports.*
      FROM derived, vault, api, reports
)
SELECT v.ord, v.check_name, v.expected::text AS expected, v.actual::text AS actual, v.expected = v.actual AS ok
  FROM facts CROSS JOIN LATERAL (VALUES
    (1, 'each single event stored once, retries not', single_new, single_stored),
    (2, '1000 + 500 + 240 batch events stored', 1740, batch_stored),
    (3, 'audit records on Demo Corp = API calls + site/key admin + raw endpoint events + batches'
        || ' + processing/load calls',
     api_calls + admin_records + raw_endpoint_stored + batches + processing_calls + vault_load_calls, audit_demo),
    (4, 'audit records on any other tenant', 0, audit_elsewhere),
    (31, 'API answers other than expected (clean event: success, broken: INVALID_EVENT, ...)', 0, api_unexpected),
    (32, 'API successes = events the API stored, staged VALID and loaded in the call',
     api_successes, api_successes_landed),
    (33, 'raw rows stored by the API = successes + INVALID_EVENT answers naming one',
     api_stored_answers, api_stored),
    (34, format('RATE_LIMITED answers in the burst = its calls - the limit (%s - %s)', :burst_calls, :rate_limit),
     greatest(0, :burst_calls - :rate_limit), burst_limited),
    (36, 'calls counted by the rate limiter = API calls whose key passed', api_calls_metered, limiter_requests),
    (37, 'TRACKING_ATTEMPT records per outcome and error code unlike the API answers', 0, attempts_differing),
    (38, 'audit details with an API key (the plaintext, or anything of a key''s form)', 0, audit_keys),
    (39, 'audit details with a full client address', 0, audit_full_ips),
    (5, 'raw rows on any other tenant', 0, raw_elsewhere),
    (6, 'stored addresses with host bits (not anonymised)', 0, full_ips),
    (7, 'raw events left PENDING, ERROR or FAILED', 0, unprocessed),
    (8, 'raw events without exactly one staging row', 0, not_staged_once),
    (9, 'INVALID rows without their reasons', 0, invalid_without_reasons),
    (10, 'events staged with the wrong outcome (broken VALID, clean INVALID)', 0, wrong_outcome),
    (11, 'derived sessions = visits of visitors sending no session_id', derived_visits, derived_sessions),
    (12, 'visits split or merged by session derivation', 0, 2 * derived_pairs - derived_visits - derived_sessions),
    (14, 'VALID staged events not loaded to the vault', 0, valid_not_loaded),
    (15, 'INVALID staged events loaded to the vault', 0, invalid_loaded),
    (16, 'tracking_event_l rows = VALID staged events', valid_staged, event_links),
    (17, 'page_h rows = distinct (tenant, site, path) of VALID events', staged_pages, page_hubs),
    (18, 'pages with more than one current page_details_s row', 0, pages_with_two_current),
    (19, 'pages without a current page_details_s row', 0, pages_without_current),
    (20, 'events loaded again by the replay', :replay_events, replay_loaded),
    (21, 'rows the replay added (its rows_added, and table growth)', 0, replay_rows_added + replay_rows_grown),
    (22, 'pages whose page views differ between vault and staging', 0, page_views_differing),
    (23, 'vault hub and link rows on any other tenant', 0, vault_elsewhere),
    (24, 'api.site_stats page views (all time, bots included) = VALID page views staged', staged_pageviews, report_pageviews),
    (25, 'api.site_timeseries visits per day add up to api.site_stats visits', report_visits, series_visits)
) AS v (ord, check_name, expected, actual)
UNION ALL
SELECT 30, 'tracking API calls of the browser traffic', format('>= %s', :min_api_events), api_traffic_calls::text,
       api_traffic_calls >= :min_api_events
  FROM facts
UNION ALL
SELECT 13, 'bot events among the events sent directly', '> 0',
       bot_events || ' of ' || direct_events || ' (' || round(100.0 * bot_events / nullif(direct_events, 0), 1) || '%)',
       bot_events > 0
  FROM facts
UNION ALL
SELECT 35, 'the burst in auth.ip_tracking_s (all its calls in one minute window)',
       format('1 row, %s calls, blocked', :burst_calls), burst_windows, burst_windows = format('1 row, %s calls, blocked', :burst_calls)
  FROM facts;

SELECT count(*) AS checks_total, count(*) FILTER (WHERE ok) AS checks_passed,
       count(*) FILTER (WHERE NOT ok) > 0 AS checks_failed
  FROM demo.checks \gset
\echo
\echo 'Checks (SELECT * FROM demo.checks lists them): every event stored once and staged once, broken trackers'
\echo 'and only they quarantined, the vault = the VALID events, sessions, replay, the reports against staging,'
\echo 'the rate limiter''s counts, one audit record per call on the right tenant, no key or full address kept'
\echo
\if :checks_failed
SELECT check_name AS "FAILED check", expected, actual
  FROM demo.checks
 WHERE NOT ok
 ORDER BY ord;
\endif
SQL

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
