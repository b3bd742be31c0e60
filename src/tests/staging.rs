//! In-database tests of processing raw events into staging: quarantine, poison handling,
//! idempotency, sessions and re-processing.

#[pgrx::pg_schema]
mod tests {
    use crate::tests::support::{call, tenant};
    use pgrx::prelude::*;
    use pgrx::JsonB;
    use serde_json::{json, Value};

    const EDGE: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91";

    fn ingest(tenant_hk: &[u8], ip: &str, payload: Value) -> i64 {
        Spi::get_one_with_args::<i64>(
            "SELECT raw.ingest_tracking_event($1, NULL, $2::inet, $3, $4)",
            &[
                tenant_hk.into(),
                ip.into(),
                EDGE.into(),
                JsonB(payload).into(),
            ],
        )
        .unwrap()
        .unwrap()
    }

    fn process(raw_event_id: i64) -> Value {
        Spi::get_one_with_args::<JsonB>(
            "SELECT staging.process_raw_event($1)",
            &[raw_event_id.into()],
        )
        .unwrap()
        .unwrap()
        .0
    }

    fn scalar<T: pgrx::IntoDatum + pgrx::FromDatum>(sql: &str, raw_event_id: i64) -> Option<T> {
        Spi::get_one_with_args::<T>(sql, &[raw_event_id.into()]).unwrap()
    }

    fn page_view(path: &str, at: &str) -> Value {
        json!({"event_type": "page_view", "page_url": format!("https://example.com{path}"),
               "page_title": "Example", "timestamp": at})
    }

    fn now_iso(offset_minutes: i64) -> String {
        Spi::get_one_with_args::<String>(
            "SELECT to_char((now() + make_interval(mins => $1::int)) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
            &[(offset_minutes as i32).into()],
        )
        .unwrap()
        .unwrap()
    }

    #[pg_test]
    fn a_valid_event_is_staged_with_its_enrichment_and_the_raw_row_processed() {
        let acme = tenant("Acme", 0);
        let id = ingest(
            &acme,
            "192.168.1.100",
            json!({"event_type": "page_view", "page_title": "Pricing",
                   "page_url": "https://Example.com/pricing/?utm_source=news%20letter&utm_medium=email&gclid=abc",
                   "referrer": "https://www.google.com/search?q=x", "timestamp": now_iso(-1)}),
        );
        let answer = process(id);
        assert_eq!(answer["status"], "PROCESSED");
        assert_eq!(answer["validation_status"], "VALID");
        let row = call(&format!(
            "SELECT to_jsonb(s) FROM staging.site_tracking_events_s s WHERE raw_event_id = {id}"
        ));
        assert_eq!(row["browser_name"], "Edge");
        assert_eq!(row["os_name"], "Windows");
        assert_eq!(row["device_type"], "desktop");
        assert_eq!(row["is_bot"], false);
        assert_eq!(row["page_host"], "example.com");
        assert_eq!(row["page_path"], "/pricing");
        assert_eq!(row["utm_source"], "news letter");
        assert_eq!(row["gclid"], "abc");
        assert_eq!(row["channel"], "paid");
        assert_eq!(row["referrer_host"], "google.com");
        assert_eq!(row["client_ip_anonymized"], "192.168.1.0");
        assert_eq!(row["session_source"], "derived");
        assert_eq!(
            row["tenant_hk"],
            format!("\\x{}", onevault_tracking_core::hashing::to_hex(&acme))
        );
        assert_eq!(
            scalar::<String>(
                "SELECT processing_status FROM raw.site_tracking_events_r WHERE raw_event_id = $1",
                id
            )
            .as_deref(),
            Some("PROCESSED")
        );
    }

    #[pg_test]
    fn an_invalid_event_is_quarantined_with_its_reasons() {
        let acme = tenant("Acme", 0);
        let id = ingest(
            &acme,
            "10.0.0.1",
            json!({"eventType": "page_view", "page_path": "/x"}),
        );
        let answer = process(id);
        assert_eq!(answer["validation_status"], "INVALID");
        let codes: Vec<&str> = answer["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["code"].as_str().unwrap())
            .collect();
        assert!(
            codes.contains(&"UNKNOWN_FIELD") && codes.contains(&"EVENT_TYPE_MISSING"),
            "{codes:?}"
        );
        assert_eq!(
            scalar::<String>(
                "SELECT processing_status FROM raw.site_tracking_events_r WHERE raw_event_id = $1",
                id
            )
            .as_deref(),
            Some("PROCESSED")
        );
        assert_eq!(
            scalar::<bool>("SELECT loaded_to_vault FROM staging.site_tracking_events_s WHERE raw_event_id = $1", id),
            Some(false)
        );
    }

    #[pg_test]
    fn processing_twice_never_creates_a_second_staging_row() {
        let acme = tenant("Acme", 0);
        let id = ingest(&acme, "10.0.0.1", page_view("/a", &now_iso(0)));
        let first = process(id);
        let second = process(id);
        assert_eq!(first["staging_event_id"], second["staging_event_id"]);
        assert_eq!(
            call("SELECT staging.process_pending_events()")["claimed"],
            0
        );
        assert_eq!(
            scalar::<i64>(
                "SELECT count(*) FROM staging.site_tracking_events_s WHERE raw_event_id = $1",
                id
            ),
            Some(1)
        );
    }

    /// A trigger that fails staging inserts of one page: an unexpected failure, not a rule.
    fn plant_poison() {
        Spi::run(
            "CREATE FUNCTION pg_temp.poison() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN IF NEW.page_path = '/poison' THEN RAISE EXCEPTION 'poisoned page'; END IF;
                        RETURN NEW; END $$;
             CREATE TRIGGER poison BEFORE INSERT ON staging.site_tracking_events_s
               FOR EACH ROW EXECUTE FUNCTION pg_temp.poison();",
        )
        .unwrap();
    }

    #[pg_test]
    fn a_poison_event_is_marked_error_then_failed_and_never_holds_back_the_others() {
        let acme = tenant("Acme", 0);
        plant_poison();
        Spi::run("SET LOCAL onevault_tracking.max_processing_attempts = 2").unwrap();
        let good = ingest(&acme, "10.0.0.1", page_view("/good", &now_iso(0)));
        let poison = ingest(&acme, "10.0.0.2", page_view("/poison", &now_iso(0)));
        let other = ingest(&acme, "10.0.0.3", page_view("/other", &now_iso(0)));

        let first = call("SELECT staging.process_pending_events(10)");
        assert_eq!(
            (
                first["claimed"].clone(),
                first["valid"].clone(),
                first["errors"].clone()
            ),
            (json!(3), json!(2), json!(1))
        );
        let status = |id: i64| {
            Spi::get_two_with_args::<String, i32>(
                "SELECT processing_status, retry_count FROM raw.site_tracking_events_r WHERE raw_event_id = $1",
                &[id.into()],
            )
            .unwrap()
        };
        assert_eq!(status(poison), (Some("ERROR".into()), Some(1)));
        assert_eq!(status(good).0.as_deref(), Some("PROCESSED"));
        assert_eq!(status(other).0.as_deref(), Some("PROCESSED"));
        assert_eq!(
            scalar::<String>(
                "SELECT error_message FROM raw.site_tracking_events_r WHERE raw_event_id = $1",
                poison
            )
            .as_deref(),
            Some("poisoned page")
        );

        let second = call("SELECT staging.process_pending_events(10)");
        assert_eq!(
            (second["claimed"].clone(), second["failed"].clone()),
            (json!(1), json!(1))
        );
        assert_eq!(status(poison), (Some("FAILED".into()), Some(2)));
        assert_eq!(
            call("SELECT staging.process_pending_events(10)")["claimed"],
            0,
            "FAILED is final"
        );
        assert_eq!(
            scalar::<i64>(
                "SELECT count(*) FROM staging.site_tracking_events_s WHERE raw_event_id = $1",
                poison
            ),
            Some(0)
        );
    }

    #[pg_test]
    fn process_raw_event_keeps_the_failure_mark_instead_of_rolling_it_back() {
        let acme = tenant("Acme", 0);
        plant_poison();
        let poison = ingest(&acme, "10.0.0.2", page_view("/poison", &now_iso(0)));
        let answer = process(poison);
        assert_eq!(answer["status"], "ERROR");
        assert_eq!(answer["retry_count"], 1);
        assert_eq!(answer["error_message"], "poisoned page");
    }

    #[pg_test]
    fn sessions_follow_the_thirty_minute_idle_window() {
        let acme = tenant("Acme", 0);
        let a = ingest(&acme, "10.0.0.1", page_view("/a", &now_iso(-60)));
        let b = ingest(&acme, "10.0.0.1", page_view("/b", &now_iso(-45)));
        let c = ingest(&acme, "10.0.0.1", page_view("/c", &now_iso(-5)));
        let other_visitor = ingest(&acme, "10.0.0.99", page_view("/a", &now_iso(-44)));
        call("SELECT staging.process_pending_events(10)");
        let session = |id| {
            scalar::<String>(
                "SELECT session_id FROM staging.site_tracking_events_s WHERE raw_event_id = $1",
                id,
            )
            .unwrap()
        };
        assert_eq!(session(a), session(b));
        assert_ne!(session(b), session(c), "40 idle minutes end a session");
        assert_ne!(session(a), session(other_visitor));
        // A later batch joins the session that is still open.
        let d = ingest(&acme, "10.0.0.1", page_view("/d", &now_iso(0)));
        call("SELECT staging.process_pending_events(10)");
        assert_eq!(session(c), session(d));
    }

    #[pg_test]
    fn a_late_event_joins_its_stored_session_whatever_else_is_in_the_drain() {
        let acme = tenant("Acme", 0);
        let a = ingest(&acme, "10.0.0.1", page_view("/a", &now_iso(-300)));
        let b = ingest(&acme, "10.0.0.1", page_view("/b", &now_iso(-60)));
        call("SELECT staging.process_pending_events(10)");
        let late = ingest(&acme, "10.0.0.1", page_view("/late", &now_iso(-295)));
        ingest(&acme, "10.0.0.77", page_view("/other", &now_iso(-10)));
        call("SELECT staging.process_pending_events(10)");
        let session = |id: i64| {
            scalar::<String>(
                "SELECT session_id FROM staging.site_tracking_events_s WHERE raw_event_id = $1",
                id,
            )
            .unwrap()
        };
        assert_ne!(session(a), session(b));
        assert_eq!(session(late), session(a));
    }

    #[pg_test]
    fn a_visit_across_midnight_stays_one_visitor_and_one_session() {
        let acme = tenant("Acme", 0);
        // Yesterday's hash X before midnight; after midnight the visitor hashes to Y today and X
        // under yesterday's salt, exactly what ingestion stores.
        let before = ingest(&acme, "10.0.0.1", page_view("/before", &now_iso(-10)));
        let after = ingest(&acme, "10.0.0.1", page_view("/after", &now_iso(0)));
        Spi::run(&format!(
            "UPDATE raw.site_tracking_events_r SET visitor_hash = '\\x{x}', visitor_hash_previous = NULL WHERE raw_event_id = {before};
             UPDATE raw.site_tracking_events_r SET visitor_hash = '\\x{y}', visitor_hash_previous = '\\x{x}' WHERE raw_event_id = {after};",
            x = "aa".repeat(32),
            y = "bb".repeat(32)
        ))
        .unwrap();
        process(before);
        process(after);
        let row = |id: i64| {
            Spi::get_two_with_args::<String, Vec<u8>>(
                "SELECT session_id, visitor_hash FROM staging.site_tracking_events_s WHERE raw_event_id = $1",
                &[id.into()],
            )
            .unwrap()
        };
        assert_eq!(row(before), row(after));
        assert_eq!(row(after).1, Some(vec![0xaa; 32]));
    }

    #[pg_test]
    fn quarantined_and_failed_events_can_be_reprocessed_after_a_fix() {
        let acme = tenant("Acme", 0);
        plant_poison();
        Spi::run("SET LOCAL onevault_tracking.max_processing_attempts = 1").unwrap();
        let invalid = ingest(
            &acme,
            "10.0.0.1",
            json!({"event_type": "page_view", "page_path": "/x", "colour": "red"}),
        );
        let poison = ingest(&acme, "10.0.0.2", page_view("/poison", &now_iso(0)));
        call("SELECT staging.process_pending_events(10)");
        assert_eq!(
            scalar::<String>(
                "SELECT processing_status FROM raw.site_tracking_events_r WHERE raw_event_id = $1",
                poison
            )
            .as_deref(),
            Some("FAILED")
        );
        // The fixes: the client's payload is corrected, the broken trigger removed.
        Spi::run(&format!(
            "UPDATE raw.site_tracking_events_r SET raw_payload = raw_payload - 'colour' WHERE raw_event_id = {invalid};
             DROP TRIGGER poison ON staging.site_tracking_events_s;"
        ))
        .unwrap();
        let answer = Spi::get_one_with_args::<JsonB>(
            "SELECT staging.reprocess_quarantined_events($1)",
            &[acme.as_slice().into()],
        )
        .unwrap()
        .unwrap()
        .0;
        assert_eq!(answer["valid"], 2);
        assert_eq!(
            answer["reprocessed_raw_event_ids"],
            json!([invalid, poison])
        );
        assert_eq!(
            Spi::get_one::<i64>(
                "SELECT count(*) FROM staging.site_tracking_events_s WHERE validation_status = 'VALID'"
            )
            .unwrap(),
            Some(2)
        );
        assert_eq!(
            Spi::get_one::<i64>(
                "SELECT count(*) FROM audit.audit_detail_s WHERE operation = 'TRACKING_EVENTS_REPROCESSED'"
            )
            .unwrap(),
            Some(1)
        );
    }

    #[pg_test]
    fn a_drain_audits_once_per_tenant_on_that_tenant() {
        let acme = tenant("Acme", 0);
        let globex = tenant("Globex", 0);
        ingest(&acme, "10.0.0.1", page_view("/a", &now_iso(0)));
        ingest(&acme, "10.0.0.2", page_view("/b", &now_iso(0)));
        ingest(&globex, "10.0.0.3", page_view("/c", &now_iso(0)));
        call("SELECT staging.process_pending_events(10)");
        let per_tenant = call(
            "SELECT jsonb_object_agg(encode(a.tenant_hk, 'hex'), (d.new_data ->> 'events')::int)
               FROM audit.audit_detail_s d JOIN audit.audit_event_h a USING (audit_event_hk)
              WHERE d.operation = 'TRACKING_EVENTS_PROCESSED'",
        );
        let hex = onevault_tracking_core::hashing::to_hex;
        assert_eq!(per_tenant, json!({hex(&acme): 2, hex(&globex): 1}));
    }

    #[pg_test(error = "p_batch_size must be between 1 and 10000, got 0")]
    fn batch_size_is_bounded() {
        Spi::run("SELECT staging.process_pending_events(0)").unwrap();
    }

    #[pg_test(error = "raw event 424242 does not exist in raw.site_tracking_events_r")]
    fn an_unknown_raw_event_is_an_error() {
        process(424242);
    }
}
