//! The shape rules the raw landing layer enforces before it accepts a payload.
//!
//! The raw layer is deliberately lenient: it keeps anything that is a non-empty JSON object of
//! bounded size, so that nothing a client sent is lost; field-level validation (with reasons and
//! quarantine) is the staging layer's job. The two checks here protect the table itself: the
//! size limit bounds storage, and the client event id must be short enough to index.

use serde_json::Value;

/// Longest client `event_id` used for de-duplication (a UUID is 36, a ULID 26).
pub const EVENT_ID_MAX_BYTES: usize = 128;

/// Longest user agent kept; real ones stay under 512 bytes, longer ones are abuse.
pub const USER_AGENT_MAX_BYTES: usize = 2048;

/// Default for `onevault_tracking.max_payload_bytes`.
pub const DEFAULT_MAX_PAYLOAD_BYTES: i32 = 64 * 1024;
/// Default for `onevault_tracking.max_batch_size`.
pub const DEFAULT_MAX_BATCH_SIZE: i32 = 1000;

/// Why the raw layer refuses a payload; `code()` is the stable identifier in API JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadError {
    NotAnObject { found: &'static str },
    Empty,
    TooLarge { bytes: usize, limit: usize },
}

impl PayloadError {
    pub fn code(&self) -> &'static str {
        match self {
            PayloadError::NotAnObject { .. } => "PAYLOAD_NOT_OBJECT",
            PayloadError::Empty => "PAYLOAD_EMPTY",
            PayloadError::TooLarge { .. } => "PAYLOAD_TOO_LARGE",
        }
    }
}

impl std::fmt::Display for PayloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PayloadError::NotAnObject { found } => {
                write!(f, "event payload must be a JSON object, got {found}")
            }
            PayloadError::Empty => write!(f, "event payload is an empty JSON object"),
            PayloadError::TooLarge { bytes, limit } => {
                write!(
                    f,
                    "event payload is {bytes} bytes, over the limit of {limit} bytes"
                )
            }
        }
    }
}

/// The JSON type name, as `jsonb_typeof` spells it.
pub fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Accepts a payload for the raw table. `serialized_bytes` is the size of its JSON text, which
/// the caller already has; re-serialising here would double the cost on the hot path.
pub fn check_payload(
    payload: &Value,
    serialized_bytes: usize,
    max_bytes: usize,
) -> Result<(), PayloadError> {
    let object = payload.as_object().ok_or(PayloadError::NotAnObject {
        found: json_type_name(payload),
    })?;
    if object.is_empty() {
        return Err(PayloadError::Empty);
    }
    if serialized_bytes > max_bytes {
        return Err(PayloadError::TooLarge {
            bytes: serialized_bytes,
            limit: max_bytes,
        });
    }
    Ok(())
}

/// The client-generated `event_id` that makes retries idempotent, when it is usable as one:
/// a string of 1 to [`EVENT_ID_MAX_BYTES`] bytes of `[A-Za-z0-9._:-]`. Anything else is kept in
/// the payload for staging to report, but does not de-duplicate.
pub fn client_event_id(payload: &Value) -> Option<&str> {
    let id = lifted_field(payload, "event_id")?.as_str()?;
    is_client_id(id, EVENT_ID_MAX_BYTES).then_some(id)
}

/// A top-level field, or the same key inside the platform dialect's nested `event_data` (the
/// top level wins, as in [`crate::dialect`]), so the raw layer finds the idempotency key and the
/// page of a platform tracker's payload where validation will.
fn lifted_field<'a>(payload: &'a Value, key: &str) -> Option<&'a Value> {
    payload
        .get(key)
        .filter(|v| !v.is_null())
        .or_else(|| payload.get("event_data")?.get(key))
}

/// The character rule of client-generated ids (event and session ids): 1 to `max_bytes` bytes of
/// `[A-Za-z0-9._:-]`, so they can be index keys and travel in URLs unescaped.
pub fn is_client_id(id: &str, max_bytes: usize) -> bool {
    !id.is_empty()
        && id.len() <= max_bytes
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// The lower-case host of the payload's `page_url`: the site a visitor is counted on.
/// Empty when the payload has no usable absolute URL (a visitor is then counted per tenant).
pub fn page_url_host(payload: &Value) -> String {
    lifted_field(payload, "page_url")
        .and_then(Value::as_str)
        .and_then(|text| url::Url::parse(text).ok())
        .and_then(|url| url.host_str().and_then(crate::domain::normalize_host))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn check(v: &Value, limit: usize) -> Result<(), PayloadError> {
        check_payload(v, v.to_string().len(), limit)
    }

    #[test]
    fn objects_with_content_are_accepted() {
        assert_eq!(check(&json!({"event_type": "page_view"}), 1000), Ok(()));
    }

    #[test]
    fn every_non_object_is_refused_with_its_type() {
        for (v, found) in [
            (json!(null), "null"),
            (json!(true), "boolean"),
            (json!(1.5), "number"),
            (json!("x"), "string"),
            (json!([{"a": 1}]), "array"),
        ] {
            let err = check(&v, 1000).unwrap_err();
            assert_eq!(err, PayloadError::NotAnObject { found });
            assert_eq!(err.code(), "PAYLOAD_NOT_OBJECT");
            assert!(err.to_string().contains(found));
        }
    }

    #[test]
    fn empty_object_is_refused() {
        assert_eq!(check(&json!({}), 1000), Err(PayloadError::Empty));
    }

    #[test]
    fn size_limit_is_inclusive() {
        let v = json!({"k": "v"});
        let n = v.to_string().len();
        assert_eq!(check(&v, n), Ok(()));
        assert_eq!(
            check(&v, n - 1),
            Err(PayloadError::TooLarge {
                bytes: n,
                limit: n - 1
            })
        );
    }

    #[test]
    fn event_ids_are_used_only_when_well_formed() {
        assert_eq!(
            client_event_id(&json!({"event_id": "0b6f1c2e-9a4d-4a57-9c1e-2f8d7b6a5c41"})),
            Some("0b6f1c2e-9a4d-4a57-9c1e-2f8d7b6a5c41")
        );
        assert_eq!(
            client_event_id(&json!({"event_id": "a.b_c:d-1"})),
            Some("a.b_c:d-1")
        );
        for bad in [
            json!(""),
            json!(42),
            json!(null),
            json!("has space"),
            json!("é"),
            json!("x".repeat(EVENT_ID_MAX_BYTES + 1)),
        ] {
            assert_eq!(client_event_id(&json!({ "event_id": bad })), None, "{bad}");
        }
        assert_eq!(client_event_id(&json!({"event_type": "page_view"})), None);
        assert_eq!(
            client_event_id(&json!({"event_id": "x".repeat(EVENT_ID_MAX_BYTES)})).map(str::len),
            Some(EVENT_ID_MAX_BYTES)
        );
    }

    #[test]
    fn the_dialects_nested_event_id_and_page_are_found_and_the_top_level_wins() {
        let nested = json!({"event_type": "click", "page_url": null,
                            "event_data": {"event_id": "e-1", "page_url": "https://Shop.Example/x"}});
        assert_eq!(client_event_id(&nested), Some("e-1"));
        assert_eq!(page_url_host(&nested), "shop.example");
        let both = json!({"event_id": "top", "page_url": "https://a.example/",
                          "event_data": {"event_id": "inner", "page_url": "https://b.example/"}});
        assert_eq!(client_event_id(&both), Some("top"));
        assert_eq!(page_url_host(&both), "a.example");
    }

    #[test]
    fn page_url_host_is_the_lower_case_host_or_empty() {
        assert_eq!(
            page_url_host(&json!({"page_url": "https://Shop.Example.COM/a?b"})),
            "shop.example.com"
        );
        assert_eq!(page_url_host(&json!({"page_path": "/a"})), "");
        assert_eq!(page_url_host(&json!({"page_url": "not a url"})), "");
        assert_eq!(page_url_host(&json!({"page_url": 5})), "");
    }

    proptest! {
        #[test]
        fn accepted_ids_are_bounded_and_indexable(id in ".{0,200}") {
            if let Some(got) = client_event_id(&json!({ "event_id": id })) {
                prop_assert!(!got.is_empty() && got.len() <= EVENT_ID_MAX_BYTES);
                prop_assert!(got.is_ascii());
                prop_assert_eq!(got, id.as_str());
            }
        }

        #[test]
        fn a_checked_payload_is_a_bounded_non_empty_object(
            keys in proptest::collection::btree_map("[a-z]{1,8}", ".{0,40}", 0..8),
            limit in 0usize..400,
        ) {
            let v = json!(keys);
            let size = v.to_string().len();
            match check(&v, limit) {
                Ok(()) => prop_assert!(!keys.is_empty() && size <= limit),
                Err(PayloadError::Empty) => prop_assert!(keys.is_empty()),
                Err(PayloadError::TooLarge { bytes, .. }) => prop_assert!(bytes > limit),
                Err(other) => prop_assert!(false, "unexpected {:?}", other),
            }
        }
    }
}
