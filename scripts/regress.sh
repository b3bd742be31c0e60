#!/usr/bin/env bash
# SQL contract tests (pg_regress, tests/pg_regress/{sql,expected}) and concurrency tests
# (isolation tester, tests/isolation/{specs,expected}; tests/concurrency/*.sh) against a
# private cluster of the PostgreSQL version ONEVAULT_PG names (15 by default, or 17).
# Expects the extension to be installed (scripts/test.sh does that). Pass --accept to copy the
# results over the expected files after reviewing a deliberate change.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$REPO/scripts/cluster.sh"

DIR=${ONEVAULT_REGRESS_DIR:-/tmp/onevault_tracking_regress_pg$ONEVAULT_PG}
PORT=${ONEVAULT_REGRESS_PORT:-554$ONEVAULT_PG}
OUT=$DIR/results

cluster_start "$DIR" "$PORT"
trap 'cluster_stop "$DIR"' EXIT
rm -rf "$OUT" && mkdir -p "$OUT"

PGXS_TEST=$PG_REGRESS_DIR
COMMON=(--bindir="$PG_BIN" --host="$DIR" --port="$PORT" --user=postgres)

status=0
"$PGXS_TEST/regress/pg_regress" "${COMMON[@]}" \
  --inputdir="$REPO/tests/pg_regress" --outputdir="$OUT/regress" \
  --dbname=onevault_regress --schedule="$REPO/tests/pg_regress/schedule" || status=$?

# The isolation specs need the core and the extension in their database beforehand.
cluster_fresh_db "$DIR" "$PORT" onevault_isolation
"$PGXS_TEST/isolation/pg_isolation_regress" "${COMMON[@]}" --use-existing \
  --inputdir="$REPO/tests/isolation" --outputdir="$OUT/isolation" \
  --dbname=onevault_isolation --schedule="$REPO/tests/isolation/schedule" || status=$?

# The earlier-generation fixture against the catalog read from the platform dump, then more concurrent sessions than the isolation tester can order deterministically, then the
# reliability suites (crash recovery restarts the cluster itself; the soak is time-bounded).
for stress in "$REPO"/tests/earlier_generation/*.sh "$REPO"/tests/lifecycle/*.sh "$REPO"/tests/concurrency/*.sh "$REPO"/tests/reliability/*.sh; do
  name=$(basename "$stress" .sh)
  outcome=0
  bash "$stress" "$DIR" "$PORT" || outcome=$?
  case $outcome in
    0) printf 'test %-28s ... ok\n' "$name" ;;
    "$SKIPPED") printf 'skip %-28s ... not on PostgreSQL %s (see above)\n' "$name" "$ONEVAULT_PG" ;;
    *) printf 'test %-28s ... FAILED\n' "$name"; status=1 ;;
  esac
done

if [ "${1:-}" = --accept ]; then
  cp "$OUT"/regress/results/*.out "$REPO/tests/pg_regress/expected/"
  cp "$OUT"/isolation/results/*.out "$REPO/tests/isolation/expected/"
  echo "expected outputs updated from $OUT"
elif [ $status -ne 0 ]; then
  cat "$OUT"/*/regression.diffs 2>/dev/null || true
fi
exit $status
