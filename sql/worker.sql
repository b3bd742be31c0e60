-- Background processing workers (src/worker/): their state and the functions that start and stop
-- them. README "Background processing" describes how to run them.

-- The workers of this database, one row per worker number: who runs it (pid, NULL once stopped).
-- Written only when a worker starts or stops, so the tracking calls' once-a-second look at it
-- (which workers to wake) reads a small table that batches never rewrite. Unlogged: it is
-- state, not data (after a crash it is empty until the workers start again and register), and
-- it is not dumped.
CREATE UNLOGGED TABLE onevault_tracking.workers (
    worker_no   integer     PRIMARY KEY CHECK (worker_no BETWEEN 1 AND 16),
    pid         integer,
    started_by  text        NOT NULL CHECK (started_by IN ('launcher', 'start_workers')),
    started_at  timestamptz NOT NULL,
    stopped_at  timestamptz
);
-- What each worker has done since it started: written by every batch, in the batch's own
-- transaction, so the counts are exact.
CREATE UNLOGGED TABLE onevault_tracking.worker_activity (
    worker_no          integer     PRIMARY KEY REFERENCES onevault_tracking.workers ON DELETE CASCADE,
    last_batch_at      timestamptz,
    last_batch_events  integer,
    last_batch_ms      double precision,
    batches            bigint      NOT NULL DEFAULT 0,
    events_processed   bigint      NOT NULL DEFAULT 0,
    events_valid       bigint      NOT NULL DEFAULT 0,
    events_quarantined bigint      NOT NULL DEFAULT 0,
    events_failed      bigint      NOT NULL DEFAULT 0,
    errors             bigint      NOT NULL DEFAULT 0,
    last_error         text,
    last_error_at      timestamptz
);
REVOKE ALL ON onevault_tracking.workers, onevault_tracking.worker_activity FROM PUBLIC;
-- Like every table of the extension: no policy, so only its owner (and the workers, which run
-- as the bootstrap superuser) reads them; admins read worker_status.
ALTER TABLE onevault_tracking.workers ENABLE ROW LEVEL SECURITY;
ALTER TABLE onevault_tracking.worker_activity ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE onevault_tracking.workers IS
    'onevault_tracking processing workers of this database: one row per worker number, written when a worker starts or stops.';
COMMENT ON TABLE onevault_tracking.worker_activity IS
    'onevault_tracking processing workers: what each did since it started, written by its batches.';

-- The workers and the backlog they drain: one row per worker (one row with worker_no NULL when
-- none ever ran), each with the queue's size and lag (the oldest pending event's age).
CREATE VIEW onevault_tracking.worker_status AS
SELECT w.worker_no,
       w.pid,
       a.pid IS NOT NULL AS running,
       w.started_by,
       w.started_at,
       w.stopped_at,
       act.last_batch_at,
       act.last_batch_events,
       act.last_batch_ms,
       act.batches,
       act.events_processed,
       act.events_valid,
       act.events_quarantined,
       act.events_failed,
       act.errors,
       act.last_error,
       act.last_error_at,
       q.pending_events,
       q.oldest_pending_at,
       pg_catalog.now() OPERATOR(pg_catalog.-) q.oldest_pending_at AS lag
  FROM (SELECT pg_catalog.count(*) AS pending_events, pg_catalog.min(r.received_at) AS oldest_pending_at
          FROM raw.site_tracking_events_r AS r
         WHERE r.processing_status IN ('PENDING', 'ERROR')) AS q
  LEFT JOIN onevault_tracking.workers AS w ON true
  LEFT JOIN onevault_tracking.worker_activity AS act ON act.worker_no OPERATOR(pg_catalog.=) w.worker_no
  LEFT JOIN pg_catalog.pg_stat_activity AS a
         ON a.pid OPERATOR(pg_catalog.=) w.pid
        AND a.backend_type OPERATOR(pg_catalog.=) 'onevault_tracking worker'
        AND a.datname OPERATOR(pg_catalog.=) pg_catalog.current_database();
COMMENT ON VIEW onevault_tracking.worker_status IS
    'onevault_tracking processing workers: state, last batch, counts, errors, and the backlog with its lag.';

-- SECURITY DEFINER: the workers run as the bootstrap superuser, whom only a superuser may
-- signal, and their state table is not readable by the admin role itself.
CREATE FUNCTION onevault_tracking.start_workers(p_workers integer DEFAULT 1)
RETURNS TABLE (worker_no integer, pid integer, status text)
LANGUAGE c VOLATILE
SECURITY DEFINER
AS 'MODULE_PATHNAME', 'start_workers_wrapper';

CREATE FUNCTION onevault_tracking.stop_workers()
RETURNS integer
LANGUAGE c VOLATILE
SECURITY DEFINER
AS 'MODULE_PATHNAME', 'stop_workers_wrapper';
