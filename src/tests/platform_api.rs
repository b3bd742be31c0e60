//! In-database tests of `api.track_site_event`, the platform's own tracking call: attribution by
//! the page's host, and rate limiting with and without a site.

#[pgrx::pg_schema]
mod tests {
    use crate::tests::support::{call, count, tenant};
    use pgrx::prelude::*;

    fn site_event(ip: &str, url: &str) -> serde_json::Value {
        call(&format!(
            "SELECT api.track_site_event('{ip}', 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0', '{url}', 'page_view', '{{}}')"
        ))
    }

    #[pg_test]
    fn the_host_attributes_the_call_with_or_without_www_and_by_allowed_domains() {
        let _oldest = tenant("Oldest", 400);
        let acme = tenant("Acme", 1);
        Spi::run_with_args(
            "SELECT api.register_site($1, 'acme.example', 'Acme', ARRAY['blog.acme.example'])",
            &[acme.as_slice().into()],
        )
        .unwrap();
        for url in [
            "https://acme.example/",
            "https://WWW.Acme.Example/pricing",
            "https://blog.acme.example/post",
        ] {
            let answer = site_event("192.0.2.1", url);
            assert_eq!(answer["success"], true, "{url}: {answer}");
            assert_eq!(answer["event_id"], answer["raw_event_id"], "{answer}");
        }
        let on_acme = Spi::get_one_with_args::<i64>(
            "SELECT count(*) FROM raw.site_tracking_events_r WHERE tenant_hk = $1 AND api_key_hk IS NULL",
            &[acme.as_slice().into()],
        )
        .unwrap()
        .unwrap();
        assert_eq!(on_acme, 3);
        let other = site_event("192.0.2.1", "https://shop.acme.example/");
        assert_eq!(other["error_code"], "SITE_NOT_REGISTERED", "{other}");
        assert_eq!(count("SELECT count(*) FROM raw.site_tracking_events_r"), 3);
    }

    #[pg_test]
    fn a_site_rate_limit_and_the_unattributed_limit_both_refuse() {
        let acme = tenant("Acme", 1);
        Spi::run_with_args(
            "SELECT api.register_site($1, 'acme.example', 'Acme', p_settings := '{\"rate_limit_per_minute\": 2}')",
            &[acme.as_slice().into()],
        )
        .unwrap();
        let answers: Vec<_> = (0..3)
            .map(|_| site_event("192.0.2.7", "https://acme.example/"))
            .collect();
        assert_eq!(answers[1]["success"], true, "{}", answers[1]);
        assert_eq!(answers[2]["error_code"], "RATE_LIMITED", "{}", answers[2]);
        assert!(answers[2]["retry_after"].as_i64().unwrap() >= 1);
        assert_eq!(count("SELECT count(*) FROM raw.site_tracking_events_r"), 2);

        // A host no site claims is counted at the default limit, in a bucket of its own.
        Spi::run("SET LOCAL onevault_tracking.rate_limit_per_minute = 2").unwrap();
        let refused: Vec<_> = (0..3)
            .map(|_| site_event("192.0.2.8", "https://nobody.example/")["error_code"].clone())
            .collect();
        assert_eq!(
            refused,
            ["SITE_NOT_REGISTERED", "SITE_NOT_REGISTERED", "RATE_LIMITED"]
        );
        assert_eq!(
            count("SELECT count(*) FROM auth.security_tracking_h WHERE security_tracking_bk = 'unattributed-ip:192.0.2.8'"),
            1
        );
        assert_eq!(count("SELECT count(*) FROM raw.site_tracking_events_r"), 2);
    }
}
