-- Field ingest (Sparkplug B): the Sparkplug metric that carries a meter (NULL: the
-- metric name is the meter id), unique within the enterprise; and 'stale' meter events,
-- written when an edge node's NDEATH (matching its birth's bdSeq) or a device's DDEATH
-- says the meter's data stopped.
ALTER TABLE meters ADD COLUMN IF NOT EXISTS sparkplug_metric text;
CREATE UNIQUE INDEX IF NOT EXISTS meters_sparkplug_metric_idx
    ON meters (enterprise_id, sparkplug_metric) WHERE sparkplug_metric IS NOT NULL;

ALTER TABLE meter_events DROP CONSTRAINT IF EXISTS meter_events_event_check;
ALTER TABLE meter_events ADD CONSTRAINT meter_events_event_check
    CHECK (event IN ('reset', 'rollover', 'stale'));

-- per meter and local day, how often its node or device died (Sparkplug NDEATH/DDEATH)
ALTER TABLE meter_quality_daily ADD COLUMN IF NOT EXISTS stale integer NOT NULL DEFAULT 0;
