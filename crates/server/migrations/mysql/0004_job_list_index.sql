-- MySQL 8 / MariaDB 10.11: the same tables, keys, constraints and indexes as
-- migrations/sqlite/ of the same number; only spellings differ: LONGTEXT for text (TEXT
-- holds 64 KiB), AUTO_INCREMENT ids, InnoDB tables in utf8mb4_bin (keys compare
-- byte-wise, as on SQLite and PostgreSQL), and the dashboard index without the unbounded
-- f_parties (MySQL indexes no LONGTEXT).
-- `/v2/job/list/query` counts the rows it pages through (`WHERE f_tag <> 'submit_failed'
-- [AND f_status IN (...)]`). Without an index holding both columns the count reads every
-- row of t_job, whose DAG fills most of a page: ~150 ms per request at 20,000 rows. This
-- covering index makes the count a scan (or a seek by status) of a small index.
CREATE INDEX i_job_list ON t_job (f_status, f_tag);
