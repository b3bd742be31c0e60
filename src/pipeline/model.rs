//! The business vault as data: every hub, link and satellite the extension loads, with its
//! columns. The loaders (`pipeline::vault`), the staged-event row (`pipeline::rows`) and site
//! and key administration (`api::admin`) all work from these descriptions.

pub struct Hub {
    pub table: &'static str,
    pub key: &'static str,
    pub business_key: &'static str,
}

pub struct Link {
    pub table: &'static str,
    pub key: &'static str,
    /// A business key column, for links that are units of work of their own.
    pub business_key: Option<&'static str>,
    pub hubs: &'static [&'static str],
}

pub struct Satellite {
    pub table: &'static str,
    pub parent: &'static str,
    /// The descriptive columns, in hash_diff order.
    pub attributes: &'static [&'static str],
}

pub const SITE_H: Hub = Hub {
    table: "business.site_h",
    key: "site_hk",
    business_key: "site_bk",
};
pub const PAGE_H: Hub = Hub {
    table: "business.page_h",
    key: "page_hk",
    business_key: "page_bk",
};
pub const SESSION_H: Hub = Hub {
    table: "business.session_h",
    key: "session_hk",
    business_key: "session_bk",
};

pub const API_KEY_H: Hub = Hub {
    table: "business.api_key_h",
    key: "api_key_hk",
    business_key: "api_key_bk",
};

pub const SITE_API_KEY_L: Link = Link {
    table: "business.site_api_key_l",
    key: "site_api_key_hk",
    business_key: None,
    hubs: &["site_hk", "api_key_hk"],
};
pub const SESSION_SITE_L: Link = Link {
    table: "business.session_site_l",
    key: "session_site_hk",
    business_key: None,
    hubs: &["session_hk", "site_hk"],
};
pub const PAGE_SITE_L: Link = Link {
    table: "business.page_site_l",
    key: "page_site_hk",
    business_key: None,
    hubs: &["page_hk", "site_hk"],
};
pub const TRACKING_EVENT_L: Link = Link {
    table: "business.tracking_event_l",
    key: "tracking_event_hk",
    business_key: Some("tracking_event_bk"),
    hubs: &["site_hk", "page_hk", "session_hk", "api_key_hk"],
};

pub const SITE_DETAILS_S: Satellite = Satellite {
    table: "business.site_details_s",
    parent: "site_hk",
    attributes: &[
        "site_name",
        "allowed_domains",
        "timezone",
        "is_active",
        "settings",
    ],
};
pub const API_KEY_DETAILS_S: Satellite = Satellite {
    table: "business.api_key_details_s",
    parent: "api_key_hk",
    attributes: &[
        "key_hash",
        "key_prefix",
        "label",
        "scopes",
        "rate_limit_per_minute",
        "expires_at",
        "revoked_at",
    ],
};
pub const PAGE_DETAILS_S: Satellite = Satellite {
    table: "business.page_details_s",
    parent: "page_hk",
    attributes: &["page_title", "page_host", "page_path"],
};
pub const SESSION_DETAILS_S: Satellite = Satellite {
    table: "business.session_details_s",
    parent: "session_hk",
    attributes: &[
        "visitor_hash",
        "session_source",
        "session_start",
        "entry_page_path",
        "referrer_host",
        "channel",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
        "device_type",
        "browser_name",
        "os_name",
        "is_bot",
    ],
};
pub const TRACKING_EVENT_DETAILS_S: Satellite = Satellite {
    table: "business.tracking_event_details_s",
    parent: "tracking_event_hk",
    attributes: &[
        "event_type",
        "event_name",
        "event_timestamp",
        "client_event_id",
        "properties",
        "page_query",
        "referrer_host",
        "channel",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
        "click_ids",
        "device_type",
        "browser_name",
        "browser_version",
        "os_name",
        "os_version",
        "is_bot",
        "visitor_hash",
        "screen_width",
        "language",
        "timezone",
    ],
};
