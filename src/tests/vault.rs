//! In-database tests of the business vault loaders.

#[pgrx::pg_schema]
mod tests {
    use crate::tests::support::{call, count, tenant};
    use pgrx::prelude::*;
    use pgrx::JsonB;
    use serde_json::{json, Value};

    const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";

    fn ingest(tenant_hk: &[u8], payload: Value) -> i64 {
        Spi::get_one_with_args::<i64>(
            "SELECT raw.ingest_tracking_event($1, NULL, '198.51.100.7', $2, $3)",
            &[tenant_hk.into(), FIREFOX.into(), JsonB(payload).into()],
        )
        .unwrap()
        .unwrap()
    }

    fn page_view(path: &str, title: &str) -> Value {
        json!({"event_type": "page_view", "page_url": format!("https://www.example.com{path}"),
               "page_title": title, "session_id": "client-session-1"})
    }

    fn process_and_load() -> Value {
        call("SELECT staging.process_pending_events(100)");
        call("SELECT business.load_staged_events(100)")
    }

    const VAULT_TABLES: [&str; 10] = [
        "business.site_h",
        "business.page_h",
        "business.session_h",
        "business.page_site_l",
        "business.session_site_l",
        "business.tracking_event_l",
        "business.page_details_s",
        "business.session_details_s",
        "business.tracking_event_details_s",
        "business.site_details_s",
    ];

    fn vault_counts() -> Vec<i64> {
        VAULT_TABLES
            .iter()
            .map(|t| count(&format!("SELECT count(*) FROM {t}")))
            .collect()
    }

    #[pg_test]
    fn events_load_into_hubs_links_and_satellites() {
        let acme = tenant("Acme", 0);
        ingest(&acme, page_view("/pricing", "Pricing"));
        ingest(&acme, page_view("/pricing", "Pricing"));
        ingest(&acme, page_view("/docs", "Docs"));
        // The drain loads the vault in the same pass; the loader then has nothing left.
        let drained = call("SELECT staging.process_pending_events(100)");
        assert_eq!(drained["loaded_to_vault"], 3, "{drained}");
        assert_eq!(drained["rows_added"]["tracking_event_l"], 3, "{drained}");
        assert_eq!(call("SELECT business.load_staged_events(100)")["loaded"], 0);
        // One site (www. dropped), two pages, one session, three events.
        assert_eq!(vault_counts(), vec![1, 2, 1, 2, 1, 3, 2, 1, 3, 0]);
        assert_eq!(
            count("SELECT count(*) FROM business.site_h WHERE site_bk = 'example.com'"),
            1
        );
        assert_eq!(
            count("SELECT count(*) FROM business.page_h WHERE page_bk IN ('example.com/pricing', 'example.com/docs')"),
            2
        );
        assert_eq!(
            count("SELECT count(*) FROM staging.site_tracking_events_s WHERE loaded_to_vault AND loaded_at IS NOT NULL"),
            3
        );
    }

    #[pg_test]
    fn with_process_loads_vault_off_the_loader_loads_what_the_drain_staged() {
        let acme = tenant("Acme", 0);
        ingest(&acme, page_view("/pricing", "Pricing"));
        ingest(&acme, page_view("/docs", "Docs"));
        Spi::run("SET LOCAL onevault_tracking.process_loads_vault = off").unwrap();
        let drained = call("SELECT staging.process_pending_events(100)");
        assert_eq!(drained["valid"], 2, "{drained}");
        assert!(drained.get("loaded_to_vault").is_none(), "{drained}");
        assert_eq!(vault_counts(), vec![0; VAULT_TABLES.len()]);
        assert_eq!(
            count("SELECT count(*) FROM staging.site_tracking_events_s WHERE NOT loaded_to_vault AND loaded_at IS NULL"),
            2
        );
        let loaded = call("SELECT business.load_staged_events(100)");
        assert_eq!(loaded["loaded"], 2, "{loaded}");
        assert_eq!(vault_counts(), vec![1, 2, 1, 2, 1, 2, 2, 1, 2, 0]);
    }

    #[pg_test]
    fn unchanged_details_are_not_written_again() {
        let acme = tenant("Acme", 0);
        ingest(&acme, page_view("/pricing", "Pricing"));
        process_and_load();
        let before = vault_counts();
        // The same page and session again: only the event is new.
        ingest(&acme, page_view("/pricing", "Pricing"));
        let drained = call("SELECT staging.process_pending_events(100)");
        let added = drained["rows_added"].as_object().unwrap().clone();
        let expected: Vec<(&str, i64)> = vec![
            ("page_details_s", 0),
            ("page_h", 0),
            ("page_site_l", 0),
            ("session_details_s", 0),
            ("session_h", 0),
            ("session_site_l", 0),
            ("site_h", 0),
            ("tracking_event_details_s", 1),
            ("tracking_event_l", 1),
        ];
        for (table, rows) in expected {
            assert_eq!(added[table], rows, "{table}: {drained}");
        }
        let after = vault_counts();
        let grew: Vec<&str> = VAULT_TABLES
            .iter()
            .zip(before.iter().zip(&after))
            .filter(|(_, (b, a))| b != a)
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(
            grew,
            vec![
                "business.tracking_event_l",
                "business.tracking_event_details_s"
            ]
        );
        // Unchanged satellites were not even locked for a load (the loader's advisory locks
        // are held to the end of the transaction, which a pg_test shares): the one advisory lock
        // held is the rollup upkeep's turn for the site (sql/rollups.sql).
        assert_eq!(
            count("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"),
            1
        );
        // Nothing was end-dated either.
        assert_eq!(
            count("SELECT count(*) FROM business.page_details_s WHERE load_end_date IS NOT NULL")
                + count("SELECT count(*) FROM business.session_details_s WHERE load_end_date IS NOT NULL"),
            0
        );
    }

    #[pg_test]
    fn replaying_the_same_staging_rows_adds_zero_rows_anywhere() {
        let acme = tenant("Acme", 0);
        ingest(&acme, page_view("/a", "A"));
        ingest(&acme, page_view("/b", "B"));
        process_and_load();
        let before = vault_counts();
        Spi::run(
            "UPDATE staging.site_tracking_events_s SET loaded_to_vault = false, loaded_at = NULL",
        )
        .unwrap();
        let replay = call("SELECT business.load_staged_events(100)");
        assert_eq!(replay["loaded"], 2);
        assert!(
            replay["rows_added"]
                .as_object()
                .unwrap()
                .values()
                .all(|n| n == 0),
            "{replay}"
        );
        assert_eq!(vault_counts(), before);
    }

    #[pg_test]
    fn a_title_change_adds_one_satellite_row_and_end_dates_the_previous() {
        let acme = tenant("Acme", 0);
        ingest(&acme, page_view("/p", "Old title"));
        process_and_load();
        ingest(&acme, page_view("/p", "Old title"));
        process_and_load();
        assert_eq!(
            count("SELECT count(*) FROM business.page_details_s"),
            1,
            "unchanged title adds nothing"
        );
        ingest(&acme, page_view("/p", "New title"));
        process_and_load();
        assert_eq!(count("SELECT count(*) FROM business.page_details_s"), 2);
        let (current, ended) = Spi::get_two::<String, String>(
            "SELECT max(page_title) FILTER (WHERE load_end_date IS NULL),
                    max(page_title) FILTER (WHERE load_end_date IS NOT NULL)
               FROM business.page_details_s",
        )
        .unwrap();
        assert_eq!(
            (current.as_deref(), ended.as_deref()),
            (Some("New title"), Some("Old title"))
        );
        assert_eq!(
            count(
                "SELECT count(*) FROM business.page_details_s o JOIN business.page_details_s n USING (page_hk)
                  WHERE o.page_title = 'Old title' AND n.page_title = 'New title' AND o.load_end_date = n.load_date"
            ),
            1,
            "the previous row ends when the new one starts"
        );
    }

    #[pg_test]
    fn loading_an_older_event_late_or_again_never_rolls_page_details_back() {
        let acme = tenant("Acme", 0);
        let stamp = |minutes: i32| {
            Spi::get_one_with_args::<String>(
                "SELECT to_char((now() - make_interval(mins => $1)) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
                &[minutes.into()],
            )
            .unwrap()
            .unwrap()
        };
        let old = ingest(
            &acme,
            json!({"event_type": "page_view", "page_url": "https://example.com/p",
                                       "page_title": "Old", "timestamp": stamp(30)}),
        );
        let new = ingest(
            &acme,
            json!({"event_type": "page_view", "page_url": "https://example.com/p",
                                       "page_title": "New", "timestamp": stamp(20)}),
        );
        let untitled = ingest(
            &acme,
            json!({"event_type": "page_view", "page_url": "https://example.com/p",
                                            "timestamp": stamp(10)}),
        );
        call("SELECT staging.process_pending_events(10)");
        // Newest first, then the older ones one by one.
        for id in [untitled, new, old] {
            Spi::get_one_with_args::<JsonB>("SELECT business.load_staged_event($1)", &[id.into()])
                .unwrap();
        }
        Spi::run(
            "UPDATE staging.site_tracking_events_s SET loaded_to_vault = false, loaded_at = NULL",
        )
        .unwrap();
        Spi::get_one_with_args::<JsonB>("SELECT business.load_staged_event($1)", &[old.into()])
            .unwrap();
        assert_eq!(count("SELECT count(*) FROM business.page_details_s"), 1);
        assert_eq!(
            Spi::get_one::<String>(
                "SELECT page_title FROM business.page_details_s WHERE load_end_date IS NULL"
            )
            .unwrap()
            .as_deref(),
            Some("New"),
            "the latest titled event wins, whatever the load order"
        );
    }

    #[pg_test]
    fn an_empty_load_answers_every_table() {
        let answer = call("SELECT business.load_staged_events()");
        assert_eq!(answer["loaded"], 0);
        assert_eq!(answer["rows_added"].as_object().unwrap().len(), 9);
    }

    #[pg_test]
    fn a_later_event_of_a_session_keeps_the_session_details() {
        let acme = tenant("Acme", 0);
        ingest(&acme, page_view("/entry", "Entry"));
        process_and_load();
        ingest(&acme, page_view("/second", "Second"));
        process_and_load();
        assert_eq!(count("SELECT count(*) FROM business.session_details_s"), 1);
        assert_eq!(
            Spi::get_one::<String>("SELECT entry_page_path FROM business.session_details_s")
                .unwrap()
                .as_deref(),
            Some("/entry")
        );
    }

    #[pg_test]
    fn the_same_page_and_session_in_two_tenants_are_separate_hubs() {
        let acme = tenant("Acme", 0);
        let globex = tenant("Globex", 0);
        ingest(&acme, page_view("/same", "Same"));
        ingest(&globex, page_view("/same", "Same"));
        process_and_load();
        assert_eq!(
            count("SELECT count(*) FROM business.page_h WHERE page_bk = 'example.com/same'"),
            2
        );
        assert_eq!(
            count("SELECT count(*) FROM business.session_h WHERE session_bk = 'client-session-1'"),
            2
        );
        assert_eq!(
            count("SELECT count(DISTINCT tenant_hk) FROM business.site_h"),
            2
        );
    }

    #[pg_test]
    fn vault_keys_equal_util_hash_binary_of_the_documented_recipe() {
        let acme = tenant("Acme", 0);
        ingest(&acme, page_view("/a|b\\c", "Odd path"));
        ingest(
            &acme,
            json!({"event_type": "custom", "event_name": "signup",
                             "page_url": "https://example.com/join", "session_id": "s-2"}),
        );
        process_and_load();
        let bk = "onevault_tracking.business_key";
        let checks = [
            format!("SELECT count(*) FROM business.site_h WHERE site_hk <> util.hash_binary({bk}(tenant_hk, site_bk))"),
            format!(
                "SELECT count(*) FROM business.page_h p JOIN business.page_site_l l USING (page_hk)
                   JOIN business.site_h s USING (site_hk)
                  WHERE p.page_hk <> util.hash_binary({bk}(p.tenant_hk, s.site_bk, substr(p.page_bk, length(s.site_bk) + 1)))
                     OR l.page_site_hk <> util.hash_binary({bk}(l.tenant_hk, encode(l.page_hk, 'hex'), encode(l.site_hk, 'hex')))"
            ),
            format!(
                "SELECT count(*) FROM business.session_h h JOIN business.session_site_l l USING (session_hk)
                   JOIN business.site_h s USING (site_hk)
                  WHERE h.session_hk <> util.hash_binary({bk}(h.tenant_hk, s.site_bk, h.session_bk))"
            ),
            format!(
                "SELECT count(*) FROM business.tracking_event_l
                  WHERE tracking_event_hk <> util.hash_binary({bk}(tenant_hk, tracking_event_bk))"
            ),
        ];
        for check in &checks {
            assert_eq!(count(check), 0, "{check}");
        }
        assert_eq!(count("SELECT count(*) FROM business.tracking_event_l"), 2);
    }

    #[pg_test]
    fn invalid_staging_rows_never_reach_the_vault() {
        let acme = tenant("Acme", 0);
        let invalid = ingest(
            &acme,
            json!({"event_type": "page_view", "page_url": "ftp://example.com/x"}),
        );
        process_and_load();
        let answer = Spi::get_one_with_args::<JsonB>(
            "SELECT business.load_staged_event($1)",
            &[invalid.into()],
        )
        .unwrap()
        .unwrap()
        .0;
        assert_eq!(answer["loaded"], 0);
        assert_eq!(count("SELECT count(*) FROM business.tracking_event_l"), 0);
        assert_eq!(
            count("SELECT count(*) FROM staging.site_tracking_events_s WHERE loaded_to_vault"),
            0
        );
    }

    #[pg_test]
    fn process_event_runs_one_event_end_to_end_with_one_audit_record() {
        let acme = tenant("Acme", 0);
        let id = ingest(&acme, page_view("/e2e", "End to end"));
        let before = count("SELECT count(*) FROM audit.audit_detail_s");
        let answer = Spi::get_one_with_args::<JsonB>(
            "SELECT onevault_tracking.process_event($1)",
            &[id.into()],
        )
        .unwrap()
        .unwrap()
        .0;
        assert_eq!(answer["status"], "PROCESSED");
        assert_eq!(answer["validation_status"], "VALID");
        assert_eq!(answer["loaded_to_vault"], true);
        assert_eq!(count("SELECT count(*) FROM business.tracking_event_l"), 1);
        assert_eq!(
            count("SELECT count(*) FROM audit.audit_detail_s") - before,
            1
        );
        // Again: nothing new anywhere.
        let again = Spi::get_one_with_args::<JsonB>(
            "SELECT onevault_tracking.process_event($1)",
            &[id.into()],
        )
        .unwrap()
        .unwrap()
        .0;
        assert_eq!(again["loaded_to_vault"], true);
        assert_eq!(count("SELECT count(*) FROM business.tracking_event_l"), 1);
    }
}
