-- Tenants: database roles for who reads what, and row-level security per enterprise.
--
--   greenmon_ingest      (NOLOGIN group) writes the pipeline's tables
--   greenmon_inspector   (NOLOGIN group) reads everything (city and district inspectors, Grafana)
--   greenmon_enterprise  (NOLOGIN group) of per-enterprise login roles (`greenmon tenants add`):
--                        each member reads only its own enterprise's rows, as mapped in
--                        tenant_roles; tables with someone else's rows are under RLS.
--
-- The services connect as the database owner, which row-level security does not restrict
-- (RLS is enabled, not forced), so the pipeline is unaffected. Roles are cluster-wide:
-- creating them tolerates their existing already (another database of the cluster).

DO $$
DECLARE r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['greenmon_ingest', 'greenmon_inspector', 'greenmon_enterprise'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- created concurrently by another database's migration
            END;
        END IF;
    END LOOP;
END $$;

-- which login role is which enterprise's
CREATE TABLE IF NOT EXISTS tenant_roles (
    role_name     text PRIMARY KEY,
    enterprise_id text NOT NULL REFERENCES enterprises (enterprise_id),
    created_at    timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE tenant_roles ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_self ON tenant_roles;
CREATE POLICY tenant_self ON tenant_roles FOR SELECT TO greenmon_enterprise
    USING (role_name = current_user);

-- the enterprise of the current login role (NULL for anyone not in tenant_roles);
-- runs with the caller's rights, so it sees the caller's own mapping row only
CREATE OR REPLACE FUNCTION greenmon_tenant() RETURNS text
    LANGUAGE sql STABLE
    AS $$ SELECT enterprise_id FROM tenant_roles WHERE role_name = current_user $$;

GRANT USAGE ON SCHEMA public TO greenmon_ingest, greenmon_inspector, greenmon_enterprise;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO greenmon_inspector;
REVOKE ALL ON alert_channels FROM greenmon_inspector;  -- webhook secrets
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO greenmon_ingest;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO greenmon_ingest;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO greenmon_inspector;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO greenmon_ingest;
-- shared reference data, nobody's in particular
GRANT SELECT ON factors, plan_periods, price_index, tenant_roles TO greenmon_enterprise;

DO $$
DECLARE
    t   text;
    own text;
    by_enterprise constant text := 'enterprise_id = (SELECT greenmon_tenant())';
    by_meter constant text := 'meter_id IN (SELECT meter_id FROM meters '
        'WHERE enterprise_id = (SELECT greenmon_tenant()))';
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'enterprises', 'meters', 'consumption_15m', 'meter_quality_daily', 'enterprise_month',
        'value_added', 'value_added_history', 'baselines', 'energy_caps', 'alerts',
        'alert_state', 'readings', 'quarantine', 'factor_gaps', 'meter_events', 'rollups'
    ] LOOP
        own := CASE
            WHEN t IN ('readings', 'quarantine', 'factor_gaps', 'meter_events') THEN by_meter
            WHEN t = 'rollups' THEN
                'entity = ''enterprise'' AND entity_id = (SELECT greenmon_tenant())'
            ELSE by_enterprise
        END;
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('DROP POLICY IF EXISTS inspector_read ON %I', t);
        EXECUTE format('CREATE POLICY inspector_read ON %I FOR SELECT TO greenmon_inspector '
                       'USING (true)', t);
        EXECUTE format('DROP POLICY IF EXISTS ingest_all ON %I', t);
        EXECUTE format('CREATE POLICY ingest_all ON %I TO greenmon_ingest '
                       'USING (true) WITH CHECK (true)', t);
        EXECUTE format('DROP POLICY IF EXISTS enterprise_own ON %I', t);
        EXECUTE format('CREATE POLICY enterprise_own ON %I FOR SELECT TO greenmon_enterprise '
                       'USING (%s)', t, own);
        EXECUTE format('GRANT SELECT ON %I TO greenmon_enterprise', t);
    END LOOP;
END $$;

-- TimescaleDB copies a hypertable's grants to its chunks but not its row-level security:
-- a tenant granted SELECT on a hypertable could read any enterprise's rows from a chunk by
-- name. So tenants get no grant on the hypertables; they read them through views of the
-- same name in schema `tenant` (first on their search_path), filtered to their
-- enterprise. A view checks its owner's rights, and current_user stays the tenant's.
CREATE SCHEMA IF NOT EXISTS tenant;
GRANT USAGE ON SCHEMA tenant TO greenmon_enterprise;
REVOKE ALL ON readings, consumption_15m, rollups, alerts FROM greenmon_enterprise;
CREATE OR REPLACE VIEW tenant.readings WITH (security_barrier) AS
    SELECT * FROM public.readings WHERE meter_id IN
        (SELECT meter_id FROM public.meters WHERE enterprise_id = (SELECT greenmon_tenant()));
CREATE OR REPLACE VIEW tenant.consumption_15m WITH (security_barrier) AS
    SELECT * FROM public.consumption_15m WHERE enterprise_id = (SELECT greenmon_tenant());
CREATE OR REPLACE VIEW tenant.rollups WITH (security_barrier) AS
    SELECT * FROM public.rollups
    WHERE entity = 'enterprise' AND entity_id = (SELECT greenmon_tenant());
CREATE OR REPLACE VIEW tenant.alerts WITH (security_barrier) AS
    SELECT * FROM public.alerts WHERE enterprise_id = (SELECT greenmon_tenant());
GRANT SELECT ON ALL TABLES IN SCHEMA tenant TO greenmon_enterprise;

-- the dashboards' data completeness over recent days (city overview: all meters)
CREATE INDEX IF NOT EXISTS meter_quality_daily_day_idx ON meter_quality_daily (day);
