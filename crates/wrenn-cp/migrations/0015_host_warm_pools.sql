-- The warm pools of each host as of its last heartbeat (docs/hosts.md,
-- "Placement"): a JSON array of `load.warm_pools` entries. The scheduler
-- prefers a host with an idle sandbox of the requested template and size.
ALTER TABLE hosts ADD COLUMN warm_pools TEXT NOT NULL DEFAULT '[]';
