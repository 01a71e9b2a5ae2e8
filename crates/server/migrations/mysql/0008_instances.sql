-- MySQL 8 / MariaDB 10.11: the same tables, keys, constraints and indexes as
-- migrations/sqlite/ of the same number; InnoDB in utf8mb4_bin, as every table.
-- Several instances of one site: each announces itself in t_instance and keeps its row alive
-- (f_heartbeat, ms); a run records the instance that launched it and that instance's host,
-- so a surviving instance knows which runs it may adopt (same host) when their instance
-- stops beating. A lease row carries a dirty mark: an instance that learns of a change to a
-- job another instance schedules marks the lease, and its holder looks at marked jobs on its
-- next short poll.
CREATE TABLE t_instance (
    f_instance_id VARCHAR(128) NOT NULL PRIMARY KEY,
    -- the host its tasks run on (its hostname), and where it answers
    f_host VARCHAR(255) NOT NULL,
    f_http_port BIGINT NOT NULL,
    f_grpc_port BIGINT NOT NULL,
    f_url VARCHAR(255) NOT NULL,
    f_version VARCHAR(32) NOT NULL,
    f_start_time BIGINT NOT NULL,
    f_heartbeat BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
ALTER TABLE t_launch ADD COLUMN f_instance_id VARCHAR(128);
ALTER TABLE t_launch ADD COLUMN f_host VARCHAR(255);
CREATE INDEX i_launch_instance ON t_launch (f_instance_id);
ALTER TABLE t_schedule_lease ADD COLUMN f_dirty INTEGER NOT NULL DEFAULT 0;
CREATE INDEX i_lease_dirty ON t_schedule_lease (f_owner, f_dirty);
