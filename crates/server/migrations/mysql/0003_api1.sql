-- MySQL 8 / MariaDB 10.11: the same tables, keys, constraints and indexes as
-- migrations/sqlite/ of the same number; only spellings differ: LONGTEXT for text (TEXT
-- holds 64 KiB), AUTO_INCREMENT ids, InnoDB tables in utf8mb4_bin (keys compare
-- byte-wise, as on SQLite and PostgreSQL), and the dashboard index without the unbounded
-- f_parties (MySQL indexes no LONGTEXT).
-- ferroflow schema v2: what the rest of api-1 keeps (api.md §7, §10; execution.md §9.3, §9.5).
-- Same conventions as 0001: FATE's tables and columns where they exist, portable types only.

-- Credentials. Tokens are stored to verify signatures once authentication is turned on; list
-- queries never return them (only the create answers do, as FATE's do).
CREATE TABLE t_app_info (
    f_app_id VARCHAR(100) NOT NULL PRIMARY KEY,
    f_app_name VARCHAR(100) NOT NULL,
    f_app_token VARCHAR(100) NOT NULL,
    f_app_type VARCHAR(20) NOT NULL,
    f_create_time BIGINT NOT NULL,
    f_update_time BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX i_app_name ON t_app_info (f_app_name);

CREATE TABLE t_partner_app_info (
    f_party_id VARCHAR(100) NOT NULL PRIMARY KEY,
    f_app_id VARCHAR(100) NOT NULL,
    f_app_token VARCHAR(100) NOT NULL,
    f_create_time BIGINT NOT NULL,
    f_update_time BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- ferroflow: the roles granted to an app (upstream keeps them as casbin `g` rules).
CREATE TABLE t_app_role (
    f_app_id VARCHAR(100) NOT NULL,
    f_role VARCHAR(32) NOT NULL,
    f_create_time BIGINT NOT NULL,
    PRIMARY KEY (f_app_id, f_role)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- ferroflow: resources granted to another party (upstream: the `permission_casbin` table).
-- f_type is `component` (f_value a component name) or `dataset` (f_value `namespace`/`name`
-- as JSON with sorted keys).
CREATE TABLE t_resource_permission (
    f_party_id VARCHAR(100) NOT NULL,
    f_type VARCHAR(16) NOT NULL,
    f_value VARCHAR(512) NOT NULL,
    f_create_time BIGINT NOT NULL,
    PRIMARY KEY (f_party_id, f_type, f_value)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The registry of other servers and their services.
CREATE TABLE t_server (
    f_server_name VARCHAR(64) NOT NULL PRIMARY KEY,
    f_host VARCHAR(255) NOT NULL,
    f_port BIGINT NOT NULL,
    f_protocol VARCHAR(16) NOT NULL,
    f_create_time BIGINT NOT NULL,
    f_update_time BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE t_service (
    f_server_name VARCHAR(64) NOT NULL,
    f_service_name VARCHAR(64) NOT NULL,
    f_url LONGTEXT NOT NULL,
    f_method VARCHAR(16) NOT NULL,
    f_params LONGTEXT NOT NULL,
    f_data LONGTEXT NOT NULL,
    f_headers LONGTEXT NOT NULL,
    f_create_time BIGINT NOT NULL,
    f_update_time BIGINT NOT NULL,
    PRIMARY KEY (f_server_name, f_service_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
