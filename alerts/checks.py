"""From inputs (window results, arrivals, roll-ups, caps, quality) to observations. Pure.

Each function returns :class:`Candidate` s: an observation of one rule on one
entity, with what a message needs to name (measure, unit, meter).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from alerts.engine import Observation, fingerprint
from alerts.rules import Level, Rule
from alerts.store import MeterInfo
from greenmon.accounting.projection import days_elapsed, days_in_year, project_year_end
from greenmon.domain.windows import SLOT_H, demand_kw

SLOT = timedelta(minutes=15)


@dataclass(frozen=True)
class Candidate:
    rule: Rule
    scope: str
    entity_id: str
    enterprise_id: str | None
    obs: Observation
    measure: str
    unit: str = ""
    meter_id: str | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule.id, self.scope, self.entity_id)


def _of(rules: Iterable[Rule], kind: str) -> list[Rule]:
    return [r for r in rules if r.kind == kind]


def threshold_candidates(
    rules: Iterable[Rule], window: Mapping[str, object], total: float | None
) -> list[Candidate]:
    """Threshold rules on one meter's 15-minute window (``total``: the slot's stored sum)."""
    meter, enterprise = str(window["meter_id"]), str(window["enterprise_id"])
    carrier, unit = str(window["carrier"]), str(window["unit"])
    start = datetime.fromisoformat(str(window["interval_start"]))
    quantity = total if total is not None else float(window["quantity"])  # type: ignore[arg-type]
    out = []
    for rule in _of(rules, "threshold"):
        t = rule.threshold
        assert t is not None
        if not rule.applies(enterprise=enterprise, meter=meter, carrier=carrier):
            continue
        if t.measure == "demand_kw":
            value, shown = demand_kw(carrier, unit, quantity), "kW"
            if value is None:
                continue
        elif t.measure == "flow":
            value, shown = quantity / SLOT_H, f"{unit}/h"
        else:
            value, shown = quantity, unit
        obs = Observation(t.level(value), start + SLOT, value, t.fire_at, start)
        out.append(Candidate(rule, "meter", meter, enterprise, obs, t.measure, shown, meter))
    return out


def silent_candidates(
    rules: Iterable[Rule], meters: Mapping[str, MeterInfo], arrivals: Mapping[str, datetime],
    now: datetime, stale: Mapping[str, datetime] | None = None,
) -> list[Candidate]:  # fmt: skip
    """Per meter that has reported: silent beyond the rule's span; per enterprise: several.

    A meter in ``stale`` (its Sparkplug node or device died after its last arrival) is
    silent at once: its source said so, there is nothing to wait for."""
    out = []
    stale = stale or {}
    for rule in _of(rules, "silent"):
        s = rule.silent
        assert s is not None
        silent_by_enterprise: dict[str, int] = defaultdict(int)
        seen_enterprises: set[str] = set()
        for meter_id in sorted(arrivals.keys() | stale.keys()):
            info = meters.get(meter_id)
            if info is None or not rule.applies(
                enterprise=info.enterprise_id, meter=meter_id, carrier=info.carrier
            ):
                continue
            seen_enterprises.add(info.enterprise_id)
            last = arrivals.get(meter_id) or stale[meter_id]
            dead = meter_id in stale and stale[meter_id] >= last
            silence = (now - last).total_seconds()
            level: Level = "fire" if silence > s.after_s or dead else "clear"
            silent_by_enterprise[info.enterprise_id] += level == "fire"
            obs = Observation(level, now, silence, s.after_s, last)
            out.append(
                Candidate(rule, "meter", meter_id, info.enterprise_id, obs, "silent_s", "s",
                          meter_id)
            )  # fmt: skip
        for enterprise in sorted(seen_enterprises):
            n = silent_by_enterprise[enterprise]
            level = "fire" if n >= s.enterprise_min_meters else "clear"
            obs = Observation(level, now, float(n), float(s.enterprise_min_meters), now)
            out.append(Candidate(rule, "enterprise", enterprise, enterprise, obs, "silent_meters"))
    return out


def target_candidates(
    rule: Rule, ytd: Iterable[tuple[str, date, float | None, float | None, float | None]],
    now: datetime,
) -> list[Candidate]:  # fmt: skip
    """Behind target: year-to-date intensity above trajectory x (1 + margin)."""
    b = rule.behind_target
    assert b is not None
    out = []
    for entity_id, _month, intensity, trajectory, _tce in ytd:
        if intensity is None or trajectory is None:
            continue  # no data or no target: nothing to say
        enterprise = entity_id if rule.scope == "enterprise" else None
        if enterprise is not None and not rule.applies(enterprise=enterprise):
            continue
        bound = trajectory * (1 + b.margin)
        level: Level = "fire" if intensity > bound else "clear"
        obs = Observation(level, now, intensity, bound, now)
        out.append(
            Candidate(rule, rule.scope, entity_id, enterprise, obs,
                      f"{b.indicator}_intensity_ytd", "per 10^4 CNY")
        )  # fmt: skip
    return out


def cap_candidates(
    rule: Rule, ytd: Iterable[tuple[str, date, float | None, float | None, float | None]],
    caps: Mapping[tuple[str, int], float], now: datetime, today: date,
) -> list[Candidate]:  # fmt: skip
    """Cap burn: the year-end projection at the year-to-date pace above the cap."""
    c = rule.cap_burn
    assert c is not None
    out = []
    for enterprise, month, _i, _t, tce in ytd:
        cap = caps.get((enterprise, month.year))
        if cap is None or tce is None or not rule.applies(enterprise=enterprise):
            continue
        # pace up to the end of the newest month with data (or today, within it)
        next_month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
        as_of = min(today, next_month - timedelta(days=1))
        elapsed = days_elapsed(as_of, month.year)
        if elapsed <= 0:
            continue
        projected = project_year_end(tce, elapsed, days_in_year(month.year))
        bound = cap * (1 + c.margin)
        level: Level = "fire" if projected > bound else "clear"
        obs = Observation(level, now, projected, bound, now)
        out.append(Candidate(rule, "enterprise", enterprise, enterprise, obs,
                             "projected_energy_tce", "tce"))  # fmt: skip
    return out


def quality_candidates(
    rule: Rule,
    quality: Iterable[tuple[str, str, date, float, int, int]],
    carriers: Mapping[str, str],
    now: datetime,
) -> list[Candidate]:
    """Data quality of each meter's newest complete day."""
    q = rule.data_quality
    assert q is not None
    out = []
    for meter, enterprise, _day, completeness, quarantined, resets in quality:
        if not rule.applies(enterprise=enterprise, meter=meter, carrier=carriers.get(meter)):
            continue
        checks: list[tuple[bool, str, float, float]] = []
        if q.completeness_below is not None:
            checks.append((completeness < q.completeness_below, "completeness", completeness,
                           q.completeness_below))  # fmt: skip
        if q.quarantined_above is not None:
            checks.append((quarantined > q.quarantined_above, "quarantined", float(quarantined),
                           float(q.quarantined_above)))  # fmt: skip
        if q.resets_above is not None:
            checks.append((resets > q.resets_above, "resets", float(resets),
                           float(q.resets_above)))  # fmt: skip
        bad = [c for c in checks if c[0]]
        _hit, measure, value, bound = (bad or checks)[0]
        obs = Observation("fire" if bad else "clear", now, value, bound, now)
        out.append(Candidate(rule, "meter", meter, enterprise, obs, measure, "", meter))
    return out


def savings_candidates(
    rule: Rule, savings: Iterable[tuple[str, date, float]], now: datetime
) -> list[Candidate]:
    """Savings negative: the newest months' savings (expected - actual energy, tce, of an
    acceptable EnPI model) below zero for ``months`` consecutive calendar months."""
    s = rule.savings_negative
    assert s is not None
    by_enterprise: dict[str, dict[date, float]] = defaultdict(dict)
    for enterprise, month, value in savings:
        by_enterprise[enterprise][month] = value
    out = []
    for enterprise, months in sorted(by_enterprise.items()):
        if not rule.applies(enterprise=enterprise):
            continue
        newest = max(months)
        streak, month = 0, newest
        while months.get(month, 0.0) < 0:
            streak += 1
            month = date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)
        level: Level = "fire" if streak >= s.months else "clear"
        obs = Observation(level, now, float(streak), float(s.months), now)
        out.append(Candidate(rule, "enterprise", enterprise, enterprise, obs,
                             "negative_savings_months", "months"))  # fmt: skip
    return out
