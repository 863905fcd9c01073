"""The accounting configuration: the packaged defaults, a full file, and what is refused."""

from __future__ import annotations

import re
from datetime import date
from importlib import resources

import pytest

from greenmon.accounting.config import (
    GenerationFactor,
    default_config,
    electricity_method_for,
    generation_factor_rows,
    parse_config,
    target_for,
)
from greenmon.accounting.plan import PlanPeriod, Reductions, TargetOverride
from greenmon.domain.factors import FactorTable, convert, default_factors
from greenmon.domain.reference import Carrier
from greenmon.errors import InvalidInput

PERIODS = """
[[period]]
name = "14th-FYP"
base_year = 2020
end_year = 2025
energy = 0.135
co2 = 0.18
water = 0.16
source = "national"

[[period]]
name = "15th-FYP"
base_year = 2025
end_year = 2030
energy = 0.10
co2 = 0.12
water = 0.08
source = "city plan"
"""

FULL = (
    PERIODS
    + """
[[target]]
period = "14th-FYP"
scope = "district"
id = "西海岸新区"
energy = 0.15

[[target]]
period = "14th-FYP"
scope = "industry"
id = "chemicals"
co2 = 0.2

[[target]]
period = "15th-FYP"
scope = "enterprise"
id = "E1"
water = 0.3

[[price_index]]
year = 2023
index = 1.05

[[price_index]]
year = 2023
industry = "高端化工"
index = 1.12

[[cap]]
enterprise = "E1"
year = 2025
energy_tce = 12000

[electricity]
method = "equivalent"

[[electricity.override]]
scope = "district"
id = "jiaozhou"
method = "generation"

[[electricity.override]]
scope = "enterprise"
id = "E7"
method = "equivalent"

[[electricity.generation_factor]]
year = 2023
kgce_per_kwh = 0.3
source = "NBS energy balance, coal consumption of thermal power supply 2023"
"""
)


def test_packaged_default_is_the_14th_fyp_with_national_targets() -> None:
    config = default_config()
    assert config.periods == (
        PlanPeriod(
            "14th-FYP",
            2020,
            2025,
            Reductions(energy=0.135, co2=0.18, water=0.16),
            "14th Five-Year Plan national industrial targets (MIIT, 2021); DESIGN.md defaults",
        ),
    )
    assert config.overrides == ()
    assert dict(config.price_index.entries) == {}
    assert dict(config.caps) == {}
    assert config.electricity_method == "equivalent"
    assert dict(config.electricity_overrides) == {} and dict(config.generation_factors) == {}
    assert config.period_for_year(2020) is None
    assert config.period_for_year(2025) is config.periods[0]
    assert config.period_for_year(2026) is None


def test_commented_examples_in_the_packaged_file_parse() -> None:
    text = resources.files("greenmon.accounting").joinpath("data/plan.toml").read_text("utf-8")
    # Uncomment every example line (a table header or a key = value) and parse the result.
    lines = [
        m.group(1) if (m := re.match(r"# ((\[|\w+ = ).*)$", line)) else line
        for line in text.splitlines()
    ]
    config = parse_config("\n".join(lines))
    assert [p.name for p in config.periods] == ["14th-FYP", "15th-FYP"]
    assert config.period_for_year(2025).name == "14th-FYP"  # type: ignore[union-attr]
    assert config.period_for_year(2026).name == "15th-FYP"  # type: ignore[union-attr]
    assert len(config.overrides) == 2
    assert config.price_index.lookup(2023, "chemicals") == 1.118
    assert dict(config.caps) == {("E001", 2025): 12000.0}
    assert electricity_method_for(config, "E9", "jiaozhou") == "generation"


def test_full_configuration() -> None:
    config = parse_config(FULL)
    assert [p.name for p in config.periods] == ["14th-FYP", "15th-FYP"]
    assert config.overrides == (
        TargetOverride("14th-FYP", "district", "xihaian", energy=0.15),  # Chinese name -> id
        TargetOverride("14th-FYP", "industry", "chemicals", co2=0.2),
        TargetOverride("15th-FYP", "enterprise", "E1", water=0.3),
    )
    assert dict(config.price_index.entries) == {(2023, "*"): 1.05, (2023, "chemicals"): 1.12}
    assert dict(config.caps) == {("E1", 2025): 12000.0}
    assert dict(config.generation_factors) == {
        2023: GenerationFactor(
            0.3, "NBS energy balance, coal consumption of thermal power supply 2023"
        )
    }


def test_targets_by_year_and_entity() -> None:
    config = parse_config(FULL)
    period, r = target_for(config, "energy", 2023, enterprise_id="E5", district="xihaian")
    assert period is not None and (period.name, r) == ("14th-FYP", 0.15)
    period, r = target_for(config, "co2", 2025, enterprise_id="E5", industry="chemicals")
    assert period is not None and (period.name, r) == ("14th-FYP", 0.2)
    period, r = target_for(config, "water", 2026, enterprise_id="E1", district="xihaian")
    assert period is not None and (period.name, r) == ("15th-FYP", 0.3)
    period, r = target_for(config, "energy", 2026, district="xihaian")  # 14th override only
    assert period is not None and (period.name, r) == ("15th-FYP", 0.10)
    assert target_for(config, "energy", 2020) == (None, None)
    assert target_for(config, "energy", 2031) == (None, None)


def test_electricity_method_most_specific_wins() -> None:
    config = parse_config(FULL)
    assert electricity_method_for(config, "E1", "xihaian") == "equivalent"  # default
    assert electricity_method_for(config, "E1", "jiaozhou") == "generation"  # district
    assert electricity_method_for(config, "E7", "jiaozhou") == "equivalent"  # enterprise
    assert electricity_method_for(config, "E1", None) == "equivalent"


def test_generation_factors_feed_the_factor_table() -> None:
    config = parse_config(FULL)
    table = FactorTable([*default_factors().all(), *generation_factor_rows(config)])
    # 1 000 000 kWh x 0.3 kgce/kWh / 1000 = 300 tce in 2023; the equivalent value gives 122.9.
    kwargs = {"grid_region": "shandong"}
    day = date(2023, 6, 1)
    gen = convert(table, Carrier.ELECTRICITY, 1e6, day, electricity_method="generation", **kwargs)
    eq = convert(table, Carrier.ELECTRICITY, 1e6, day, electricity_method="equivalent", **kwargs)
    assert (gen.energy_tce, eq.energy_tce) == (300.0, 122.9)
    # No factor is configured for 2024: missing, never a silent zero.
    later = convert(
        table, Carrier.ELECTRICITY, 1e6, date(2024, 1, 1), electricity_method="generation", **kwargs
    )
    assert later.energy_tce is None and "generation" in later.missing[0]


def test_a_gap_between_periods_has_no_target() -> None:
    text = PERIODS.replace("base_year = 2025\nend_year = 2030", "base_year = 2027\nend_year = 2030")
    config = parse_config(text)
    assert config.period_for_year(2026) is None
    assert config.period_for_year(2028).name == "15th-FYP"  # type: ignore[union-attr]


BAD = """
[[period]]
name = "14th-FYP"
base_year = 2020
end_year = 2025
energy = 1.0
co2 = -0.1
water = 0.16
source = ""

[[period]]
name = "overlapping"
base_year = 2024
end_year = 2028
energy = 0.1
co2 = 0.1
water = 0.1
source = "x"
colour = "red"

[[period]]
name = "backwards"
base_year = 2030
end_year = 2030
energy = 0.1
co2 = 0.1
water = 0.1
source = "x"

[[target]]
period = "13th-FYP"
scope = "district"
id = "atlantis"
energy = 0.1

[[target]]
period = "overlapping"
scope = "industry"
id = "steel"

[[target]]
period = "overlapping"
scope = "county"
id = "x"
co2 = 0.1

[[price_index]]
year = 2020
index = 1.1

[[cap]]
enterprise = "E1"
year = 2025
energy_tce = 0

[[electricity.generation_factor]]
year = 2023
kgce_per_kwh = 300

[[electricity.override]]
scope = "district"
id = "laixi"
method = "coal"

[periods]
"""


def test_every_problem_is_reported_at_once_naming_table_and_entry() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_config(BAD)
    message = str(caught.value)
    expected = [
        "unknown top-level key 'periods'",
        "[[period]] #1: energy = 1.0 is not a reduction in [0, 1)",
        "[[period]] #1: co2 = -0.1 is not a reduction in [0, 1)",
        "[[period]] #1: source = '' is not a non-empty string",
        "[[period]] #2: unknown key 'colour'",
        "[[period]] #3: base_year 2030 is not before end_year 2030",
        "[[target]] #1: period = '13th-FYP' is not a configured [[period]] name",
        "[[target]] #1: id = 'atlantis' is not a known district",
        "[[target]] #2: id = 'steel' is not a known industry",
        "[[target]] #2: sets none of energy, co2, water",
        "[[target]] #3: scope = 'county' is not one of district, industry, enterprise",
        "[[price_index]] #1: index 1.1 for 2020, but 2020 is 1.0 by definition",
        "[[cap]] #1: energy_tce = 0 is not a finite number > 0",
        "[[electricity.override]] #1: method = 'coal' is not one of equivalent, generation",
        "[[electricity.generation_factor]] #1: source is missing",
        "[[electricity.generation_factor]] #1: kgce_per_kwh = 300 is implausible",
    ]
    for text in expected:
        assert text in message, text
    assert message.startswith("accounting config refused:")


def test_overlapping_periods_are_refused() -> None:
    text = PERIODS.replace("base_year = 2025\nend_year = 2030", "base_year = 2024\nend_year = 2030")
    with pytest.raises(
        InvalidInput, match=r"'14th-FYP' \(2020-2025\) and '15th-FYP' \(2024-2030\)"
    ):
        parse_config(text)


def test_duplicates_are_refused() -> None:
    target = '\n[[target]]\nperiod = "14th-FYP"\nscope = "district"\nid = "jimo"\nenergy = 0.1\n'
    with pytest.raises(InvalidInput, match=r"\[\[target\]\] #2: repeats the target of district"):
        parse_config(PERIODS + target + target.replace('"jimo"', '"即墨区"'))
    with pytest.raises(InvalidInput, match="name '14th-FYP' repeats an earlier period"):
        parse_config(PERIODS + PERIODS.split("[[period]]")[1].join(["[[period]]", ""]))


def test_generation_selected_without_any_factor_is_refused() -> None:
    with pytest.raises(InvalidInput, match="method 'generation' is selected but no"):
        parse_config(PERIODS + '\n[electricity]\nmethod = "generation"\n')


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[[period]\nname=", "not valid TOML"),
        ("", "no plan period is configured"),
        ("period = 3", r"\[\[period\]\] must be an array of tables"),
    ],
)
def test_file_level_problems(text: str, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        parse_config(text)
