//! Where a page view happened and where the visitor came from.
//!
//! # Page location
//!
//! [`parse_page_url`] takes the absolute URL a tracker reports and splits it into the three parts
//! analytics groups by, plus the campaign the URL carries:
//!
//! * **host**: what the `url` crate makes of it (lower-case, IDN as punycode), without a trailing
//!   dot. `www.` is kept: it is part of the site's real address, and merging it is a reporting
//!   decision, not a parsing one. IP hosts are accepted; validation decides whether they are wanted.
//!   Port, user name and password are dropped (credentials must never reach storage).
//! * **path**: the WHATWG-normalised path (dot segments resolved, `\` read as `/`), percent-decoded
//!   for readability (invalid UTF-8 becomes U+FFFD, malformed escapes like `%zz` stay as they are),
//!   and without trailing slashes, so `/pricing/` and `/pricing` are one page. It always starts
//!   with `/` and is never empty. Control characters stay percent-encoded: they are unreadable
//!   anyway, and a NUL cannot be stored in PostgreSQL `text`.
//! * **query**: the raw query without tracking parameters (every `utm_*`, the click ids, and
//!   `_gl`, `mc_eid`, `igshid`, which identify a visitor or sharer and never select content),
//!   the remaining parameters in their original order and original encoding; `None` if nothing
//!   is left. The fragment is dropped: it never reaches a server and rarely names a page.
//!
//! [`parse_page_path`] applies the same rules to a payload that carries only a path.
//!
//! # Campaign
//!
//! Parameter names are matched ASCII-case-insensitively (`utm_Source` counts). Values are form
//! decoded (`+` is a space), control characters become spaces, and the result is trimmed and cut
//! to 500 characters. Empty values count as absent, and the first non-empty occurrence of a
//! parameter wins, so `utm_source=&utm_source=x` still yields `x`.
//!
//! # Channel
//!
//! [`channel`] applies the first rule that matches:
//!
//! 1. **Paid**: an advertising click id (every known one except `fbclid`, which Facebook also adds
//!    to organic links), or a paid `utm_medium`: `cpc`, `ppc`, `cpm`, `cpv`, `cpa`, `display`,
//!    `banner`, `retargeting`, `remarketing`, `affiliate(s)`, or anything starting with `paid`
//!    (`paid`, `paidsearch`, `paid_social`, ...). Affiliates count as paid because the site pays
//!    for those visits, and there is no separate affiliate channel.
//! 2. **Email**: `utm_medium` `email`, `e-mail`, `mail`, `newsletter(s)`; or a `utm_source`
//!    containing `newsletter` or `mail`; or a webmail referrer (Gmail, Outlook, Yahoo Mail,
//!    Proton, Fastmail, ..., any `webmail.*` host, and the Android mail apps).
//! 3. **Social** by campaign: `utm_medium` `social`, `social-network`, `social-media`, `sm`, ...
//! 4. **Search** by campaign: `utm_medium=organic` (the Google Analytics convention).
//! 5. **Internal**: the referrer host equals the page host, ignoring a leading `www.`. Subdomains
//!    are other referrers: `blog.example.com` may well be a different property.
//! 6. **Search** by referrer: Google (every country domain), Bing, DuckDuckGo, Yahoo, Baidu,
//!    Yandex, Ecosia, Brave, Startpage, Qwant, Naver, Seznam, 360 (so.com), Sogou, ..., and the
//!    Google Android app.
//! 7. **Social** by referrer: Facebook, X/Twitter (`t.co`), LinkedIn, Instagram, Reddit,
//!    Pinterest, YouTube, TikTok, Hacker News, Mastodon's big instances, Threads, Bluesky, VK,
//!    Weibo, Quora, and the messengers people share links in (Discord, Slack, Telegram,
//!    WhatsApp): a link posted to a community is social sharing, whatever the medium.
//! 8. **Social** by `fbclid` without any referrer: only Facebook adds it, and its in-app browser
//!    often sends no referrer. With a referrer, the referrer wins (the link was copied elsewhere).
//! 9. **Referral**: any other referrer, or any campaign parameter without a recognised medium.
//! 10. **Direct**: nothing at all.
//!
//! Campaign rules come first because a tagged link states its origin explicitly, while a referrer
//! only shows the last hop (a newsletter link opened in Gmail's web client has a Google referrer).

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

use url::{form_urlencoded, Url};

/// Longest campaign value kept, in characters; real ones are far shorter, longer ones are abuse.
const VALUE_MAX_CHARS: usize = 500;

/// Click ids recorded in [`Campaign::click_ids`] and stripped from the stored query.
const CLICK_IDS: &[&str] = &[
    "gclid",
    "gbraid",
    "wbraid",
    "dclid",
    "msclkid",
    "fbclid",
    "ttclid",
    "twclid",
    "li_fat_id",
    "yclid",
    "epik",
    "rdt_cid",
    "sccid",
];

/// The click id that does not prove a paid click.
const ORGANIC_CLICK_ID: &str = "fbclid";

/// Stripped but not recorded: they identify a visitor or a sharer, and never select content.
const OTHER_TRACKING_PARAMS: &[&str] = &["_gl", "mc_eid", "igshid"];

/// Stands in for the host when a payload has only a path, so the `url` crate can normalise it.
const PLACEHOLDER_ORIGIN: &str = "http://placeholder.invalid";

/// Where a page view happened; the rules are in the module doc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageLocation {
    /// Lower-case, punycode for IDNs, no trailing dot, `www.` kept.
    pub host: String,
    /// Normalised and percent-decoded; starts with `/`, no trailing `/` unless it is `/`.
    pub path: String,
    /// The query without tracking parameters, in original order and encoding; `None` if empty.
    pub query: Option<String>,
}

/// The campaign parameters of a page URL: decoded, trimmed, at most 500 characters each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Campaign {
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub utm_term: Option<String>,
    pub utm_content: Option<String>,
    /// Click id name (lower-case, e.g. `gclid`) to its value.
    pub click_ids: BTreeMap<String, String>,
}

impl Campaign {
    fn has_utm(&self) -> bool {
        self.utm_source.is_some()
            || self.utm_medium.is_some()
            || self.utm_campaign.is_some()
            || self.utm_term.is_some()
            || self.utm_content.is_some()
    }
}

/// Parses an absolute `http`/`https` page URL into its location and campaign.
pub fn parse_page_url(url: &str) -> Result<(PageLocation, Campaign), String> {
    let parsed = Url::parse(url).map_err(|e| match e {
        url::ParseError::RelativeUrlWithoutBase => "not an absolute URL".to_string(),
        url::ParseError::EmptyHost => "no host".to_string(),
        other => format!("unparseable URL: {other}"),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("scheme must be http or https".to_string());
    }
    let host = parsed.host_str().map(strip_trailing_dots).unwrap_or("");
    if host.is_empty() {
        return Err("no host".to_string());
    }
    let (query, campaign) = split_query(parsed.query());
    let location = PageLocation {
        host: host.to_string(),
        path: readable_path(parsed.path()),
        query,
    };
    Ok((location, campaign))
}

/// Normalises a payload's path-only location (`/pricing?utm_source=x`): `(path, query, campaign)`.
///
/// A full `http(s)` URL sent in the path field is read as a URL, because some trackers do that;
/// anything else is a path, even `//example.com/x`, so a payload cannot smuggle in a host.
pub fn parse_page_path(path: &str) -> (String, Option<String>, Campaign) {
    let trimmed = path.trim_matches(|c: char| c.is_ascii_whitespace() || c.is_control());
    if starts_with_ignore_ascii_case(trimmed, "http://")
        || starts_with_ignore_ascii_case(trimmed, "https://")
    {
        if let Ok((location, campaign)) = parse_page_url(trimmed) {
            return (location.path, location.query, campaign);
        }
    }
    let separator = if trimmed.starts_with(['/', '\\']) {
        ""
    } else {
        "/"
    };
    match Url::parse(&format!("{PLACEHOLDER_ORIGIN}{separator}{trimmed}")) {
        Ok(parsed) => {
            let (query, campaign) = split_query(parsed.query());
            (readable_path(parsed.path()), query, campaign)
        }
        // Unreachable in practice (the origin is fixed and paths are lenient); never fail a page
        // view over it.
        Err(_) => ("/".to_string(), None, Campaign::default()),
    }
}

/// The referrer's host for attribution: lower-case, without `www.`, or the package name of an
/// `android-app://` referrer (what Android apps send instead of a URL).
pub fn referrer_host(referrer: &str) -> Option<String> {
    let trimmed = referrer.trim_matches(|c: char| c.is_ascii_whitespace() || c.is_control());
    if starts_with_ignore_ascii_case(trimmed, "android-app://") {
        return android_package(&trimmed["android-app://".len()..]);
    }
    let parsed = Url::parse(trimmed).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return None;
    }
    let host = normalize_host(parsed.host_str()?);
    (!host.is_empty()).then(|| host.to_string())
}

/// How a visitor arrived; see the module doc for the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Direct,
    Search,
    Social,
    Email,
    Paid,
    Internal,
    Referral,
}

impl Channel {
    /// The lower-case name stored and reported.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Direct => "direct",
            Channel::Search => "search",
            Channel::Social => "social",
            Channel::Email => "email",
            Channel::Paid => "paid",
            Channel::Internal => "internal",
            Channel::Referral => "referral",
        }
    }
}

/// The acquisition channel of a visit; the rules and their order are in the module doc.
///
/// Both hosts are normalised again (case, trailing dot, `www.`), so raw hosts work as well as
/// the output of [`referrer_host`] and [`PageLocation::host`].
pub fn channel(
    referrer_host: Option<&str>,
    page_host: Option<&str>,
    campaign: &Campaign,
) -> Channel {
    let referrer = referrer_host
        .map(|h| normalize_host(h).to_ascii_lowercase())
        .filter(|h| !h.is_empty());
    let page = page_host
        .map(|h| normalize_host(h).to_ascii_lowercase())
        .filter(|h| !h.is_empty());
    let medium = campaign.utm_medium.as_deref().map(normalize_medium);
    let medium = medium.as_deref();
    let source = campaign.utm_source.as_deref().map(str::to_lowercase);

    let paid_click = campaign
        .click_ids
        .keys()
        .any(|id| id != ORGANIC_CLICK_ID && CLICK_IDS.contains(&id.as_str()));
    if paid_click || medium.is_some_and(is_paid_medium) {
        return Channel::Paid;
    }
    if medium.is_some_and(|m| EMAIL_MEDIUMS.contains(&m))
        || source
            .as_deref()
            .is_some_and(|s| s.contains("newsletter") || s.contains("mail"))
        || referrer.as_deref().is_some_and(is_webmail)
    {
        return Channel::Email;
    }
    if medium.is_some_and(|m| SOCIAL_MEDIUMS.contains(&m)) {
        return Channel::Social;
    }
    if medium == Some("organic") {
        return Channel::Search;
    }
    if let Some(referrer) = referrer.as_deref() {
        if page.as_deref() == Some(referrer) {
            return Channel::Internal;
        }
        if matches_any(referrer, SEARCH_HOSTS) {
            return Channel::Search;
        }
        if matches_any(referrer, SOCIAL_HOSTS) {
            return Channel::Social;
        }
        return Channel::Referral;
    }
    if campaign.click_ids.contains_key(ORGANIC_CLICK_ID) {
        return Channel::Social;
    }
    if campaign.has_utm() {
        return Channel::Referral;
    }
    Channel::Direct
}

// ---------------------------------------------------------------------------------------------
// Query and path

/// Splits a raw query into what is stored and the campaign it carries.
///
/// Works on the raw pieces rather than re-serialising decoded pairs, so the kept parameters
/// keep their exact encoding (`%20` stays `%20`, not `+`) and a page's query is stable.
fn split_query(raw: Option<&str>) -> (Option<String>, Campaign) {
    let mut campaign = Campaign::default();
    let Some(raw) = raw else {
        return (None, campaign);
    };
    let mut kept: Vec<&str> = Vec::new();
    for piece in raw.split('&').filter(|p| !p.is_empty()) {
        let Some((name, value)) = form_urlencoded::parse(piece.as_bytes()).next() else {
            kept.push(piece);
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        if let Some(utm) = name.strip_prefix("utm_") {
            let slot = match utm {
                "source" => &mut campaign.utm_source,
                "medium" => &mut campaign.utm_medium,
                "campaign" => &mut campaign.utm_campaign,
                "term" => &mut campaign.utm_term,
                "content" => &mut campaign.utm_content,
                // utm_id, utm_source_platform, ...: tracking noise we neither keep nor report.
                _ => continue,
            };
            if slot.is_none() {
                *slot = clean_value(&value);
            }
        } else if CLICK_IDS.contains(&name.as_str()) {
            if let Entry::Vacant(slot) = campaign.click_ids.entry(name) {
                if let Some(value) = clean_value(&value) {
                    slot.insert(value);
                }
            }
        } else if !OTHER_TRACKING_PARAMS.contains(&name.as_str()) {
            kept.push(piece);
        }
    }
    let query = (!kept.is_empty()).then(|| kept.join("&"));
    (query, campaign)
}

/// Trimmed, bounded, free of control characters (PostgreSQL `text` cannot hold NUL); empty is `None`.
fn clean_value(decoded: &str) -> Option<String> {
    let spaced: String = decoded
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut value = spaced.trim();
    if let Some((cut, _)) = value.char_indices().nth(VALUE_MAX_CHARS) {
        value = value[..cut].trim_end();
    }
    (!value.is_empty()).then(|| value.to_string())
}

/// Percent-decodes a path serialised by the `url` crate (so it always starts with `/`), keeps
/// control characters encoded and drops trailing slashes.
fn readable_path(encoded: &str) -> String {
    let decoded = String::from_utf8_lossy(&percent_decode(encoded)).into_owned();
    let mut out = String::with_capacity(decoded.len());
    for c in decoded.chars() {
        if c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    let trimmed = out.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_string()
    } else if trimmed.len() == out.len() {
        out
    } else {
        trimmed.to_string()
    }
}

/// Decodes `%XX` escapes; anything that is not a valid escape is kept literally (WHATWG rule).
/// `+` is not a space in a path.
fn percent_decode(input: &str) -> Vec<u8> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = (bytes[i] == b'%')
            .then(|| {
                Some((
                    hex_value(*bytes.get(i + 1)?)?,
                    hex_value(*bytes.get(i + 2)?)?,
                ))
            })
            .flatten();
        match escape {
            Some((hi, lo)) => {
                out.push(hi << 4 | lo);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

// ---------------------------------------------------------------------------------------------
// Hosts

fn starts_with_ignore_ascii_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

fn strip_trailing_dots(host: &str) -> &str {
    host.trim_end_matches('.')
}

/// Trailing dot and `www.` removed; `www.` alone is left as `www` rather than becoming empty.
fn normalize_host(host: &str) -> &str {
    let host = strip_trailing_dots(host.trim());
    match host.get(..4) {
        Some(prefix) if prefix.eq_ignore_ascii_case("www.") && host.len() > 4 => &host[4..],
        _ => host,
    }
}

/// Android package names are dot-separated Java identifiers; anything else is not a referrer.
fn android_package(rest: &str) -> Option<String> {
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let package = &rest[..end];
    let valid = !package.is_empty()
        && package.split('.').all(|part| {
            !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        });
    valid.then(|| package.to_ascii_lowercase())
}

/// Host patterns: `a.b` matches exactly; a leading `*.` also admits any subdomain; a trailing
/// `.*` stands for one public suffix of a country or generic domain (`google.*` matches
/// `google.com`, `google.de`, `google.co.uk`, `google.com.br`).
fn host_matches(host: &str, pattern: &str) -> bool {
    let (any_subdomain, pattern) = match pattern.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, pattern),
    };
    let matches_here = |candidate: &str| match pattern.strip_suffix(".*") {
        Some(brand) => candidate
            .strip_prefix(brand)
            .and_then(|rest| rest.strip_prefix('.'))
            .is_some_and(is_suffix_like),
        None => candidate == pattern,
    };
    if matches_here(host) {
        return true;
    }
    any_subdomain
        && host
            .match_indices('.')
            .any(|(i, _)| matches_here(&host[i + 1..]))
}

/// `com`, `de`, `co.uk`, `com.au`, ...: what may follow a brand in a `brand.*` pattern. A
/// heuristic, not the public suffix list, which would be a large dependency for a few brands.
fn is_suffix_like(suffix: &str) -> bool {
    let letters = |s: &str, len: std::ops::RangeInclusive<usize>| {
        len.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase())
    };
    let mut labels = suffix.split('.');
    match (labels.next(), labels.next(), labels.next()) {
        (Some(tld), None, None) => letters(tld, 2..=6),
        (Some(second), Some(country), None) => {
            matches!(
                second,
                "co" | "com" | "net" | "org" | "ne" | "or" | "ac" | "go" | "gob"
            ) && letters(country, 2..=2)
        }
        _ => false,
    }
}

fn matches_any(host: &str, patterns: &[&str]) -> bool {
    patterns.iter().any(|p| host_matches(host, p))
}

fn is_webmail(host: &str) -> bool {
    host.starts_with("webmail.") || matches_any(host, WEBMAIL_HOSTS)
}

/// Lower-case, with `_` and spaces read as `-`: taggers write `paid_social`, `Paid Social`, ...
fn normalize_medium(medium: &str) -> String {
    medium
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| if c == '_' || c == ' ' { '-' } else { c })
        .collect()
}

fn is_paid_medium(medium: &str) -> bool {
    medium.starts_with("paid") || PAID_MEDIUMS.contains(&medium)
}

const PAID_MEDIUMS: &[&str] = &[
    "cpc",
    "ppc",
    "cpm",
    "cpv",
    "cpa",
    "display",
    "banner",
    "retargeting",
    "remarketing",
    "affiliate",
    "affiliates",
];

const EMAIL_MEDIUMS: &[&str] = &["email", "e-mail", "mail", "newsletter", "newsletters"];

const SOCIAL_MEDIUMS: &[&str] = &[
    "social",
    "social-network",
    "social-media",
    "socialmedia",
    "socialnetwork",
    "sm",
    "organic-social",
    "social-organic",
];

/// Webmail front ends; also the Android mail apps, whose package names are their referrers.
const WEBMAIL_HOSTS: &[&str] = &[
    "mail.google.com",
    "inbox.google.com",
    "outlook.live.com",
    "outlook.office.com",
    "outlook.office365.com",
    "*.mail.yahoo.*",
    "mail.aol.com",
    "mail.proton.me",
    "mail.protonmail.com",
    "*.fastmail.com",
    "mail.zoho.*",
    "e.mail.ru",
    "mail.yandex.*",
    "*.mail.com",
    "*.gmx.*",
    "app.tuta.com",
    "mail.tutanota.com",
    "email.seznam.cz",
    "mail.naver.com",
    "mail.qq.com",
    "mail.163.com",
    "com.google.android.gm",
    "com.microsoft.office.outlook",
    "com.yahoo.mobile.client.android.mail",
    "ch.protonmail.android",
    "com.samsung.android.email.provider",
];

/// Search engines. `yahoo.*` is the portal whose search box is on the front page; its mail
/// (`mail.yahoo.*`) is caught earlier by the email rule.
const SEARCH_HOSTS: &[&str] = &[
    "google.*",
    "*.bing.com",
    "*.duckduckgo.com",
    "*.search.yahoo.*",
    "yahoo.*",
    "*.baidu.com",
    "yandex.*",
    "ya.ru",
    "*.ecosia.org",
    "search.brave.com",
    "*.startpage.com",
    "*.qwant.com",
    "naver.com",
    "*.search.naver.com",
    "seznam.cz",
    "search.seznam.cz",
    "*.so.com",
    "*.sogou.com",
    "search.aol.com",
    "*.ask.com",
    "kagi.com",
    "*.mojeek.com",
    "search.daum.net",
    "coccoc.com",
    "petalsearch.com",
    "com.google.android.googlequicksearchbox",
];

/// Social networks, link shorteners they own, and the messengers where links are shared.
const SOCIAL_HOSTS: &[&str] = &[
    "*.facebook.com",
    "fb.me",
    "*.messenger.com",
    "t.co",
    "*.twitter.com",
    "x.com",
    "*.linkedin.com",
    "lnkd.in",
    "*.instagram.com",
    "*.reddit.com",
    "redd.it",
    "*.pinterest.*",
    "pin.it",
    "*.youtube.com",
    "youtu.be",
    "*.tiktok.com",
    "news.ycombinator.com",
    "mastodon.social",
    "mastodon.online",
    "mstdn.social",
    "*.threads.net",
    "*.threads.com",
    "bsky.app",
    "*.vk.com",
    "*.weibo.com",
    "weibo.cn",
    "*.quora.com",
    "*.discord.com",
    "discordapp.com",
    "*.slack.com",
    "slack-redir.net",
    "t.me",
    "web.telegram.org",
    "*.whatsapp.com",
    "wa.me",
    "*.snapchat.com",
    "*.tumblr.com",
    "lobste.rs",
    "*.xing.com",
    "line.me",
    "*.douyin.com",
    "com.facebook.katana",
    "com.facebook.orca",
    "com.twitter.android",
    "com.linkedin.android",
    "com.instagram.android",
    "com.reddit.frontpage",
    "com.pinterest",
    "com.google.android.youtube",
    "com.zhiliaoapp.musically",
    "org.telegram.messenger",
    "com.whatsapp",
    "com.slack",
    "com.discord",
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn page(url: &str) -> PageLocation {
        parse_page_url(url).unwrap().0
    }

    fn campaign(url: &str) -> Campaign {
        parse_page_url(url).unwrap().1
    }

    fn utm_source(query: &str) -> Option<String> {
        campaign(&format!("https://example.com/?{query}")).utm_source
    }

    // --- campaign decoding ----------------------------------------------------------------

    #[test]
    fn utm_values_are_form_decoded() {
        let c = campaign(
            "https://example.com/?utm_campaign=spring%20sale&utm_term=caf%C3%A9&utm_content=a+b",
        );
        assert_eq!(c.utm_campaign.as_deref(), Some("spring sale"));
        assert_eq!(c.utm_term.as_deref(), Some("café"));
        assert_eq!(c.utm_content.as_deref(), Some("a b"));
        assert_eq!(
            campaign("https://example.com/?utm_campaign=spring+sale")
                .utm_campaign
                .as_deref(),
            Some("spring sale")
        );
        assert_eq!(utm_source("utm_source=%F0%9F%9A%80").as_deref(), Some("🚀"));
        // Raw non-ASCII is percent-encoded by the parser and decoded back.
        assert_eq!(utm_source("utm_source=café").as_deref(), Some("café"));
    }

    #[test]
    fn malformed_escapes_are_kept_and_invalid_utf8_is_replaced() {
        assert_eq!(utm_source("utm_source=100%zz").as_deref(), Some("100%zz"));
        assert_eq!(utm_source("utm_source=100%").as_deref(), Some("100%"));
        assert_eq!(utm_source("utm_source=%E2%82").as_deref(), Some("\u{FFFD}"));
        assert_eq!(
            utm_source("utm_source=a%E2%82b").as_deref(),
            Some("a\u{FFFD}b")
        );
    }

    #[test]
    fn utm_names_are_case_insensitive_and_the_first_non_empty_value_wins() {
        let c = campaign(
            "https://example.com/?UTM_SOURCE=News&utm_Medium=Email&utm_source=other&Utm_Campaign=x",
        );
        assert_eq!(c.utm_source.as_deref(), Some("News"));
        assert_eq!(c.utm_medium.as_deref(), Some("Email"));
        assert_eq!(c.utm_campaign.as_deref(), Some("x"));
        assert_eq!(
            utm_source("utm_source=&utm_source=later").as_deref(),
            Some("later")
        );
    }

    #[test]
    fn empty_blank_and_control_values_are_absent() {
        let c = campaign(
            "https://example.com/?utm_source=&utm_medium=+++&utm_campaign=%20%09&utm_term&utm_content=%00",
        );
        assert_eq!(c, Campaign::default());
        assert_eq!(utm_source("utm_source=a%00b").as_deref(), Some("a b"));
        assert_eq!(
            utm_source("utm_source=%20%20padded%20").as_deref(),
            Some("padded")
        );
    }

    #[test]
    fn utm_values_are_cut_at_500_characters() {
        let long = "é".repeat(600);
        let got = utm_source(&format!("utm_source={long}")).unwrap();
        assert_eq!(got.chars().count(), 500);
        assert!(got.chars().all(|c| c == 'é'));
        let exact = "a".repeat(500);
        assert_eq!(utm_source(&format!("utm_source={exact}")), Some(exact));
    }

    #[test]
    fn click_ids_are_recorded_by_lower_case_name() {
        let c = campaign(
            "https://example.com/?GCLID=abc&fbclid=fb1&msclkid=ms&li_fat_id=li&gclid=second&ttclid=",
        );
        let expected: BTreeMap<String, String> = [
            ("gclid", "abc"),
            ("fbclid", "fb1"),
            ("msclkid", "ms"),
            ("li_fat_id", "li"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(c.click_ids, expected);
        for id in CLICK_IDS {
            let c = campaign(&format!("https://example.com/?{id}=v"));
            assert_eq!(c.click_ids.get(*id).map(String::as_str), Some("v"), "{id}");
        }
    }

    // --- query --------------------------------------------------------------------------

    #[test]
    fn tracking_parameters_are_stripped_and_the_rest_keep_order_and_encoding() {
        let p = page(
            "https://example.com/p?b=2&utm_source=x&a=1&gclid=g&q=caf%C3%A9+au%20lait&UTM_ID=7&fbclid=f&_gl=1*abc&z",
        );
        assert_eq!(p.query.as_deref(), Some("b=2&a=1&q=caf%C3%A9+au%20lait&z"));
        assert_eq!(
            page("https://example.com/?utm_source=x&gclid=y").query,
            None
        );
        assert_eq!(page("https://example.com/?").query, None);
        assert_eq!(page("https://example.com/").query, None);
        assert_eq!(
            page("https://example.com/?a=1&&b=2&").query.as_deref(),
            Some("a=1&b=2")
        );
        // Only the exact names are tracking parameters.
        assert_eq!(
            page("https://example.com/?utmsource=x&xgclid=y")
                .query
                .as_deref(),
            Some("utmsource=x&xgclid=y")
        );
    }

    #[test]
    fn fragments_are_dropped() {
        let (p, c) = parse_page_url("https://example.com/a?x=1#utm_source=frag").unwrap();
        assert_eq!((p.path.as_str(), p.query.as_deref()), ("/a", Some("x=1")));
        assert_eq!(c, Campaign::default());
    }

    // --- path -----------------------------------------------------------------------------

    #[test]
    fn paths_are_normalised_and_decoded() {
        assert_eq!(page("https://example.com/a/./b/../c/").path, "/a/c");
        assert_eq!(page("https://example.com/").path, "/");
        assert_eq!(page("https://example.com").path, "/");
        assert_eq!(page("https://example.com//").path, "/");
        assert_eq!(page("https://example.com/pricing/").path, "/pricing");
        assert_eq!(page("https://example.com/caf%C3%A9").path, "/café");
        assert_eq!(page("https://example.com/café").path, "/café");
        assert_eq!(page("https://example.com/a%20b+c").path, "/a b+c");
        assert_eq!(page("https://example.com/100%zz").path, "/100%zz");
        assert_eq!(page("https://example.com/x%E2%82").path, "/x\u{FFFD}");
        assert_eq!(page("https://example.com/a/%2e%2E/b").path, "/b");
        assert_eq!(page("https://example.com\\a\\b").path, "/a/b");
        // Controls stay encoded: unreadable, and NUL cannot be stored in text.
        assert_eq!(
            page("https://example.com/a%00b%0a%C2%85").path,
            "/a%00b%0A%C2%85"
        );
    }

    #[test]
    fn path_only_payloads_get_the_same_treatment() {
        let (path, query, c) = parse_page_path("/pricing/?utm_source=x&plan=pro");
        assert_eq!(
            (path.as_str(), query.as_deref()),
            ("/pricing", Some("plan=pro"))
        );
        assert_eq!(c.utm_source.as_deref(), Some("x"));
        assert_eq!(parse_page_path("/a/./b/../c/").0, "/a/c");
        assert_eq!(parse_page_path("caf%C3%A9").0, "/café");
        assert_eq!(parse_page_path("").0, "/");
        assert_eq!(parse_page_path("   ").0, "/");
        assert_eq!(
            parse_page_path("?utm_medium=email"),
            (
                "/".to_string(),
                None,
                Campaign {
                    utm_medium: Some("email".into()),
                    ..Campaign::default()
                }
            )
        );
        // A protocol-relative string is a path, not a way to change the host.
        assert_eq!(parse_page_path("//evil.example/x").0, "//evil.example/x");
        assert_eq!(parse_page_path("/a/../../..").0, "/");
        // Some trackers send the whole URL in the path field.
        let (path, query, c) = parse_page_path("https://example.com/docs/?gclid=1&q=2");
        assert_eq!((path.as_str(), query.as_deref()), ("/docs", Some("q=2")));
        assert!(c.click_ids.contains_key("gclid"));
    }

    // --- host and rejection ---------------------------------------------------------------

    #[test]
    fn hosts_are_lower_case_punycode_without_trailing_dot() {
        assert_eq!(
            page("https://BÜCHER.example/").host,
            "xn--bcher-kva.example"
        );
        assert_eq!(page("HTTPS://WWW.Example.COM./x").host, "www.example.com");
        assert_eq!(
            page("http://user:secret@example.com:8080/").host,
            "example.com"
        );
        assert_eq!(page("http://192.168.0.1/").host, "192.168.0.1");
        assert_eq!(page("http://[::1]:3000/").host, "[::1]");
    }

    #[test]
    fn non_page_urls_are_rejected() {
        for bad in [
            "ftp://example.com/file",
            "javascript:alert(1)",
            "mailto:a@example.com",
            "data:text/html,hi",
            "/relative/path",
            "example.com/path",
            "",
            "https://",
            "http://exa mple.com/",
            "http://./",
        ] {
            assert!(parse_page_url(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(
            parse_page_url("ftp://example.com/").unwrap_err(),
            "scheme must be http or https"
        );
        assert_eq!(parse_page_url("/x").unwrap_err(), "not an absolute URL");
    }

    // --- referrer ---------------------------------------------------------------------------

    #[test]
    fn referrer_hosts_are_normalised() {
        let r = |s: &str| referrer_host(s);
        assert_eq!(
            r("https://www.google.com/search?q=x").as_deref(),
            Some("google.com")
        );
        assert_eq!(r("https://google.com/").as_deref(), Some("google.com"));
        assert_eq!(
            r("HTTP://WWW.Example.COM.:8080/a").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            r("https://www2.example.com/").as_deref(),
            Some("www2.example.com")
        );
        assert_eq!(r("https://www./").as_deref(), Some("www"));
        assert_eq!(
            r("https://BÜCHER.example/").as_deref(),
            Some("xn--bcher-kva.example")
        );
        assert_eq!(r("  https://t.co/abc  ").as_deref(), Some("t.co"));
        assert_eq!(
            r("android-app://com.google.android.gm").as_deref(),
            Some("com.google.android.gm")
        );
        assert_eq!(
            r("android-app://com.Google.Android.GM/https/mail.google.com").as_deref(),
            Some("com.google.android.gm")
        );
        for none in [
            "",
            "   ",
            "not a url",
            "google.com",
            "ftp://x.com/",
            "about:blank",
            "android-app://",
            "android-app://a..b",
            "android-app://a b",
            "javascript:void(0)",
        ] {
            assert_eq!(r(none), None, "{none:?}");
        }
    }

    // --- channel ----------------------------------------------------------------------------

    fn channel_of(referrer: &str, page_url: &str) -> Channel {
        let (location, campaign) = parse_page_url(page_url).unwrap();
        channel(
            referrer_host(referrer).as_deref(),
            Some(&location.host),
            &campaign,
        )
    }

    #[test]
    fn channels() {
        use Channel::*;
        let site = "https://www.shop.example/product";
        let cases: &[(&str, &str, Channel)] = &[
            ("https://www.google.com/", site, Search),
            ("https://www.google.co.uk/", site, Search),
            ("https://google.com.br/", site, Search),
            ("https://www.google.de/url?q=x", site, Search),
            ("https://www.bing.com/search?q=x", site, Search),
            ("https://cn.bing.com/", site, Search),
            ("https://duckduckgo.com/", site, Search),
            ("https://search.yahoo.com/", site, Search),
            ("https://uk.search.yahoo.com/", site, Search),
            ("https://yandex.ru/", site, Search),
            ("https://www.ecosia.org/", site, Search),
            ("https://search.brave.com/", site, Search),
            (
                "android-app://com.google.android.googlequicksearchbox",
                site,
                Search,
            ),
            ("https://t.co/xyz", site, Social),
            ("https://l.facebook.com/l.php", site, Social),
            ("https://m.facebook.com/", site, Social),
            ("https://www.linkedin.com/feed/", site, Social),
            ("https://www.reddit.com/r/rust/", site, Social),
            ("https://old.reddit.com/", site, Social),
            ("https://news.ycombinator.com/item?id=1", site, Social),
            ("https://www.pinterest.co.uk/", site, Social),
            ("https://bsky.app/", site, Social),
            ("https://app.slack.com/", site, Social),
            ("android-app://com.linkedin.android", site, Social),
            ("https://mail.google.com/mail/u/0/", site, Email),
            ("https://outlook.live.com/", site, Email),
            ("https://us.mail.yahoo.com/", site, Email),
            ("https://webmail.example.org/", site, Email),
            ("android-app://com.google.android.gm", site, Email),
            ("https://www.shop.example/cart", site, Internal),
            ("https://shop.example/cart", site, Internal),
            ("https://blog.shop.example/", site, Referral),
            ("https://someones-blog.example/post", site, Referral),
            ("https://docs.google.com/", site, Referral),
            ("https://google.example.com/", site, Referral),
            ("", site, Direct),
            ("not a url", site, Direct),
            // Campaigns.
            ("", "https://shop.example/?gclid=abc", Paid),
            (
                "https://www.google.com/",
                "https://shop.example/?gbraid=abc",
                Paid,
            ),
            (
                "https://l.facebook.com/",
                "https://shop.example/?fbclid=abc",
                Social,
            ),
            ("", "https://shop.example/?fbclid=abc", Social),
            (
                "https://someones-blog.example/",
                "https://shop.example/?fbclid=abc",
                Referral,
            ),
            (
                "",
                "https://shop.example/?utm_source=news&utm_medium=email",
                Email,
            ),
            (
                "https://www.google.com/",
                "https://shop.example/?utm_medium=E-Mail",
                Email,
            ),
            (
                "",
                "https://shop.example/?utm_source=weekly_newsletter",
                Email,
            ),
            (
                "",
                "https://shop.example/?utm_source=mailchimp&utm_medium=blast",
                Email,
            ),
            (
                "",
                "https://shop.example/?utm_source=google&utm_medium=cpc",
                Paid,
            ),
            ("", "https://shop.example/?utm_medium=Paid_Social", Paid),
            ("", "https://shop.example/?utm_medium=affiliate", Paid),
            (
                "",
                "https://shop.example/?utm_source=newsletter&utm_medium=cpc",
                Paid,
            ),
            (
                "",
                "https://shop.example/?utm_source=facebook&utm_medium=social",
                Social,
            ),
            (
                "https://www.google.com/",
                "https://shop.example/?utm_medium=sm",
                Social,
            ),
            (
                "",
                "https://shop.example/?utm_source=google&utm_medium=organic",
                Search,
            ),
            ("", "https://shop.example/?utm_source=partner", Referral),
            ("", "https://shop.example/?utm_campaign=spring", Referral),
            (
                "https://www.google.com/",
                "https://shop.example/?utm_source=partner",
                Search,
            ),
            (
                "https://shop.example/",
                "https://shop.example/?utm_medium=email",
                Email,
            ),
            ("", "https://shop.example/?plain=1", Direct),
        ];
        for (referrer, page_url, expected) in cases {
            assert_eq!(
                channel_of(referrer, page_url),
                *expected,
                "referrer {referrer:?}, page {page_url:?}"
            );
        }
    }

    #[test]
    fn channel_normalises_raw_hosts_and_tolerates_missing_ones() {
        let none = Campaign::default();
        assert_eq!(
            channel(Some("WWW.Google.COM."), None, &none),
            Channel::Search
        );
        assert_eq!(
            channel(Some("www.shop.example"), Some("SHOP.example."), &none),
            Channel::Internal
        );
        assert_eq!(
            channel(Some("shop.example"), None, &none),
            Channel::Referral
        );
        assert_eq!(channel(Some(""), Some(""), &none), Channel::Direct);
        assert_eq!(channel(None, Some("shop.example"), &none), Channel::Direct);
    }

    #[test]
    fn channel_names() {
        use Channel::*;
        let names: Vec<&str> = [Direct, Search, Social, Email, Paid, Internal, Referral]
            .into_iter()
            .map(Channel::as_str)
            .collect();
        assert_eq!(
            names,
            ["direct", "search", "social", "email", "paid", "internal", "referral"]
        );
    }

    #[test]
    fn host_patterns() {
        assert!(host_matches("google.com", "google.*"));
        assert!(host_matches("google.co.jp", "google.*"));
        assert!(!host_matches("google.evil.com", "google.*"));
        assert!(!host_matches("notgoogle.com", "google.*"));
        assert!(!host_matches("mail.google.com", "google.*"));
        assert!(host_matches("pinterest.com.au", "*.pinterest.*"));
        assert!(host_matches("uk.pinterest.com", "*.pinterest.*"));
        assert!(host_matches("bing.com", "*.bing.com"));
        assert!(!host_matches("notbing.com", "*.bing.com"));
        assert!(!host_matches("", "*.bing.com"));
        assert!(!host_matches(".", "*.bing.com"));
    }

    #[test]
    fn huge_and_hostile_inputs_do_not_panic() {
        let mb = "a".repeat(1 << 20);
        let _ = parse_page_url(&format!("https://example.com/{mb}?utm_source={mb}&{mb}"));
        let _ = parse_page_url(&format!("https://{mb}.com/"));
        let _ = parse_page_path(&format!(
            "/{}?utm_term={}",
            "%".repeat(1 << 20),
            "%E2".repeat(1 << 18)
        ));
        let _ = referrer_host(&format!("https://{}/", "a.".repeat(1 << 19)));
        let _ = referrer_host(&format!("android-app://{}", "a.".repeat(1 << 19)));
        let dots = "a.".repeat(1 << 18);
        let _ = channel(Some(&dots), Some(&dots), &Campaign::default());
        let _ = parse_page_url("https://exa\0mple.com/\0?utm_source=\0");
        let _ = parse_page_path("\0/\u{FFFF}?\0=\0&utm_source=\u{10FFFF}");
    }

    fn long_string() -> impl Strategy<Value = String> {
        (proptest::collection::vec(any::<char>(), 1..16), 0usize..200)
            .prop_map(|(chunk, times)| chunk.into_iter().collect::<String>().repeat(times))
    }

    fn url_like() -> impl Strategy<Value = String> {
        (
            "(https?|HTTP|ftp|android-app|javascript)?(:|://)?",
            "[a-zA-Z0-9.\\-Ü\\[\\]:@]{0,20}",
            "[a-zA-Z0-9/.%?&=+#_ \\\\\u{0}é🚀\\-]{0,80}",
        )
            .prop_map(|(scheme, host, rest)| format!("{scheme}{host}{rest}"))
    }

    fn check_all(s: &str) -> Result<(), TestCaseError> {
        if let Ok((location, c)) = parse_page_url(s) {
            prop_assert!(location.path.starts_with('/'), "{:?}", location.path);
            prop_assert!(location.path == "/" || !location.path.ends_with('/'));
            prop_assert!(!location.path.contains(char::is_control));
            prop_assert!(!location.host.is_empty());
            prop_assert!(location.query.as_deref() != Some(""));
            check_campaign(&c)?;
        }
        let (path, query, c) = parse_page_path(s);
        prop_assert!(path.starts_with('/'));
        prop_assert!(query.as_deref() != Some(""));
        check_campaign(&c)?;
        let host = referrer_host(s);
        prop_assert!(host.as_deref() != Some(""));
        let _ = channel(host.as_deref(), Some(s), &c);
        let _ = channel(Some(s), None, &c);
        Ok(())
    }

    fn check_campaign(c: &Campaign) -> Result<(), TestCaseError> {
        let values = [
            &c.utm_source,
            &c.utm_medium,
            &c.utm_campaign,
            &c.utm_term,
            &c.utm_content,
        ];
        for v in values.into_iter().flatten().chain(c.click_ids.values()) {
            prop_assert!(v.chars().count() <= VALUE_MAX_CHARS);
            prop_assert!(!v.is_empty() && v.trim() == v);
            prop_assert!(!v.contains(char::is_control));
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn arbitrary_strings_do_not_panic(s in ".*") {
            check_all(&s)?;
        }

        #[test]
        fn url_like_strings_do_not_panic(s in url_like()) {
            check_all(&s)?;
        }

        #[test]
        fn urls_with_arbitrary_paths_and_queries(path in ".{0,60}", query in ".{0,60}") {
            let url = format!("https://example.com/{path}?{query}");
            check_all(&url)?;
            // Whatever follows a valid origin, the page is accepted.
            prop_assert!(parse_page_url(&url).is_ok());
        }

        #[test]
        fn utm_values_are_bounded(value in long_string(), name in "utm_(source|medium|campaign|term|content)|gclid") {
            let url = format!("https://example.com/?{name}={value}");
            check_all(&url)?;
            let (_, c) = parse_page_url(&url).unwrap();
            check_campaign(&c)?;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]
        #[test]
        fn large_strings_do_not_panic(chunk in proptest::collection::vec(any::<char>(), 1..64)) {
            let s: String = chunk.iter().cycle().take(100_000).collect();
            check_all(&s)?;
            check_all(&format!("https://example.com/{s}?utm_source={s}"))?;
        }
    }
}
