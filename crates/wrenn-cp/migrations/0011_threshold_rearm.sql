-- The use at which a told pool threshold is reached (ceil(level % of the
-- size)): a release that takes use below it re-arms the threshold in the
-- same transaction, so the next upward crossing is told again. 0 (rows of
-- older builds): re-armed only when use is next checked growing.
ALTER TABLE pool_thresholds ADD COLUMN reached_at_use BIGINT NOT NULL DEFAULT 0;
