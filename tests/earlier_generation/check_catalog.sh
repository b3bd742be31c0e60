#!/usr/bin/env bash
# tests/earlier_generation/check_catalog.sh DIR PORT
#
# Builds a fresh database on a running cluster (socket directory DIR, port PORT,
# superuser postgres, trust auth), loads the One Vault core replica and then
# fixture.sql, runs catalog.sql and compares the output with catalog_2025-07-09.tsv
# (the catalog of the earlier generation as read from the platform dump).
# Exit 0 when identical; otherwise print the diff and exit 1. The database is dropped
# at the end (KEEP_DB=1 keeps it).
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 SOCKET_DIR PORT" >&2
    exit 2
fi
DIR=$1
PORT=$2
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BIN=/usr/lib/postgresql/15/bin
CONN=(-h "$DIR" -p "$PORT" -U postgres)
PSQL=("$BIN/psql" "${CONN[@]}" -X -q -v ON_ERROR_STOP=1)
DB="earlier_gen_check_$$"
OUT=$(mktemp)

cleanup() {
    rm -f "$OUT"
    if [ "${KEEP_DB:-0}" != 1 ]; then
        "$BIN/dropdb" "${CONN[@]}" --if-exists "$DB" >/dev/null 2>&1 || true
    else
        echo "kept database $DB" >&2
    fi
}
trap cleanup EXIT

"$BIN/createdb" "${CONN[@]}" "$DB"
"${PSQL[@]}" -d "$DB" -1 -f "$REPO/tests/fixtures/onevault_core_replica.sql" >/dev/null
# (client_min_messages: hide the NOTICE of the fixture's own event trigger)
PGOPTIONS="-c client_min_messages=warning" "${PSQL[@]}" -d "$DB" -1 -f "$HERE/fixture.sql" >/dev/null
"${PSQL[@]}" -d "$DB" -At -f "$HERE/catalog.sql" >"$OUT"

if diff -u "$HERE/catalog_2025-07-09.tsv" "$OUT"; then
    echo "earlier-generation catalog: OK ($(wc -l <"$OUT") lines)"
    exit 0
fi
echo "earlier-generation catalog: MISMATCH (--- dump, +++ fixture)" >&2
exit 1
