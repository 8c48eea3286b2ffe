-- Which hosts hold a copy of which team template (issue #16 §5;
-- docs/architecture.md, "Templates on every host"). `digest` is the
-- content address of the template's image (the agent's manifest digest):
-- a host that lacks the template fetches it from a holder and verifies it
-- by this digest. `templates.host_id` stays the host that made it; a
-- template without rows here (made before this table, or by a path that
-- records none) is placed on `templates.host_id` only, as before.
CREATE TABLE template_hosts (
    template_id TEXT NOT NULL REFERENCES templates(id) ON DELETE CASCADE,
    host_id TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    digest TEXT NOT NULL,
    -- Sum of the sizes of the image's files.
    bytes BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (template_id, host_id)
);
CREATE INDEX template_hosts_host ON template_hosts (host_id);
