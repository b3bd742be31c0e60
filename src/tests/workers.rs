//! In-database tests of the workers' SQL surface that need no running worker: the bounds of
//! `onevault_tracking.start_workers` and `onevault_tracking.worker_status` without workers. The
//! workers themselves run in tests/reliability/worker.sh, on a cluster of their own.

#[pgrx::pg_schema]
mod tests {
    use crate::postgres::subtxn;
    use crate::tests::support::{count, raised, tenant};
    use pgrx::prelude::*;
    use pgrx::PgSqlErrorCode;

    #[pg_test]
    fn start_workers_refuses_a_count_out_of_range_and_starts_nothing() {
        for workers in [0, -1, 17] {
            let failure = subtxn::attempt_or(
                || {
                    Spi::run(&format!(
                        "SELECT * FROM onevault_tracking.start_workers({workers})"
                    ))
                },
                raised,
            )
            .expect_err("out of range");
            let (sqlstate, message) = failure.expect("an ERROR, not a panic");
            assert_eq!(
                sqlstate,
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                "{message}"
            );
            assert_eq!(
                message,
                format!("invalid p_workers: from 1 to 16 workers per database, got {workers}")
            );
        }
        assert_eq!(count("SELECT count(*) FROM onevault_tracking.workers"), 0);
    }

    #[pg_test]
    fn worker_status_without_workers_is_one_row_of_backlog() {
        let acme = tenant("Acme", 0);
        Spi::run_with_args(
            "SELECT raw.ingest_tracking_event($1, NULL, '192.0.2.1', 'curl/8.0',
                 '{\"event_type\": \"page_view\", \"page_url\": \"https://example.com/\"}')",
            &[acme.as_slice().into()],
        )
        .unwrap();
        let (rows, no_worker, pending) = Spi::get_three::<i64, bool, i64>(
            "SELECT count(*), bool_and(worker_no IS NULL AND NOT running AND lag IS NOT NULL),
                    max(pending_events)
               FROM onevault_tracking.worker_status",
        )
        .unwrap();
        assert_eq!((rows, no_worker, pending), (Some(1), Some(true), Some(1)));
    }
}
