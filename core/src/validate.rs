//! Field-level validation of an event payload: the staging layer's gate between the lenient
//! raw layer and the analytics tables.
//!
//! The raw layer keeps any bounded JSON object (see [`crate::payload`]); this module decides
//! whether that object is a usable event. It never stops at the first problem: a quarantined
//! event carries every reason at once, so a client developer fixes them in one round trip.
//!
//! # Vocabulary
//!
//! One set of keys is used by every layer, the tracker script and the documentation
//! ([`KNOWN_FIELDS`]). Any other top-level key is an error, never silently renamed or dropped: a
//! key that is almost right (`eventType`, `evt_typ`) would otherwise lose data without anyone
//! noticing. Custom data belongs in `properties`. The one exception is a whole other vocabulary,
//! documented: see [Dialect](#dialect).
//!
//! | key            | JSON type | meaning                                                      |
//! |----------------|-----------|--------------------------------------------------------------|
//! | `event_type`   | string    | `page_view` or `custom`                                      |
//! | `event_name`   | string    | name of a custom event                                       |
//! | `page_url`     | string    | absolute `http(s)` URL of the page                           |
//! | `page_path`    | string    | path on the site's domain, when the URL is not sent          |
//! | `page_title`   | string    | document title                                               |
//! | `referrer`     | string    | absolute URL of the referring page (any scheme)              |
//! | `session_id`   | string    | client session id                                            |
//! | `event_id`     | string    | client-generated id that makes retries idempotent            |
//! | `timestamp`    | string    | ISO-8601 / RFC 3339 time with offset, as the client saw it   |
//! | `properties`   | object    | custom data: at most 30 scalar values                        |
//! | `screen_width` | number    | screen width in CSS pixels                                   |
//! | `language`     | string    | BCP 47 language tag (`navigator.language`)                   |
//! | `timezone`     | string    | IANA time zone name                                          |
//!
//! A JSON `null` means the same as leaving the key out, because tracker code commonly serialises
//! unset fields as `null`; an empty `referrer` is absent too, since that is what
//! `document.referrer` is on a direct visit. Values are kept as the client sent them:
//! normalisation (lower-casing hosts, stripping query strings) is a later step's job.
//!
//! # Dialect
//!
//! The One Vault platform's trackers send their own vocabulary (`evt_type`, `evt_category`,
//! `page_referrer`, `event_timestamp`, fields nested in `event_data`, ...). A payload with any of
//! its marker keys ([`crate::dialect::MARKER_KEYS`]) is first mapped onto ours by
//! [`crate::dialect::to_vocabulary`], then validated by the rules below; its context fields
//! become `properties`. The mapping's rules and its own issues (below, marked "dialect") are
//! in [`crate::dialect`]. A payload without a marker is validated exactly as sent.
//!
//! # Issue codes
//!
//! Codes are stable identifiers (API JSON, quarantine rows, dashboards); messages are for
//! people and may change. `field` is the payload key the issue is about (for a dialect payload,
//! the key of our vocabulary it maps to); property issues use `properties.<key>`. Wherever a
//! field name or message repeats client input, it carries at most 100 characters of it, with
//! control characters escaped.
//!
//! | code                        | field               | meaning                                                                 |
//! |-----------------------------|---------------------|-------------------------------------------------------------------------|
//! | `NOT_AN_OBJECT`             | `""`                | the payload is not a JSON object                                        |
//! | `UNKNOWN_FIELD`             | the key             | a top-level key outside the vocabulary (message names a near miss)      |
//! | `WRONG_TYPE`                | the key / `event_data` | a known key with the wrong JSON type (e.g. a number for `page_url`); dialect: `event_data` is not an object |
//! | `CONTROL_CHARACTERS`        | the key / `properties.<key>` | a free-text value (`event_name`, `page_url`, `page_path`, `page_title`, `referrer`, property strings) contains U+0000–U+001F or U+007F–U+009F |
//! | `EVENT_TYPE_MISSING`        | `event_type`        | no `event_type`                                                         |
//! | `EVENT_TYPE_UNKNOWN`        | `event_type`        | `event_type` is neither `page_view` nor `custom`                       |
//! | `EVENT_NAME_MISSING`        | `event_name`        | a `custom` event without `event_name`                                   |
//! | `EVENT_NAME_INVALID`        | `event_name`        | not 1 to 120 characters, or only whitespace                             |
//! | `PAGE_MISSING`              | `page_url`          | neither `page_url` nor `page_path`                                      |
//! | `PAGE_URL_TOO_LONG`         | `page_url`          | over 2261 bytes (the longest domain with the longest path)              |
//! | `PAGE_URL_INVALID`          | `page_url`          | not an absolute URL with `//host` (relative, malformed, bad port, padded with spaces) |
//! | `PAGE_URL_SCHEME`           | `page_url`          | scheme other than `http` / `https`                                      |
//! | `DOMAIN_INVALID`            | `page_url`          | host is an IP address or not a valid DNS name                           |
//! | `PAGE_PATH_INVALID`         | `page_path`         | does not start with a single `/`                                        |
//! | `PAGE_PATH_TOO_LONG`        | `page_path`         | over 2000 bytes                                                         |
//! | `TITLE_TOO_LONG`            | `page_title`        | over 500 characters                                                     |
//! | `REFERRER_TOO_LONG`         | `referrer`          | over 2000 bytes                                                         |
//! | `REFERRER_INVALID`          | `referrer`          | not an absolute URL                                                     |
//! | `PROPERTIES_NOT_OBJECT`     | `properties`        | `properties` is not a JSON object                                       |
//! | `PROPERTIES_TOO_MANY`       | `properties`        | more than 30 keys                                                       |
//! | `PROPERTY_KEY_INVALID`      | `properties.<key>`  | key not 1 to 64 characters, only whitespace, or with control characters |
//! | `PROPERTY_VALUE_NOT_SCALAR` | `properties.<key>`  | value is an object or an array                                          |
//! | `PROPERTY_VALUE_TOO_LONG`   | `properties.<key>`  | string value over 500 characters                                        |
//! | `TIMESTAMP_INVALID`         | `timestamp`         | not a string, or not ISO-8601 / RFC 3339 with an offset (dialect: without one is UTC) |
//! | `TIMESTAMP_OUT_OF_WINDOW`   | `timestamp`         | over 7 days before, or over 5 minutes after, the server received it     |
//! | `SESSION_ID_INVALID`        | `session_id`        | not 1 to 128 characters of `[A-Za-z0-9._:-]`                            |
//! | `EVENT_ID_INVALID`          | `event_id`          | not 1 to [`EVENT_ID_MAX_BYTES`] characters of `[A-Za-z0-9._:-]`         |
//! | `SCREEN_WIDTH_INVALID`      | `screen_width`      | a number that is not a whole number from 1 to 20000                     |
//! | `LANGUAGE_INVALID`          | `language`          | not shaped like a BCP 47 tag (`ll(-xxxxxxxx)*`, at most 35 characters)  |
//! | `TIMEZONE_INVALID`          | `timezone`          | not 1 to 64 characters of `[A-Za-z0-9/_+-]`                             |
//!
//! Warnings (the event is still valid):
//!
//! | code                 | field        | meaning                                                       |
//! |----------------------|--------------|---------------------------------------------------------------|
//! | `EVENT_NAME_IGNORED` | `event_name` | a `page_view` carries an `event_name`; it is not stored       |
//! | `PAGE_PATH_IGNORED`  | `page_path`  | both `page_url` and `page_path` were sent; the URL wins       |
//! | `TITLE_MISSING`      | `page_title` | a `page_view` without a (non-blank) title                     |
//! | `TIMESTAMP_MISSING`  | `timestamp`  | no client time; the server's receipt time is used instead     |
//! | `TIMESTAMP_ASSUMED_UTC` | `timestamp` | dialect: a timestamp without a UTC offset was read as UTC  |
//! | `CLIENT_FIELDS_IGNORED` | `device_type`, `browser_name`, `user_agent` (those sent, joined by `, `) | dialect: client claims dropped; they are derived from the User-Agent |
//!
//! A wrong JSON type is `WRONG_TYPE` except for `timestamp` (`TIMESTAMP_INVALID`: epoch numbers
//! are the usual mistake and get a specific message) and `properties` (`PROPERTIES_NOT_OBJECT`).
//! A `screen_width` that is a number but not a whole 1 to 20000 is `SCREEN_WIDTH_INVALID`
//! (`1024.0` counts as whole: some serialisers write every number as a float). A `page_view`'s
//! `event_name` and a `page_path` sent next to `page_url` are ignored, so they are not checked.
//!
//! # Quality score
//!
//! A number in `0.0..=1.0`, two decimals, for dashboards that rank sources by data quality:
//!
//! * valid event: `1.0 - 0.1 × warnings`, never below `0.5`;
//! * invalid event: `0.5 - 0.1 × errors`, never below `0.0` (warnings do not count).
//!
//! So every valid event scores at least `0.5` and every invalid one at most `0.4`, and the
//! threshold `0.5` separates them.

use serde_json::{json, Map, Value};
use time::format_description::well_known::{Iso8601, Rfc3339};
use time::{Duration, OffsetDateTime};

use crate::dialect;
use crate::domain::{is_site_host, DOMAIN_MAX_BYTES};
use crate::payload::{is_client_id, json_type_name, EVENT_ID_MAX_BYTES};

/// How far before its receipt an event's own time may be. Trackers queue events while offline
/// and mobile apps upload batches later, so a day is too short; beyond a week the event would
/// land in reporting periods that were already read, and a clock that wrong is not trusted.
pub const TIMESTAMP_MAX_AGE_SECONDS: i64 = 7 * 24 * 3600;
/// How far after its receipt an event's own time may be: only client clock skew explains a
/// future time, and honest clocks are within a few minutes.
pub const TIMESTAMP_MAX_FUTURE_SECONDS: i64 = 300;

/// Longest `page_path`: the de-facto URL limit of browsers, CDNs and search engines, since the
/// path is usually most of a URL.
pub const PAGE_PATH_MAX_BYTES: usize = 2000;
/// Longest `page_url`: the longest path on the longest domain, so that a path within its limit
/// makes a valid URL on every site (the tracking API builds page URLs from the site's domain
/// and the path it is given).
pub const PAGE_URL_MAX_BYTES: usize = "https://".len() + DOMAIN_MAX_BYTES + PAGE_PATH_MAX_BYTES;
/// Longest `page_title` in characters. Search engines show about 60; 500 leaves room for long
/// product titles while rejecting a page that put its body text into `<title>`.
pub const PAGE_TITLE_MAX_CHARS: usize = 500;
/// Longest `referrer`, the same as a page URL since it is one.
pub const REFERRER_MAX_BYTES: usize = 2000;
/// Longest `event_name` in characters: names are labels in reports, not data.
pub const EVENT_NAME_MAX_CHARS: usize = 120;
/// Most keys in `properties`; more means the client is sending a record, not event context.
pub const PROPERTIES_MAX_KEYS: usize = 30;
/// Longest property key in characters.
pub const PROPERTY_KEY_MAX_CHARS: usize = 64;
/// Longest property string value in characters.
pub const PROPERTY_VALUE_MAX_CHARS: usize = 500;
/// Longest `session_id` (ASCII, so bytes and characters agree); a UUID is 36.
pub const SESSION_ID_MAX_BYTES: usize = 128;
/// Longest `language`: the length RFC 5646 asks implementations to support at least.
pub const LANGUAGE_MAX_BYTES: usize = 35;
/// Longest `timezone`; the longest IANA name is 32.
pub const TIMEZONE_MAX_BYTES: usize = 64;
/// Smallest `screen_width`.
pub const SCREEN_WIDTH_MIN: i32 = 1;
/// Largest `screen_width`: above any real display (8K is 7680), so larger values are junk.
pub const SCREEN_WIDTH_MAX: i32 = 20_000;

/// The payload vocabulary, in documentation order; every layer uses exactly these keys.
pub const KNOWN_FIELDS: [&str; 13] = [
    "event_type",
    "event_name",
    "page_url",
    "page_path",
    "page_title",
    "referrer",
    "session_id",
    "event_id",
    "timestamp",
    "properties",
    "screen_width",
    "language",
    "timezone",
];

/// Client input repeated in an issue is cut to this many characters, so a 1 MB value cannot
/// turn its quarantine record into another 1 MB.
const ECHO_MAX_CHARS: usize = 100;

const NOT_AN_OBJECT: &str = "NOT_AN_OBJECT";
const UNKNOWN_FIELD: &str = "UNKNOWN_FIELD";
pub(crate) const WRONG_TYPE: &str = "WRONG_TYPE";
const CONTROL_CHARACTERS: &str = "CONTROL_CHARACTERS";
const EVENT_TYPE_MISSING: &str = "EVENT_TYPE_MISSING";
const EVENT_TYPE_UNKNOWN: &str = "EVENT_TYPE_UNKNOWN";
const EVENT_NAME_MISSING: &str = "EVENT_NAME_MISSING";
const EVENT_NAME_INVALID: &str = "EVENT_NAME_INVALID";
const EVENT_NAME_IGNORED: &str = "EVENT_NAME_IGNORED";
const PAGE_MISSING: &str = "PAGE_MISSING";
const PAGE_URL_TOO_LONG: &str = "PAGE_URL_TOO_LONG";
const PAGE_URL_INVALID: &str = "PAGE_URL_INVALID";
const PAGE_URL_SCHEME: &str = "PAGE_URL_SCHEME";
const DOMAIN_INVALID: &str = "DOMAIN_INVALID";
const PAGE_PATH_INVALID: &str = "PAGE_PATH_INVALID";
const PAGE_PATH_TOO_LONG: &str = "PAGE_PATH_TOO_LONG";
const PAGE_PATH_IGNORED: &str = "PAGE_PATH_IGNORED";
const TITLE_TOO_LONG: &str = "TITLE_TOO_LONG";
const TITLE_MISSING: &str = "TITLE_MISSING";
const REFERRER_TOO_LONG: &str = "REFERRER_TOO_LONG";
const REFERRER_INVALID: &str = "REFERRER_INVALID";
const PROPERTIES_NOT_OBJECT: &str = "PROPERTIES_NOT_OBJECT";
const PROPERTIES_TOO_MANY: &str = "PROPERTIES_TOO_MANY";
const PROPERTY_KEY_INVALID: &str = "PROPERTY_KEY_INVALID";
const PROPERTY_VALUE_NOT_SCALAR: &str = "PROPERTY_VALUE_NOT_SCALAR";
const PROPERTY_VALUE_TOO_LONG: &str = "PROPERTY_VALUE_TOO_LONG";
const TIMESTAMP_INVALID: &str = "TIMESTAMP_INVALID";
const TIMESTAMP_OUT_OF_WINDOW: &str = "TIMESTAMP_OUT_OF_WINDOW";
const TIMESTAMP_MISSING: &str = "TIMESTAMP_MISSING";
const SESSION_ID_INVALID: &str = "SESSION_ID_INVALID";
const EVENT_ID_INVALID: &str = "EVENT_ID_INVALID";
const SCREEN_WIDTH_INVALID: &str = "SCREEN_WIDTH_INVALID";
const LANGUAGE_INVALID: &str = "LANGUAGE_INVALID";
const TIMEZONE_INVALID: &str = "TIMEZONE_INVALID";

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl Issue {
    /// `{"field": ..., "code": ..., "message": ...}`
    pub fn to_json(&self) -> Value {
        json!({ "field": self.field, "code": self.code, "message": self.message })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    PageView,
    Custom,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::PageView => "page_view",
            EventType::Custom => "custom",
        }
    }

    fn parse(s: &str) -> Option<EventType> {
        match s {
            "page_view" => Some(EventType::PageView),
            "custom" => Some(EventType::Custom),
            _ => None,
        }
    }
}

/// The event's fields after validation; present even for an invalid event (whatever could be
/// read), so quarantined rows keep as much as possible. A field is set only when its own value
/// passed its rules, so every value here is within the limits above.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFields {
    pub event_type: Option<EventType>,
    /// Only for events that are not page views (a page view's name is ignored).
    pub event_name: Option<String>,
    pub page_url: Option<String>,
    /// Only when no `page_url` was sent.
    pub page_path: Option<String>,
    pub page_title: Option<String>,
    pub referrer: Option<String>,
    pub session_id: Option<String>,
    pub event_id: Option<String>,
    /// Only when valid and in the window around the receipt time.
    pub timestamp: Option<OffsetDateTime>,
    /// Only the valid entries, at most [`PROPERTIES_MAX_KEYS`] of them.
    pub properties: Map<String, Value>,
    pub screen_width: Option<i32>,
    pub language: Option<String>,
    pub timezone: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Validation {
    pub errors: Vec<Issue>,
    pub warnings: Vec<Issue>,
    pub quality_score: f64,
    pub fields: EventFields,
}

impl Validation {
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    /// `{"valid": bool, "errors": [issue], "warnings": [issue], "quality_score": number}`
    pub fn to_json(&self) -> Value {
        json!({
            "valid": self.is_valid(),
            "errors": self.errors.iter().map(Issue::to_json).collect::<Vec<_>>(),
            "warnings": self.warnings.iter().map(Issue::to_json).collect::<Vec<_>>(),
            "quality_score": self.quality_score,
        })
    }
}

/// Validates one event payload. `received_at`: when the raw layer received the event (the
/// timestamp window is around it). Never panics, whatever the payload.
pub fn validate(payload: &Value, received_at: OffsetDateTime) -> Validation {
    // First, so that every caller (staging, the API, `staging.validate_event_data`) reads the
    // platform's dialect the same way; a payload in our vocabulary is borrowed as it is.
    let mapping = dialect::to_vocabulary(payload);
    let payload = mapping.payload.as_ref();
    let mut checker = Checker {
        errors: mapping.errors,
        warnings: mapping.warnings,
        fields: EventFields::default(),
    };
    match payload.as_object() {
        Some(object) => checker.check_object(object, received_at),
        None => checker.error(
            "",
            NOT_AN_OBJECT,
            format!(
                "event payload must be a JSON object, got {}",
                json_type_name(payload)
            ),
        ),
    }
    // Issues stay on our field names; the message says which key the value came from.
    for (field, sent_as) in &mapping.sent_as {
        for issue in checker.errors.iter_mut().chain(&mut checker.warnings) {
            if issue.field == *field {
                issue.message.push_str(&format!(" (sent as \"{sent_as}\")"));
            }
        }
    }
    checker.finish()
}

/// A string field as read from the payload; `Wrong` has already been reported.
enum Read<'a> {
    Absent,
    Wrong,
    Str(&'a str),
}

#[derive(Default)]
struct Checker {
    errors: Vec<Issue>,
    warnings: Vec<Issue>,
    fields: EventFields,
}

impl Checker {
    fn error(&mut self, field: &str, code: &'static str, message: String) {
        self.errors.push(Issue {
            field: field.to_owned(),
            code,
            message,
        });
    }

    fn warn(&mut self, field: &str, code: &'static str, message: String) {
        self.warnings.push(Issue {
            field: field.to_owned(),
            code,
            message,
        });
    }

    fn finish(self) -> Validation {
        // Whole tenths in integers, so scores compare exactly (0.7, not 0.7000000000000001).
        let tenths = if self.errors.is_empty() {
            10 - self.warnings.len().min(5)
        } else {
            5 - self.errors.len().min(5)
        };
        let score = (tenths as f64 / 10.0 * 100.0).round() / 100.0;
        Validation {
            errors: self.errors,
            warnings: self.warnings,
            quality_score: score,
            fields: self.fields,
        }
    }

    fn read_str<'a>(&mut self, object: &'a Map<String, Value>, key: &str) -> Read<'a> {
        match object.get(key) {
            None | Some(Value::Null) => Read::Absent,
            Some(Value::String(s)) => Read::Str(s),
            Some(other) => {
                self.error(
                    key,
                    WRONG_TYPE,
                    format!("{key} must be a string, got {}", json_type_name(other)),
                );
                Read::Wrong
            }
        }
    }

    /// Reports control characters in a free-text value. They are never meaningful in these
    /// fields, break log lines and CSV exports, and PostgreSQL text cannot hold NUL at all.
    fn no_controls(&mut self, field: &str, value: &str) -> bool {
        if value.chars().any(char::is_control) {
            self.error(
                field,
                CONTROL_CHARACTERS,
                format!("{field} contains control characters: {}", quote(value)),
            );
            return false;
        }
        true
    }

    fn check_object(&mut self, object: &Map<String, Value>, received_at: OffsetDateTime) {
        for key in object.keys() {
            if !KNOWN_FIELDS.contains(&key.as_str()) {
                self.unknown_field(key);
            }
        }
        let event_type = self.check_event_type(object);
        self.check_event_name(object, event_type);
        self.check_page(object);
        self.check_title(object, event_type);
        self.check_referrer(object);
        self.fields.session_id = self.check_id(
            object,
            "session_id",
            SESSION_ID_MAX_BYTES,
            SESSION_ID_INVALID,
        );
        self.fields.event_id =
            self.check_id(object, "event_id", EVENT_ID_MAX_BYTES, EVENT_ID_INVALID);
        self.check_timestamp(object, received_at);
        self.check_properties(object);
        self.check_screen_width(object);
        self.check_language(object);
        self.check_timezone(object);
    }

    fn unknown_field(&mut self, key: &str) {
        let message = match suggest(key) {
            Some(known) => format!(
                "unknown field {}: did you mean \"{known}\"? (custom data belongs in \"properties\")",
                quote(key)
            ),
            None => format!(
                "unknown field {}: custom data belongs in \"properties\"",
                quote(key)
            ),
        };
        self.error(&label(key), UNKNOWN_FIELD, message);
    }

    fn check_event_type(&mut self, object: &Map<String, Value>) -> Option<EventType> {
        match self.read_str(object, "event_type") {
            Read::Absent => {
                self.error(
                    "event_type",
                    EVENT_TYPE_MISSING,
                    "event_type is required: \"page_view\" or \"custom\"".to_owned(),
                );
                None
            }
            Read::Wrong => None,
            Read::Str(s) => {
                let parsed = EventType::parse(s);
                match parsed {
                    Some(_) => self.fields.event_type = parsed,
                    None => self.error(
                        "event_type",
                        EVENT_TYPE_UNKNOWN,
                        format!("event_type {} is not \"page_view\" or \"custom\"", quote(s)),
                    ),
                }
                parsed
            }
        }
    }

    fn check_event_name(&mut self, object: &Map<String, Value>, event_type: Option<EventType>) {
        if event_type == Some(EventType::PageView) {
            // Not validated: it is dropped anyway, and a page view should not fail over it.
            if !matches!(object.get("event_name"), None | Some(Value::Null)) {
                self.warn(
                    "event_name",
                    EVENT_NAME_IGNORED,
                    "event_name is ignored on a page_view; use event_type \"custom\" for named events"
                        .to_owned(),
                );
            }
            return;
        }
        match self.read_str(object, "event_name") {
            Read::Absent => {
                if event_type == Some(EventType::Custom) {
                    self.error(
                        "event_name",
                        EVENT_NAME_MISSING,
                        "a custom event needs an event_name".to_owned(),
                    );
                }
            }
            Read::Wrong => {}
            Read::Str(name) => {
                if !self.no_controls("event_name", name) {
                    return;
                }
                if name.trim().is_empty() || exceeds_chars(name, EVENT_NAME_MAX_CHARS) {
                    self.error(
                        "event_name",
                        EVENT_NAME_INVALID,
                        format!(
                            "event_name must be 1 to {EVENT_NAME_MAX_CHARS} characters and not blank, got {}",
                            quote(name)
                        ),
                    );
                    return;
                }
                self.fields.event_name = Some(name.to_owned());
            }
        }
    }

    fn check_page(&mut self, object: &Map<String, Value>) {
        let has = |key: &str| !matches!(object.get(key), None | Some(Value::Null));
        match (has("page_url"), has("page_path")) {
            (false, false) => self.error(
                "page_url",
                PAGE_MISSING,
                "the page is required: send page_url (absolute URL) or page_path".to_owned(),
            ),
            (true, with_path) => {
                if with_path {
                    self.warn(
                        "page_path",
                        PAGE_PATH_IGNORED,
                        "page_path is ignored because page_url is present".to_owned(),
                    );
                }
                if let Read::Str(url) = self.read_str(object, "page_url") {
                    self.check_page_url(url);
                }
            }
            (false, true) => {
                if let Read::Str(path) = self.read_str(object, "page_path") {
                    self.check_page_path(path);
                }
            }
        }
    }

    fn check_page_url(&mut self, url: &str) {
        let mut ok = true;
        if url.len() > PAGE_URL_MAX_BYTES {
            ok = false;
            self.error(
                "page_url",
                PAGE_URL_TOO_LONG,
                format!(
                    "page_url is {} bytes, over the limit of {PAGE_URL_MAX_BYTES}",
                    url.len()
                ),
            );
        }
        ok &= self.no_controls("page_url", url);
        // The URL parser would strip tabs and newlines and truncate nothing, so a value that
        // already failed is not parsed: its result would describe a different URL.
        if !ok {
            return;
        }
        let parsed = match parse_absolute(url) {
            Ok(parsed) => parsed,
            Err(why) => {
                self.error(
                    "page_url",
                    PAGE_URL_INVALID,
                    format!("page_url {} is not an absolute URL: {why}", quote(url)),
                );
                return;
            }
        };
        if !matches!(parsed.scheme(), "http" | "https") {
            self.error(
                "page_url",
                PAGE_URL_SCHEME,
                format!(
                    "page_url must be http or https, got scheme {}",
                    quote(parsed.scheme())
                ),
            );
            return;
        }
        // WHATWG parsing accepts `https:example.com` and `https:\\example.com`; a browser's
        // location.href never looks like that, so it points at a hand-built URL gone wrong.
        let after_scheme = url.get(parsed.scheme().len() + 1..).unwrap_or_default();
        if !after_scheme.starts_with("//") {
            self.error(
                "page_url",
                PAGE_URL_INVALID,
                format!(
                    "page_url {} must have the form scheme://host/...",
                    quote(url)
                ),
            );
            return;
        }
        match parsed.host() {
            // The url crate has already made the host ASCII (IDNA) and lower case; the trailing
            // dot of a fully qualified name (`https://example.com./`) is the same site.
            Some(url::Host::Domain(host))
                if is_site_host(host.strip_suffix('.').unwrap_or(host)) =>
            {
                self.fields.page_url = Some(url.to_owned());
            }
            Some(url::Host::Domain(host)) => self.error(
                "page_url",
                DOMAIN_INVALID,
                format!("page_url host {} is not a valid domain name", quote(host)),
            ),
            // Analytics are kept per site domain; an address is a preview or an attack.
            Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => self.error(
                "page_url",
                DOMAIN_INVALID,
                "page_url host is an IP address; pages are tracked per domain name".to_owned(),
            ),
            None => self.error(
                "page_url",
                DOMAIN_INVALID,
                "page_url has no host".to_owned(),
            ),
        }
    }

    fn check_page_path(&mut self, path: &str) {
        let mut ok = true;
        if path.len() > PAGE_PATH_MAX_BYTES {
            ok = false;
            self.error(
                "page_path",
                PAGE_PATH_TOO_LONG,
                format!(
                    "page_path is {} bytes, over the limit of {PAGE_PATH_MAX_BYTES}",
                    path.len()
                ),
            );
        }
        ok &= self.no_controls("page_path", path);
        // `//host/x` and `/\host/x` are protocol-relative URLs to browsers: another site.
        if !path.starts_with('/') || path.starts_with("//") || path.starts_with("/\\") {
            ok = false;
            self.error(
                "page_path",
                PAGE_PATH_INVALID,
                format!(
                    "page_path must start with a single '/', got {}",
                    quote(path)
                ),
            );
        }
        if ok {
            self.fields.page_path = Some(path.to_owned());
        }
    }

    fn check_title(&mut self, object: &Map<String, Value>, event_type: Option<EventType>) {
        let title = match self.read_str(object, "page_title") {
            Read::Wrong => return,
            Read::Absent => "",
            Read::Str(title) => title,
        };
        let mut ok = self.no_controls("page_title", title);
        if exceeds_chars(title, PAGE_TITLE_MAX_CHARS) {
            ok = false;
            self.error(
                "page_title",
                TITLE_TOO_LONG,
                format!("page_title is over {PAGE_TITLE_MAX_CHARS} characters"),
            );
        }
        if !ok {
            return;
        }
        // A blank title (a page without <title>) says nothing; it counts as missing.
        if !title.trim().is_empty() {
            self.fields.page_title = Some(title.to_owned());
        } else if event_type == Some(EventType::PageView) {
            self.warn(
                "page_title",
                TITLE_MISSING,
                "page_view has no page_title; reports will show the URL instead".to_owned(),
            );
        }
    }

    fn check_referrer(&mut self, object: &Map<String, Value>) {
        let referrer = match self.read_str(object, "referrer") {
            Read::Str(r) if !r.is_empty() => r,
            _ => return,
        };
        let mut ok = true;
        if referrer.len() > REFERRER_MAX_BYTES {
            ok = false;
            self.error(
                "referrer",
                REFERRER_TOO_LONG,
                format!(
                    "referrer is {} bytes, over the limit of {REFERRER_MAX_BYTES}",
                    referrer.len()
                ),
            );
        }
        ok &= self.no_controls("referrer", referrer);
        if !ok {
            return;
        }
        // Any scheme: app referrers (`android-app://...`) are real traffic sources.
        match parse_absolute(referrer) {
            Ok(_) => self.fields.referrer = Some(referrer.to_owned()),
            Err(why) => self.error(
                "referrer",
                REFERRER_INVALID,
                format!("referrer {} is not an absolute URL: {why}", quote(referrer)),
            ),
        }
    }

    fn check_id(
        &mut self,
        object: &Map<String, Value>,
        key: &str,
        max_bytes: usize,
        code: &'static str,
    ) -> Option<String> {
        let Read::Str(id) = self.read_str(object, key) else {
            return None;
        };
        if is_client_id(id, max_bytes) {
            return Some(id.to_owned());
        }
        self.error(
            key,
            code,
            format!(
                "{key} must be 1 to {max_bytes} characters of A-Z a-z 0-9 . _ : -, got {}",
                quote(id)
            ),
        );
        None
    }

    fn check_timestamp(&mut self, object: &Map<String, Value>, received_at: OffsetDateTime) {
        let text = match object.get("timestamp") {
            None | Some(Value::Null) => {
                self.warn(
                    "timestamp",
                    TIMESTAMP_MISSING,
                    "no timestamp; the server's receipt time is used".to_owned(),
                );
                return;
            }
            Some(Value::String(s)) => s,
            Some(other) => {
                self.error(
                    "timestamp",
                    TIMESTAMP_INVALID,
                    format!(
                        "timestamp must be an ISO-8601 string such as \"2026-11-25T20:17:02.123Z\", got a {}{}",
                        json_type_name(other),
                        if other.is_number() { " (epoch numbers are ambiguous: seconds or milliseconds?)" } else { "" }
                    ),
                );
                return;
            }
        };
        let Some(at) = parse_timestamp(text) else {
            self.error(
                "timestamp",
                TIMESTAMP_INVALID,
                format!(
                    "timestamp {} is not ISO-8601 with an offset, such as \"2026-11-25T20:17:02.123Z\"",
                    quote(text)
                ),
            );
            return;
        };
        let ahead = at - received_at;
        if ahead > Duration::seconds(TIMESTAMP_MAX_FUTURE_SECONDS) {
            self.error(
                "timestamp",
                TIMESTAMP_OUT_OF_WINDOW,
                format!(
                    "timestamp is {} s after the server received the event (limit {TIMESTAMP_MAX_FUTURE_SECONDS} s); check the client clock",
                    ahead.whole_seconds()
                ),
            );
        } else if -ahead > Duration::seconds(TIMESTAMP_MAX_AGE_SECONDS) {
            self.error(
                "timestamp",
                TIMESTAMP_OUT_OF_WINDOW,
                format!(
                    "timestamp is {} days before the server received the event (limit {} days)",
                    (-ahead).whole_days(),
                    TIMESTAMP_MAX_AGE_SECONDS / 86_400
                ),
            );
        } else {
            self.fields.timestamp = Some(at);
        }
    }

    fn check_properties(&mut self, object: &Map<String, Value>) {
        let properties = match object.get("properties") {
            None | Some(Value::Null) => return,
            Some(Value::Object(map)) => map,
            Some(other) => {
                self.error(
                    "properties",
                    PROPERTIES_NOT_OBJECT,
                    format!(
                        "properties must be an object of scalar values, got {}",
                        json_type_name(other)
                    ),
                );
                return;
            }
        };
        if properties.len() > PROPERTIES_MAX_KEYS {
            self.error(
                "properties",
                PROPERTIES_TOO_MANY,
                format!(
                    "properties has {} keys, over the limit of {PROPERTIES_MAX_KEYS}",
                    properties.len()
                ),
            );
        }
        for (key, value) in properties {
            if self.property_ok(key, value) && self.fields.properties.len() < PROPERTIES_MAX_KEYS {
                self.fields.properties.insert(key.clone(), value.clone());
            }
        }
    }

    fn property_ok(&mut self, key: &str, value: &Value) -> bool {
        let field = format!("properties.{}", label(key));
        if key.trim().is_empty()
            || exceeds_chars(key, PROPERTY_KEY_MAX_CHARS)
            || key.chars().any(char::is_control)
        {
            self.error(
                &field,
                PROPERTY_KEY_INVALID,
                format!(
                    "property key {} must be 1 to {PROPERTY_KEY_MAX_CHARS} printable characters",
                    quote(key)
                ),
            );
            return false;
        }
        match value {
            Value::Object(_) | Value::Array(_) => {
                self.error(
                    &field,
                    PROPERTY_VALUE_NOT_SCALAR,
                    format!(
                        "property {} is an {}; values must be strings, numbers, booleans or null",
                        quote(key),
                        json_type_name(value)
                    ),
                );
                false
            }
            Value::String(s) => {
                let mut ok = self.no_controls(&field, s);
                if exceeds_chars(s, PROPERTY_VALUE_MAX_CHARS) {
                    ok = false;
                    self.error(
                        &field,
                        PROPERTY_VALUE_TOO_LONG,
                        format!(
                            "property {} is over {PROPERTY_VALUE_MAX_CHARS} characters",
                            quote(key)
                        ),
                    );
                }
                ok
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => true,
        }
    }

    fn check_screen_width(&mut self, object: &Map<String, Value>) {
        let number = match object.get("screen_width") {
            None | Some(Value::Null) => return,
            Some(Value::Number(n)) => n,
            Some(other) => {
                self.error(
                    "screen_width",
                    WRONG_TYPE,
                    format!(
                        "screen_width must be a number, got {}",
                        json_type_name(other)
                    ),
                );
                return;
            }
        };
        // `1024.0` is accepted: some serialisers write every number as a float.
        let whole = number.as_i64().or_else(|| {
            number
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() <= f64::from(SCREEN_WIDTH_MAX))
                .map(|f| f as i64)
        });
        match whole.and_then(|w| i32::try_from(w).ok()) {
            Some(w) if (SCREEN_WIDTH_MIN..=SCREEN_WIDTH_MAX).contains(&w) => {
                self.fields.screen_width = Some(w);
            }
            _ => self.error(
                "screen_width",
                SCREEN_WIDTH_INVALID,
                format!(
                    "screen_width must be a whole number from {SCREEN_WIDTH_MIN} to {SCREEN_WIDTH_MAX}, got {}",
                    truncate(&number.to_string()).0
                ),
            ),
        }
    }

    fn check_language(&mut self, object: &Map<String, Value>) {
        if let Read::Str(tag) = self.read_str(object, "language") {
            if is_language_tag(tag) {
                self.fields.language = Some(tag.to_owned());
            } else {
                let hint = if tag.contains('_') {
                    " (subtags are separated by '-', not '_')"
                } else {
                    ""
                };
                self.error(
                    "language",
                    LANGUAGE_INVALID,
                    format!(
                        "language {} is not a BCP 47 tag such as \"en-US\"{hint}",
                        quote(tag)
                    ),
                );
            }
        }
    }

    fn check_timezone(&mut self, object: &Map<String, Value>) {
        if let Read::Str(zone) = self.read_str(object, "timezone") {
            let well_formed = !zone.is_empty()
                && zone.len() <= TIMEZONE_MAX_BYTES
                && zone
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'+' | b'-'));
            if well_formed {
                self.fields.timezone = Some(zone.to_owned());
            } else {
                self.error(
                    "timezone",
                    TIMEZONE_INVALID,
                    format!(
                        "timezone {} is not an IANA zone name such as \"Europe/Berlin\"",
                        quote(zone)
                    ),
                );
            }
        }
    }
}

/// Parses an absolute URL, refusing what `url` would quietly repair: surrounding spaces.
fn parse_absolute(text: &str) -> Result<url::Url, String> {
    if text.trim() != text {
        return Err("it has leading or trailing spaces".to_owned());
    }
    url::Url::parse(text).map_err(|e| e.to_string())
}

/// `^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$`, at most [`LANGUAGE_MAX_BYTES`]: the shape of a BCP 47
/// tag, without checking subtags against the registry (new ones appear every year).
fn is_language_tag(tag: &str) -> bool {
    if tag.len() > LANGUAGE_MAX_BYTES {
        return false;
    }
    let mut subtags = tag.split('-');
    let primary = subtags.next().unwrap_or_default();
    (2..=3).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_alphabetic())
        && subtags
            .all(|s| (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// RFC 3339 first (what `Date.toISOString()` sends, plus `+02:00` offsets), then the wider
/// ISO-8601 forms (basic format, comma fractions) other SDKs produce. A time without an offset
/// is refused: it could be any of 26 hours.
pub(crate) fn parse_timestamp(text: &str) -> Option<OffsetDateTime> {
    // No valid form is this long; do not hand megabytes to the parsers.
    if text.len() > 64 {
        return None;
    }
    OffsetDateTime::parse(text, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(text, &Iso8601::DEFAULT))
        .ok()
}

/// Whether `s` has more than `max` characters, without counting all of a huge string.
fn exceeds_chars(s: &str, max: usize) -> bool {
    s.len() > max && s.chars().nth(max).is_some()
}

/// At most [`ECHO_MAX_CHARS`] characters of `s`, and whether it was cut.
fn truncate(s: &str) -> (&str, bool) {
    match s.char_indices().nth(ECHO_MAX_CHARS) {
        Some((at, _)) => (&s[..at], true),
        None => (s, false),
    }
}

/// Client input for a message: quoted, escaped (no raw NUL or newline reaches a log line) and
/// cut to [`ECHO_MAX_CHARS`] characters.
pub(crate) fn quote(s: &str) -> String {
    let (head, cut) = truncate(s);
    if cut {
        format!("{head:?}…")
    } else {
        format!("{head:?}")
    }
}

/// A client-chosen key used as an issue's `field`: bounded like messages, control characters
/// escaped so the issue can be stored in `jsonb` (which refuses `\u0000`).
fn label(key: &str) -> String {
    let (head, cut) = truncate(key);
    let mut out = String::with_capacity(head.len() + 3);
    for c in head.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if cut {
        out.push('…');
    }
    out
}

/// The known key an unknown one was probably meant to be: same letters in another case or
/// separator style (`eventType`, `Event-Type`), a common synonym (`type`, `url`, `ts`), or a
/// typo within two edits (`evnt_type`, `referer`) of a known key or of a dialect key
/// ([`crate::dialect`]: `evt_typ` → `event_type`, `evt_catgory` → `evt_category`).
fn suggest(key: &str) -> Option<&'static str> {
    if key.len() > 64 {
        return None;
    }
    let norm = squash(key);
    if let Some(known) = KNOWN_FIELDS.iter().find(|k| squash(k) == norm) {
        return Some(*known);
    }
    let synonym = match norm.as_str() {
        "type" | "evttype" | "evt" | "kind" | "hittype" | "eventkind" => "event_type",
        "name" | "event" | "evtname" | "action" | "eventaction" => "event_name",
        "url" | "href" | "uri" | "location" | "page" | "pageuri" | "pagehref" => "page_url",
        "path" | "pathname" | "route" => "page_path",
        "title" | "documenttitle" => "page_title",
        "ref" | "referer" | "documentreferrer" | "pagereferrer" => "referrer",
        "session" | "sid" | "sessid" | "sessionkey" => "session_id",
        "id" | "eid" | "evtid" | "uuid" | "messageid" | "eventuuid" => "event_id",
        "ts" | "time" | "date" | "datetime" | "eventtime" | "sentat" | "createdat" => "timestamp",
        "props" | "data" | "params" | "attributes" | "attrs" | "meta" | "metadata" | "custom"
        | "customdata" | "eventdata" | "eventproperties" => "properties",
        "width" | "screen" | "sw" | "screenw" => "screen_width",
        "lang" | "locale" | "languagecode" => "language",
        "tz" | "zone" | "timezonename" | "tzname" => "timezone",
        _ => "",
    };
    if !synonym.is_empty() {
        return Some(synonym);
    }
    // Short keys are within two edits of too much to guess from.
    if norm.len() < 5 {
        return None;
    }
    // The platform dialect's keys count too (`evt_typ`, `page_referer`, `evtCategory`): a near
    // miss of one points to the field it maps to. Ours come first, so they win a tie.
    KNOWN_FIELDS
        .iter()
        .map(|k| (*k, *k))
        .chain(dialect::SUGGESTIONS)
        .map(|(k, target)| (edit_distance(&norm, &squash(k)), target))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Lower-case ASCII letters and digits only, so naming styles compare equal.
fn squash(key: &str) -> String {
    key.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Levenshtein distance of two short ASCII strings.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    const RECEIVED: OffsetDateTime = datetime!(2026-11-25 20:17:30 UTC);

    fn page_view() -> Value {
        json!({
            "event_type": "page_view",
            "page_url": "https://www.example.com/pricing?plan=pro",
            "page_title": "Pricing - Example",
            "referrer": "https://www.google.com/",
            "session_id": "s-1a2b3c",
            "event_id": "0b6f1c2e-9a4d-4a57-9c1e-2f8d7b6a5c41",
            "timestamp": "2026-11-25T20:17:02.123Z",
            "screen_width": 1440,
            "language": "en-US",
            "timezone": "America/New_York",
        })
    }

    fn custom_event() -> Value {
        json!({
            "event_type": "custom",
            "event_name": "signup_completed",
            "page_path": "/signup/done",
            "session_id": "s-1a2b3c",
            "event_id": "01HZY3K8Q2W5T7V9X1B3D5F7G9",
            "timestamp": "2026-11-25T22:15:00+02:00",
            "properties": {"plan": "pro", "seats": 5, "trial": false, "coupon": null},
        })
    }

    fn with(base: Value, key: &str, value: Value) -> Value {
        let mut base = base;
        base[key] = value;
        base
    }

    fn without(base: Value, key: &str) -> Value {
        let mut base = base;
        base.as_object_mut().unwrap().remove(key);
        base
    }

    fn codes(issues: &[Issue]) -> Vec<(&str, &str)> {
        issues.iter().map(|i| (i.code, i.field.as_str())).collect()
    }

    fn assert_invariants(v: &Validation) {
        assert_eq!(v.is_valid(), v.errors.is_empty());
        assert!(
            (0.0..=1.0).contains(&v.quality_score),
            "{}",
            v.quality_score
        );
        if v.is_valid() {
            assert!(v.quality_score >= 0.5);
        } else {
            assert!(v.quality_score <= 0.5);
        }
        for issue in v.errors.iter().chain(&v.warnings) {
            assert!(!issue.message.contains('\0'));
            // Quoting, escaping and the "…" stay well under this even for 100 echoed chars.
            // An escaped character is at most 10 long (`\u{10ffff}`), a control one 6.
            assert!(issue.message.chars().count() < 10 * ECHO_MAX_CHARS + 300);
            assert!(issue.field.chars().count() <= 12 + 6 * ECHO_MAX_CHARS);
            assert!(!issue.field.contains('\0'));
        }
        let f = &v.fields;
        assert!(f
            .page_url
            .as_ref()
            .is_none_or(|s| s.len() <= PAGE_URL_MAX_BYTES));
        assert!(f
            .page_path
            .as_ref()
            .is_none_or(|s| s.len() <= PAGE_PATH_MAX_BYTES));
        assert!(f
            .referrer
            .as_ref()
            .is_none_or(|s| s.len() <= REFERRER_MAX_BYTES));
        assert!(f
            .page_title
            .as_ref()
            .is_none_or(|s| s.chars().count() <= PAGE_TITLE_MAX_CHARS));
        assert!(f.properties.len() <= PROPERTIES_MAX_KEYS);
        assert!(f
            .properties
            .values()
            .all(|v| !v.is_object() && !v.is_array()));
        assert!(f
            .screen_width
            .is_none_or(|w| (SCREEN_WIDTH_MIN..=SCREEN_WIDTH_MAX).contains(&w)));
        let json = v.to_json();
        assert_eq!(json["valid"], json!(v.is_valid()));
        assert_eq!(
            json["errors"].as_array().map(Vec::len),
            Some(v.errors.len())
        );
    }

    fn check(payload: &Value) -> Validation {
        let v = validate(payload, RECEIVED);
        assert_invariants(&v);
        v
    }

    #[test]
    fn a_complete_page_view_is_clean() {
        let v = check(&page_view());
        assert!(v.errors.is_empty(), "{:?}", v.errors);
        assert!(v.warnings.is_empty(), "{:?}", v.warnings);
        assert_eq!(v.quality_score, 1.0);
        let f = &v.fields;
        assert_eq!(f.event_type, Some(EventType::PageView));
        assert_eq!(
            f.page_url.as_deref(),
            Some("https://www.example.com/pricing?plan=pro")
        );
        assert_eq!(f.page_title.as_deref(), Some("Pricing - Example"));
        assert_eq!(f.referrer.as_deref(), Some("https://www.google.com/"));
        assert_eq!(f.timestamp, Some(datetime!(2026-11-25 20:17:02.123 UTC)));
        assert_eq!(f.screen_width, Some(1440));
        assert_eq!(f.language.as_deref(), Some("en-US"));
        assert_eq!(f.timezone.as_deref(), Some("America/New_York"));
        assert_eq!(f.session_id.as_deref(), Some("s-1a2b3c"));
        assert_eq!(
            v.to_json(),
            json!({"valid": true, "errors": [], "warnings": [], "quality_score": 1.0})
        );
    }

    /// A fully qualified host (trailing dot) and an international one are valid page hosts.
    #[test]
    fn fully_qualified_and_international_hosts_are_valid() {
        for url in [
            "https://example.com./pricing",
            "https://münchen.de/karte",
            "https://xn--mnchen-3ya.de/karte",
            "https://EXAMPLE.com/",
        ] {
            let v = check(&with(page_view(), "page_url", json!(url)));
            assert!(v.errors.is_empty(), "{url}: {:?}", v.errors);
        }
    }

    #[test]
    fn a_complete_custom_event_is_clean() {
        let v = check(&custom_event());
        assert!(v.errors.is_empty(), "{:?}", v.errors);
        assert!(v.warnings.is_empty(), "{:?}", v.warnings);
        assert_eq!(v.quality_score, 1.0);
        let f = &v.fields;
        assert_eq!(f.event_type.map(EventType::as_str), Some("custom"));
        assert_eq!(f.event_name.as_deref(), Some("signup_completed"));
        assert_eq!(f.page_path.as_deref(), Some("/signup/done"));
        assert_eq!(f.timestamp, Some(datetime!(2026-11-25 20:15:00 UTC)));
        assert_eq!(f.properties.len(), 4);
        assert_eq!(f.properties["seats"], json!(5));
    }

    #[test]
    fn a_minimal_page_view_is_valid_with_warnings() {
        let v = check(&json!({"event_type": "page_view", "page_path": "/"}));
        assert!(v.is_valid());
        assert_eq!(
            codes(&v.warnings),
            [
                ("TITLE_MISSING", "page_title"),
                ("TIMESTAMP_MISSING", "timestamp")
            ]
        );
        assert_eq!(v.quality_score, 0.8);
    }

    #[test]
    fn a_near_miss_of_the_dialect_is_named() {
        // `evt_type` itself is the platform dialect's key (see `crate::dialect`); a typo of it
        // is no marker, so the payload is read as ours and the typo is named.
        let payload = without(
            with(page_view(), "evt_typ", json!("page_view")),
            "event_type",
        );
        let v = check(&payload);
        assert_eq!(
            codes(&v.errors),
            [
                ("UNKNOWN_FIELD", "evt_typ"),
                ("EVENT_TYPE_MISSING", "event_type")
            ]
        );
        assert!(v.errors[0].message.contains("\"event_type\""));
        assert!(v.errors[0].message.contains("properties"));
        assert_eq!(v.quality_score, 0.3);
        assert!(v.fields.event_type.is_none());
        // Whatever could be read is still there for the quarantine row.
        assert_eq!(v.fields.page_title.as_deref(), Some("Pricing - Example"));
    }

    #[test]
    fn the_dialect_is_mapped_before_validation() {
        // What used to be the usual mistake is the platform's vocabulary: read, not refused.
        let payload = without(
            with(page_view(), "evt_type", json!("page_view")),
            "event_type",
        );
        let v = check(&payload);
        assert!(v.is_valid(), "{:?}", v.errors);
        assert_eq!(v.fields.event_type, Some(EventType::PageView));
        assert_eq!(v.quality_score, 1.0);
        // Dialect issues come first; issues of a lifted field name the key it was sent as.
        let payload = json!({
            "evt_type": "page_view",
            "event_data": {"page_url": "ftp://example.com/", "device_type": "tablet"},
            "page_referrer": "not a url",
            "event_timestamp": "2026-11-25T20:17:02",
        });
        let v = check(&payload);
        assert_eq!(
            codes(&v.errors),
            [
                ("PAGE_URL_SCHEME", "page_url"),
                ("REFERRER_INVALID", "referrer")
            ]
        );
        assert!(v.errors[0]
            .message
            .ends_with(" (sent as \"event_data.page_url\")"));
        assert!(v.errors[1]
            .message
            .ends_with(" (sent as \"page_referrer\")"));
        assert_eq!(
            codes(&v.warnings),
            [
                ("TIMESTAMP_ASSUMED_UTC", "timestamp"),
                ("CLIENT_FIELDS_IGNORED", "device_type"),
                ("TITLE_MISSING", "page_title"),
            ]
        );
        assert_eq!(v.fields.timestamp, Some(datetime!(2026-11-25 20:17:02 UTC)));
        assert_eq!(v.quality_score, 0.3);
        // Five warnings, the most a dialect payload can get, floor the score at 0.5.
        let payload = json!({
            "evt_type": "page_view",
            "event_name": "x",
            "page_url": "https://example.com/",
            "page_path": "/",
            "event_timestamp": "2026-11-25T20:17:02",
            "user_agent": "Mozilla/5.0",
        });
        let v = check(&payload);
        assert_eq!(v.warnings.len(), 5, "{:?}", codes(&v.warnings));
        assert_eq!(v.quality_score, 0.5);
    }

    #[test]
    fn near_misses_name_the_right_key() {
        for (key, known) in [
            ("eventType", "event_type"),
            ("type", "event_type"),
            ("Event-Type", "event_type"),
            ("evnt_type", "event_type"),
            ("eventName", "event_name"),
            ("url", "page_url"),
            ("pageUrl", "page_url"),
            ("path", "page_path"),
            ("title", "page_title"),
            ("referer", "referrer"),
            ("sessionId", "session_id"),
            ("ts", "timestamp"),
            ("props", "properties"),
            ("screenWidth", "screen_width"),
            ("lang", "language"),
            ("tz", "timezone"),
            ("timeZone", "timezone"),
        ] {
            assert_eq!(suggest(key), Some(known), "{key}");
            let v = check(&with(page_view(), key, json!(1)));
            let issue = &v.errors[0];
            assert_eq!((issue.code, issue.field.as_str()), ("UNKNOWN_FIELD", key));
            assert!(issue.message.contains(&format!("\"{known}\"")), "{key}");
        }
        for key in ["plan", "foo", "x", "campaign_source"] {
            assert_eq!(suggest(key), None, "{key}");
            let v = check(&with(page_view(), key, json!(1)));
            assert_eq!(codes(&v.errors), [("UNKNOWN_FIELD", key)]);
            assert!(v.errors[0].message.contains("\"properties\""));
        }
    }

    #[test]
    fn every_rule_reports_its_code_and_field() {
        let long = |n: usize| "a".repeat(n);
        let long_key_field = format!("properties.{}", long(65));
        let pv = page_view;
        let custom = custom_event;
        // (case, payload, expected error, expected field)
        #[rustfmt::skip]
        let cases: Vec<(&str, Value, &str, &str)> = vec![
            ("array payload", json!([1]), "NOT_AN_OBJECT", ""),
            ("string payload", json!("page_view"), "NOT_AN_OBJECT", ""),
            ("unknown key", with(pv(), "utm_source", json!("x")), "UNKNOWN_FIELD", "utm_source"),
            ("number url", with(pv(), "page_url", json!(42)), "WRONG_TYPE", "page_url"),
            ("bool type", with(pv(), "event_type", json!(true)), "WRONG_TYPE", "event_type"),
            ("object title", with(pv(), "page_title", json!({})), "WRONG_TYPE", "page_title"),
            ("number session", with(pv(), "session_id", json!(7)), "WRONG_TYPE", "session_id"),
            ("number event id", with(pv(), "event_id", json!(7)), "WRONG_TYPE", "event_id"),
            ("array referrer", with(pv(), "referrer", json!([])), "WRONG_TYPE", "referrer"),
            ("string width", with(pv(), "screen_width", json!("1024")), "WRONG_TYPE", "screen_width"),
            ("number language", with(pv(), "language", json!(1)), "WRONG_TYPE", "language"),
            ("number timezone", with(pv(), "timezone", json!(1)), "WRONG_TYPE", "timezone"),
            ("number name", with(custom(), "event_name", json!(1)), "WRONG_TYPE", "event_name"),
            ("number path", with(custom(), "page_path", json!(1)), "WRONG_TYPE", "page_path"),
            ("no type", without(pv(), "event_type"), "EVENT_TYPE_MISSING", "event_type"),
            ("null type", with(pv(), "event_type", Value::Null), "EVENT_TYPE_MISSING", "event_type"),
            ("bad type", with(pv(), "event_type", json!("pageview")), "EVENT_TYPE_UNKNOWN", "event_type"),
            ("upper type", with(pv(), "event_type", json!("PAGE_VIEW")), "EVENT_TYPE_UNKNOWN", "event_type"),
            ("no name", without(custom(), "event_name"), "EVENT_NAME_MISSING", "event_name"),
            ("empty name", with(custom(), "event_name", json!("")), "EVENT_NAME_INVALID", "event_name"),
            ("blank name", with(custom(), "event_name", json!(" \u{3000} ")), "EVENT_NAME_INVALID", "event_name"),
            ("long name", with(custom(), "event_name", json!(long(121))), "EVENT_NAME_INVALID", "event_name"),
            ("control name", with(custom(), "event_name", json!("sign\nup")), "CONTROL_CHARACTERS", "event_name"),
            ("no page", without(without(pv(), "page_url"), "page_path"), "PAGE_MISSING", "page_url"),
            ("null page", with(pv(), "page_url", Value::Null), "PAGE_MISSING", "page_url"),
            ("long url", with(pv(), "page_url", json!(format!("https://example.com/{}", long(2250)))), "PAGE_URL_TOO_LONG", "page_url"),
            ("nul url", with(pv(), "page_url", json!("https://example.com/\0")), "CONTROL_CHARACTERS", "page_url"),
            ("tab url", with(pv(), "page_url", json!("https://exa\tmple.com/")), "CONTROL_CHARACTERS", "page_url"),
            ("del url", with(pv(), "page_url", json!("https://example.com/\u{7f}")), "CONTROL_CHARACTERS", "page_url"),
            ("relative url", with(pv(), "page_url", json!("/pricing")), "PAGE_URL_INVALID", "page_url"),
            ("empty url", with(pv(), "page_url", json!("")), "PAGE_URL_INVALID", "page_url"),
            ("no slashes", with(pv(), "page_url", json!("https:example.com/x")), "PAGE_URL_INVALID", "page_url"),
            ("bad port", with(pv(), "page_url", json!("https://example.com:99999/")), "PAGE_URL_INVALID", "page_url"),
            ("padded url", with(pv(), "page_url", json!(" https://example.com/")), "PAGE_URL_INVALID", "page_url"),
            ("ftp url", with(pv(), "page_url", json!("ftp://example.com/a")), "PAGE_URL_SCHEME", "page_url"),
            ("file url", with(pv(), "page_url", json!("file:///etc/passwd")), "PAGE_URL_SCHEME", "page_url"),
            ("ipv4 host", with(pv(), "page_url", json!("http://192.168.1.1/")), "DOMAIN_INVALID", "page_url"),
            ("ipv6 host", with(pv(), "page_url", json!("http://[::1]/")), "DOMAIN_INVALID", "page_url"),
            ("single label", with(pv(), "page_url", json!("http://intranet/")), "DOMAIN_INVALID", "page_url"),
            ("underscore", with(pv(), "page_url", json!("https://my_site.com/")), "DOMAIN_INVALID", "page_url"),
            ("dash label", with(pv(), "page_url", json!("https://-a.example.com/")), "DOMAIN_INVALID", "page_url"),
            ("empty label", with(pv(), "page_url", json!("https://example..com/")), "DOMAIN_INVALID", "page_url"),
            ("two trailing dots", with(pv(), "page_url", json!("https://example.com../")), "DOMAIN_INVALID", "page_url"),
            ("long label", with(pv(), "page_url", json!(format!("https://{}.com/", long(64)))), "DOMAIN_INVALID", "page_url"),
            ("long host", with(pv(), "page_url", json!(format!("https://{}com/", "abcdefghi.".repeat(26)))), "DOMAIN_INVALID", "page_url"),
            ("relative path", with(custom(), "page_path", json!("signup")), "PAGE_PATH_INVALID", "page_path"),
            ("empty path", with(custom(), "page_path", json!("")), "PAGE_PATH_INVALID", "page_path"),
            ("protocol relative", with(custom(), "page_path", json!("//evil.com/x")), "PAGE_PATH_INVALID", "page_path"),
            ("long path", with(custom(), "page_path", json!(format!("/{}", long(2000)))), "PAGE_PATH_TOO_LONG", "page_path"),
            ("nul path", with(custom(), "page_path", json!("/a\0b")), "CONTROL_CHARACTERS", "page_path"),
            ("long title", with(pv(), "page_title", json!("é".repeat(501))), "TITLE_TOO_LONG", "page_title"),
            ("nul title", with(pv(), "page_title", json!("Home\0")), "CONTROL_CHARACTERS", "page_title"),
            ("long referrer", with(pv(), "referrer", json!(format!("https://r.com/{}", long(2000)))), "REFERRER_TOO_LONG", "referrer"),
            ("relative referrer", with(pv(), "referrer", json!("google.com")), "REFERRER_INVALID", "referrer"),
            ("padded referrer", with(pv(), "referrer", json!("https://r.com/ ")), "REFERRER_INVALID", "referrer"),
            ("newline referrer", with(pv(), "referrer", json!("https://r.com/\n")), "CONTROL_CHARACTERS", "referrer"),
            ("array properties", with(custom(), "properties", json!([1, 2])), "PROPERTIES_NOT_OBJECT", "properties"),
            ("string properties", with(custom(), "properties", json!("{}")), "PROPERTIES_NOT_OBJECT", "properties"),
            ("31 properties", with(custom(), "properties", Value::Object((0..31).map(|i| (format!("k{i}"), json!(i))).collect())), "PROPERTIES_TOO_MANY", "properties"),
            ("empty key", with(custom(), "properties", json!({"": 1})), "PROPERTY_KEY_INVALID", "properties."),
            ("blank key", with(custom(), "properties", json!({"  ": 1})), "PROPERTY_KEY_INVALID", "properties.  "),
            ("long key", with(custom(), "properties", json!({ long(65): 1 })), "PROPERTY_KEY_INVALID", &long_key_field),
            ("nul key", with(custom(), "properties", json!({"a\0b": 1})), "PROPERTY_KEY_INVALID", "properties.a\\u{0}b"),
            ("object value", with(custom(), "properties", json!({"cart": {"items": 2}})), "PROPERTY_VALUE_NOT_SCALAR", "properties.cart"),
            ("array value", with(custom(), "properties", json!({"tags": ["a"]})), "PROPERTY_VALUE_NOT_SCALAR", "properties.tags"),
            ("long value", with(custom(), "properties", json!({"note": long(501)})), "PROPERTY_VALUE_TOO_LONG", "properties.note"),
            ("nul value", with(custom(), "properties", json!({"note": "a\0"})), "CONTROL_CHARACTERS", "properties.note"),
            ("epoch ms", with(pv(), "timestamp", json!(1_795_000_000_000_i64)), "TIMESTAMP_INVALID", "timestamp"),
            ("no offset", with(pv(), "timestamp", json!("2026-11-25T20:17:02")), "TIMESTAMP_INVALID", "timestamp"),
            ("date only", with(pv(), "timestamp", json!("2026-11-25")), "TIMESTAMP_INVALID", "timestamp"),
            ("garbage time", with(pv(), "timestamp", json!("yesterday")), "TIMESTAMP_INVALID", "timestamp"),
            ("bad month", with(pv(), "timestamp", json!("2026-13-25T20:17:02Z")), "TIMESTAMP_INVALID", "timestamp"),
            ("too old", with(pv(), "timestamp", json!("2026-11-18T20:17:29Z")), "TIMESTAMP_OUT_OF_WINDOW", "timestamp"),
            ("too new", with(pv(), "timestamp", json!("2026-11-25T20:22:31Z")), "TIMESTAMP_OUT_OF_WINDOW", "timestamp"),
            ("offset future", with(pv(), "timestamp", json!("2026-11-25T23:17:02+02:00")), "TIMESTAMP_OUT_OF_WINDOW", "timestamp"),
            ("empty session", with(pv(), "session_id", json!("")), "SESSION_ID_INVALID", "session_id"),
            ("space session", with(pv(), "session_id", json!("a b")), "SESSION_ID_INVALID", "session_id"),
            ("long session", with(pv(), "session_id", json!(long(129))), "SESSION_ID_INVALID", "session_id"),
            ("unicode session", with(pv(), "session_id", json!("sé")), "SESSION_ID_INVALID", "session_id"),
            ("empty event id", with(pv(), "event_id", json!("")), "EVENT_ID_INVALID", "event_id"),
            ("long event id", with(pv(), "event_id", json!(long(EVENT_ID_MAX_BYTES + 1))), "EVENT_ID_INVALID", "event_id"),
            ("slash event id", with(pv(), "event_id", json!("a/b")), "EVENT_ID_INVALID", "event_id"),
            ("zero width", with(pv(), "screen_width", json!(0)), "SCREEN_WIDTH_INVALID", "screen_width"),
            ("negative width", with(pv(), "screen_width", json!(-1024)), "SCREEN_WIDTH_INVALID", "screen_width"),
            ("huge width", with(pv(), "screen_width", json!(20_001)), "SCREEN_WIDTH_INVALID", "screen_width"),
            ("u64 width", with(pv(), "screen_width", json!(u64::MAX)), "SCREEN_WIDTH_INVALID", "screen_width"),
            ("fraction width", with(pv(), "screen_width", json!(1024.5)), "SCREEN_WIDTH_INVALID", "screen_width"),
            ("underscore lang", with(pv(), "language", json!("en_US")), "LANGUAGE_INVALID", "language"),
            ("short lang", with(pv(), "language", json!("e")), "LANGUAGE_INVALID", "language"),
            ("digit lang", with(pv(), "language", json!("12-US")), "LANGUAGE_INVALID", "language"),
            ("empty subtag", with(pv(), "language", json!("en-")), "LANGUAGE_INVALID", "language"),
            ("long subtag", with(pv(), "language", json!("en-abcdefghi")), "LANGUAGE_INVALID", "language"),
            ("long lang", with(pv(), "language", json!(format!("en{}", "-abcdefgh".repeat(4)))), "LANGUAGE_INVALID", "language"),
            ("empty lang", with(pv(), "language", json!("")), "LANGUAGE_INVALID", "language"),
            ("space zone", with(pv(), "timezone", json!("Europe/Berlin ")), "TIMEZONE_INVALID", "timezone"),
            ("empty zone", with(pv(), "timezone", json!("")), "TIMEZONE_INVALID", "timezone"),
            ("long zone", with(pv(), "timezone", json!(long(65))), "TIMEZONE_INVALID", "timezone"),
            ("dot zone", with(pv(), "timezone", json!("../etc")), "TIMEZONE_INVALID", "timezone"),
        ];
        let mut untested: Vec<&str> = vec![
            NOT_AN_OBJECT,
            UNKNOWN_FIELD,
            WRONG_TYPE,
            CONTROL_CHARACTERS,
            EVENT_TYPE_MISSING,
            EVENT_TYPE_UNKNOWN,
            EVENT_NAME_MISSING,
            EVENT_NAME_INVALID,
            PAGE_MISSING,
            PAGE_URL_TOO_LONG,
            PAGE_URL_INVALID,
            PAGE_URL_SCHEME,
            DOMAIN_INVALID,
            PAGE_PATH_INVALID,
            PAGE_PATH_TOO_LONG,
            TITLE_TOO_LONG,
            REFERRER_TOO_LONG,
            REFERRER_INVALID,
            PROPERTIES_NOT_OBJECT,
            PROPERTIES_TOO_MANY,
            PROPERTY_KEY_INVALID,
            PROPERTY_VALUE_NOT_SCALAR,
            PROPERTY_VALUE_TOO_LONG,
            TIMESTAMP_INVALID,
            TIMESTAMP_OUT_OF_WINDOW,
            SESSION_ID_INVALID,
            EVENT_ID_INVALID,
            SCREEN_WIDTH_INVALID,
            LANGUAGE_INVALID,
            TIMEZONE_INVALID,
        ];
        for (case, payload, code, field) in cases {
            untested.retain(|c| *c != code);
            let v = check(&payload);
            assert!(
                v.errors.iter().any(|i| i.code == code && i.field == field),
                "{case}: expected {code} on {field:?}, got {:?}",
                codes(&v.errors)
            );
            assert!(!v.is_valid(), "{case}");
            assert!(v.quality_score <= 0.4, "{case}");
        }
        assert!(untested.is_empty(), "no case for {untested:?}");
    }

    #[test]
    fn every_warning_reports_its_code_and_field() {
        let cases = [
            (
                with(page_view(), "event_name", json!("x")),
                "EVENT_NAME_IGNORED",
                "event_name",
            ),
            (
                with(page_view(), "event_name", json!(42)),
                "EVENT_NAME_IGNORED",
                "event_name",
            ),
            (
                with(page_view(), "page_path", json!("/x")),
                "PAGE_PATH_IGNORED",
                "page_path",
            ),
            (
                without(page_view(), "page_title"),
                "TITLE_MISSING",
                "page_title",
            ),
            (
                with(page_view(), "page_title", json!("  ")),
                "TITLE_MISSING",
                "page_title",
            ),
            (
                without(page_view(), "timestamp"),
                "TIMESTAMP_MISSING",
                "timestamp",
            ),
            (
                with(page_view(), "timestamp", Value::Null),
                "TIMESTAMP_MISSING",
                "timestamp",
            ),
        ];
        for (payload, code, field) in cases {
            let v = check(&payload);
            assert!(v.is_valid(), "{code}: {:?}", v.errors);
            assert_eq!(codes(&v.warnings), [(code, field)]);
            assert_eq!(v.quality_score, 0.9);
        }
        let v = check(&with(page_view(), "event_name", json!("x")));
        assert_eq!(v.fields.event_name, None);
        let v = check(&with(page_view(), "page_path", json!("/x")));
        assert_eq!(v.fields.page_path, None);
        assert!(v.fields.page_url.is_some());
    }

    #[test]
    fn all_errors_are_collected_and_the_score_floors_at_zero() {
        let payload = json!({
            "evt_typ": "page_view",
            "page_url": "ftp://example.com/",
            "session_id": "",
            "event_id": "has space",
            "timestamp": "soon",
            "screen_width": 0,
            "language": "english",
            "timezone": "",
            "properties": {"nested": {}},
        });
        let v = check(&payload);
        assert_eq!(v.errors.len(), 10, "{:?}", codes(&v.errors));
        assert_eq!(v.quality_score, 0.0);
        let json = v.to_json();
        assert_eq!(json["valid"], json!(false));
        assert_eq!(json["quality_score"], json!(0.0));
        assert_eq!(
            json["errors"][0],
            json!({
                "field": "evt_typ",
                "code": "UNKNOWN_FIELD",
                "message": v.errors[0].message,
            })
        );
    }

    #[test]
    fn scores_follow_the_documented_formula() {
        // Four warnings is the most a payload in our vocabulary can get.
        let four = json!({
            "event_type": "page_view",
            "event_name": "x",
            "page_url": "https://example.com/",
            "page_path": "/",
        });
        let v = check(&four);
        assert_eq!(v.warnings.len(), 4);
        assert_eq!(v.quality_score, 0.6);
        let one_error = with(page_view(), "screen_width", json!(0));
        assert_eq!(check(&one_error).quality_score, 0.4);
        let two_errors = with(one_error, "language", json!("?"));
        assert_eq!(check(&two_errors).quality_score, 0.3);
    }

    #[test]
    fn accepted_forms() {
        let accepted = [
            ("timestamp", json!("2026-11-25T20:17:02Z")),
            ("timestamp", json!("2026-11-25T20:17:02.123456Z")),
            ("timestamp", json!("2026-11-25T22:17:02+02:00")),
            ("timestamp", json!("2026-11-25T15:17:02-05:00")),
            ("timestamp", json!("2026-11-25t20:17:02z")),
            ("timestamp", json!("2026-11-25 20:17:02Z")),
            ("timestamp", json!("2026-11-25T22:17:02+0200")),
            ("timestamp", json!("20261125T201702Z")),
            // The window's edges are inclusive.
            ("timestamp", json!("2026-11-18T20:17:30Z")),
            ("timestamp", json!("2026-11-25T20:22:30Z")),
            ("page_url", json!("http://localhost:3000/dev")),
            ("page_url", json!("https://bücher.de/straße")),
            ("page_url", json!("HTTPS://WWW.Example.COM/A")),
            ("page_url", json!("https://a.b.example.co.uk/p#frag")),
            (
                "page_url",
                json!(format!("https://example.com/{}", "a".repeat(1980))),
            ),
            ("referrer", json!("android-app://com.google.android.gm/")),
            ("referrer", json!("")),
            ("referrer", Value::Null),
            ("page_title", json!("é".repeat(500))),
            ("screen_width", json!(1)),
            ("screen_width", json!(20_000)),
            ("screen_width", json!(1024.0)),
            ("language", json!("de")),
            ("language", json!("zh-Hant-TW")),
            ("language", json!("sr-Latn-RS")),
            ("language", json!("es-419")),
            ("timezone", json!("Etc/GMT+5")),
            ("timezone", json!("America/Argentina/Buenos_Aires")),
            ("session_id", json!("x".repeat(128))),
            ("event_id", json!("a.b_c:d-1")),
        ];
        for (key, value) in accepted {
            let v = check(&with(page_view(), key, value.clone()));
            assert!(v.is_valid(), "{key}={value}: {:?}", v.errors);
        }
        let v = check(&with(
            page_view(),
            "timestamp",
            json!("2026-11-25T22:17:02+02:00"),
        ));
        assert_eq!(v.fields.timestamp, Some(datetime!(2026-11-25 20:17:02 UTC)));
        let v = check(&with(page_view(), "screen_width", json!(1024.0)));
        assert_eq!(v.fields.screen_width, Some(1024));
        let v = check(&with(page_view(), "referrer", json!("")));
        assert_eq!(v.fields.referrer, None);
    }

    #[test]
    fn property_entries_are_kept_one_by_one() {
        let payload = with(
            custom_event(),
            "properties",
            json!({"ok": "yes", "bad": [1], "n": 1.5, "": 2, "empty": ""}),
        );
        let v = check(&payload);
        assert_eq!(v.errors.len(), 2);
        let kept: Vec<_> = v.fields.properties.keys().map(String::as_str).collect();
        assert_eq!(kept.len(), 3);
        for key in ["ok", "n", "empty"] {
            assert!(kept.contains(&key), "{key}");
        }
        let many: Map<String, Value> = (0..40).map(|i| (format!("k{i:02}"), json!(i))).collect();
        let v = check(&with(custom_event(), "properties", Value::Object(many)));
        assert_eq!(codes(&v.errors), [("PROPERTIES_TOO_MANY", "properties")]);
        assert_eq!(v.fields.properties.len(), PROPERTIES_MAX_KEYS);
        let thirty: Map<String, Value> = (0..30).map(|i| (format!("k{i:02}"), json!(i))).collect();
        assert!(check(&with(custom_event(), "properties", Value::Object(thirty))).is_valid());
    }

    #[test]
    fn messages_echo_at_most_100_characters() {
        let huge = "x".repeat(1 << 20);
        for key in KNOWN_FIELDS {
            let v = check(&with(page_view(), key, json!(huge)));
            for issue in &v.errors {
                assert!(issue.message.len() < 400, "{key}: {}", issue.message.len());
            }
        }
        let v = check(&with(page_view(), &huge, json!(1)));
        assert_eq!(v.errors[0].code, "UNKNOWN_FIELD");
        assert_eq!(v.errors[0].field.chars().count(), 101);
        let v = check(&with(
            custom_event(),
            "properties",
            json!({ huge.clone(): 1 }),
        ));
        assert!(v.errors[0].field.len() < 120);
        assert!(v.errors[0].message.contains(&"x".repeat(100)));
        assert!(!v.errors[0].message.contains(&"x".repeat(101)));
        let v = check(&with(page_view(), "event_type", json!("\0\n\u{1b}")));
        assert!(v.errors[0].message.contains("\\0\\n\\u{1b}"));
    }

    #[test]
    fn nul_and_odd_escapes_from_json_text_get_their_codes() {
        const NO_EVENT: [(&str, &str); 2] = [
            ("EVENT_TYPE_MISSING", "event_type"),
            ("PAGE_MISSING", "page_url"),
        ];
        let no_event_and = |extra: (&'static str, &'static str)| {
            let mut expected = NO_EVENT.to_vec();
            expected.push(extra);
            expected
        };
        /// The codes (and fields) an input gets, or `None` when it is not JSON.
        type Outcome = Option<Vec<(&'static str, &'static str)>>;
        // `None`: not JSON (a lone surrogate; PostgreSQL's jsonb refuses it as well).
        let cases: [(&str, Outcome); 7] = [
            (
                r#"{"event_type":"page_view\u0000","page_url":"https://a.com/\u0000"}"#,
                Some(vec![
                    ("EVENT_TYPE_UNKNOWN", "event_type"),
                    ("CONTROL_CHARACTERS", "page_url"),
                ]),
            ),
            (
                r#"{"event_type":"custom","event_name":"\ud83d\ude00","page_path":"/\u00ff"}"#,
                Some(vec![]),
            ),
            (
                r#"{"event_type":"custom","event_name":"\ud83d","page_path":"/"}"#,
                None,
            ),
            (
                r#"{"\u0000":"\u0000","properties":{"\u0000":"\u0000"}}"#,
                Some(vec![
                    ("UNKNOWN_FIELD", "\\u{0}"),
                    ("EVENT_TYPE_MISSING", "event_type"),
                    ("PAGE_MISSING", "page_url"),
                    ("PROPERTY_KEY_INVALID", "properties.\\u{0}"),
                ]),
            ),
            (
                r#"{"timestamp":"2026-11-25T20:17:02.1234567890123456789Z"}"#,
                Some(NO_EVENT.to_vec()),
            ),
            (
                r#"{"screen_width":-0.0}"#,
                Some(no_event_and(("SCREEN_WIDTH_INVALID", "screen_width"))),
            ),
            (
                r#"{"screen_width":123456789012345678901234567890}"#,
                Some(no_event_and(("SCREEN_WIDTH_INVALID", "screen_width"))),
            ),
        ];
        for (text, expected) in cases {
            let parsed = serde_json::from_str::<Value>(text).ok();
            assert_eq!(parsed.is_some(), expected.is_some(), "{text}");
            if let (Some(payload), Some(expected)) = (parsed, expected) {
                assert_eq!(codes(&check(&payload).errors), expected, "{text}");
            }
        }
        // Out of f64's range: serde_json refuses it unless numbers are kept as text (the
        // extension's arbitrary_precision); either way it is never a valid screen width.
        if let Ok(payload) = serde_json::from_str::<Value>(r#"{"screen_width":1e400}"#) {
            assert_eq!(
                codes(&check(&payload).errors),
                no_event_and(("SCREEN_WIDTH_INVALID", "screen_width"))
            );
        }
    }

    /// Unwinds a value with a loop: the default recursive drop would overflow on these.
    fn drop_deep(value: Value) {
        let mut stack = vec![value];
        while let Some(value) = stack.pop() {
            match value {
                Value::Array(items) => stack.extend(items),
                Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
                _ => {}
            }
        }
    }

    fn deep(depth: usize) -> Value {
        let mut value = json!("bottom");
        for i in 0..depth {
            value = if i % 2 == 0 {
                Value::Array(vec![value])
            } else {
                Value::Object(Map::from_iter([("page_url".to_owned(), value)]))
            };
        }
        value
    }

    #[test]
    fn deeply_nested_values_do_not_overflow_the_stack() {
        // Built fresh each time: `clone` and `drop` of such a value recurse.
        const DEPTH: usize = 200_000;
        let value = deep(DEPTH);
        check(&value);
        drop_deep(value);
        for key in KNOWN_FIELDS {
            let payload = with(page_view(), key, deep(DEPTH));
            check(&payload);
            drop_deep(payload);
        }
        let mut payload = custom_event();
        payload["properties"]["deep"] = deep(DEPTH);
        let v = check(&payload);
        assert_eq!(
            codes(&v.errors),
            [("PROPERTY_VALUE_NOT_SCALAR", "properties.deep")]
        );
        drop_deep(payload);
    }

    fn nasty_string() -> impl Strategy<Value = String> {
        prop_oneof![
            ".{0,40}",
            "[\\x00-\\x1f\\x7f-\\x9f a-zA-Z0-9/:._\\-]{0,40}",
            "\\PC{0,40}",
            "(https?|ftp|android-app)://[a-z0-9.\\-\\x00\\[\\]:]{0,24}(/[^\\x00]{0,20})?",
            "/[ -~]{0,30}",
            "20[0-9]{2}-[01][0-9]-[0-3][0-9][T ][0-2][0-9]:[0-5][0-9]:[0-6][0-9](\\.[0-9]{1,12})?(Z|[+-][01][0-9]:?[0-5][0-9])?",
            ".{1,4}".prop_map(|s| s.repeat(100 * 1024 / s.len() + 1)),
        ]
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_filter_map("JSON has no NaN or infinity", |f| {
                serde_json::Number::from_f64(f).map(Value::Number)
            }),
            nasty_string().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec((arb_key(), inner), 0..6)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    fn arb_key() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => proptest::sample::select(KNOWN_FIELDS.as_slice()).prop_map(str::to_owned),
            1 => ".{0,12}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_json_never_panics(payload in arb_json()) {
            check(&payload);
        }

        #[test]
        fn arbitrary_objects_never_panic(
            entries in proptest::collection::vec((arb_key(), arb_json()), 0..16),
            offset in -1_000_000_000i64..1_000_000_000,
        ) {
            let payload = Value::Object(entries.into_iter().collect());
            let received = RECEIVED + Duration::seconds(offset);
            let v = validate(&payload, received);
            assert_invariants(&v);
        }

        #[test]
        fn arbitrary_strings_in_every_field_never_panic(
            key in proptest::sample::select(KNOWN_FIELDS.as_slice()),
            value in nasty_string(),
            base in prop_oneof![Just(page_view()), Just(custom_event())],
        ) {
            let v = check(&with(base.clone(), key, json!(value)));
            if key == "properties" {
                prop_assert_eq!(v.errors[0].code, "PROPERTIES_NOT_OBJECT");
            }
            let v = check(&with(custom_event(), "properties", json!({ value.clone(): value })));
            prop_assert!(v.fields.properties.len() <= 5);
        }

        #[test]
        fn a_valid_event_keeps_every_field_it_was_sent(
            key in proptest::sample::select(KNOWN_FIELDS.as_slice()),
            value in nasty_string(),
        ) {
            let v = check(&with(page_view(), key, json!(value)));
            if v.is_valid() {
                let f = &v.fields;
                let kept = match key {
                    "page_url" => f.page_url.as_deref(),
                    "page_title" => f.page_title.as_deref(),
                    "session_id" => f.session_id.as_deref(),
                    "event_id" => f.event_id.as_deref(),
                    "language" => f.language.as_deref(),
                    "timezone" => f.timezone.as_deref(),
                    "referrer" if !value.is_empty() => f.referrer.as_deref(),
                    _ => Some(value.as_str()),
                };
                // A blank title is the only string accepted without being kept.
                if !(key == "page_title" && value.trim().is_empty()) {
                    prop_assert_eq!(kept, Some(value.as_str()), "{}", key);
                }
            }
        }
    }
}
