-- Idempotent sandbox creates (the E2B API's `Idempotency-Key` header,
-- docs/api.md "E2B-compatible API"). One row per (team, key): the first
-- create inserts it (the primary key makes a concurrent second insert fail,
-- on every replica alike) and records its sandbox once created; a failed
-- create deletes its row so that a retry may try again.
-- claim_id: random, names the create holding the claim (a stale claim taken
-- over is not fulfilled or released by its old holder).
-- request_hash: SHA-256 (hex) of the create body, so that a key reused for
-- another request is refused. sandbox_id: NULL while the create runs.
-- claimed_at: Unix ms; an unanswered claim older than the longest create
-- (its replica died) may be taken over, and rows past their retention are
-- ignored and replaced.
CREATE TABLE idempotency_keys (
    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    idem_key TEXT NOT NULL,
    claim_id TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    sandbox_id TEXT,
    claimed_at BIGINT NOT NULL,
    PRIMARY KEY (team_id, idem_key)
);
CREATE INDEX idempotency_keys_claimed ON idempotency_keys (claimed_at);
