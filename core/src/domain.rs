//! Site domains: the one normaliser that every comparison of a host and every stored site key
//! goes through (registration and allowed domains, tracking calls, page URLs, visitor hashes,
//! reports through `onevault_tracking.site_domain(text)`, and shard routing later).
//!
//! A host is normalised by UTS 46 processing (IDNA 2008) to its ASCII form, as browsers and the
//! `url` crate do for URLs: `münchen.de`, `MÜNCHEN.de` and `xn--mnchen-3ya.de` are one host,
//! `xn--mnchen-3ya.de`. It is lower case and without the trailing dot of a fully qualified name
//! (`example.com.` is `example.com`). A site's business key is that form without a leading
//! `www.`. The Unicode form (`münchen.de`) is derived from the ASCII one for display, never
//! stored, so there is one truth.

/// The longest domain name DNS allows, in its ASCII form.
pub const DOMAIN_MAX_BYTES: usize = 253;

/// The normalised ASCII form of a host, or `None` when it cannot be a host name (empty, an empty
/// label, a space, a character IDNA refuses, or a label punycode cannot encode).
pub fn normalize_host(host: &str) -> Option<String> {
    let trimmed = host.trim();
    // One trailing dot is the root of a fully qualified name; more is not a name.
    let name = trimmed.strip_suffix('.').unwrap_or(trimmed);
    if name.is_empty() {
        return None;
    }
    idna::domain_to_ascii(name)
        .ok()
        .filter(|ascii| !ascii.is_empty() && !ascii.split('.').any(str::is_empty))
}

/// The site business key of a host: its normalised form without a leading `www.`.
pub fn site_business_key(host: &str) -> Option<String> {
    let host = normalize_host(host)?;
    Some(match host.strip_prefix("www.") {
        Some(rest) => rest.to_owned(),
        None => host,
    })
}

/// The form to show people: Unicode where a label is punycode (`xn--mnchen-3ya.de` is shown
/// as `münchen.de`), the ASCII form where a label does not decode.
pub fn display_form(ascii: &str) -> String {
    let (unicode, result) = idna::domain_to_unicode(ascii);
    if result.is_ok() {
        unicode
    } else {
        ascii.to_owned()
    }
}

/// Whether a normalised host is a domain a site can be tracked on: `localhost`, or at least two
/// labels (a bare intranet name would merge unrelated sites) of letters, digits and inner
/// hyphens (punycode labels included), each 1 to 63 bytes, at most [`DOMAIN_MAX_BYTES`] in all,
/// the last not all digits, and its own normalised form (a punycode label that does not decode,
/// such as `xn--0`, is no host: found by the fuzzer).
pub fn is_site_host(host: &str) -> bool {
    if host == "localhost" {
        return true;
    }
    host.len() <= DOMAIN_MAX_BYTES
        && host.split('.').count() >= 2
        // No top-level domain is all digits: `1.2.3.4` is an address, not a site.
        && !host.rsplit('.').next().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        && normalize_host(host).as_deref() == Some(host)
}

/// A site domain as `api.register_site` accepts it: normalised, without `www.`, and a domain a
/// site can be tracked on.
pub fn site_domain(domain: &str) -> Option<String> {
    site_business_key(domain).filter(|d| is_site_host(d))
}

/// A site registered with `api.register_site`: its domain (business key) and the domains it may
/// be tracked on (`allowed_domains`, normalised by [`site_domain`] at registration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredSite {
    pub domain: String,
    pub allowed_domains: Vec<String>,
}

/// The site an event on `host` belongs to, among the `registered` sites of its tenant: one site
/// is one visitor and one session whichever of its domains a page is on. The host's business
/// key ([`site_business_key`], so `www.` and the bare domain are one) names its own site when
/// that site is registered; else the registered site that lists it among its allowed domains
/// (of several, the first by domain, so every caller picks the same); else the host's own key
/// (a site that only appears with its events). `None` for a host that has no business key.
pub fn site_of_host(host: &str, registered: &[RegisteredSite]) -> Option<String> {
    let key = site_business_key(host)?;
    if registered.iter().any(|site| site.domain == key) {
        return Some(key);
    }
    let claimed = registered
        .iter()
        .filter(|site| {
            site.allowed_domains
                .iter()
                .any(|allowed| site_business_key(allowed).as_deref() == Some(key.as_str()))
        })
        .map(|site| &site.domain)
        .min();
    Some(claimed.cloned().unwrap_or(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn unicode_case_www_and_the_trailing_dot_are_one_site() {
        for spelling in [
            "münchen.de",
            "MÜNCHEN.de",
            "xn--mnchen-3ya.de",
            "www.münchen.de",
            "münchen.de.",
            " WWW.XN--MNCHEN-3YA.DE. ",
        ] {
            assert_eq!(
                site_domain(spelling).as_deref(),
                Some("xn--mnchen-3ya.de"),
                "{spelling}"
            );
        }
        assert_eq!(site_domain("Example.COM.").as_deref(), Some("example.com"));
        assert_eq!(
            site_domain("bücher.example").as_deref(),
            Some("xn--bcher-kva.example")
        );
        assert_eq!(display_form("xn--mnchen-3ya.de"), "münchen.de");
        assert_eq!(display_form("example.com"), "example.com");
    }

    #[test]
    fn what_is_not_a_site_domain() {
        for bad in [
            "",
            ".",
            "..",
            ".example.com",
            "example.com..",
            "exa mple.com",
            "com",
            "-bad.example",
            "bad-.example",
            "a..b",
            "example.com/path",
            "1.2.3.4",
            "[::1]",
        ] {
            assert_eq!(site_domain(bad), None, "{bad:?}");
        }
        assert_eq!(site_domain("localhost").as_deref(), Some("localhost"));
    }

    #[test]
    fn the_longest_domain_fits_and_one_byte_more_does_not() {
        let label = "a".repeat(63);
        let longest = format!("{label}.{label}.{label}.{}", "b".repeat(61));
        assert_eq!(longest.len(), DOMAIN_MAX_BYTES);
        assert_eq!(site_domain(&longest).as_deref(), Some(longest.as_str()));
        assert_eq!(site_domain(&format!("c{longest}")), None);
        assert_eq!(site_domain(&format!("{}.example", "a".repeat(64))), None);
    }

    fn site(domain: &str, allowed: &[&str]) -> RegisteredSite {
        RegisteredSite {
            domain: domain.into(),
            allowed_domains: allowed.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    #[test]
    fn a_host_belongs_to_its_registered_site() {
        let shop = site("shop.example", &["shop.example", "shop-cdn.example"]);
        let registered = [shop.clone(), site("blog.example", &["blog.example"])];
        for host in [
            "shop.example",
            "www.shop.example",
            "WWW.Shop.Example.",
            "shop-cdn.example",
            "www.shop-cdn.example",
        ] {
            assert_eq!(
                site_of_host(host, &registered).as_deref(),
                Some("shop.example"),
                "{host}"
            );
        }
        assert_eq!(
            site_of_host("blog.example", &registered).as_deref(),
            Some("blog.example")
        );
        // Nobody claims it: the host's own key, as before.
        assert_eq!(
            site_of_host("www.other.example", &registered).as_deref(),
            Some("other.example")
        );
        assert_eq!(site_of_host("", &registered), None);
    }

    #[test]
    fn a_registered_site_keeps_its_own_domain_and_ties_go_to_the_first() {
        // cdn.example is a site of its own and also allowed on shop.example: it stays itself.
        let registered = [
            site(
                "shop.example",
                &["shop.example", "cdn.example", "both.example"],
            ),
            site("cdn.example", &["cdn.example"]),
            site("another.example", &["another.example", "both.example"]),
        ];
        assert_eq!(
            site_of_host("cdn.example", &registered).as_deref(),
            Some("cdn.example")
        );
        assert_eq!(
            site_of_host("both.example", &registered).as_deref(),
            Some("another.example")
        );
    }

    proptest! {
        /// `www.` never makes a second site, and the answer is the host's key or a site that
        /// claims it.
        #[test]
        fn www_and_bare_are_one_site(host in "[a-z0-9]{1,10}\\.(example|test)", extra in proptest::collection::vec("[a-z]{1,6}\\.example", 0..4), own in proptest::bool::ANY) {
            prop_assume!(!host.starts_with("www."));
            let mut registered = vec![site("anchor.example", &extra.iter().map(String::as_str).collect::<Vec<_>>())];
            if own {
                registered.push(site(&host, &[host.as_str()]));
            }
            let bare = site_of_host(&host, &registered);
            prop_assert_eq!(site_of_host(&format!("www.{host}"), &registered), bare.clone());
            let bare = bare.unwrap();
            prop_assert!(bare == host || (bare == "anchor.example" && extra.contains(&host) && !own));
        }
    }

    proptest! {
        /// Normalising is idempotent, and the display form normalises back to the same key.
        #[test]
        fn normalising_is_idempotent_and_display_round_trips(host in "[a-zA-Z0-9äöüßéàçñ-]{1,20}(\\.[a-zA-Z0-9äöüéñ-]{1,20}){1,3}\\.?") {
            if let Some(key) = site_domain(&host) {
                // (`www.www.example.com` loses one `www.` per pass; no site is named so.)
                prop_assume!(!key.starts_with("www."));
                prop_assert_eq!(site_domain(&key), Some(key.clone()));
                prop_assert_eq!(site_domain(&display_form(&key)), Some(key.clone()));
                prop_assert!(key.is_ascii());
            }
        }

        /// Whatever comes in, what comes out is a site host or nothing.
        #[test]
        fn any_input_gives_a_site_host_or_nothing(host in ".{0,300}") {
            if let Some(key) = site_domain(&host) {
                prop_assert!(is_site_host(&key), "{}", key);
            }
            prop_assert!(!display_form(&host).is_empty() || host.is_empty());
        }
    }
}
