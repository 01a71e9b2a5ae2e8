-- MySQL 8 / MariaDB 10.11: the same tables, keys, constraints and indexes as
-- migrations/sqlite/ of the same number; only spellings differ: LONGTEXT for text (TEXT
-- holds 64 KiB), AUTO_INCREMENT ids, InnoDB tables in utf8mb4_bin (keys compare
-- byte-wise, as on SQLite and PostgreSQL), and the dashboard index without the unbounded
-- f_parties (MySQL indexes no LONGTEXT).
-- The dashboard's data: every state change of a job and its party tasks with its cause, and
-- a covering index for the paged job list.

-- One row per committed status change, written in the transaction of the compare-and-swap
-- that made it (so the log never claims a change that was rolled back, nor misses one).
-- f_view: `federated` (the scheduler's job or task status), `party` (a participant's own
-- row), `reported` (a party's task status as the scheduler received it). f_cause: who asked
-- (the route and calling party, the scheduler's step, the launcher's exit watch, ...).
CREATE TABLE t_job_event (
    f_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    f_job_id VARCHAR(64) NOT NULL,
    f_view VARCHAR(16) NOT NULL,
    f_task_id VARCHAR(160),
    f_task_version BIGINT,
    f_role VARCHAR(16),
    f_party_id VARCHAR(64),
    f_from VARCHAR(16),
    f_to VARCHAR(16) NOT NULL,
    f_cause LONGTEXT NOT NULL,
    f_detail LONGTEXT,
    f_time BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX i_job_event ON t_job_event (f_job_id, f_id);

-- `/ui/api/jobs` pages through t_job newest first with filters; this index holds every
-- column the list shows, so a page never reads the rows (whose DAG fills most of a page).
CREATE INDEX i_job_ui ON t_job (f_create_time, f_status, f_party_id, f_tag, f_role, f_job_id,
    f_progress, f_start_time, f_end_time, f_elapsed);
