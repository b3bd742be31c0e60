-- Rows in every table of the extension, and the last identity of each, one line each. The
-- visitor salts are left out: they are deliberately not in a backup (README, "Lifecycle"); so are
-- the workers' unlogged state tables.
SELECT format('%s rows=%s', c.oid::regclass,
              (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %s', c.oid::regclass), false, true, '')))[1])
  FROM pg_depend AS d JOIN pg_class AS c ON c.oid = d.objid
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'onevault_tracking')
   AND d.classid = 'pg_class'::regclass AND d.deptype = 'e' AND c.relkind = 'r'
   AND c.relnamespace::regnamespace::text NOT IN ('util', 'auth', 'audit', 'metadata')
   AND c.oid <> 'onevault_tracking.visitor_salts'::regclass
   -- Unlogged tables hold the workers' state, not data: neither dumped nor carried over.
   AND c.relpersistence = 'p'
UNION ALL
SELECT format('%s last_value=%s', s.schemaname || '.' || s.sequencename, s.last_value)
  FROM pg_depend AS d JOIN pg_class AS c ON c.oid = d.objid
 CROSS JOIN LATERAL (SELECT pg_get_serial_sequence(c.oid::regclass::text, a.attname) AS name
                       FROM pg_attribute AS a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS seq
  JOIN pg_sequences AS s ON format('%s.%s', s.schemaname, s.sequencename) = seq.name
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'onevault_tracking')
   AND d.classid = 'pg_class'::regclass AND d.deptype = 'e' AND c.relkind = 'r'
ORDER BY 1;
