-- Roll-ups as stored rows for dashboards: every entity, period kind and month, with
-- the figures, intensities, reductions, trajectories and status of greenmon.accounting.
-- hypertable: rollups(month)

CREATE TABLE IF NOT EXISTS rollups (
    entity            text NOT NULL CHECK (entity IN ('enterprise', 'district', 'industry', 'city')),
    entity_id         text NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('month', 'ytd', 'r12')),
    month             date NOT NULL,
    energy_tce        double precision,
    excluded_tce      double precision NOT NULL,
    co2_t             double precision,
    water_m3          double precision NOT NULL,
    value_added       double precision,
    energy_intensity  double precision,
    co2_intensity     double precision,
    water_intensity   double precision,
    energy_reduction  double precision,
    co2_reduction     double precision,
    water_reduction   double precision,
    energy_trajectory double precision,
    co2_trajectory    double precision,
    water_trajectory  double precision,
    energy_status     text NOT NULL,
    co2_status        text NOT NULL,
    water_status      text NOT NULL,
    status            text NOT NULL,
    reason            text NOT NULL,
    computed_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (entity, entity_id, kind, month)
);
CREATE INDEX IF NOT EXISTS rollups_kind_month_idx ON rollups (kind, month, entity);
