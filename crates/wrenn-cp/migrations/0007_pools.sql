-- Pools, plans and metering (docs/api.md "Pools and usage"). Portable SQL
-- for SQLite and PostgreSQL alike, as 0001: BIGINT sizes, Unix ms instants.

-- A plan: the pool a team buys. Sizes are positive; memory and storage in
-- MiB (the API speaks GiB). overflow: 'refuse' | 'queue' | 'burst'.
-- price_cents: flat price per period; burst_*: the ceiling past the pool
-- (in vCPUs) and the price of one vCPU-hour over it.
CREATE TABLE plans (
    name TEXT PRIMARY KEY,
    vcpus BIGINT NOT NULL,
    memory_mb BIGINT NOT NULL,
    storage_mb BIGINT NOT NULL,
    max_running BIGINT NOT NULL,
    max_paused BIGINT NOT NULL,
    price_cents BIGINT NOT NULL,
    period TEXT NOT NULL,
    overflow TEXT NOT NULL,
    burst_vcpus BIGINT NOT NULL DEFAULT 0,
    burst_cents_per_vcpu_hour BIGINT NOT NULL DEFAULT 0,
    -- With 'queue': how long a create that asks no wait of its own (every
    -- E2B API create) waits for room, in seconds.
    queue_wait_secs BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A team's plan (absent: the deployment's default, CP_DEFAULT_PLAN) and
-- its overrides of the plan's sizes (NULL: the plan's).
CREATE TABLE team_plans (
    team_id TEXT PRIMARY KEY REFERENCES teams(id) ON DELETE CASCADE,
    plan TEXT NOT NULL REFERENCES plans(name),
    vcpus BIGINT,
    memory_mb BIGINT,
    storage_mb BIGINT,
    max_running BIGINT,
    max_paused BIGINT,
    updated_at BIGINT NOT NULL
);

-- What a team's sandboxes hold of its pool right now: the sum of its
-- pool_reservations, kept beside them so that one conditional UPDATE of
-- this row reserves (it cannot overshoot: the row is the lock).
CREATE TABLE pool_use (
    team_id TEXT PRIMARY KEY REFERENCES teams(id) ON DELETE CASCADE,
    vcpus BIGINT NOT NULL DEFAULT 0,
    memory_mb BIGINT NOT NULL DEFAULT 0,
    storage_mb BIGINT NOT NULL DEFAULT 0,
    running BIGINT NOT NULL DEFAULT 0,
    paused BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);

-- One sandbox's share of pool_use. phase: 'running' (vCPUs, memory,
-- storage, one running slot), 'paused' (storage, one paused slot),
-- 'pausing' (running's share plus the paused slot a pause reserved before
-- its host was called) or 'lost' (storage only: its host is gone).
CREATE TABLE pool_reservations (
    sandbox_id TEXT PRIMARY KEY,
    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    vcpus BIGINT NOT NULL,
    memory_mb BIGINT NOT NULL,
    storage_mb BIGINT NOT NULL,
    phase TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX pool_reservations_team ON pool_reservations (team_id);

-- The usage ledger: one row per interval a sandbox spent running or paused,
-- opened and closed by its state transitions (in their transaction, at the
-- recorded instant). ended_at NULL: still open. Rows are never deleted.
CREATE TABLE usage_intervals (
    id TEXT PRIMARY KEY,
    sandbox_id TEXT NOT NULL,
    team_id TEXT NOT NULL,
    template TEXT NOT NULL,
    host_id TEXT,
    phase TEXT NOT NULL,
    vcpus BIGINT NOT NULL,
    memory_mb BIGINT NOT NULL,
    storage_mb BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE INDEX usage_intervals_team ON usage_intervals (team_id, started_at, id);
CREATE INDEX usage_intervals_open ON usage_intervals (sandbox_id, ended_at);

-- Creates waiting for room in a `queue` pool, served oldest first on every
-- replica: a waiter may try once it is its team's oldest live one. A waiter
-- that gives up deletes its row; one whose replica died is ignored once
-- past its deadline (Unix ms).
CREATE TABLE pool_waiters (
    id TEXT PRIMARY KEY,
    team_id TEXT NOT NULL,
    deadline BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX pool_waiters_team ON pool_waiters (team_id, id);
