//! `staging.validate_event_data` and `staging.enrich_event_data`: the staging rules as SQL
//! functions, for callers that check or enrich an event without processing it.

use crate::pipeline::user_agent::parse_user_agent;
use crate::postgres::error::required;
use crate::postgres::json;
use crate::privacy::salts;
use onevault_tracking_core::domain::site_of_host;
use onevault_tracking_core::enrich::enrich;
use onevault_tracking_core::ip::parse_inet;
use onevault_tracking_core::payload::page_url_host;
use onevault_tracking_core::validate::validate;
use onevault_tracking_core::visitor::visitor_hashes;
use pgrx::prelude::*;
use pgrx::AnyElement;
use pgrx::{Inet, JsonB};
use time::OffsetDateTime;

/// `staging.validate_event_data(p_event_data jsonb) RETURNS jsonb` (declared in
/// sql/staging_layer.sql): `valid`, `errors`, `warnings`, `quality_score`. The timestamp window
/// is taken around the current time.
#[pg_extern(sql = false)]
fn validate_event_data(p_event_data: Option<AnyElement>) -> JsonB {
    let payload = required(json::argument(p_event_data, "p_event_data"), "p_event_data");
    JsonB(validate(&payload, OffsetDateTime::now_utc()).to_json())
}

/// `staging.enrich_event_data(p_event_data jsonb, p_user_agent text, p_client_ip inet)
/// RETURNS jsonb`: browser, OS, device, bot flag, page parts, campaign, referrer and channel,
/// the anonymised IP and today's visitor hash.
#[pg_extern(sql = false)]
fn enrich_event_data(
    p_event_data: Option<AnyElement>,
    p_user_agent: Option<&str>,
    p_client_ip: Option<Inet>,
) -> JsonB {
    let payload = required(json::argument(p_event_data, "p_event_data"), "p_event_data");
    let fields = validate(&payload, OffsetDateTime::now_utc()).fields;
    let client_ip = p_client_ip.and_then(|Inet(text)| parse_inet(&text));
    let enrichment = enrich(&fields, parse_user_agent(p_user_agent), client_ip);
    let visitor = client_ip.and_then(|_| {
        let salts = Spi::connect_mut(salts::daily_salts);
        // Without a tenant the site's allowed domains are unknown: the page's own site key
        // (without `www.`), which is the pipeline's hash on the site's registered domain.
        let host = page_url_host(&payload);
        let site = site_of_host(&host, &[]).unwrap_or(host);
        visitor_hashes(&salts, &site, client_ip, p_user_agent)
    });
    JsonB(enrichment.to_json(visitor.as_ref().map(|v| &v.current)))
}
