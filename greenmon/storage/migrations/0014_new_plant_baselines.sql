-- Baselines: an enterprise that did not operate in the base year files all zeros (its
-- district's and the city's base-year totals get nothing from it, and it has no
-- base-year intensity of its own); an indicator it did not report is NULL, as the
-- baseline file's empty cell says (the import used to fail on the NOT NULL).
ALTER TABLE baselines DROP CONSTRAINT IF EXISTS baselines_value_added_check;
ALTER TABLE baselines DROP CONSTRAINT IF EXISTS baselines_value_added_new_plant;
ALTER TABLE baselines ADD CONSTRAINT baselines_value_added_new_plant CHECK (
    value_added > 0
    OR (value_added = 0 AND energy_tce = 0 AND co2_t = 0 AND water_m3 = 0)
);
ALTER TABLE baselines ALTER COLUMN energy_tce DROP NOT NULL;
ALTER TABLE baselines ALTER COLUMN co2_t DROP NOT NULL;
ALTER TABLE baselines ALTER COLUMN water_m3 DROP NOT NULL;
