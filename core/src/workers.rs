//! The background workers' pure rules: how a worker's number and origin travel in its start
//! argument, and how long the launcher waits before starting again a worker that stopped.

use std::time::Duration;

/// Who started a worker.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Origin {
    /// The launcher, for `onevault_tracking.worker_databases`.
    Launcher,
    /// `onevault_tracking.start_workers`.
    StartWorkers,
}

impl Origin {
    /// The name `onevault_tracking.workers.started_by` records.
    pub fn name(self) -> &'static str {
        match self {
            Origin::Launcher => "launcher",
            Origin::StartWorkers => "start_workers",
        }
    }
}

/// Most workers per database (the state table's check, `workers_per_database`'s range).
pub const WORKERS_MAX: i32 = 16;

/// A worker's start argument: its number in the low 16 bits, its origin above them.
pub fn start_argument(worker_no: i32, origin: Origin) -> u64 {
    let origin_bits: u64 = match origin {
        Origin::Launcher => 1,
        Origin::StartWorkers => 2,
    };
    (origin_bits << 16) | u64::from(worker_no.clamp(1, WORKERS_MAX) as u16)
}

/// The worker number and origin of a start argument (`start_argument`'s inverse).
pub fn read_start_argument(argument: u64) -> (i32, Origin) {
    let origin = if argument >> 16 == 1 {
        Origin::Launcher
    } else {
        Origin::StartWorkers
    };
    (
        i32::from((argument & 0xffff) as u16).clamp(1, WORKERS_MAX),
        origin,
    )
}

/// The database names of `onevault_tracking.worker_databases`: comma-separated, trimmed, without
/// empty names or repeats, in their order.
pub fn database_list(setting: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in setting.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if !names.iter().any(|known| known == name) {
            names.push(name.to_owned());
        }
    }
    names
}

/// The delay before a stopped worker is started again.
pub const RESTART_DELAY: Duration = Duration::from_secs(10);
/// The longest delay, for a worker that keeps stopping right after it starts.
pub const RESTART_DELAY_MAX: Duration = Duration::from_secs(300);
/// A worker that ran this long before it stopped counts as having started well.
pub const STARTED_WELL_AFTER: Duration = Duration::from_secs(60);

/// The delay before the next start of a worker that stopped soon after starting `quick_stops`
/// times in a row: it doubles each time, up to `RESTART_DELAY_MAX`.
pub fn restart_delay(quick_stops: u32) -> Duration {
    RESTART_DELAY
        .saturating_mul(1 << quick_stops.min(5))
        .min(RESTART_DELAY_MAX)
}

/// The quick stops in a row after a worker that had `previous` of them ran for `ran_for`.
pub fn quick_stops_after(previous: u32, ran_for: Duration) -> u32 {
    if ran_for < STARTED_WELL_AFTER {
        previous.saturating_add(1)
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_delay_doubles_up_to_five_minutes() {
        let delays: Vec<u64> = (0..8).map(|n| restart_delay(n).as_secs()).collect();
        assert_eq!(delays, [10, 20, 40, 80, 160, 300, 300, 300]);
    }

    #[test]
    fn a_worker_that_ran_well_starts_the_count_again() {
        assert_eq!(quick_stops_after(4, Duration::from_secs(3600)), 0);
        assert_eq!(quick_stops_after(4, Duration::from_millis(50)), 5);
        assert_eq!(quick_stops_after(u32::MAX, Duration::ZERO), u32::MAX);
    }

    #[test]
    fn database_lists_are_trimmed_without_empties_or_repeats() {
        assert_eq!(
            database_list(" onevault , ,analytics,onevault,"),
            ["onevault", "analytics"]
        );
        assert!(database_list("").is_empty());
        assert!(database_list(" , ").is_empty());
    }

    proptest! {
        #[test]
        fn start_arguments_round_trip(worker_no in 1..=WORKERS_MAX, launcher in any::<bool>()) {
            let origin = if launcher { Origin::Launcher } else { Origin::StartWorkers };
            prop_assert_eq!(read_start_argument(start_argument(worker_no, origin)), (worker_no, origin));
        }

        #[test]
        fn any_argument_reads_as_a_valid_worker(argument in any::<u64>()) {
            let (worker_no, _) = read_start_argument(argument);
            prop_assert!((1..=WORKERS_MAX).contains(&worker_no));
        }
    }
}
