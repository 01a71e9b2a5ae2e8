-- MySQL 8 / MariaDB 10.11: the same tables, keys, constraints and indexes as
-- migrations/sqlite/ of the same number; InnoDB in utf8mb4_bin, as every table.
-- ferroflow schema v3: several instances of one site share its database; each job's
-- scheduling is owned by one instance at a time, through a lease row taken, renewed and
-- released by compare-and-swap (no coordinator besides the database).
CREATE TABLE t_schedule_lease (
    f_job_id VARCHAR(64) NOT NULL PRIMARY KEY,
    -- the instance holding it (its instance id)
    f_owner VARCHAR(128) NOT NULL,
    -- until when (ms since the epoch); past it, any instance may take it over
    f_expires BIGINT NOT NULL,
    f_create_time BIGINT NOT NULL,
    f_update_time BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX i_lease_owner ON t_schedule_lease (f_owner);
