-- Template builds from a Dockerfile (issue #16; docs/architecture.md,
-- "Template builds").
--
-- A built template's versions are template rows: the newest (`latest`)
-- holds the plain name, so `name` resolves as before; older versions and
-- build-cache entries are hidden rows named `<name>@<build id>` and
-- `~cache-<key>` (names no API input can spell), left out of lists.
ALTER TABLE templates ADD COLUMN hidden BIGINT NOT NULL DEFAULT 0;

CREATE TABLE template_builds (
    id TEXT PRIMARY KEY,
    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    -- What the build registers: `name:tag`.
    name TEXT NOT NULL,
    tag TEXT NOT NULL,
    -- queued | building | succeeded | failed | cancelled
    status TEXT NOT NULL,
    dockerfile TEXT NOT NULL,
    -- JSON object: the --build-arg values.
    build_args TEXT NOT NULL,
    ready_command TEXT,
    vcpus BIGINT NOT NULL,
    memory_mb BIGINT NOT NULL,
    -- SHA-256 (hex) and size of the uploaded context; NULL/0: none. The
    -- bytes stay on the receiving replica's disk, which runs the build.
    context_sha256 TEXT,
    context_bytes BIGINT NOT NULL DEFAULT 0,
    steps_total BIGINT NOT NULL,
    steps_done BIGINT NOT NULL DEFAULT 0,
    steps_cached BIGINT NOT NULL DEFAULT 0,
    -- The step running now (1-based; 0 before the first) and its text.
    current_step BIGINT NOT NULL DEFAULT 0,
    current_step_text TEXT,
    error_code TEXT,
    error_message TEXT,
    error_line BIGINT,
    error_exit_code BIGINT,
    -- The version a successful build registered.
    template_id TEXT REFERENCES templates(id) ON DELETE SET NULL,
    -- The build VM while one exists (always destroyed at the end).
    sandbox_id TEXT,
    host_id TEXT,
    -- The replica running the build and until when its lease holds; a
    -- lease left to expire (the replica died) ends the build `failed`.
    lease_owner TEXT,
    lease_expires_at BIGINT,
    cancel_requested BIGINT NOT NULL DEFAULT 0,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT
);
CREATE INDEX template_builds_team ON template_builds (team_id, created_at);
CREATE INDEX template_builds_status ON template_builds (status, lease_expires_at);

CREATE TABLE template_build_logs (
    build_id TEXT NOT NULL REFERENCES template_builds(id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    -- The step (1-based) the line belongs to; 0: the build itself.
    step BIGINT NOT NULL,
    -- stdout | stderr | system
    stream TEXT NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (build_id, seq)
);

-- Per-team step cache: a step's key (service/builds/cache_key.rs) → the
-- hidden template holding the disk after it. LRU-capped per team.
CREATE TABLE template_build_cache (
    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    cache_key TEXT NOT NULL,
    template_id TEXT NOT NULL REFERENCES templates(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    PRIMARY KEY (team_id, cache_key)
);
CREATE INDEX template_build_cache_lru ON template_build_cache (team_id, last_used_at);

-- `name:tag` → one version; `latest` moves with each successful build.
CREATE TABLE template_tags (
    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    tag TEXT NOT NULL,
    template_id TEXT NOT NULL REFERENCES templates(id) ON DELETE CASCADE,
    build_id TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (team_id, name, tag)
);
