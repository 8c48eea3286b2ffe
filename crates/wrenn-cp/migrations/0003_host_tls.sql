-- Transport security to a host (docs/hosts.md, "Transport security"); the
-- pinned certificate itself is `hosts.tls_fingerprint` (0002).
-- client_cert_required: 1 when the agent requires the control plane's client
-- certificate (CP_CLIENT_CERT / CP_CLIENT_KEY), 0 otherwise.
ALTER TABLE hosts ADD COLUMN client_cert_required BIGINT NOT NULL DEFAULT 0;
