#!/usr/bin/env bash
# onevault_tracking demo: builds and installs the extension, starts a private PostgreSQL 15
# cluster, loads the One Vault core replica, ingests a few thousand realistic tracking events
# (single calls and batches, with retries and bad items) and prints what landed where.
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

# The demo's numbers: single calls sent in CHUNKS psql sessions, then three batches.
SINGLE_EVENTS=2000
CHUNKS=10

# Tenants, as the platform would have created them (business key = name + creation time).
DEMO_TENANT='Demo Corp_2026-01-01 00:00:00+00'
OTHER_TENANT='Other Corp_2025-01-01 00:00:00+00'

usage() {
  cat <<EOF
Usage: bash scripts/demo.sh [--seed N] [--stop] [--help]

Builds and installs onevault_tracking (release mode), starts a private PostgreSQL 15 cluster
in \$ONEVAULT_DEMO_DIR (default /tmp/onevault_tracking_demo) on unix-socket port
\$ONEVAULT_DEMO_PORT (default 55432), recreates the database $DB with the One Vault core
replica and the extension, ingests $SINGLE_EVENTS single events and three batches, and prints a
report. The cluster keeps running afterwards so you can explore it with psql.

  --seed N   seed of the pseudo-random event mix (a non-negative integer, default 42);
             the same seed gives the same events
  --stop     stop the demo cluster, delete its directory, and exit
  --help     show this help

Run it as root on Debian: the first run installs packages and cargo-pgrx and compiles the
extension (several minutes); later runs take well under a minute.
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

printf '%sonevault_tracking demo%s  (seed %s, cluster %s, port %s)\n' \
  "$BOLD" "$RESET" "$SEED" "$DEMO_DIR" "$DEMO_PORT"

# ---------------------------------------------------------------------------------------------
heading "1/7 Prerequisites"
explain "PostgreSQL 15 and its headers, clang, sudo and cargo-pgrx 0.18.1 (each installed only if missing)."
if ! command -v cargo >/dev/null; then
  echo "demo.sh: cargo not found; install Rust first (https://rustup.rs), then run me again." >&2
  exit 1
fi
bash "$REPO/scripts/prereqs.sh"
echo "ok"

# ---------------------------------------------------------------------------------------------
heading "2/7 Build and install the extension"
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
heading "3/7 Private PostgreSQL 15 cluster"
cluster_start "$DEMO_DIR" "$DEMO_PORT"
echo "running: data in $DEMO_DIR/data, socket $DEMO_DIR/.s.PGSQL.$DEMO_PORT (no TCP listener), log $DEMO_DIR/postgres.log"

# ---------------------------------------------------------------------------------------------
heading "4/7 Database $DB: One Vault core replica + onevault_tracking"
explain "Dropped and created again, so every run starts from the same clean state."
cluster_psql "$DEMO_DIR" "$DEMO_PORT" -d postgres -c "SET client_min_messages = warning" \
  -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
cluster_psql "$DEMO_DIR" "$DEMO_PORT" -d postgres -c "CREATE DATABASE $DB"
demo_psql -1 -f "$REPO/sql/onevault_core_replica.sql"
demo_psql -c "CREATE EXTENSION onevault_tracking"
demo_psql -c "SELECT extname AS extension, extversion AS version FROM pg_extension ORDER BY extname"
explain "What the extension needs from the platform, and whether util.log_audit_event really works"
explain "(the probe writes an audit record and rolls it back):"
demo_psql -c "SELECT component, kind, status,
                      CASE WHEN length(detail) > 70 THEN left(detail, 67) || '...' ELSE detail END AS detail
                 FROM onevault_tracking.integration_status()"

# ---------------------------------------------------------------------------------------------
heading "5/7 Tenants and sample events"
explain "The platform creates tenants; here two are inserted directly. Other Corp is a year older,"
explain "which matters: util.log_audit_event files records whose tenant it cannot tell on the OLDEST"
explain "tenant, so audit rows landing on Other Corp would be a bug."
demo_psql -v demo_tenant="$DEMO_TENANT" -v other_tenant="$OTHER_TENANT" <<'SQL'
INSERT INTO auth.tenant_h (tenant_hk, tenant_bk, load_date, record_source)
VALUES (util.hash_binary(:'demo_tenant'), :'demo_tenant', '2026-01-01 00:00:00+00', 'demo'),
       (util.hash_binary(:'other_tenant'), :'other_tenant', '2025-01-01 00:00:00+00', 'demo');
SELECT tenant_bk, load_date, encode(tenant_hk, 'hex') AS tenant_hk FROM auth.tenant_h ORDER BY load_date;
SQL

# The sample data lives in its own schema "demo" (not part of the extension): 300 visitors with
# a device, an address and a locale; the events they send; and the three batches.
demo_psql -v seed="$SEED" -v single_events="$SINGLE_EVENTS" <<'SQL'
CREATE SCHEMA demo;
COMMENT ON SCHEMA demo IS 'Sample data of scripts/demo.sh; not part of onevault_tracking';

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

CREATE TABLE demo.devices (device integer PRIMARY KEY, kind text, weight float8, user_agent text);
INSERT INTO demo.devices VALUES
 (1, 'desktop', 34, 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'),
 (2, 'mobile',  20, 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.2 Mobile/15E148 Safari/604.1'),
 (3, 'mobile',  12, 'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36'),
 (4, 'desktop', 10, 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.2 Safari/605.1.15'),
 (5, 'desktop',  9, 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0'),
 (6, 'desktop',  5, 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0'),
 (7, 'desktop',  5, 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0'),
 (8, 'mobile',   2, 'Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/27.0 Chrome/125.0.0.0 Mobile Safari/537.36'),
 (9, 'bot',      2, 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)'),
 (10, 'bot',     1, 'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)');

CREATE TABLE demo.locales (locale integer PRIMARY KEY, weight float8, language text, timezone text);
INSERT INTO demo.locales VALUES
 (1, 25, 'en-US', 'America/New_York'), (2, 15, 'en-US', 'America/Los_Angeles'),
 (3, 15, 'en-GB', 'Europe/London'),    (4, 15, 'de-DE', 'Europe/Berlin'),
 (5, 10, 'fr-FR', 'Europe/Paris'),     (6, 6, 'es-ES', 'Europe/Madrid'),
 (7, 6, 'nl-NL', 'Europe/Amsterdam'),  (8, 4, 'ja-JP', 'Asia/Tokyo'),
 (9, 4, 'pt-BR', 'America/Sao_Paulo');

CREATE TABLE demo.pages (page integer PRIMARY KEY, weight float8, path text, title text);
INSERT INTO demo.pages VALUES
 (1, 30, '/', 'Example | Privacy-first analytics'),
 (2, 15, '/pricing', 'Pricing | Example'),
 (3, 12, '/features', 'Features | Example'),
 (4, 10, '/blog/data-vault-2-0-explained', 'Data Vault 2.0, explained | Example Blog'),
 (5, 8, '/blog/privacy-first-analytics', 'Analytics without cookies | Example Blog'),
 (6, 10, '/docs/getting-started', 'Getting started | Example Docs'),
 (7, 6, '/signup', 'Create your account | Example'),
 (8, 4, '/contact', 'Contact us | Example'),
 (9, 3, '/about', 'About us | Example'),
 (10, 2, '/careers', 'Careers | Example');

-- The same seed gives the same visitors and events (timestamps end at the current minute).
SELECT setseed((:seed % 2147483647)::float8 / 2147483647) \g /dev/null

-- Visitors. Addresses come from documentation and private ranges (and the crawlers' own);
-- visitors 1 to 3 have the addresses the report uses to show anonymisation.
CREATE TABLE demo.visitors AS
WITH draws AS MATERIALIZED (
    SELECT v, random() AS r_device, random() AS r_family, random() AS r_a, random() AS r_b,
           random() AS r_c, random() AS r_locale, random() AS r_screen
      FROM generate_series(1, 300) AS v
)
SELECT d.v AS visitor, dev.kind, dev.user_agent,
       CASE WHEN d.v = 1 THEN inet '192.168.1.100'
            WHEN d.v = 2 THEN inet '2001:db8:85a3:8d3:1319:8a2e:370:7348'
            WHEN d.v = 3 THEN inet '::ffff:203.0.113.77'
            WHEN dev.device = 9 THEN ('66.249.66.' || 1 + floor(d.r_a * 254)::int)::inet
            WHEN dev.device = 10 THEN ('157.55.39.' || 1 + floor(d.r_a * 254)::int)::inet
            WHEN d.r_family < 0.25 THEN
                format('2001:db8:%s:%s::%s', to_hex(floor(d.r_a * 65536)::int),
                       to_hex(floor(d.r_b * 65536)::int), to_hex(1 + floor(d.r_c * 65535)::int))::inet
            ELSE ((ARRAY['203.0.113.', '198.51.100.', '192.0.2.', '192.168.1.', '10.20.30.'])
                      [1 + floor(d.r_a * 5)::int] || 1 + floor(d.r_b * 254)::int)::inet
       END AS client_ip,
       loc.language, loc.timezone,
       CASE dev.kind
            WHEN 'bot' THEN NULL
            WHEN 'mobile' THEN (ARRAY[375, 390, 393, 412, 414, 430])[1 + floor(d.r_screen * 6)::int]
            ELSE (ARRAY[1280, 1366, 1440, 1536, 1920, 2560])[1 + floor(d.r_screen * 6)::int]
       END AS screen_width
  FROM draws AS d
  JOIN demo.devices AS dev
    ON dev.device = demo.pick((SELECT array_agg(weight ORDER BY device) FROM demo.devices), d.r_device)
  JOIN demo.locales AS loc
    ON loc.locale = demo.pick((SELECT array_agg(weight ORDER BY locale) FROM demo.locales), d.r_locale);

-- Every event a client sends, numbered n in sending order: 1..single_events go one per call,
-- the rest through the batches. Visitors come in waves (about 8 active per 40 events, one
-- event every 1.5 s) and a session is a visitor's half hour. About 3% of the single sends are
-- a browser retrying the previous event (same payload, same event_id) after a network timeout.
CREATE TABLE demo.events AS
WITH draws AS MATERIALIZED (
    SELECT n, random() AS r_visitor, random() AS r_kind, random() AS r_page, random() AS r_url,
           random() AS r_utm, random() AS r_ref, random() AS r_name, random() AS r_prop,
           random() AS r_jitter, random() AS r_retry
      FROM generate_series(1, :single_events + 1500 + 240) AS n
), shaped AS (
    SELECT d.n, v.visitor, v.client_ip, v.user_agent, v.kind, v.screen_width, v.language,
           v.timezone, p.path, p.title, d.r_name, d.r_url, d.r_utm, d.r_ref, d.r_prop, d.r_jitter,
           d.n <= :single_events AND d.n % 2 = 0 AND d.r_retry < 0.06 AS retry,
           date_trunc('minute', now()) - (:single_events + 1740 - d.n) * interval '1.5 seconds'
               - d.r_jitter * interval '1 second' AS sent_at,
           v.kind = 'bot' OR d.r_kind >= 0.2 AS page_view,
           demo.pick(ARRAY[25, 15, 20, 15, 15, 10], d.r_name) AS custom_kind
      FROM draws AS d
      JOIN demo.visitors AS v
        ON v.visitor = CASE WHEN d.n <= 3 THEN d.n
                            ELSE 1 + (((d.n - 1) / 40 * 8 + floor(d.r_visitor * 8)::int) * 37) % 300 END
      JOIN demo.pages AS p
        ON p.page = demo.pick((SELECT array_agg(weight ORDER BY page) FROM demo.pages), d.r_page)
), payloads AS (
    SELECT s.n, s.visitor, s.client_ip, s.user_agent, s.retry,
           jsonb_strip_nulls(jsonb_build_object(
               'event_type', CASE WHEN s.page_view THEN 'page_view' ELSE 'custom' END,
               'event_name', CASE WHEN NOT s.page_view THEN
                   (ARRAY['signup_click', 'newsletter_subscribe', 'video_play', 'file_download',
                          'outbound_click', 'form_submit'])[s.custom_kind] END,
               'event_id', 'evt-' || lpad(s.n::text, 5, '0'),
               'timestamp', demo.iso8601(s.sent_at),
               'session_id', 'sess-' || substr(md5(:seed || ':' || s.visitor || ':'
                                               || floor(extract(epoch FROM s.sent_at) / 1800)), 1, 16),
               CASE WHEN s.r_url < 0.7 THEN 'page_url' ELSE 'page_path' END,
               CASE WHEN s.r_url < 0.7 THEN 'https://example.com' || s.path
                        || CASE WHEN s.r_utm < 0.10 THEN '?utm_source=newsletter&utm_medium=email&utm_campaign=spring_launch'
                                WHEN s.r_utm < 0.16 THEN '?utm_source=google&utm_medium=cpc&utm_campaign=brand'
                                WHEN s.r_utm < 0.20 THEN '?utm_source=linkedin&utm_medium=social'
                                WHEN s.r_utm < 0.22 THEN '?ref=producthunt'
                                ELSE '' END
                    ELSE s.path END,
               'page_title', s.title,
               'referrer', CASE WHEN s.kind = 'bot' OR s.r_ref < 0.35 THEN NULL
                                WHEN s.r_ref < 0.60 THEN 'https://www.google.com/'
                                WHEN s.r_ref < 0.68 THEN 'https://duckduckgo.com/'
                                WHEN s.r_ref < 0.74 THEN 'https://www.bing.com/'
                                WHEN s.r_ref < 0.80 THEN 'https://news.ycombinator.com/'
                                WHEN s.r_ref < 0.86 THEN 'https://www.linkedin.com/'
                                ELSE 'https://example.com/' END,
               'screen_width', s.screen_width,
               'language', CASE WHEN s.kind <> 'bot' THEN s.language END,
               'timezone', CASE WHEN s.kind <> 'bot' THEN s.timezone END,
               'properties', CASE
                   WHEN s.page_view THEN jsonb_build_object('logged_in', s.r_prop < 0.12)
                   ELSE CASE s.custom_kind
                       WHEN 1 THEN jsonb_build_object(
                           'button', (ARRAY['hero_cta', 'pricing_table', 'navbar'])[1 + floor(s.r_prop * 3)::int],
                           'plan', (ARRAY['free', 'pro', 'business'])[1 + floor(s.r_jitter * 3)::int])
                       WHEN 2 THEN jsonb_build_object('form', 'footer', 'double_opt_in', true)
                       WHEN 3 THEN jsonb_build_object('video_id', 'product-tour-2026', 'position_s', 0,
                                                      'muted', s.r_prop < 0.5)
                       WHEN 4 THEN jsonb_build_object('file', 'data-vault-2.0-whitepaper.pdf', 'size_kb', 2048)
                       WHEN 5 THEN jsonb_build_object('url', 'https://github.com/example/onevault', 'label', 'GitHub')
                       ELSE jsonb_build_object('form', 'contact', 'fields', 5, 'valid', s.r_prop < 0.9)
                   END
               END)) AS payload
      FROM shaped AS s
)
SELECT n,
       CASE WHEN n <= :single_events THEN 'single' ELSE 'batch' END AS channel,
       retry,
       CASE WHEN retry THEN lag(client_ip) OVER w ELSE client_ip END AS client_ip,
       CASE WHEN retry THEN lag(user_agent) OVER w ELSE user_agent END AS user_agent,
       CASE WHEN retry THEN lag(payload) OVER w ELSE payload END AS payload
  FROM payloads
WINDOW w AS (ORDER BY n)
 ORDER BY n;
ALTER TABLE demo.events ADD PRIMARY KEY (n);

-- Three batches, as a server-side collector relays them (one client address and user agent
-- per call): 1000 new events (the most one call takes); then a retry of the last 100 of them
-- with 500 new ones and 2 repeated inside the batch; then 240 new events mixed with 6 bad items.
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
CREATE TABLE demo.timings (step text PRIMARY KEY, events integer, milliseconds integer);

SELECT count(*) FILTER (WHERE channel = 'single') AS single_sends,
       count(*) FILTER (WHERE channel = 'single' AND retry) AS of_which_retries,
       (SELECT count(*) FROM demo.visitors) AS visitors,
       (SELECT sum(jsonb_array_length(events)) FROM demo.batches) AS batch_items
  FROM demo.events;
SQL

explain "A sample single event, as a browser sends it:"
demo_psql -At -c "SELECT jsonb_pretty(payload) FROM demo.events WHERE n = 1"

# ---------------------------------------------------------------------------------------------
heading "6/7 Ingestion"
echo "${BOLD}Single events${RESET}: raw.ingest_tracking_event, one call and one transaction per event,"
echo "as a web collector makes them; $CHUNKS psql sessions of $((SINGLE_EVENTS / CHUNKS)) calls each."
chunk_size=$((SINGLE_EVENTS / CHUNKS))
singles_start=$(now_ns)
for ((chunk = 1; chunk <= CHUNKS; chunk++)); do
  lo=$(((chunk - 1) * chunk_size + 1))
  hi=$((chunk == CHUNKS ? SINGLE_EVENTS : chunk * chunk_size))
  # Each generated statement runs on its own (autocommit): one transaction per event.
  demo_psql -o /dev/null -v tenant_bk="$DEMO_TENANT" -v lo="$lo" -v hi="$hi" <<'SQL'
SELECT format('SELECT raw.ingest_tracking_event(%L::bytea, NULL, %L::inet, %L, %L::jsonb)',
              util.hash_binary(:'tenant_bk'), client_ip, user_agent, payload)
  FROM demo.events
 WHERE channel = 'single' AND n BETWEEN :lo AND :hi
 ORDER BY n
\gexec
SQL
  elapsed_ms=$(ms_between "$singles_start" "$(now_ns)")
  filled=$((hi * 30 / SINGLE_EVENTS))
  bar=$(printf '%*s' "$filled" '' | tr ' ' '#')$(printf '%*s' $((30 - filled)) '' | tr ' ' '.')
  line=$(printf '  [%s] %3d%%  %5d/%d events  %6s events/s' "$bar" $((hi * 100 / SINGLE_EVENTS)) \
    "$hi" "$SINGLE_EVENTS" "$(per_second "$hi" "$elapsed_ms")")
  if [ -t 1 ]; then printf '\r%s' "$line"; else printf '%s\n' "$line"; fi
done
[ -t 1 ] && echo
singles_ms=$(ms_between "$singles_start" "$(now_ns)")
demo_psql -c "INSERT INTO demo.timings VALUES ('single', $SINGLE_EVENTS, $singles_ms)"

echo
echo "${BOLD}Batches${RESET}: raw.batch_ingest_tracking_events, one call per batch; every item gets its own"
echo "answer (accepted, duplicate or rejected), and the valid items land even when others are bad."
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
heading "7/7 Report"
demo_psql -v demo_tenant="$DEMO_TENANT" -v other_tenant="$OTHER_TENANT" <<'SQL'
\pset footer off
\pset null '-'
\echo
\echo 'raw.get_ingestion_stats(): per tenant, the last 24 hours (nothing is processed yet: staging comes next)'
\x on
SELECT t.tenant_bk AS tenant, s.total_events, s.pending_events, s.processed_events,
       s.quarantined_events, s.failed_events, s.error_rate,
       date_trunc('second', s.oldest_pending_age) AS oldest_pending_age,
       date_trunc('second', s.first_received_at) AS first_received_at,
       date_trunc('second', s.last_received_at) AS last_received_at
  FROM raw.get_ingestion_stats() AS s
  JOIN auth.tenant_h AS t USING (tenant_hk);
\x off

\echo
\echo 'What was sent and what raw.site_tracking_events_r holds (a repeated event_id is stored once)'
WITH single AS (
    SELECT count(*) AS sent FROM demo.events WHERE channel = 'single'
), batch AS (
    SELECT sum((result ->> 'size')::int) AS sent, sum((result ->> 'rejected')::int) AS rejected
      FROM demo.batch_results
), stored AS (
    SELECT count(*) FILTER (WHERE batch_id IS NULL) AS single,
           count(*) FILTER (WHERE batch_id IS NOT NULL) AS batch
      FROM raw.site_tracking_events_r
)
SELECT 'single calls' AS channel, single.sent, stored.single AS stored,
       single.sent - stored.single AS duplicates_avoided, 0 AS rejected
  FROM single, stored
UNION ALL
SELECT 'batches', batch.sent, stored.batch, batch.sent - batch.rejected - stored.batch, batch.rejected
  FROM batch, stored
UNION ALL
SELECT 'total', single.sent + batch.sent, stored.single + stored.batch,
       single.sent - stored.single + batch.sent - batch.rejected - stored.batch, batch.rejected
  FROM single, batch, stored;

\echo
\echo 'The stored events, by kind (payloads are kept exactly as received; validation is staging''s job)'
SELECT raw_payload ->> 'event_type' AS event_type,
       coalesce(raw_payload ->> 'event_name', '') AS event_name,
       count(*) AS events,
       count(DISTINCT raw_payload ->> 'session_id') AS sessions
  FROM raw.site_tracking_events_r
 GROUP BY 1, 2
 ORDER BY 3 DESC;

\echo
\echo 'Batch summaries (the function''s JSON answer, without the per-item results)'
SELECT r.batch_no AS batch, b.story,
       (r.result ->> 'size')::int AS size, (r.result ->> 'accepted')::int AS accepted,
       (r.result ->> 'duplicates')::int AS duplicates, (r.result ->> 'rejected')::int AS rejected,
       r.result ->> 'first_raw_event_id' AS first_raw_id, r.result ->> 'last_raw_event_id' AS last_raw_id,
       r.milliseconds AS ms
  FROM demo.batch_results AS r JOIN demo.batches AS b USING (batch_no)
 ORDER BY r.batch_no;

\echo
\echo 'Rejected batch items: the error code is stable, the message is for people'
SELECT r.batch_no AS batch, (item ->> 'index')::int AS index, item ->> 'error_code' AS error_code,
       item ->> 'error' AS error
  FROM demo.batch_results AS r, jsonb_array_elements(r.result -> 'results') AS item
 WHERE item ->> 'status' = 'rejected'
 ORDER BY 1, 2;

\echo
\echo 'Client addresses: what was sent and what was stored (IPv4 keeps its /24, IPv6 its /48)'
SELECT DISTINCT ON (family(e.client_ip), host(e.client_ip) LIKE '::ffff:%', e.n <= 3 OR e.client_ip = ANY (showcase))
       CASE WHEN host(e.client_ip) LIKE '::ffff:%' THEN 'IPv4-mapped IPv6'
            ELSE 'IPv' || family(e.client_ip) END AS kind,
       host(e.client_ip) AS sent, host(r.client_ip) AS stored
  FROM demo.events AS e
  JOIN raw.site_tracking_events_r AS r ON r.client_event_id = e.payload ->> 'event_id',
       (SELECT array_agg(client_ip) AS showcase FROM demo.events WHERE n <= 3) AS s
 WHERE e.channel = 'single' AND NOT e.retry
 ORDER BY family(e.client_ip), host(e.client_ip) LIKE '::ffff:%',
          e.n <= 3 OR e.client_ip = ANY (showcase) DESC, e.n;

\echo
\echo 'Audit records per tenant (util.log_audit_event): one per stored single event, one per batch'
SELECT t.tenant_bk AS tenant, t.load_date::date AS tenant_since,
       count(d.*) FILTER (WHERE d.operation = 'TRACKING_EVENT_RECEIVED') AS tracking_event_received,
       count(d.*) FILTER (WHERE d.operation = 'TRACKING_BATCH_RECEIVED') AS tracking_batch_received,
       count(a.*) AS all_audit_records
  FROM auth.tenant_h AS t
  LEFT JOIN audit.audit_event_h AS a ON a.tenant_hk = t.tenant_hk
  LEFT JOIN audit.audit_detail_s AS d ON d.audit_event_hk = a.audit_event_hk
 GROUP BY t.tenant_bk, t.load_date
 ORDER BY t.load_date DESC;

\echo
\echo 'Throughput (wall clock, including psql; single calls commit once per event)'
SELECT step AS ingestion, events, milliseconds AS ms,
       CASE WHEN milliseconds > 0 THEN round(events * 1000.0 / milliseconds) END AS events_per_s
  FROM demo.timings ORDER BY step DESC;

-- Checks of what the demo expects; failures are listed and make the script exit 1.
CREATE TABLE demo.checks AS
WITH facts AS (
    SELECT (SELECT count(*) FROM demo.events WHERE channel = 'single' AND NOT retry) AS single_new,
           (SELECT count(*) FROM raw.site_tracking_events_r WHERE batch_id IS NULL) AS single_stored,
           (SELECT count(*) FROM raw.site_tracking_events_r WHERE batch_id IS NOT NULL) AS batch_stored,
           (SELECT count(*) FROM demo.batch_results) AS batches,
           (SELECT count(*) FROM audit.audit_event_h WHERE tenant_hk = util.hash_binary(:'demo_tenant')) AS audit_demo,
           (SELECT count(*) FROM audit.audit_event_h WHERE tenant_hk IS DISTINCT FROM util.hash_binary(:'demo_tenant')) AS audit_elsewhere,
           (SELECT count(*) FROM raw.site_tracking_events_r
             WHERE host(client_ip) <> host(network(set_masklen(client_ip,
                       CASE WHEN family(client_ip) = 4 THEN 24
                            WHEN host(client_ip) LIKE '::ffff:%' THEN 120 ELSE 48 END)))) AS full_ips,
           (SELECT count(*) FROM raw.site_tracking_events_r WHERE tenant_hk <> util.hash_binary(:'demo_tenant')) AS raw_elsewhere
)
SELECT c.* FROM facts CROSS JOIN LATERAL (VALUES
    ('each single event stored once, retries not', single_new, single_stored),
    ('1000 + 500 + 240 batch events stored', 1740, batch_stored),
    ('audit records on Demo Corp = stored single events + batches', single_stored + batches, audit_demo),
    ('audit records on any other tenant', 0, audit_elsewhere),
    ('raw rows on any other tenant', 0, raw_elsewhere),
    ('stored addresses with host bits (not anonymised)', 0, full_ips)
) AS c (check_name, expected, actual);
\echo
\echo 'Checks'
SELECT check_name AS "check", expected, actual,
       CASE WHEN expected = actual THEN 'ok' ELSE 'FAILED' END AS result
  FROM demo.checks;
SQL

failed_checks=$(demo_psql -At -c "SELECT count(*) FROM demo.checks WHERE expected <> actual")
total_s=$(($(ms_between "$STARTED_NS" "$(now_ns)") / 1000))

echo
if [ "$failed_checks" -eq 0 ]; then
  echo "${GREEN}${BOLD}All checks passed.${RESET} The demo took ${total_s} s."
else
  echo "${RED}${BOLD}$failed_checks check(s) FAILED${RESET} (see above). The demo took ${total_s} s."
fi
cat <<EOF

The cluster keeps running. Explore it with:
  psql -h $DEMO_DIR -p $DEMO_PORT -U postgres $DB
for example:
  SELECT raw_event_id, client_ip, raw_payload FROM raw.site_tracking_events_r ORDER BY raw_event_id DESC LIMIT 5;
  SELECT * FROM raw.get_ingestion_stats();
  SELECT * FROM onevault_tracking.integration_status();
(the sample data is in schema demo). Stop it and delete its files with:
  bash scripts/demo.sh --stop
EOF
[ "$failed_checks" -eq 0 ]
