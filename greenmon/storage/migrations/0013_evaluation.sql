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
    b0            double precision NOT NULL,  -- the coefficients again, for dashboards' SQL
    b_output      double precision NOT NULL,
    b_hdd         double precision,
    b_cdd         double precision,
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

-- monthly heating / cooling degree-days of complete months, bases from the plan file
-- (greenmon.evaluation.degree_days does the same in Python; a test holds them equal)
CREATE OR REPLACE VIEW enpi_degree_days WITH (security_invoker = true) AS
WITH b AS (
    SELECT COALESCE((SELECT (doc -> 'enpi' ->> 'hdd_base_c')::float8
                     FROM evaluation_params WHERE id = 1), 18.0) AS h,
           COALESCE((SELECT (doc -> 'enpi' ->> 'cdd_base_c')::float8
                     FROM evaluation_params WHERE id = 1), 26.0) AS c
)
SELECT date_trunc('month', w.day)::date AS month,
       sum(greatest(0, b.h - w.mean_temp_c)) AS hdd,
       sum(greatest(0, w.mean_temp_c - b.c)) AS cdd
FROM weather_day w CROSS JOIN b
GROUP BY 1
HAVING count(*) = extract(day FROM date_trunc('month', min(w.day))
                                    + interval '1 month' - interval '1 day');

-- savings (expected - actual energy) per month after each model's baseline, with the
-- models' fitted coefficients; months lacking a figure are left out. It runs with the
-- caller's rights, so a tenant sees its own enterprise's rows only (row-level security).
CREATE OR REPLACE VIEW enpi_savings WITH (security_invoker = true) AS
SELECT md.enterprise_id, m.month, m.energy_tce AS actual_tce,
       md.b0 + md.b_output * p.output + COALESCE(md.b_hdd * d.hdd, 0)
           + COALESCE(md.b_cdd * d.cdd, 0) AS expected_tce,
       md.b0 + md.b_output * p.output + COALESCE(md.b_hdd * d.hdd, 0)
           + COALESCE(md.b_cdd * d.cdd, 0) - m.energy_tce AS savings_tce,
       md.acceptable
FROM enpi_models md
JOIN enterprise_month m ON m.enterprise_id = md.enterprise_id AND m.month > md.baseline_to
JOIN production_month p ON p.enterprise_id = m.enterprise_id AND p.month = m.month
LEFT JOIN enpi_degree_days d ON d.month = m.month
WHERE (md.b_hdd IS NULL OR d.hdd IS NOT NULL) AND (md.b_cdd IS NULL OR d.cdd IS NOT NULL);

GRANT SELECT ON weather_day, evaluation_params, enpi_degree_days, enpi_savings
    TO greenmon_enterprise;

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
