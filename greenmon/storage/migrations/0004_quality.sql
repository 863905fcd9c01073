-- Data quality: counter events, and per meter per local day the online-monitoring
-- figures (completeness, estimated share, arrival delay, resets, quarantined deltas).

CREATE TABLE IF NOT EXISTS meter_events (
    meter_id text NOT NULL,
    ts       timestamptz NOT NULL,
    event    text NOT NULL CHECK (event IN ('reset', 'rollover')),
    PRIMARY KEY (meter_id, ts, event)
);

CREATE TABLE IF NOT EXISTS meter_quality_daily (
    meter_id        text NOT NULL,
    day             date NOT NULL,
    enterprise_id   text NOT NULL,
    expected        integer NOT NULL,
    present         integer NOT NULL,
    estimated       integer NOT NULL,
    completeness    double precision NOT NULL,
    estimated_share double precision NOT NULL,
    delay_p50_s     double precision,
    delay_max_s     double precision,
    resets          integer NOT NULL,
    rollovers       integer NOT NULL,
    quarantined     integer NOT NULL,
    computed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (meter_id, day)
);
CREATE INDEX IF NOT EXISTS meter_quality_daily_enterprise_idx
    ON meter_quality_daily (enterprise_id, day);

-- which local days need their quality figures refreshed
CREATE INDEX IF NOT EXISTS readings_stored_at_idx ON readings (stored_at);

-- Each meter's event-time watermark: the newest reading it has delivered. A reading
-- more than the grace period behind it is late (set aside, see `recompute --late`).
CREATE TABLE IF NOT EXISTS meter_watermarks (
    meter_id text PRIMARY KEY,
    max_ts   timestamptz NOT NULL
);
