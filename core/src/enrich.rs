//! Enrichment: what an event tells beyond its fields. Composes the user-agent, attribution and
//! privacy modules over the fields validation read, so a quarantined event is enriched as far as
//! its valid parts allow.

use crate::attribution::{self, Campaign, Channel};
use crate::hashing::to_hex;
use crate::ip::anonymize;
use crate::useragent::{DeviceType, UserAgentInfo};
use crate::validate::EventFields;
use crate::visitor::VisitorHash;
use serde_json::{json, Map, Value};
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq)]
pub struct Enrichment {
    pub user_agent: UserAgentInfo,
    pub page_host: Option<String>,
    pub page_path: Option<String>,
    pub page_query: Option<String>,
    pub campaign: Campaign,
    pub referrer_host: Option<String>,
    pub channel: Channel,
    pub client_ip_anonymized: Option<IpAddr>,
}

pub fn enrich(
    fields: &EventFields,
    user_agent: UserAgentInfo,
    client_ip: Option<IpAddr>,
) -> Enrichment {
    let (page_host, page_path, page_query, campaign) = match (&fields.page_url, &fields.page_path) {
        (Some(url), _) => match attribution::parse_page_url(url) {
            Ok((location, campaign)) => (
                Some(location.host),
                Some(location.path),
                location.query,
                campaign,
            ),
            Err(_) => (None, None, None, Campaign::default()),
        },
        (None, Some(path)) => {
            let (path, query, campaign) = attribution::parse_page_path(path);
            (None, Some(path), query, campaign)
        }
        (None, None) => (None, None, None, Campaign::default()),
    };
    let referrer_host = fields
        .referrer
        .as_deref()
        .and_then(attribution::referrer_host);
    let channel = attribution::channel(referrer_host.as_deref(), page_host.as_deref(), &campaign);
    Enrichment {
        user_agent,
        page_host,
        page_path,
        page_query,
        campaign,
        referrer_host,
        channel,
        client_ip_anonymized: client_ip.map(anonymize),
    }
}

impl Enrichment {
    /// The documented JSON shape of `staging.enrich_event_data`.
    pub fn to_json(&self, visitor_hash: Option<&VisitorHash>) -> Value {
        let ua = &self.user_agent;
        let c = &self.campaign;
        let mut out = match json!({
            "browser_name": ua.browser_name, "browser_version": ua.browser_version,
            "os_name": ua.os_name, "os_version": ua.os_version,
            "device_type": ua.device_type.as_str(), "is_bot": ua.is_bot,
            "page_host": self.page_host, "page_path": self.page_path, "page_query": self.page_query,
            "utm_source": c.utm_source, "utm_medium": c.utm_medium, "utm_campaign": c.utm_campaign,
            "utm_term": c.utm_term, "utm_content": c.utm_content,
            "referrer_host": self.referrer_host, "channel": self.channel.as_str(),
            "client_ip_anonymized": self.client_ip_anonymized.map(|ip| ip.to_string()),
            "visitor_hash": visitor_hash.map(|h| to_hex(h)),
        }) {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        for (name, value) in &c.click_ids {
            out.insert(name.clone(), Value::String(value.clone()));
        }
        out.insert("click_ids".into(), json!(c.click_ids));
        Value::Object(out)
    }

    pub fn device_type(&self) -> DeviceType {
        self.user_agent.device_type
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::useragent::UserAgentParser;
    use crate::validate::validate;
    use proptest::prelude::*;
    use std::sync::OnceLock;
    use time::OffsetDateTime;

    fn parser() -> &'static UserAgentParser {
        static PARSER: OnceLock<UserAgentParser> = OnceLock::new();
        PARSER.get_or_init(UserAgentParser::new)
    }

    fn run(payload: &Value, ua: Option<&str>, ip: Option<IpAddr>) -> Value {
        let fields = validate(payload, OffsetDateTime::now_utc()).fields;
        enrich(&fields, parser().parse(ua), ip).to_json(Some(&[1; 32]))
    }

    #[test]
    fn a_page_view_is_enriched_end_to_end() {
        let out = run(
            &json!({"event_type": "page_view", "page_title": "Café",
                    "page_url": "https://Example.com/menu/?utm_source=news+letter&utm_medium=email&fbclid=f1",
                    "referrer": "https://l.facebook.com/"}),
            Some("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"),
            Some("192.168.1.100".parse().unwrap()),
        );
        assert_eq!(out["os_name"], "iOS");
        assert_eq!(out["device_type"], "mobile");
        assert_eq!(out["page_host"], "example.com");
        assert_eq!(out["page_path"], "/menu");
        assert_eq!(out["utm_source"], "news letter");
        assert_eq!(out["fbclid"], "f1");
        assert_eq!(
            out["channel"], "email",
            "utm_medium=email outranks the social referrer"
        );
        assert_eq!(out["referrer_host"], "l.facebook.com");
        assert_eq!(out["client_ip_anonymized"], "192.168.1.0");
        assert_eq!(out["visitor_hash"], to_hex(&[1; 32]));
    }

    #[test]
    fn a_path_only_event_has_no_host_and_a_bad_url_no_page() {
        let out = run(
            &json!({"event_type": "page_view", "page_path": "/a/?utm_campaign=x"}),
            None,
            None,
        );
        assert_eq!(out["page_host"], Value::Null);
        assert_eq!(out["page_path"], "/a");
        assert_eq!(out["utm_campaign"], "x");
        assert_eq!(out["is_bot"], true, "no user agent is treated as a bot");
        let out = run(
            &json!({"event_type": "page_view", "page_url": "javascript:alert(1)"}),
            Some("UA"),
            None,
        );
        assert_eq!(out["page_path"], Value::Null);
        assert_eq!(out["channel"], "direct");
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            ".{0,40}".prop_map(Value::from),
            "(https?|ftp|javascript)://[a-zA-Z0-9.%/?&=+#-]{0,60}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("event_type".to_string()),
                        Just("page_url".to_string()),
                        Just("page_path".to_string()),
                        Just("referrer".to_string()),
                        Just("properties".to_string()),
                        Just("timestamp".to_string()),
                        ".{0,10}".prop_map(String::from)
                    ],
                    inner,
                    0..8
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn enrichment_never_panics(
            payload in json_value(),
            ua in proptest::option::of("(?s).{0,300}"),
            ip in proptest::option::of(any::<[u8; 4]>()),
        ) {
            let ip = ip.map(IpAddr::from);
            let out = run(&payload, ua.as_deref(), ip);
            prop_assert!(out.get("channel").and_then(Value::as_str).is_some());
            prop_assert!(out.get("device_type").and_then(Value::as_str).is_some());
        }
    }
}
