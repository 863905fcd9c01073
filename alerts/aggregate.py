"""Threshold rules above the meter: a live measure summed over an entity's meters. Pure.

A threshold rule with scope ``enterprise``, ``district``, ``industry`` or ``city``
watches, per 15-minute slot, the sum of the stored consumption of the entity's
meters that the rule matches (its *members*), in the carrier's canonical unit:

* ``demand_kw``: electricity meters' kWh in the slot / 0.25 h (the entity's demand);
* ``flow``: the matched carrier's canonical quantity / 0.25 h (e.g. m3/h of water);
* ``quantity``: the canonical quantity of the slot.

Meters report independently, so a slot's sum grows as their readings arrive. A
member is *settled* for a slot once it has a stored slot at or after it; a member
whose newest slot is older than :data:`GRACE` before the slot is *out* (a silent
meter, which the silent-meter rule reports) and is left out of the sum; any other
member is still *due*. With a member due, the sum is only a lower bound
(consumption is never negative), so only what a lower bound proves is observed:
an ``above`` rule may fire on it but neither holds nor clears, and a ``below`` rule
may clear on it but not fire. So an entity's alert neither fires late because one
meter is slow, nor clears early on half a slot, nor stays stuck on a dead meter.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from alerts.checks import SLOT, Candidate
from alerts.engine import Observation
from alerts.rules import Level, Rule
from alerts.store import MeterInfo
from greenmon.domain.reference import CANONICAL_UNIT, Carrier, unit_scale
from greenmon.domain.windows import SLOT_H

#: a member whose newest slot is this much older than the slot is out (silent)
GRACE = timedelta(hours=1)
#: per rule and entity, at most this many of a batch's newest slots are evaluated
MAX_SLOTS = 96
AGGREGATE_SCOPES = ("enterprise", "district", "industry", "city")


def entity_of(scope: str, info: MeterInfo) -> str:
    """The entity of ``scope`` a meter belongs to."""
    if scope == "enterprise":
        return info.enterprise_id
    if scope == "district":
        return info.district
    if scope == "industry":
        return info.industry
    return "city"


def _scale(rule: Rule, info: MeterInfo) -> float | None:
    """Multiplier from a meter's unit to the rule's summed unit, None if not a member."""
    t = rule.threshold
    assert t is not None
    if not rule.applies(enterprise=info.enterprise_id, meter=info.meter_id, carrier=info.carrier):
        return None
    wanted = "electricity" if t.measure == "demand_kw" else rule.match.carrier[0]
    if info.carrier != wanted:
        return None
    return unit_scale(Carrier(wanted), info.unit)


def _unit(rule: Rule) -> str:
    t = rule.threshold
    assert t is not None
    if t.measure == "demand_kw":
        return "kW"
    canonical = CANONICAL_UNIT[Carrier(rule.match.carrier[0])]
    return f"{canonical}/h" if t.measure == "flow" else canonical


@dataclass(frozen=True)
class Request:
    """One rule on one entity: its members and the slots a batch touched."""

    rule: Rule
    entity_id: str
    members: dict[str, float]  # meter -> multiplier to the summed unit
    slots: tuple[datetime, ...]


def aggregate_rules(rules: Iterable[Rule]) -> list[Rule]:
    return [r for r in rules if r.threshold is not None and r.scope in AGGREGATE_SCOPES]


def requests(
    rules: Iterable[Rule], touched: Iterable[tuple[str, datetime]], meters: Mapping[str, MeterInfo]
) -> list[Request]:
    """What to read for the aggregate rules that a batch of (meter, slot) windows touches."""
    out = []
    touched = list(touched)
    for rule in aggregate_rules(rules):
        members: dict[str, dict[str, float]] = defaultdict(dict)
        for meter_id, info in meters.items():
            scale = _scale(rule, info)
            if scale is not None:
                members[entity_of(rule.scope, info)][meter_id] = scale
        slots: dict[str, set[datetime]] = defaultdict(set)
        for meter_id, slot in touched:
            known = meters.get(meter_id)
            entity = entity_of(rule.scope, known) if known is not None else None
            if entity is not None and meter_id in members.get(entity, {}):
                slots[entity].add(slot)
        for entity_id, entity_slots in sorted(slots.items()):
            newest = tuple(sorted(entity_slots)[-MAX_SLOTS:])
            out.append(Request(rule, entity_id, members[entity_id], newest))
    return out


def missing(
    reqs: Iterable[Request], stored: Mapping[tuple[str, datetime], float]
) -> tuple[list[str], datetime | None]:
    """Members without a stored row in a requested slot (their newest slot decides whether
    they are due, settled or out), and the oldest requested slot."""
    absent: set[str] = set()
    oldest: datetime | None = None
    for req in reqs:
        for slot in req.slots:
            oldest = slot if oldest is None or slot < oldest else oldest
            absent.update(m for m in req.members if (m, slot) not in stored)
    return sorted(absent), oldest


def observe(
    request: Request,
    slot: datetime,
    stored: Mapping[tuple[str, datetime], float],
    newest: Mapping[str, datetime | None],
) -> Observation | None:
    """The observation of one slot, or None when a partial sum proves nothing."""
    t = request.rule.threshold
    assert t is not None
    total, due = 0.0, False
    for meter_id, scale in request.members.items():
        quantity = stored.get((meter_id, slot))
        if quantity is not None:
            total += quantity * scale
            continue
        last = newest.get(meter_id)
        if last is not None and slot - GRACE <= last < slot:
            due = True  # may still report this slot; settled or out otherwise
    value = total / SLOT_H if t.measure in ("demand_kw", "flow") else total
    level: Level = t.level(value)
    if due and level != ("fire" if t.above is not None else "clear"):
        return None
    return Observation(level, slot + SLOT, value, t.fire_at, slot)


def candidates(
    reqs: Iterable[Request],
    stored: Mapping[tuple[str, datetime], float],
    newest: Mapping[str, datetime | None],
) -> list[Candidate]:
    """Observations of each requested slot, oldest first per rule and entity."""
    out = []
    for req in reqs:
        t = req.rule.threshold
        assert t is not None
        enterprise = req.entity_id if req.rule.scope == "enterprise" else None
        for slot in req.slots:
            obs = observe(req, slot, stored, newest)
            if obs is not None:
                out.append(Candidate(req.rule, req.rule.scope, req.entity_id, enterprise, obs,
                                     t.measure, _unit(req.rule)))  # fmt: skip
    return out
