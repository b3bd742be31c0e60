#!/usr/bin/env bash
# Fuzzes the pure core for a bounded time (core/tests/fuzz/, proptest-driven; stable Rust):
#
#   bash scripts/fuzz.sh [SECONDS]          # default 60
#
# Builds first (outside the time budget), then runs every fuzz target in turn until the deadline
# and replays tests/fuzz/regressions/. The build is optimised but keeps overflow checks and debug
# assertions, so arithmetic overflow is found too, and it enables serde_json's
# arbitrary_precision as the extension does. It uses its own profile ("fuzz", in
# $CARGO_TARGET_DIR/fuzz), so release and debug artifacts are left alone.
#
# A failing input is shrunk and saved to core/tests/fuzz/regressions/<target>-<hash>.json; fix
# the bug and commit the file, and every `cargo test` replays it from then on. Exits non-zero on
# any failure. Environment: ONEVAULT_FUZZ_SEED (repeat a run), ONEVAULT_FUZZ_TARGETS (comma-
# separated subset), ONEVAULT_FUZZ_CASES (cap per target), ONEVAULT_FUZZ_SLOW_MS (fail a single
# case slower than this; default 5000), CARGO_TARGET_DIR (respected as cargo does).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
export PATH="$HOME/.cargo/bin:$PATH"

budget=${1:-${ONEVAULT_FUZZ_SECONDS:-60}}
if ! [[ $budget =~ ^[0-9]+([.][0-9]+)?$ ]]; then
  echo "usage: $0 [SECONDS]" >&2
  exit 2
fi

export CARGO_PROFILE_FUZZ_INHERITS=release
export CARGO_PROFILE_FUZZ_LTO=false
export CARGO_PROFILE_FUZZ_CODEGEN_UNITS=16
export CARGO_PROFILE_FUZZ_OVERFLOW_CHECKS=true
export CARGO_PROFILE_FUZZ_DEBUG_ASSERTIONS=true
args=(-p onevault_tracking_core --test fuzz --profile fuzz --features serde_json/arbitrary_precision)

echo "fuzz.sh: building the fuzz target"
cargo test "${args[@]}" --no-run

echo "fuzz.sh: fuzzing for ${budget} s"
log=$(mktemp /tmp/onevault_tracking_fuzz.XXXXXX)
started=$(mktemp /tmp/onevault_tracking_fuzz_start.XXXXXX)   # files newer than this are new
trap 'rm -f "$log" "$started"' EXIT
set +e
ONEVAULT_FUZZ_SECONDS=$budget ONEVAULT_FUZZ_SLOW_MS=${ONEVAULT_FUZZ_SLOW_MS:-5000} \
  cargo test "${args[@]}" -- --nocapture --test-threads=1 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

summary=$(grep -E '^fuzz: [0-9]+ cases in ' "$log" | tail -n 1 || true)
replayed=$(grep -oE 'regressions: [0-9]+ inputs replayed' "$log" | tail -n 1 || true)
echo
echo "fuzz.sh: ${summary#fuzz: }${summary:+; }${replayed:-regressions not replayed}"
if [ "$status" -ne 0 ]; then
  new=$(find core/tests/fuzz/regressions -name '*.json' -newer "$started" | sed 's/^/  /')
  echo "fuzz.sh: FAILED (exit $status)${new:+; new regression inputs (fix the bug, then commit them):}"
  [ -n "$new" ] && echo "$new"
  if [ -z "$summary" ]; then
    echo "fuzz.sh: the run ended without a summary (abort, e.g. stack overflow): repeat it with" \
         "the seed above and ONEVAULT_FUZZ_TRACE=1, which keeps the last input (its path is printed)"
  fi
  exit "$status"
fi
echo "fuzz.sh: OK"
