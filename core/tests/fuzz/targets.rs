//! The fuzz targets and the properties they check. Every property is a documented promise of
//! the core (module docs and item docs), so a failure is a bug in the code or in its docs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, UtcOffset};

use onevault_tracking_core::attribution::{
    channel, parse_page_path, parse_page_url, referrer_host, Campaign, Channel,
};
use onevault_tracking_core::dialect::{is_dialect, to_vocabulary, IGNORED_KEYS};
use onevault_tracking_core::domain::{is_site_host, normalize_host, site_business_key};
use onevault_tracking_core::enrich::enrich;
use onevault_tracking_core::hashing::{business_key, hash_binary, hash_diff, hash_key, to_hex};
use onevault_tracking_core::ip::{anonymize, parse_inet, stored_ip, IpStorage};
use onevault_tracking_core::payload::{
    check_payload, client_event_id, is_client_id, page_url_host, PayloadError, EVENT_ID_MAX_BYTES,
};
use onevault_tracking_core::sessions::Sessionizer;
use onevault_tracking_core::useragent::{
    DeviceType, UserAgentInfo, UserAgentParser, MAX_PARSED_BYTES,
};
use onevault_tracking_core::validate::*;
use onevault_tracking_core::vault::{
    api_key_key, link_key, page_key, session_key, site_key, tracking_event_key,
};
use onevault_tracking_core::visitor::{visitor_hash, visitor_hashes, DailySalts, VisitorHashes};

use crate::inputs;
use crate::Target;

/// Builds what the targets share (the user-agent parser, the documented codes), so that no
/// case is charged for it.
pub fn warm_up() {
    parser();
    documented_codes();
}

pub fn all() -> Vec<Target> {
    vec![
        Target {
            name: "validate",
            strategy: validate_input(),
            check: check_validate,
        },
        Target {
            name: "enrich",
            strategy: (validate_input(), proptest::option::of(inputs::user_agent()), proptest::option::of(inputs::ip_text()))
                .prop_map(|(mut input, ua, ip)| {
                    input["user_agent"] = json!(ua);
                    input["client_ip"] = json!(ip);
                    input
                })
                .boxed(),
            check: check_enrich,
        },
        Target {
            name: "raw_payload",
            strategy: (inputs::json_value(), inputs::payload(), inputs::json_text(), 0usize..2000)
                .prop_map(|(value, payload, text, limit)| {
                    json!({ "value": value, "payload": payload, "json_text": text, "limit": limit })
                })
                .boxed(),
            check: check_raw_payload,
        },
        Target {
            name: "attribution",
            strategy: (
                prop_oneof![inputs::site_url(), inputs::url()],
                inputs::path(),
                prop_oneof![2 => inputs::referrer(), 1 => inputs::nasty_string()],
                proptest::option::of(inputs::host()),
                proptest::option::of(inputs::host()),
                campaign_input(),
            )
                .prop_map(|(url, path, referrer, page_host, referrer_host, campaign)| {
                    json!({
                        "url": url, "path": path, "referrer": referrer,
                        "page_host": page_host, "referrer_host": referrer_host,
                        "campaign": campaign,
                    })
                })
                .boxed(),
            check: check_attribution,
        },
        Target {
            name: "user_agent",
            strategy: proptest::option::of(inputs::user_agent())
                .prop_map(|ua| json!({ "user_agent": ua }))
                .boxed(),
            check: check_user_agent_input,
        },
        Target {
            name: "ip",
            strategy: (inputs::ip_text(), any::<u32>(), any::<u128>(), 0u32..200)
                .prop_map(|(text, v4, v6, bits)| {
                    json!({ "text": text, "v4": v4, "v6": v6.to_string(), "bits": bits })
                })
                .boxed(),
            check: check_ip,
        },
        Target {
            name: "sessions",
            strategy: proptest::collection::vec(session_op(), 1..24)
                .prop_map(|ops| json!({ "ops": ops }))
                .boxed(),
            check: check_sessions,
        },
        Target {
            name: "visitor",
            strategy: (
                inputs::key_bytes(),
                proptest::option::of(inputs::key_bytes()),
                inputs::host(),
                proptest::option::of(inputs::ip_text()),
                proptest::option::of(inputs::user_agent()),
            )
                .prop_map(|(current, previous, host, ip, ua)| {
                    json!({ "current": current, "previous": previous, "host": host, "ip": ip, "user_agent": ua })
                })
                .boxed(),
            check: check_visitor,
        },
        Target {
            name: "keys",
            strategy: keys_input(),
            check: check_keys,
        },
    ]
}

// ---------------------------------------------------------------------------------------------
// Input decoding

fn text<'a>(input: &'a Value, key: &str) -> Option<&'a str> {
    input.get(key).and_then(Value::as_str)
}

fn bytes(value: &Value) -> Vec<u8> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_u64)
                .map(|b| b as u8)
                .collect()
        })
        .unwrap_or_default()
}

fn key32(value: &Value) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (slot, b) in out.iter_mut().zip(bytes(value)) {
        *slot = b;
    }
    out
}

/// `[unix seconds, nanoseconds, offset seconds]`, as `inputs::received_at` writes it.
fn received_at(value: &Value) -> OffsetDateTime {
    let part = |i: usize| value.get(i).and_then(Value::as_i64).unwrap_or(0);
    let utc = OffsetDateTime::from_unix_timestamp(part(0))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .replace_nanosecond(part(1) as u32)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    UtcOffset::from_whole_seconds(part(2) as i32)
        .ok()
        .and_then(|offset| utc.checked_to_offset(offset))
        .unwrap_or(utc)
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// Whether any string (or object key) inside `value` contains NUL, which `jsonb` and `text`
/// cannot store.
fn contains_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Validation

/// A payload and receipt time; for objects, often a `timestamp` near the window's edges.
fn validate_input() -> BoxedStrategy<Value> {
    (
        inputs::payload(),
        inputs::received_at(),
        proptest::option::of((inputs::timestamp_offset(), 0u8..4)),
    )
        .prop_map(|(mut payload, received, near)| {
            if let (Some((seconds, style)), Some(object)) = (near, payload.as_object_mut()) {
                let at = received_at(&received).checked_add(Duration::seconds(seconds));
                let offset = UtcOffset::from_hms(if style == 1 { -11 } else { 5 }, 30, 0).ok();
                let text = at.and_then(|at| match style {
                    0 => at.format(&Rfc3339).ok(),
                    1 | 2 => offset
                        .and_then(|o| at.checked_to_offset(o))
                        .and_then(|at| at.format(&Rfc3339).ok()),
                    _ => at
                        .replace_nanosecond(0)
                        .ok()
                        .and_then(|at| at.format(&Rfc3339).ok())
                        .map(|t| t.replace(['-', ':'], "")),
                });
                if let Some(text) = text {
                    object.insert("timestamp".into(), Value::String(text));
                }
            }
            json!({ "payload": payload, "received_at": received })
        })
        .boxed()
}

struct DocumentedCode {
    code: String,
    field: String,
}

/// The issue codes of the tables in `validate`'s module doc: (errors, warnings).
fn documented_codes() -> &'static (Vec<DocumentedCode>, Vec<DocumentedCode>) {
    static CODES: OnceLock<(Vec<DocumentedCode>, Vec<DocumentedCode>)> = OnceLock::new();
    CODES.get_or_init(|| {
        let source = include_str!("../../src/validate.rs");
        let after = source
            .split_once("# Issue codes")
            .expect("validate.rs documents its issue codes")
            .1;
        let (errors, rest) = after
            .split_once("Warnings (the event is still valid)")
            .expect("validate.rs documents its warnings");
        let warnings = rest.split_once("# Quality score").map_or(rest, |(w, _)| w);
        let table = |text: &str| -> Vec<DocumentedCode> {
            text.lines()
                .filter_map(|line| line.trim().strip_prefix("//! |"))
                .filter_map(|row| {
                    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
                    let code = cells.first()?.trim_matches('`');
                    (!code.is_empty() && code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
                        .then(|| DocumentedCode {
                            code: code.to_owned(),
                            field: cells.get(1).copied().unwrap_or_default().to_owned(),
                        })
                })
                .collect()
        };
        let codes = (table(errors), table(warnings));
        assert!(
            codes.0.len() >= 30 && codes.1.len() >= 4,
            "issue tables not found"
        );
        // Every code the module (or the dialect it maps first) defines is in a table.
        let dialect = include_str!("../../src/dialect.rs");
        for line in source.lines().chain(dialect.lines()) {
            if let Some(rest) = line.trim().strip_prefix("const ") {
                if let Some((name, _)) = rest.split_once(": &str = \"") {
                    assert!(
                        codes.0.iter().chain(&codes.1).any(|d| d.code == name),
                        "{name} is defined but not documented in validate.rs"
                    );
                }
            }
        }
        codes
    })
}

/// Whether an issue's `field` is what the documented field cell allows: `` `page_url` ``,
/// `` `""` ``, `` `properties.<key>` ``, or "the key" (a known key, except for an unknown key).
fn field_allowed(code: &str, cell: &str, field: &str) -> bool {
    if code == "UNKNOWN_FIELD" {
        return !KNOWN_FIELDS.contains(&field);
    }
    if cell.contains("joined by") {
        // CLIENT_FIELDS_IGNORED: the dropped keys, in their documented order.
        let parts: Vec<&str> = field.split(", ").collect();
        let order: Vec<&str> = IGNORED_KEYS
            .iter()
            .copied()
            .filter(|k| parts.contains(k))
            .collect();
        return !field.is_empty() && parts == order;
    }
    if cell.contains("the key") && KNOWN_FIELDS.contains(&field) {
        return true;
    }
    cell.split('`').skip(1).step_by(2).any(|token| {
        if token == "\"\"" {
            field.is_empty()
        } else if let Some(prefix) = token.strip_suffix("<key>") {
            field.starts_with(prefix)
        } else {
            token == field
        }
    })
}

fn is_language_tag(tag: &str) -> bool {
    let mut subtags = tag.split('-');
    let primary = subtags.next().unwrap_or_default();
    tag.len() <= LANGUAGE_MAX_BYTES
        && (2..=3).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_alphabetic())
        && subtags
            .all(|s| (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Validates and checks everything the `validate` docs promise; returns the fields.
fn validated(payload: &Value, received: OffsetDateTime) -> Result<EventFields, String> {
    let v = validate(payload, received);
    let again = validate(payload, received);
    ensure!(
        v.to_json() == again.to_json() && v.fields == again.fields,
        "validation is not deterministic"
    );
    ensure!(v.is_valid() == v.errors.is_empty(), "valid with errors");

    // Codes and fields from the documented tables.
    let (error_codes, warning_codes) = documented_codes();
    for (issues, table, kind) in [
        (&v.errors, error_codes, "error"),
        (&v.warnings, warning_codes, "warning"),
    ] {
        for issue in issues {
            let Some(doc) = table.iter().find(|d| d.code == issue.code) else {
                return Err(format!("undocumented {kind} code {:?}", issue.code));
            };
            ensure!(
                field_allowed(issue.code, &doc.field, &issue.field),
                "{} reported on field {:?}, documented for {}",
                issue.code,
                issue.field,
                doc.field
            );
            ensure!(
                !issue.message.contains('\0') && !issue.field.contains('\0'),
                "NUL in issue {issue:?}"
            );
            // 100 echoed characters, escaped (at most 10 each), plus the fixed text.
            ensure!(
                issue.message.chars().count() < 10 * 100 + 300
                    && issue.field.chars().count() <= 12 + 6 * 100,
                "{} issue is {} characters long",
                issue.code,
                issue.message.chars().count()
            );
        }
    }
    ensure!(!contains_nul(&v.to_json()), "NUL in the validation JSON");
    ensure!(
        payload.is_object() != v.errors.iter().any(|i| i.code == "NOT_AN_OBJECT"),
        "NOT_AN_OBJECT disagrees with the payload type"
    );

    // The platform dialect: mapped in one step, only for payloads with a marker, and what
    // follows holds for the mapped payload (what validation read).
    let mapping = to_vocabulary(payload);
    let dialect = is_dialect(payload);
    ensure!(mapping.is_dialect() == dialect, "is_dialect disagrees");
    ensure!(
        !is_dialect(&mapping.payload),
        "a mapped payload is still in the dialect"
    );
    if !dialect {
        ensure!(
            mapping.payload.as_ref() == payload
                && mapping.errors.is_empty()
                && mapping.warnings.is_empty(),
            "a payload without markers was changed"
        );
    }
    for issue in v.errors.iter().chain(&v.warnings) {
        let from_dialect = ["TIMESTAMP_ASSUMED_UTC", "CLIENT_FIELDS_IGNORED"].contains(&issue.code)
            || issue.field == "event_data";
        ensure!(
            dialect || !from_dialect,
            "dialect issue {issue:?} for a payload without markers"
        );
    }
    let payload = mapping.payload.as_ref();

    // Quality score formula.
    let tenths = if v.is_valid() {
        10 - v.warnings.len().min(5)
    } else {
        5 - v.errors.len().min(5)
    };
    ensure!(
        v.quality_score == tenths as f64 / 10.0,
        "quality score {} with {} errors and {} warnings",
        v.quality_score,
        v.errors.len(),
        v.warnings.len()
    );

    // Every kept field passed its own rules, is the value sent, and has no error of its own.
    let f = &v.fields;
    let sent = |key: &str| payload.get(key).and_then(Value::as_str);
    let errored = |field: &str| v.errors.iter().any(|i| i.field == field);
    let kept: [(&str, bool); 12] = [
        ("event_type", f.event_type.is_some()),
        ("event_name", f.event_name.is_some()),
        ("page_url", f.page_url.is_some()),
        ("page_path", f.page_path.is_some()),
        ("page_title", f.page_title.is_some()),
        ("referrer", f.referrer.is_some()),
        ("session_id", f.session_id.is_some()),
        ("event_id", f.event_id.is_some()),
        ("timestamp", f.timestamp.is_some()),
        ("screen_width", f.screen_width.is_some()),
        ("language", f.language.is_some()),
        ("timezone", f.timezone.is_some()),
    ];
    for (field, is_kept) in kept {
        ensure!(
            !(is_kept && errored(field)),
            "{field} is kept although it has an error"
        );
    }
    if let Some(t) = f.event_type {
        ensure!(sent("event_type") == Some(t.as_str()), "event_type changed");
    }
    if let Some(name) = &f.event_name {
        ensure!(
            sent("event_name") == Some(name.as_str()),
            "event_name changed"
        );
        ensure!(
            f.event_type != Some(EventType::PageView),
            "a page view kept its event_name"
        );
        ensure!(
            !name.trim().is_empty()
                && name.chars().count() <= EVENT_NAME_MAX_CHARS
                && !has_control(name),
            "event_name {name:?} kept"
        );
    }
    if let Some(url) = &f.page_url {
        ensure!(sent("page_url") == Some(url.as_str()), "page_url changed");
        ensure!(
            url.len() <= PAGE_URL_MAX_BYTES && !has_control(url),
            "page_url {url:?} kept"
        );
        // What validation accepts, enrichment must be able to read.
        let (location, _) = parse_page_url(url).map_err(|why| {
            format!("validated page_url {url:?} does not parse for enrichment: {why}")
        })?;
        ensure!(
            is_site_host(&location.host) || location.host == "localhost",
            "validated page_url {url:?} has host {:?}",
            location.host
        );
    }
    if let Some(path) = &f.page_path {
        ensure!(
            sent("page_path") == Some(path.as_str()),
            "page_path changed"
        );
        ensure!(
            matches!(payload.get("page_url"), None | Some(Value::Null)),
            "page_path kept next to a page_url"
        );
        ensure!(
            path.len() <= PAGE_PATH_MAX_BYTES
                && path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && !has_control(path),
            "page_path {path:?} kept"
        );
    }
    if let Some(title) = &f.page_title {
        ensure!(
            sent("page_title") == Some(title.as_str()),
            "page_title changed"
        );
        ensure!(
            !title.trim().is_empty()
                && title.chars().count() <= PAGE_TITLE_MAX_CHARS
                && !has_control(title),
            "page_title {title:?} kept"
        );
    }
    if let Some(referrer) = &f.referrer {
        ensure!(
            sent("referrer") == Some(referrer.as_str()),
            "referrer changed"
        );
        ensure!(
            !referrer.is_empty() && referrer.len() <= REFERRER_MAX_BYTES && !has_control(referrer),
            "referrer {referrer:?} kept"
        );
        ensure!(
            url::Url::parse(referrer).is_ok(),
            "referrer {referrer:?} is not absolute"
        );
    }
    for (id, max) in [
        (&f.session_id, SESSION_ID_MAX_BYTES),
        (&f.event_id, EVENT_ID_MAX_BYTES),
    ] {
        if let Some(id) = id {
            ensure!(is_client_id(id, max), "id {id:?} kept");
        }
    }
    if let Some(at) = f.timestamp {
        let ahead = at - received;
        ensure!(
            ahead <= Duration::seconds(TIMESTAMP_MAX_FUTURE_SECONDS)
                && -ahead <= Duration::seconds(TIMESTAMP_MAX_AGE_SECONDS),
            "timestamp {at} kept for receipt at {received}"
        );
    }
    ensure!(
        f.properties.len() <= PROPERTIES_MAX_KEYS,
        "{} properties kept",
        f.properties.len()
    );
    for (key, value) in &f.properties {
        ensure!(
            payload.get("properties").and_then(|p| p.get(key)) == Some(value),
            "property {key:?} changed"
        );
        ensure!(
            !key.trim().is_empty()
                && key.chars().count() <= PROPERTY_KEY_MAX_CHARS
                && !has_control(key),
            "property key {key:?} kept"
        );
        match value {
            Value::Object(_) | Value::Array(_) => {
                return Err(format!("property {key:?} is not scalar"))
            }
            Value::String(s) => ensure!(
                s.chars().count() <= PROPERTY_VALUE_MAX_CHARS && !has_control(s),
                "property value {s:?} kept"
            ),
            _ => {}
        }
        ensure!(
            !errored(&format!("properties.{key}")),
            "property {key:?} kept with an error"
        );
    }
    if let Some(width) = f.screen_width {
        ensure!(
            (SCREEN_WIDTH_MIN..=SCREEN_WIDTH_MAX).contains(&width),
            "screen_width {width} kept"
        );
        let sent = payload.get("screen_width").and_then(Value::as_f64);
        ensure!(
            sent == Some(f64::from(width)),
            "screen_width {width} kept for {sent:?}"
        );
    }
    if let Some(tag) = &f.language {
        ensure!(
            sent("language") == Some(tag.as_str()) && is_language_tag(tag),
            "language {tag:?} kept"
        );
    }
    if let Some(zone) = &f.timezone {
        ensure!(
            sent("timezone") == Some(zone.as_str())
                && (1..=TIMEZONE_MAX_BYTES).contains(&zone.len())
                && zone
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/_+-".contains(&b)),
            "timezone {zone:?} kept"
        );
    }

    // A valid event has what the staging tables need, and nothing it sent was dropped.
    if v.is_valid() {
        ensure!(f.event_type.is_some(), "valid without event_type");
        ensure!(
            f.page_url.is_some() || f.page_path.is_some(),
            "valid without a page"
        );
        if f.event_type == Some(EventType::Custom) {
            ensure!(f.event_name.is_some(), "valid custom event without a name");
        }
        let present = |key: &str| !matches!(payload.get(key), None | Some(Value::Null));
        for (key, is_kept) in [
            ("page_url", f.page_url.is_some()),
            ("session_id", f.session_id.is_some()),
            ("event_id", f.event_id.is_some()),
            ("timestamp", f.timestamp.is_some()),
            ("screen_width", f.screen_width.is_some()),
            ("language", f.language.is_some()),
            ("timezone", f.timezone.is_some()),
        ] {
            ensure!(!present(key) || is_kept, "valid event lost its {key}");
        }
        if let Some(Value::Object(sent)) = payload.get("properties") {
            ensure!(
                f.properties.len() == sent.len(),
                "valid event lost properties"
            );
        }
    }
    Ok(v.fields)
}

fn check_validate(input: &Value) -> Result<(), String> {
    validated(&input["payload"], received_at(&input["received_at"])).map(|_| ())
}

// ---------------------------------------------------------------------------------------------
// Raw layer

fn check_raw_payload(input: &Value) -> Result<(), String> {
    let limit = input["limit"].as_u64().unwrap_or(0) as usize;
    for payload in [&input["value"], &input["payload"]] {
        let size = payload.to_string().len();
        match check_payload(payload, size, limit) {
            Ok(()) => ensure!(
                payload.as_object().is_some_and(|o| !o.is_empty()) && size <= limit,
                "accepted {size} bytes for a limit of {limit}"
            ),
            Err(e) => {
                ensure!(
                    ["PAYLOAD_NOT_OBJECT", "PAYLOAD_EMPTY", "PAYLOAD_TOO_LARGE"]
                        .contains(&e.code()),
                    "undocumented code {}",
                    e.code()
                );
                let right = match &e {
                    PayloadError::NotAnObject { .. } => !payload.is_object(),
                    PayloadError::Empty => payload.as_object().is_some_and(Map::is_empty),
                    PayloadError::TooLarge { bytes, .. } => *bytes == size && size > limit,
                };
                ensure!(right, "{e:?} for {size} bytes");
            }
        }
        // The raw layer reads the id and the page where validation does: at top level, or in
        // the dialect's `event_data`.
        let mapping = to_vocabulary(payload);
        if let Some(id) = client_event_id(payload) {
            ensure!(
                mapping.payload.get("event_id").and_then(Value::as_str) == Some(id)
                    && is_client_id(id, EVENT_ID_MAX_BYTES)
                    && id.is_ascii(),
                "client event id {id:?}"
            );
        }
        let host = page_url_host(payload);
        ensure!(
            host == host.to_ascii_lowercase()
                && !has_control(&host)
                && !host.contains(char::is_whitespace),
            "page_url_host {host:?}"
        );
        if !host.is_empty() {
            let read = mapping
                .payload
                .get("page_url")
                .and_then(Value::as_str)
                .and_then(|text| url::Url::parse(text).ok())
                .and_then(|url| url.host_str().and_then(normalize_host));
            ensure!(
                read.as_deref() == Some(host.as_str()),
                "page_url_host {host:?}, validation reads {read:?}"
            );
        }
    }
    // JSON text as a client sends it: whatever parses is validated like any payload.
    if let Some(text) = text(input, "json_text") {
        if let Ok(payload) = serde_json::from_str::<Value>(text) {
            validated(
                &payload,
                OffsetDateTime::UNIX_EPOCH + Duration::days(20_000),
            )?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Enrichment, attribution, user agents

fn parser() -> &'static UserAgentParser {
    static PARSER: OnceLock<UserAgentParser> = OnceLock::new();
    PARSER.get_or_init(UserAgentParser::new)
}

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
const STRIPPED_PARAMS: &[&str] = &["_gl", "mc_eid", "igshid"];

fn check_host(host: &str) -> Result<(), String> {
    ensure!(
        !host.is_empty()
            && !host.ends_with('.')
            && host == host.to_ascii_lowercase()
            && !has_control(host)
            && !host.contains(char::is_whitespace),
        "page host {host:?}"
    );
    Ok(())
}

fn check_path(path: &str) -> Result<(), String> {
    ensure!(
        path.starts_with('/') && (path == "/" || !path.ends_with('/')) && !has_control(path),
        "page path {path:?}"
    );
    Ok(())
}

fn check_query(query: &str) -> Result<(), String> {
    ensure!(
        !query.is_empty() && !has_control(query),
        "page query {query:?}"
    );
    for piece in query.split('&').filter(|p| !p.is_empty()) {
        if let Some((name, _)) = url::form_urlencoded::parse(piece.as_bytes()).next() {
            let name = name.trim().to_ascii_lowercase();
            ensure!(
                !name.starts_with("utm_")
                    && !CLICK_IDS.contains(&name.as_str())
                    && !STRIPPED_PARAMS.contains(&name.as_str()),
                "tracking parameter {name:?} kept in the query {query:?}"
            );
        }
    }
    Ok(())
}

fn check_campaign_value(name: &str, value: &str) -> Result<(), String> {
    ensure!(
        !value.is_empty()
            && value == value.trim()
            && value.chars().count() <= 500
            && !has_control(value),
        "campaign {name} = {value:?}"
    );
    Ok(())
}

fn check_campaign(c: &Campaign) -> Result<(), String> {
    for (name, value) in [
        ("utm_source", &c.utm_source),
        ("utm_medium", &c.utm_medium),
        ("utm_campaign", &c.utm_campaign),
        ("utm_term", &c.utm_term),
        ("utm_content", &c.utm_content),
    ] {
        if let Some(value) = value {
            check_campaign_value(name, value)?;
        }
    }
    for (name, value) in &c.click_ids {
        ensure!(
            CLICK_IDS.contains(&name.as_str()),
            "unknown click id {name:?}"
        );
        check_campaign_value(name, value)?;
    }
    Ok(())
}

fn check_referrer_host(host: &str) -> Result<(), String> {
    ensure!(
        !host.is_empty()
            && !host.ends_with('.')
            && host == host.to_ascii_lowercase()
            && !has_control(host)
            && !host.contains(char::is_whitespace),
        "referrer host {host:?}"
    );
    Ok(())
}

/// The channel rules that do not depend on the host lists.
fn check_channel(
    referrer: Option<&str>,
    page: Option<&str>,
    campaign: &Campaign,
    got: Channel,
) -> Result<(), String> {
    let present = |h: Option<&str>| h.is_some_and(|h| !h.trim().trim_end_matches('.').is_empty());
    let has_utm = [
        &campaign.utm_source,
        &campaign.utm_medium,
        &campaign.utm_campaign,
        &campaign.utm_term,
        &campaign.utm_content,
    ]
    .iter()
    .any(|v| v.is_some());
    let known_click = campaign
        .click_ids
        .keys()
        .any(|k| CLICK_IDS.contains(&k.as_str()));
    let paid_click = campaign
        .click_ids
        .keys()
        .any(|k| k != "fbclid" && CLICK_IDS.contains(&k.as_str()));
    let direct = !present(referrer) && !has_utm && !known_click;
    ensure!(
        (got == Channel::Direct) == direct,
        "channel {got:?} for referrer {referrer:?}, campaign {campaign:?}"
    );
    if got == Channel::Internal {
        ensure!(
            present(referrer) && present(page),
            "internal without both hosts"
        );
    }
    if paid_click {
        ensure!(got == Channel::Paid, "a paid click id gave {got:?}");
    }
    ensure!(
        channel(referrer, page, campaign) == got,
        "channel is not deterministic"
    );
    Ok(())
}

fn absent_user_agent() -> UserAgentInfo {
    UserAgentInfo {
        browser_name: None,
        browser_version: None,
        os_name: None,
        os_version: None,
        device_type: DeviceType::Bot,
        is_bot: true,
    }
}

fn prefix(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn check_user_agent(ua: Option<&str>) -> Result<UserAgentInfo, String> {
    let info = parser().parse(ua);
    ensure!(
        info == parser().parse(ua),
        "user agent parsing is not deterministic"
    );
    ensure!(
        info.is_bot == (info.device_type == DeviceType::Bot),
        "is_bot and device type disagree: {info:?}"
    );
    let trimmed = ua.unwrap_or("").trim();
    let parsed_part = prefix(trimmed, MAX_PARSED_BYTES).trim();
    if parsed_part.is_empty() {
        ensure!(info == absent_user_agent(), "no user agent gave {info:?}");
    }
    if trimmed.len() > MAX_PARSED_BYTES {
        ensure!(
            info == parser().parse(Some(parsed_part)),
            "a long user agent is not parsed on its first {MAX_PARSED_BYTES} bytes"
        );
    }
    for name in [&info.browser_name, &info.os_name].into_iter().flatten() {
        ensure!(
            !name.is_empty() && name == name.trim() && name != "Other",
            "name {name:?}"
        );
    }
    for version in [&info.browser_version, &info.os_version]
        .into_iter()
        .flatten()
    {
        ensure!(
            !version.is_empty()
                && !version.starts_with('.')
                && !version.ends_with('.')
                && !version.contains(".."),
            "version {version:?}"
        );
    }
    for out in [
        &info.browser_name,
        &info.os_name,
        &info.browser_version,
        &info.os_version,
    ]
    .into_iter()
    .flatten()
    {
        ensure!(
            out.len() <= MAX_PARSED_BYTES + 256,
            "{} byte output from the user agent",
            out.len()
        );
        ensure!(
            parsed_part.contains('\0') || !out.contains('\0'),
            "NUL in {out:?}"
        );
    }
    Ok(info)
}

fn check_user_agent_input(input: &Value) -> Result<(), String> {
    check_user_agent(text(input, "user_agent")).map(|_| ())
}

fn check_enrichment(
    fields: &EventFields,
    ua: Option<&str>,
    ip: Option<IpAddr>,
    validated: bool,
) -> Result<(), String> {
    let info = check_user_agent(ua)?;
    let e = enrich(fields, info.clone(), ip);
    ensure!(
        e == enrich(fields, info.clone(), ip),
        "enrichment is not deterministic"
    );
    ensure!(
        e.user_agent == info && e.device_type() == info.device_type,
        "user agent changed"
    );
    ensure!(
        e.client_ip_anonymized == ip.map(anonymize),
        "client IP not anonymised"
    );
    match (&fields.page_url, &fields.page_path) {
        (Some(url), _) => match parse_page_url(url) {
            Ok((location, campaign)) => ensure!(
                e.page_host.as_ref() == Some(&location.host)
                    && e.page_path.as_ref() == Some(&location.path)
                    && e.page_query == location.query
                    && e.campaign == campaign,
                "enrichment disagrees with parse_page_url"
            ),
            Err(why) => {
                ensure!(
                    !validated,
                    "validated page_url {url:?} fails enrichment: {why}"
                );
                ensure!(
                    e.page_host.is_none() && e.page_path.is_none(),
                    "page of a bad URL"
                );
            }
        },
        (None, Some(path)) => {
            let (p, query, campaign) = parse_page_path(path);
            ensure!(
                e.page_host.is_none()
                    && e.page_path.as_ref() == Some(&p)
                    && e.page_query == query
                    && e.campaign == campaign,
                "enrichment disagrees with parse_page_path"
            );
        }
        (None, None) => ensure!(
            e.page_host.is_none()
                && e.page_path.is_none()
                && e.page_query.is_none()
                && e.campaign == Campaign::default(),
            "page without a URL or path"
        ),
    }
    if let Some(host) = &e.page_host {
        check_host(host)?;
    }
    if let Some(path) = &e.page_path {
        check_path(path)?;
    }
    if let Some(query) = &e.page_query {
        check_query(query)?;
    }
    check_campaign(&e.campaign)?;
    ensure!(
        e.referrer_host == fields.referrer.as_deref().and_then(referrer_host),
        "referrer host differs from referrer_host()"
    );
    if let Some(host) = &e.referrer_host {
        check_referrer_host(host)?;
    }
    check_channel(
        e.referrer_host.as_deref(),
        e.page_host.as_deref(),
        &e.campaign,
        e.channel,
    )?;

    let hash = [0xab; 32];
    let out = e.to_json(Some(&hash));
    let object = out.as_object().ok_or("enrichment JSON is not an object")?;
    for key in [
        "browser_name",
        "browser_version",
        "os_name",
        "os_version",
        "device_type",
        "is_bot",
        "page_host",
        "page_path",
        "page_query",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
        "referrer_host",
        "channel",
        "client_ip_anonymized",
        "visitor_hash",
        "click_ids",
    ] {
        ensure!(object.contains_key(key), "enrichment JSON lacks {key}");
    }
    ensure!(
        out["channel"] == e.channel.as_str() && out["device_type"] == info.device_type.as_str(),
        "enum names"
    );
    ensure!(out["visitor_hash"] == to_hex(&hash), "visitor hash");
    for (name, value) in &e.campaign.click_ids {
        ensure!(
            out[name.as_str()] == value.as_str()
                && out["click_ids"][name.as_str()] == value.as_str(),
            "click id {name}"
        );
    }
    if !ua.unwrap_or("").contains('\0') {
        ensure!(!contains_nul(&out), "NUL in the enrichment JSON");
    }
    Ok(())
}

fn check_enrich(input: &Value) -> Result<(), String> {
    let payload = &input["payload"];
    let ua = text(input, "user_agent");
    let ip = text(input, "client_ip").and_then(parse_inet);
    let fields = validated(payload, received_at(&input["received_at"]))?;
    check_enrichment(&fields, ua, ip, true)?;
    // The same strings without validation: enrichment must cope with anything.
    let raw = |key: &str| text(payload, key).map(str::to_owned);
    let unchecked = EventFields {
        page_url: raw("page_url"),
        page_path: raw("page_path"),
        referrer: raw("referrer"),
        ..EventFields::default()
    };
    check_enrichment(&unchecked, ua, ip, false)
}

fn campaign_input() -> BoxedStrategy<Value> {
    let value = || {
        proptest::option::of(prop_oneof![
            inputs::nasty_string(),
            proptest::sample::select(
                &[
                    "cpc",
                    "email",
                    "Paid_Social",
                    "organic",
                    "social",
                    "newsletter",
                    ""
                ][..]
            )
            .prop_map(str::to_owned)
        ])
    };
    (
        value(),
        value(),
        value(),
        proptest::collection::btree_map(
            prop_oneof![proptest::sample::select(CLICK_IDS).prop_map(str::to_owned), inputs::nasty_string()],
            inputs::nasty_string(),
            0..3,
        ),
    )
        .prop_map(|(source, medium, campaign, click_ids)| {
            json!({ "utm_source": source, "utm_medium": medium, "utm_campaign": campaign, "click_ids": click_ids })
        })
        .boxed()
}

fn check_attribution(input: &Value) -> Result<(), String> {
    let url = text(input, "url").unwrap_or_default();
    if let Ok((location, campaign)) = parse_page_url(url) {
        let parsed =
            url::Url::parse(url).map_err(|e| format!("accepted unparseable {url:?}: {e}"))?;
        ensure!(
            matches!(parsed.scheme(), "http" | "https"),
            "accepted scheme {}",
            parsed.scheme()
        );
        check_host(&location.host)?;
        check_path(&location.path)?;
        if let Some(query) = &location.query {
            check_query(query)?;
        }
        check_campaign(&campaign)?;
        ensure!(
            parse_page_url(url) == Ok((location, campaign)),
            "parse_page_url is not deterministic"
        );
    }
    let path = text(input, "path").unwrap_or_default();
    let (page_path, query, campaign) = parse_page_path(path);
    check_path(&page_path)?;
    if let Some(query) = &query {
        check_query(query)?;
    }
    check_campaign(&campaign)?;

    let referrer = text(input, "referrer").unwrap_or_default();
    if let Some(host) = referrer_host(referrer) {
        check_referrer_host(&host)?;
    }
    // channel() on raw hosts and any campaign, not only what the parsers produce.
    let c = &input["campaign"];
    let s = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_owned);
    let campaign = Campaign {
        utm_source: s("utm_source"),
        utm_medium: s("utm_medium"),
        utm_campaign: s("utm_campaign"),
        utm_term: None,
        utm_content: None,
        click_ids: c["click_ids"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default(),
    };
    let (ref_host, page_host) = (text(input, "referrer_host"), text(input, "page_host"));
    check_channel(
        ref_host,
        page_host,
        &campaign,
        channel(ref_host, page_host, &campaign),
    )
}

// ---------------------------------------------------------------------------------------------
// IP addresses

fn check_anonymized(ip: IpAddr) -> Result<(), String> {
    let anon = anonymize(ip);
    ensure!(anonymize(anon) == anon, "anonymising {ip} twice changes it");
    let host_bits_zero = match (ip, anon) {
        (IpAddr::V4(ip), IpAddr::V4(a)) => {
            ensure!(
                u32::from(a) >> 8 == u32::from(ip) >> 8 && u32::from(a) & 0xff == 0,
                "{ip} -> {a}"
            );
            u32::from(ip) & 0xff == 0
        }
        // An IPv4-mapped address is the IPv4 address it carries, and is stored as one.
        (IpAddr::V6(ip), IpAddr::V4(a)) => {
            let v4 = ip.to_ipv4_mapped().ok_or(format!(
                "{ip} -> {a}: only an IPv4-mapped address becomes IPv4"
            ))?;
            ensure!(
                u32::from(a) >> 8 == u32::from(v4) >> 8 && u32::from(a) & 0xff == 0,
                "{ip} -> {a}"
            );
            false
        }
        (IpAddr::V6(ip), IpAddr::V6(a)) => {
            ensure!(
                ip.to_ipv4_mapped().is_none(),
                "{ip} -> {a} stayed IPv4-mapped"
            );
            ensure!(
                u128::from(a) >> 80 == u128::from(ip) >> 80 && u128::from(a) << 48 == 0,
                "{ip} -> {a}"
            );
            u128::from(ip) << 48 == 0
        }
        _ => return Err(format!("anonymising {ip} changed the address family")),
    };
    // The full address is never what is stored, unless it carries no host part to hide.
    ensure!((anon == ip) == host_bits_zero, "anonymised {ip} is {anon}");
    ensure!(
        stored_ip(IpStorage::Anonymized, ip) == Some(anon),
        "anonymized mode"
    );
    ensure!(stored_ip(IpStorage::Full, ip) == Some(ip), "full mode");
    ensure!(stored_ip(IpStorage::None, ip).is_none(), "none mode");
    ensure!(
        parse_inet(&ip.to_string()) == Some(ip.to_canonical()),
        "{ip} does not round-trip"
    );
    Ok(())
}

fn check_ip(input: &Value) -> Result<(), String> {
    let bits = input["bits"].as_u64().unwrap_or(0);
    let v6: u128 = text(input, "v6").and_then(|t| t.parse().ok()).unwrap_or(0);
    let v4 = Ipv4Addr::from(input["v4"].as_u64().unwrap_or(0) as u32);
    let mut ips = vec![
        IpAddr::V4(v4),
        IpAddr::V6(Ipv6Addr::from(v6)),
        IpAddr::V6(v4.to_ipv6_mapped()),
    ];
    let text = text(input, "text").unwrap_or_default();
    let parsed = parse_inet(text);
    let address_part = text.split_once('/').map_or(text, |(a, _)| a);
    ensure!(
        parsed
            == address_part
                .parse()
                .ok()
                .map(|ip: IpAddr| ip.to_canonical()),
        "parse_inet({text:?}) = {parsed:?}"
    );
    ips.extend(parsed);
    for ip in ips {
        check_anonymized(ip)?;
        ensure!(
            parse_inet(&format!("{ip}/{bits}")) == Some(ip.to_canonical()),
            "{ip}/{bits} does not parse"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Sessions, visitors, keys

const TENANTS: [&[u8]; 3] = [b"tenant-a", b"tenant-b", b""];
const HOSTS: [&str; 3] = ["example.com", "other.org", ""];

/// `remember` stands for a stored row of a derived session, and all rows of a derived session
/// carry the visitor hash it started with: so a remembered id always comes with the same hash.
fn session_op() -> BoxedStrategy<Value> {
    // Mostly one tenant, site and a few visitors, so that sessions meet.
    let index = || prop_oneof![3 => Just(0usize), 1 => 0usize..3];
    let remember = (index(), index(), 0u8..3, 0u8..2, inputs::micros()).prop_map(
        |(t, h, v, n, at)| json!({ "remember": [t, h, v, format!("stored-{v}-{n}"), at] }),
    );
    let assign = (
        index(),
        index(),
        0u8..3,
        proptest::option::of(0u8..3),
        inputs::micros(),
        any::<i64>(),
    )
        .prop_map(|(t, h, v, prev, at, key)| json!({ "assign": [t, h, v, prev, at, key] }));
    prop_oneof![1 => remember, 3 => assign].boxed()
}

/// Replays the operations; returns every assignment.
fn run_sessions(ops: &[Value]) -> Result<Vec<(String, [u8; 32])>, String> {
    let mut sessionizer = Sessionizer::default();
    let mut known: Vec<(String, [u8; 32])> = Vec::new();
    let mut out = Vec::new();
    let idx = |op: &Value, i: usize| op.get(i).and_then(Value::as_u64).unwrap_or(0) as usize % 3;
    for op in ops {
        if let Some(r) = op.get("remember") {
            let hash = [r[2].as_u64().unwrap_or(0) as u8; 32];
            let id = r[3].as_str().unwrap_or_default().to_owned();
            let at = r[4].as_i64().unwrap_or(0);
            known.push((id.clone(), hash));
            sessionizer.remember(
                (
                    TENANTS[idx(r, 0)].to_vec(),
                    HOSTS[idx(r, 1)].to_owned(),
                    hash,
                ),
                id,
                at,
            );
        } else if let Some(a) = op.get("assign") {
            let (tenant, host) = (TENANTS[idx(a, 0)], HOSTS[idx(a, 1)]);
            let hashes = VisitorHashes {
                current: [a[2].as_u64().unwrap_or(0) as u8; 32],
                previous: a[3].as_u64().map(|p| [p as u8; 32]),
            };
            let (at, key) = (a[4].as_i64().unwrap_or(0), a[5].as_i64().unwrap_or(0));
            let got = sessionizer.assign(tenant, host, hashes, at, key);
            let joined = known.iter().any(|(id, _)| *id == got.session_id);
            if joined {
                ensure!(
                    known
                        .iter()
                        .any(|(id, hash)| *id == got.session_id && *hash == got.visitor_hash)
                        || got.visitor_hash == hashes.current,
                    "joined session {} under a visitor hash it never had",
                    got.session_id
                );
            } else {
                ensure!(
                    got.session_id.len() == 32
                        && got
                            .session_id
                            .bytes()
                            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                        && got.visitor_hash == hashes.current,
                    "new session {:?} / {:?}",
                    got.session_id,
                    got.visitor_hash
                );
            }
            // The same visitor again at the same moment is in the same session.
            let again = sessionizer.assign(tenant, host, hashes, at, key.wrapping_add(1));
            ensure!(
                again == got,
                "an event at the same time got another session: {got:?} then {again:?}"
            );
            known.push((got.session_id.clone(), got.visitor_hash));
            out.push((got.session_id, got.visitor_hash));
        }
    }
    Ok(out)
}

fn check_sessions(input: &Value) -> Result<(), String> {
    let ops = input["ops"].as_array().cloned().unwrap_or_default();
    let first = run_sessions(&ops)?;
    ensure!(
        run_sessions(&ops)? == first,
        "sessions are not deterministic"
    );
    Ok(())
}

fn check_visitor(input: &Value) -> Result<(), String> {
    let salts = DailySalts {
        current: key32(&input["current"]),
        previous: (!input["previous"].is_null()).then(|| key32(&input["previous"])),
    };
    let host = text(input, "host").unwrap_or_default();
    let ip = text(input, "ip").and_then(parse_inet);
    let ua = text(input, "user_agent");
    let hashes = visitor_hashes(&salts, host, ip, ua);
    ensure!(
        hashes == visitor_hashes(&salts, host, ip, ua),
        "visitor hashes are not deterministic"
    );
    let Some(ip) = ip else {
        ensure!(hashes.is_none(), "a visitor without an IP");
        return Ok(());
    };
    let hashes = hashes.ok_or("no visitor hash despite an IP")?;
    let ua = ua.unwrap_or("");
    ensure!(
        hashes.current == visitor_hash(&salts.current, host, ip, ua),
        "current hash"
    );
    ensure!(
        hashes.previous == salts.previous.map(|s| visitor_hash(&s, host, ip, ua)),
        "previous hash"
    );
    ensure!(
        visitor_hash(&salts.current, &host.to_ascii_uppercase(), ip, ua) == hashes.current,
        "the site host's case changes the visitor"
    );
    if salts.previous.is_some_and(|p| p != salts.current) {
        ensure!(
            hashes.previous != Some(hashes.current),
            "two salts, one hash"
        );
    }
    Ok(())
}

fn keys_input() -> BoxedStrategy<Value> {
    let part = proptest::option::of(prop_oneof![
        3 => inputs::nasty_string(),
        1 => proptest::sample::select(&["", "\\", "|", "\\N", "\\|", "|\\", "a|b", "\\\\N", "N"][..]).prop_map(str::to_owned),
    ]);
    let parts = proptest::collection::vec(part, 0..5);
    let tenant = prop_oneof![
        3 => (0u8..3).prop_map(|b| vec![b; 32]),
        1 => proptest::collection::vec(any::<u8>(), 0..40),
    ];
    (
        tenant.clone(),
        tenant,
        parts.clone(),
        parts,
        (
            inputs::host(),
            inputs::path(),
            inputs::nasty_string(),
            any::<i64>(),
        ),
        proptest::collection::vec(proptest::option::of(inputs::key_bytes()), 0..4),
    )
        .prop_map(|(t1, t2, p1, p2, (host, path, text, n), hubs)| {
            json!({ "tenant": t1, "tenant2": t2, "parts": p1, "parts2": p2,
                    "host": host, "path": path, "text": text, "number": n, "hubs": hubs })
        })
        .boxed()
}

fn parts_of(value: &Value) -> Vec<Option<String>> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn as_refs(parts: &[Option<String>]) -> Vec<Option<&str>> {
    parts.iter().map(Option::as_deref).collect()
}

fn check_keys(input: &Value) -> Result<(), String> {
    let (t1, t2) = (bytes(&input["tenant"]), bytes(&input["tenant2"]));
    let (p1, p2) = (parts_of(&input["parts"]), parts_of(&input["parts2"]));
    let (r1, r2) = (as_refs(&p1), as_refs(&p2));

    let bk = business_key(&t1, &r1);
    ensure!(
        bk.starts_with(&to_hex(&t1)),
        "business key does not start with the tenant"
    );
    ensure!(
        hash_binary(&bk) == hash_key(&t1, &r1),
        "hash_key != hash_binary(business_key)"
    );
    ensure!(
        hash_key(&t1, &r1) == hash_key(&t1, &r1),
        "hash_key is not deterministic"
    );
    // Injective: other tenant or other parts, other key.
    if (t1.as_slice(), &p1) != (t2.as_slice(), &p2) {
        ensure!(
            business_key(&t2, &r2) != bk,
            "two inputs share the business key {bk:?}"
        );
    }
    let without_tenant = business_key(&[], &r1);
    ensure!(
        hash_diff(&r1) == hash_binary(without_tenant.strip_prefix('|').unwrap_or("")),
        "hash_diff is not the recipe without a tenant"
    );

    let host = text(input, "host").unwrap_or_default();
    let path = text(input, "path").unwrap_or_default();
    let any_text = text(input, "text").unwrap_or_default();
    if let Some(site) = site_business_key(host) {
        ensure!(
            !site.is_empty() && site == site.to_ascii_lowercase() && !site.ends_with('.'),
            "site business key {site:?} of {host:?}"
        );
        ensure!(
            site_business_key(&host.to_ascii_uppercase()) == Some(site.clone()),
            "site key depends on case"
        );
    } else {
        ensure!(
            !is_site_host(&host.trim().to_ascii_lowercase()),
            "no site key for the site host {host:?}"
        );
    }
    if is_site_host(host) && !host.starts_with("www.") {
        let decorated = format!(" WWW.{}. ", host.to_ascii_uppercase());
        ensure!(
            site_business_key(&decorated).as_deref() == Some(host),
            "{decorated:?} is not {host:?}"
        );
    }
    ensure!(
        site_key(&t1, host) == hash_key(&t1, &[Some(host)]),
        "site key"
    );
    let (page_bk, page_hk) = page_key(&t1, host, path);
    ensure!(
        page_bk == format!("{host}{path}") && page_hk == hash_key(&t1, &[Some(host), Some(path)]),
        "page key"
    );
    if t1 != t2 {
        ensure!(
            page_key(&t2, host, path).1 != page_hk,
            "page keys of two tenants collide"
        );
    }
    ensure!(
        session_key(&t1, host, any_text) == hash_key(&t1, &[Some(host), Some(any_text)]),
        "session key"
    );
    ensure!(
        api_key_key(&t1, any_text) == hash_key(&t1, &[Some(any_text)]),
        "api key key"
    );
    let n = input["number"].as_i64().unwrap_or(0);
    ensure!(
        tracking_event_key(&t1, n) == hash_key(&t1, &[Some(&n.to_string())]),
        "event key"
    );
    let hubs: Vec<Option<[u8; 32]>> = input["hubs"]
        .as_array()
        .map(|h| h.iter().map(|v| (!v.is_null()).then(|| key32(v))).collect())
        .unwrap_or_default();
    let hub_refs: Vec<Option<&[u8; 32]>> = hubs.iter().map(Option::as_ref).collect();
    let hex: Vec<Option<String>> = hubs.iter().map(|h| h.map(|k| to_hex(&k))).collect();
    ensure!(
        link_key(&t1, &hub_refs) == hash_key(&t1, &as_refs(&hex)),
        "link key"
    );
    Ok(())
}
