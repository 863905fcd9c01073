"""The truth of a simulation's intensities, computed apart from greenmon's accounting.

Plain arithmetic with pandas over the simulator's exact daily consumption
(:func:`greenmon.feeds.truth.truth_rows`), the value-added and the baselines the
simulation files: nothing here calls ``greenmon.accounting`` or the processor's
conversions. The factors are a second transcription of DESIGN.md (GB/T 2589-2020 standard
coal, GB/T 32150-2015 fuels, the MEE/NBS grid factors), so a wrong factor in the packaged
table or a wrong sum in the processor shows up as a difference.

The year-to-date figures of an entity (an enterprise, a district, an industry or the
city) are its members' summed quantities over their summed value-added; its base-year
intensity is its members' summed base-year totals over their summed base-year
value-added (a plant that did not operate in the base year adds zeros); the 2025
trajectory is ``I0 * (1 - r) ** ((year - base) / (end - base))``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Final

import pandas as pd

from greenmon.domain.registry import Registry
from greenmon.errors import InvalidInput
from greenmon.feeds.truth import TruthRow

INDICATORS: Final = ("energy", "co2", "water")
QUANTITY: Final = {"energy": "energy_tce", "co2": "co2_t", "water": "water_m3"}

#: kgce per canonical unit (kWh, MJ, kg, m3): GB/T 2589-2020 Annex A, electricity at its
#: equivalent value; steam is low-pressure steam, 3.763 MJ/kg x 0.03412 kgce/MJ.
KGCE: Final = {
    "electricity": 0.1229,
    "heat": 0.03412,
    "steam": 3.763 * 0.03412,
    "raw_coal": 0.7143,
    "diesel": 1.4571,
    "gasoline": 1.4714,
    "natural_gas": 1.2143,
}
#: kg CO2 per canonical unit for fuels and heat (GB/T 32150-2015; heat 0.11 t/GJ).
KGCO2: Final = {
    "natural_gas": 2.162,
    "raw_coal": 1.900,
    "diesel": 3.096,
    "gasoline": 2.925,
    "heat": 0.11,
    "steam": 0.11 * 3.763,
}
#: MEE/NBS grid factors, kg CO2/kWh: 2021, and 2022 (in force until a later year).
GRID: Final = {
    2021: {"national": 0.5568, "north_china": 0.7120, "shandong": 0.6838},
    2022: {"national": 0.5366, "north_china": 0.6776, "shandong": 0.6410},
}
#: multiplier from a registered unit to the carrier's canonical one
SCALE: Final = {"MWh": 1000.0, "t": 1000.0, "GJ": 1000.0}


def grid_factor(region: str, year: int) -> float:
    published = [y for y in GRID if y <= year]
    if not published or region not in GRID[max(published)]:
        raise InvalidInput(f"no grid factor for region {region!r} in {year} in the truth table")
    return GRID[max(published)][region]


@dataclass(frozen=True, slots=True)
class BaseYear:
    """An enterprise's base-year totals (all zero: it did not operate in the base year)."""

    energy_tce: float
    co2_t: float
    water_m3: float
    value_added: float


@dataclass(frozen=True, slots=True)
class Plan:
    base_year: int
    end_year: int
    reductions: Mapping[str, float]  # indicator -> cumulative reduction r


def monthly_quantities(rows: Iterable[TruthRow], registry: Registry, region: str) -> pd.DataFrame:
    """tce, t CO2 and m3 per enterprise and month (columns enterprise_id, month, ...)."""
    meters = pd.DataFrame(
        [(m.meter_id, m.enterprise_id, m.carrier.value, m.unit, bool(m.flags))
         for m in registry.meters],
        columns=["meter_id", "enterprise_id", "carrier", "unit", "excluded"],
    )  # fmt: skip
    days = pd.DataFrame(
        [(r.meter_id, r.day, r.quantity_milli / 1000.0) for r in rows],
        columns=["meter_id", "day", "quantity"],
    )
    df = days.merge(meters, on="meter_id", how="left", validate="many_to_one")
    if df["enterprise_id"].isna().any():
        raise InvalidInput("truth rows name meters that are not in the registry")
    df["month"] = df["day"].map(lambda d: d.replace(day=1))
    df["canonical"] = df["quantity"] * df["unit"].map(lambda u: SCALE.get(u, 1.0))
    grid = df["month"].map(lambda m: grid_factor(region, m.year))
    kgce = df["carrier"].map(lambda c: KGCE.get(c, 0.0)) * (~df["excluded"])
    kgco2 = (
        df["carrier"].map(lambda c: KGCO2.get(c, 0.0)).where(df["carrier"] != "electricity", grid)
    )
    df["energy_tce"] = df["canonical"] * kgce / 1000.0
    df["co2_t"] = df["canonical"] * kgco2 / 1000.0
    df["water_m3"] = df["canonical"].where(df["carrier"] == "water", 0.0)
    return (
        df.groupby(["enterprise_id", "month"], as_index=False)[list(QUANTITY.values())]
        .sum()
        .sort_values(["enterprise_id", "month"], ignore_index=True)
    )


def ytd_truth(
    quantities: pd.DataFrame,
    value_added: Mapping[tuple[str, date], float],
    baselines: Mapping[str, BaseYear],
    registry: Registry,
    plan: Plan,
    through: date,
) -> pd.DataFrame:
    """Year-to-date figures through ``through`` per entity: one row per entity and indicator.

    Columns: entity, entity_id, indicator, quantity, value_added, intensity, baseline,
    reduction, trajectory, status (``on_track``/``behind``; ``no_data`` where the
    base-year intensity is not > 0).
    """
    year = through.year
    q = quantities[(quantities["month"] >= date(year, 1, 1)) & (quantities["month"] <= through)]
    q = q.groupby("enterprise_id")[list(QUANTITY.values())].sum()
    va = (
        pd.Series(
            {e: v for (e, m), v in value_added.items() if date(year, 1, 1) <= m <= through},
            dtype=float,
        )
        .groupby(level=0)
        .sum()
    )
    base = pd.DataFrame(
        {e: (b.energy_tce, b.co2_t, b.water_m3, b.value_added) for e, b in baselines.items()},
        index=["base_energy_tce", "base_co2_t", "base_water_m3", "base_value_added"],
    ).T
    members = pd.DataFrame(
        [(e.enterprise_id, e.district, e.industry) for e in registry.enterprises],
        columns=["enterprise_id", "district", "industry"],
    ).set_index("enterprise_id")
    members = members.join(q).join(va.rename("value_added")).join(base).fillna(0.0)
    members["enterprise"] = members.index
    members["city"] = "city"
    frames = []
    for entity in ("enterprise", "district", "industry", "city"):
        sums = members.groupby(entity).sum(numeric_only=True)
        for indicator in INDICATORS:
            frames.append(_indicator(sums, entity, indicator, plan, year))
    return pd.concat(frames, ignore_index=True)


def _indicator(
    sums: pd.DataFrame, entity: str, indicator: str, plan: Plan, year: int
) -> pd.DataFrame:
    column = QUANTITY[indicator]
    r = plan.reductions[indicator]
    out = pd.DataFrame(
        {
            "entity": entity,
            "entity_id": sums.index,
            "indicator": indicator,
            "quantity": sums[column].to_numpy(),
            "value_added": sums["value_added"].to_numpy(),
        }
    )
    out["intensity"] = out["quantity"] / out["value_added"]
    base_q = sums[f"base_{column}"].to_numpy()
    base_va = sums["base_value_added"].to_numpy()
    baseline = pd.Series(base_q, dtype=float) / pd.Series(base_va, dtype=float).where(base_va > 0)
    out["baseline"] = baseline.where(baseline > 0)
    out["reduction"] = 1.0 - out["intensity"] / out["baseline"]
    share = (year - plan.base_year) / (plan.end_year - plan.base_year)
    out["trajectory"] = out["baseline"] * (1.0 - r) ** share
    out["status"] = "no_data"
    known = out["baseline"].notna() & out["intensity"].notna()
    out.loc[known, "status"] = (out["intensity"] > out["trajectory"]).map(
        {True: "behind", False: "on_track"}
    )[known]
    return out
