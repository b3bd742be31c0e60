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
