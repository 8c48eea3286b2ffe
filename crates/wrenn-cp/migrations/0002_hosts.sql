-- Multi-host: registration, heartbeats, tags, placement (docs/hosts.md).
ALTER TABLE hosts ADD COLUMN name TEXT NOT NULL DEFAULT '';
-- Operator switch: a draining host takes no new sandboxes.
ALTER TABLE hosts ADD COLUMN draining BIGINT NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN arch TEXT NOT NULL DEFAULT '';
ALTER TABLE hosts ADD COLUMN agent_version TEXT NOT NULL DEFAULT '';
-- The one-time registration token, as SHA-256 (kept after use, so that a
-- reused token is recognised as used rather than unknown).
ALTER TABLE hosts ADD COLUMN token_hash TEXT;
ALTER TABLE hosts ADD COLUMN token_expires_at BIGINT;
ALTER TABLE hosts ADD COLUMN registered_at BIGINT;
-- Free capacity and load as of the last heartbeat.
ALTER TABLE hosts ADD COLUMN free_vcpus BIGINT;
ALTER TABLE hosts ADD COLUMN free_memory_mb BIGINT;
ALTER TABLE hosts ADD COLUMN free_disk_mb BIGINT;
ALTER TABLE hosts ADD COLUMN sandboxes_running BIGINT NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN sandboxes_paused BIGINT NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN clock_skew_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN status_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE hosts ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
-- SHA-256 (hex) of the agent's TLS certificate: set → dial https and pin it.
ALTER TABLE hosts ADD COLUMN tls_fingerprint TEXT;
CREATE UNIQUE INDEX hosts_token_hash ON hosts (token_hash);
CREATE INDEX hosts_status ON hosts (status);

CREATE TABLE host_tags (
    host_id TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (host_id, tag)
);

-- The host that holds a team template's files (NULL: every host, built-ins).
ALTER TABLE templates ADD COLUMN host_id TEXT REFERENCES hosts(id) ON DELETE SET NULL;
CREATE INDEX sandboxes_host_state ON sandboxes (host_id, state);
