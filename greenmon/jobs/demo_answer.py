"""How the demo ends: the answer an energy inspector asks for, checked against the truth.

Once every reading is stored, the processor has refreshed the roll-ups and the alerts
service has judged them, the demo prints the city's and each district's year-to-date
table (the three binding indicators per unit of value-added against the plan), the
enterprises behind their trajectory and the alerts that fired, and writes the city's
monthly HTML report. Every intensity, reduction and status it shows is compared with
:mod:`greenmon.feeds.intensity_truth` (pandas, apart from greenmon's accounting).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TextIO

import pandas as pd

from greenmon.accounting.rollup import RollupRow
from greenmon.domain.reference import DISTRICTS
from greenmon.domain.registry import Registry
from greenmon.errors import ServiceError
from greenmon.feeds.intensity_truth import INDICATORS, ytd_truth
from greenmon.jobs.demo_economics import DemoEconomics, run_cli
from greenmon.settings import Settings
from greenmon.storage import db
from greenmon.storage.rollup_store import query_rollups

REL_TOL = 1e-9
RULES = {"energy": "energy-behind-target", "co2": "co2-behind-target",
         "water": "water-behind-target"}  # fmt: skip
UNITS = {"energy": "tce", "co2": "t CO2", "water": "m3"}


def demo_settings(settings: Settings, run_id: str) -> Settings:
    """The alerts service's topic and group of this run; quick ticks and refreshes."""
    return settings.model_copy(
        update={
            "topic_windows": f"greenmon.windows.demo-{run_id}",
            "alerts_group": f"greenmon-alerts-demo-{run_id}",
            "alerts_tick_s": 1.0,
            "rollup_refresh_s": 2.0,
        }
    )


@dataclass
class Answer:
    rows: list[RollupRow]  # ytd rows of every entity through the last simulated month
    truth: pd.DataFrame
    firing: list[tuple[str, str, str, str | None, float | None, float | None]]
    names: dict[str, str]


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None or math.isnan(value) else format(value, spec)


def expected_alerts(truth: pd.DataFrame) -> set[str]:
    """Fingerprints of the enterprise alerts the truth says must fire."""
    behind = truth[(truth["entity"] == "enterprise") & (truth["status"] == "behind")]
    return {
        f"{RULES[str(i)]}/enterprise/{e}"
        for e, i in zip(behind["entity_id"], behind["indicator"], strict=True)
    }


def wait_refreshed(settings: Settings, timeout: float) -> None:
    """Wait for the processor's own roll-up and quality refresh after the last reading.

    The processor books batches and refreshes the roll-ups one after the other, so a
    refresh whose transaction began after the newest reading was stored has seen them all.
    """
    deadline = time.monotonic() + timeout
    with db.connect(settings, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT (SELECT max(computed_at) FROM rollups WHERE entity = 'city') > "
                "(SELECT max(stored_at) FROM readings)"
            ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.5)
    raise ServiceError(f"the processor did not refresh the roll-ups within {timeout:.0f} s")


def wait_alerts(settings: Settings, expected: set[str], timeout: float) -> None:
    """Wait until every alert in ``expected`` fires and none is pending (ServiceError if not)."""
    deadline = time.monotonic() + timeout
    firing: set[str] = set()
    with db.connect(settings, autocommit=True) as conn:
        while time.monotonic() < deadline:
            rows = conn.execute("SELECT fingerprint, state FROM alert_state").fetchall()
            firing = {str(r[0]) for r in rows if r[1] == "firing"}
            pending = [r for r in rows if r[1] == "pending"]
            if expected <= firing and not pending:
                time.sleep(2 * settings.alerts_tick_s)  # a tick more: nothing else to fire
                return
            time.sleep(0.5)
    missing = ", ".join(sorted(expected - firing))
    raise ServiceError(f"alerts expected from the truth did not fire in {timeout:.0f} s: {missing}")


def gather(settings: Settings, registry: Registry, e: DemoEconomics, truth: pd.DataFrame) -> Answer:
    with db.connect(settings) as conn:
        rows = list(
            query_rollups(conn, months=[e.as_of], kinds=("ytd",),
                          entities=("enterprise", "district", "industry", "city"))
        )  # fmt: skip
        firing = conn.execute(
            "SELECT rule_id, scope, entity_id, enterprise_id, value, threshold FROM alert_state "
            "WHERE state = 'firing' ORDER BY scope, entity_id, rule_id"
        ).fetchall()
    names = {x.enterprise_id: x.name for x in registry.enterprises}
    return Answer(rows, truth, [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in firing], names)


def compare(answer: Answer, out: TextIO) -> list[str]:
    """Every entity's intensity, reduction and status against the truth; the differences."""
    truth = {(r.entity, r.entity_id, r.indicator): r for r in answer.truth.itertuples()}
    problems = []
    for row in answer.rows:
        for indicator, s in row.indicators.items():
            t = truth.get((row.entity, row.entity_id, indicator))
            if t is None:
                problems.append(f"{row.entity} {row.entity_id}: not in the truth")
                continue
            for name, got, want in (("intensity", s.intensity, t.intensity),
                                    ("reduction", s.reduction, t.reduction)):  # fmt: skip
                if not _same(got, float(want)):  # type: ignore[arg-type]
                    problems.append(f"{row.entity} {row.entity_id} {indicator} {name}: "
                                    f"greenmon {got!r}, truth {want!r}")  # fmt: skip
            if s.status != t.status:
                problems.append(f"{row.entity} {row.entity_id} {indicator} status: "
                                f"greenmon {s.status}, truth {t.status}")  # fmt: skip
    checked = len(answer.rows) * len(INDICATORS)
    if problems:
        out.write(f"{len(problems)} differences from the simulator's truth:\n")
        out.writelines(f"  {p}\n" for p in problems)
    else:
        out.write(f"intensities, reductions and statuses match the simulator's truth "
                  f"({checked} entity-indicators, relative tolerance {REL_TOL:g})\n")  # fmt: skip
    return problems


def _same(got: float | None, want: float) -> bool:
    if got is None or math.isnan(want):
        return got is None and math.isnan(want)
    return math.isclose(got, want, rel_tol=REL_TOL, abs_tol=1e-12)


def print_tables(answer: Answer, e: DemoEconomics, out: TextIO) -> None:
    out.write(f"\nyear to date through {e.as_of:%Y-%m}, plan {e.period} "
              f"({e.plan.base_year} -> {e.plan.end_year}); {e.proration}\n")  # fmt: skip
    by_key = {(r.entity, r.entity_id): r for r in answer.rows}
    _table(by_key[("city", "city")], "city 青岛市 (all enterprises)", out)
    for district in sorted(d for (k, d) in by_key if k == "district"):
        _table(by_key[("district", district)], f"district {district} {DISTRICTS[district]}", out)


def _table(r: RollupRow, title: str, out: TextIO) -> None:
    out.write(f"\n== {title}: value-added {_fmt(r.value_added, ',.2f')} x10^4 CNY "
              f"(constant 2020 prices) ==\n")  # fmt: skip
    head = ("indicator", "quantity", "intensity", "baseline", "reduction", "target",
            "trajectory", "margin", "status")  # fmt: skip
    out.write("{:<10}{:>18}{:>11}{:>11}{:>11}{:>8}{:>12}{:>9}  {}\n".format(*head))
    for name, s in r.indicators.items():
        quantity = f"{_fmt(s.quantity, ',.2f')} {UNITS[name]}"
        out.write(
            f"{name:<10}{quantity:>18}{_fmt(s.intensity, '.5f'):>11}"
            f"{_fmt(s.baseline_intensity, '.5f'):>11}{_fmt(s.reduction, '.2%'):>11}"
            f"{_fmt(s.target_reduction, '.1%'):>8}{_fmt(s.trajectory, '.5f'):>12}"
            f"{_fmt(s.margin, '+.1%'):>9}  {s.status}\n"
        )
    if r.reason:
        out.write(f"  note: {r.reason}\n")


def print_behind(answer: Answer, out: TextIO) -> None:
    firing = {(str(f[2]), str(f[0])) for f in answer.firing}
    behind = [r for r in answer.rows if r.entity == "enterprise" and r.status == "behind"]
    out.write(f"\nenterprises behind their trajectory: {len(behind)}\n")
    for r in sorted(behind, key=lambda r: r.entity_id):
        parts = []
        for name, s in r.indicators.items():
            if s.status == "behind":
                alert = "alert firing" if (r.entity_id, RULES[name]) in firing else "NO ALERT"
                parts.append(f"{name} {_fmt(s.margin, '+.1%')} ({alert})")
        out.write(f"  {r.entity_id} {answer.names.get(r.entity_id, '')}: {', '.join(parts)}\n")
    without = [r.entity_id for r in answer.rows if r.entity == "enterprise"
               and all(s.baseline_intensity is None for s in r.indicators.values())]  # fmt: skip
    if without:
        out.write(f"new since the base year (no baseline intensity): {', '.join(without)}\n")


def print_alerts(answer: Answer, out: TextIO) -> None:
    out.write(f"\nalerts firing (rules in alert-rules.yaml, judged by the alerts service): "
              f"{len(answer.firing)}\n")  # fmt: skip
    for rule, scope, entity, enterprise, value, threshold in answer.firing:
        name = answer.names.get(enterprise or "", "") or DISTRICTS.get(entity, "")
        out.write(f"  {rule:<24}{scope:<11}{entity:<10}{name:<22} intensity "
                  f"{_fmt(value, '.5f')} > trajectory {_fmt(threshold, '.5f')}\n")  # fmt: skip


def city_report(settings: Settings, month: date, folder: Path) -> Path:
    path = folder / f"city-{month:%Y-%m}.html"
    run_cli(settings, ["report", "--entity", "city", "--month",
                       f"{month:%Y-%m}", "--out", str(path)])  # fmt: skip
    return path


def alerted_enterprises(answer: Answer) -> Iterable[str]:
    return sorted({str(f[3]) for f in answer.firing if f[3] is not None})


def conclude(
    settings: Settings, registry: Registry, e: DemoEconomics, folder: Path, out: TextIO
) -> int:
    """Print the answer, check it against the truth and write the city report; 1 on a difference."""
    truth = ytd_truth(e.quantities, e.value_added, e.baselines, registry, e.plan, e.as_of)
    wait_refreshed(settings, timeout=120)
    wait_alerts(settings, expected_alerts(truth), timeout=90)
    answer = gather(settings, registry, e, truth)
    print_tables(answer, e, out)
    print_behind(answer, out)
    print_alerts(answer, out)
    problems = compare(answer, out)
    path = city_report(settings, e.as_of, folder)
    out.write(f"\ncity report: {path}\n")
    return 1 if problems else 0
