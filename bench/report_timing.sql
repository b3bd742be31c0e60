-- bench/report_timing.sql, included by bench/reports.sql for each report: the best of three
-- statements SELECT :call (the first also warms the cache), recorded as :metric (:what) in
-- events/s over the n events, with :notes formatted with the milliseconds per call and the
-- call's result. psql cannot loop, so the three are written out.
SELECT clock_timestamp() AS t0 \gset
SELECT :call AS result \gset
SELECT clock_timestamp() AS t1 \gset
SELECT :call AS result \gset
SELECT clock_timestamp() AS t2 \gset
SELECT :call AS result \gset
SELECT least(:'t1'::timestamptz - :'t0'::timestamptz, :'t2'::timestamptz - :'t1'::timestamptz,
             clock_timestamp() - :'t2'::timestamptz) AS best \gset
SELECT bench.record(:'metric', 'events/s', :n / extract(epoch FROM :'best'::interval), :'what',
                    format(:'notes', round(extract(epoch FROM :'best'::interval) * 1000, 1), :'result'));
