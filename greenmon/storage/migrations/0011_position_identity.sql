-- Stored positions name the log they came from. A position is an offset in ONE log: a
-- topic deleted and recreated, a cluster replaced or restored, or a broker restarted on
-- empty storage starts a new log whose offsets mean other records. The service runtime
-- (greenmon/runtime/consumer.py) compares these with what the broker reports on every
-- assignment and re-reads a partition from its start when they differ. NULL: not known
-- (stored before this migration, or the broker does not report it).
ALTER TABLE stream_offsets ADD COLUMN IF NOT EXISTS cluster_id text;
ALTER TABLE stream_offsets ADD COLUMN IF NOT EXISTS topic_id text;
