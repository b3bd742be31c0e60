//! The platform's own tracking call, `api.track_site_event`, attributed by its page's site.

use crate::api::tracking::{
    refuse_attempt, stored_settings, track_granted, Refusal, TrackGrant, TrackRequest,
};
use crate::postgres::error::OrInternal;
use crate::postgres::json;
use crate::postgres::spi::{self};
use onevault_tracking_core::attribution;
use onevault_tracking_core::domain::site_business_key;
use onevault_tracking_core::ip::parse_inet;
use onevault_tracking_core::validate::PAGE_URL_MAX_BYTES;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::AnyElement;
use pgrx::{Inet, JsonB};
use serde_json::{json, Map, Value};

/// The site a page belongs to, found by the page URL's host among the registered sites and
/// their allowed domains (with or without `www.`): the attribution of `api.track_site_event`,
/// which carries no key. Exactly one active site must claim the host.
fn site_of_page(
    client: &mut SpiClient<'_>,
    page_url: &str,
) -> Result<TrackGrant, (Refusal, Option<String>)> {
    let invalid = |code: &'static str, message: String| {
        page_url_refusal("PAGE_URL_INVALID", code, message.clone(), &message)
    };
    if page_url.len() > PAGE_URL_MAX_BYTES {
        return Err((
            invalid(
                "PAGE_URL_TOO_LONG",
                format!(
                    "p_page_url is {} bytes; at most {PAGE_URL_MAX_BYTES} are accepted",
                    page_url.len()
                ),
            ),
            None,
        ));
    }
    let host = match attribution::parse_page_url(page_url) {
        Ok((location, _)) => location.host,
        Err(reason) => {
            return Err((
                invalid(
                    "PAGE_URL_INVALID",
                    format!("p_page_url is not an absolute http(s) URL with a host: {reason}"),
                ),
                None,
            ))
        }
    };
    let Some(domain) = site_business_key(&host) else {
        return Err((
            invalid("PAGE_URL_INVALID", "p_page_url has no host".into()),
            None,
        ));
    };
    let sites: Vec<TrackGrant> = spi::execute(
        client,
        "SELECT s.tenant_hk, s.site_bk, sd.settings
           FROM business.site_details_s AS sd
           JOIN business.site_h AS s ON s.site_hk = sd.site_hk
          WHERE sd.load_end_date IS NULL AND coalesce(sd.is_active, true)
            AND $1 = ANY (coalesce(sd.allowed_domains, ARRAY[s.site_bk]))
          ORDER BY s.tenant_hk, s.site_bk
          LIMIT 2",
        &[domain.clone().into()],
    )
    .or_internal("site lookup")
    .map(|row| {
        TrackGrant::new(
            row.get::<Vec<u8>>(1).ok().flatten().unwrap_or_default(),
            None,
            None,
            row.get::<String>(2).ok().flatten().unwrap_or_default(),
            None,
            stored_settings(row.get::<JsonB>(3)),
        )
    })
    .collect();
    let mut sites = sites.into_iter();
    match (sites.next(), sites.next()) {
        (Some(grant), None) => Ok(grant),
        (None, _) => Err((
            page_url_refusal(
                "SITE_NOT_REGISTERED",
                "SITE_NOT_REGISTERED",
                format!("no registered site serves the host {domain}"),
                "register the site, or add the host to its allowed domains (api.register_site)",
            )
            .with("site_domain", domain.clone().into()),
            Some(domain),
        )),
        (Some(_), Some(_)) => Err((
            page_url_refusal(
                "SITE_AMBIGUOUS",
                "SITE_AMBIGUOUS",
                format!("more than one registered site claims the host {domain}"),
                "a host may belong to one site only; remove it from the others' allowed domains",
            )
            .with("site_domain", domain.clone().into()),
            Some(domain),
        )),
    }
}

/// A refusal of `api.track_site_event` because of its page URL: `error_code` and `message`,
/// and the one `errors` entry (`field` `p_page_url`, a specific `code`, what to do).
fn page_url_refusal(
    code: &'static str,
    detail_code: &'static str,
    message: String,
    advice: &str,
) -> Refusal {
    Refusal::new(code, message).with(
        "errors",
        json!([{"field": "p_page_url", "code": detail_code, "message": advice}]),
    )
}

/// The answer as the platform's API app reads it: `success`, `message` and `event_id` (the raw
/// event id), beside our `error_code` and `errors` on failures.
fn platform_answer(mut answer: Value) -> Value {
    let Some(fields) = answer.as_object_mut() else {
        return answer;
    };
    let success = fields.get("success").and_then(Value::as_bool) == Some(true);
    if success {
        let event_id = fields.get("raw_event_id").cloned().unwrap_or(Value::Null);
        fields.insert("event_id".into(), event_id);
        if !fields.contains_key("message") {
            fields.insert("message".into(), "Event tracked".into());
        }
    } else if !fields.contains_key("errors") {
        let error = json!({"field": "", "code": fields.get("error_code"), "message": fields.get("message")});
        fields.insert("errors".into(), json!([error]));
    }
    answer
}

/// `api.track_site_event(p_ip_address inet, p_user_agent text, p_page_url text, p_event_type
/// varchar DEFAULT 'page_view', p_event_data jsonb DEFAULT '{}') RETURNS jsonb`: the platform's
/// own tracking call (its API app and browser code), with the signature of the earlier
/// generation. The raw payload is what the platform's trackers send, `{"event_type",
/// "page_url", "event_data"}`, which staging reads as the platform dialect (core/src/dialect.rs).
/// Without a key, the page's host attributes the call: an unknown host stores nothing, and is
/// audited and rate limited as unattributed.
#[pg_extern(sql = false)]
fn track_site_event(
    p_ip_address: Option<Inet>,
    p_user_agent: Option<&str>,
    p_page_url: Option<&str>,
    p_event_type: Option<&str>,
    p_event_data: Option<AnyElement>,
) -> JsonB {
    let event_data = json::argument(p_event_data, "p_event_data").unwrap_or_else(|| json!({}));
    let mut payload = Map::new();
    payload.insert(
        "event_type".into(),
        p_event_type.unwrap_or("page_view").into(),
    );
    payload.insert("page_url".into(), p_page_url.into());
    payload.insert("event_data".into(), event_data);
    let client_ip = p_ip_address
        .as_ref()
        .and_then(|Inet(text)| parse_inet(text));
    Spi::connect_mut(|client| {
        let attributed = match p_page_url.filter(|url| !url.trim().is_empty()) {
            Some(url) => site_of_page(client, url),
            None => Err((
                page_url_refusal(
                    "PAGE_URL_MISSING",
                    "PAGE_URL_MISSING",
                    "p_page_url is required".into(),
                    "the absolute URL of the tracked page is required",
                ),
                None,
            )),
        };
        let answer = match attributed {
            Ok(grant) => {
                let request = TrackRequest {
                    api_key: None,
                    site_domain: None,
                    user_agent: p_user_agent,
                    client_ip: p_ip_address,
                    payload,
                    page_path: None,
                    opt_out: None,
                };
                track_granted(client, grant, request, client_ip)
            }
            Err((refusal, host)) => {
                // Counted like any refused attempt, in the bucket of calls no site claims, and
                // audited within the same bound.
                let mut details = Map::new();
                details.insert("page_host".into(), host.into());
                refuse_attempt(client, None, refusal, client_ip, details)
            }
        };
        JsonB(platform_answer(answer))
    })
}
