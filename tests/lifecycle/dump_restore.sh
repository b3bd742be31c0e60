#!/usr/bin/env bash
# pg_dump (plain and custom format) of a One Vault database with the extension and tracked data,
# restored into empty databases in the order pg_dump chooses (psql -f / pg_restore): every row
# comes back, grants and row-level security hold, and tracking works right after the restore.
# Usage: dump_restore.sh SOCKET_DIR PORT   (a cluster where the extension is installed)
set -euo pipefail
DIR=$1 PORT=$2
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
source "$REPO/scripts/cluster.sh"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
chmod 755 "$WORK"
PGOPTS=(-h "$DIR" -p "$PORT" -U postgres)

cluster_fresh_db "$DIR" "$PORT" lifecycle_source
cluster_psql "$DIR" "$PORT" -d lifecycle_source -f "$HERE/populate.sql" >/dev/null
cluster_psql "$DIR" "$PORT" -d lifecycle_source -At -f "$HERE/counts.sql" >"$WORK/before"
cluster_psql "$DIR" "$PORT" -d lifecycle_source -At -f "$HERE/catalog.sql" >"$WORK/catalog_before"
"$PG_BIN/pg_dump" "${PGOPTS[@]}" -Fp -f "$WORK/plain.sql" lifecycle_source
"$PG_BIN/pg_dump" "${PGOPTS[@]}" -Fc -f "$WORK/custom.dump" lifecycle_source

status=0
for format in plain custom; do
  db=lifecycle_restored_$format
  cluster_psql "$DIR" "$PORT" -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  if [ $format = plain ]; then
    cluster_psql "$DIR" "$PORT" -d $db -f "$WORK/plain.sql" >"$WORK/restore_$format.log" 2>&1
  else
    "$PG_BIN/pg_restore" "${PGOPTS[@]}" --exit-on-error -d $db "$WORK/custom.dump" >"$WORK/restore_$format.log" 2>&1
  fi || { echo "$format restore failed:"; tail -20 "$WORK/restore_$format.log"; status=1; continue; }
  cluster_psql "$DIR" "$PORT" -d $db -At -f "$HERE/counts.sql" >"$WORK/after_$format"
  cluster_psql "$DIR" "$PORT" -d $db -At -f "$HERE/catalog.sql" >"$WORK/catalog_$format"
  if ! diff -u "$WORK/before" "$WORK/after_$format"; then
    echo "$format: rows differ after the restore"; status=1
  fi
  if ! diff -u "$WORK/catalog_before" "$WORK/catalog_$format"; then
    echo "$format: catalog differs after the restore"; status=1
  fi
  checks=$(cluster_psql "$DIR" "$PORT" -d $db -At -f "$HERE/after_restore.sql")
  expected=$'track PROCESSED new_id_after_old=true\ndrain claimed=2\nreport pageviews=21\nrls all_enabled=true\nintegration not ok: none'
  if [ "$checks" != "$expected" ]; then
    echo "$format: after the restore:"; echo "$checks"; status=1
  fi
  echo "$format: $(grep -c . "$WORK/after_$format") tables and sequences, rows as before: $(diff -q "$WORK/before" "$WORK/after_$format" >/dev/null && echo yes || echo no)"
done
# A database that had the earlier generation (tests/earlier_generation/fixture.sql).
cluster_psql "$DIR" "$PORT" -d postgres -c "DROP DATABASE IF EXISTS lifecycle_earlier" -c "CREATE DATABASE lifecycle_earlier" \
  -c "DROP DATABASE IF EXISTS lifecycle_earlier_restored" -c "CREATE DATABASE lifecycle_earlier_restored"
PGOPTIONS='-c client_min_messages=warning' cluster_psql "$DIR" "$PORT" -d lifecycle_earlier -1 \
  -f "$REPO/tests/fixtures/onevault_core_replica.sql" -f "$REPO/tests/earlier_generation/fixture.sql" \
  -c 'CREATE EXTENSION onevault_tracking' >/dev/null
"$PG_BIN/pg_dump" "${PGOPTS[@]}" -Fc -f "$WORK/earlier.dump" lifecycle_earlier
PGOPTIONS='-c client_min_messages=warning' "$PG_BIN/pg_restore" "${PGOPTS[@]}" --exit-on-error \
  -d lifecycle_earlier_restored "$WORK/earlier.dump" >"$WORK/restore_earlier.log" 2>&1 \
  || { echo "earlier generation restore failed:"; tail -20 "$WORK/restore_earlier.log"; status=1; }
checks=$(PGOPTIONS='-c client_min_messages=warning' cluster_psql "$DIR" "$PORT" -d lifecycle_earlier_restored -At -f "$HERE/earlier_after_restore.sql")
expected=$'legacy rows=7 migrated=7\nstub before=false\nrestored 9 stubs\nstub after=true'
[ "$checks" = "$expected" ] || { echo "earlier generation after the restore:"; echo "$checks"; status=1; }
echo "earlier generation: $(echo "$checks" | tr '\n' ';')"
cat "$WORK/before" | sed 's/^/  /'
exit $status
