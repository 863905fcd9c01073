"""``greenmon status``: one entity's indicators against its plan, as a table for a person."""

from __future__ import annotations

from datetime import date
from typing import TextIO

from greenmon.accounting.projection import cap_burn, days_in_year, project_year_end
from greenmon.accounting.rollup import RollupRow, add_months
from greenmon.errors import InvalidInput
from greenmon.settings import Settings
from greenmon.storage import db
from greenmon.storage.rollup_store import query_rollups

UNITS = {"energy": "tce", "co2": "t CO2", "water": "m3"}


def _fmt(value: float | None, spec: str = ",.4f") -> str:
    return "—" if value is None else format(value, spec)


def _as_of(conn: db.Conn, year: int) -> date:
    """The last month of ``year`` with stored data (December for a year with none after)."""
    row = conn.execute(
        "SELECT max(month) FROM (SELECT month FROM enterprise_month UNION ALL "
        "SELECT month FROM value_added) m WHERE month >= make_date(%s, 1, 1) "
        "AND month < make_date(%s, 1, 1)",
        (year, year + 1),
    ).fetchone()
    return row[0] if row and row[0] is not None else date(year, 12, 1)


def print_status(entity: str, entity_id: str, year: int, settings: Settings, out: TextIO) -> int:
    with db.connect(settings) as conn:
        as_of = _as_of(conn, year)
        rows = [
            r
            for r in query_rollups(
                conn,
                months=[as_of],
                kinds=("ytd",),
                entities=(entity,),  # type: ignore[arg-type]
            )
            if r.entity_id == entity_id
        ]
        if not rows:
            raise InvalidInput(f"no {entity} {entity_id!r} in the registry")
        cap = None
        if entity == "enterprise":
            found = conn.execute(
                "SELECT energy_tce FROM energy_caps WHERE enterprise_id = %s AND year = %s",
                (entity_id, year),
            ).fetchone()
            cap = float(found[0]) if found else None
    _table(rows[0], as_of, cap, out)
    return 0


def _table(r: RollupRow, as_of: date, cap: float | None, out: TextIO) -> None:
    period = next(iter(r.indicators.values())).period
    out.write(
        f"{r.entity} {r.entity_id} — year to date through {as_of:%Y-%m}, "
        f"plan period {period or 'none'}\n"
    )
    out.write(f"value-added: {_fmt(r.value_added, ',.2f')} x10^4 CNY (constant 2020 prices)\n")
    out.write(f"excluded energy (feedstock, new renewable): {_fmt(r.excluded_tce)} tce\n\n")
    head = ("indicator", "quantity", "intensity", "baseline", "reduction", "target",
            "trajectory", "margin", "status")  # fmt: skip
    out.write("{:<10}{:>16}{:>12}{:>12}{:>11}{:>9}{:>12}{:>9}  {}\n".format(*head))
    for name, s in r.indicators.items():
        out.write(
            f"{name:<10}{_fmt(s.quantity, ',.3f'):>16}{_fmt(s.intensity, '.5f'):>12}"
            f"{_fmt(s.baseline_intensity, '.5f'):>12}{_fmt(s.reduction, '.2%'):>11}"
            f"{_fmt(s.target_reduction, '.1%'):>9}{_fmt(s.trajectory, '.5f'):>12}"
            f"{_fmt(s.margin, '+.1%'):>9}  {s.status}\n"
        )
    out.write("(intensity per 10^4 CNY; quantities in tce, t CO2, m3)\n")
    if r.reason:
        out.write(f"note: {r.reason}\n")
    out.write(f"overall: {r.status}\n")
    if r.entity == "enterprise" and r.energy_tce is not None:
        end = add_months(as_of, 1)
        elapsed = (end - date(as_of.year, 1, 1)).days
        total = days_in_year(as_of.year)
        projection = project_year_end(r.energy_tce, elapsed, total)
        out.write(f"\nyear-end projection at this pace: {projection:,.3f} tce\n")
        if cap is not None:
            burn = cap_burn(r.energy_tce, cap, elapsed, total)
            out.write(
                f"energy cap {cap:,.3f} tce: {burn.share_of_cap_used:.1%} used after "
                f"{burn.share_of_year_elapsed:.1%} of the year (burn rate {burn.burn_rate:.2f}); "
                f"projected overrun {burn.projected_overrun:,.3f} tce\n"
            )
