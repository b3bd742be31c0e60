//! In-database tests of refused attempts (unknown, revoked, misused keys; pages no site claims):
//! each is counted per client in the limiter's bucket of refused attempts, answered
//! `RATE_LIMITED` over the default limit, and audited at most twice per client and window.

#[pgrx::pg_schema]
mod tests {
    use crate::tests::support::{
        count, json, limit_per_minute_from_early_in_a_minute, site_with_key, tenant,
    };
    use pgrx::prelude::*;
    use pgrx::JsonB;
    use serde_json::Value;

    const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

    fn page_view(key: &str, domain: &str, ip: Option<&str>) -> Value {
        json(
            "SELECT api.track_page_view(p_api_key := $1, p_site_domain := $2, p_page_path := '/',
                                        p_user_agent := $3, p_client_ip := $4::inet)",
            &[key.into(), domain.into(), UA.into(), ip.into()],
        )
    }

    fn site_event(ip: Option<&str>, url: &str) -> Value {
        json(
            "SELECT api.track_site_event($1::inet, $2, $3, 'page_view', '{}')",
            &[ip.into(), UA.into(), url.into()],
        )
    }

    fn codes(answers: &[Value]) -> Vec<String> {
        answers
            .iter()
            .map(|a| a["error_code"].as_str().unwrap_or("success").to_owned())
            .collect()
    }

    /// The count of a bucket (its business key) in the current window, and its tenant.
    fn bucket(bk: &str) -> (Option<i32>, Option<Vec<u8>>) {
        Spi::get_two_with_args::<i32, Vec<u8>>(
            "SELECT s.request_count, h.tenant_hk FROM auth.security_tracking_h h
               JOIN auth.ip_tracking_s s USING (security_tracking_hk)
              WHERE h.security_tracking_bk = $1 AND s.load_end_date IS NULL",
            &[bk.into()],
        )
        .unwrap()
    }

    /// The TRACKING_ATTEMPT records, oldest first: (tenant, details).
    fn attempts() -> Vec<(Vec<u8>, Value)> {
        Spi::connect(|client| {
            client
                .select(
                    "SELECT a.tenant_hk, d.new_data FROM audit.audit_detail_s d
                       JOIN audit.audit_event_h a USING (audit_event_hk)
                      WHERE d.operation = 'TRACKING_ATTEMPT'
                      ORDER BY (d.new_data -> 'refused_attempts' ->> 'count')::int NULLS LAST",
                    None,
                    &[],
                )
                .unwrap()
                .map(|row| {
                    (
                        row.get::<Vec<u8>>(1).unwrap().unwrap(),
                        row.get::<JsonB>(2).unwrap().unwrap().0,
                    )
                })
                .collect()
        })
    }

    /// The README's query of the exact count behind each bounded record ("Refused attempts").
    fn readme_query() -> String {
        let readme = include_str!("../../README.md");
        let start = readme
            .find("-- Each bounded record beside the exact count of its bucket and window.")
            .unwrap();
        let query = &readme[start..];
        query[..query.find(';').unwrap()].to_owned()
    }

    #[pg_test]
    fn a_flood_over_a_valid_keys_limit_is_audited_once_per_window() {
        let acme = tenant("Acme", 1);
        let key = site_with_key(&acme, "example.com")["api_key"]
            .as_str()
            .unwrap()
            .to_owned();
        limit_per_minute_from_early_in_a_minute(3);
        let answers: Vec<Value> = (0..40)
            .map(|_| page_view(&key, "example.com", Some("203.0.113.77")))
            .collect();
        let codes = codes(&answers);
        assert!(codes[..3].iter().all(|c| c == "success"), "{codes:?}");
        assert!(codes[3..].iter().all(|c| c == "RATE_LIMITED"), "{codes:?}");
        assert_eq!(bucket("ip:203.0.113.77"), (Some(40), Some(acme.clone())));
        // Three accepted calls, each with its record, and one record for the 37 over the limit.
        let records = attempts();
        let mut outcomes: Vec<&str> = records
            .iter()
            .map(|(_, d)| d["error_code"].as_str().unwrap_or("accepted"))
            .collect();
        outcomes.sort_unstable();
        assert_eq!(
            outcomes,
            ["RATE_LIMITED", "accepted", "accepted", "accepted"],
            "{records:?}"
        );
        let over = &records
            .iter()
            .find(|(_, d)| d["error_code"] == "RATE_LIMITED")
            .unwrap()
            .1["over_limit"];
        assert_eq!(
            (over["count"].clone(), over["limit"].clone()),
            (4.into(), 3.into())
        );
        assert_eq!(over["counted_in"], "auth.ip_tracking_s");
    }

    #[pg_test]
    fn a_flood_of_unknown_keys_is_rate_limited_with_a_bounded_audit() {
        let _oldest = tenant("Oldest", 400);
        let acme = tenant("Acme", 1);
        let key = site_with_key(&acme, "example.com")["api_key"]
            .as_str()
            .unwrap()
            .to_owned();
        limit_per_minute_from_early_in_a_minute(5);
        let answers: Vec<Value> = (0..300)
            .map(|n| {
                page_view(
                    &format!("ovt_nope_{n:04}"),
                    "example.com",
                    Some("203.0.113.9"),
                )
            })
            .collect();
        let codes = codes(&answers);
        assert!(
            codes[..5].iter().all(|c| c == "INVALID_API_KEY"),
            "{codes:?}"
        );
        assert!(codes[5..].iter().all(|c| c == "RATE_LIMITED"), "{codes:?}");
        let limited = &answers[299];
        assert!(limited["retry_after"].as_i64().unwrap() >= 1, "{limited}");
        assert_eq!(limited["rate_limit"]["current_count"], 300, "{limited}");
        assert_eq!(limited["rate_limit"]["limit"], 5, "{limited}");

        // Counted exactly, on the tenant owning the requested domain, in its refused bucket.
        assert_eq!(
            bucket("refused-ip:203.0.113.9"),
            (Some(300), Some(acme.clone()))
        );
        assert_eq!(
            count("SELECT count(*) FROM auth.security_tracking_h WHERE security_tracking_bk = 'ip:203.0.113.9'"),
            0,
            "refused attempts never count as the client's traffic"
        );

        // Two audit records: the first attempt, and the one that crossed the limit.
        let records = attempts();
        assert_eq!(records.len(), 2, "{records:?}");
        let (first, crossing) = (&records[0], &records[1]);
        assert_eq!((&first.0, &crossing.0), (&acme, &acme));
        assert_eq!(first.1["error_code"], "INVALID_API_KEY");
        assert_eq!(first.1["refused_attempts"]["count"], 1);
        assert_eq!(first.1["refused_attempts"]["bucket_scope"], "refused-ip");
        assert_eq!(first.1["client_network"], "203.0.113.0");
        assert_eq!(crossing.1["error_code"], "RATE_LIMITED");
        assert_eq!(crossing.1["refused_as"], "INVALID_API_KEY");
        assert_eq!(crossing.1["refused_attempts"]["count"], 6);
        assert_eq!(
            crossing.1["refused_attempts"]["counted_in"],
            "auth.ip_tracking_s"
        );
        let window_start = Spi::get_one::<String>(
            "SELECT to_char(s.load_date AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
               FROM auth.ip_tracking_s s JOIN auth.security_tracking_h h USING (security_tracking_hk)
              WHERE h.security_tracking_bk = 'refused-ip:203.0.113.9'",
        )
        .unwrap();
        assert_eq!(
            crossing.1["refused_attempts"]["window_start"].as_str(),
            window_start.as_deref(),
            "the record names the window of the row with the exact count"
        );
        // The README's query finds the exact count from each record.
        let found = Spi::get_one::<String>(&format!(
            "SELECT string_agg(audited_as || ' ' || count_when_audited || ' of ' || exact_count, ', '
                               ORDER BY count_when_audited::int) FROM ({}) AS q",
            readme_query()
        ))
        .unwrap();
        assert_eq!(
            found.as_deref(),
            Some("INVALID_API_KEY 1 of 300, RATE_LIMITED 6 of 300")
        );
        assert_eq!(
            count("SELECT count(*) FROM audit.audit_detail_s WHERE new_data::text LIKE '%203.0.113.9%' OR new_data::text LIKE '%ovt_nope%'"),
            0,
            "no full address or presented key in the audit"
        );

        // The client's legitimate traffic keeps its own quota, and does not raise the refused count.
        let accepted = page_view(&key, "example.com", Some("203.0.113.9"));
        assert_eq!(accepted["success"], true, "{accepted}");
        assert_eq!(bucket("ip:203.0.113.9"), (Some(1), Some(acme.clone())));
        assert_eq!(bucket("refused-ip:203.0.113.9").0, Some(300));
        assert_eq!(
            count("SELECT count(*) FROM audit.audit_detail_s WHERE operation = 'TRACKING_ATTEMPT' AND new_data ->> 'outcome' = 'accepted'"),
            1,
            "an accepted event keeps its own record"
        );
    }

    #[pg_test]
    fn a_revoked_or_misused_key_is_counted_under_its_tenant() {
        let _oldest = tenant("Oldest", 400);
        let acme = tenant("Acme", 1);
        let globex = tenant("Globex", 0);
        let created = site_with_key(&acme, "example.com");
        site_with_key(&globex, "globex.com");
        let key = created["api_key"].as_str().unwrap().to_owned();
        let prefix = created["key_prefix"].as_str().unwrap().to_owned();
        limit_per_minute_from_early_in_a_minute(3);
        // Another tenant's domain: the key's owner is the tenant of the attempt.
        let mismatch = page_view(&key, "globex.com", Some("198.51.100.31"));
        assert_eq!(mismatch["error_code"], "DOMAIN_MISMATCH");
        json(
            "SELECT api.revoke_api_key($1, $2)",
            &[acme.as_slice().into(), prefix.as_str().into()],
        );
        let answers: Vec<Value> = (0..4)
            .map(|_| page_view(&key, "example.com", Some("198.51.100.31")))
            .collect();
        assert_eq!(
            codes(&answers),
            [
                "API_KEY_REVOKED",
                "API_KEY_REVOKED",
                "RATE_LIMITED",
                "RATE_LIMITED"
            ]
        );
        assert_eq!(
            bucket("refused-ip:198.51.100.31"),
            (Some(5), Some(acme.clone()))
        );
        assert_eq!(
            count("SELECT count(*) FROM auth.security_tracking_h WHERE tenant_hk = util.hash_binary('Globex')"),
            0
        );
        let records = attempts();
        assert_eq!(records.len(), 2, "{records:?}");
        assert!(records.iter().all(|(t, _)| t == &acme));
        assert_eq!(records[0].1["error_code"], "DOMAIN_MISMATCH");
        assert_eq!(records[0].1["api_key_prefix"], prefix.as_str());
        assert_eq!(records[1].1["error_code"], "RATE_LIMITED");
        assert_eq!(records[1].1["refused_as"], "API_KEY_REVOKED");
        assert_eq!(records[1].1["refused_attempts"]["count"], 4);
    }

    #[pg_test]
    fn an_unknown_domain_is_counted_in_the_own_bucket_under_the_oldest_tenant() {
        let oldest = tenant("Oldest", 400);
        let acme = tenant("Acme", 1);
        site_with_key(&acme, "example.com");
        limit_per_minute_from_early_in_a_minute(2);
        let answers: Vec<Value> = (0..2)
            .map(|_| page_view("ovt_nope_0000", "nobody.example", Some("192.0.2.44")))
            .collect();
        assert_eq!(codes(&answers), ["INVALID_API_KEY", "INVALID_API_KEY"]);
        // The platform's call for a host no site claims counts in the same bucket.
        let site = site_event(Some("192.0.2.44"), "https://nobody.example/");
        assert_eq!(site["error_code"], "RATE_LIMITED", "{site}");
        assert_eq!(
            bucket("unattributed-ip:192.0.2.44"),
            (Some(3), Some(oldest.clone()))
        );
        assert_eq!(
            count("SELECT count(*) FROM auth.security_tracking_h WHERE security_tracking_bk LIKE 'refused-ip:%'"),
            0,
            "never in the oldest tenant's own refused bucket"
        );
        let records = attempts();
        assert_eq!(records.len(), 2, "{records:?}");
        assert_eq!(records[0].1["error_code"], "INVALID_API_KEY");
        assert_eq!(
            records[0].1["refused_attempts"]["bucket_scope"],
            "unattributed-ip"
        );
        assert_eq!(records[1].1["error_code"], "RATE_LIMITED");
        assert_eq!(records[1].1["refused_as"], "SITE_NOT_REGISTERED");
        assert_eq!(records[1].1["page_host"], "nobody.example");
    }

    #[pg_test]
    fn the_platform_call_for_an_unclaimed_host_is_audited_within_the_bound() {
        let _oldest = tenant("Oldest", 400);
        limit_per_minute_from_early_in_a_minute(3);
        let answers: Vec<Value> = (0..20)
            .map(|n| site_event(Some("192.0.2.45"), &format!("https://nobody{n}.example/")))
            .collect();
        let codes = codes(&answers);
        assert!(
            codes[..3].iter().all(|c| c == "SITE_NOT_REGISTERED"),
            "{codes:?}"
        );
        assert!(codes[3..].iter().all(|c| c == "RATE_LIMITED"), "{codes:?}");
        assert!(answers[19]["retry_after"].as_i64().unwrap() >= 1);
        assert_eq!(bucket("unattributed-ip:192.0.2.45").0, Some(20));
        let records = attempts();
        assert_eq!(records.len(), 2, "{records:?}");
        assert_eq!(records[0].1["page_host"], "nobody0.example");
        assert_eq!(records[1].1["refused_attempts"]["count"], 4);
    }

    #[pg_test]
    fn callers_without_an_address_share_one_bucket() {
        let _oldest = tenant("Oldest", 400);
        let acme = tenant("Acme", 1);
        site_with_key(&acme, "example.com");
        limit_per_minute_from_early_in_a_minute(2);
        let answers: Vec<Value> = (0..3)
            .map(|n| page_view(&format!("ovt_nope_{n}"), "example.com", None))
            .collect();
        assert_eq!(
            codes(&answers),
            ["INVALID_API_KEY", "INVALID_API_KEY", "RATE_LIMITED"]
        );
        assert_eq!(bucket("refused-ip:0.0.0.0"), (Some(3), Some(acme.clone())));
        // So do the addresses of one IPv6 /64 (the default prefix), a client of its own.
        let v6: Vec<Value> = ["2001:db8:5:1::1", "2001:db8:5:1::2", "2001:db8:5:1:ffff::3"]
            .iter()
            .map(|ip| page_view("ovt_nope", "example.com", Some(ip)))
            .collect();
        assert_eq!(
            codes(&v6),
            ["INVALID_API_KEY", "INVALID_API_KEY", "RATE_LIMITED"]
        );
        assert_eq!(bucket("refused-ip:2001:db8:5:1::/64").0, Some(3));
        let unattributed: Vec<Value> = (0..3)
            .map(|_| site_event(None, "https://nobody.example/"))
            .collect();
        assert_eq!(
            codes(&unattributed),
            ["SITE_NOT_REGISTERED", "SITE_NOT_REGISTERED", "RATE_LIMITED"]
        );
        assert_eq!(bucket("unattributed-ip:0.0.0.0").0, Some(3));
        assert_eq!(attempts().len(), 6, "two records per bucket");
    }
}
