-- The sandbox traffic proxy (docs/architecture.md, "Sandbox traffic proxy").
-- auto_resume: a request through the proxy resumes the sandbox when paused.
-- public_traffic: 0 = user ports need `e2b-traffic-access-token`, whose
-- SHA-256 (hex) is traffic_token_hash; the token itself is shown once, in
-- the create answer. envd's port is exempt (it has its own access token).
ALTER TABLE sandboxes ADD COLUMN auto_resume BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sandboxes ADD COLUMN public_traffic BIGINT NOT NULL DEFAULT 1;
ALTER TABLE sandboxes ADD COLUMN traffic_token_hash TEXT;
