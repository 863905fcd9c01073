"""Stored totals against the simulator's ground truth (used by the demo and the tests)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Final, TextIO

from greenmon.domain.reference import Carrier, unit_scale
from greenmon.feeds.truth import EnterpriseTotal
from greenmon.storage.db import Conn

REL_TOL: Final = 1e-9


@dataclass(frozen=True, slots=True)
class Mismatch:
    enterprise_id: str
    carrier: str
    expected: float
    stored: float | None


def stored_enterprise_totals(conn: Conn) -> dict[tuple[str, str], float]:
    """Stored consumption per (enterprise, carrier), in the carrier's canonical unit."""
    rows = conn.execute(
        "SELECT enterprise_id, carrier, unit, sum(quantity) FROM consumption_15m GROUP BY 1, 2, 3"
    ).fetchall()
    out: dict[tuple[str, str], float] = defaultdict(float)
    for enterprise_id, carrier, unit, quantity in rows:
        scale = unit_scale(Carrier(carrier), unit)
        if scale is None:
            raise ValueError(f"stored unit {unit!r} is not a unit of {carrier}")
        out[(enterprise_id, carrier)] += float(quantity) * scale
    return dict(out)


def relative_error(expected: float, actual: float) -> float:
    return abs(actual - expected) / max(abs(expected), 1e-12)


def compare_totals(
    truth: list[EnterpriseTotal], stored: dict[tuple[str, str], float], out: TextIO
) -> list[Mismatch]:
    """Print truth beside stored per enterprise and carrier; return what differs."""
    mismatches = []
    expected_keys = set()
    out.write(f"{'enterprise':<12}{'carrier':<13}{'unit':<6}{'truth':>18}{'stored':>20}  ok\n")
    for t in truth:
        key = (t.enterprise_id, t.carrier.value)
        expected_keys.add(key)
        expected = float(t.quantity)
        got = stored.get(key)
        ok = got is not None and relative_error(expected, got) <= REL_TOL
        shown = "missing" if got is None else f"{got:,.3f}"
        out.write(
            f"{t.enterprise_id:<12}{t.carrier.value:<13}{t.unit:<6}{expected:>18,.3f}"
            f"{shown:>20}  {'yes' if ok else 'NO'}\n"
        )
        if not ok:
            mismatches.append(Mismatch(t.enterprise_id, t.carrier.value, expected, got))
    for key in sorted(set(stored) - expected_keys):
        out.write(f"{key[0]:<12}{key[1]:<13}{'':<6}{'(none)':>18}{stored[key]:>20,.3f}  NO\n")
        mismatches.append(Mismatch(key[0], key[1], 0.0, stored[key]))
    verdict = "all totals match" if not mismatches else f"{len(mismatches)} totals differ"
    out.write(f"{verdict} (relative tolerance {REL_TOL:g})\n")
    return mismatches
