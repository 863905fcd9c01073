-- Roll-ups depend on the plan as well as on the data: record when it changed, so the
-- processor knows to re-derive them (greenmon.storage.rollup_store.changed_years).
ALTER TABLE plan_periods ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE target_overrides ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();
