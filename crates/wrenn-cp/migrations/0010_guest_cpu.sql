-- The CPU time the guest actually used (docs/api.md "Pools and usage"):
-- per running interval, the user plus system time of the sandbox's VMM
-- process during it, in milliseconds. 0 when the interval opens (a fresh
-- VMM), raised to each reading its host reports while it is open (never
-- lowered), and set to the final reading of a pause or destroy when it
-- closes. NULL: paused intervals, and rows written before this column.
ALTER TABLE usage_intervals ADD COLUMN cpu_ms BIGINT;
