//! Visitor identity without keeping who the visitor is.
//!
//! A visitor is `HMAC-SHA256(daily salt, site | client IP | user agent)`, as Plausible does, where
//! the site is the domain of the registered site the page belongs to
//! (`crate::domain::site_of_host`), not the page's host: one browser on `www.example.com`,
//! `example.com` and the site's allowed domains is one visitor. The
//! full IP is only in hand at ingestion, so the hash is computed there and the IP can be
//! anonymised before it is stored. Salts are random, one per UTC day, and destroyed after the
//! next day, so a hash can no longer be linked to an IP once its salt is gone. The previous
//! day's salt is used alongside the current one, so a visit that crosses midnight can be
//! recognised as the same visitor (the session logic matches either hash).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::IpAddr;

/// A day's secret salt.
pub type Salt = [u8; 32];
/// A visitor hash.
pub type VisitorHash = [u8; 32];

/// The salts in force: today's, and yesterday's while it still exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailySalts {
    pub current: Salt,
    pub previous: Option<Salt>,
}

/// The visitor's hash under today's salt, and under yesterday's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisitorHashes {
    pub current: VisitorHash,
    pub previous: Option<VisitorHash>,
}

/// Separates the hashed fields; a control character cannot occur in a host, an IP or a
/// (validated) user agent, so no two inputs share a message.
const FIELD_SEPARATOR: &[u8] = b"\x1f";

pub fn visitor_hash(salt: &Salt, site_host: &str, ip: IpAddr, user_agent: &str) -> VisitorHash {
    let mut mac = Hmac::<Sha256>::new_from_slice(salt).expect("HMAC accepts any key length");
    mac.update(site_host.to_ascii_lowercase().as_bytes());
    mac.update(FIELD_SEPARATOR);
    mac.update(ip.to_string().as_bytes());
    mac.update(FIELD_SEPARATOR);
    mac.update(user_agent.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Both hashes of one visitor; `None` without an IP (a visitor cannot be told apart then).
pub fn visitor_hashes(
    salts: &DailySalts,
    site_host: &str,
    ip: Option<IpAddr>,
    user_agent: Option<&str>,
) -> Option<VisitorHashes> {
    let ip = ip?;
    let user_agent = user_agent.unwrap_or("");
    Some(VisitorHashes {
        current: visitor_hash(&salts.current, site_host, ip, user_agent),
        previous: salts
            .previous
            .map(|salt| visitor_hash(&salt, site_host, ip, user_agent)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TODAY: Salt = [7; 32];
    const YESTERDAY: Salt = [3; 32];

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn same_visitor_same_day_same_hash_and_site_host_case_does_not_matter() {
        let a = visitor_hash(&TODAY, "Example.com", ip("192.0.2.1"), "UA");
        let b = visitor_hash(&TODAY, "example.com", ip("192.0.2.1"), "UA");
        assert_eq!(a, b);
    }

    #[test]
    fn every_input_changes_the_hash() {
        let base = visitor_hash(&TODAY, "example.com", ip("192.0.2.1"), "UA");
        assert_ne!(
            base,
            visitor_hash(&YESTERDAY, "example.com", ip("192.0.2.1"), "UA")
        );
        assert_ne!(
            base,
            visitor_hash(&TODAY, "example.org", ip("192.0.2.1"), "UA")
        );
        assert_ne!(
            base,
            visitor_hash(&TODAY, "example.com", ip("192.0.2.2"), "UA")
        );
        assert_ne!(
            base,
            visitor_hash(&TODAY, "example.com", ip("192.0.2.1"), "UA2")
        );
    }

    #[test]
    fn yesterdays_hash_today_equals_yesterdays_current_hash() {
        // What makes a visit across midnight recognisable: today's "previous" hash is the hash
        // the visitor had yesterday.
        let yesterday = DailySalts {
            current: YESTERDAY,
            previous: None,
        };
        let today = DailySalts {
            current: TODAY,
            previous: Some(YESTERDAY),
        };
        let before =
            visitor_hashes(&yesterday, "example.com", Some(ip("192.0.2.1")), Some("UA")).unwrap();
        let after =
            visitor_hashes(&today, "example.com", Some(ip("192.0.2.1")), Some("UA")).unwrap();
        assert_eq!(after.previous, Some(before.current));
        assert_ne!(after.current, before.current);
    }

    #[test]
    fn one_browser_on_every_domain_of_a_site_is_one_visitor() {
        use crate::domain::{site_of_host, RegisteredSite};
        let registered = [RegisteredSite {
            domain: "example.com".into(),
            allowed_domains: vec!["example.com".into(), "example-shop.net".into()],
        }];
        let hashes: Vec<VisitorHash> = [
            "example.com",
            "www.example.com",
            "example-shop.net",
            "www.example-shop.net",
        ]
        .iter()
        .map(|host| {
            let site = site_of_host(host, &registered).unwrap();
            visitor_hash(&TODAY, &site, ip("192.0.2.1"), "UA")
        })
        .collect();
        assert!(hashes.iter().all(|h| *h == hashes[0]));
        // Another site is another visitor.
        let other = site_of_host("other.example", &registered).unwrap();
        assert_ne!(
            visitor_hash(&TODAY, &other, ip("192.0.2.1"), "UA"),
            hashes[0]
        );
    }

    #[test]
    fn no_ip_no_visitor() {
        let salts = DailySalts {
            current: TODAY,
            previous: None,
        };
        assert_eq!(
            visitor_hashes(&salts, "example.com", None, Some("UA")),
            None
        );
        assert!(visitor_hashes(&salts, "example.com", Some(ip("::1")), None).is_some());
    }

    proptest! {
        #[test]
        fn fields_cannot_be_shifted_into_each_other(host in "[a-z.]{1,20}", ua in "[ -~]{0,40}") {
            // Moving text between the host and the user agent must change the hash.
            let moved = format!("{host}x");
            let ua_rest = ua.clone();
            prop_assert_ne!(
                visitor_hash(&TODAY, &host, ip("192.0.2.1"), &format!("x{ua_rest}")),
                visitor_hash(&TODAY, &moved, ip("192.0.2.1"), &ua)
            );
        }
    }
}
