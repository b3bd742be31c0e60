//! The business keys of the vault and their hash keys. Every key is
//! `hashing::hash_key(tenant, parts)`; this module says what the parts are, once:
//!
//! | key                   | business key (`*_bk`)   | parts                                      |
//! |-----------------------|-------------------------|--------------------------------------------|
//! | `site_hk`             | normalised domain       | `[site_bk]`                                |
//! | `page_hk`             | `site_bk` + path        | `[site_bk, page_path]`                     |
//! | `session_hk`          | session id              | `[site_bk, session_id]`                    |
//! | `api_key_hk`          | the key's public prefix | `[key_prefix]`                             |
//! | `tracking_event_hk`   | raw event id            | `[raw_event_id]`                           |
//! | a link's key          | —                       | lower-case hex of each hub key, in column order (`\N` for none) |
//!
//! A site's business key is its domain as `crate::domain::site_business_key` normalises it
//! (IDNA to ASCII, lower case, no trailing dot, no leading `www.`): `www.Example.com.` and
//! `example.com` are one site, as in Plausible, and so are `münchen.de` and `xn--mnchen-3ya.de`.

use crate::hashing::{hash_key, to_hex, HashKey};

pub fn site_key(tenant: &[u8], site_bk: &str) -> HashKey {
    hash_key(tenant, &[Some(site_bk)])
}

/// The page business key and its hash key.
pub fn page_key(tenant: &[u8], site_bk: &str, page_path: &str) -> (String, HashKey) {
    (
        format!("{site_bk}{page_path}"),
        hash_key(tenant, &[Some(site_bk), Some(page_path)]),
    )
}

pub fn session_key(tenant: &[u8], site_bk: &str, session_id: &str) -> HashKey {
    hash_key(tenant, &[Some(site_bk), Some(session_id)])
}

pub fn api_key_key(tenant: &[u8], key_prefix: &str) -> HashKey {
    hash_key(tenant, &[Some(key_prefix)])
}

pub fn tracking_event_key(tenant: &[u8], raw_event_id: i64) -> HashKey {
    hash_key(tenant, &[Some(&raw_event_id.to_string())])
}

/// A link's key from the keys of the hubs it links (a missing hub counts as NULL).
pub fn link_key(tenant: &[u8], hubs: &[Option<&HashKey>]) -> HashKey {
    let hex: Vec<Option<String>> = hubs.iter().map(|h| h.map(|k| to_hex(k))).collect();
    let parts: Vec<Option<&str>> = hex.iter().map(Option::as_deref).collect();
    hash_key(tenant, &parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hashing::{business_key, hash_binary};

    use crate::domain::site_business_key;

    #[test]
    fn domains_are_normalised_into_one_site() {
        for host in [
            "example.com",
            "Example.COM",
            "www.example.com",
            "example.com.",
            " WWW.example.com. ",
        ] {
            assert_eq!(
                site_business_key(host).as_deref(),
                Some("example.com"),
                "{host}"
            );
        }
        assert_eq!(
            site_business_key("shop.example.com").as_deref(),
            Some("shop.example.com")
        );
        assert_eq!(site_business_key(""), None);
        assert_eq!(site_business_key("."), None);
    }

    #[test]
    fn keys_follow_the_recipe_and_include_the_tenant() {
        let t = [7u8; 32];
        let (page_bk, page_hk) = page_key(&t, "example.com", "/pricing");
        assert_eq!(page_bk, "example.com/pricing");
        assert_eq!(
            page_hk,
            hash_binary(&business_key(&t, &[Some("example.com"), Some("/pricing")]))
        );
        assert_ne!(page_hk, page_key(&[8u8; 32], "example.com", "/pricing").1);
        assert_ne!(
            site_key(&t, "example.com"),
            session_key(&t, "example.com", "")
        );
        assert_eq!(
            tracking_event_key(&t, 42),
            hash_binary(&business_key(&t, &[Some("42")]))
        );
    }

    #[test]
    fn link_keys_hash_the_hub_keys_in_order() {
        let t = [1u8; 32];
        let (a, b) = ([2u8; 32], [3u8; 32]);
        assert_ne!(
            link_key(&t, &[Some(&a), Some(&b)]),
            link_key(&t, &[Some(&b), Some(&a)])
        );
        assert_ne!(link_key(&t, &[Some(&a), None]), link_key(&t, &[Some(&a)]));
        assert_eq!(
            link_key(&t, &[Some(&a), None]),
            hash_binary(&business_key(&t, &[Some(&to_hex(&a)), None]))
        );
    }
}
