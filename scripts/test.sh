#!/usr/bin/env bash
# Runs every test and check, from a fresh Debian machine (as root) or a warm one:
#   formatting, clippy (warnings denied) for PostgreSQL 15 and 17, the pure core's unit and
#   property tests and a bounded fuzz run, then for each PostgreSQL version (15 and 17) the
#   #[pg_test]s inside a real PostgreSQL and the pg_regress, isolation and shell suites.
# ONEVAULT_TEST_PG="15 17" (the default) chooses the versions.
# Ends with one line per version and one line "onevault_tracking: N passed, N failed".
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
export PATH="$HOME/.cargo/bin:$PATH"
VERSIONS=(${ONEVAULT_TEST_PG:-15 17})

LOGS=$(mktemp -d /tmp/onevault_tracking_test_logs.XXXXXX)
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

# cargo_counts LOG...: "passed failed" summed over cargo's "test result:" lines.
cargo_counts() {
  grep -hE '^test result: ' "$@" | sed -E 's/.* ([0-9]+) passed; ([0-9]+) failed.*/\1 \2/' \
    | awk '{ passed += $1; failed += $2 } END { print passed + 0, failed + 0 }'
}
# suite_counts LOG: "passed failed" over pg_regress's, the isolation tester's and the shell
# suites' result lines (skipped suites print "skip ..." and count as neither).
suite_counts() {
  local total bad
  total=$(grep -cE '^(ok|not ok|test) ' "$1" || true)
  bad=$(grep -cE '^(not ok|test .*FAILED)' "$1" || true)
  echo "$((total - bad)) $bad"
}

step "prerequisites (PostgreSQL 15 and 17, cargo-pgrx)"
bash scripts/prereqs.sh

step "cargo fmt --check"
cargo fmt --all --check

for version in "${VERSIONS[@]}"; do
  step "cargo clippy for PostgreSQL $version (warnings denied)"
  cargo clippy --workspace --all-targets --no-default-features --features "pg$version pg_test" -- -D warnings
done

step "pure core: unit and property tests"
cargo test -p onevault_tracking_core 2>&1 | tee "$LOGS/core.log"

step "fuzzing the pure core for a bounded time"
bash scripts/fuzz.sh "${ONEVAULT_FUZZ_SECONDS:-60}" 2>&1 | tee "$LOGS/fuzz.log"

for version in "${VERSIONS[@]}"; do
  started=$SECONDS
  step "#[pg_test]s in PostgreSQL $version (run as the postgres user)"
  pgdata=${ONEVAULT_PGRX_PGDATA:-/tmp/onevault_tracking_pgrx}_pg$version
  mkdir -p "$pgdata" && chown postgres:postgres "$pgdata"
  cargo pgrx test "pg$version" --runas postgres --pgdata "$pgdata" 2>&1 | tee "$LOGS/pg_test_$version.log"

  step "SQL contract, concurrency, lifecycle and reliability suites in PostgreSQL $version"
  # `cargo pgrx test` installed a test build (it embeds the core replica); put the real one back.
  (export ONEVAULT_PG=$version && source scripts/cluster.sh && install_extension)
  ONEVAULT_PG=$version bash scripts/regress.sh 2>&1 | tee "$LOGS/regress_$version.log"
  echo "$((SECONDS - started))" >"$LOGS/seconds_$version"
done

echo
read -r passed failed < <(cargo_counts "$LOGS/core.log" "$LOGS/fuzz.log")
echo "pure core (any version): $passed passed, $failed failed"
total_passed=$passed total_failed=$failed
for version in "${VERSIONS[@]}"; do
  read -r p1 f1 < <(cargo_counts "$LOGS/pg_test_$version.log")
  read -r p2 f2 < <(suite_counts "$LOGS/regress_$version.log")
  passed=$((p1 + p2)) failed=$((f1 + f2))
  skipped=$(grep -cE '^skip ' "$LOGS/regress_$version.log" || true)
  echo "PostgreSQL $version: $passed passed, $failed failed, $skipped skipped ($(cat "$LOGS/seconds_$version") s)"
  total_passed=$((total_passed + passed)) total_failed=$((total_failed + failed))
done
rm -rf "$LOGS"
echo "onevault_tracking: $total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
