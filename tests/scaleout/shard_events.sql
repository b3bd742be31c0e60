-- What one shard holds: events in the vault per site (domain, events), after processing what
-- is pending (onevault_tracking.settle_before_move: no older transaction, then the pipeline).
SELECT onevault_tracking.settle_before_move(30) IS NOT NULL AS settled \gset
\copy (SELECT h.site_bk, count(l.tracking_event_hk) FROM business.site_h AS h LEFT JOIN business.tracking_event_l AS l ON l.site_hk = h.site_hk GROUP BY 1 ORDER BY 1) TO STDOUT WITH (FORMAT csv)
