//! Time-boxed fuzzing of the pure core, on stable Rust (no libFuzzer): proptest generates
//! hostile inputs (nested JSON, 100 KB strings, NUL and other controls, mangled UTF-8, broken
//! URLs and addresses, odd user agents and timestamps, `i64` extremes) for every public entry
//! point of validation, enrichment, attribution, IP handling, user agents, sessions, visitor
//! hashes and vault keys, and checks documented properties (see `targets.rs`), not only the
//! absence of panics.
//!
//! * `fuzz_for_a_bounded_time` runs every target in turn until the deadline:
//!   `ONEVAULT_FUZZ_SECONDS` (default 10, so plain `cargo test` stays quick; `scripts/fuzz.sh`
//!   runs longer in an optimised build with overflow checks). Optional: `ONEVAULT_FUZZ_CASES`
//!   caps the cases per target, `ONEVAULT_FUZZ_SEED` fixes the seed (printed on every run),
//!   `ONEVAULT_FUZZ_TARGETS` (comma-separated names) narrows the targets,
//!   `ONEVAULT_FUZZ_SLOW_MS` fails any single case slower than that (off by default).
//! * A failing input is shrunk, then written to `tests/fuzz/regressions/<target>-<hash>.json`
//!   (the input itself, not a seed, so it stays valid when the generators change). Commit it:
//!   `regressions_replay` runs every file there on every `cargo test`.
//!
//! Not caught: aborts (stack overflow, out of memory) end the process before the input can be
//! saved; rerun with the printed `ONEVAULT_FUZZ_SEED` and `ONEVAULT_FUZZ_TRACE=1`, which writes
//! each input to `fuzz-last-input.json` in cargo's `CARGO_TARGET_TMPDIR` before running it.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Once;
use std::time::{Duration, Instant};

use proptest::strategy::BoxedStrategy;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// `ensure!(condition, "format", args...)`: fails the case with the message.
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

mod inputs;
mod targets;

/// One fuzz target: a generator of JSON-encoded inputs and the properties every input must
/// satisfy (an `Err` or a panic is a failure).
pub struct Target {
    pub name: &'static str,
    pub strategy: BoxedStrategy<Value>,
    pub check: fn(&Value) -> Result<(), String>,
}

/// Cases per proptest run; the deadline is checked between runs and before each case.
const CHUNK: u32 = 32;
/// Time each target gets per round.
const SLICE: Duration = Duration::from_millis(250);

fn regressions_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/regressions")
}

/// Where `ONEVAULT_FUZZ_TRACE` keeps the input being run (under the cargo target directory).
fn last_input_path() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-last-input.json")
}

fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    let text = std::env::var(name).ok()?;
    match text.trim().parse() {
        Ok(value) => Some(value),
        Err(_) => panic!("{name}={text:?} is not a number"),
    }
}

thread_local! {
    /// Set while a case runs: panics are recorded instead of printed.
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// A panic hook that records the message and location of panics inside cases (shrinking
/// would otherwise print hundreds of them) and leaves every other panic to the default hook.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CAPTURING.with(Cell::get) {
                let message = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic payload".to_owned());
                let at = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                    .unwrap_or_default();
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("panicked at {at}: {message}")));
            } else {
                default(info);
            }
        }));
    });
}

/// Runs one case; a panic becomes an `Err` naming its location.
fn run_case(target: &Target, input: &Value) -> Result<(), String> {
    install_panic_hook();
    CAPTURING.with(|c| c.set(true));
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| (target.check)(input)));
    CAPTURING.with(|c| c.set(false));
    match outcome {
        Ok(result) => result,
        Err(_) => Err(LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_else(|| "panicked".to_owned())),
    }
}

/// Writes a failing input to the regressions directory; returns the file's path.
fn save_regression(target: &str, input: &Value, failure: &str) -> PathBuf {
    let text = serde_json::to_string(input).expect("inputs are JSON");
    let digest = Sha256::digest(text.as_bytes());
    let id: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    let dir = regressions_dir();
    std::fs::create_dir_all(&dir).expect("create the regressions directory");
    let path = dir.join(format!("{target}-{id}.json"));
    let record = json!({ "target": target, "failure": failure, "input": input });
    let mut pretty = serde_json::to_string_pretty(&record).expect("serialise regression");
    pretty.push('\n');
    std::fs::write(&path, pretty).expect("write regression file");
    path
}

struct Tally {
    cases: u64,
    chunks: u64,
    slowest: Duration,
    failure: Option<String>,
}

/// Runs one proptest chunk of `target` (its seed is derived from the run's seed, the target and
/// the chunk's number); shrinks and saves a failure.
#[allow(clippy::too_many_arguments)]
fn run_chunk(
    target: &Target,
    index: usize,
    seed: u64,
    until: Instant,
    max_cases: u64,
    slow: Option<u64>,
    trace: bool,
    tally: &mut Tally,
) {
    let chunk_seed = seed
        .wrapping_add((index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_add(tally.chunks.wrapping_mul(0xbf58_476d_1ce4_e5b9));
    tally.chunks += 1;
    let config = Config {
        cases: CHUNK,
        failure_persistence: None,
        max_shrink_time: 60_000,
        max_shrink_iters: 4096,
        max_local_rejects: 100_000,
        max_global_rejects: 100_000,
        rng_seed: RngSeed::Fixed(chunk_seed),
        ..Config::default()
    };
    let executed = Cell::new(0u64);
    let slowest = Cell::new(Duration::ZERO);
    let shrinking = Cell::new(false);
    let result = TestRunner::new(config).run(&target.strategy, |input| {
        // Past the time slice the rest of the chunk is skipped, unless this is shrinking.
        let budget_left = tally.cases + executed.get() < max_cases;
        if !shrinking.get() && (Instant::now() >= until || !budget_left) {
            return Ok(());
        }
        if trace {
            let _ = std::fs::write(last_input_path(), input.to_string());
        }
        let start = Instant::now();
        let mut outcome = run_case(target, &input);
        let took = start.elapsed();
        if !shrinking.get() {
            executed.set(executed.get() + 1);
            slowest.set(slowest.get().max(took));
        }
        if let Some(limit) = slow {
            if outcome.is_ok() && took > Duration::from_millis(limit) {
                outcome = Err(format!(
                    "slow input: {} ms, over ONEVAULT_FUZZ_SLOW_MS={limit}",
                    took.as_millis()
                ));
            }
        }
        if outcome.is_err() {
            shrinking.set(true);
        }
        outcome.map_err(TestCaseError::fail)
    });
    tally.cases += executed.get();
    tally.slowest = tally.slowest.max(slowest.get());
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, input)) => {
            let mut reason = reason.message().to_owned();
            if let Some((cut, _)) = reason.char_indices().nth(2000) {
                reason.truncate(cut);
                reason.push('…');
            }
            let path = save_regression(target.name, &input, &reason);
            eprintln!(
                "fuzz: FAILURE in {}: {reason}\n  shrunk input saved to {}",
                target.name,
                path.display()
            );
            tally.failure = Some(format!("{reason} ({})", path.display()));
        }
        Err(TestError::Abort(reason)) => {
            tally.failure = Some(format!("aborted: {}", reason.message()));
        }
    }
}

#[test]
fn fuzz_for_a_bounded_time() {
    let seconds: f64 = env_number("ONEVAULT_FUZZ_SECONDS").unwrap_or(10.0);
    let max_cases: u64 = env_number("ONEVAULT_FUZZ_CASES").unwrap_or(u64::MAX);
    let slow: Option<u64> = env_number("ONEVAULT_FUZZ_SLOW_MS").filter(|ms| *ms > 0);
    let seed: u64 = env_number("ONEVAULT_FUZZ_SEED").unwrap_or_else(|| {
        use std::hash::{BuildHasher, RandomState};
        RandomState::new().hash_one(std::time::SystemTime::now())
    });
    let only: Option<Vec<String>> = std::env::var("ONEVAULT_FUZZ_TARGETS")
        .ok()
        .map(|list| list.split(',').map(|s| s.trim().to_owned()).collect());
    let trace = std::env::var_os("ONEVAULT_FUZZ_TRACE").is_some();

    let mut all = targets::all();
    if let Some(only) = &only {
        for name in only {
            assert!(
                all.iter().any(|t| t.name == name),
                "ONEVAULT_FUZZ_TARGETS: no target {name:?}"
            );
        }
        all.retain(|t| only.iter().any(|n| n == t.name));
    }
    eprintln!(
        "fuzz: {} targets for {seconds} s, seed {seed} (ONEVAULT_FUZZ_SEED={seed} repeats this run)",
        all.len()
    );
    if trace {
        eprintln!(
            "fuzz: tracing each input to {}",
            last_input_path().display()
        );
    }

    targets::warm_up();
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds.max(0.0));
    let mut tallies: Vec<Tally> = all
        .iter()
        .map(|_| Tally {
            cases: 0,
            chunks: 0,
            slowest: Duration::ZERO,
            failure: None,
        })
        .collect();
    // Round robin with equal time per target, so cheap targets are not held back by costly ones.
    loop {
        let mut ran_any = false;
        for (index, target) in all.iter().enumerate() {
            let tally = &mut tallies[index];
            let slice_end = deadline.min(Instant::now() + SLICE);
            while tally.failure.is_none() && tally.cases < max_cases && Instant::now() < slice_end {
                ran_any = true;
                run_chunk(
                    target, index, seed, slice_end, max_cases, slow, trace, tally,
                );
            }
        }
        if !ran_any {
            break;
        }
    }

    let elapsed = started.elapsed().as_secs_f64();
    let total: u64 = tallies.iter().map(|t| t.cases).sum();
    for (target, tally) in all.iter().zip(&tallies) {
        eprintln!(
            "fuzz: {:<12} {:>9} cases, slowest {:>6.1} ms{}",
            target.name,
            tally.cases,
            tally.slowest.as_secs_f64() * 1e3,
            if tally.failure.is_some() {
                "  FAILED"
            } else {
                ""
            }
        );
    }
    eprintln!("fuzz: {total} cases in {elapsed:.1} s, seed {seed}");
    let failures: Vec<String> = all
        .iter()
        .zip(&tallies)
        .filter_map(|(t, tally)| tally.failure.as_ref().map(|f| format!("{}: {f}", t.name)))
        .collect();
    assert!(
        failures.is_empty(),
        "fuzzing found {} failure(s); the shrunk inputs are in tests/fuzz/regressions/ \
         (commit them with the fix):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every input that ever failed, replayed: a fixed bug stays fixed.
#[test]
fn regressions_replay() {
    let all = targets::all();
    let mut files: Vec<PathBuf> = std::fs::read_dir(regressions_dir())
        .expect("tests/fuzz/regressions exists")
        .map(|entry| entry.expect("read regressions directory").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut failures = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("read regression file");
        let record: Value = match serde_json::from_str(&text) {
            Ok(record) => record,
            // Only numbers beyond f64 need `arbitrary_precision` (scripts/fuzz.sh enables it).
            Err(e) if e.to_string().contains("number out of range") => {
                eprintln!(
                    "regressions: {} needs serde_json/arbitrary_precision; skipped",
                    path.display()
                );
                continue;
            }
            Err(e) => panic!("{} is not JSON: {e}", path.display()),
        };
        let name = record["target"].as_str().unwrap_or_default();
        let target = all
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("{}: no fuzz target {name:?}", path.display()));
        if let Err(why) = run_case(target, &record["input"]) {
            failures.push(format!("{}: {why}", path.display()));
        }
    }
    eprintln!("regressions: {} inputs replayed", files.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
