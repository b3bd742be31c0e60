//! The settings a site carries (`api.register_site(..., p_settings)`): every name with its type
//! and range. They are checked when a site is registered, and read on the tracking path without
//! ever failing: a value stored before these checks existed, or written into the table by hand,
//! counts as not set (the default applies), so one bad value can never turn every tracking call
//! of a site into an ERROR.

use serde_json::Value;
use std::fmt;
use std::ops::RangeInclusive;

/// The most calls per minute a site, an API key, `api.check_rate_limit` or the
/// `onevault_tracking.rate_limit_per_minute` setting may allow: far from integer overflow.
pub const RATE_LIMIT_MAX: i32 = 1_000_000;
/// Calls per minute a rate limit may allow. 0 would refuse every call.
pub const RATE_LIMIT_RANGE: RangeInclusive<i64> = 1..=RATE_LIMIT_MAX as i64;

/// What a site does with a browser's Do-Not-Track or Global Privacy Control signal.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PrivacySignals {
    /// Track as usual (the default: honouring them is the site owner's decision).
    Ignore,
    /// Count the event without visitor identity: no visitor hash, no client session id, no
    /// stored IP; it has no session and counts as no visitor.
    Anonymize,
    /// Store nothing: the call answers success with `dropped` and its reason, and only the
    /// attempt's audit record (without client network) remains.
    Drop,
}

impl PrivacySignals {
    pub fn parse(mode: &str) -> Option<Self> {
        match mode {
            "ignore" => Some(Self::Ignore),
            "anonymize" => Some(Self::Anonymize),
            "drop" => Some(Self::Drop),
            _ => None,
        }
    }
}

/// The names a site's settings may have, in the order the README lists them.
pub const SETTING_NAMES: [&str; 2] = ["rate_limit_per_minute", "privacy_signals"];

/// A site's settings; `None` where a setting is not set.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SiteSettings {
    pub rate_limit_per_minute: Option<i32>,
    pub privacy_signals: Option<PrivacySignals>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum SettingsError {
    NotAnObject,
    UnknownName {
        name: String,
        suggestion: Option<&'static str>,
    },
    InvalidValue {
        name: &'static str,
        reason: String,
    },
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingsError::NotAnObject => write!(f, "must be a JSON object"),
            SettingsError::UnknownName { name, suggestion } => {
                write!(f, "has an unknown setting {}", Value::from(name.as_str()))?;
                if let Some(known) = suggestion {
                    write!(f, " (did you mean \"{known}\"?)")?;
                }
                write!(f, "; the settings are {}", SETTING_NAMES.join(", "))
            }
            SettingsError::InvalidValue { name, reason } => write!(f, "{name} {reason}"),
        }
    }
}

/// Checks settings as `api.register_site` receives them: a JSON object of known names, each
/// value of its type and in its range. The first problem is the error.
pub fn parse(settings: &Value) -> Result<SiteSettings, SettingsError> {
    let object = settings.as_object().ok_or(SettingsError::NotAnObject)?;
    let invalid = |name: &'static str| move |reason| SettingsError::InvalidValue { name, reason };
    let mut parsed = SiteSettings::default();
    for (name, value) in object {
        match name.as_str() {
            "rate_limit_per_minute" => {
                parsed.rate_limit_per_minute =
                    Some(rate_limit(value).map_err(invalid("rate_limit_per_minute"))?)
            }
            "privacy_signals" => {
                parsed.privacy_signals =
                    Some(privacy_signals(value).map_err(invalid("privacy_signals"))?)
            }
            _ => {
                return Err(SettingsError::UnknownName {
                    name: name.clone(),
                    suggestion: closest_name(name),
                })
            }
        }
    }
    Ok(parsed)
}

/// Reads settings as they are stored, for the tracking path: every valid setting, every other
/// one (a bad value, or not an object at all) as not set. Never fails.
pub fn read_stored(settings: &Value) -> SiteSettings {
    let setting = |name: &str| settings.as_object().and_then(|o| o.get(name));
    SiteSettings {
        rate_limit_per_minute: setting("rate_limit_per_minute").and_then(|v| rate_limit(v).ok()),
        privacy_signals: setting("privacy_signals").and_then(|v| privacy_signals(v).ok()),
    }
}

/// A rate limit given as a number: whole and within [`RATE_LIMIT_RANGE`].
pub fn rate_limit_in_range(limit: i64) -> Result<i32, String> {
    if RATE_LIMIT_RANGE.contains(&limit) {
        i32::try_from(limit).map_err(|_| out_of_range(limit))
    } else {
        Err(out_of_range(limit))
    }
}

fn out_of_range(limit: impl fmt::Display) -> String {
    format!(
        "must be from {} to {} calls per minute, not {limit}",
        RATE_LIMIT_RANGE.start(),
        RATE_LIMIT_RANGE.end()
    )
}

/// A rate limit as JSON: a whole number (`120`, or `120.0`, which jsonb keeps as written) in
/// range; a huge whole number is out of range, not a type error.
fn rate_limit(value: &Value) -> Result<i32, String> {
    match (value.as_i64(), value.as_f64()) {
        (Some(limit), _) => rate_limit_in_range(limit),
        (None, Some(number)) if number.fract() == 0.0 && number.abs() < 1e15 => {
            rate_limit_in_range(number as i64)
        }
        (None, Some(number)) if number.fract() == 0.0 => Err(out_of_range(described(value))),
        (None, Some(_)) => Err(format!(
            "must be a whole number of calls per minute, not {}",
            described(value)
        )),
        (None, None) => Err(format!(
            "must be a number (calls per minute), not {}",
            described(value)
        )),
    }
}

fn privacy_signals(value: &Value) -> Result<PrivacySignals, String> {
    value
        .as_str()
        .and_then(PrivacySignals::parse)
        .ok_or_else(|| {
            format!(
                "must be \"ignore\", \"anonymize\" or \"drop\", not {}",
                described(value)
            )
        })
}

/// A value as an error message shows it: JSON text, shortened.
fn described(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(60) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text,
    }
}

/// The known setting closest to a misspelt name, when one is close enough to be what was
/// meant (a few edits, or the same words in another case or order of separators).
fn closest_name(name: &str) -> Option<&'static str> {
    let folded: String = name
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    SETTING_NAMES
        .iter()
        .map(|known| {
            let known_folded = known.replace('_', "");
            (strsim::levenshtein(&folded, &known_folded), *known)
        })
        .filter(|(distance, known)| *distance <= (known.len() / 4).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, known)| known)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn valid_settings_are_parsed() {
        assert_eq!(
            parse(&json!({"rate_limit_per_minute": 120, "privacy_signals": "drop"})),
            Ok(SiteSettings {
                rate_limit_per_minute: Some(120),
                privacy_signals: Some(PrivacySignals::Drop),
            })
        );
        assert_eq!(parse(&json!({})), Ok(SiteSettings::default()));
        assert_eq!(
            parse(&json!({"rate_limit_per_minute": 1_000_000})).map(|s| s.rate_limit_per_minute),
            Ok(Some(1_000_000))
        );
        assert_eq!(
            parse(&json!({"rate_limit_per_minute": 60.0})).map(|s| s.rate_limit_per_minute),
            Ok(Some(60))
        );
    }

    #[test]
    fn a_rate_limit_must_be_a_whole_number_in_range() {
        for (value, expected) in [
            (
                json!("fast"),
                "must be a number (calls per minute), not \"fast\"",
            ),
            (
                json!("120"),
                "must be a number (calls per minute), not \"120\"",
            ),
            (
                json!(1.5),
                "must be a whole number of calls per minute, not 1.5",
            ),
            (
                json!(0),
                "must be from 1 to 1000000 calls per minute, not 0",
            ),
            (
                json!(-5),
                "must be from 1 to 1000000 calls per minute, not -5",
            ),
            (
                json!(1_000_001),
                "must be from 1 to 1000000 calls per minute, not 1000001",
            ),
            (json!(null), "must be a number (calls per minute), not null"),
            (json!(true), "must be a number (calls per minute), not true"),
        ] {
            assert_eq!(
                parse(&json!({ "rate_limit_per_minute": value })),
                Err(SettingsError::InvalidValue {
                    name: "rate_limit_per_minute",
                    reason: expected.into()
                }),
                "{value}"
            );
        }
    }

    #[test]
    fn a_huge_whole_number_is_out_of_range_not_a_type_error() {
        // Its text depends on serde_json's number representation (the extension keeps the
        // digits as written, with arbitrary_precision).
        let huge: Value = serde_json::from_str("100000000000000000000").unwrap();
        let error = parse(&json!({ "rate_limit_per_minute": huge })).unwrap_err();
        assert!(
            error.to_string().starts_with(
                "rate_limit_per_minute must be from 1 to 1000000 calls per minute, not 1"
            ),
            "{error}"
        );
    }

    #[test]
    fn privacy_signals_must_be_one_of_the_modes() {
        let error = parse(&json!({"privacy_signals": "DROP"})).unwrap_err();
        assert_eq!(
            error.to_string(),
            "privacy_signals must be \"ignore\", \"anonymize\" or \"drop\", not \"DROP\""
        );
        assert!(parse(&json!({"privacy_signals": 1})).is_err());
    }

    #[test]
    fn unknown_names_are_refused_with_a_suggestion_when_one_is_close() {
        for (name, suggestion) in [
            ("rate_limit", None),
            ("rate_limit_per_minut", Some("rate_limit_per_minute")),
            ("rateLimitPerMinute", Some("rate_limit_per_minute")),
            ("Privacy-Signals", Some("privacy_signals")),
            ("privacy_signal", Some("privacy_signals")),
            ("timezone", None),
        ] {
            assert_eq!(
                parse(&json!({ name: 1 })),
                Err(SettingsError::UnknownName {
                    name: name.into(),
                    suggestion
                }),
                "{name}"
            );
        }
        assert_eq!(
            parse(&json!({"rateLimitPerMinute": 5})).unwrap_err().to_string(),
            "has an unknown setting \"rateLimitPerMinute\" (did you mean \"rate_limit_per_minute\"?); \
             the settings are rate_limit_per_minute, privacy_signals"
        );
    }

    #[test]
    fn settings_must_be_an_object() {
        for value in [json!([]), json!("x"), json!(null), json!(3)] {
            assert_eq!(parse(&value), Err(SettingsError::NotAnObject), "{value}");
        }
    }

    #[test]
    fn stored_settings_never_fail_and_keep_what_is_valid() {
        assert_eq!(
            read_stored(&json!({"rate_limit_per_minute": "fast", "privacy_signals": "drop"})),
            SiteSettings {
                rate_limit_per_minute: None,
                privacy_signals: Some(PrivacySignals::Drop),
            }
        );
        for stored in [
            json!({"rate_limit_per_minute": 0}),
            json!({"rate_limit_per_minute": 1.5}),
            json!({"rate_limit_per_minute": -1}),
            json!({"rate_limit_per_minute": 1e20}),
            json!({"rate_limit_per_minute": 0.0}),
            json!([1, 2]),
            json!(null),
        ] {
            assert_eq!(read_stored(&stored), SiteSettings::default(), "{stored}");
        }
        assert_eq!(
            read_stored(&json!({"rate_limit_per_minute": 30, "unknown": 1})).rate_limit_per_minute,
            Some(30)
        );
    }

    proptest! {
        /// Whatever is stored, reading it never panics, and what it yields is what registering
        /// would accept: a limit in range and a known privacy mode.
        #[test]
        fn read_stored_yields_only_valid_settings(limit in any::<i64>(), text in ".{0,20}", pick in 0..4u8) {
            let value = match pick {
                0 => json!(limit),
                1 => json!(text),
                2 => json!(limit as f64 / 3.0 + 0.5),
                _ => json!({"nested": limit}),
            };
            let stored = json!({"rate_limit_per_minute": value.clone(), "privacy_signals": value});
            let read = read_stored(&stored);
            if let Some(limit) = read.rate_limit_per_minute {
                prop_assert!(RATE_LIMIT_RANGE.contains(&i64::from(limit)));
            }
            prop_assert_eq!(read.rate_limit_per_minute.is_some(), pick == 0 && RATE_LIMIT_RANGE.contains(&limit));
            prop_assert_eq!(read.privacy_signals.is_some(), pick == 1 && PrivacySignals::parse(&text).is_some());
        }
    }
}
