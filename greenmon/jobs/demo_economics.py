"""The demo's economics: value-added, 2020 baselines and alert rules, loaded as a user would.

The simulated economics (:mod:`greenmon.feeds.economics`) are written to CSV files and
loaded with ``greenmon value-added import``, ``greenmon baseline import`` and
``greenmon alerts rules load`` run as commands against the demo database. A simulation
shorter than its months books each month's value-added pro-rated over the days it
covers, and says so.
"""

from __future__ import annotations

import calendar
import csv
import io
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path

import pandas as pd

from greenmon.domain.registry import Registry
from greenmon.errors import ServiceError
from greenmon.feeds import economics as econ
from greenmon.feeds.intensity_truth import BaseYear, Plan, monthly_quantities
from greenmon.feeds.truth import TruthRow, truth_rows
from greenmon.jobs.runner import settings_env
from greenmon.settings import Settings
from greenmon.storage import db
from greenmon.storage.accounting_store import read_plan


@dataclass(frozen=True)
class DemoEconomics:
    """What the demo filed, and what the truth needs to check it."""

    plan: Plan
    period: str
    quantities: pd.DataFrame  # truth: tce, t CO2, m3 per enterprise and month
    value_added: dict[tuple[str, date], float]  # as filed (pro-rated)
    baselines: dict[str, BaseYear]
    stories: dict[str, econ.Story]
    as_of: date  # the last month the simulation covers
    proration: str  # one sentence: what was done about partial months


def plan_for(settings: Settings, year: int) -> tuple[str, Plan]:
    """The configured plan period that covers ``year`` (the demo's database has the default)."""
    with db.connect(settings) as conn:
        periods = read_plan(conn).periods
    for p in periods:
        if p.base_year < year <= p.end_year:
            reductions = {"energy": p.reductions.energy, "co2": p.reductions.co2,
                          "water": p.reductions.water}  # fmt: skip
            return p.name, Plan(p.base_year, p.end_year, reductions)
    raise ServiceError(f"no configured plan period covers {year}")


def simulate(
    settings: Settings, registry: Registry, truth: list[TruthRow], start: date, days: int,
    seed: int,
) -> DemoEconomics:  # fmt: skip
    """Draw the economics of the simulated span (deterministic from the seed)."""
    period, plan = plan_for(settings, start.year)
    quantities = monthly_quantities(truth, registry, settings.grid_region)
    monthly: dict[tuple[str, date], float] = {}
    for year in sorted({m.year for m in econ.covered_days(start, days)}):
        monthly.update(econ.monthly_value_added(registry, seed, year))
    filed = econ.covered_value_added(monthly, start, days)
    span = quantities.groupby("enterprise_id")[["energy_tce", "co2_t", "water_m3"]].sum()
    span_q = {str(e): {str(k): float(v) for k, v in row.items()} for e, row in span.iterrows()}
    span_va: dict[str, float] = {}
    for (e, _m), v in filed.items():
        span_va[e] = span_va.get(e, 0.0) + v
    drawn = econ.economics(registry, seed, span_q, span_va, monthly, plan)
    covered = econ.covered_days(start, days)
    return DemoEconomics(
        plan=plan,
        period=period,
        quantities=quantities,
        value_added=filed,
        baselines={e: x.baseline for e, x in drawn.items()},
        stories={e: x.story for e, x in drawn.items()},
        as_of=max(covered),
        proration=_proration(covered),
    )


def _proration(covered: dict[date, int]) -> str:
    parts = []
    for month, n in sorted(covered.items()):
        whole = calendar.monthrange(month.year, month.month)[1]
        parts.append(f"{month:%Y-%m}: {n} of {whole} days ({n / whole:.1%})")
    partial = any(n < calendar.monthrange(m.year, m.month)[1] for m, n in covered.items())
    how = (
        "value-added pro-rated over the simulated days of each month"
        if partial
        else "whole months of value-added (every month fully simulated)"
    )
    return f"{how}: {'; '.join(parts)}"


def value_added_csv(e: DemoEconomics) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(("enterprise_id", "month", "value_added", "price_basis"))
    for (enterprise, month), value in sorted(e.value_added.items()):
        w.writerow((enterprise, f"{month:%Y-%m}", repr(value), "constant_2020"))
    return out.getvalue()


def baseline_csv(e: DemoEconomics) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(("enterprise_id", "energy_tce", "co2_t", "water_m3", "value_added", "period"))
    for enterprise, b in sorted(e.baselines.items()):
        w.writerow((enterprise, repr(b.energy_tce), repr(b.co2_t), repr(b.water_m3),
                    repr(b.value_added), e.period))  # fmt: skip
    return out.getvalue()


def rules_file() -> str:
    return resources.files("greenmon.jobs").joinpath("data/demo_rules.yaml").read_text("utf-8")


def load(settings: Settings, e: DemoEconomics, folder: Path) -> None:
    """Write the files and load them with greenmon's own commands, as a user would."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "value-added.csv": value_added_csv(e),
        "baselines.csv": baseline_csv(e),
        "alert-rules.yaml": rules_file(),
    }
    for name, text in files.items():
        (folder / name).write_text(text, "utf-8")
    stories = list(e.stories.values())
    counts = {s: stories.count(s) for s in ("on_track", "behind", "new")}
    print(
        f"simulated economics ({folder}): {counts['on_track']} plants ahead of the plan, "
        f"{counts['behind']} behind, {counts['new']} new since {e.plan.base_year} (no baseline)"
    )
    print(f"  {e.proration}")
    for command in (
        ["value-added", "import", str(folder / "value-added.csv")],
        ["baseline", "import", str(folder / "baselines.csv")],
        ["alerts", "rules", "load", str(folder / "alert-rules.yaml")],
    ):
        run_cli(settings, command)


def run_cli(settings: Settings, command: list[str]) -> str:
    """``greenmon COMMAND`` against ``settings``; its output is shown, a failure raised."""
    done = subprocess.run(
        [sys.executable, "-m", "greenmon.cli", *command],
        env={**os.environ, **settings_env(settings)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise ServiceError(f"`greenmon {' '.join(command)}` failed:\n{done.stderr[-2000:]}")
    for line in done.stdout.splitlines():
        print(f"  $ greenmon {command[0]} {command[1]}: {line}")
    return done.stdout


def prepare(
    settings: Settings, registry: Registry, start: date, days: int, interval_s: int, seed: int,
    folder: Path,
) -> DemoEconomics:  # fmt: skip
    """Simulate the span's economics and load them into the demo database."""
    truth = truth_rows(registry, start, days, interval_s, seed, settings.tz)
    e = simulate(settings, registry, truth, start, days, seed)
    load(settings, e, folder)
    return e
