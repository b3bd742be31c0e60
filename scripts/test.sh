#!/usr/bin/env bash
# Runs every test and check, from a fresh Debian machine (as root) or a warm one:
#   prerequisites, formatting, clippy (warnings denied) for PostgreSQL 15 and 17, the pure core's
#   unit and property tests and a bounded fuzz run, then for each PostgreSQL version the
#   #[pg_test]s inside a real PostgreSQL and the pg_regress, isolation and shell suites, and with
#   PostgreSQL 15 the scale-out suite (a PL/Proxy proxy and three shards, tests/scaleout/run.sh).
# ONEVAULT_TEST_PG="15 17" (the default) chooses the versions.
#
# A failing step does not stop the ones after it. Every step counts: its tests one by one where
# it runs tests (cargo's "test result" lines, the suites' ok / not ok lines), otherwise the step
# itself as one check; a step that fails without a failing test counts as one failure. The run
# ends with a line per step, a line per PostgreSQL version and one line
# "onevault_tracking: N passed, N failed", and exits non-zero when anything failed.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
export PATH="$HOME/.cargo/bin:$PATH"
read -r -a VERSIONS <<<"${ONEVAULT_TEST_PG:-15 17}"

LOGS=$(mktemp -d /tmp/onevault_tracking_test_logs.XXXXXX)
trap 'rm -rf "$LOGS"' EXIT
STEPS=()

# counts LOG: "passed failed skipped" of one step's log.
counts() {
  local cargo_passed cargo_failed total bad skipped
  read -r cargo_passed cargo_failed < <(grep -hE '^test result: ' "$1" \
    | sed -E 's/.* ([0-9]+) passed; ([0-9]+) failed.*/\1 \2/' \
    | awk '{ p += $1; f += $2 } END { print p + 0, f + 0 }')
  # pg_regress, the isolation tester and scripts/regress.sh's shell suites (cargo's own
  # per-test lines are "test name ... ok" too, so only logs without cargo results count them).
  total=0 bad=0
  if [ "$cargo_passed$cargo_failed" = 00 ]; then
    total=$(grep -cE '^(ok|not ok|test) ' "$1" || true)
    bad=$(grep -cE '^(not ok|test .*FAILED)' "$1" || true)
  fi
  skipped=$(grep -cE '^skip ' "$1" || true)
  echo "$((cargo_passed + total - bad)) $((cargo_failed + bad)) $skipped"
}

# run_step ID TITLE COMMAND...: runs COMMAND with its output on the terminal and in LOGS/ID.log,
# and records ID with its counts and seconds.
run_step() {
  local id=$1 title=$2 status started passed failed skipped
  shift 2
  printf '\n\033[1m==> %s\033[0m\n' "$title"
  started=$SECONDS
  set +e
  "$@" 2>&1 | tee "$LOGS/$id.log"
  status=${PIPESTATUS[0]}
  set -e
  read -r passed failed skipped < <(counts "$LOGS/$id.log")
  if [ $((passed + failed)) -eq 0 ]; then
    # A step without tests of its own (prerequisites, fmt, clippy, a build) is one check.
    if [ "$status" -eq 0 ]; then passed=1; else failed=1; fi
  elif [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1 # it stopped before reporting a failing test (a build error, a crash)
  fi
  STEPS+=("$id $passed $failed $skipped $((SECONDS - started)) $status")
}

# install_for VERSION: the real build into that version (`cargo pgrx test` left a test build
# there, which embeds the core replica).
install_for() { (export ONEVAULT_PG=$1 && source scripts/cluster.sh && install_extension); }

run_step prereqs "prerequisites (PostgreSQL 15 and 17, cargo-pgrx)" bash scripts/prereqs.sh
run_step fmt "cargo fmt --check" cargo fmt --all --check
for version in "${VERSIONS[@]}"; do
  run_step "clippy_$version" "cargo clippy for PostgreSQL $version (warnings denied)" \
    cargo clippy --workspace --all-targets --no-default-features --features "pg$version pg_test" -- -D warnings
done
# The library's tests only: the fuzz target is the next step's (counted once, there).
run_step core "pure core: unit and property tests" cargo test -p onevault_tracking_core --lib
run_step fuzz "fuzzing the pure core for a bounded time" bash scripts/fuzz.sh "${ONEVAULT_FUZZ_SECONDS:-60}"

for version in "${VERSIONS[@]}"; do
  pgdata=${ONEVAULT_PGRX_PGDATA:-/tmp/onevault_tracking_pgrx}_pg$version
  mkdir -p "$pgdata" && chown postgres:postgres "$pgdata"
  run_step "pg_test_$version" "#[pg_test]s in PostgreSQL $version (run as the postgres user)" \
    cargo pgrx test "pg$version" --runas postgres --pgdata "$pgdata"
  run_step "install_$version" "install the build into PostgreSQL $version" install_for "$version"
  run_step "suites_$version" "SQL contract, concurrency, lifecycle and reliability suites in PostgreSQL $version" \
    env ONEVAULT_PG="$version" bash scripts/regress.sh
  # PL/Proxy is packaged for PostgreSQL 15 only here (README, "Scaling out").
  if [ "$version" = 15 ]; then
    run_step "scaleout_$version" "scale-out: a proxy and three shards with PL/Proxy in PostgreSQL $version" \
      env ONEVAULT_PG="$version" bash tests/scaleout/run.sh
  fi
done

echo
total_passed=0 total_failed=0
declare -A version_passed version_failed version_skipped version_seconds
for entry in "${STEPS[@]}"; do
  read -r id passed failed skipped seconds status <<<"$entry"
  printf '%-14s %4d passed %3d failed %2d skipped %5d s  (exit %d)\n' \
    "$id" "$passed" "$failed" "$skipped" "$seconds" "$status"
  total_passed=$((total_passed + passed)) total_failed=$((total_failed + failed))
  version=${id##*_}
  if [[ $id =~ ^(pg_test|install|suites|scaleout)_ ]]; then
    version_passed[$version]=$((${version_passed[$version]:-0} + passed))
    version_failed[$version]=$((${version_failed[$version]:-0} + failed))
    version_skipped[$version]=$((${version_skipped[$version]:-0} + skipped))
    version_seconds[$version]=$((${version_seconds[$version]:-0} + seconds))
  fi
done
for version in "${VERSIONS[@]}"; do
  echo "PostgreSQL $version: ${version_passed[$version]} passed, ${version_failed[$version]} failed," \
    "${version_skipped[$version]} skipped (${version_seconds[$version]} s)"
done
echo "onevault_tracking: $total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
