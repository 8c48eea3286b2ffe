-- Team webhooks (docs/api.md "Pools and usage"): one URL per team and the
-- key its deliveries are signed with (HMAC-SHA256; the control plane must
-- hold it to sign, it is shown to the team once).
CREATE TABLE webhooks (
    team_id TEXT PRIMARY KEY REFERENCES teams(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Events to deliver and their attempts. state: 'pending' (due at next_at;
-- a replica that claims it holds it until lease_until), 'delivered' or
-- 'failed' (out of attempts). Rows survive restarts; any replica delivers.
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_at BIGINT NOT NULL,
    lease_until BIGINT NOT NULL DEFAULT 0,
    last_status BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_at);
CREATE INDEX webhook_deliveries_team ON webhook_deliveries (team_id, id);

-- Pool thresholds a team's use is at or above (one row per dimension and
-- level): an event goes out when a row is first written, and the row goes
-- when use falls below, so each upward crossing is told once.
CREATE TABLE pool_thresholds (
    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    dimension TEXT NOT NULL,
    level BIGINT NOT NULL,
    crossed_at BIGINT NOT NULL,
    PRIMARY KEY (team_id, dimension, level)
);
