-- Transport security to a host (docs/hosts.md, "Transport security").
-- tls_fingerprint: SHA-256 of the agent's certificate (64 lowercase hex
-- digits); NULL: the agent is reached over plain HTTP.
-- client_cert_required: 1 when the agent requires the control plane's client
-- certificate (CP_CLIENT_CERT / CP_CLIENT_KEY), 0 otherwise.
ALTER TABLE hosts ADD COLUMN tls_fingerprint TEXT;
ALTER TABLE hosts ADD COLUMN client_cert_required BIGINT NOT NULL DEFAULT 0;
