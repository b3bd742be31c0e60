//! Input generators: hostile strings, URLs, addresses, user agents, timestamps and JSON
//! payloads. Every generated input is a `serde_json::Value`, so a failing one can be written to
//! `regressions/` as it is and read back by any later run.

use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::{BoxedStrategy, Union};
use serde_json::{json, Map, Number, Value};

use onevault_tracking_core::dialect::MARKER_KEYS;
use onevault_tracking_core::validate::KNOWN_FIELDS;

type S<T> = BoxedStrategy<T>;

fn one_of<T: std::fmt::Debug + 'static>(arms: Vec<(u32, S<T>)>) -> S<T> {
    Union::new_weighted(arms).boxed()
}

fn pick(items: &'static [&'static str]) -> S<String> {
    select(items).prop_map(str::to_owned).boxed()
}

/// Strings of `unit` repeated to about `len` bytes (±3), so limits are hit from both sides and
/// multi-byte characters straddle them.
fn near_length(len: usize) -> S<String> {
    (
        select(
            &[
                "a", "é", "😀", "\u{0}", " ", "%", "/", "\u{7f}", "\u{a0}", "\u{200b}",
            ][..],
        ),
        0usize..7,
    )
        .prop_map(move |(unit, delta)| unit.repeat((len + delta).saturating_sub(3) / unit.len()))
        .boxed()
}

/// Encoded surrogates (ED A0..BF xx), an overlong NUL (C0 80), a stray continuation byte, an
/// out-of-range and a truncated 4-byte sequence, and plain bytes between them.
const BYTE_PIECES: &[&[u8]] = &[
    &[0xED, 0xA0, 0x80],
    &[0xED, 0xBF, 0xBF],
    &[0xC0, 0x80],
    &[0x80],
    &[0xF4, 0x90, 0x80, 0x80],
    &[0xF0, 0x9F, 0x98],
    &[0x00],
    b"a",
    b"%",
    b"/",
];

/// Byte strings made text the way a careless client would: invalid UTF-8, CESU-8 surrogates
/// and overlong forms turn into U+FFFD.
fn lossy_bytes() -> S<String> {
    let byte_runs = one_of(vec![
        (3, proptest::collection::vec(any::<u8>(), 0..48).boxed()),
        (
            1,
            proptest::collection::vec(select(BYTE_PIECES), 0..16)
                .prop_map(|parts| parts.concat())
                .boxed(),
        ),
    ]);
    byte_runs
        .prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .boxed()
}

/// Any text at all: short unicode (including NUL and other controls), printable text,
/// control-heavy ASCII, mangled bytes, and huge repetitions.
pub fn nasty_string() -> S<String> {
    one_of(vec![
        (4, "(?s).{0,40}".boxed()),
        (
            2,
            "[\\x00-\\x1f\\x7f-\\x9f a-zA-Z0-9/:._%?&=#@\\-\\\\]{0,40}".boxed(),
        ),
        (2, "\\PC{0,40}".boxed()),
        (2, lossy_bytes()),
        (
            1,
            pick(&[
                "",
                " ",
                "\t",
                "\u{0}",
                "\u{feff}",
                "\u{fffd}",
                "\u{202e}",
                "\u{2028}",
                "null",
                "Other",
                "www.",
                ".",
                "..",
                "/",
                "//",
                "\\",
                "%",
                "%00",
                "%zz",
                "+",
                "&",
                "=",
                "-",
                "_",
                "\u{10ffff}",
                "\u{85}",
                "\u{a0}",
            ]),
        ),
        (1, near_length(2000)),
        (1, near_length(500)),
        (1, near_length(120)),
        (1, near_length(64)),
        (
            1,
            ("(?s).{1,4}", 1usize..5)
                .prop_map(|(unit, kb)| unit.repeat(kb * 25 * 1024 / unit.len() + 1))
                .boxed(),
        ),
    ])
}

pub fn host() -> S<String> {
    one_of(vec![
        (4, "[a-z0-9-]{1,12}(\\.[a-z0-9-]{1,12}){0,3}\\.?".boxed()),
        (
            3,
            pick(&[
                "example.com",
                "EXAMPLE.COM.",
                "www.example.com",
                "WWW.Example.com.",
                "www.",
                "www..",
                "www",
                "localhost",
                "LOCALHOST",
                "xn--nxasmq6b.com",
                "xn--.com",
                "ñandú.com",
                "例え.テスト",
                "a..b",
                "..",
                ".",
                "-a-.com",
                "a-.com",
                "127.0.0.1",
                "0x7f.1",
                "1.2.3",
                "4294967296",
                "[::1]",
                "[::ffff:1.2.3.4]",
                "[fe80::1%25eth0]",
                "[",
                "]",
                "%41.com",
                "a%00.com",
                "a%2e.com",
                "google.co.uk",
                "www.google.de",
                "google.com.br",
                "l.facebook.com",
                "t.co",
                "mail.google.com",
                "webmail.x.org",
                "news.ycombinator.com",
                "mastodon.social",
                "com.google.android.gm",
                "com.google.android.googlequicksearchbox",
                "example.com:8080",
                "user@example.com",
                "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p",
                "xn--zz-----.com",
                "ß.de",
                "ＥＸＡＭＰＬＥ.com",
                "exa\u{ad}mple.com",
                "a\u{200b}.com",
            ]),
        ),
        (1, near_length(64).prop_map(|l| format!("{l}.com")).boxed()),
        (1, near_length(253)),
        (1, nasty_string()),
    ])
}

fn path_segment() -> S<String> {
    one_of(vec![
        (
            3,
            pick(&[
                "/",
                "/a",
                "/pricing/",
                "/..",
                "/.",
                "/%2e%2e",
                "/%2E",
                "/%zz",
                "/%",
                "/%f",
                "/%C3%A9",
                "/%ff%fe",
                "/%00",
                "/%0A",
                "/%7F",
                "/%C2%85",
                "/\\",
                "//",
                "/é",
                "/a b",
                "/a+b",
                "/;x",
                "/~",
                "/%2F",
                "/%3F",
                "/%23",
                "/%25",
                "/%252F",
                "/\t",
                "/\n",
                "/\u{0}",
            ]),
        ),
        (2, "/[a-zA-Z0-9._~%-]{0,12}".boxed()),
        (1, nasty_string().prop_map(|s| format!("/{s}")).boxed()),
    ])
}

fn query_pair() -> S<String> {
    let name = one_of(vec![
        (
            4,
            pick(&[
                "utm_source",
                "UTM_Medium",
                "utm_campaign",
                "utm_term",
                "utm_content",
                "utm_id",
                "utm_",
                "utm_source_platform",
                "gclid",
                "GCLID",
                "fbclid",
                "FBCLID",
                "msclkid",
                "gbraid",
                "ttclid",
                "li_fat_id",
                "_gl",
                "mc_eid",
                "igshid",
                "q",
                "page",
                "id",
                "utm%5Fsource",
                "utm_source ",
                "+utm_source",
                "utm+source",
                "",
                "=",
                "a",
                "%",
                "%zz",
                "utm_source%00",
            ]),
        ),
        (1, nasty_string()),
    ]);
    let value = one_of(vec![
        (
            4,
            pick(&[
                "",
                "x",
                "+",
                "%20",
                "%zz",
                "%00",
                "%0a",
                "%0D%0A",
                "email",
                "cpc",
                "paid_social",
                "Paid Social",
                "Newsletter",
                "organic",
                "social",
                "referral",
                "google",
                "mail.ru",
                "%E2%80%AE",
                "%C0%80",
                "%ED%A0%80",
                "a=b",
                "==",
                "\u{0}",
            ]),
        ),
        (1, nasty_string()),
        (1, near_length(500)),
    ]);
    (name, select(&["=", "", "=="][..]), value)
        .prop_map(|(n, eq, v)| format!("{n}{eq}{v}"))
        .boxed()
}

/// Absolute, relative and broken URLs with every part varied: schemes, separators, credentials,
/// hosts, ports, paths, campaign queries and fragments.
pub fn url() -> S<String> {
    let scheme = one_of(vec![
        (7, pick(&["http", "https"])),
        (
            3,
            pick(&[
                "HTTP",
                "HtTpS",
                "ftp",
                "javascript",
                "android-app",
                "data",
                "file",
                "ws",
                "mailto",
                "",
                "h\tttp",
                "1http",
                "http ",
                " https",
            ]),
        ),
    ]);
    let separator = one_of(vec![
        (7, Just("://".to_owned()).boxed()),
        (
            3,
            pick(&[":", ":/", ":///", ":\\\\", "://\t", ":// ", "//", "::"]),
        ),
    ]);
    let userinfo =
        proptest::option::weighted(0.2, pick(&["user:pass@", "@", "a@b@", ":@", "%00@"]));
    let port = proptest::option::weighted(
        0.2,
        pick(&[
            ":80", ":443", ":0", ":65535", ":65536", ":99999", ":", ":abc", ":-1", ":8080",
        ]),
    );
    let path = proptest::collection::vec(path_segment(), 0..5).prop_map(|s| s.concat());
    let query = proptest::option::of(
        (
            proptest::collection::vec(query_pair(), 0..6),
            select(&["&", "&&", ";", "&amp;"][..]),
        )
            .prop_map(|(pairs, sep)| pairs.join(sep)),
    );
    let fragment = proptest::option::weighted(0.3, nasty_string());
    let built = (
        scheme,
        separator,
        userinfo,
        host(),
        port,
        path,
        query,
        fragment,
    )
        .prop_map(|(scheme, sep, user, host, port, path, query, fragment)| {
            let mut url = format!(
                "{scheme}{sep}{}{host}{}{path}",
                user.unwrap_or_default(),
                port.unwrap_or_default()
            );
            if let Some(q) = query {
                url.push('?');
                url.push_str(&q);
            }
            if let Some(f) = fragment {
                url.push('#');
                url.push_str(&f);
            }
            url
        });
    one_of(vec![
        (8, built.boxed()),
        (
            1,
            (
                near_length(2000),
                select(&["https://example.com/", "/"][..]),
            )
                .prop_map(|(tail, head)| format!("{head}{tail}"))
                .boxed(),
        ),
        (1, nasty_string()),
    ])
}

/// Page paths as trackers send them: paths with queries, full URLs in the wrong field, and junk.
pub fn path() -> S<String> {
    one_of(vec![
        (
            4,
            (
                proptest::collection::vec(path_segment(), 0..5),
                proptest::option::of(proptest::collection::vec(query_pair(), 0..5)),
            )
                .prop_map(|(segments, query)| {
                    let mut path = segments.concat();
                    if let Some(q) = query {
                        path.push('?');
                        path.push_str(&q.join("&"));
                    }
                    path
                })
                .boxed(),
        ),
        (2, url()),
        (1, nasty_string()),
    ])
}

/// Valid, mapped, scoped, netmasked and malformed IPv4/IPv6 addresses.
pub fn ip_text() -> S<String> {
    let v4 = any::<[u8; 4]>().prop_map(|b| std::net::Ipv4Addr::from(b).to_string());
    let v6 = any::<u128>().prop_map(|b| std::net::Ipv6Addr::from(b).to_string());
    let mapped =
        any::<[u8; 4]>().prop_map(|b| std::net::Ipv4Addr::from(b).to_ipv6_mapped().to_string());
    one_of(vec![
        (3, v4.clone().boxed()),
        (3, v6.clone().boxed()),
        (1, mapped.boxed()),
        (
            2,
            (prop_oneof![v4, v6], 0u32..200)
                .prop_map(|(ip, bits)| format!("{ip}/{bits}"))
                .boxed(),
        ),
        (
            2,
            pick(&[
                "",
                " ",
                "1.2.3",
                "1.2.3.4.5",
                "256.0.0.1",
                "01.02.03.04",
                "1.2.3.4 ",
                " 1.2.3.4",
                "::",
                ":::",
                "1::2::3",
                "fe80::1%eth0",
                "[::1]",
                "::ffff:999.1.1.1",
                "1.2.3.4/",
                "/24",
                "1.2.3.4/a",
                "１.２.３.４",
                "0x7f.0.0.1",
                "1.2.3.-4",
                "::1/129",
                "2001:db8::/32",
                "::ffff:0.0.0.0",
                "::ffff:255.255.255.255",
                "0.0.0.0",
                "255.255.255.255",
                "::1",
                "2001:db8::1/64",
                "1.2.3.4/24/8",
                "::ffff:1.2.3.4/120",
                "64:ff9b::1.2.3.4",
                "::1.2.3.4",
            ]),
        ),
        (1, nasty_string()),
    ])
}

/// User agents: real ones, recombined fragments of real ones, and junk (the parser's regexes
/// are attacker-facing).
pub fn user_agent() -> S<String> {
    const FULL: &[&str] = &[
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (iPad; CPU OS 12_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
        "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
        "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox One) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/48.0.2564.82 Safari/537.36 Edge/20.02",
        "Mozilla/5.0 (Linux; U; Android 4.0.3; en-us; KFTT Build/IML74K) AppleWebKit/535.19 (KHTML, like Gecko) Silk/3.4 Mobile Safari/535.19 Silk-Accelerated=true",
        "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0; Tablet PC 2.0)",
        "curl/8.4.0",
        "python-requests/2.31.0",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
        "Opera/9.80 (J2ME/MIDP; Opera Mini/9.80 (S60; SymbOS; Opera Mobi/23.348; U; en) Presto/2.5.25 Version/10.54",
        "Mozilla/5.0 (Mobile; rv:48.0; KAIOS/2.5) Gecko/48.0 Firefox/48.0 KAIOS/2.5",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    ];
    let fragment = one_of(vec![
        (
            6,
            pick(&[
                "Mozilla/5.0 ",
                "(",
                ")",
                "; ",
                " ",
                "Windows NT 10.0",
                "Win64; x64",
                "iPhone",
                "iPad",
                "iPod",
                "CPU iPhone OS 17_1 like Mac OS X",
                "CPU OS 13_0 like Mac OS X",
                "Macintosh",
                "Intel Mac OS X 10_15_7",
                "Android 14",
                "Android",
                "Mobile",
                "Mobi",
                "Tablet",
                "Tablet PC",
                "Linux x86_64",
                "X11",
                "CrOS",
                "Xbox",
                "SmartTV",
                "AFTMM",
                "Kindle",
                "Silk/",
                "Windows Phone 10.0",
                "Opera Mini/",
                "AppleWebKit/537.36 (KHTML, like Gecko) ",
                "Chrome/",
                "Safari/",
                "Firefox/",
                "Edg/",
                "Version/",
                "Googlebot/2.1",
                "bingbot",
                "Spider",
                "crawler",
                "curl/",
                "HeadlessChrome/",
                "SamsungBrowser/",
                "OPR/",
                "FxiOS/",
                "CriOS/",
                "Build/",
                "rv:",
                "Gecko/20100101",
                "Trident/7.0",
                "MSIE ",
                "Other",
                "KAIOS/",
                "\\",
            ]),
        ),
        (
            3,
            "[0-9]{1,3}(\\.[0-9]{1,5}){0,3}|[0-9]{15,25}|[0-9]{1,3}_[0-9]{1,3}(_[0-9]{1,3})?"
                .boxed(),
        ),
        (1, nasty_string()),
    ]);
    one_of(vec![
        (3, pick(FULL)),
        (
            5,
            proptest::collection::vec(fragment, 0..14)
                .prop_map(|parts| parts.concat())
                .boxed(),
        ),
        (
            1,
            (pick(FULL), near_length(2048))
                .prop_map(|(ua, pad)| format!("{ua}{pad}"))
                .boxed(),
        ),
        (1, near_length(2048)),
        (
            1,
            pick(&[
                "",
                " ",
                "\t\n",
                "\u{a0}",
                "-",
                "Other",
                "Mozilla",
                "Mozilla/5.0",
            ]),
        ),
        (1, nasty_string()),
    ])
}

/// Timestamp texts in the forms clients send and the forms they get wrong.
pub fn timestamp_text() -> S<String> {
    one_of(vec![
        (
            4,
            "[+-]?[0-9]{4,6}-[01][0-9]-[0-3][0-9][Tt ][0-2][0-9]:[0-5][0-9](:[0-6][0-9]([.,][0-9]{1,12})?)?(Z|z|[+-][0-2][0-9](:?[0-5][0-9])?)?"
                .boxed(),
        ),
        (
            2,
            pick(&[
                "2026-11-25T20:17:02.123Z", "2026-11-25T20:17:02Z", "2026-11-25T20:17:02+02:00",
                "2026-11-25T20:17:02", "2026-11-25", "20261125T201702Z", "2026-W48-3T20:17:02Z",
                "2026-329T20:17:02Z", "2026-02-30T00:00:00Z", "2026-12-31T23:59:60Z",
                "9999-12-31T23:59:59.999999999Z", "0000-01-01T00:00:00Z",
                "-0001-01-01T00:00:00Z", "+275760-09-13T00:00:00Z", "2026-11-25T24:00:00Z",
                "2026-11-25T20:17:02+24:00", "2026-11-25T20:17:02+23:59", "2026-11-25T20:17:02-00:00",
                "2026-11-25T20:17:02,5Z", "2026-11-25T20:17:02.1234567890123456789Z",
                "1764101822", "1764101822123", "", "Z", "T",
            ]),
        ),
        (1, nasty_string()),
    ])
}

/// JSON numbers, including the ones only `arbitrary_precision` keeps (huge, long fractions);
/// texts this build's `serde_json` cannot hold are skipped, so the generator works either way.
fn number() -> S<Value> {
    one_of(vec![
        (2, any::<i64>().prop_map(Value::from).boxed()),
        (1, any::<u64>().prop_map(Value::from).boxed()),
        (
            2,
            any::<f64>()
                .prop_filter_map("JSON has no NaN or infinity", |f| {
                    Number::from_f64(f).map(Value::Number)
                })
                .boxed(),
        ),
        (2, (-3i64..20_005).prop_map(Value::from).boxed()),
        (
            2,
            pick(&[
                "0",
                "-0",
                "-0.0",
                "1",
                "1.0",
                "1024.0",
                "1024.5",
                "20000",
                "20000.0",
                "20000.000000001",
                "20001",
                "19999.999999999999999",
                "1e4",
                "1E4",
                "2e4",
                "0.5e1",
                "1e400",
                "-1e400",
                "1e-400",
                "123456789012345678901234567890",
                "1.0000000000000000000001",
                "9223372036854775808",
                "-9223372036854775809",
                "4294967297",
                "2147483648",
            ])
            .prop_filter_map("not a number in this serde_json build", |text| {
                serde_json::from_str::<Value>(&text).ok()
            })
            .boxed(),
        ),
    ])
}

fn scalar() -> S<Value> {
    one_of(vec![
        (1, Just(Value::Null).boxed()),
        (1, any::<bool>().prop_map(Value::Bool).boxed()),
        (2, number()),
        (4, nasty_string().prop_map(Value::String).boxed()),
    ])
}

/// Arbitrary JSON: scalars, arrays and objects nested a few levels, plus the occasional value
/// wrapped many levels deep.
pub fn json_value() -> S<Value> {
    let tree = scalar().prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((key(), inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    });
    one_of(vec![
        (9, tree.boxed()),
        (
            1,
            (scalar(), 1usize..64)
                .prop_map(|(mut value, depth)| {
                    for i in 0..depth {
                        value = if i % 2 == 0 {
                            json!([value])
                        } else {
                            json!({ "page_url": value })
                        };
                    }
                    value
                })
                .boxed(),
        ),
    ])
}

/// Keys: the vocabulary, near misses of it, and anything.
fn key() -> S<String> {
    one_of(vec![
        (
            4,
            select(KNOWN_FIELDS.as_slice())
                .prop_map(str::to_owned)
                .boxed(),
        ),
        (
            2,
            pick(&[
                "evt_type",
                "evt_typ",
                "event_data",
                "page_referrer",
                "event_timestamp",
                "evtCategory",
                "eventType",
                "Event-Type",
                "type",
                "url",
                "ts",
                "referer",
                "props",
                "screenWidth",
                "lang",
                "tz",
                "event_typ",
                "page_urll",
                "EVENT_TYPE",
                "sessionid",
                "",
                " ",
                "\u{0}",
                "properties ",
                "event_type\u{0}",
            ]),
        ),
        (2, nasty_string()),
        (1, near_length(100)),
    ])
}

fn properties() -> S<Value> {
    let prop_key = one_of(vec![
        (3, "[a-z_]{1,12}".boxed()),
        (2, nasty_string()),
        (1, near_length(64)),
        (
            1,
            pick(&["", " ", "\u{0}", "a\nb", "\u{200b}", "properties"]),
        ),
    ]);
    let prop_value = one_of(vec![
        (4, scalar()),
        (1, json_value()),
        (1, near_length(500).prop_map(Value::String).boxed()),
    ]);
    one_of(vec![
        (
            6,
            proptest::collection::vec((prop_key.clone(), prop_value.clone()), 0..8)
                .prop_map(|e| Value::Object(e.into_iter().collect()))
                .boxed(),
        ),
        (
            1,
            proptest::collection::vec((prop_key, prop_value), 25..40)
                .prop_map(|e| Value::Object(e.into_iter().collect()))
                .boxed(),
        ),
        (1, json_value()),
    ])
}

/// A value for one payload key: usually the right type with hostile content, sometimes any JSON.
fn value_for(key: &str) -> S<Value> {
    let typed: S<Value> = match key {
        "event_type" => one_of(vec![
            (6, pick(&["page_view", "custom"])),
            (
                1,
                pick(&["Page_View", "page_view ", "pageview", "", "custom\u{0}"]),
            ),
            (1, nasty_string()),
        ])
        .prop_map(Value::String)
        .boxed(),
        "page_url" => prop_oneof![site_url(), url()]
            .prop_map(Value::String)
            .boxed(),
        "referrer" => referrer().prop_map(Value::String).boxed(),
        "page_path" => path().prop_map(Value::String).boxed(),
        "timestamp" => timestamp_text().prop_map(Value::String).boxed(),
        "properties" => properties(),
        "screen_width" => number(),
        "session_id" | "event_id" => one_of(vec![
            (3, "[A-Za-z0-9._:-]{1,130}".boxed()),
            (1, near_length(128)),
            (1, nasty_string()),
        ])
        .prop_map(Value::String)
        .boxed(),
        "language" => one_of(vec![
            (3, "[A-Za-z]{1,4}(-[A-Za-z0-9]{0,9}){0,6}".boxed()),
            (
                1,
                pick(&[
                    "en_US",
                    "en-",
                    "-en",
                    "e",
                    "en--US",
                    "x-private",
                    "zh-Hant-TW",
                ]),
            ),
            (1, nasty_string()),
        ])
        .prop_map(Value::String)
        .boxed(),
        "timezone" => one_of(vec![
            (3, "[A-Za-z0-9/_+-]{0,70}".boxed()),
            (
                1,
                pick(&[
                    "Europe/Berlin",
                    "Etc/GMT+5",
                    "UTC",
                    "America/Argentina/ComodRivadavia",
                ]),
            ),
            (1, nasty_string()),
        ])
        .prop_map(Value::String)
        .boxed(),
        _ => nasty_string().prop_map(Value::String).boxed(),
    };
    one_of(vec![
        (8, typed),
        (1, Just(Value::Null).boxed()),
        (1, json_value()),
    ])
}

/// A domain a site could really have.
pub fn site_domain() -> S<String> {
    (
        proptest::option::of(pick(&["www.", "shop.", "blog.", "WWW.", "xn--bcher-kva."])),
        "[a-z0-9]{1,10}(-[a-z0-9]{1,5})?",
        pick(&["com", "de", "co.uk", "org", "io", "Com"]),
    )
        .prop_map(|(sub, name, tld)| format!("{}{name}.{tld}", sub.unwrap_or_default()))
        .boxed()
}

/// A page URL a browser would report: `http(s)`, a real-looking domain, paths and campaign
/// queries that may still be odd.
pub fn site_url() -> S<String> {
    (
        pick(&["https", "http"]),
        site_domain(),
        proptest::collection::vec(path_segment(), 0..4),
        proptest::option::of(proptest::collection::vec(query_pair(), 0..5)),
        proptest::option::weighted(0.2, "[a-z0-9=&-]{0,10}"),
    )
        .prop_map(|(scheme, host, path, query, fragment)| {
            let mut url = format!("{scheme}://{host}{}", path.concat());
            if let Some(q) = query {
                url.push('?');
                url.push_str(&q.join("&"));
            }
            if let Some(f) = fragment {
                url.push('#');
                url.push_str(&f);
            }
            url
        })
        .boxed()
}

/// Referrers that name a channel: search engines, social sites, webmail, Android apps, the
/// site itself, other sites.
pub fn referrer() -> S<String> {
    one_of(vec![
        (
            3,
            pick(&[
                "https://www.google.com/",
                "https://www.google.co.uk/search?q=x",
                "https://www.bing.com/",
                "https://duckduckgo.com/",
                "https://l.facebook.com/l.php?u=x",
                "https://t.co/abc",
                "https://www.reddit.com/r/x",
                "https://news.ycombinator.com/",
                "https://mail.google.com/mail/u/0/",
                "https://outlook.live.com/",
                "https://webmail.example.net/",
                "android-app://com.google.android.gm",
                "android-app://com.google.android.googlequicksearchbox/https/www.google.com",
                "android-app://",
                "android-app://com..x",
                "https://www.example.com/previous",
                "https://example.com/",
                "",
            ]),
        ),
        (2, site_url()),
        (1, url()),
    ])
}

/// An event a tracker could really send (valid or close to it), with up to three fields
/// replaced by hostile values: the errors then come one at a time, and valid events are
/// common enough for the properties of valid events to be checked.
fn plausible_payload() -> S<Value> {
    let base = (
        one_of(vec![
            (3, Just(None).boxed()),
            (1, "[a-z_ ]{1,30}".prop_map(Some).boxed()),
        ]),
        site_url(),
        proptest::option::of("\\PC{0,60}"),
        proptest::option::of(prop_oneof![4 => referrer(), 1 => Just("same page".to_owned())]),
        proptest::option::of("[A-Za-z0-9._:-]{1,40}"),
        proptest::option::of("[A-Za-z0-9-]{8,36}"),
        proptest::option::of(proptest::collection::btree_map(
            "[a-z_]{1,10}",
            prop_oneof![
                "[ -~]{0,20}".prop_map(Value::from),
                any::<i32>().prop_map(Value::from),
                any::<bool>().prop_map(Value::from),
            ],
            0..5,
        )),
        proptest::option::of(320i64..4000),
        proptest::option::of(pick(&[
            "en",
            "en-US",
            "de-DE",
            "zh-Hant-TW",
            "pt-BR",
            "fil",
        ])),
        proptest::option::of(pick(&[
            "Europe/Berlin",
            "America/New_York",
            "UTC",
            "Etc/GMT+5",
        ])),
    )
        .prop_map(
            |(name, url, title, referrer, session, event_id, props, width, lang, zone)| {
                // An internal visit: the referrer is a page of the same site.
                let referrer = referrer.map(|r| if r == "same page" { url.clone() } else { r });
                let mut payload = json!({
                    "event_type": if name.is_some() { "custom" } else { "page_view" },
                    "page_url": url,
                });
                let fields = [
                    ("event_name", name.map(Value::from)),
                    ("page_title", title.map(Value::from)),
                    ("referrer", referrer.map(Value::from)),
                    ("session_id", session.map(Value::from)),
                    ("event_id", event_id.map(Value::from)),
                    ("properties", props.map(|p| json!(p))),
                    ("screen_width", width.map(Value::from)),
                    ("language", lang.map(Value::from)),
                    ("timezone", zone.map(Value::from)),
                ];
                for (key, value) in fields {
                    if let Some(value) = value {
                        payload[key] = value;
                    }
                }
                payload
            },
        );
    let replacement = select(KNOWN_FIELDS.as_slice())
        .prop_flat_map(|k| value_for(k).prop_map(move |v| (k.to_owned(), v)));
    (base, proptest::collection::vec(replacement, 0..3))
        .prop_map(|(mut payload, replacements)| {
            for (key, value) in replacements {
                payload[key] = value;
            }
            payload
        })
        .boxed()
}

/// An event payload: mostly objects with vocabulary keys and hostile values, sometimes with
/// unknown keys, sometimes not an object at all.
pub fn payload() -> S<Value> {
    let entry = one_of(vec![
        (
            6,
            select(KNOWN_FIELDS.as_slice())
                .prop_flat_map(|k| value_for(k).prop_map(move |v| (k.to_owned(), v)))
                .boxed(),
        ),
        (1, (key(), json_value()).boxed()),
    ]);
    let object = proptest::collection::vec(entry, 0..16).prop_map(|entries| {
        let mut map = Map::new();
        for (k, v) in entries {
            map.insert(k, v);
        }
        Value::Object(map)
    });
    one_of(vec![
        (8, plausible_payload()),
        (4, dialect_payload()),
        (6, object.boxed()),
        (1, json_value()),
    ])
}

/// A plausible payload rewritten in the One Vault platform's dialect (`core::dialect`): keys
/// renamed (`evt_type`, `page_referrer`, `referrer_url`), some moved into `event_data`, the
/// platform's context and client-claim keys added, a platform event type, a client time that
/// may lack an offset. Often valid, so the mapping is checked on events that pass.
fn dialect_payload() -> S<Value> {
    let extra = (
        one_of(vec![
            (
                3,
                select(MARKER_KEYS.as_slice())
                    .prop_map(str::to_owned)
                    .boxed(),
            ),
            (
                1,
                pick(&["action", "service_type", "user_id", "title", "spa_context"]),
            ),
            (1, key()),
        ]),
        one_of(vec![(4, scalar()), (1, json_value())]),
        any::<bool>(),
    );
    (
        plausible_payload(),
        proptest::collection::vec(0u8..6, 12),
        proptest::collection::vec(extra, 0..6),
        proptest::option::of(pick(&[
            "page_view",
            "custom",
            "click",
            "appointment_interaction",
            "scroll_depth",
            "",
        ])),
        proptest::option::of((timestamp_text(), any::<bool>())),
    )
        .prop_map(|(base, choices, extras, platform_type, client_time)| {
            let Value::Object(base) = base else {
                return base;
            };
            let mut top = Map::new();
            let mut nested = Map::new();
            for (i, (key, value)) in base.into_iter().enumerate() {
                let choice = choices[i % choices.len()];
                let key = match (key.as_str(), choice % 3) {
                    ("event_type", 0) => "evt_type".to_owned(),
                    ("referrer", 0) => "page_referrer".to_owned(),
                    ("referrer", 1) => "referrer_url".to_owned(),
                    _ => key,
                };
                if choice >= 4 && key != "event_type" {
                    nested.insert(key, value);
                } else {
                    top.insert(key, value);
                }
            }
            if let Some(platform_type) = platform_type {
                top.insert("event_type".to_owned(), Value::from(platform_type));
                top.remove("evt_type");
            }
            if let Some((time, in_event_data)) = client_time {
                if in_event_data {
                    nested.insert("timestamp".to_owned(), Value::String(time));
                } else {
                    top.insert("event_timestamp".to_owned(), Value::String(time));
                }
            }
            for (key, value, in_event_data) in extras {
                if in_event_data {
                    nested.insert(key, value);
                } else {
                    top.insert(key, value);
                }
            }
            if !nested.is_empty() || top.is_empty() {
                top.insert("event_data".to_owned(), Value::Object(nested));
            }
            Value::Object(top)
        })
        .boxed()
}

/// The server's receipt time as `[unix seconds, nanoseconds, UTC offset seconds]`: mostly near
/// now, sometimes anywhere `time` can represent.
pub fn received_at() -> S<Value> {
    let seconds = one_of(vec![
        (4, (1_600_000_000i64..2_000_000_000).boxed()),
        (1, (-377_705_116_800i64..=253_402_300_799).boxed()),
        (
            1,
            select(&[-377_705_116_800i64, 253_402_300_799, 0, -1][..]).boxed(),
        ),
    ]);
    let offset = one_of(vec![
        (4, Just(0i32).boxed()),
        (1, (-93_599i32..=93_599).boxed()),
    ]);
    (seconds, 0u32..1_000_000_000, offset)
        .prop_map(|(s, n, o)| json!([s, n, o]))
        .boxed()
}

/// Seconds from the receipt time to a client timestamp, clustered around the window's edges.
pub fn timestamp_offset() -> S<i64> {
    const WEEK: i64 = 7 * 24 * 3600;
    one_of(vec![
        (3, (-WEEK - 3..=-WEEK + 3).boxed()),
        (3, (297i64..=303).boxed()),
        (2, (-WEEK..=300).boxed()),
        (1, (-10 * WEEK..=10 * WEEK).boxed()),
        (1, any::<i32>().prop_map(i64::from).boxed()),
    ])
}

/// JSON texts as they could arrive: a valid payload's text with bytes replaced, inserted or
/// removed (broken escapes, lone surrogates, truncation), then read as lossy UTF-8.
pub fn json_text() -> S<String> {
    const BASE: &str = r#"{"event_type":"page_view","page_url":"https://www.example.com/a/?utm_source=x&gclid=1","page_title":"T\u00e9st","referrer":"https://google.com/","timestamp":"2026-11-25T20:17:02.123Z","properties":{"k":"v","n":1.5},"screen_width":1024,"language":"en-US","timezone":"Europe/Berlin","session_id":"s1","event_id":"e1"}"#;
    let edit = (
        any::<proptest::sample::Index>(),
        select(
            &[
                "",
                "\\u0000",
                "\\ud800",
                "\\udc00",
                "\\ud83d\\ude00",
                "\\u",
                "\\x",
                "\\",
                "\"",
                "\u{0}",
                "{",
                "}",
                "[",
                "]",
                ",",
                ":",
                "1e400",
                "-",
                "null",
                "\n",
                "\u{feff}",
                "\\u00",
                "\\ud800\\u0041",
            ][..],
        ),
        0usize..4,
    );
    proptest::collection::vec(edit, 0..6)
        .prop_map(|edits| {
            let mut bytes = BASE.as_bytes().to_vec();
            for (at, insert, remove) in edits {
                let at = at.index(bytes.len() + 1);
                let end = (at + remove).min(bytes.len());
                bytes.splice(at..end, insert.bytes());
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
        .boxed()
}

/// A salt, visitor hash or hub key: 32 bytes, from a small pool so that values collide.
pub fn key_bytes() -> S<Value> {
    one_of(vec![
        (3, (0u8..4).prop_map(|b| json!(vec![b; 32])).boxed()),
        (1, any::<[u8; 32]>().prop_map(|b| json!(b)).boxed()),
    ])
}

/// Unix microseconds for the sessionizer: close together (so sessions join), around the idle
/// window, and at the ends of `i64`.
pub fn micros() -> S<i64> {
    const MINUTE: i64 = 60_000_000;
    one_of(vec![
        (4, (0i64..120).prop_map(|m| m * MINUTE).boxed()),
        (2, (-3i64..=3).prop_map(|d| 30 * MINUTE + d).boxed()),
        (2, any::<i64>().boxed()),
        (
            2,
            select(&[i64::MIN, i64::MIN + 1, i64::MAX, i64::MAX - 1, 0, -1][..]).boxed(),
        ),
    ])
}
