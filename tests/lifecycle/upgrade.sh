#!/usr/bin/env bash
# ALTER EXTENSION onevault_tracking UPDATE from 0.1.0 (main before this round, commit cffb16f)
# to the current version: 0.1.0 is built from its commit and installed, tracks events, the
# current build is installed and the extension updated; every row is still there, tracking,
# processing and reports work, and the updated catalog equals a fresh install's.
# Usage: upgrade.sh SOCKET_DIR PORT   (leaves the current build installed)
set -euo pipefail
DIR=$1 PORT=$2
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
source "$REPO/scripts/cluster.sh"
if [ "$ONEVAULT_PG" != 15 ]; then
  echo "upgrade: 0.1.0 was released for PostgreSQL 15 only (it does not build for $ONEVAULT_PG), so no $ONEVAULT_PG cluster can hold it"
  exit $SKIPPED
fi
OLD_COMMIT=cffb16f
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"; (cd "$REPO" && install_extension 2>/dev/null)' EXIT
chmod 755 "$WORK"

# 0.1.0 from its commit, in a target directory of its own (one shared with the current build
# would leave 0.1.0's library where cargo believes the current one is), kept between runs.
git -C "$REPO" archive "$OLD_COMMIT" | tar -x -C "$WORK"
(cd "$WORK" && CARGO_TARGET_DIR="$REPO/target/onevault_tracking-0.1.0" \
   cargo pgrx install --pg-config "$PG_CONFIG" >/dev/null 2>"$WORK/build_0.1.0.log") \
  || { tail -20 "$WORK/build_0.1.0.log"; exit 1; }

cluster_psql "$DIR" "$PORT" -d postgres -c "DROP DATABASE IF EXISTS lifecycle_upgraded" -c "CREATE DATABASE lifecycle_upgraded"
PGOPTIONS='-c client_min_messages=warning' cluster_psql "$DIR" "$PORT" -d lifecycle_upgraded -1 \
  -f "$WORK/sql/onevault_core_replica.sql" -c "CREATE EXTENSION onevault_tracking VERSION '0.1.0'"
cluster_psql "$DIR" "$PORT" -d lifecycle_upgraded -f "$HERE/populate.sql" >/dev/null
cluster_psql "$DIR" "$PORT" -d lifecycle_upgraded -At -f "$HERE/counts.sql" >"$WORK/before"

(cd "$REPO" && install_extension 2>/dev/null)
cluster_psql "$DIR" "$PORT" -d lifecycle_upgraded -c "ALTER EXTENSION onevault_tracking UPDATE"
cluster_psql "$DIR" "$PORT" -d lifecycle_upgraded -At -f "$HERE/counts.sql" >"$WORK/after"
cluster_psql "$DIR" "$PORT" -d lifecycle_upgraded -At -f "$HERE/catalog.sql" >"$WORK/catalog_upgraded"
cluster_fresh_db "$DIR" "$PORT" lifecycle_fresh
cluster_psql "$DIR" "$PORT" -d lifecycle_fresh -At -f "$HERE/catalog.sql" >"$WORK/catalog_fresh"

status=0
# Every table of 0.1.0 keeps its rows; the tables new in 0.2.0 are only in the after-list, and
# the update built the rollups of the stored events.
awk 'NR == FNR { old[$1]; next } $1 in old' "$WORK/before" "$WORK/after" >"$WORK/after_old_tables"
diff -u "$WORK/before" "$WORK/after_old_tables" || { echo "rows differ after the update"; status=1; }
grep -q '^business.site_traffic_rollup rows=[1-9]' "$WORK/after" || { echo "the update built no rollups"; status=1; }
diff -u "$WORK/catalog_fresh" "$WORK/catalog_upgraded" || { echo "the updated catalog differs from a fresh install"; status=1; }
checks=$(cluster_psql "$DIR" "$PORT" -d lifecycle_upgraded -At -f "$HERE/after_restore.sql")
expected=$'track PROCESSED new_id_after_old=true\ndrain claimed=2\nreport pageviews=21\nrls all_enabled=true\nintegration not ok: none'
[ "$checks" = "$expected" ] || { echo "after the update:"; echo "$checks"; status=1; }
echo "updated 0.1.0 -> $(cluster_psql "$DIR" "$PORT" -d lifecycle_upgraded -At -c "SELECT extversion FROM pg_extension WHERE extname = 'onevault_tracking'"); $(grep -c . "$WORK/catalog_fresh") catalog lines compared"
sed 's/^/  /' "$WORK/before"
exit $status
