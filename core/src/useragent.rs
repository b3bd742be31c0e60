//! What the analytics tables record about the client software: browser, OS, device class, bot.
//!
//! Browser and OS names and versions come from the uap-core dataset (vendored in
//! `data/uap-core/regexes.yaml`, the same data behind ua-parser in Python, Java, Go...), so
//! the figures match what other analytics stacks report. Its names are kept as they are
//! ("Chrome", "Chrome Mobile", "Mobile Safari", "Edge", "Samsung Internet", ...) except where
//! they mislead a reader of a dashboard:
//!
//! - uap's family `Other` means "no rule matched"; it is reported as `None`, so unknown
//!   software is not counted as a browser or OS called "Other".
//! - `Mac OS X` is reported as `macOS`, the name Apple has used since 2016. Its version is
//!   whatever the UA claims: Safari and Chrome freeze it at 10.15.7, so macOS 11+ is
//!   invisible in those UAs (Firefox reports the real one).
//! - uap reports every iPad as `iOS`. Apple renamed the iPad system iPadOS with version 13, so
//!   an iPad with iOS major >= 13 is reported as `iPadOS`, earlier ones stay `iOS`. Safari on
//!   iPadOS 13+ sends a Mac UA by default; those visits are indistinguishable from a Mac and
//!   count as macOS desktop.
//!
//! Versions are uap's major[.minor[.patch]], cut at the first missing part and never
//! invented (`None` when uap has no major version).
//!
//! A request is a bot when uap classifies it as `Spider` (device or browser family), when
//! the isbot pattern list matches (curl, wget, python-requests, HeadlessChrome, Googlebot,
//! bingbot, facebookexternalhit, ...), or when there is no user agent at all (absent, empty
//! or whitespace): browsers always send one, so like Plausible we treat UA-less requests as
//! server-side calls rather than visitors.
//!
//! The device class is decided from the UA tokens the browsers document for that purpose
//! (MDN's "Mobi" advice, Android's "Mobile" convention), helped by uap's device family. The
//! first rule that applies wins:
//!
//! - `Bot` whenever the request is a bot, so bot traffic never inflates a device share.
//! - `Other` for TVs, set-top boxes, consoles and VR headsets, checked before anything else
//!   because their UAs borrow desktop or Android tokens (the Xbox claims Windows NT, Fire TV
//!   and Android TV claim Android without "Mobile").
//! - `Tablet`: iPad; Kindle/Silk (their UAs may carry "Mobile"); uap's `Generic Tablet` device
//!   or `Generic_Android_Tablet` brand; a "Tablet" token (but not Windows' "Tablet PC", which
//!   old desktop IE UAs carry for pen support); Android without "Mobile", which is how Android
//!   browsers tell tablets apart.
//! - `Mobile`: iPhone/iPod, Windows Phone, Opera Mini, a "Mobi" token (covers Android's
//!   "Mobile", Firefox OS/KaiOS's "(Mobile;", "Opera Mobi", "IEMobile"), uap's
//!   `Generic Smartphone`.
//! - `Desktop`: Windows, macOS, Linux (not Android), ChromeOS, BSDs and Linux distributions,
//!   recognised by uap's OS name or by the "Windows NT", "Macintosh", "X11", "CrOS" tokens.
//! - `Other` for everything else, rather than guessing.
//!
//! Parsing never panics. UAs longer than [`MAX_PARSED_BYTES`] are parsed on their first
//! `MAX_PARSED_BYTES` bytes only: real UAs are a few hundred bytes, and the cap bounds the cost
//! of running hundreds of regexes over attacker-controlled input.
//!
//! Building a [`UserAgentParser`] compiles the whole dataset (~100 ms); build one per process
//! and reuse it. It holds no cache: parsing is a pure function of the input, and the caller
//! decides whether and how to cache.

use std::borrow::Cow;

/// UAs are parsed on at most this many leading bytes.
pub const MAX_PARSED_BYTES: usize = 2048;

const UAP_REGEXES: &str = include_str!("../data/uap-core/regexes.yaml");

/// Device class of a request, as stored in the analytics tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceType {
    Desktop,
    Mobile,
    Tablet,
    Bot,
    Other,
}

impl DeviceType {
    /// The stored (lowercase) name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceType::Desktop => "desktop",
            DeviceType::Mobile => "mobile",
            DeviceType::Tablet => "tablet",
            DeviceType::Bot => "bot",
            DeviceType::Other => "other",
        }
    }
}

/// What a user agent says about the client; `None` means unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAgentInfo {
    pub browser_name: Option<String>,
    /// major.minor or major.minor.patch, as far as uap gives it.
    pub browser_version: Option<String>,
    pub os_name: Option<String>,
    pub os_version: Option<String>,
    pub device_type: DeviceType,
    pub is_bot: bool,
}

impl UserAgentInfo {
    fn absent() -> Self {
        UserAgentInfo {
            browser_name: None,
            browser_version: None,
            os_name: None,
            os_version: None,
            device_type: DeviceType::Bot,
            is_bot: true,
        }
    }
}

/// The compiled uap-core dataset plus the isbot patterns. Immutable once built.
pub struct UserAgentParser {
    uap: ua_parser::Extractor<'static>,
    bots: isbot::Bots,
}

impl Default for UserAgentParser {
    fn default() -> Self {
        Self::new()
    }
}

impl UserAgentParser {
    /// Compiles the embedded dataset. Panics only if the vendored `regexes.yaml` is broken,
    /// which the tests rule out.
    pub fn new() -> Self {
        let regexes: ua_parser::Regexes<'static> = serde_saphyr::from_str(UAP_REGEXES)
            .expect("vendored data/uap-core/regexes.yaml is not valid uap-core YAML");
        let uap = ua_parser::Extractor::try_from(regexes)
            .expect("vendored data/uap-core/regexes.yaml has a regex ua-parser cannot compile");
        UserAgentParser {
            uap,
            bots: isbot::Bots::default(),
        }
    }

    /// Parses a `User-Agent` header value (`None` when the request had none).
    pub fn parse(&self, user_agent: Option<&str>) -> UserAgentInfo {
        let ua = truncate(user_agent.unwrap_or("").trim(), MAX_PARSED_BYTES).trim();
        if ua.is_empty() {
            return UserAgentInfo::absent();
        }

        let browser = self.uap.ua.extract(ua);
        let os = self.uap.os.extract(ua);
        let device = self.uap.dev.extract(ua);

        let device_family = device.as_ref().map_or("", |d| d.device.as_ref());
        let device_brand = device
            .as_ref()
            .and_then(|d| d.brand.as_deref())
            .unwrap_or("");
        let browser_family = browser.as_ref().map_or("", |b| b.family.as_ref());

        let is_bot =
            device_family == "Spider" || browser_family == "Spider" || self.bots.is_bot(ua);

        let (browser_name, browser_version) = match &browser {
            Some(b) => (
                known(&b.family),
                version([b.major, b.minor, b.patch].map(|p| p.map(Cow::Borrowed))),
            ),
            None => (None, None),
        };

        let is_ipad = device_family == "iPad" || ua.contains("iPad");
        let (os_name, os_version) = match os {
            Some(o) => {
                let name = known(&o.os).map(|name| os_display_name(name, &o.major, is_ipad));
                (name, version([o.major, o.minor, o.patch]))
            }
            None => (None, None),
        };

        let device_type = if is_bot {
            DeviceType::Bot
        } else {
            classify_device(ua, device_family, device_brand, os_name.as_deref(), is_ipad)
        };

        UserAgentInfo {
            browser_name,
            browser_version,
            os_name,
            os_version,
            device_type,
            is_bot,
        }
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// uap's "Other" is its "no rule matched", not a product name.
fn known(family: &str) -> Option<String> {
    let family = family.trim();
    (!family.is_empty() && family != "Other").then(|| family.to_owned())
}

/// Joins the version parts up to the first missing one; without a major there is no version.
/// Some uap rules capture a part with its separator (`FxiOS/10.2.1` has the patch `.1`), so
/// dots at the ends of a part are dropped: the result is never `10.2..1`.
fn version(parts: [Option<Cow<'_, str>>; 3]) -> Option<String> {
    let mut out = String::new();
    for part in parts {
        match part
            .as_deref()
            .map(|p| p.trim_matches(|c: char| c.is_whitespace() || c == '.'))
        {
            Some(p) if !p.is_empty() => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(p);
            }
            _ => break,
        }
    }
    (!out.is_empty()).then_some(out)
}

fn os_display_name(name: String, major: &Option<Cow<'_, str>>, is_ipad: bool) -> String {
    match name.as_str() {
        "Mac OS X" => "macOS".to_owned(),
        "iOS" if is_ipad && major_at_least(major, 13) => "iPadOS".to_owned(),
        _ => name,
    }
}

fn major_at_least(major: &Option<Cow<'_, str>>, min: u32) -> bool {
    major
        .as_deref()
        .and_then(|m| m.trim().parse::<u32>().ok())
        .is_some_and(|m| m >= min)
}

/// Lowercase tokens of TVs, set-top boxes, consoles and VR headsets. Matched before the
/// desktop and Android rules because these UAs borrow their tokens.
const OTHER_DEVICE_TOKENS: &[&str] = &[
    "smart-tv",
    "smarttv",
    "smart tv",
    "googletv",
    "google tv",
    "android tv",
    "hbbtv",
    "appletv",
    "apple tv",
    "crkey",
    "roku",
    "web0s",
    "netcast",
    "bravia",
    "playstation",
    "xbox",
    "nintendo",
    "oculusbrowser",
    " tv safari",
];

/// uap OS names that only run on desktops and laptops.
const DESKTOP_OSES: &[&str] = &[
    "Windows",
    "macOS",
    "Mac OS",
    "Linux",
    "Chrome OS",
    "ChromeOS",
    "Ubuntu",
    "Kubuntu",
    "Xubuntu",
    "Lubuntu",
    "Fedora",
    "Debian",
    "Mint",
    "Linux Mint",
    "Red Hat",
    "CentOS",
    "SUSE",
    "openSUSE",
    "Gentoo",
    "Arch Linux",
    "Slackware",
    "Mandriva",
    "FreeBSD",
    "OpenBSD",
    "NetBSD",
    "DragonFly",
    "Solaris",
];

fn classify_device(
    ua: &str,
    device_family: &str,
    device_brand: &str,
    os_name: Option<&str>,
    is_ipad: bool,
) -> DeviceType {
    let lower = ua.to_ascii_lowercase();
    // Fire TV models are "AFT" + capitals (AFTMM, AFTKA...); case matters to avoid "drafts".
    if OTHER_DEVICE_TOKENS.iter().any(|t| lower.contains(t)) || ua.contains("; AFT") {
        return DeviceType::Other;
    }

    // iPads say "Mobile/15E148", Kindles may say "Mobile Safari": decide tablets first.
    if is_ipad {
        return DeviceType::Tablet;
    }
    if ua.contains("iPhone") || ua.contains("iPod") || device_family == "iPhone" {
        return DeviceType::Mobile;
    }
    if ua.contains("Kindle") || ua.contains("Silk/") {
        return DeviceType::Tablet;
    }
    if device_family == "Generic Tablet"
        || device_brand == "Generic_Android_Tablet"
        || (ua.contains("Tablet") && !ua.contains("Tablet PC"))
    {
        return DeviceType::Tablet;
    }
    if ua.contains("Windows Phone") || ua.contains("Opera Mini") || ua.contains("Mobi") {
        return DeviceType::Mobile;
    }
    // Android phones said "Mobile" above; Android browsers leave it out on tablets. uap's
    // "Generic Smartphone" is its fallback for any Android, so it only counts after this.
    if ua.contains("Android") {
        return DeviceType::Tablet;
    }
    if device_family == "Generic Smartphone" {
        return DeviceType::Mobile;
    }

    let desktop_os = os_name.is_some_and(|name| {
        DESKTOP_OSES.contains(&name)
            || name.starts_with("Windows")
                && !["Windows CE", "Windows Phone", "Windows Mobile"].contains(&name)
    });
    let desktop_token = ["Windows NT", "Macintosh", "X11", "CrOS", "Linux"]
        .iter()
        .any(|t| ua.contains(t));
    if desktop_os || desktop_token {
        return DeviceType::Desktop;
    }
    DeviceType::Other
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    fn parser() -> &'static UserAgentParser {
        static PARSER: OnceLock<UserAgentParser> = OnceLock::new();
        PARSER.get_or_init(UserAgentParser::new)
    }

    fn parse(ua: &str) -> UserAgentInfo {
        parser().parse(Some(ua))
    }

    #[test]
    fn the_vendored_dataset_builds_and_the_parser_can_be_shared() {
        fn shareable<T: Send + Sync>() {}
        shareable::<UserAgentParser>();
        let info = parse(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
        );
        assert_eq!(info.browser_name.as_deref(), Some("Firefox"));
    }

    #[test]
    fn device_type_names() {
        for (d, s) in [
            (DeviceType::Desktop, "desktop"),
            (DeviceType::Mobile, "mobile"),
            (DeviceType::Tablet, "tablet"),
            (DeviceType::Bot, "bot"),
            (DeviceType::Other, "other"),
        ] {
            assert_eq!(d.as_str(), s);
        }
    }

    use DeviceType::{Bot, Desktop, Mobile, Other, Tablet};

    /// (user agent, browser, browser major, os, os major, device type, is bot)
    type Case = (
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        DeviceType,
        bool,
    );

    const CORPUS: &[Case] = &[
        // Apple mobile
        ("Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
         Some("Mobile Safari"), Some("17"), Some("iPadOS"), Some("17"), Tablet, false),
        ("Mozilla/5.0 (iPad; CPU OS 12_5_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.1.2 Mobile/15E148 Safari/604.1",
         Some("Mobile Safari"), Some("12"), Some("iOS"), Some("12"), Tablet, false),
        ("Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/123.0.6312.52 Mobile/15E148 Safari/604.1",
         Some("Chrome Mobile iOS"), Some("123"), Some("iPadOS"), Some("17"), Tablet, false),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
         Some("Mobile Safari"), Some("17"), Some("iOS"), Some("17"), Mobile, false),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/123.0.6312.52 Mobile/15E148 Safari/604.1",
         Some("Chrome Mobile iOS"), Some("123"), Some("iOS"), Some("17"), Mobile, false),
        // Android
        ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
         Some("Chrome Mobile"), Some("124"), Some("Android"), Some("10"), Mobile, false),
        ("Mozilla/5.0 (Linux; Android 14; Pixel 8 Pro) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.6261.119 Mobile Safari/537.36",
         Some("Chrome Mobile"), Some("122"), Some("Android"), Some("14"), Mobile, false),
        ("Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36",
         Some("Chrome"), Some("121"), Some("Android"), Some("13"), Tablet, false),
        ("Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
         Some("Samsung Internet"), Some("23"), Some("Android"), Some("13"), Mobile, false),
        ("Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0",
         Some("Firefox Mobile"), Some("125"), Some("Android"), Some("14"), Mobile, false),
        ("Mozilla/5.0 (Android 13; Tablet; rv:125.0) Gecko/125.0 Firefox/125.0",
         Some("Firefox Mobile"), Some("125"), Some("Android"), Some("13"), Tablet, false),
        ("Mozilla/5.0 (Linux; Android 9; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/124.3.1 like Chrome/124.0.6367.179 Safari/537.36",
         Some("Amazon Silk"), Some("124"), Some("Android"), Some("9"), Tablet, false),
        // Desktop
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51",
         Some("Edge"), Some("124"), Some("Windows"), Some("10"), Desktop, false),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
         Some("Chrome"), Some("124"), Some("Windows"), Some("10"), Desktop, false),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
         Some("Firefox"), Some("125"), Some("Windows"), Some("10"), Desktop, false),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 OPR/110.0.0.0",
         Some("Opera"), Some("110"), Some("Windows"), Some("10"), Desktop, false),
        ("Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
         Some("IE"), Some("11"), Some("Windows"), Some("7"), Desktop, false),
        ("Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; WOW64; Trident/4.0; SLCC2; .NET CLR 2.0.50727; Media Center PC 6.0; Tablet PC 2.0)",
         Some("IE"), Some("8"), Some("Windows"), Some("7"), Desktop, false),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
         Some("Chrome"), Some("124"), Some("macOS"), Some("10"), Desktop, false),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
         Some("Safari"), Some("17"), Some("macOS"), Some("10"), Desktop, false),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0",
         Some("Firefox"), Some("125"), Some("macOS"), Some("14"), Desktop, false),
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
         Some("Chrome"), Some("124"), Some("Linux"), None, Desktop, false),
        ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
         Some("Firefox"), Some("125"), Some("Ubuntu"), None, Desktop, false),
        ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
         Some("Chrome"), Some("124"), Some("Chrome OS"), Some("14541"), Desktop, false),
        // Other mobile
        ("Mozilla/5.0 (Mobile; Windows Phone 8.1; Android 4.0; ARM; Trident/7.0; Touch; rv:11.0; IEMobile/11.0; NOKIA; Lumia 635) like iPhone OS 7_0_3 Mac OS X AppleWebKit/537 (KHTML, like Gecko) Mobile Safari/537",
         Some("IE Mobile"), Some("11"), Some("Windows Phone"), Some("8"), Mobile, false),
        ("Opera/9.80 (J2ME/MIDP; Opera Mini/9.80 (S60; SymbOS; Opera Mobi/23.348; U; en) Presto/2.5.25 Version/10.54",
         Some("Opera Mini"), Some("9"), Some("Symbian OS"), None, Mobile, false),
        // TVs and consoles
        ("Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) 85.0.4183.93/6.0 TV Safari/537.36",
         Some("Safari"), None, Some("Tizen"), Some("6"), Other, false),
        ("Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.0 Safari/605.1.15",
         Some("Safari"), Some("13"), None, None, Other, false),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox One) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edge/44.18363.8131",
         Some("Edge"), Some("44"), Some("Windows"), Some("10"), Other, false),
        // Bots and tools
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
         Some("Googlebot"), Some("2"), None, None, Bot, true),
        ("Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.155 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
         Some("Googlebot"), Some("2"), Some("Android"), Some("6"), Bot, true),
        ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
         Some("bingbot"), Some("2"), None, None, Bot, true),
        ("curl/8.4.0", Some("curl"), Some("8"), None, None, Bot, true),
        ("Wget/1.21.4", Some("Wget"), Some("1"), None, None, Bot, true),
        ("python-requests/2.31.0", Some("Python Requests"), Some("2"), None, None, Bot, true),
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.6367.60 Safari/537.36",
         Some("HeadlessChrome"), Some("124"), Some("Linux"), None, Bot, true),
        ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
         Some("FacebookBot"), Some("1"), None, None, Bot, true),
        ("Mozilla/5.0 (Linux; Android 7.0;) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; PetalBot;+https://webmaster.petalsearch.com/site/petalbot)",
         Some("PetalBot"), None, None, None, Bot, true),
        // No UA, unknown UA
        ("", None, None, None, None, Bot, true),
        ("   \t ", None, None, None, None, Bot, true),
        ("Test Browser", None, None, None, None, Other, false),
    ];

    fn major(version: &Option<String>) -> Option<&str> {
        version.as_deref().map(|v| v.split('.').next().unwrap_or(v))
    }

    #[test]
    fn corpus() {
        let mut failures = Vec::new();
        for &(ua, browser, browser_major, os, os_major, device, bot) in CORPUS {
            let got = parse(ua);
            let actual = (
                got.browser_name.as_deref(),
                major(&got.browser_version),
                got.os_name.as_deref(),
                major(&got.os_version),
                got.device_type,
                got.is_bot,
            );
            let expected = (browser, browser_major, os, os_major, device, bot);
            if actual != expected {
                failures.push(format!(
                    "{ua:?}\n  expected {expected:?}\n  got      {actual:?}"
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert!(CORPUS.len() >= 25);
    }

    #[test]
    fn uap_spiders_are_bots() {
        let ua =
            "Mozilla/5.0 (compatible;PetalBot;+https://webmaster.petalsearch.com/site/petalbot)";
        let device = parser().uap.dev.extract(ua).map(|d| d.device.into_owned());
        assert_eq!(device.as_deref(), Some("Spider"));
        assert_eq!(parse(ua).device_type, Bot);
    }

    #[test]
    fn versions_keep_what_uap_gives() {
        let edge = parse("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51");
        assert_eq!(edge.browser_version.as_deref(), Some("124.0.2478"));
        let mac = parse("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15");
        assert_eq!(mac.browser_version.as_deref(), Some("17.4.1"));
        assert_eq!(mac.os_version.as_deref(), Some("10.15.7"));
        let ipad = parse("Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1");
        assert_eq!(ipad.browser_version.as_deref(), Some("17.1"));
        assert_eq!(ipad.os_version.as_deref(), Some("17.1"));
        // uap captures FxiOS's patch with its dot (found by tests/fuzz).
        let fxios = parse("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/124.2.1 Mobile/15E148 Safari/605.1.15");
        assert_eq!(fxios.browser_name.as_deref(), Some("Firefox iOS"));
        assert_eq!(fxios.browser_version.as_deref(), Some("124.2.1"));
    }

    #[test]
    fn absent_ua_is_a_bot() {
        assert_eq!(parser().parse(None), UserAgentInfo::absent());
        assert_eq!(parser().parse(Some("")), UserAgentInfo::absent());
        assert_eq!(parser().parse(Some(" \r\n")), UserAgentInfo::absent());
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("abc", 2), "ab");
        assert_eq!(truncate("é", 1), "");
        assert_eq!(truncate("aé", 2), "a");
        assert_eq!(truncate("aé", 3), "aé");
        let s = format!("a{}", "é".repeat(2000));
        let t = truncate(&s, MAX_PARSED_BYTES);
        assert!(t.len() <= MAX_PARSED_BYTES && t.len() >= MAX_PARSED_BYTES - 3);
        assert!(s.starts_with(t));
    }

    #[test]
    fn only_the_head_of_a_long_ua_is_parsed() {
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
        // A bot token past the cap is not seen; the browser before it still is.
        let padded = format!("{chrome} {} Googlebot/2.1", "x".repeat(1 << 20));
        let got = parse(&padded);
        assert_eq!(got.browser_name.as_deref(), Some("Chrome"));
        assert_eq!(got.device_type, Desktop);
        assert!(!got.is_bot);
        // One megabyte of multi-byte characters, cut mid-character, with NULs.
        let nasty = format!("\0{}\0\\x00\\u{{0}}", "ü€😀".repeat(1 << 17));
        let got = parse(&nasty);
        assert_eq!(got.is_bot, got.device_type == Bot);
    }

    #[test]
    fn nul_and_escape_like_input_does_not_panic() {
        for ua in [
            "\0",
            "Mozilla/5.0\0(iPhone; CPU iPhone OS 17_4 like Mac OS X)",
            "\\x00\\u0000\\\\%00%ZZ$1$2",
            "Android \u{0}; Mobile",
            "(((((((((((((",
            "Chrome/99999999999999999999999999.0",
            "iPad; CPU OS 99999999999999999999_0 like Mac OS X",
        ] {
            let got = parse(ua);
            assert_eq!(got.is_bot, got.device_type == Bot, "{ua:?}");
        }
    }

    fn long_string() -> impl Strategy<Value = String> {
        ("(?s).{0,40}", 0usize..100_000, "(?s).{0,40}").prop_map(|(chunk, len, tail)| {
            let mut s = String::with_capacity(len + tail.len());
            while !chunk.is_empty() && s.len() < len {
                s.push_str(&chunk);
            }
            s.push_str(&tail);
            s
        })
    }

    proptest! {
        #[test]
        fn never_panics_and_bots_are_exactly_the_bot_device(
            ua in prop_oneof![
                "(?s).{0,300}",
                "[\\x00 -~]{0,300}",
                proptest::collection::vec(any::<char>(), 0..500)
                    .prop_map(|c| c.into_iter().collect::<String>()),
                long_string(),
                (prop::sample::select(CORPUS), "(?s).{0,20}", 0usize..200)
                    .prop_map(|(case, noise, at)| {
                        let ua = case.0;
                        let mut at = at.min(ua.len());
                        while !ua.is_char_boundary(at) {
                            at -= 1;
                        }
                        format!("{}{noise}{}", &ua[..at], &ua[at..])
                    }),
            ]
        ) {
            let got = parser().parse(Some(&ua));
            prop_assert_eq!(got.is_bot, got.device_type == Bot);
            for field in [&got.browser_name, &got.browser_version, &got.os_name, &got.os_version] {
                prop_assert!(field.as_ref().is_none_or(|f| !f.is_empty() && f.len() <= MAX_PARSED_BYTES));
            }
        }
    }
}
