-- The native hashes are byte-identical to the platform's util.hash_binary (pgcrypto SHA-256)
-- over thousands of generated strings: empty, long, multi-byte, astral, delimiter-laden.
CREATE TEMP TABLE samples AS
SELECT n, CASE n % 6
           WHEN 0 THEN ''
           WHEN 1 THEN repeat(chr(65 + n % 26), n)
           WHEN 2 THEN (SELECT string_agg(chr(161 + (n * k) % 50000), '') FROM generate_series(1, 1 + n % 40) AS k)
           WHEN 3 THEN chr(128512 + n % 80) || ' | ' || n || chr(1)
           WHEN 4 THEN 'a|b\c\N' || n
           ELSE md5(n::text) || repeat('é', n % 300)
         END AS s
  FROM generate_series(0, 5999) AS n;

SELECT count(*) AS samples,
       count(*) FILTER (WHERE onevault_tracking.hash_binary(s) = util.hash_binary(s)) AS equal_hash_binary,
       max(octet_length(s)) AS longest_bytes
  FROM samples;

-- The key recipe: hash_key(tenant, parts) = util.hash_binary(business_key(tenant, parts)).
SELECT count(*) FILTER (WHERE onevault_tracking.hash_key(util.hash_binary('tenant ' || n % 3), s, NULL, n::text)
                            = util.hash_binary(onevault_tracking.business_key(util.hash_binary('tenant ' || n % 3), s, NULL, n::text)))
       AS equal_keys
  FROM samples;

-- The documented layout: lower-case tenant hex, '|' between parts, '\' escapes, '\N' for NULL.
SELECT onevault_tracking.business_key('\xab01'::bytea, 'example.com', '/a|b\c', NULL) AS business_key;

-- Equal business keys of two tenants never collide; NULL, '' and '\N' are three different parts.
SELECT onevault_tracking.hash_key(util.hash_binary('A'), 'example.com', '/pricing')
     = onevault_tracking.hash_key(util.hash_binary('B'), 'example.com', '/pricing') AS tenants_collide,
       count(DISTINCT onevault_tracking.hash_key('\x01', part)) AS distinct_keys
  FROM unnest(ARRAY[NULL, '', '\N']) AS part;

-- A NULL tenant is a programming error.
\set VERBOSITY default
SELECT onevault_tracking.hash_key(NULL, 'x');
