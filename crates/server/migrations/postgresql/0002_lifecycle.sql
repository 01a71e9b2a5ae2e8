-- PostgreSQL: the same tables, keys, constraints and indexes as migrations/sqlite/ of the
-- same number; only spellings differ (BIGSERIAL ids; the dashboard index leaves out the
-- unbounded f_parties, as an index entry is limited in size).
-- ferroflow schema v2: what crash safety, retries and unreachable parties need.

-- One row per task run ever launched on this site, written in the same transaction that
-- moves the task to `running`: a run is launched at most once, and after a crash the site
-- knows which runs may have a process it must find or fail.
CREATE TABLE t_launch (
    f_execution_id VARCHAR(255) NOT NULL PRIMARY KEY,
    f_job_id VARCHAR(64) NOT NULL,
    f_task_id VARCHAR(160) NOT NULL,
    f_task_version BIGINT NOT NULL,
    f_role VARCHAR(16) NOT NULL,
    f_party_id VARCHAR(64) NOT NULL,
    f_pid BIGINT,
    f_start_ticks BIGINT,
    f_decided_time BIGINT NOT NULL,
    f_launched_time BIGINT,
    f_adopted_time BIGINT
);
CREATE INDEX i_launch_job ON t_launch (f_job_id);

-- A retried task version may not start before this time (ms), so retries back off.
ALTER TABLE t_schedule_task_status ADD COLUMN f_not_before BIGINT;

-- Since when a participant has not answered (ms), to fail a job only after a deadline.
ALTER TABLE t_schedule_party ADD COLUMN f_unreachable_since BIGINT;
