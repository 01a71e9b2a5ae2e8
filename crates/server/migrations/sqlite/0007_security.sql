-- Secure by default: per-run worker tokens and the audit log.

-- The SHA-256 (lowercase hex) of the token a task run was launched with, written in the
-- transaction that decides the launch, before the process exists: a restarted site still
-- knows the token of every run it re-adopts. The token itself is never stored.
ALTER TABLE t_launch ADD COLUMN f_token_hash VARCHAR(64);
CREATE UNIQUE INDEX i_launch_token ON t_launch (f_token_hash);

-- One row per authenticated call and per refusal: who called (as claimed by the request, or
-- as verified when a check verified it), what, the answer's code, when and from where.
-- f_group: `client` (api-1), `site` (api-2/api-4), `worker` (api-3), or the check's own
-- name for refusals outside HTTP (`tls`, `grpc`).
CREATE TABLE t_audit (
    f_id INTEGER PRIMARY KEY AUTOINCREMENT,
    f_time BIGINT NOT NULL,
    f_group VARCHAR(16) NOT NULL,
    f_caller VARCHAR(255) NOT NULL,
    f_verified INTEGER NOT NULL,
    f_method VARCHAR(16) NOT NULL,
    f_route VARCHAR(255) NOT NULL,
    f_code BIGINT NOT NULL,
    f_result VARCHAR(16) NOT NULL,
    f_peer VARCHAR(64) NOT NULL,
    f_detail TEXT NOT NULL
);
CREATE INDEX i_audit_time ON t_audit (f_time);
CREATE INDEX i_audit_result ON t_audit (f_result, f_id);
