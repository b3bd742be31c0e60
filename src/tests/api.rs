//! In-database tests of the API layer: sites, keys, tracking calls and their error contract.

#[pgrx::pg_schema]
mod tests {
    use crate::tests::support::{
        self, count, json, limit_per_minute_from_early_in_a_minute, tenant,
    };
    use pgrx::prelude::*;
    use serde_json::Value;

    const UA: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15";

    /// Registers `domain` for the tenant and returns a fresh key's plaintext.
    fn site_with_key(tenant_hk: &[u8], domain: &str) -> String {
        support::site_with_key(tenant_hk, domain)["api_key"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn page_view(key: &str, domain: &str, path: &str, ip: &str) -> Value {
        json(
            "SELECT api.track_page_view(p_api_key := $1, p_site_domain := $2, p_page_path := $3,
                                        p_user_agent := $4, p_client_ip := $5::inet, p_page_title := 'Title')",
            &[key.into(), domain.into(), path.into(), UA.into(), ip.into()],
        )
    }

    #[pg_test]
    fn one_page_view_runs_end_to_end_and_is_audited_on_its_tenant() {
        let _oldest = tenant("Oldest", 400);
        let acme = tenant("Acme", 1);
        let key = site_with_key(&acme, "example.com");
        let answer = page_view(&key, "example.com", "/dashboard", "192.168.1.100");
        assert_eq!(answer["success"], true, "{answer}");
        assert_eq!(answer["status"], "PROCESSED");
        assert_eq!(answer["loaded_to_vault"], true);
        assert_eq!(count("SELECT count(*) FROM raw.site_tracking_events_r"), 1);
        assert_eq!(count("SELECT count(*) FROM staging.site_tracking_events_s WHERE validation_status = 'VALID'"), 1);
        assert_eq!(count("SELECT count(*) FROM business.tracking_event_l WHERE page_hk IS NOT NULL AND session_hk IS NOT NULL AND api_key_hk IS NOT NULL"), 1);
        assert_eq!(
            count("SELECT count(*) FROM business.page_h WHERE page_bk = 'example.com/dashboard'"),
            1
        );
        let on_acme = Spi::get_one_with_args::<i64>(
            "SELECT count(*) FROM audit.audit_detail_s d JOIN audit.audit_event_h a USING (audit_event_hk)
              WHERE d.operation = 'TRACKING_ATTEMPT' AND a.tenant_hk = $1 AND d.new_data ->> 'outcome' = 'accepted'",
            &[acme.as_slice().into()],
        )
        .unwrap();
        assert_eq!(on_acme, Some(1));
        assert_eq!(
            count("SELECT count(*) FROM audit.audit_detail_s WHERE operation = 'TRACKING_ATTEMPT'"),
            1,
            "one audit record per call"
        );
    }

    #[pg_test]
    fn keys_are_stored_only_as_hashes_and_never_audited_in_plaintext() {
        let acme = tenant("Acme", 0);
        let key = site_with_key(&acme, "example.com");
        assert!(
            key.starts_with("ovt_") && key.len() >= 4 + 8 + 1 + 64,
            "{key}"
        );
        page_view(&key, "example.com", "/", "203.0.113.77");
        page_view(&key, "wrong.example", "/", "203.0.113.77");
        let stored = Spi::get_one_with_args::<bool>(
            "SELECT key_hash = util.hash_binary($1) FROM business.api_key_details_s WHERE load_end_date IS NULL",
            &[key.as_str().into()],
        )
        .unwrap();
        assert_eq!(stored, Some(true));
        let leaks = Spi::get_one_with_args::<i64>(
            "SELECT (SELECT count(*) FROM business.api_key_details_s d WHERE to_jsonb(d)::text LIKE '%' || $1 || '%')
                  + (SELECT count(*) FROM audit.audit_detail_s WHERE new_data::text LIKE '%' || $1 || '%'
                                                                  OR new_data::text LIKE '%203.0.113.77%')",
            &[key.as_str().into()],
        )
        .unwrap();
        assert_eq!(leaks, Some(0));
    }

    /// A forced prefix collision: the taken prefix is skipped, across tenants too, so the first
    /// key keeps its details and its one site (tests/pg_regress/sql/api_keys.sql shows that
    /// storing one is impossible).
    #[pg_test]
    fn a_taken_key_prefix_is_never_reused() {
        let acme = tenant("Acme", 0);
        let other = tenant("Other", 0);
        let first = site_with_key(&acme, "example.com");
        let taken = first[..12].to_owned();
        site_with_key(&other, "other.example");
        let chosen = Spi::connect_mut(|client| {
            crate::api::admin::unused_key_prefix(
                client,
                [taken.clone(), taken.clone(), "ovt_0000beef".to_owned()],
            )
        });
        assert_eq!(chosen, "ovt_0000beef");
        assert_eq!(
            page_view(&first, "example.com", "/", "203.0.113.9")["success"],
            true
        );
        assert_eq!(
            count("SELECT count(*) FROM business.api_key_details_s WHERE load_end_date IS NULL"),
            2
        );
    }

    #[pg_test]
    #[should_panic(expected = "candidate prefixes were all taken")]
    fn running_out_of_key_prefixes_is_an_internal_error() {
        let acme = tenant("Acme", 0);
        let key = site_with_key(&acme, "example.com");
        Spi::connect_mut(|client| {
            crate::api::admin::unused_key_prefix(client, std::iter::repeat(key[..12].to_owned()))
        });
    }

    #[pg_test]
    fn every_error_code_of_the_contract() {
        let acme = tenant("Acme", 0);
        let globex = tenant("Globex", 0);
        let key = site_with_key(&acme, "example.com");
        site_with_key(&globex, "globex.com");
        let code = |answer: Value| answer["error_code"].as_str().unwrap_or("none").to_owned();

        assert_eq!(
            code(page_view("ovt_nope_0000", "example.com", "/", "10.0.0.1")),
            "INVALID_API_KEY"
        );
        assert_eq!(
            code(page_view("", "example.com", "/", "10.0.0.1")),
            "INVALID_API_KEY"
        );
        assert_eq!(
            code(page_view(&key, "globex.com", "/", "10.0.0.1")),
            "DOMAIN_MISMATCH",
            "another tenant's site"
        );
        let invalid = json(
            "SELECT api.track_custom_event($1, 'example.com', NULL, '{\"deep\": {\"x\": 1}}', '/x', $2, '10.0.0.1')",
            &[key.as_str().into(), UA.into()],
        );
        assert_eq!(code(invalid.clone()), "INVALID_EVENT");
        let reasons: Vec<&str> = invalid["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["code"].as_str().unwrap())
            .collect();
        assert_eq!(reasons, ["EVENT_NAME_MISSING", "PROPERTY_VALUE_NOT_SCALAR"]);

        let first = json(
            "SELECT api.track_page_view($1, 'example.com', '/r', $2, '10.0.0.1', p_event_id := 'retry-1')",
            &[key.as_str().into(), UA.into()],
        );
        let retry = json(
            "SELECT api.track_page_view($1, 'example.com', '/r', $2, '10.0.0.1', p_event_id := 'retry-1')",
            &[key.as_str().into(), UA.into()],
        );
        assert_eq!(code(retry.clone()), "DUPLICATE_EVENT");
        assert_eq!(retry["raw_event_id"], first["raw_event_id"]);
        assert_eq!(count("SELECT count(*) FROM business.tracking_event_l WHERE tracking_event_bk IS NOT NULL AND page_hk IN (SELECT page_hk FROM business.page_h WHERE page_bk = 'example.com/r')"), 1);

        Spi::run("UPDATE business.api_key_details_s SET expires_at = now() - interval '1 day' WHERE load_end_date IS NULL AND tenant_hk = util.hash_binary('Acme')").unwrap();
        assert_eq!(
            code(page_view(&key, "example.com", "/", "10.0.0.1")),
            "API_KEY_EXPIRED"
        );
        Spi::run("UPDATE business.api_key_details_s SET expires_at = NULL WHERE load_end_date IS NULL AND tenant_hk = util.hash_binary('Acme')").unwrap();

        let prefix = key.rsplit_once('_').unwrap().0.to_owned();
        assert_eq!(
            page_view(&key, "example.com", "/", "10.0.0.1")["success"],
            true
        );
        json(
            "SELECT api.revoke_api_key($1, $2)",
            &[acme.as_slice().into(), prefix.as_str().into()],
        );
        assert_eq!(
            code(page_view(&key, "example.com", "/", "10.0.0.1")),
            "API_KEY_REVOKED",
            "the very next call"
        );

        let rejected = count(
            "SELECT count(*) FROM audit.audit_detail_s WHERE operation = 'TRACKING_ATTEMPT' AND new_data ->> 'outcome' <> 'accepted'
                AND new_data ->> 'error_code' IN ('INVALID_EVENT', 'DUPLICATE_EVENT')",
        );
        assert_eq!(rejected, 2, "every rejected event is audited");
        // The five refused keys are counted in Acme's refused-ip bucket of 10.0.0.1, and audited
        // once per window (tests/refused_rate_limit.rs tests the bound).
        let (refused, windows) = Spi::get_two::<i64, i64>(
            "SELECT sum(s.request_count)::bigint, count(*) FROM auth.ip_tracking_s s
               JOIN auth.security_tracking_h h USING (security_tracking_hk)
              WHERE h.security_tracking_bk = 'refused-ip:10.0.0.1'",
        )
        .unwrap();
        assert_eq!(refused, Some(5));
        let audited = count(
            "SELECT count(*) FROM audit.audit_detail_s WHERE operation = 'TRACKING_ATTEMPT'
                AND new_data ->> 'error_code' IN ('INVALID_API_KEY', 'DOMAIN_MISMATCH', 'API_KEY_EXPIRED', 'API_KEY_REVOKED')",
        );
        assert_eq!(
            Some(audited),
            windows,
            "the first refused key of each window"
        );
    }

    /// One client, one count: an IPv4 address and its IPv4-mapped IPv6 form, or any two
    /// addresses of one IPv6 /64 (the default prefix). Each client is one row of
    /// auth.ip_tracking_s however many addresses it uses, and the mapped form is stored and
    /// hashed as the IPv4 address.
    #[pg_test]
    fn the_rate_limiter_counts_clients_not_address_spellings() {
        let acme = tenant("Acme", 0);
        let key = site_with_key(&acme, "example.com");
        limit_per_minute_from_early_in_a_minute(2);
        let v4 = page_view(&key, "example.com", "/a", "198.51.100.20");
        let mapped = page_view(&key, "example.com", "/b", "::ffff:198.51.100.20");
        assert_eq!(
            (v4["success"].clone(), mapped["success"].clone()),
            (true.into(), true.into())
        );
        assert_eq!(
            page_view(&key, "example.com", "/c", "198.51.100.20")["error_code"],
            "RATE_LIMITED",
            "the mapped form counted against the IPv4 client"
        );
        for (n, address) in ["2001:db8:7:1::1", "2001:db8:7:1:ffff::2"]
            .iter()
            .enumerate()
        {
            assert_eq!(
                page_view(&key, "example.com", &format!("/v6-{n}"), address)["success"],
                true
            );
        }
        assert_eq!(
            page_view(&key, "example.com", "/v6-rotated", "2001:db8:7:1:abcd::3")["error_code"],
            "RATE_LIMITED",
            "a third address of the same /64 is the same client"
        );
        assert_eq!(
            page_view(&key, "example.com", "/v6-other", "2001:db8:7:2::1")["success"],
            true,
            "another /64 is another client"
        );
        let clients = Spi::get_one::<String>(
            "SELECT string_agg(abbrev(ip_address) || '=' || request_count, ' ' ORDER BY ip_address)
               FROM auth.ip_tracking_s",
        )
        .unwrap();
        assert_eq!(
            clients.as_deref(),
            Some("198.51.100.20=3 2001:db8:7:1::/64=3 2001:db8:7:2::/64=1"),
            "rate-limit rows"
        );
        // Stored (anonymised to /24) and hashed as the same IPv4 client.
        let (stored, same_visitor) = Spi::get_two_with_args::<String, bool>(
            "SELECT string_agg(DISTINCT host(client_ip), ','), count(DISTINCT visitor_hash) = 1
               FROM raw.site_tracking_events_r WHERE raw_event_id = ANY ($1)",
            &[vec![
                v4["raw_event_id"].as_i64().unwrap(),
                mapped["raw_event_id"].as_i64().unwrap(),
            ]
            .into()],
        )
        .unwrap();
        assert_eq!(stored.as_deref(), Some("198.51.100.0"), "stored address");
        assert_eq!(same_visitor, Some(true), "one visitor hash");
        // 128 bits: every IPv6 address is a client of its own again.
        Spi::run("SET LOCAL onevault_tracking.rate_limit_ipv6_prefix = 128").unwrap();
        assert_eq!(
            page_view(&key, "example.com", "/v6-single", "2001:db8:7:1:abcd::3")["success"],
            true
        );
    }

    #[pg_test]
    fn rate_limits_come_from_the_setting_or_the_key_and_count_per_tenant() {
        let acme = tenant("Acme", 0);
        let globex = tenant("Globex", 0);
        let key = site_with_key(&acme, "example.com");
        let other = site_with_key(&globex, "globex.com");
        limit_per_minute_from_early_in_a_minute(2);
        assert_eq!(
            page_view(&key, "example.com", "/1", "10.0.0.9")["success"],
            true
        );
        assert_eq!(
            page_view(&key, "example.com", "/2", "10.0.0.9")["success"],
            true
        );
        let limited = page_view(&key, "example.com", "/3", "10.0.0.9");
        assert_eq!(limited["error_code"], "RATE_LIMITED");
        assert!(limited["retry_after"].as_i64().unwrap() >= 1);
        assert_eq!(
            page_view(&other, "globex.com", "/1", "10.0.0.9")["success"],
            true,
            "never across tenants"
        );
        assert_eq!(
            page_view(&key, "example.com", "/4", "10.0.0.10")["success"],
            true,
            "per IP"
        );

        let strict = json(
            "SELECT api.create_api_key($1, 'example.com', 'strict', p_rate_limit_per_minute := 1)",
            &[acme.as_slice().into()],
        )["api_key"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            page_view(&strict, "example.com", "/s", "10.0.0.11")["success"],
            true
        );
        assert_eq!(
            page_view(&strict, "example.com", "/s", "10.0.0.11")["error_code"],
            "RATE_LIMITED"
        );

        let (rows, blocked, count_total) = Spi::get_three::<i64, i64, i64>(
            "SELECT count(*), count(*) FILTER (WHERE is_blocked), sum(request_count)::bigint FROM auth.ip_tracking_s",
        )
        .unwrap();
        assert_eq!(rows, Some(4), "one row per tenant, IP and window");
        assert_eq!(blocked, Some(2));
        assert_eq!(count_total, Some(7));
    }

    #[pg_test]
    fn the_latest_window_is_the_current_rate_limit_row() {
        let acme = tenant("Acme", 0);
        let check = || {
            json(
                "SELECT api.check_rate_limit($1, '10.1.1.1', 5, 1)",
                &[acme.as_slice().into()],
            )
        };
        // One-second windows: start just after a second begins, so the first two checks share it.
        Spi::run("SELECT pg_sleep(1.02 - extract(epoch FROM clock_timestamp())::numeric % 1)")
            .unwrap();
        assert_eq!(check()["current_count"], 1);
        assert_eq!(check()["current_count"], 2);
        Spi::run("SELECT pg_sleep(1.05)").unwrap();
        let next = check();
        assert_eq!(
            (next["current_count"].clone(), next["allowed"].clone()),
            (1.into(), true.into())
        );
        let (rows, current, ended_right) = Spi::get_three::<i64, i64, bool>(
            "SELECT count(*), count(*) FILTER (WHERE load_end_date IS NULL),
                    bool_and(load_end_date = load_date + interval '1 second') FILTER (WHERE load_end_date IS NOT NULL)
               FROM auth.ip_tracking_s",
        )
        .unwrap();
        assert_eq!((rows, current, ended_right), (Some(2), Some(1), Some(true)));
    }

    /// A vault table that refuses pages ending in `/broken` (until the trigger `refuse` is
    /// dropped): a failure after staging, inside a call's processing.
    fn refuse_broken_pages_in_the_vault() {
        Spi::run(
            "CREATE FUNCTION pg_temp.refuse() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN IF NEW.page_bk LIKE '%/broken' THEN RAISE EXCEPTION 'vault refused'; END IF;
                        RETURN NEW; END $$;
             CREATE TRIGGER refuse BEFORE INSERT ON business.page_h
               FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse();",
        )
        .unwrap();
    }

    #[pg_test]
    fn a_processing_failure_in_the_call_keeps_the_event_for_the_drain() {
        let acme = tenant("Acme", 0);
        let key = site_with_key(&acme, "example.com");
        refuse_broken_pages_in_the_vault();
        let answer = page_view(&key, "example.com", "/broken", "192.168.1.100");
        assert_eq!(answer["success"], true, "{answer}");
        assert_eq!(answer["status"], "PENDING", "{answer}");
        assert_eq!(answer["retry"], true, "{answer}");
        let raw_event_id = answer["raw_event_id"].as_i64().unwrap();
        let (status, message) = Spi::get_two_with_args::<String, String>(
            "SELECT processing_status, error_message FROM raw.site_tracking_events_r WHERE raw_event_id = $1",
            &[raw_event_id.into()],
        )
        .unwrap();
        assert_eq!(status.as_deref(), Some("ERROR"));
        assert_eq!(message.as_deref(), Some("vault refused"));
        // Staging and vault work of the failed attempt was rolled back; the drain retries it.
        assert_eq!(
            count("SELECT count(*) FROM staging.site_tracking_events_s"),
            0
        );
        assert_eq!(count("SELECT count(*) FROM business.tracking_event_l"), 0);
        Spi::run("DROP TRIGGER refuse ON business.page_h").unwrap();
        let drained = json("SELECT staging.process_pending_events(10)", &[]);
        assert_eq!(drained["loaded_to_vault"], 1, "{drained}");
        assert_eq!(count("SELECT count(*) FROM business.tracking_event_l"), 1);
    }

    /// With no attempt left after the call's own, the event is stored but nothing would process
    /// it: the answer is not a success.
    #[pg_test]
    fn a_processing_failure_without_retries_is_not_a_success() {
        let acme = tenant("Acme", 0);
        let key = site_with_key(&acme, "example.com");
        Spi::run("SET LOCAL onevault_tracking.max_processing_attempts = 1").unwrap();
        refuse_broken_pages_in_the_vault();
        let answer = page_view(&key, "example.com", "/broken", "192.168.1.100");
        assert_eq!(answer["success"], false, "{answer}");
        assert_eq!(answer["error_code"], "PROCESSING_FAILED", "{answer}");
        assert_eq!(answer["status"], "FAILED", "{answer}");
        let raw_event_id = answer["raw_event_id"].as_i64().unwrap();
        let status = Spi::get_one_with_args::<String>(
            "SELECT processing_status FROM raw.site_tracking_events_r WHERE raw_event_id = $1",
            &[raw_event_id.into()],
        )
        .unwrap();
        assert_eq!(status.as_deref(), Some("FAILED"));
        let audited = Spi::get_one::<String>(
            "SELECT new_data ->> 'outcome' || ' ' || (new_data ->> 'error_code') FROM audit.audit_detail_s
              WHERE operation = 'TRACKING_ATTEMPT'",
        )
        .unwrap();
        assert_eq!(audited.as_deref(), Some("failed PROCESSING_FAILED"));
    }

    #[pg_test]
    fn deferred_processing_lands_raw_only() {
        let acme = tenant("Acme", 0);
        let key = site_with_key(&acme, "example.com");
        Spi::run("SET LOCAL onevault_tracking.api_processing = 'deferred'").unwrap();
        let answer = page_view(&key, "example.com", "/later", "10.0.0.1");
        assert_eq!(
            (answer["success"].clone(), answer["status"].clone()),
            (Value::Bool(true), Value::from("PENDING"))
        );
        assert_eq!(
            count("SELECT count(*) FROM staging.site_tracking_events_s"),
            0
        );
        json("SELECT staging.process_pending_events()", &[]);
        json("SELECT business.load_staged_events()", &[]);
        assert_eq!(count("SELECT count(*) FROM business.tracking_event_l"), 1);
    }

    #[pg_test]
    fn register_site_is_idempotent_and_records_changes() {
        let acme = tenant("Acme", 0);
        let first = json(
            "SELECT api.register_site($1, 'WWW.Example.com', 'Example')",
            &[acme.as_slice().into()],
        );
        let again = json(
            "SELECT api.register_site($1, 'example.com', 'Example')",
            &[acme.as_slice().into()],
        );
        assert_eq!(
            (
                first["created"].clone(),
                again["created"].clone(),
                again["details_changed"].clone()
            ),
            (Value::Bool(true), Value::Bool(false), Value::Bool(false))
        );
        let renamed = json(
            "SELECT api.register_site($1, 'example.com', 'Example Inc', ARRAY['shop.example.com'], 'Europe/Berlin')",
            &[acme.as_slice().into()],
        );
        assert_eq!(renamed["details_changed"], true);
        assert_eq!(count("SELECT count(*) FROM business.site_h"), 1);
        assert_eq!(count("SELECT count(*) FROM business.site_details_s"), 2);
        // An allowed domain works with the same key.
        let key = json(
            "SELECT api.create_api_key($1, 'example.com', 'web')",
            &[acme.as_slice().into()],
        )["api_key"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            page_view(&key, "shop.example.com", "/", "10.0.0.1")["success"],
            true
        );
    }

    #[pg_test(error = "invalid p_timezone: unknown time zone \"Mars/Base\"")]
    fn register_site_refuses_an_unknown_time_zone() {
        let acme = tenant("Acme", 0);
        json(
            "SELECT api.register_site($1, 'example.com', 'Example', NULL, 'Mars/Base')",
            &[acme.as_slice().into()],
        );
    }

    #[pg_test(error = "site \"nowhere.example\" of this tenant does not exist")]
    fn keys_need_a_registered_site() {
        let acme = tenant("Acme", 0);
        json(
            "SELECT api.create_api_key($1, 'nowhere.example', 'web')",
            &[acme.as_slice().into()],
        );
    }
}
