//! Sessions: the client's own session id when it sends one, otherwise derived per visitor and
//! site with a 30-minute idle window (Plausible's and Google Analytics' definition).
//!
//! An event joins the most recent session of the same tenant, site and visitor whose last event
//! is at most [`SESSION_IDLE_MICROS`] away; a visitor is recognised by today's hash or by
//! yesterday's (see `visitor`), and an event that joins a session takes over that session's
//! visitor hash, so a visit that crosses midnight stays one visitor and one session.

use crate::hashing::to_hex;
use crate::visitor::{VisitorHash, VisitorHashes};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

pub const SESSION_IDLE_MICROS: i64 = 30 * 60 * 1_000_000;

/// (tenant, site domain (`crate::domain::site_of_host`), visitor hash).
pub type VisitorKey = (Vec<u8>, String, VisitorHash);

/// A session as far as it is known: its id, visitor hash and the span of its events.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Open {
    session_id: String,
    visitor_hash: VisitorHash,
    first_seen: i64,
    last_seen: i64,
}

impl Open {
    /// How far `at` lies outside the session's span (0 inside it); saturates at `i64::MAX`
    /// instead of overflowing for times at the ends of the range.
    fn distance(&self, at: i64) -> i64 {
        self.first_seen
            .saturating_sub(at)
            .max(at.saturating_sub(self.last_seen))
            .max(0)
    }

    fn extend(&mut self, at: i64) {
        self.first_seen = self.first_seen.min(at);
        self.last_seen = self.last_seen.max(at);
    }
}

/// Assigns sessions to events; knows every session it was told about or created, so events
/// that arrive late or out of order still join the session they belong to.
#[derive(Debug, Default)]
pub struct Sessionizer {
    sessions: HashMap<VisitorKey, Vec<Open>>,
}

/// The session an event belongs to, and the visitor hash it is stored under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assigned {
    pub session_id: String,
    pub visitor_hash: VisitorHash,
}

impl Sessionizer {
    /// Makes a stored event of a session known.
    pub fn remember(&mut self, key: VisitorKey, session_id: String, at: i64) {
        let visitor_hash = key.2;
        self.note(key, session_id, visitor_hash, at);
    }

    /// Records that the visitor known by `key` had an event of the session at `at`; the session
    /// keeps the visitor hash it started with.
    fn note(&mut self, key: VisitorKey, session_id: String, visitor_hash: VisitorHash, at: i64) {
        let sessions = self.sessions.entry(key).or_default();
        match sessions.iter_mut().find(|s| s.session_id == session_id) {
            Some(open) => open.extend(at),
            None => sessions.push(Open {
                session_id,
                visitor_hash,
                first_seen: at,
                last_seen: at,
            }),
        }
    }

    /// The session of an event at `at` (unix microseconds): the nearest known session of the
    /// visitor (by today's or yesterday's hash) within the idle window, else a new one;
    /// `event_key` makes new ids unique.
    pub fn assign(
        &mut self,
        tenant: &[u8],
        site_host: &str,
        hashes: VisitorHashes,
        at: i64,
        event_key: i64,
    ) -> Assigned {
        let key = |hash: VisitorHash| (tenant.to_vec(), site_host.to_owned(), hash);
        let joined = [Some(hashes.current), hashes.previous]
            .into_iter()
            .flatten()
            .filter_map(|hash| self.sessions.get(&key(hash)))
            .flatten()
            .filter(|open| open.distance(at) <= SESSION_IDLE_MICROS)
            .min_by_key(|open| open.distance(at))
            .map(|open| (open.session_id.clone(), open.visitor_hash));
        let (session_id, visitor_hash) = joined.unwrap_or_else(|| {
            (
                new_session_id(tenant, site_host, &hashes.current, at, event_key),
                hashes.current,
            )
        });
        for hash in [visitor_hash, hashes.current] {
            self.note(key(hash), session_id.clone(), visitor_hash, at);
        }
        Assigned {
            session_id,
            visitor_hash,
        }
    }
}

fn new_session_id(
    tenant: &[u8],
    site_host: &str,
    visitor: &VisitorHash,
    at: i64,
    event_key: i64,
) -> String {
    let mut hasher = Sha256::new();
    for part in [
        tenant,
        site_host.as_bytes(),
        visitor,
        &at.to_be_bytes(),
        &event_key.to_be_bytes(),
    ] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    let digest: [u8; 32] = hasher.finalize().into();
    to_hex(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60 * 1_000_000;
    const T: &[u8] = b"tenant";

    fn visitor(current: u8, previous: Option<u8>) -> VisitorHashes {
        VisitorHashes {
            current: [current; 32],
            previous: previous.map(|p| [p; 32]),
        }
    }

    #[test]
    fn events_within_the_idle_window_share_a_session() {
        let mut s = Sessionizer::default();
        let a = s.assign(T, "example.com", visitor(1, None), 0, 1);
        let b = s.assign(T, "example.com", visitor(1, None), 29 * MINUTE, 2);
        let c = s.assign(T, "example.com", visitor(1, None), 58 * MINUTE, 3);
        assert_eq!(a, b);
        assert_eq!(b, c, "the window slides with each event");
    }

    #[test]
    fn an_idle_gap_starts_a_new_session() {
        let mut s = Sessionizer::default();
        let a = s.assign(T, "example.com", visitor(1, None), 0, 1);
        let b = s.assign(T, "example.com", visitor(1, None), 31 * MINUTE, 2);
        assert_ne!(a.session_id, b.session_id);
        assert_eq!(a.session_id.len(), 32);
    }

    #[test]
    fn other_visitors_sites_and_tenants_are_other_sessions() {
        let mut s = Sessionizer::default();
        let a = s.assign(T, "example.com", visitor(1, None), 0, 1);
        assert_ne!(a, s.assign(T, "example.com", visitor(2, None), 0, 2));
        assert_ne!(a, s.assign(T, "example.org", visitor(1, None), 0, 3));
        assert_ne!(a, s.assign(b"other", "example.com", visitor(1, None), 0, 4));
    }

    #[test]
    fn a_visit_across_midnight_keeps_its_visitor_and_session() {
        let mut s = Sessionizer::default();
        // 23:55 yesterday: hash 1. 00:05 today: today's hash 2, yesterday's hash 1.
        let before = s.assign(T, "example.com", visitor(1, None), 0, 1);
        let after = s.assign(T, "example.com", visitor(2, Some(1)), 10 * MINUTE, 2);
        assert_eq!(after, before);
        // Later today the visitor is recognised by today's hash alone.
        let later = s.assign(T, "example.com", visitor(2, Some(1)), 20 * MINUTE, 3);
        assert_eq!(later, before);
    }

    #[test]
    fn a_late_event_joins_the_earlier_session_it_belongs_to() {
        let mut s = Sessionizer::default();
        let a = s.assign(T, "example.com", visitor(1, None), 0, 1);
        let b = s.assign(T, "example.com", visitor(1, None), 240 * MINUTE, 2);
        assert_ne!(a, b);
        // Arrives after both, belongs to the first.
        let late = s.assign(T, "example.com", visitor(1, None), 5 * MINUTE, 3);
        assert_eq!(late, a);
        // Nearest wins when two sessions are in reach.
        let near_b = s.assign(T, "example.com", visitor(1, None), 225 * MINUTE, 4);
        assert_eq!(near_b, b);
    }

    #[test]
    fn remembered_sessions_are_joined() {
        let mut s = Sessionizer::default();
        s.remember(
            (T.to_vec(), "example.com".into(), [9; 32]),
            "stored".into(),
            0,
        );
        let a = s.assign(T, "example.com", visitor(9, None), 5 * MINUTE, 1);
        assert_eq!(a.session_id, "stored");
        let stale = s.assign(T, "example.com", visitor(9, None), 50 * MINUTE, 2);
        assert_ne!(stale.session_id, "stored");
    }

    #[test]
    fn times_at_the_ends_of_i64_do_not_overflow() {
        // Found by tests/fuzz: the distance to a session at i64::MIN overflowed.
        let mut s = Sessionizer::default();
        let first = s.assign(T, "example.com", visitor(1, None), i64::MIN, 1);
        let later = s.assign(T, "example.com", visitor(1, None), i64::MAX, 2);
        assert_ne!(first, later);
        assert_eq!(
            s.assign(T, "example.com", visitor(1, None), 0, 3)
                .session_id
                .len(),
            32
        );
    }
}
