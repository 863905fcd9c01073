"""The evaluation commands against a real database: imports all-or-nothing, the 亩产效益
run on greenmon's stored yearly figures, EnPI fit/report, the SQL views, tenant isolation."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import psycopg
import pytest

from greenmon.accounting.rollup import months_between
from greenmon.domain.reference import Carrier, MeterKind
from greenmon.domain.registry import Enterprise, Meter, Registry
from greenmon.report import evaluation as report
from greenmon.settings import Settings
from greenmon.storage import db
from greenmon.storage.registry_store import upsert_registry
from tests.integration.conftest import run_cli
from tests.unit.test_evaluation_scoring import EXPECTED, FIGURES, INPUTS

pytestmark = pytest.mark.integration

IDS = ("E1", "E2", "E3", "E4", "E5")


def _registry() -> Registry:
    return Registry(
        tuple(Enterprise(e, f"Plant {e}", "jimo", "textiles_apparel") for e in IDS),
        tuple(Meter(f"{e}-M", e, Carrier.ELECTRICITY, "kWh", MeterKind.INTERVAL, 1e9)
              for e in IDS),
    )  # fmt: skip


@pytest.fixture
def settings(pipeline_settings: Settings) -> Settings:
    with db.connect(pipeline_settings) as conn:
        upsert_registry(conn, _registry())
    return pipeline_settings


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def _count(settings: Settings, table: str) -> int:
    with db.connect(settings) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def _store_figures(settings: Settings) -> None:
    """The hand-worked example's yearly figures as greenmon stores them (two months each,
    electricity as 15-minute rows) so the run must add them up."""
    with db.connect(settings) as conn, conn.transaction():
        for eid, f in FIGURES.items():
            for month in (date(2025, 3, 1), date(2025, 9, 1)):
                conn.execute(
                    "INSERT INTO value_added (enterprise_id, month, value_added, submitted, "
                    "price_basis, deflator, source) VALUES (%s, %s, %s, %s, 'constant_2020', "
                    "1, 'test')",
                    (eid, month, f.value_added / 2, f.value_added / 2),  # type: ignore[operator]
                )
                if f.co2_t is not None:  # E5 has no monthly totals at all: no CO2
                    conn.execute(
                        "INSERT INTO enterprise_month (enterprise_id, month, energy_tce, "
                        "excluded_tce, co2_t) VALUES (%s, %s, %s, 999, %s)",
                        (eid, month, f.energy_tce / 2, f.co2_t / 2),  # type: ignore[operator]
                    )
            for ts, share in ((datetime(2025, 5, 1, 3, tzinfo=UTC), 0.25),
                              (datetime(2025, 6, 1, 3, tzinfo=UTC), 0.75)):  # fmt: skip
                conn.execute(
                    "INSERT INTO consumption_15m (meter_id, interval_start, enterprise_id, "
                    "carrier, quantity, unit) VALUES (%s, %s, %s, 'electricity', %s, 'kWh')",
                    (f"{eid}-M", ts, eid, f.electricity_kwh * share),  # type: ignore[operator]
                )


def test_evaluation_import_and_run(settings: Settings, tmp_path: Path) -> None:
    header = "enterprise_id,year,land_mu,tax,revenue,rd_spend,employees,scale,exempt"
    bad = _write(tmp_path / "bad.csv", [
        header,
        "E1,2025,10,300,100,6,40,above,",
        "NOPE,2025,10,1,1,1,1,above,",
        "E2,20x5,0,-1,100,3,20,huge,",
        "E1,2025,10,300,100,6,40,above,",
    ])  # fmt: skip
    refused = run_cli(settings, "evaluation", "import", str(bad), check=False)
    assert refused.returncode == 1
    for part in ("line 3: enterprise_id 'NOPE' is not a registered enterprise",
                 "line 4: year '20x5'", "land_mu '0' must be above 0", "tax '-1' is negative",
                 "scale 'huge'", "line 5: E1 2025 repeats line 2"):  # fmt: skip
        assert part in refused.stderr, part
    assert _count(settings, "evaluation_inputs") == 0
    # E5 has no monthly totals: energy 100 tce would be missing too, so give the run the
    # hand example's figures exactly, except E5's CO2 which the example leaves out
    lines = [header] + [
        f"{i.enterprise_id},2025,{i.land_mu},{i.tax},{i.revenue},{i.rd_spend},{i.employees},"
        f"{i.scale},{i.exempt or ''}"
        for i in INPUTS
    ]
    run_cli(settings, "evaluation", "import", str(_write(tmp_path / "in.csv", lines)))
    _store_figures(settings)
    with db.connect(settings) as conn, conn.transaction():  # E5's energy without CO2
        for month in (date(2025, 3, 1), date(2025, 9, 1)):
            conn.execute("INSERT INTO enterprise_month (enterprise_id, month, energy_tce, co2_t) "
                         "VALUES ('E5', %s, 50, 0)", (month,))  # fmt: skip
    out = tmp_path / "result.csv"
    done = run_cli(settings, "evaluation", "run", "--year", "2025", "--out", str(out))
    assert "evaluated 5 enterprises for 2025: A 2, B 2, C 1, D 0" in done.stdout
    rows = {r["enterprise_id"]: r for r in csv.DictReader(io.StringIO(out.read_text()))}
    for eid, (total, rank, klass) in EXPECTED.items():
        assert float(rows[eid]["total"]) == pytest.approx(total, abs=1e-4), eid
        assert (int(rows[eid]["rank"]), rows[eid]["class"]) == (rank, klass), eid
    assert rows["E5"]["va_per_tco2"] == "" and "va_per_tco2: no data" in rows["E5"]["note"]
    assert float(rows["E1"]["tax_per_kwh"]) == pytest.approx(300 / 1e6)
    with db.connect(settings) as conn:
        sql = "SELECT enterprise_id, class FROM evaluation_results WHERE year = 2025"
        stored: dict[str, str] = dict(conn.execute(sql).fetchall())
    assert stored == {e: EXPECTED[e][2] for e in IDS}
    with db.connect(settings) as conn:
        section = report.section(conn, 2025)
        assert report.section(conn, 2025, district="laoshan").by_district == ()
    assert [(g.group, g.counts) for g in section.by_district] == [
        ("jimo", {"A": 2, "B": 2, "C": 1, "D": 0})]  # fmt: skip
    fragment = report.to_html(section)
    assert "No enterprise is in class D." in fragment and "<td>jimo</td>" in fragment


def test_production_and_weather_imports_are_all_or_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    bad = _write(tmp_path / "p.csv", [
        "enterprise_id,month,output,unit",
        "E1,2024-01,100,t",
        "E1,2024-13,100,t",
        "E2,2024-01,-5,t",
        "E1,2024-02,100,kg",
    ])  # fmt: skip
    refused = run_cli(settings, "production", "import", str(bad), check=False)
    assert refused.returncode == 1 and "2 error(s)" in refused.stderr
    assert "line 3: month '2024-13' has no month 13" in refused.stderr
    assert "line 4: output '-5' is negative" in refused.stderr
    assert _count(settings, "production_month") == 0
    unit = _write(tmp_path / "u.csv", ["enterprise_id,month,output,unit",
                                       "E1,2024-01,100,t", "E1,2024-02,100,kg"])  # fmt: skip
    refused = run_cli(settings, "production", "import", str(unit), check=False)
    assert "E1 unit 'kg', but its output is counted in 't'" in refused.stderr
    assert _count(settings, "production_month") == 0
    rows = ["date,mean_temp_c", "2024-01-01,3.5", "2024-02-30,1", "2024-01-02,99", "2024-01-01,4"]
    weather = _write(tmp_path / "w.csv", rows)
    refused = run_cli(settings, "weather", "import", str(weather), check=False)
    for part in ("line 3: date '2024-02-30'", "line 4: mean_temp_c '99'",
                 "line 5: 2024-01-01 repeats line 2"):  # fmt: skip
        assert part in refused.stderr, part
    assert _count(settings, "weather_day") == 0


def _baseline(settings: Settings, tmp_path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """E1: 2023-2024 baseline E = 500 + 2 P + 0.5 HDD + noise; 2025 H1 loses from April."""
    months = months_between(date(2023, 1, 1), date(2025, 6, 1))
    rng = np.random.default_rng(4)
    p = rng.uniform(200, 800, len(months))
    temps = {m: 18 - 10 * np.cos(2 * np.pi * (m.month - 1) / 12) for m in months}
    hdd = np.array([_month_hdd(m, temps[m]) for m in months])
    e = 500 + 2 * p + 0.5 * hdd + rng.normal(0, 10, len(months))
    e[-3:] += 150  # April-June 2025 use more than the baseline predicts
    weather = ["date,mean_temp_c"] + [f"{d},{temps[m]:.1f}" for m in months for d in _days(m)]
    production = ["enterprise_id,month,output,unit"] + [
        f"E1,{m:%Y-%m},{x:.6f},t" for m, x in zip(months, p, strict=True)
    ]
    run_cli(settings, "weather", "import", str(_write(tmp_path / "w.csv", weather)))
    run_cli(settings, "production", "import", str(_write(tmp_path / "p.csv", production)))
    with db.connect(settings) as conn, conn.transaction():
        for m, v in zip(months, e, strict=True):
            conn.execute("INSERT INTO enterprise_month (enterprise_id, month, energy_tce, "
                         "excluded_tce) VALUES ('E1', %s, %s, 77)", (m, float(v)))  # fmt: skip
    return p, hdd, e


def _days(m: date) -> list[date]:
    nxt = date(m.year + m.month // 12, m.month % 12 + 1, 1)
    return [date.fromordinal(o) for o in range(m.toordinal(), nxt.toordinal())]


def _month_hdd(m: date, t: float) -> float:
    return len(_days(m)) * max(0.0, 18 - round(t, 1))


def test_enpi_fit_report_and_views(settings: Settings, tmp_path: Path) -> None:
    p, hdd, e = _baseline(settings, tmp_path)
    fit = run_cli(settings, "enpi", "fit", "--enterprise", "E1", "--baseline-from", "2023-01",
                  "--baseline-to", "2024-12", "--variables", "output,hdd")  # fmt: skip
    assert "n = 24, p = 3" in fit.stdout and "model acceptable" in fit.stdout
    x = np.column_stack([np.ones(24), p[:24], hdd[:24]])
    beta, *_ = np.linalg.lstsq(x, e[:24], rcond=None)
    with db.connect(settings) as conn:
        row = conn.execute("SELECT b0, b_output, b_hdd, acceptable FROM enpi_models").fetchone()
        assert row is not None and row[3] is True
        assert row[:3] == pytest.approx(tuple(beta), rel=1e-6)
        view = conn.execute("SELECT month, savings_tce FROM enpi_savings ORDER BY 1").fetchall()
        dd = conn.execute("SELECT month, hdd FROM enpi_degree_days ORDER BY 1").fetchall()
    assert [h for _m, h in dd] == pytest.approx(list(hdd), abs=1e-6)
    report = run_cli(settings, "enpi", "report", "--enterprise", "E1", "--from", "2025-01",
                     "--to", "2025-06").stdout  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(report)))
    expected = np.column_stack([np.ones(6), p[24:], hdd[24:]]) @ beta
    savings = expected - e[24:]
    assert [float(r["expected_tce"]) for r in rows] == pytest.approx(list(expected), abs=1e-3)
    assert [float(r["cusum_tce"]) for r in rows] == pytest.approx(
        list(np.cumsum(savings)), abs=1e-3)  # fmt: skip
    assert [float(s) for _m, s in view] == pytest.approx(list(savings), abs=1e-6)
    assert all(float(r["savings_tce"]) < 0 for r in rows[3:])


def test_unacceptable_model_is_stored_and_not_used_silently(
    settings: Settings, tmp_path: Path
) -> None:
    months = months_between(date(2024, 1, 1), date(2025, 2, 1))
    rng = np.random.default_rng(8)
    p = rng.uniform(100, 1000, len(months))
    e = 1000 + rng.normal(0, 300, len(months))  # no relation to output
    production = ["enterprise_id,month,output,unit"] + [
        f"E2,{m:%Y-%m},{x:.3f},t" for m, x in zip(months, p, strict=True)]  # fmt: skip
    run_cli(settings, "production", "import", str(_write(tmp_path / "p.csv", production)))
    with db.connect(settings) as conn, conn.transaction():
        for m, v in zip(months, e, strict=True):
            conn.execute("INSERT INTO enterprise_month (enterprise_id, month, energy_tce) "
                         "VALUES ('E2', %s, %s)", (m, float(v)))  # fmt: skip
    short = run_cli(settings, "enpi", "fit", "--enterprise", "E2", "--baseline-from", "2024-01",
                    "--baseline-to", "2024-11", check=False)  # fmt: skip
    assert short.returncode == 1 and "has 11 months; at least 12" in short.stderr
    fit = run_cli(settings, "enpi", "fit", "--enterprise", "E2", "--baseline-from", "2024-01",
                  "--baseline-to", "2024-12")  # fmt: skip
    assert "model NOT acceptable: R2" in fit.stdout
    refused = run_cli(settings, "enpi", "report", "--enterprise", "E2", "--from", "2025-01",
                      "--to", "2025-02", check=False)  # fmt: skip
    assert refused.returncode == 1 and "is not acceptable" in refused.stderr
    shown = run_cli(settings, "enpi", "report", "--enterprise", "E2", "--from", "2025-01",
                    "--to", "2025-02", "--allow-unacceptable").stdout  # fmt: skip
    assert all(line.endswith("model_unacceptable") for line in shown.splitlines()[1:])


def test_tenants_read_only_their_own_evaluation_rows(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = ["enterprise_id,year,land_mu,tax,revenue,rd_spend,employees,scale"]
    lines += [f"{e},2025,10,100,100,1,10,below" for e in IDS]
    run_cli(settings, "evaluation", "import", str(_write(tmp_path / "in.csv", lines)))
    run_cli(settings, "evaluation", "run", "--year", "2025")
    production = ["enterprise_id,month,output,unit"] + [f"{e},2025-01,5,t" for e in IDS]
    run_cli(settings, "production", "import", str(_write(tmp_path / "p.csv", production)))
    with db.connect(settings) as conn, conn.transaction():
        for eid in IDS:
            conn.execute(
                "INSERT INTO enpi_models (enterprise_id, variables, baseline_from, baseline_to, "
                "n, p, coefficients, ranges, r2, adj_r2, cv_rmse, nmbe, sse, mean_y, "
                "acceptable, b0, b_output) VALUES (%s, '{output}', '2024-01-01', '2024-12-01', "
                "12, 2, '[]', '{}', 0.9, 0.9, 0.1, 0, 1, 1, true, 1, 1)", (eid,))  # fmt: skip
            conn.execute("INSERT INTO enterprise_month (enterprise_id, month, energy_tce) "
                         "VALUES (%s, '2025-01-01', 3)", (eid,))  # fmt: skip
    role = f"ent_eval_{uuid.uuid4().hex[:6]}"
    password = "eval-tenant-1"  # noqa: S105 (a test role in a throwaway cluster)
    monkeypatch.setenv("EVAL_TENANT_PW", password)
    run_cli(settings, "tenants", "add", "E2", "--role", role, "--password-env", "EVAL_TENANT_PW")
    info = psycopg.conninfo.conninfo_to_dict(settings.database_dsn())
    info.update(user=role, password=password)
    with psycopg.connect(**info, autocommit=True) as conn:  # type: ignore[arg-type]
        for table in ("evaluation_inputs", "evaluation_results", "production_month",
                      "enpi_models", "enpi_savings"):  # fmt: skip
            ids = {r[0] for r in conn.execute(f"SELECT DISTINCT enterprise_id FROM {table}")}
            assert ids == {"E2"}, (table, ids)
        n = conn.execute("SELECT count(*) FROM evaluation_results WHERE enterprise_id = 'E1'")
        assert n.fetchone() == (0,)
