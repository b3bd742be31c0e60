//! The daily visitor salts (see `onevault_tracking_core::visitor`), kept in
//! `onevault_tracking.visitor_salts`, which no reader role can see.
//!
//! The first call of a UTC day creates that day's salt (concurrent creators agree through the
//! primary key) and deletes salts older than yesterday: rotation is what makes old visitor
//! hashes unlinkable. A quiet site has no first call of the day, so `api.purge_expired_data`
//! destroys expired salts too ([`retire_expired`]), whatever the traffic. A backend caches the salts for the day once it has read them as already
//! stored, so the hot path costs no query; a salt it created itself is not cached, because its
//! transaction might still roll back.

use crate::postgres::error::OrInternal;
use crate::postgres::random::strong_random;
use crate::postgres::spi;
use onevault_tracking_core::visitor::{DailySalts, Salt};
use pgrx::spi::SpiClient;
use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

thread_local! {
    static CACHED: RefCell<Option<(i32, DailySalts)>> = const { RefCell::new(None) };
}

/// Days since 1970-01-01 in UTC.
fn utc_day() -> i32 {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    i32::try_from(seconds / 86_400).unwrap_or(i32::MAX)
}

pub fn daily_salts(client: &mut SpiClient<'_>) -> DailySalts {
    let day = utc_day();
    if let Some(salts) = CACHED.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|(d, _)| *d == day)
            .map(|(_, s)| s.clone())
    }) {
        return salts;
    }
    if let Some(salts) = stored_salts(client, day) {
        CACHED.with(|c| *c.borrow_mut() = Some((day, salts.clone())));
        return salts;
    }
    spi::execute(
        client,
        "INSERT INTO onevault_tracking.visitor_salts (salt_date, salt)
         VALUES (DATE '1970-01-01' + $1, $2) ON CONFLICT (salt_date) DO NOTHING",
        &[day.into(), strong_random::<32>().to_vec().into()],
    )
    .or_internal("create today's visitor salt");
    retire_before(client, day);
    stored_salts(client, day).or_internal("today's salt exists after creating it")
}

/// Destroys every salt older than yesterday (UTC) and answers how many there were. Today's and
/// yesterday's stay: an event of yesterday can still be processed, and a session can still
/// cross midnight.
pub fn retire_expired(client: &mut SpiClient<'_>) -> i64 {
    retire_before(client, utc_day())
}

fn retire_before(client: &mut SpiClient<'_>, day: i32) -> i64 {
    spi::execute(
        client,
        "WITH retired AS (DELETE FROM onevault_tracking.visitor_salts
                           WHERE salt_date < DATE '1970-01-01' + $1 - 1 RETURNING 1)
         SELECT count(*) FROM retired",
        &[day.into()],
    )
    .and_then(|rows| rows.first().get_one::<i64>())
    .or_internal("retire old visitor salts")
    .unwrap_or(0)
}

/// Today's and yesterday's salts, when today's exists.
fn stored_salts(client: &mut SpiClient<'_>, day: i32) -> Option<DailySalts> {
    let rows: Vec<(i32, Vec<u8>)> = spi::execute(
        client,
        "SELECT salt_date - DATE '1970-01-01', salt FROM onevault_tracking.visitor_salts
          WHERE salt_date BETWEEN DATE '1970-01-01' + $1 - 1 AND DATE '1970-01-01' + $1",
        &[day.into()],
    )
    .or_internal("read visitor salts")
    .map(|row| {
        (
            row.get::<i32>(1)
                .or_internal("salt_date")
                .or_internal("not null"),
            row.get::<Vec<u8>>(2)
                .or_internal("salt")
                .or_internal("not null"),
        )
    })
    .collect();
    let salt_of = |d: i32| {
        rows.iter()
            .find(|(day, _)| *day == d)
            .and_then(|(_, s)| Salt::try_from(s.as_slice()).ok())
    };
    Some(DailySalts {
        current: salt_of(day)?,
        previous: salt_of(day - 1),
    })
}
