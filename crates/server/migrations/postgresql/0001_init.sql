-- PostgreSQL: the same tables, keys, constraints and indexes as migrations/sqlite/ of the
-- same number; only spellings differ (BIGSERIAL ids; the dashboard index leaves out the
-- unbounded f_parties, as an index entry is limited in size).
-- ferroflow schema v1. FATE Flow's tables and columns (execution.md §9) where they exist,
-- so records map to FATE's field names by dropping the f_ prefix; ferroflow's additions are
-- commented. Portable types only (VARCHAR keys, text for JSON, BIGINT numbers, INTEGER 0/1
-- flags, no defaults on text).

-- Participant side -------------------------------------------------------------------------

CREATE TABLE t_job (
    f_job_id VARCHAR(64) NOT NULL,
    f_role VARCHAR(16) NOT NULL,
    f_party_id VARCHAR(64) NOT NULL,
    f_protocol VARCHAR(16) NOT NULL,
    f_flow_id VARCHAR(32) NOT NULL,
    f_user_name VARCHAR(256) NOT NULL,
    f_description TEXT NOT NULL,
    f_tag VARCHAR(32) NOT NULL,
    f_dag TEXT NOT NULL,
    f_parties TEXT NOT NULL,
    f_initiator_party_id VARCHAR(64) NOT NULL,
    f_scheduler_party_id VARCHAR(64) NOT NULL,
    f_status VARCHAR(16) NOT NULL,
    f_status_code BIGINT,
    f_inheritance TEXT NOT NULL,
    f_progress BIGINT NOT NULL,
    f_model_id VARCHAR(128) NOT NULL,
    f_model_version VARCHAR(32) NOT NULL,
    f_engine_name VARCHAR(32),
    f_cores BIGINT NOT NULL,
    f_memory BIGINT NOT NULL,
    f_remaining_cores BIGINT NOT NULL,
    f_remaining_memory BIGINT NOT NULL,
    f_resource_in_use INTEGER NOT NULL,
    f_apply_resource_time BIGINT,
    f_return_resource_time BIGINT,
    f_start_time BIGINT,
    f_end_time BIGINT,
    f_elapsed BIGINT,
    f_create_time BIGINT NOT NULL,
    f_update_time BIGINT NOT NULL,
    PRIMARY KEY (f_job_id, f_role, f_party_id)
);
CREATE INDEX i_job_status ON t_job (f_status);
CREATE INDEX i_job_create ON t_job (f_create_time);

CREATE TABLE t_task (
    f_job_id VARCHAR(64) NOT NULL,
    f_task_id VARCHAR(160) NOT NULL,
    f_task_version BIGINT NOT NULL,
    f_role VARCHAR(16) NOT NULL,
    f_party_id VARCHAR(64) NOT NULL,
    f_protocol VARCHAR(16) NOT NULL,
    f_task_name VARCHAR(96) NOT NULL,
    f_component VARCHAR(96) NOT NULL,
    f_execution_id VARCHAR(255) NOT NULL,
    f_scheduler_party_id VARCHAR(64) NOT NULL,
    f_status VARCHAR(16) NOT NULL,
    f_status_code BIGINT,
    f_component_parameters TEXT NOT NULL,
    f_task_run TEXT NOT NULL,
    f_memory BIGINT NOT NULL,
    f_task_cores BIGINT NOT NULL,
    f_resource_in_use INTEGER NOT NULL,
    f_worker_id VARCHAR(64),
    f_cmd TEXT NOT NULL,
    f_run_ip VARCHAR(64),
    f_run_port BIGINT,
    f_run_pid BIGINT,
    -- ferroflow: the process start time (clock ticks since boot), so a reused pid is never
    -- mistaken for the task's process.
    f_run_start BIGINT,
    f_party_status VARCHAR(16) NOT NULL,
    f_provider_name VARCHAR(128) NOT NULL,
    f_task_parameters TEXT NOT NULL,
    f_engine_conf TEXT NOT NULL,
    f_kill_status INTEGER NOT NULL,
    f_error_report TEXT NOT NULL,
    f_sync_type VARCHAR(16) NOT NULL,
    f_timeout BIGINT,
    f_launcher_name VARCHAR(32),
    -- ferroflow: the party status the scheduler last acknowledged (callback mode); a row
    -- whose party status differs still has a report to deliver.
    f_reported_status VARCHAR(16),
    f_start_time BIGINT,
    f_end_time BIGINT,
    f_elapsed BIGINT,
    f_create_time BIGINT NOT NULL,
    f_update_time BIGINT NOT NULL,
    PRIMARY KEY (f_job_id, f_task_id, f_task_version, f_role, f_party_id)
);
CREATE UNIQUE INDEX i_task_execution ON t_task (f_execution_id);
CREATE INDEX i_task_party_status ON t_task (f_party_status);

-- Scheduler side ---------------------------------------------------------------------------

CREATE TABLE t_schedule_job (
    f_job_id VARCHAR(64) NOT NULL PRIMARY KEY,
    f_protocol VARCHAR(16) NOT NULL,
    f_priority BIGINT NOT NULL,
    f_tag VARCHAR(32) NOT NULL,
    f_dag TEXT NOT NULL,
    f_parties TEXT NOT NULL,
    f_initiator_party_id VARCHAR(64) NOT NULL,
    f_scheduler_party_id VARCHAR(64) NOT NULL,
    f_status VARCHAR(16) NOT NULL,
    f_status_code BIGINT,
    f_progress BIGINT NOT NULL,
    f_cancel_signal INTEGER NOT NULL,
    f_cancel_time BIGINT,
    f_rerun_signal INTEGER NOT NULL,
    -- ferroflow: why the job waits (no cores on a party, a party unreachable), or NULL.
    f_wait_reason TEXT,
    f_start_time BIGINT,
    f_end_time BIGINT,
    f_elapsed BIGINT,
    f_create_time BIGINT NOT NULL,
    f_update_time BIGINT NOT NULL
);
CREATE INDEX i_schedule_job_status ON t_schedule_job (f_status, f_priority, f_create_time);

-- ferroflow: what each participant has acknowledged of a job, so that every push is retried
-- until it is delivered (upstream pushes once, on change).
CREATE TABLE t_schedule_party (
    f_job_id VARCHAR(64) NOT NULL,
    f_role VARCHAR(16) NOT NULL,
    f_party_id VARCHAR(64) NOT NULL,
    f_pushed_status VARCHAR(16),
    f_pushed_progress BIGINT NOT NULL,
    f_resource_applied INTEGER NOT NULL,
    f_started INTEGER NOT NULL,
    f_stopped INTEGER NOT NULL,
    f_last_error TEXT,
    f_create_time BIGINT NOT NULL,
    f_update_time BIGINT NOT NULL,
    PRIMARY KEY (f_job_id, f_role, f_party_id)
);

CREATE TABLE t_schedule_task (
    f_job_id VARCHAR(64) NOT NULL,
    f_task_id VARCHAR(160) NOT NULL,
    f_task_version BIGINT NOT NULL,
    f_role VARCHAR(16) NOT NULL,
    f_party_id VARCHAR(64) NOT NULL,
    f_task_name VARCHAR(96) NOT NULL,
    f_component VARCHAR(96) NOT NULL,
    -- that party's reported party status
    f_status VARCHAR(16) NOT NULL,
    -- ferroflow: the federated status the party last acknowledged
    f_pushed_status VARCHAR(16),
    -- ferroflow: the party accepted the start command
    f_start_acked INTEGER NOT NULL,
    f_error_report TEXT NOT NULL,
    f_start_time BIGINT,
    f_end_time BIGINT,
    f_elapsed BIGINT,
    f_create_time BIGINT NOT NULL,
    f_update_time BIGINT NOT NULL,
    PRIMARY KEY (f_job_id, f_task_id, f_task_version, f_role, f_party_id)
);

CREATE TABLE t_schedule_task_status (
    f_job_id VARCHAR(64) NOT NULL,
    f_task_id VARCHAR(160) NOT NULL,
    f_task_version BIGINT NOT NULL,
    f_task_name VARCHAR(96) NOT NULL,
    f_status VARCHAR(16) NOT NULL,
    f_auto_retries BIGINT NOT NULL,
    f_sync_type VARCHAR(16) NOT NULL,
    -- ferroflow: position in topological order, and the tasks it waits for (JSON list)
    f_order BIGINT NOT NULL,
    f_deps TEXT NOT NULL,
    -- ferroflow: why a waiting task has not started, or NULL
    f_wait_reason TEXT,
    f_create_time BIGINT NOT NULL,
    f_update_time BIGINT NOT NULL,
    PRIMARY KEY (f_job_id, f_task_id, f_task_version)
);

-- Providers and resources --------------------------------------------------------------------

CREATE TABLE t_provider_info (
    f_provider_name VARCHAR(128) NOT NULL PRIMARY KEY,
    f_name VARCHAR(64) NOT NULL,
    f_version VARCHAR(32) NOT NULL,
    f_device VARCHAR(16) NOT NULL,
    f_metadata TEXT NOT NULL,
    f_create_time BIGINT NOT NULL,
    f_update_time BIGINT NOT NULL
);

CREATE TABLE t_component_info (
    f_provider_name VARCHAR(128) NOT NULL,
    f_component_name VARCHAR(96) NOT NULL,
    f_protocol VARCHAR(16) NOT NULL,
    f_name VARCHAR(64) NOT NULL,
    f_version VARCHAR(32) NOT NULL,
    f_device VARCHAR(16) NOT NULL,
    f_component_description TEXT NOT NULL,
    f_create_time BIGINT NOT NULL,
    f_update_time BIGINT NOT NULL,
    PRIMARY KEY (f_provider_name, f_component_name, f_protocol)
);

CREATE TABLE t_engine_registry (
    f_engine_name VARCHAR(32) NOT NULL,
    f_engine_type VARCHAR(16) NOT NULL,
    f_engine_config TEXT NOT NULL,
    f_cores BIGINT NOT NULL,
    f_memory BIGINT NOT NULL,
    f_remaining_cores BIGINT NOT NULL,
    f_remaining_memory BIGINT NOT NULL,
    f_create_time BIGINT NOT NULL,
    f_update_time BIGINT NOT NULL,
    PRIMARY KEY (f_engine_name, f_engine_type)
);

-- Outputs ------------------------------------------------------------------------------------

CREATE TABLE t_tracking_data_output (
    f_job_id VARCHAR(64) NOT NULL,
    f_task_id VARCHAR(160) NOT NULL,
    f_task_version BIGINT NOT NULL,
    f_task_name VARCHAR(96) NOT NULL,
    f_role VARCHAR(16) NOT NULL,
    f_party_id VARCHAR(64) NOT NULL,
    f_output_key VARCHAR(96) NOT NULL,
    f_index BIGINT NOT NULL,
    f_uri TEXT NOT NULL,
    f_namespace VARCHAR(255) NOT NULL,
    f_name VARCHAR(255) NOT NULL,
    f_create_time BIGINT NOT NULL,
    f_update_time BIGINT NOT NULL,
    PRIMARY KEY (f_job_id, f_task_id, f_task_version, f_role, f_party_id, f_output_key, f_index)
);

-- One table for all metrics (upstream makes one per day of job ids; invisible to clients).
CREATE TABLE t_tracking_metric (
    f_id BIGSERIAL PRIMARY KEY,
    f_job_id VARCHAR(64) NOT NULL,
    f_role VARCHAR(16) NOT NULL,
    f_party_id VARCHAR(64) NOT NULL,
    f_task_name VARCHAR(96) NOT NULL,
    f_task_id VARCHAR(160) NOT NULL,
    f_task_version BIGINT NOT NULL,
    f_name VARCHAR(96) NOT NULL,
    f_type VARCHAR(64),
    f_groups TEXT NOT NULL,
    f_step_axis VARCHAR(64),
    f_data TEXT NOT NULL,
    f_create_time BIGINT NOT NULL,
    f_update_time BIGINT NOT NULL
);
CREATE INDEX i_metric_task ON t_tracking_metric (f_job_id, f_role, f_party_id, f_task_name);

-- Models are kept per task version (upstream overwrites them on rerun).
CREATE TABLE t_model_meta (
    f_storage_key VARCHAR(255) NOT NULL,
    f_task_version BIGINT NOT NULL,
    f_model_id VARCHAR(128) NOT NULL,
    f_model_version VARCHAR(32) NOT NULL,
    f_job_id VARCHAR(64) NOT NULL,
    f_role VARCHAR(16) NOT NULL,
    f_party_id VARCHAR(64) NOT NULL,
    f_task_name VARCHAR(96) NOT NULL,
    f_output_key VARCHAR(96) NOT NULL,
    f_type_name VARCHAR(64) NOT NULL,
    f_meta_data TEXT NOT NULL,
    f_storage_engine VARCHAR(32) NOT NULL,
    f_create_time BIGINT NOT NULL,
    f_update_time BIGINT NOT NULL,
    PRIMARY KEY (f_storage_key, f_task_version)
);
CREATE INDEX i_model_task ON t_model_meta (f_job_id, f_role, f_party_id, f_task_name);

CREATE TABLE t_storage_table_meta (
    f_namespace VARCHAR(255) NOT NULL,
    f_name VARCHAR(255) NOT NULL,
    f_address TEXT NOT NULL,
    f_engine VARCHAR(32) NOT NULL,
    f_options TEXT NOT NULL,
    f_partitions BIGINT NOT NULL,
    f_delimiter VARCHAR(16) NOT NULL,
    f_have_head INTEGER NOT NULL,
    f_extend_sid INTEGER NOT NULL,
    f_data_meta TEXT NOT NULL,
    f_count BIGINT,
    f_part_of_data TEXT NOT NULL,
    f_source TEXT NOT NULL,
    f_data_type VARCHAR(32) NOT NULL,
    f_disable INTEGER NOT NULL,
    f_description TEXT NOT NULL,
    f_read_access_time BIGINT,
    f_write_access_time BIGINT,
    f_create_time BIGINT NOT NULL,
    f_update_time BIGINT NOT NULL,
    PRIMARY KEY (f_namespace, f_name)
);
