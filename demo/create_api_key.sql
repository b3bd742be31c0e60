-- demo/create_api_key.sql: an API key for a site of the tenant (api.create_api_key). Prints the
-- plaintext key and its public prefix, for scripts/demo.sh to keep in shell variables; the answer
-- without the plaintext goes to demo.admin_calls. psql variables: tenant_bk, site, key_name.
WITH created AS (
    SELECT api.create_api_key(util.hash_binary(:'tenant_bk'), :'site', :'key_name') AS answer
), kept AS (
    INSERT INTO demo.admin_calls (action, subject, answer)
    SELECT 'api.create_api_key', :'key_name', answer - 'api_key' FROM created
)
SELECT answer ->> 'api_key', answer ->> 'key_prefix' FROM created;
