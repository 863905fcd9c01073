-- Evaluations beyond intensities (greenmon/evaluation): 亩产效益 inputs and results,
-- monthly production, daily weather, energy-performance (EnPI) models, and the
-- evaluation parameters of the plan file.

-- declared per enterprise and year: land (mu), money (10^4 CNY), staff, scale group
CREATE TABLE IF NOT EXISTS evaluation_inputs (
    enterprise_id text NOT NULL REFERENCES enterprises (enterprise_id),
    year          integer NOT NULL,
    land_mu       double precision NOT NULL CHECK (land_mu > 0),
    tax           double precision NOT NULL CHECK (tax >= 0),
    revenue       double precision NOT NULL CHECK (revenue >= 0),
    rd_spend      double precision NOT NULL CHECK (rd_spend >= 0),
    employees     double precision NOT NULL CHECK (employees >= 0),
    scale         text NOT NULL CHECK (scale IN ('above', 'below')),
    exempt        text,
    source        text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (enterprise_id, year)
);

-- the scored evaluation of a year (replaced as a whole by each `evaluation run`)
CREATE TABLE IF NOT EXISTS evaluation_results (
    enterprise_id             text NOT NULL REFERENCES enterprises (enterprise_id),
    year                      integer NOT NULL,
    scale                     text NOT NULL,
    tax_per_mu                double precision,
    va_per_mu                 double precision,
    va_per_tce                double precision,
    va_per_tco2               double precision,
    labour_productivity       double precision,
    rd_intensity              double precision,
    tax_per_kwh               double precision,
    score_tax_per_mu          double precision,
    score_va_per_mu           double precision,
    score_va_per_tce          double precision,
    score_va_per_tco2         double precision,
    score_labour_productivity double precision,
    score_rd_intensity        double precision,
    score_tax_per_kwh         double precision,
    total                     double precision NOT NULL,
    rank                      integer NOT NULL,
    class                     text NOT NULL CHECK (class IN ('A', 'B', 'C', 'D')),
    note                      text NOT NULL DEFAULT '',
    computed_at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (enterprise_id, year)
);
CREATE INDEX IF NOT EXISTS evaluation_results_year_idx ON evaluation_results (year, class);

-- monthly production per enterprise, in one unit per enterprise
CREATE TABLE IF NOT EXISTS production_month (
    enterprise_id text NOT NULL REFERENCES enterprises (enterprise_id),
    month         date NOT NULL CHECK (extract(day FROM month) = 1),
    output        double precision NOT NULL CHECK (output >= 0),
    unit          text NOT NULL,
    source        text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (enterprise_id, month)
);

-- the city's daily mean temperature (shared, nobody's in particular)
CREATE TABLE IF NOT EXISTS weather_day (
    day         date PRIMARY KEY,
    mean_temp_c double precision NOT NULL,
    source      text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- the current energy-performance model of each enterprise, acceptable or not
CREATE TABLE IF NOT EXISTS enpi_models (
    enterprise_id text PRIMARY KEY REFERENCES enterprises (enterprise_id),
    variables     text[] NOT NULL,
    baseline_from date NOT NULL,
    baseline_to   date NOT NULL,
    n             integer NOT NULL,
    p             integer NOT NULL,
    coefficients  jsonb NOT NULL,
    ranges        jsonb NOT NULL,
    r2            double precision NOT NULL,
    adj_r2        double precision NOT NULL,
    cv_rmse       double precision NOT NULL,
    nmbe          double precision NOT NULL,
    sse           double precision NOT NULL,
    mean_y        double precision NOT NULL,
    acceptable    boolean NOT NULL,
    failures      text[] NOT NULL DEFAULT '{}',
    fitted_at     timestamptz NOT NULL DEFAULT now()
);

-- the [[evaluation]] and [enpi] tables of the loaded plan file (one row)
CREATE TABLE IF NOT EXISTS evaluation_params (
    id         integer PRIMARY KEY CHECK (id = 1),
    doc        jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT ON weather_day, evaluation_params TO greenmon_enterprise;

-- tenants read their own rows only, as the tables of 0007
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'evaluation_inputs', 'evaluation_results', 'production_month', 'enpi_models'
    ] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('DROP POLICY IF EXISTS inspector_read ON %I', t);
        EXECUTE format('CREATE POLICY inspector_read ON %I FOR SELECT TO greenmon_inspector '
                       'USING (true)', t);
        EXECUTE format('DROP POLICY IF EXISTS ingest_all ON %I', t);
        EXECUTE format('CREATE POLICY ingest_all ON %I TO greenmon_ingest '
                       'USING (true) WITH CHECK (true)', t);
        EXECUTE format('DROP POLICY IF EXISTS enterprise_own ON %I', t);
        EXECUTE format('CREATE POLICY enterprise_own ON %I FOR SELECT TO greenmon_enterprise '
                       'USING (enterprise_id = (SELECT greenmon_tenant()))', t);
        EXECUTE format('GRANT SELECT ON %I TO greenmon_enterprise', t);
    END LOOP;
END $$;
