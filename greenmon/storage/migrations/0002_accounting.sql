-- Accounting: factors as data, monthly enterprise totals, value-added, baselines, targets.

-- Conversion and emission factors in force (loaded from the package's files and
-- from configuration); every row has its source and validity [valid_from, valid_to).
CREATE TABLE IF NOT EXISTS factors (
    factor_id  text PRIMARY KEY,
    quantity   text NOT NULL CHECK (quantity IN ('tce', 'co2')),
    carrier    text NOT NULL,
    variant    text NOT NULL,
    value      double precision NOT NULL CHECK (value > 0),
    unit       text NOT NULL,
    valid_from date NOT NULL,
    valid_to   date,
    source     text NOT NULL CHECK (source <> ''),
    loaded_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);

-- How each enterprise's electricity enters its tce: 'equivalent' (default) or
-- 'generation' (coal-for-generation value); resolved from configuration.
CREATE TABLE IF NOT EXISTS electricity_methods (
    scope    text NOT NULL CHECK (scope IN ('city', 'district', 'enterprise')),
    scope_id text NOT NULL,
    method   text NOT NULL CHECK (method IN ('equivalent', 'generation')),
    PRIMARY KEY (scope, scope_id)
);

-- Per enterprise per local month, kept by the processor in the same transaction as
-- the 15-minute rows. Energy excludes feedstock and new-renewable meters (NDRC
-- 发改环资〔2022〕803号), which are summed in excluded_tce; *_gaps count the 15-minute
-- rows whose factor was missing (their amount is not in the sum).
CREATE TABLE IF NOT EXISTS enterprise_month (
    enterprise_id text NOT NULL,
    month         date NOT NULL,
    energy_tce    double precision NOT NULL DEFAULT 0,
    excluded_tce  double precision NOT NULL DEFAULT 0,
    co2_t         double precision NOT NULL DEFAULT 0,
    water_m3      double precision NOT NULL DEFAULT 0,
    energy_gaps   integer NOT NULL DEFAULT 0,
    co2_gaps      integer NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (enterprise_id, month)
);

-- Monthly industrial value-added, 10^4 CNY at constant 2020 prices; a revision
-- replaces the figure (revision counts up), every submission stays in the history.
CREATE TABLE IF NOT EXISTS value_added (
    enterprise_id text NOT NULL REFERENCES enterprises (enterprise_id),
    month         date NOT NULL,
    value_added   double precision NOT NULL CHECK (value_added >= 0),
    submitted     double precision NOT NULL,
    price_basis   text NOT NULL CHECK (price_basis IN ('constant_2020', 'current')),
    deflator      double precision NOT NULL CHECK (deflator > 0),
    revision      integer NOT NULL DEFAULT 1,
    source        text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (enterprise_id, month)
);
CREATE TABLE IF NOT EXISTS value_added_history (
    enterprise_id text NOT NULL,
    month         date NOT NULL,
    value_added   double precision NOT NULL,
    submitted     double precision NOT NULL,
    price_basis   text NOT NULL,
    deflator      double precision NOT NULL,
    source        text NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS value_added_history_idx ON value_added_history (enterprise_id, month);

CREATE TABLE IF NOT EXISTS price_index (
    year     integer NOT NULL,
    industry text NOT NULL DEFAULT '*',
    index    double precision NOT NULL CHECK (index > 0),
    PRIMARY KEY (year, industry)
);

CREATE TABLE IF NOT EXISTS plan_periods (
    name      text PRIMARY KEY,
    base_year integer NOT NULL,
    end_year  integer NOT NULL CHECK (end_year > base_year),
    energy_r  double precision NOT NULL,
    co2_r     double precision NOT NULL,
    water_r   double precision NOT NULL,
    source    text NOT NULL
);

CREATE TABLE IF NOT EXISTS target_overrides (
    period   text NOT NULL REFERENCES plan_periods (name) ON DELETE CASCADE,
    scope    text NOT NULL CHECK (scope IN ('district', 'industry', 'enterprise')),
    scope_id text NOT NULL,
    energy_r double precision,
    co2_r    double precision,
    water_r  double precision,
    PRIMARY KEY (period, scope, scope_id)
);

-- Base-year totals of an enterprise for a plan period: imported or computed.
CREATE TABLE IF NOT EXISTS baselines (
    enterprise_id text NOT NULL REFERENCES enterprises (enterprise_id),
    period        text NOT NULL,
    energy_tce    double precision NOT NULL,
    co2_t         double precision NOT NULL,
    water_m3      double precision NOT NULL,
    value_added   double precision NOT NULL CHECK (value_added > 0),
    source        text NOT NULL CHECK (source IN ('imported', 'computed')),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (enterprise_id, period)
);

-- Energy-consumption caps (能耗总量) per enterprise and year, tce.
CREATE TABLE IF NOT EXISTS energy_caps (
    enterprise_id text NOT NULL,
    year          integer NOT NULL,
    energy_tce    double precision NOT NULL CHECK (energy_tce > 0),
    PRIMARY KEY (enterprise_id, year)
);
