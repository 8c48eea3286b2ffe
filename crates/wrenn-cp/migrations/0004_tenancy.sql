-- Tenancy (docs/security.md, "Tenancy, rate limits and deletion").
-- api_keys.owner: 'user' (default): the key is revoked when its creator
-- leaves the team or is deleted; 'team': the key belongs to the team and
-- outlives its creator. Keys with no recorded creator are the team's.
ALTER TABLE api_keys ADD COLUMN owner TEXT NOT NULL DEFAULT 'user';
UPDATE api_keys SET owner = 'team' WHERE created_by IS NULL;
CREATE INDEX api_keys_creator ON api_keys (team_id, created_by);

-- Failed logins, shared by every control-plane replica so that a lockout
-- survives a hop to another one. scope: 'account' (subject: the email's
-- SHA-256) or 'client' (subject: SHA-256 of client address and email).
-- failures: consecutive wrong passwords; locked_until: Unix ms, 0 = none.
CREATE TABLE login_failures (
    scope TEXT NOT NULL,
    subject TEXT NOT NULL,
    failures BIGINT NOT NULL,
    locked_until BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (scope, subject)
);

-- The retention purge of stopped and failed sandbox records.
CREATE INDEX sandboxes_state_updated ON sandboxes (state, updated_at);
