//! The One Vault platform's tracker vocabulary, read as a dialect of ours.
//!
//! The platform's trackers and API predate [`crate::validate`]'s vocabulary and send other
//! keys: the API stores `{"event_type", "page_url", "timestamp", "event_data": {...}}` with the
//! event's own fields nested in `event_data`, and the tracker contract sends flat objects with
//! `evt_type`, `evt_category`, `page_referrer`, `viewport_width`, `event_timestamp`, ... Read as
//! our vocabulary, every such event is quarantined (`UNKNOWN_FIELD`), so [`to_vocabulary`] maps
//! a dialect payload onto our keys before validation. It runs first thing in
//! [`crate::validate::validate`], so the staging layer, the API and
//! `staging.validate_event_data` all see the same mapping. The raw payload is never modified:
//! the mapping is a new value used for validation only, and the raw layer keeps what was sent.
//!
//! # Which payloads are in the dialect
//!
//! A JSON object with at least one of [`MARKER_KEYS`] at top level. Any other payload is
//! validated exactly as it was sent, so a payload in our vocabulary keeps its strict rules: a
//! near miss (`eventType`, `evt_typ`) is `UNKNOWN_FIELD` with a suggestion, an unknown
//! `event_type` is `EVENT_TYPE_UNKNOWN`, a timestamp needs an offset. The markers are keys that
//! our vocabulary never had, so no payload that was valid before changes meaning.
//!
//! # Rules
//!
//! "Found" means at top level, else in `event_data`: `event_data` is flattened one level, its
//! keys are read like top-level keys, and a top-level key wins over the same key inside it. A
//! JSON `null` counts as absent, as everywhere in the vocabulary.
//!
//! | dialect key(s)                                              | becomes                                                               |
//! |-------------------------------------------------------------|-----------------------------------------------------------------------|
//! | `event_data`                                                | flattened as above; not an object (nor `null`): `WRONG_TYPE` on `event_data`, and only the top level is read |
//! | `evt_type`, else `event_type`                               | `page_view` and `custom` stay; any other string `s` becomes `event_type: "custom"` with `event_name: s`, unless an `event_name` is found (it wins) |
//! | `page_url`, `page_path`, `page_title`, `session_id`, `event_id`, `screen_width`, `language`, `timezone`, `event_name` | the same field, wherever found |
//! | `referrer`, else `page_referrer`, else `referrer_url`       | `referrer` (the first one found that is not an empty string)          |
//! | `event_timestamp`, else `event_data.timestamp`, else top-level `timestamp` | `timestamp`: the client's own time first; the API's top-level `timestamp` is its receipt time |
//! | a timestamp without a UTC offset (`2025-06-27T02:14:33.291`, `2025-06-27 02:14:33`) | read as UTC: `Z` is appended, warning `TIMESTAMP_ASSUMED_UTC` |
//! | `evt_category`, `evt_action`, `evt_label`, `evt_value`, `viewport_width`, `viewport_height`, `scroll_depth`, `time_on_page`, `click_x`, `click_y` | `properties.<key>`, under the key as sent |
//! | every other key inside `event_data` (`action`, `user_id`, `service_type`, ...) | `properties.<key>`, under the key as sent |
//! | `device_type`, `browser_name`, `user_agent`                 | dropped, with one warning `CLIENT_FIELDS_IGNORED`: the device and browser are derived from the request's real `User-Agent` header, never from the client's claim |
//! | `properties`                                                | kept; the entries above are merged into it, and an entry it already has wins |
//! | any other top-level key                                     | kept as it is, so it is still `UNKNOWN_FIELD` (with a suggestion)     |
//!
//! Everything after the mapping is ordinary validation: the property rules (at most 30 keys,
//! scalar values, ...) apply to the merged `properties`, a `file://` page is still
//! `PAGE_URL_SCHEME`, `localhost` is accepted as before. The dialect relaxes no rule about
//! values; it only says where to find them. A candidate that is not chosen (a `page_referrer`
//! next to a `referrer`, the API's receipt time next to an `event_timestamp`) is not validated
//! and not kept: it is the same fact under another name, and the raw row still has it.
//!
//! # Issues
//!
//! | code                    | field                              | meaning                                                  |
//! |-------------------------|------------------------------------|----------------------------------------------------------|
//! | `WRONG_TYPE`            | `event_data`                       | `event_data` is not an object (error)                    |
//! | `TIMESTAMP_ASSUMED_UTC` | `timestamp`                        | the timestamp has no UTC offset and was read as UTC (warning) |
//! | `CLIENT_FIELDS_IGNORED` | the dropped keys, joined by `", "` | client-claimed `device_type`, `browser_name`, `user_agent` were dropped (warning) |
//!
//! Issues of a lifted field are reported on our field name (`referrer`, not `page_referrer`),
//! like every issue of [`crate::validate`], so that dashboards count one field once whichever
//! tracker sent it; the message then ends with where the value came from, e.g.
//! `(sent as "event_data.page_referrer")`. Property issues are on `properties.<key>` with the
//! key as sent. Warnings lower the quality score like any warning.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::payload::json_type_name;
use crate::validate::{parse_timestamp, quote, Issue, KNOWN_FIELDS, WRONG_TYPE};

/// Top-level keys that put a payload in the dialect: every key the platform sends that our
/// vocabulary does not have (the shared ones, `page_url` or `event_type`, prove nothing).
pub const MARKER_KEYS: [&str; 18] = [
    "event_data",
    "evt_type",
    "evt_category",
    "evt_action",
    "evt_label",
    "evt_value",
    "page_referrer",
    "referrer_url",
    "viewport_width",
    "viewport_height",
    "device_type",
    "browser_name",
    "user_agent",
    "scroll_depth",
    "time_on_page",
    "click_x",
    "click_y",
    "event_timestamp",
];

/// Dialect keys kept as properties under their own name: event context that our vocabulary
/// has no field for.
pub const PROPERTY_KEYS: [&str; 10] = [
    "evt_category",
    "evt_action",
    "evt_label",
    "evt_value",
    "viewport_width",
    "viewport_height",
    "scroll_depth",
    "time_on_page",
    "click_x",
    "click_y",
];

/// Client claims about the device, dropped: enrichment derives them from the request's real
/// User-Agent, which a script cannot pick, so a claim could only disagree with it.
pub const IGNORED_KEYS: [&str; 3] = ["device_type", "browser_name", "user_agent"];

/// Where `referrer` is read from, in order of preference.
const REFERRER_KEYS: [&str; 3] = ["referrer", "page_referrer", "referrer_url"];

/// Dialect names of our fields, and the field a near miss of them should be pointed to; the
/// property keys point to themselves. Used by `validate`'s suggestions (`evt_typ`).
pub(crate) const SUGGESTIONS: [(&str, &str); 14] = [
    ("evt_type", "event_type"),
    ("page_referrer", "referrer"),
    ("referrer_url", "referrer"),
    ("event_timestamp", "timestamp"),
    ("evt_category", "evt_category"),
    ("evt_action", "evt_action"),
    ("evt_label", "evt_label"),
    ("evt_value", "evt_value"),
    ("viewport_width", "viewport_width"),
    ("viewport_height", "viewport_height"),
    ("scroll_depth", "scroll_depth"),
    ("time_on_page", "time_on_page"),
    ("click_x", "click_x"),
    ("click_y", "click_y"),
];

const TIMESTAMP_ASSUMED_UTC: &str = "TIMESTAMP_ASSUMED_UTC";
const CLIENT_FIELDS_IGNORED: &str = "CLIENT_FIELDS_IGNORED";

/// A payload as validation reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping<'a> {
    /// The payload in our vocabulary: the payload itself (borrowed) when it is not in the
    /// dialect, else a new object. In a new object, arrays and objects below a field are
    /// replaced by empty ones of the same type: validation only looks at their type there, and
    /// copying a deeply nested value would recurse as deep as it goes.
    pub payload: Cow<'a, Value>,
    /// Issues of the mapping itself, reported before the validation's own.
    pub errors: Vec<Issue>,
    pub warnings: Vec<Issue>,
    /// `(our field, where its value was found)` for each field read from another key or from
    /// `event_data`, e.g. `("referrer", "event_data.page_referrer")`; messages of issues on the
    /// field name it.
    pub sent_as: Vec<(&'static str, String)>,
}

impl Mapping<'_> {
    /// Whether the payload was in the dialect (and `payload` is a new value).
    pub fn is_dialect(&self) -> bool {
        matches!(self.payload, Cow::Owned(_))
    }
}

/// Whether `payload` is a JSON object with a dialect marker key at top level.
pub fn is_dialect(payload: &Value) -> bool {
    payload
        .as_object()
        .is_some_and(|object| MARKER_KEYS.iter().any(|key| object.contains_key(*key)))
}

/// Maps a platform-dialect payload onto our vocabulary (the rules are in the module docs); any
/// other payload is returned as it is, borrowed. Pure, never panics, whatever the payload.
pub fn to_vocabulary(payload: &Value) -> Mapping<'_> {
    let top = match payload.as_object() {
        Some(top) if is_dialect(payload) => top,
        _ => {
            return Mapping {
                payload: Cow::Borrowed(payload),
                errors: Vec::new(),
                warnings: Vec::new(),
                sent_as: Vec::new(),
            }
        }
    };
    let mut mapper = Mapper {
        top,
        nested: None,
        out: Map::new(),
        errors: Vec::new(),
        warnings: Vec::new(),
        sent_as: Vec::new(),
    };
    mapper.map();
    Mapping {
        payload: Cow::Owned(Value::Object(mapper.out)),
        errors: mapper.errors,
        warnings: mapper.warnings,
        sent_as: mapper.sent_as,
    }
}

/// Where a value was found.
#[derive(Clone, Copy)]
enum Place {
    Top,
    Nested,
}

struct Found<'a> {
    place: Place,
    key: &'static str,
    value: &'a Value,
}

impl Found<'_> {
    /// The key as the client sent it, with `event_data.` when it was nested.
    fn path(&self) -> String {
        match self.place {
            Place::Top => self.key.to_owned(),
            Place::Nested => format!("event_data.{}", self.key),
        }
    }
}

struct Mapper<'a> {
    top: &'a Map<String, Value>,
    nested: Option<&'a Map<String, Value>>,
    out: Map<String, Value>,
    errors: Vec<Issue>,
    warnings: Vec<Issue>,
    sent_as: Vec<(&'static str, String)>,
}

impl<'a> Mapper<'a> {
    fn map(&mut self) {
        match self.top.get("event_data") {
            None | Some(Value::Null) => {}
            Some(Value::Object(nested)) => self.nested = Some(nested),
            Some(other) => self.errors.push(Issue {
                field: "event_data".to_owned(),
                code: WRONG_TYPE,
                message: format!(
                    "event_data must be an object of event fields, got {}",
                    json_type_name(other)
                ),
            }),
        }
        self.map_event_type();
        for field in [
            "page_url",
            "page_path",
            "page_title",
            "session_id",
            "event_id",
            "screen_width",
            "language",
            "timezone",
        ] {
            if let Some(found) = self.find(field) {
                self.lift(field, &found);
            }
        }
        let referrer = REFERRER_KEYS
            .iter()
            .filter_map(|key| self.find(key))
            .find(|found| found.value.as_str() != Some(""));
        if let Some(found) = referrer {
            self.lift("referrer", &found);
        }
        self.map_timestamp();
        self.map_properties();
        self.drop_client_fields();
        // Unknown top-level keys stay, so validation names them (with a suggestion).
        for (key, value) in self.top {
            if !KNOWN_FIELDS.contains(&key.as_str()) && !MARKER_KEYS.contains(&key.as_str()) {
                self.out.insert(key.clone(), shallow(value));
            }
        }
    }

    /// `key` at top level, else in `event_data`; `null` is absent.
    fn find(&self, key: &'static str) -> Option<Found<'a>> {
        let at = |place, map: &'a Map<String, Value>| {
            map.get(key)
                .filter(|value| !value.is_null())
                .map(|value| Found { place, key, value })
        };
        at(Place::Top, self.top).or_else(|| self.nested.and_then(|n| at(Place::Nested, n)))
    }

    fn lift(&mut self, field: &'static str, found: &Found<'_>) {
        self.out.insert(field.to_owned(), shallow(found.value));
        self.note(field, found);
    }

    /// Records where `field` came from, unless it is where our vocabulary has it.
    fn note(&mut self, field: &'static str, found: &Found<'_>) {
        if !(matches!(found.place, Place::Top) && found.key == field) {
            self.sent_as.push((field, found.path()));
        }
    }

    fn map_event_type(&mut self) {
        let name = self.find("event_name");
        if let Some(found) = &name {
            self.lift("event_name", found);
        }
        let Some(found) = self.find("evt_type").or_else(|| self.find("event_type")) else {
            return;
        };
        match found.value {
            Value::String(s) if s == "page_view" || s == "custom" => {
                self.lift("event_type", &found);
            }
            // The platform's types are names of custom events: `appointment_interaction`.
            Value::String(s) => {
                self.out
                    .insert("event_type".to_owned(), Value::String("custom".to_owned()));
                if name.is_none() {
                    self.out
                        .insert("event_name".to_owned(), Value::String(s.clone()));
                    self.note("event_name", &found);
                }
            }
            // Not a string: kept, so validation reports its type.
            _ => self.lift("event_type", &found),
        }
    }

    fn map_timestamp(&mut self) {
        let candidates = [
            self.find("event_timestamp"),
            self.nested
                .and_then(|n| n.get("timestamp"))
                .filter(|value| !value.is_null())
                .map(|value| Found {
                    place: Place::Nested,
                    key: "timestamp",
                    value,
                }),
            self.top
                .get("timestamp")
                .filter(|value| !value.is_null())
                .map(|value| Found {
                    place: Place::Top,
                    key: "timestamp",
                    value,
                }),
        ];
        let Some(found) = candidates.into_iter().flatten().next() else {
            return;
        };
        self.lift("timestamp", &found);
        if let Value::String(text) = found.value {
            if let Some(utc) = assume_utc(text) {
                self.out.insert("timestamp".to_owned(), Value::String(utc));
                self.warnings.push(Issue {
                    field: "timestamp".to_owned(),
                    code: TIMESTAMP_ASSUMED_UTC,
                    message: format!(
                        "timestamp {} has no UTC offset and is read as UTC; send \"Z\" or an offset such as \"+02:00\"",
                        quote(text)
                    ),
                });
            }
        }
    }

    fn map_properties(&mut self) {
        let mut properties = match self.find("properties") {
            None => Map::new(),
            Some(Found {
                value: Value::Object(map),
                ..
            }) => map.iter().map(|(k, v)| (k.clone(), shallow(v))).collect(),
            // Kept as it is for PROPERTIES_NOT_OBJECT; the event is invalid, so nothing is
            // merged into it (the raw row has the rest).
            Some(found) => {
                self.lift("properties", &found);
                return;
            }
        };
        for key in PROPERTY_KEYS {
            if let Some(found) = self.find(key) {
                properties
                    .entry(key)
                    .or_insert_with(|| shallow(found.value));
            }
        }
        if let Some(nested) = self.nested {
            for (key, value) in nested {
                let key_str = key.as_str();
                let consumed = KNOWN_FIELDS.contains(&key_str)
                    || PROPERTY_KEYS.contains(&key_str)
                    || IGNORED_KEYS.contains(&key_str)
                    || REFERRER_KEYS.contains(&key_str)
                    || key_str == "evt_type"
                    || key_str == "event_timestamp";
                if !consumed {
                    properties
                        .entry(key.clone())
                        .or_insert_with(|| shallow(value));
                }
            }
        }
        if !properties.is_empty() || self.find("properties").is_some() {
            self.out
                .insert("properties".to_owned(), Value::Object(properties));
        }
    }

    fn drop_client_fields(&mut self) {
        let dropped: Vec<&str> = IGNORED_KEYS
            .into_iter()
            .filter(|key| self.find(key).is_some())
            .collect();
        if dropped.is_empty() {
            return;
        }
        let keys = dropped.join(", ");
        self.warnings.push(Issue {
            message: format!(
                "{keys} ignored: the device and browser are derived from the request's User-Agent header"
            ),
            field: keys,
            code: CLIENT_FIELDS_IGNORED,
        });
    }
}

/// A naive ISO-8601 time (no offset) read as UTC: the text with `Z` appended, when the text
/// itself does not parse and that makes it parse. `None` for anything else, which validation
/// then judges as sent.
fn assume_utc(text: &str) -> Option<String> {
    if parse_timestamp(text).is_some() {
        return None;
    }
    let utc = format!("{text}Z");
    parse_timestamp(&utc).map(|_| utc)
}

/// `value` with arrays and objects emptied: validation reads a field's type, never inside it.
fn shallow(value: &Value) -> Value {
    match value {
        Value::Array(_) => Value::Array(Vec::new()),
        Value::Object(_) => Value::Object(Map::new()),
        scalar => scalar.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::{validate, EventType, Validation};
    use proptest::prelude::*;
    use serde_json::json;
    use time::macros::datetime;
    use time::OffsetDateTime;

    /// A second after the client times in the payloads below.
    const RECEIVED: OffsetDateTime = datetime!(2025-06-27 02:14:34.500 UTC);

    /// What the platform's API stored: its receipt time on top, the tracker's fields nested
    /// (with a naive client time), as in its production rows.
    fn api_event(event_type: &str) -> Value {
        json!({
            "event_type": event_type,
            "page_url": "https://theonespaoregon.com/services/massage?utm_source=google",
            "timestamp": "2025-06-27T02:14:34.120Z",
            "event_data": {
                "session_id": "sess_1751004873_k2j4h5",
                "user_id": "anon_7f3a9c",
                "page_title": "Massage | The One Spa Oregon",
                "page_referrer": "https://www.google.com/",
                "evt_category": "booking",
                "evt_action": "service_selected",
                "evt_label": "deep_tissue_60",
                "evt_value": 120,
                "device_type": "desktop",
                "browser_name": "Chrome",
                "viewport_width": 1440,
                "viewport_height": 900,
                "action": "open_booking_widget",
                "service_type": "massage",
                "customer_id": "one_spa",
                "business_type": "spa",
                "page_category": "services",
                "timestamp": "2025-06-27T02:14:33.291",
            },
        })
    }

    /// A flat event of the tracker contract.
    fn contract_event() -> Value {
        json!({
            "evt_type": "click",
            "evt_category": "cta",
            "evt_action": "click",
            "evt_label": "Book now",
            "evt_value": 1,
            "page_url": "https://theonespaoregon.com/",
            "page_title": "The One Spa Oregon",
            "page_referrer": "https://www.bing.com/search?q=spa",
            "viewport_width": 390,
            "viewport_height": 844,
            "device_type": "mobile",
            "browser_name": "Safari",
            "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X)",
            "scroll_depth": 45,
            "time_on_page": 12.5,
            "click_x": 195,
            "click_y": 610,
            "event_timestamp": "2025-06-27T02:14:33.291Z",
        })
    }

    fn check(payload: &Value) -> Validation {
        validate(payload, RECEIVED)
    }

    fn codes(issues: &[Issue]) -> Vec<(&str, &str)> {
        issues.iter().map(|i| (i.code, i.field.as_str())).collect()
    }

    fn mapped(payload: &Value) -> Value {
        to_vocabulary(payload).payload.into_owned()
    }

    #[test]
    fn every_platform_event_type_of_the_api_is_valid() {
        for event_type in [
            "page_view",
            "content_engagement",
            "appointment_interaction",
            "item_interaction",
            "transaction_step",
            "contact_interaction",
            "scroll_depth",
            "click",
        ] {
            let v = check(&api_event(event_type));
            assert!(v.is_valid(), "{event_type}: {:?}", v.errors);
            let f = &v.fields;
            if event_type == "page_view" {
                assert_eq!(f.event_type, Some(EventType::PageView));
                assert_eq!(f.event_name, None);
            } else {
                assert_eq!(f.event_type, Some(EventType::Custom), "{event_type}");
                assert_eq!(f.event_name.as_deref(), Some(event_type));
            }
            assert_eq!(
                f.page_title.as_deref(),
                Some("Massage | The One Spa Oregon")
            );
            assert_eq!(f.referrer.as_deref(), Some("https://www.google.com/"));
            assert_eq!(f.session_id.as_deref(), Some("sess_1751004873_k2j4h5"));
            // The client's own time, not the API's receipt time, read as UTC.
            assert_eq!(f.timestamp, Some(datetime!(2025-06-27 02:14:33.291 UTC)));
            assert_eq!(
                codes(&v.warnings),
                [
                    ("TIMESTAMP_ASSUMED_UTC", "timestamp"),
                    ("CLIENT_FIELDS_IGNORED", "device_type, browser_name"),
                ]
            );
            assert_eq!(v.quality_score, 0.8);
        }
    }

    #[test]
    fn event_data_keys_become_properties_and_client_claims_are_dropped() {
        let v = check(&api_event("appointment_interaction"));
        let expected = json!({
            "user_id": "anon_7f3a9c",
            "evt_category": "booking",
            "evt_action": "service_selected",
            "evt_label": "deep_tissue_60",
            "evt_value": 120,
            "viewport_width": 1440,
            "viewport_height": 900,
            "action": "open_booking_widget",
            "service_type": "massage",
            "customer_id": "one_spa",
            "business_type": "spa",
            "page_category": "services",
        });
        assert_eq!(Value::Object(v.fields.properties.clone()), expected);
        for dropped in ["device_type", "browser_name", "timestamp", "page_referrer"] {
            assert!(!v.fields.properties.contains_key(dropped), "{dropped}");
        }
        let warning = &v.warnings[1];
        assert!(
            warning.message.contains("User-Agent"),
            "{}",
            warning.message
        );
    }

    #[test]
    fn the_console_test_shape_is_a_valid_page_view() {
        // `title`, `test` and `spa_context` are not our fields: they are kept as properties.
        let payload = json!({
            "event_type": "page_view",
            "page_url": "https://theonespaoregon.com/",
            "event_data": {"title": "The One Spa", "test": "console_test", "spa_context": "browser_console_test"},
        });
        let v = check(&payload);
        assert!(v.is_valid(), "{:?}", v.errors);
        assert_eq!(v.fields.event_type, Some(EventType::PageView));
        assert_eq!(v.fields.properties["title"], "The One Spa");
        assert_eq!(v.fields.properties["spa_context"], "browser_console_test");
        assert_eq!(
            codes(&v.warnings),
            [
                ("TITLE_MISSING", "page_title"),
                ("TIMESTAMP_MISSING", "timestamp")
            ]
        );
    }

    #[test]
    fn a_contract_event_is_valid_without_unknown_fields() {
        let v = check(&contract_event());
        assert!(v.is_valid(), "{:?}", v.errors);
        assert!(v.errors.iter().all(|i| i.code != "UNKNOWN_FIELD"));
        let f = &v.fields;
        assert_eq!(f.event_type, Some(EventType::Custom));
        assert_eq!(f.event_name.as_deref(), Some("click"));
        assert_eq!(f.page_title.as_deref(), Some("The One Spa Oregon"));
        assert_eq!(
            f.referrer.as_deref(),
            Some("https://www.bing.com/search?q=spa")
        );
        assert_eq!(f.timestamp, Some(datetime!(2025-06-27 02:14:33.291 UTC)));
        assert_eq!(
            Value::Object(f.properties.clone()),
            json!({
                "evt_category": "cta", "evt_action": "click", "evt_label": "Book now",
                "evt_value": 1, "viewport_width": 390, "viewport_height": 844,
                "scroll_depth": 45, "time_on_page": 12.5, "click_x": 195, "click_y": 610,
            })
        );
        assert_eq!(
            codes(&v.warnings),
            [(
                "CLIENT_FIELDS_IGNORED",
                "device_type, browser_name, user_agent"
            )]
        );
        assert_eq!(v.quality_score, 0.9);
    }

    #[test]
    fn the_event_type_rules() {
        let cases = [
            (json!({"evt_type": "page_view"}), json!("page_view"), None),
            (
                json!({"evt_type": "custom", "event_name": "signup"}),
                json!("custom"),
                Some("signup"),
            ),
            (
                json!({"evt_type": "scroll_depth"}),
                json!("custom"),
                Some("scroll_depth"),
            ),
            // evt_type wins over event_type.
            (
                json!({"evt_type": "click", "event_type": "page_view"}),
                json!("custom"),
                Some("click"),
            ),
            (
                json!({"event_type": "click", "event_data": {}}),
                json!("custom"),
                Some("click"),
            ),
            // An explicit event_name wins over the type, wherever it is found.
            (
                json!({"evt_type": "click", "event_name": "book_now"}),
                json!("custom"),
                Some("book_now"),
            ),
            (
                json!({"event_type": "click", "event_data": {"event_name": "book_now"}}),
                json!("custom"),
                Some("book_now"),
            ),
            (
                json!({"event_data": {"evt_type": "transaction_step"}}),
                json!("custom"),
                Some("transaction_step"),
            ),
        ];
        for (payload, event_type, event_name) in cases {
            let m = mapped(&payload);
            assert_eq!(m["event_type"], event_type, "{payload}");
            assert_eq!(
                m.get("event_name").and_then(Value::as_str),
                event_name,
                "{payload}"
            );
        }
        // Still validated: a custom type without a name, a type that is not a string.
        let v = check(&json!({"evt_type": "custom", "page_path": "/"}));
        assert_eq!(codes(&v.errors), [("EVENT_NAME_MISSING", "event_name")]);
        let v = check(&json!({"evt_type": 7, "page_path": "/"}));
        assert_eq!(codes(&v.errors), [("WRONG_TYPE", "event_type")]);
        assert!(
            v.errors[0].message.ends_with("(sent as \"evt_type\")"),
            "{}",
            v.errors[0].message
        );
        let v = check(&json!({"evt_type": "x".repeat(121), "page_path": "/"}));
        assert_eq!(codes(&v.errors), [("EVENT_NAME_INVALID", "event_name")]);
        assert!(v.errors[0].message.ends_with("(sent as \"evt_type\")"));
        let v = check(&json!({"event_data": {}, "page_path": "/"}));
        assert_eq!(codes(&v.errors), [("EVENT_TYPE_MISSING", "event_type")]);
    }

    #[test]
    fn top_level_keys_win_over_event_data() {
        let payload = json!({
            "event_type": "page_view",
            "page_url": "https://a.example.com/",
            "page_title": "Top",
            "session_id": null,
            "event_data": {
                "page_url": "https://b.example.com/",
                "page_title": "Nested",
                "session_id": "s-nested",
                "language": "de-DE",
                "timezone": "Europe/Berlin",
                "screen_width": 1920,
                "event_id": "e-1",
                "page_path": "/p",
            },
        });
        let m = mapped(&payload);
        assert_eq!(m["page_url"], "https://a.example.com/");
        assert_eq!(m["page_title"], "Top");
        // `null` is absent, so the nested value is read.
        assert_eq!(m["session_id"], "s-nested");
        for (key, value) in [
            ("language", json!("de-DE")),
            ("timezone", json!("Europe/Berlin")),
            ("screen_width", json!(1920)),
            ("event_id", json!("e-1")),
            ("page_path", json!("/p")),
        ] {
            assert_eq!(m[key], value, "{key}");
        }
        assert!(m.get("event_data").is_none());
        assert!(m.get("properties").is_none(), "{m}");
        let mapping = to_vocabulary(&payload);
        assert!(mapping
            .sent_as
            .contains(&("session_id", "event_data.session_id".to_owned())));
        assert!(!mapping
            .sent_as
            .iter()
            .any(|(field, _)| *field == "page_url"));
    }

    #[test]
    fn the_referrer_is_read_in_order_of_preference() {
        let cases = [
            (
                json!({"referrer": "https://a.com/", "page_referrer": "https://b.com/", "referrer_url": "https://c.com/"}),
                Some("https://a.com/"),
            ),
            (
                json!({"page_referrer": "https://b.com/", "referrer_url": "https://c.com/"}),
                Some("https://b.com/"),
            ),
            (
                json!({"referrer_url": "https://c.com/"}),
                Some("https://c.com/"),
            ),
            (
                json!({"event_data": {"page_referrer": "https://b.com/"}, "referrer_url": "https://c.com/"}),
                Some("https://b.com/"),
            ),
            // An empty referrer is a direct visit: the next key is read.
            (
                json!({"page_referrer": "", "referrer_url": "https://c.com/"}),
                Some("https://c.com/"),
            ),
            (json!({"page_referrer": ""}), None),
            (json!({"page_referrer": null}), None),
        ];
        for (payload, referrer) in cases {
            assert_eq!(
                mapped(&payload).get("referrer").and_then(Value::as_str),
                referrer,
                "{payload}"
            );
        }
        // Reported on `referrer`, the message says what was sent.
        let payload =
            json!({"evt_type": "page_view", "page_path": "/", "page_referrer": "google.com"});
        let v = check(&payload);
        assert_eq!(codes(&v.errors), [("REFERRER_INVALID", "referrer")]);
        assert!(v.errors[0].message.ends_with("(sent as \"page_referrer\")"));
    }

    #[test]
    fn the_client_time_is_preferred_and_a_naive_one_is_utc() {
        let client = "2025-06-27T02:14:33.291Z";
        let server = "2025-06-27T02:14:34.120Z";
        let cases = [
            (
                json!({"event_timestamp": client, "timestamp": server, "event_data": {"timestamp": "2025-06-27T02:14:30Z"}}),
                json!(client),
            ),
            (
                json!({"event_data": {"event_timestamp": client, "timestamp": "2025-06-27T02:14:30Z"}, "timestamp": server}),
                json!(client),
            ),
            (
                json!({"event_data": {"timestamp": client}, "timestamp": server}),
                json!(client),
            ),
            (
                json!({"event_data": {"timestamp": null}, "timestamp": server}),
                json!(server),
            ),
            (
                json!({"event_timestamp": "2025-06-27T02:14:33.291"}),
                json!("2025-06-27T02:14:33.291Z"),
            ),
            (
                json!({"event_timestamp": "2025-06-27 02:14:33"}),
                json!("2025-06-27 02:14:33Z"),
            ),
            // Not a time at all, or an epoch: left for validation to refuse.
            (json!({"event_timestamp": "yesterday"}), json!("yesterday")),
            (json!({"event_timestamp": 1751000000}), json!(1751000000)),
            (
                json!({"event_timestamp": "2025-06-27"}),
                json!("2025-06-27"),
            ),
        ];
        for (payload, timestamp) in cases {
            assert_eq!(mapped(&payload)["timestamp"], timestamp, "{payload}");
        }
        let base = json!({"evt_type": "page_view", "page_path": "/", "page_title": "T"});
        let with_time = |key: &str, time: &str| {
            let mut p = base.clone();
            p[key] = json!(time);
            check(&p)
        };
        let v = with_time("event_timestamp", "2025-06-27 02:14:33");
        assert!(v.is_valid(), "{:?}", v.errors);
        assert_eq!(v.fields.timestamp, Some(datetime!(2025-06-27 02:14:33 UTC)));
        assert_eq!(codes(&v.warnings), [("TIMESTAMP_ASSUMED_UTC", "timestamp")]);
        assert!(v.warnings[0].message.contains("\"2025-06-27 02:14:33\""));
        assert!(v.warnings[0]
            .message
            .ends_with("(sent as \"event_timestamp\")"));
        assert_eq!(v.quality_score, 0.9);
        // With an offset: no warning.
        let v = with_time("event_timestamp", "2025-06-27T04:14:33+02:00");
        assert!(v.is_valid() && v.warnings.is_empty(), "{:?}", v.warnings);
        // The window still applies to a time read as UTC.
        let v = with_time("event_timestamp", "2025-06-01T02:14:33");
        assert_eq!(codes(&v.errors), [("TIMESTAMP_OUT_OF_WINDOW", "timestamp")]);
        let v = with_time("event_timestamp", "soon");
        assert_eq!(codes(&v.errors), [("TIMESTAMP_INVALID", "timestamp")]);
        // In our own vocabulary an offset is still required.
        let ours = json!({"event_type": "page_view", "page_path": "/", "timestamp": "2025-06-27T02:14:33"});
        assert_eq!(
            codes(&check(&ours).errors),
            [("TIMESTAMP_INVALID", "timestamp")]
        );
    }

    #[test]
    fn dialect_properties_merge_into_properties_and_follow_its_rules() {
        let payload = json!({
            "evt_type": "click",
            "page_path": "/",
            "evt_label": "from top",
            "properties": {"plan": "pro", "evt_label": "explicit"},
            "event_data": {"evt_label": "nested", "evt_value": 3, "service_type": "facial"},
        });
        let v = check(&payload);
        assert!(v.is_valid(), "{:?}", v.errors);
        assert_eq!(
            Value::Object(v.fields.properties.clone()),
            json!({"plan": "pro", "evt_label": "explicit", "evt_value": 3, "service_type": "facial"})
        );
        // An object in event_data is a property like any other, so it is refused as one.
        let payload =
            json!({"evt_type": "click", "page_path": "/", "event_data": {"cart": {"items": 2}}});
        assert_eq!(
            codes(&check(&payload).errors),
            [("PROPERTY_VALUE_NOT_SCALAR", "properties.cart")]
        );
        // 31 properties in all are too many.
        let nested: Map<String, Value> = (0..21).map(|i| (format!("k{i:02}"), json!(i))).collect();
        let mut payload = contract_event();
        payload["event_data"] = Value::Object(nested);
        assert_eq!(
            codes(&check(&payload).errors),
            [("PROPERTIES_TOO_MANY", "properties")]
        );
        // Properties that are not an object stay refused.
        let payload =
            json!({"evt_type": "click", "page_path": "/", "evt_value": 1, "properties": [1]});
        assert_eq!(
            codes(&check(&payload).errors),
            [("PROPERTIES_NOT_OBJECT", "properties")]
        );
    }

    #[test]
    fn event_data_that_is_not_an_object_is_wrong_type() {
        for event_data in [json!([1]), json!("{\"a\":1}"), json!(3)] {
            let payload =
                json!({"event_type": "page_view", "page_path": "/", "event_data": event_data});
            let v = check(&payload);
            assert_eq!(
                codes(&v.errors),
                [("WRONG_TYPE", "event_data")],
                "{payload}"
            );
            assert!(v.errors[0].message.contains("event_data must be an object"));
            assert_eq!(v.fields.event_type, Some(EventType::PageView));
        }
        let v = check(&json!({"event_type": "page_view", "page_path": "/", "event_data": null}));
        assert!(v.is_valid(), "{:?}", v.errors);
    }

    #[test]
    fn unknown_keys_stay_unknown_with_suggestions() {
        let mut payload = contract_event();
        payload["evt_catgory"] = json!("x");
        payload["eventName"] = json!("x");
        payload["utm_source"] = json!("x");
        let v = check(&payload);
        let unknown: Vec<_> = v
            .errors
            .iter()
            .filter(|i| i.code == "UNKNOWN_FIELD")
            .collect();
        assert_eq!(unknown.len(), 3, "{:?}", v.errors);
        let message = |key: &str| &unknown.iter().find(|i| i.field == key).unwrap().message;
        assert!(message("evt_catgory").contains("\"evt_category\""));
        assert!(message("eventName").contains("\"event_name\""));
        assert!(message("utm_source").contains("\"properties\""));
    }

    #[test]
    fn our_vocabulary_is_not_relaxed() {
        let ours = json!({
            "event_type": "page_view",
            "page_url": "https://example.com/",
            "eventType": "page_view",
            "evt_typ": "page_view",
        });
        assert!(!is_dialect(&ours));
        let v = check(&ours);
        assert_eq!(
            codes(&v.errors),
            [("UNKNOWN_FIELD", "eventType"), ("UNKNOWN_FIELD", "evt_typ")]
        );
        for issue in &v.errors {
            assert!(
                issue.message.contains("\"event_type\""),
                "{}",
                issue.message
            );
        }
        let v = check(&json!({"event_type": "appointment_interaction", "page_path": "/"}));
        assert_eq!(codes(&v.errors), [("EVENT_TYPE_UNKNOWN", "event_type")]);
        let v = check(&json!({"event_type": "page_view", "page_path": "/", "page_referer": "x"}));
        assert!(
            v.errors[0].message.contains("\"referrer\""),
            "{}",
            v.errors[0].message
        );
    }

    #[test]
    fn url_rules_are_not_relaxed() {
        let mut payload = api_event("page_view");
        payload["page_url"] = json!("file:///C:/Users/me/Desktop/test.html");
        let v = check(&payload);
        assert_eq!(codes(&v.errors), [("PAGE_URL_SCHEME", "page_url")]);
        let mut payload = contract_event();
        payload["page_url"] = json!("http://localhost:3000/booking");
        assert!(check(&payload).is_valid());
        let payload =
            json!({"evt_type": "page_view", "event_data": {"page_url": "http://10.0.0.5/"}});
        let v = check(&payload);
        assert_eq!(codes(&v.errors), [("DOMAIN_INVALID", "page_url")]);
        assert!(v.errors[0]
            .message
            .ends_with("(sent as \"event_data.page_url\")"));
    }

    #[test]
    fn the_raw_payload_is_not_modified_and_ours_is_borrowed() {
        let payload = api_event("click");
        let before = payload.clone();
        let mapping = to_vocabulary(&payload);
        assert!(mapping.is_dialect());
        assert_eq!(payload, before);
        let ours = json!({"event_type": "page_view", "page_path": "/"});
        let mapping = to_vocabulary(&ours);
        assert!(!mapping.is_dialect());
        assert!(matches!(mapping.payload, Cow::Borrowed(p) if std::ptr::eq(p, &ours)));
        assert!(mapping.errors.is_empty() && mapping.warnings.is_empty());
        let not_object = json!(["evt_type"]);
        assert!(!to_vocabulary(&not_object).is_dialect());
    }

    #[test]
    fn deep_values_are_not_copied() {
        let mut deep = json!("bottom");
        for _ in 0..100_000 {
            deep = Value::Array(vec![deep]);
        }
        let mut payload = json!({"evt_type": "click", "page_path": "/"});
        payload["event_data"] = Value::Object(Map::from_iter([("deep".to_owned(), deep)]));
        let m = mapped(&payload);
        assert_eq!(m["properties"]["deep"], json!([]));
        let v = check(&payload);
        assert_eq!(
            codes(&v.errors),
            [("PROPERTY_VALUE_NOT_SCALAR", "properties.deep")]
        );
        // Unwound with a loop: the recursive drop would overflow.
        let mut stack = vec![payload];
        while let Some(value) = stack.pop() {
            match value {
                Value::Array(items) => stack.extend(items),
                Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
                _ => {}
            }
        }
    }

    fn arb_key() -> impl Strategy<Value = String> {
        let vocabulary: Vec<&'static str> = KNOWN_FIELDS
            .iter()
            .chain(&MARKER_KEYS)
            .copied()
            .chain(["action", "title"])
            .collect();
        prop_oneof![
            3 => proptest::sample::select(vocabulary).prop_map(str::to_owned),
            1 => ".{0,12}",
        ]
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_filter_map("JSON has no NaN or infinity", |f| {
                serde_json::Number::from_f64(f).map(Value::Number)
            }),
            ".{0,20}".prop_map(Value::String),
            "20[0-9]{2}-[01][0-9]-[0-3][0-9][T ][0-2][0-9]:[0-5][0-9]:[0-6][0-9](\\.[0-9]{1,6})?(Z|[+-][01][0-9]:[0-5][0-9])?"
                .prop_map(Value::String),
            "(https?|file)://[a-z.]{1,12}/".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec((arb_key(), inner), 0..8)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    fn arb_object() -> impl Strategy<Value = Map<String, Value>> {
        proptest::collection::vec((arb_key(), arb_json()), 0..12)
            .prop_map(|entries| entries.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn the_mapping_never_panics_and_speaks_our_vocabulary(object in arb_object()) {
            let payload = Value::Object(object);
            let mapping = to_vocabulary(&payload);
            prop_assert_eq!(mapping.is_dialect(), is_dialect(&payload));
            let out = mapping.payload.as_object().expect("an object maps to an object");
            // No marker survives, so the mapping is done in one step.
            prop_assert!(!is_dialect(&mapping.payload));
            prop_assert!(!to_vocabulary(&mapping.payload).is_dialect());
            for key in out.keys() {
                prop_assert!(
                    KNOWN_FIELDS.contains(&key.as_str()) || payload.get(key).is_some(),
                    "{} appeared from nowhere", key
                );
            }
            for (field, _) in &mapping.sent_as {
                prop_assert!(KNOWN_FIELDS.contains(field));
            }
            if let Some(Value::String(t)) = out.get("timestamp") {
                let assumed = mapping.warnings.iter().any(|i| i.code == "TIMESTAMP_ASSUMED_UTC");
                prop_assert!(!assumed || parse_timestamp(t).is_some());
            }
            let v = validate(&payload, RECEIVED);
            prop_assert_eq!(v.is_valid(), v.errors.is_empty());
        }

        #[test]
        fn a_payload_without_markers_maps_to_itself(mut object in arb_object()) {
            object.retain(|key, _| !MARKER_KEYS.contains(&key.as_str()));
            let payload = Value::Object(object);
            let mapping = to_vocabulary(&payload);
            prop_assert!(!mapping.is_dialect());
            prop_assert_eq!(mapping.payload.as_ref(), &payload);
            prop_assert!(mapping.errors.is_empty() && mapping.warnings.is_empty());
            prop_assert!(mapping.sent_as.is_empty());
        }

        #[test]
        fn arbitrary_json_never_panics(value in arb_json()) {
            let _ = to_vocabulary(&value);
            validate(&value, RECEIVED);
        }
    }
}
