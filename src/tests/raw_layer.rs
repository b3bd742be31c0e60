//! In-database tests of the raw layer: ingestion, idempotency, privacy of stored IPs, and the
//! audit trail through `util.log_audit_event` (the core replica is loaded by test builds).

#[pgrx::pg_schema]
mod tests {
    use crate::tests::support::{count, tenant};
    use pgrx::prelude::*;
    use pgrx::JsonB;
    use serde_json::{json, Value};

    fn ingest(tenant_hk: &[u8], ip: &str, payload: Value) -> i64 {
        Spi::get_one_with_args::<i64>(
            "SELECT raw.ingest_tracking_event($1, NULL, $2::inet, 'Test Browser', $3)",
            &[tenant_hk.into(), ip.into(), JsonB(payload).into()],
        )
        .unwrap()
        .unwrap()
    }

    fn batch(tenant_hk: &[u8], events: Value) -> Value {
        Spi::get_one_with_args::<JsonB>(
            "SELECT raw.batch_ingest_tracking_events($1, NULL, '10.1.2.3', 'Test Browser', $2)",
            &[tenant_hk.into(), JsonB(events).into()],
        )
        .unwrap()
        .unwrap()
        .0
    }

    fn page_view(event_id: &str) -> Value {
        json!({"event_type": "page_view", "page_path": "/dashboard", "event_id": event_id})
    }

    #[pg_test]
    fn ingest_lands_one_pending_row_with_the_anonymized_ip() {
        let acme = tenant("Acme", 0);
        let id = ingest(&acme, "192.168.1.100", page_view("evt-1"));
        let row = Spi::get_three_with_args::<String, String, String>(
            "SELECT client_ip::text, processing_status, client_event_id
               FROM raw.site_tracking_events_r WHERE raw_event_id = $1 AND tenant_hk = $2",
            &[id.into(), acme.as_slice().into()],
        )
        .unwrap();
        assert_eq!(
            row,
            (
                Some("192.168.1.0/32".into()),
                Some("PENDING".into()),
                Some("evt-1".into())
            )
        );
    }

    #[pg_test]
    fn audit_record_belongs_to_the_events_tenant_even_when_an_older_tenant_exists() {
        let _oldest = tenant("Oldest Corp", 400);
        let newer = tenant("Newer Corp", 1);
        let id = ingest(&newer, "192.168.1.100", page_view("evt-attr"));
        let (tenant_of_audit, details) = Spi::get_two_with_args::<Vec<u8>, JsonB>(
            "SELECT a.tenant_hk, d.new_data
               FROM audit.audit_detail_s d JOIN audit.audit_event_h a USING (audit_event_hk)
              WHERE d.operation = 'TRACKING_EVENT_RECEIVED' AND (d.new_data ->> 'raw_event_id')::bigint = $1",
            &[id.into()],
        )
        .unwrap();
        assert_eq!(tenant_of_audit.unwrap(), newer);
        let details = details.unwrap().0.to_string();
        assert!(
            !details.contains("192.168"),
            "client IP leaked into audit: {details}"
        );
        assert!(
            !details.contains("Test Browser"),
            "user agent leaked into audit: {details}"
        );
    }

    #[pg_test]
    fn two_events_in_one_transaction_keep_both_audit_records() {
        let acme = tenant("Acme", 0);
        ingest(&acme, "10.0.0.1", page_view("evt-a"));
        ingest(&acme, "10.0.0.1", page_view("evt-b"));
        assert_eq!(
            count(
                "SELECT count(*) FROM audit.audit_detail_s WHERE operation = 'TRACKING_EVENT_RECEIVED'"
            ),
            2
        );
    }

    #[pg_test]
    fn a_retried_event_id_returns_the_stored_event_and_writes_nothing() {
        let acme = tenant("Acme", 0);
        let first = ingest(&acme, "10.0.0.1", page_view("evt-retry"));
        let again = ingest(&acme, "10.0.0.1", page_view("evt-retry"));
        assert_eq!(first, again);
        assert_eq!(count("SELECT count(*) FROM raw.site_tracking_events_r"), 1);
        assert_eq!(count("SELECT count(*) FROM audit.audit_detail_s"), 1);
    }

    #[pg_test]
    fn the_same_event_id_in_two_tenants_is_two_events() {
        let acme = tenant("Acme", 0);
        let globex = tenant("Globex", 0);
        assert_ne!(
            ingest(&acme, "10.0.0.1", page_view("shared-id")),
            ingest(&globex, "10.0.0.1", page_view("shared-id"))
        );
    }

    #[pg_test]
    fn ip_storage_setting_chooses_what_is_kept() {
        let acme = tenant("Acme", 0);
        let stored = |mode: &str, ip: &str, event_id: &str| {
            Spi::run(&format!(
                "SET LOCAL onevault_tracking.client_ip_storage = '{mode}'"
            ))
            .unwrap();
            let id = ingest(&acme, ip, page_view(event_id));
            Spi::get_one_with_args::<String>(
                "SELECT host(client_ip) FROM raw.site_tracking_events_r WHERE raw_event_id = $1",
                &[id.into()],
            )
            .unwrap()
        };
        assert_eq!(
            stored("full", "192.168.1.100", "e1").as_deref(),
            Some("192.168.1.100")
        );
        assert_eq!(stored("none", "192.168.1.100", "e2"), None);
        assert_eq!(
            stored("anonymized", "2001:db8:85a3:8d3:1319:8a2e:370:7348", "e3").as_deref(),
            Some("2001:db8:85a3::")
        );
    }

    #[pg_test]
    fn batch_lands_valid_items_reports_the_rest_and_audits_once() {
        let acme = tenant("Acme", 0);
        ingest(&acme, "10.0.0.1", page_view("known"));
        let answer = batch(
            &acme,
            json!([
                page_view("b1"),
                {},
                page_view("known"),
                [1],
                page_view("b2"),
                page_view("b1")
            ]),
        );
        assert_eq!(answer["size"], 6);
        assert_eq!(answer["accepted"], 2);
        assert_eq!(answer["duplicates"], 2);
        assert_eq!(answer["rejected"], 2);
        let statuses: Vec<&str> = answer["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["status"].as_str().unwrap())
            .collect();
        assert_eq!(
            statuses,
            [
                "accepted",
                "rejected",
                "duplicate",
                "rejected",
                "accepted",
                "duplicate"
            ]
        );
        assert_eq!(answer["results"][1]["error_code"], "PAYLOAD_EMPTY");
        assert_eq!(answer["results"][3]["error_code"], "PAYLOAD_NOT_OBJECT");
        assert_eq!(
            answer["results"][5]["raw_event_id"],
            answer["results"][0]["raw_event_id"]
        );
        assert_eq!(count("SELECT count(*) FROM raw.site_tracking_events_r"), 3);
        assert_eq!(
            count("SELECT count(*) FROM raw.site_tracking_events_r WHERE batch_id IS NOT NULL AND batch_position IN (0, 4)"),
            2
        );
        let audit = Spi::get_one::<JsonB>(
            "SELECT new_data FROM audit.audit_detail_s WHERE operation = 'TRACKING_BATCH_RECEIVED'",
        )
        .unwrap()
        .unwrap()
        .0;
        assert_eq!(audit["accepted"], 2);
        assert_eq!(audit["rejected"], 2);
        assert_eq!(audit["batch_id"], answer["batch_id"]);
        assert_eq!(
            audit["first_raw_event_id"],
            answer["results"][0]["raw_event_id"]
        );
        assert_eq!(
            audit["last_raw_event_id"],
            answer["results"][4]["raw_event_id"]
        );
    }

    #[pg_test]
    fn payload_limit_is_a_setting() {
        let acme = tenant("Acme", 0);
        Spi::run("SET LOCAL onevault_tracking.max_payload_bytes = 300").unwrap();
        let answer = batch(
            &acme,
            json!([{"k": "x".repeat(200)}, {"k": "x".repeat(400)}]),
        );
        assert_eq!(answer["results"][0]["status"], "accepted");
        assert_eq!(answer["results"][1]["error_code"], "PAYLOAD_TOO_LARGE");
    }

    #[pg_test(error = "p_tenant_hk must not be NULL")]
    fn null_tenant_is_refused() {
        Spi::run("SELECT raw.ingest_tracking_event(NULL, NULL, NULL, NULL, '{\"a\": 1}')").unwrap();
    }

    #[pg_test(error = "event payload is an empty JSON object")]
    fn empty_payload_is_refused() {
        let acme = tenant("Acme", 0);
        ingest(&acme, "10.0.0.1", json!({}));
    }

    #[pg_test(error = "batch of 3 events is over the limit of 2")]
    fn batch_size_limit_is_enforced_whole() {
        let acme = tenant("Acme", 0);
        Spi::run("SET LOCAL onevault_tracking.max_batch_size = 2").unwrap();
        batch(
            &acme,
            json!([page_view("1"), page_view("2"), page_view("3")]),
        );
    }

    /// `util.log_audit_event` never raises; if its answer were not checked, an event would land
    /// without its audit record.
    #[pg_test(error = "util.log_audit_event failed (P0001): audit store unavailable")]
    fn a_failed_audit_call_fails_the_ingest() {
        let acme = tenant("Acme", 0);
        Spi::run(
            "CREATE FUNCTION pg_temp.refuse() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN RAISE EXCEPTION 'audit store unavailable'; END $$;
             CREATE TRIGGER refuse BEFORE INSERT ON audit.audit_detail_s
               FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse();",
        )
        .unwrap();
        ingest(&acme, "10.0.0.1", page_view("unaudited"));
    }

    #[pg_test]
    fn native_keys_equal_util_hash_binary_of_the_business_key() {
        let mismatches = count(
            "SELECT count(*)
               FROM generate_series(1, 500) AS n,
                    LATERAL (SELECT util.hash_binary('t') AS tenant,
                                    repeat(chr(32 + n % 5000), n % 7) || '|\\' || n AS part) AS x
              WHERE onevault_tracking.hash_key(x.tenant, x.part, NULL, 'é')
                    <> util.hash_binary(onevault_tracking.business_key(x.tenant, x.part, NULL, 'é'))
                 OR onevault_tracking.hash_binary(x.part) <> util.hash_binary(x.part)",
        );
        assert_eq!(mismatches, 0);
    }
}
