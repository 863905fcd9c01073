-- Foundation: registry, raw readings, 15-minute consumption, processor state.
-- hypertable: readings(ts)
-- hypertable: consumption_15m(interval_start)

CREATE TABLE IF NOT EXISTS enterprises (
    enterprise_id text PRIMARY KEY,
    name          text NOT NULL,
    district      text NOT NULL,
    industry      text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS meters (
    meter_id          text PRIMARY KEY,
    enterprise_id     text NOT NULL REFERENCES enterprises (enterprise_id),
    carrier           text NOT NULL,
    unit              text NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('counter', 'interval')),
    max_rate_per_hour double precision NOT NULL CHECK (max_rate_per_hour > 0),
    register_max      double precision CHECK (register_max > 0),
    flags             text[] NOT NULL DEFAULT '{}',
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS meters_enterprise_idx ON meters (enterprise_id);

-- Every reading as received (after validation), once per (meter, ts).
CREATE TABLE IF NOT EXISTS readings (
    meter_id    text NOT NULL,
    ts          timestamptz NOT NULL,
    value       double precision NOT NULL,
    kind        text NOT NULL,
    duration_s  integer NOT NULL,
    received_at timestamptz NOT NULL,
    stored_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (meter_id, ts)
);

-- Consumption per meter per 15-minute interval (stamped with the interval start),
-- in the meter's unit, with its standard coal equivalent, CO2 and water.
CREATE TABLE IF NOT EXISTS consumption_15m (
    meter_id       text NOT NULL,
    interval_start timestamptz NOT NULL,
    enterprise_id  text NOT NULL,
    carrier        text NOT NULL,
    quantity       double precision NOT NULL,
    unit           text NOT NULL,
    energy_tce     double precision,
    co2_t          double precision,
    water_m3       double precision,
    estimated      boolean NOT NULL DEFAULT false,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (meter_id, interval_start)
);
CREATE INDEX IF NOT EXISTS consumption_15m_enterprise_idx
    ON consumption_15m (enterprise_id, interval_start);

-- Deltas refused as physically impossible; kept for inspection, never booked.
CREATE TABLE IF NOT EXISTS quarantine (
    meter_id   text NOT NULL,
    ts         timestamptz NOT NULL,
    value      double precision NOT NULL,
    delta      double precision NOT NULL,
    reason     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (meter_id, ts)
);

-- Conversions that found no valid factor (explicit, never a silent zero).
CREATE TABLE IF NOT EXISTS factor_gaps (
    meter_id       text NOT NULL,
    interval_start timestamptz NOT NULL,
    reason         text NOT NULL,
    PRIMARY KEY (meter_id, interval_start, reason)
);

-- The processor's per-meter state: last register booked (counter meters).
CREATE TABLE IF NOT EXISTS meter_state (
    meter_id   text PRIMARY KEY,
    last_ts    timestamptz NOT NULL,
    last_value double precision NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Kafka positions committed in the same transaction as the rows they produced.
CREATE TABLE IF NOT EXISTS stream_offsets (
    consumer_group text NOT NULL,
    topic          text NOT NULL,
    partition      integer NOT NULL,
    next_offset    bigint NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);

-- Each service's counters, refreshed every few seconds.
CREATE TABLE IF NOT EXISTS service_heartbeats (
    service    text NOT NULL,
    instance   text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    counters   jsonb NOT NULL,
    PRIMARY KEY (service, instance)
);
