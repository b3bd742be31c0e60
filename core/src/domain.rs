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
/// the last not all digits.
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
}

/// A site domain as `api.register_site` accepts it: normalised, without `www.`, and a domain a
/// site can be tracked on.
pub fn site_domain(domain: &str) -> Option<String> {
    site_business_key(domain).filter(|d| is_site_host(d))
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
