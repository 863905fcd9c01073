"""The evaluation's inputs, results, production, weather and EnPI models in the database."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from psycopg.types.json import Jsonb

from greenmon.accounting.evaluation_params import INDICATOR_KEYS
from greenmon.evaluation.degree_days import monthly
from greenmon.evaluation.enpi import Model, MonthData
from greenmon.evaluation.imports import ProductionRow
from greenmon.evaluation.regression import Coefficient, Fit
from greenmon.evaluation.scoring import EnterpriseInput, Scored, YearFigures
from greenmon.storage.db import Conn
from greenmon.storage.rollup_store import read_month_figures


def known_enterprises(conn: Conn) -> set[str]:
    return {str(r[0]) for r in conn.execute("SELECT enterprise_id FROM enterprises")}


def upsert_inputs(conn: Conn, rows: Iterable[EnterpriseInput], source: str) -> int:
    data = [(r.enterprise_id, r.year, r.land_mu, r.tax, r.revenue, r.rd_spend, r.employees,
             r.scale, r.exempt, source) for r in rows]  # fmt: skip
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO evaluation_inputs (enterprise_id, year, land_mu, tax, revenue, "
            "rd_spend, employees, scale, exempt, source) VALUES "
            "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (enterprise_id, year) DO "
            "UPDATE SET land_mu = EXCLUDED.land_mu, tax = EXCLUDED.tax, "
            "revenue = EXCLUDED.revenue, rd_spend = EXCLUDED.rd_spend, "
            "employees = EXCLUDED.employees, scale = EXCLUDED.scale, exempt = EXCLUDED.exempt, "
            "source = EXCLUDED.source, updated_at = now()",
            data,
        )
    return len(data)


def read_inputs(conn: Conn, year: int) -> list[EnterpriseInput]:
    rows = conn.execute(
        "SELECT enterprise_id, year, land_mu, tax, revenue, rd_spend, employees, scale, exempt "
        "FROM evaluation_inputs WHERE year = %s ORDER BY enterprise_id",
        (year,),
    ).fetchall()
    return [
        EnterpriseInput(str(r[0]), int(r[1]), r[2], r[3], r[4], r[5], r[6], r[7], r[8])
        for r in rows
    ]


def year_figures(conn: Conn, year: int, tz: ZoneInfo) -> dict[str, YearFigures]:
    """Value-added, energy (tce excl. feedstock), CO2 and electricity kWh of a year."""
    months = read_month_figures(conn, date(year, 1, 1), date(year, 12, 1))
    sums: dict[str, list[float | None]] = {}
    for (eid, _month), f in months.items():
        acc = sums.setdefault(eid, [None, None, None])
        if f.value_added is not None:
            acc[0] = (acc[0] or 0.0) + f.value_added
        acc[1] = (acc[1] or 0.0) + f.energy_tce
        acc[2] = (acc[2] or 0.0) + f.co2_t
    kwh: dict[str, float | None] = dict(
        conn.execute(
            "SELECT enterprise_id, sum(quantity * CASE unit WHEN 'MWh' THEN 1000 ELSE 1 END) "
            "FROM consumption_15m WHERE carrier = 'electricity' "
            "AND interval_start >= %s AND interval_start < %s GROUP BY 1",
            (_local_start(year, tz), _local_start(year + 1, tz)),
        ).fetchall()
    )
    out = {}
    for eid in set(sums) | set(kwh):
        va, tce, co2 = sums.get(eid, [None, None, None])
        e = kwh.get(eid)
        out[str(eid)] = YearFigures(va, tce, co2, None if e is None else float(e))
    return out


def _local_start(year: int, tz: ZoneInfo) -> datetime:
    return datetime(year, 1, 1, tzinfo=tz)


_RESULT_COLUMNS = (
    "enterprise_id, year, scale, " + ", ".join(INDICATOR_KEYS) + ", "
    + ", ".join(f"score_{k}" for k in INDICATOR_KEYS) + ", total, rank, class, note"
)  # fmt: skip


def save_results(conn: Conn, year: int, rows: Sequence[Scored]) -> int:
    """Replace the stored evaluation of ``year`` with ``rows``."""
    conn.execute("DELETE FROM evaluation_results WHERE year = %s", (year,))
    placeholders = ", ".join(["%s"] * (3 + 2 * len(INDICATOR_KEYS) + 4))
    with conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO evaluation_results ({_RESULT_COLUMNS}) VALUES ({placeholders})",
            [
                (r.enterprise_id, r.year, r.scale, *(r.indicators[k] for k in INDICATOR_KEYS),
                 *(r.scores[k] for k in INDICATOR_KEYS), r.total, r.rank, r.klass, r.note)
                for r in rows
            ],
        )  # fmt: skip
    return len(rows)


def production_units(conn: Conn) -> dict[str, str]:
    rows = conn.execute("SELECT DISTINCT enterprise_id, unit FROM production_month").fetchall()
    return {str(e): str(u) for e, u in rows}


def upsert_production(conn: Conn, rows: Iterable[ProductionRow], source: str) -> int:
    data = [(r.enterprise_id, r.month, r.output, r.unit, source) for r in rows]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO production_month (enterprise_id, month, output, unit, source) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (enterprise_id, month) DO UPDATE SET "
            "output = EXCLUDED.output, unit = EXCLUDED.unit, source = EXCLUDED.source, "
            "updated_at = now()",
            data,
        )
    return len(data)


def upsert_weather(conn: Conn, rows: Iterable[tuple[date, float]], source: str) -> int:
    data = [(d, t, source) for d, t in rows]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO weather_day (day, mean_temp_c, source) VALUES (%s, %s, %s) "
            "ON CONFLICT (day) DO UPDATE SET mean_temp_c = EXCLUDED.mean_temp_c, "
            "source = EXCLUDED.source, updated_at = now()",
            data,
        )
    return len(data)


def read_weather(conn: Conn, first: date, last: date) -> dict[date, float]:
    """Daily mean temperatures from the first day of ``first`` to the end of ``last``."""
    end = date(last.year + last.month // 12, last.month % 12 + 1, 1)
    rows = conn.execute(
        "SELECT day, mean_temp_c FROM weather_day WHERE day >= %s AND day < %s", (first, end)
    ).fetchall()
    return {r[0]: float(r[1]) for r in rows}


def month_energy_output(
    conn: Conn, enterprise_id: str, first: date, last: date
) -> dict[date, tuple[float | None, float | None]]:
    """(energy_tce excl. feedstock, output) per month first..last that has either."""
    rows = conn.execute(
        "SELECT COALESCE(m.month, p.month), m.energy_tce, p.output FROM "
        "(SELECT month, energy_tce FROM enterprise_month WHERE enterprise_id = %(e)s) m "
        "FULL OUTER JOIN (SELECT month, output FROM production_month "
        "WHERE enterprise_id = %(e)s) p ON p.month = m.month "
        "WHERE COALESCE(m.month, p.month) BETWEEN %(a)s AND %(b)s",
        {"e": enterprise_id, "a": first, "b": last},
    ).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def save_model(conn: Conn, model: Model) -> None:
    f = model.fit
    coefs = [{"name": c.name, "value": c.value, "std_error": c.std_error, "t": c.t,
              "p_value": c.p_value} for c in f.coefficients]  # fmt: skip
    ranges = {k: list(v) for k, v in model.ranges.items()}
    b = {c.name: c.value for c in f.coefficients}
    conn.execute(
        "INSERT INTO enpi_models (enterprise_id, variables, baseline_from, baseline_to, n, p, "
        "coefficients, ranges, r2, adj_r2, cv_rmse, nmbe, sse, mean_y, acceptable, failures, "
        "b0, b_output, b_hdd, b_cdd) VALUES "
        "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (enterprise_id) DO UPDATE SET variables = EXCLUDED.variables, "
        "baseline_from = EXCLUDED.baseline_from, baseline_to = EXCLUDED.baseline_to, "
        "n = EXCLUDED.n, p = EXCLUDED.p, coefficients = EXCLUDED.coefficients, "
        "ranges = EXCLUDED.ranges, r2 = EXCLUDED.r2, adj_r2 = EXCLUDED.adj_r2, "
        "cv_rmse = EXCLUDED.cv_rmse, nmbe = EXCLUDED.nmbe, sse = EXCLUDED.sse, "
        "mean_y = EXCLUDED.mean_y, acceptable = EXCLUDED.acceptable, "
        "failures = EXCLUDED.failures, b0 = EXCLUDED.b0, b_output = EXCLUDED.b_output, "
        "b_hdd = EXCLUDED.b_hdd, b_cdd = EXCLUDED.b_cdd, fitted_at = now()",
        (model.enterprise_id, list(model.variables), model.baseline_from, model.baseline_to,
         f.n, f.p, Jsonb(coefs), Jsonb(ranges), f.r2, f.adj_r2, f.cv_rmse, f.nmbe, f.sse,
         f.mean_y, model.acceptable, list(model.failures), *(b.get(k) for k in
         ("intercept", "output", "hdd", "cdd"))),
    )  # fmt: skip


def read_models(conn: Conn, enterprise_id: str | None = None) -> dict[str, Model]:
    rows = conn.execute(
        "SELECT enterprise_id, variables, baseline_from, baseline_to, n, p, coefficients, "
        "ranges, r2, adj_r2, cv_rmse, nmbe, sse, mean_y, failures FROM enpi_models "
        "WHERE %(e)s::text IS NULL OR enterprise_id = %(e)s",
        {"e": enterprise_id},
    ).fetchall()
    out = {}
    for r in rows:
        coefs = tuple(Coefficient(c["name"], c["value"], c["std_error"], c["t"], c["p_value"])
                      for c in _doc(r[6]))  # fmt: skip
        fit = Fit(int(r[4]), int(r[5]), coefs, r[12], r[8], r[9], r[10], r[11], r[13])
        ranges = {k: (float(v[0]), float(v[1])) for k, v in _doc(r[7]).items()}
        out[str(r[0])] = Model(str(r[0]), tuple(r[1]), r[2], r[3], fit, ranges, tuple(r[14]))
    return out


def _doc(value: object) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def months_data(
    conn: Conn, enterprise_id: str, months: Sequence[date], hdd_base: float, cdd_base: float
) -> list[MonthData]:
    """Energy, output and degree-days of each month (None where missing or incomplete)."""
    figures = month_energy_output(conn, enterprise_id, months[0], months[-1])
    dd = monthly(read_weather(conn, months[0], months[-1]), hdd_base, cdd_base)
    out = []
    for m in months:
        energy, output = figures.get(m, (None, None))
        d = dd.get(m)
        hdd = d.hdd if d is not None and d.complete else None
        cdd = d.cdd if d is not None and d.complete else None
        out.append(MonthData(m, energy, output, hdd, cdd))
    return out
