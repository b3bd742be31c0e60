//! In-database tests of the PostgreSQL helpers: an SPI failure, or a value missing where one is
//! guaranteed, is an ERROR with SQLSTATE XX000 that names what failed
//! (`TrackingError::Internal`), not a Rust panic.

#[pgrx::pg_schema]
mod tests {
    use crate::postgres::error::OrInternal;
    use crate::postgres::spi;
    use crate::postgres::subtxn;
    use crate::tests::support::raised;
    use pgrx::prelude::*;
    use pgrx::PgSqlErrorCode;

    #[pg_test]
    fn a_column_read_that_fails_raises_an_internal_error_not_a_panic() {
        let failure = subtxn::attempt_or(
            || {
                Spi::connect(|client| {
                    let rows = client
                        .select("SELECT 'not a number'::text", None, &[])
                        .or_internal("the test query");
                    rows.map(|row| spi::column::<i64>(&row, 1, "reading a text column as a number"))
                        .sum::<i64>()
                })
            },
            raised,
        )
        .expect_err("a text column read as a number fails");
        let (sqlstate, message) = failure.expect("an ERROR, not a panic");
        assert_eq!(sqlstate, PgSqlErrorCode::ERRCODE_INTERNAL_ERROR);
        assert!(
            message.starts_with("reading a text column as a number failed: "),
            "{message}"
        );
    }

    #[pg_test]
    fn a_missing_value_where_one_is_guaranteed_raises_an_internal_error_not_a_panic() {
        let failure =
            subtxn::attempt_or(|| None::<i64>.or_internal("the guaranteed value"), raised)
                .expect_err("None has no value");
        let (sqlstate, message) = failure.expect("an ERROR, not a panic");
        assert_eq!(sqlstate, PgSqlErrorCode::ERRCODE_INTERNAL_ERROR);
        assert_eq!(
            message,
            "the guaranteed value failed: no value where one is guaranteed"
        );
    }
}
