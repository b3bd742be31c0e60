#!/usr/bin/env bash
# Crash recovery: the postmaster and every backend are killed with SIGKILL (a power cut, as far
# as the database can tell) while events are being loaded and processed, then the cluster is
# restarted and recovers from its WAL.
#   1. During a batch load (raw.batch_ingest_tracking_events, one batch per transaction, a
#      client recording each batch once its COMMIT returned) with a drainer and a vault loader
#      running: every committed batch is there exactly once, no batch is there in part, no layer
#      is half-written, a client retry of the batch in flight is idempotent, and afterwards the
#      pending events are processed: raw = staged VALID + INVALID (quarantined), vault = VALID.
#   2. During processing drains (two staging.process_pending_events sessions and one
#      business.load_staged_events session on a backlog): what was staged before the crash is
#      kept as it was (no event processed twice), nothing is lost, and the rest is processed.
# Usage: crash_recovery.sh SOCKET_DIR PORT   (restarts the cluster itself and leaves it running)
set -euo pipefail
DIR=$1 PORT=$2
BATCH=${ONEVAULT_CRASH_BATCH:-50}        # events per batch; every 10th is invalid
BATCHES=${ONEVAULT_CRASH_BATCHES:-1000}  # most batches the loader would send before the crash
BACKLOG=${ONEVAULT_CRASH_BACKLOG:-4000}  # pending events when the drains are killed
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$REPO/scripts/cluster.sh"
DB=onevault_crash
UA='Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0'
started=$SECONDS

q() { cluster_psql "$DIR" "$PORT" -d $DB -At "$@"; }
fail() {
  echo "crash recovery: FAILED: $*"
  tail -n 5 "$work"/*.err 2>/dev/null || true
  exit 1
}

work=$(mktemp -d)
clients=()
stop_clients() {
  local pid
  for pid in "${clients[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${clients[@]}"; do wait "$pid" 2>/dev/null || true; done
  clients=()
}
trap 'stop_clients; rm -rf "$work"' EXIT

# Waits (at most $2 seconds) until the query $1 answers t.
wait_for() { cluster_wait_for "$DIR" "$PORT" $DB "$2" "$1"; }

# A psql session running the script $1 in the background, output in $2.out and $2.err.
client() {
  cluster_psql "$DIR" "$PORT" -d $DB -At -f "$1" >"$2.out" 2>"$2.err" &
  clients+=($!)
}

# Every layer agrees for tenant $1: nothing half-written (run right after the restart).
consistency() {
  q -F ' ' -c "
    SELECT (SELECT count(*) FROM raw.site_tracking_events_r r
             WHERE r.tenant_hk = t AND r.processing_status = 'PROCESSED'
               AND NOT EXISTS (SELECT 1 FROM staging.site_tracking_events_s s WHERE s.raw_event_id = r.raw_event_id)),
           (SELECT count(*) FROM raw.site_tracking_events_r r
             WHERE r.tenant_hk = t AND r.processing_status <> 'PROCESSED'
               AND EXISTS (SELECT 1 FROM staging.site_tracking_events_s s WHERE s.raw_event_id = r.raw_event_id)),
           (SELECT count(*) FROM raw.site_tracking_events_r WHERE tenant_hk = t AND processing_status IN ('ERROR', 'FAILED')),
           (SELECT count(*) FROM staging.site_tracking_events_s s
             WHERE s.tenant_hk = t AND s.loaded_to_vault
               AND NOT EXISTS (SELECT 1 FROM business.tracking_event_l l
                                WHERE l.tenant_hk = t AND l.tracking_event_bk = s.raw_event_id::text)),
           (SELECT count(*) FROM business.tracking_event_l l
             WHERE l.tenant_hk = t
               AND NOT EXISTS (SELECT 1 FROM staging.site_tracking_events_s s
                                WHERE s.raw_event_id::text = l.tracking_event_bk AND s.loaded_to_vault
                                  AND s.validation_status = 'VALID')),
           (SELECT count(*) FROM business.tracking_event_l l
             WHERE l.tenant_hk = t
               AND (SELECT count(*) FROM business.tracking_event_details_s d
                     WHERE d.tracking_event_hk = l.tracking_event_hk) <> 1)
      FROM util.hash_binary('$1') AS t"
}

# Drains and loads everything that is left, in one session.
finish_processing() {
  q -c "DO \$\$
        BEGIN
          WHILE (staging.process_pending_events(1000) ->> 'claimed')::int > 0 LOOP END LOOP;
          WHILE (business.load_staged_events(1000) ->> 'loaded')::int > 0 LOOP END LOOP;
        END \$\$"
}

# Final counts for tenant $1: raw, PROCESSED, VALID, INVALID, vault events, distinct vault
# events, staged rows per raw row above one, retried rows.
final_counts() {
  q -F ' ' -c "
    SELECT (SELECT count(*) FROM raw.site_tracking_events_r WHERE tenant_hk = t),
           (SELECT count(*) FROM raw.site_tracking_events_r WHERE tenant_hk = t AND processing_status = 'PROCESSED'),
           (SELECT count(*) FROM staging.site_tracking_events_s WHERE tenant_hk = t AND validation_status = 'VALID'),
           (SELECT count(*) FROM staging.site_tracking_events_s WHERE tenant_hk = t AND validation_status = 'INVALID'),
           (SELECT count(*) FROM business.tracking_event_l WHERE tenant_hk = t),
           (SELECT count(DISTINCT tracking_event_bk) FROM business.tracking_event_l WHERE tenant_hk = t),
           (SELECT count(*) - count(DISTINCT raw_event_id) FROM staging.site_tracking_events_s WHERE tenant_hk = t),
           (SELECT count(*) FROM raw.site_tracking_events_r WHERE tenant_hk = t AND retry_count > 0)
      FROM util.hash_binary('$1') AS t"
}

cluster_start "$DIR" "$PORT"
cluster_fresh_db "$DIR" "$PORT" $DB
log_offset=$(stat -c %s "$DIR/postgres.log")
q -c "INSERT INTO auth.tenant_h (tenant_hk, tenant_bk, record_source) VALUES
        (util.hash_binary('Crash Load Corp'), 'Crash Load Corp', 'crash'),
        (util.hash_binary('Crash Drain Corp'), 'Crash Drain Corp', 'crash')" \
  -c "CREATE TABLE public.crash_committed (batch int PRIMARY KEY)" \
  -c "CREATE FUNCTION public.crash_batch(prefix text, b int, size int) RETURNS jsonb LANGUAGE sql AS \$\$
        SELECT jsonb_agg(jsonb_build_object(
                 'event_type', 'page_view', 'page_url', 'https://crash.example/page-' || (i % 25),
                 'page_title', 'Page ' || (i % 25),
                 'session_id', CASE WHEN i % 10 = 0 THEN 'not a valid id!' ELSE prefix || b || '-' || (i % 5) END,
                 'event_id', prefix || b || '-' || i) ORDER BY i)
          FROM generate_series(1, size) AS i \$\$" >/dev/null

# Scenario 1: kill during a batch load ---------------------------------------------------------
{
  echo '\set ON_ERROR_STOP 1'
  for b in $(seq 1 "$BATCHES"); do
    printf "BEGIN;\nSELECT raw.batch_ingest_tracking_events(util.hash_binary('Crash Load Corp'), NULL, '203.0.113.%d', '%s', public.crash_batch('b', %d, %d)) ->> 'accepted';\nCOMMIT;\n\\\\echo committed %d\nSELECT pg_sleep(0.03);\n" \
      $((b % 250 + 1)) "$UA" "$b" "$BATCH" "$b"
  done
} >"$work/load.sql"
{
  echo '\set ON_ERROR_STOP 1'
  for _ in $(seq 1 3000); do
    echo "SELECT staging.process_pending_events(50) ->> 'claimed';"
    echo "SELECT business.load_staged_events(50) ->> 'loaded', pg_sleep(0.02);"
  done
} >"$work/drain.sql"

client "$work/load.sql" "$work/load"
client "$work/drain.sql" "$work/drain1"
# Crash once some batches are committed and some events processed and loaded, well before the
# loader is done.
wait_for "SELECT (SELECT count(*) >= $((BATCH * 10)) FROM raw.site_tracking_events_r)
             AND (SELECT count(*) >= 50 FROM business.tracking_event_l)" 40 \
  || fail "the load and the drain did not get going within 40 s"
cluster_crash "$DIR"
for pid in "${clients[@]}"; do wait "$pid" 2>/dev/null || true; done
clients=()
cluster_start "$DIR" "$PORT" 2>"$work/restart.log" || fail "the cluster did not restart after the crash"

grep -o '^committed [0-9]*' "$work/load.out" | cut -d' ' -f2 >"$work/committed"
committed=$(wc -l <"$work/committed")
last=$(tail -1 "$work/committed")
[ "$committed" -gt 0 ] && [ "$last" -lt "$BATCHES" ] || fail "the crash did not hit the load (committed=$committed)"
# Whatever the clients saw before the crash other than the lost connection is an error.
client_errors=$(cat "$work"/*.err | grep -v -e 'server closed the connection' -e 'connection to server was lost' \
  -e 'terminated abnormally' -e '^$' -e 'before or while processing' -e 'connection to server on socket' \
  -e 'Is the server running' -e 'No such file or directory' -e 'could not send data to server' -e 'no connection to the server' \
  -e 'unexpected postmaster exit' | sort | uniq -c || true)

q -c "INSERT INTO public.crash_committed SELECT unnest('{$(paste -sd, "$work/committed")}'::int[])"
read -r missing partial unrecorded duplicates <<<"$(q -F ' ' -c "
  WITH present AS (
    SELECT split_part(substr(client_event_id, 2), '-', 1)::int AS batch, count(*) AS events
      FROM raw.site_tracking_events_r WHERE tenant_hk = util.hash_binary('Crash Load Corp') GROUP BY 1)
  SELECT (SELECT count(*) FROM public.crash_committed c LEFT JOIN present p USING (batch)
           WHERE coalesce(p.events, 0) <> $BATCH),
         (SELECT count(*) FROM present WHERE events <> $BATCH),
         (SELECT count(*) FROM present p WHERE NOT EXISTS (SELECT 1 FROM public.crash_committed c WHERE c.batch = p.batch)),
         (SELECT count(*) - count(DISTINCT client_event_id) FROM raw.site_tracking_events_r
           WHERE tenant_hk = util.hash_binary('Crash Load Corp'))")"
read -r c1 c2 c3 c4 c5 c6 <<<"$(consistency 'Crash Load Corp')"
before_retry=$(q -c "SELECT count(*) FROM raw.site_tracking_events_r WHERE processing_status <> 'PROCESSED'
                       AND tenant_hk = util.hash_binary('Crash Load Corp')")
# The client retries the batch it was sending (it does not know whether it committed): the
# events already stored are answered as duplicates, the others land; nothing twice.
retried=$((last + 1))
retry=$(q -F ' ' -c "SELECT a ->> 'accepted', a ->> 'duplicates' FROM raw.batch_ingest_tracking_events(
          util.hash_binary('Crash Load Corp'), NULL, '203.0.113.1', '$UA', public.crash_batch('b', $retried, $BATCH)) AS a")
retry_present=$(q -c "SELECT count(*) FROM raw.site_tracking_events_r
                       WHERE tenant_hk = util.hash_binary('Crash Load Corp') AND client_event_id LIKE 'b$retried-%'")
finish_processing
read -r raw processed valid invalid vault vault_distinct staged_twice retried_rows <<<"$(final_counts 'Crash Load Corp')"
batches_present=$(q -c "SELECT count(DISTINCT split_part(client_event_id, '-', 1)) FROM raw.site_tracking_events_r
                         WHERE tenant_hk = util.hash_binary('Crash Load Corp')")

echo "crash during load: committed=$committed (last $last) missing=$missing partial=$partial unrecorded=$unrecorded duplicates=$duplicates" \
     "half_written=[$c1 $c2 $c3 $c4 $c5 $c6] pending_after_restart=$before_retry retry(accepted duplicates)=[$retry] retried_batch_events=$retry_present" \
     "then raw=$raw processed=$processed valid=$valid quarantined=$invalid vault=$vault/$vault_distinct staged_twice=$staged_twice"
[ -z "$client_errors" ] || { echo "$client_errors"; fail "a client saw an error before the crash"; }
[ "$missing" -eq 0 ] && [ "$partial" -eq 0 ] && [ "$unrecorded" -le 1 ] && [ "$duplicates" -eq 0 ] \
  || fail "committed batches lost, partial, or more than the one in flight present"
[ "$c1$c2$c3$c4$c5$c6" = 000000 ] || fail "a layer is half-written after the crash"
[ "$before_retry" -gt 0 ] || fail "nothing was left pending: the crash did not interrupt the processing"
[ "$retry_present" -eq "$BATCH" ] || fail "the retried batch is not there exactly once"
[ "$raw" -eq $((batches_present * BATCH)) ] && [ "$processed" -eq "$raw" ] \
  && [ "$((valid + invalid))" -eq "$raw" ] && [ "$invalid" -eq $((batches_present * (BATCH / 10))) ] \
  && [ "$vault" -eq "$valid" ] && [ "$vault_distinct" -eq "$vault" ] && [ "$staged_twice" -eq 0 ] && [ "$retried_rows" -eq 0 ] \
  || fail "after processing, the layers do not add up"

# Scenario 2: kill during processing drains ----------------------------------------------------
for b in $(seq 1 $((BACKLOG / BATCH))); do
  echo "SELECT raw.batch_ingest_tracking_events(util.hash_binary('Crash Drain Corp'), NULL, '198.51.100.$((b % 250 + 1))', '$UA', public.crash_batch('d', $b, $BATCH)) ->> 'accepted';"
done >"$work/backlog.sql"
q -f "$work/backlog.sql" >/dev/null
backlog=$(q -c "SELECT count(*) FROM raw.site_tracking_events_r
                 WHERE tenant_hk = util.hash_binary('Crash Drain Corp') AND processing_status = 'PENDING'")
{
  echo '\set ON_ERROR_STOP 1'
  for _ in $(seq 1 2000); do echo "SELECT staging.process_pending_events(100) ->> 'claimed', pg_sleep(0.02);"; done
} >"$work/drain_only.sql"
{
  echo '\set ON_ERROR_STOP 1'
  for _ in $(seq 1 2000); do echo "SELECT business.load_staged_events(100) ->> 'loaded', pg_sleep(0.02);"; done
} >"$work/load_only.sql"
rm -f "$work"/*.err
client "$work/drain_only.sql" "$work/drain2"
client "$work/drain_only.sql" "$work/drain3"
client "$work/load_only.sql" "$work/vault2"
wait_for "SELECT (SELECT count(*) >= 300 FROM staging.site_tracking_events_s WHERE tenant_hk = util.hash_binary('Crash Drain Corp'))
             AND (SELECT count(*) >= 50 FROM business.tracking_event_l WHERE tenant_hk = util.hash_binary('Crash Drain Corp'))" 40 \
  || fail "the drains did not get going within 40 s"
cluster_crash "$DIR"
for pid in "${clients[@]}"; do wait "$pid" 2>/dev/null || true; done
clients=()
cluster_start "$DIR" "$PORT" 2>"$work/restart.log" || fail "the cluster did not restart after the second crash"
client_errors=$(cat "$work"/*.err | grep -v -e 'server closed the connection' -e 'connection to server was lost' \
  -e 'terminated abnormally' -e '^$' -e 'before or while processing' -e 'connection to server on socket' \
  -e 'Is the server running' -e 'No such file or directory' -e 'could not send data to server' -e 'no connection to the server' \
  -e 'unexpected postmaster exit' | sort | uniq -c || true)

read -r d1 d2 d3 d4 d5 d6 <<<"$(consistency 'Crash Drain Corp')"
q -c "CREATE TABLE public.crash_staged_before AS
        SELECT raw_event_id, staging_event_id, validation_status, session_id, loaded_to_vault
          FROM staging.site_tracking_events_s WHERE tenant_hk = util.hash_binary('Crash Drain Corp')"
read -r staged_before loaded_before <<<"$(q -F ' ' -c "SELECT count(*), count(*) FILTER (WHERE loaded_to_vault) FROM public.crash_staged_before")"
finish_processing
changed=$(q -c "SELECT count(*) FROM public.crash_staged_before b
                  LEFT JOIN staging.site_tracking_events_s s USING (raw_event_id)
                 WHERE s.staging_event_id IS DISTINCT FROM b.staging_event_id
                    OR s.validation_status IS DISTINCT FROM b.validation_status
                    OR s.session_id IS DISTINCT FROM b.session_id")
read -r raw2 processed2 valid2 invalid2 vault2 vault2_distinct staged_twice2 retried2 <<<"$(final_counts 'Crash Drain Corp')"
read -r e1 e2 e3 e4 e5 e6 <<<"$(consistency 'Crash Drain Corp')"
recoveries=$(tail -c +"$((log_offset + 1))" "$DIR/postgres.log" | grep -c 'automatic recovery in progress' || true)
panics=$(tail -c +"$((log_offset + 1))" "$DIR/postgres.log" | grep -c 'PANIC' || true)

echo "crash during drains: backlog=$backlog staged_before_crash=$staged_before loaded_before_crash=$loaded_before" \
     "half_written=[$d1 $d2 $d3 $d4 $d5 $d6] changed_after_restart=$changed" \
     "then raw=$raw2 processed=$processed2 valid=$valid2 quarantined=$invalid2 vault=$vault2/$vault2_distinct staged_twice=$staged_twice2 retried=$retried2" \
     "recoveries=$recoveries panics=$panics ($((SECONDS - started)) s)"
[ -z "$client_errors" ] || { echo "$client_errors"; fail "a drain or load saw an error before the crash"; }
[ "$staged_before" -lt "$backlog" ] && [ "$loaded_before" -gt 0 ] || fail "the drains had finished, or the vault load had not started, before the crash"
[ "$d1$d2$d3$d4$d5$d6" = 000000 ] || fail "a layer is half-written after the crash"
[ "$changed" -eq 0 ] || fail "events staged before the crash were processed again"
[ "$e1$e2$e3$e4$e5$e6" = 000000 ] || fail "the layers disagree after processing"
[ "$raw2" -eq "$backlog" ] && [ "$processed2" -eq "$raw2" ] && [ "$((valid2 + invalid2))" -eq "$raw2" ] \
  && [ "$invalid2" -eq $((backlog / 10)) ] && [ "$vault2" -eq "$valid2" ] && [ "$vault2_distinct" -eq "$vault2" ] \
  && [ "$staged_twice2" -eq 0 ] && [ "$retried2" -eq 0 ] \
  || fail "after processing, the layers do not add up"
[ "$recoveries" -eq 2 ] && [ "$panics" -eq 0 ] || fail "expected two crash recoveries and no PANIC in the server log"
PGOPTIONS='-c client_min_messages=warning' cluster_psql "$DIR" "$PORT" -d postgres -c "DROP DATABASE $DB"
echo "crash recovery: ok"
