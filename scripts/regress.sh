#!/usr/bin/env bash
# SQL contract tests (pg_regress, tests/pg_regress/{sql,expected}) against a private cluster.
# Expects the extension to be installed (scripts/test.sh does that). Pass --accept to copy the
# results over the expected files after reviewing a deliberate change.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$REPO/scripts/cluster.sh"

DIR=${ONEVAULT_REGRESS_DIR:-/tmp/onevault_tracking_regress}
PORT=${ONEVAULT_REGRESS_PORT:-55433}
OUT=$DIR/results

cluster_start "$DIR" "$PORT"
trap 'cluster_stop "$DIR"' EXIT
rm -rf "$OUT" && mkdir -p "$OUT"

status=0
"$($PG_CONFIG --pkglibdir)/pgxs/src/test/regress/pg_regress" \
  --bindir="$PG_BIN" --host="$DIR" --port="$PORT" --user=postgres \
  --inputdir="$REPO/tests/pg_regress" --outputdir="$OUT" \
  --dbname=onevault_regress --schedule="$REPO/tests/pg_regress/schedule" || status=$?

if [ "${1:-}" = --accept ]; then
  cp "$OUT"/results/*.out "$REPO/tests/pg_regress/expected/"
  echo "expected outputs updated from $OUT/results"
elif [ $status -ne 0 ] && [ -f "$OUT/regression.diffs" ]; then
  cat "$OUT/regression.diffs"
fi
exit $status
