#!/usr/bin/env bash
# Runs every test and check, from a fresh Debian machine (as root) or a warm one:
#   formatting, clippy (warnings denied), the pure core's unit and property tests,
#   the #[pg_test]s inside a real PostgreSQL, and the pg_regress SQL contract tests.
# Ends with one line "onevault_tracking: N passed, N failed".
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
export PATH="$HOME/.cargo/bin:$PATH"
source scripts/cluster.sh

LOGS=$(mktemp -d /tmp/onevault_tracking_test_logs.XXXXXX)
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "prerequisites"
bash scripts/prereqs.sh

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (warnings denied)"
cargo clippy --workspace --all-targets --features pg_test -- -D warnings

step "pure core: unit and property tests"
cargo test -p onevault_tracking_core 2>&1 | tee "$LOGS/core.log"

step "fuzzing the pure core for a bounded time"
bash scripts/fuzz.sh "${ONEVAULT_FUZZ_SECONDS:-60}" 2>&1 | tee "$LOGS/fuzz.log"

step "#[pg_test]s in PostgreSQL 15 (run as the postgres user)"
PGRX_PGDATA=${ONEVAULT_PGRX_PGDATA:-/tmp/onevault_tracking_pgrx}
mkdir -p "$PGRX_PGDATA" && chown postgres:postgres "$PGRX_PGDATA"
cargo pgrx test pg15 --runas postgres --pgdata "$PGRX_PGDATA" 2>&1 | tee "$LOGS/pg_test.log"

step "SQL contract tests (pg_regress) against a private cluster"
# `cargo pgrx test` installed a test build (it embeds the core replica); put the real one back.
install_extension
bash scripts/regress.sh 2>&1 | tee "$LOGS/regress.log"

passed=0 failed=0
while read -r p f; do
  passed=$((passed + p)) failed=$((failed + f))
done < <(grep -hE '^test result: ' "$LOGS/core.log" "$LOGS/fuzz.log" "$LOGS/pg_test.log" \
           | sed -E 's/.* ([0-9]+) passed; ([0-9]+) failed.*/\1 \2/')
regress_total=$(grep -cE '^(ok|not ok|test) ' "$LOGS/regress.log" || true)
regress_failed=$(grep -cE '^(not ok|test .*FAILED)' "$LOGS/regress.log" || true)
passed=$((passed + regress_total - regress_failed)) failed=$((failed + regress_failed))
rm -rf "$LOGS"
echo
echo "onevault_tracking: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
