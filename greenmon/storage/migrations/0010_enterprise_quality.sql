-- Data quality summed per enterprise and local day, kept beside meter_quality_daily by
-- the quality refresh (same transaction): completeness over a whole year for the city
-- reads days x enterprises rows instead of days x meters.
CREATE TABLE IF NOT EXISTS enterprise_quality_daily (
    enterprise_id text NOT NULL,
    day           date NOT NULL,
    meters        integer NOT NULL,
    expected      bigint NOT NULL,
    present       bigint NOT NULL,
    estimated     bigint NOT NULL,
    computed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (enterprise_id, day)
);
CREATE INDEX IF NOT EXISTS enterprise_quality_daily_day_idx ON enterprise_quality_daily (day);

INSERT INTO enterprise_quality_daily (enterprise_id, day, meters, expected, present, estimated)
SELECT enterprise_id, day, count(*), sum(expected), sum(present), sum(estimated)
FROM meter_quality_daily GROUP BY 1, 2
ON CONFLICT (enterprise_id, day) DO NOTHING;

-- tenants read their own rows, as of meter_quality_daily (0007)
ALTER TABLE enterprise_quality_daily ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS inspector_read ON enterprise_quality_daily;
CREATE POLICY inspector_read ON enterprise_quality_daily FOR SELECT TO greenmon_inspector
    USING (true);
DROP POLICY IF EXISTS ingest_all ON enterprise_quality_daily;
CREATE POLICY ingest_all ON enterprise_quality_daily TO greenmon_ingest
    USING (true) WITH CHECK (true);
DROP POLICY IF EXISTS enterprise_own ON enterprise_quality_daily;
CREATE POLICY enterprise_own ON enterprise_quality_daily FOR SELECT TO greenmon_enterprise
    USING (enterprise_id = (SELECT greenmon_tenant()));
GRANT SELECT ON enterprise_quality_daily TO greenmon_enterprise;
