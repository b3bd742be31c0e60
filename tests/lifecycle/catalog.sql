-- The extension's catalog, one sorted line per item, comparable across databases: tables and
-- their columns, constraints, indexes, row-level security and grants; functions with their
-- signatures, bodies and settings; views; policies; event triggers; dump marks.
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'onevault_tracking'),
members AS (
    SELECT d.classid, d.objid FROM pg_depend AS d, ext
     WHERE d.refobjid = ext.oid AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'),
rels AS (
    SELECT c.* FROM pg_class AS c JOIN members AS m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid
     WHERE c.relnamespace::regnamespace::text NOT IN ('util', 'auth', 'audit', 'metadata')),
acl AS (
    SELECT c.oid, string_agg(format('%s:%s', CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END,
                                    a.privilege_type), ',' ORDER BY 1) AS grants
      FROM rels AS c CROSS JOIN LATERAL aclexplode(c.relacl) AS a GROUP BY c.oid)
SELECT line FROM (
    SELECT format('relation %s kind=%s rls=%s forced=%s options=%s grants=%s', c.oid::regclass, c.relkind,
                  c.relrowsecurity, c.relforcerowsecurity, c.reloptions, acl.grants) AS line
      FROM rels AS c LEFT JOIN acl ON acl.oid = c.oid
    UNION ALL
    SELECT format('column %s.%s %s notnull=%s default=%s identity=%s', c.oid::regclass, a.attname,
                  format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(def.adbin, def.adrelid), a.attidentity)
      FROM rels AS c JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_attrdef AS def ON def.adrelid = c.oid AND def.adnum = a.attnum
    UNION ALL
    SELECT format('constraint %s %s %s', con.conrelid::regclass, con.conname, pg_get_constraintdef(con.oid))
      FROM pg_constraint AS con JOIN rels AS c ON c.oid = con.conrelid
    UNION ALL
    SELECT format('index %s', pg_get_indexdef(i.indexrelid))
      FROM pg_index AS i JOIN rels AS c ON c.oid = i.indrelid
    UNION ALL
    SELECT format('view %s %s', c.oid::regclass, pg_get_viewdef(c.oid)) FROM rels AS c WHERE c.relkind = 'v'
    UNION ALL
    SELECT format('policy %s.%s %s cmd=%s roles=%s using=%s check=%s', p.schemaname, p.tablename, p.policyname,
                  p.cmd, p.roles, p.qual, p.with_check)
      FROM pg_policies AS p JOIN rels AS c ON c.relname = p.tablename AND c.relnamespace::regnamespace::text = p.schemaname
    UNION ALL
    SELECT format('function %s returns %s lang=%s secdef=%s volatile=%s strict=%s config=%s grants=%s body=%s',
                  p.oid::regprocedure, pg_get_function_result(p.oid), l.lanname, p.prosecdef, p.provolatile,
                  p.proisstrict, p.proconfig,
                  (SELECT string_agg(format('%s:%s', CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END,
                                            a.privilege_type), ',' ORDER BY 1)
                     FROM aclexplode(p.proacl) AS a),
                  md5(CASE WHEN l.lanname = 'c' THEN p.probin || ':' || p.prosrc ELSE p.prosrc END))
      FROM pg_proc AS p JOIN members AS m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
      JOIN pg_language AS l ON l.oid = p.prolang
     WHERE p.pronamespace::regnamespace::text NOT IN ('util', 'auth', 'audit', 'metadata')
    UNION ALL
    SELECT format('event_trigger %s on %s tags=%s function=%s enabled=%s', e.evtname, e.evtevent, e.evttags,
                  e.evtfoid::regproc, e.evtenabled)
      FROM pg_event_trigger AS e JOIN members AS m ON m.classid = 'pg_event_trigger'::regclass AND m.objid = e.oid
    UNION ALL
    SELECT format('dumped %s', cfg::regclass)
      FROM pg_extension AS x, ext, unnest(x.extconfig) AS cfg WHERE x.oid = ext.oid
    UNION ALL
    SELECT format('extension version=%s schema=%s', x.extversion, x.extnamespace::regnamespace)
      FROM pg_extension AS x, ext WHERE x.oid = ext.oid
) AS catalog
ORDER BY line;
