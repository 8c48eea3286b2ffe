-- Browser sessions (docs/security.md, "Browser sessions"): the dashboard's
-- `wrenn_session` cookie. Only the SHA-256 of the cookie's token is stored;
-- csrf_token is sent back in `X-CSRF-Token` on state-changing requests.
-- Times are Unix ms: expires_at is the absolute end (CP_SESSION_MAX_SECS),
-- last_seen_at (updated at most once a minute) the start of the idle
-- expiry (CP_SESSION_IDLE_SECS). A deleted user's sessions go with them.
CREATE TABLE browser_sessions (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    user_agent TEXT NOT NULL DEFAULT '',
    client_ip TEXT NOT NULL DEFAULT ''
);
CREATE INDEX browser_sessions_user ON browser_sessions (user_id);
