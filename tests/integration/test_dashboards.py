"""Every dashboard panel's, variable's and alert rule's SQL, run against a real TimescaleDB
filled by the pipeline, after expanding Grafana's macros as its PostgreSQL datasource does."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dashboards.build import catalog
from dashboards.common import CatalogEntry
from dashboards.macros import expand
from greenmon.storage import db
from tests.integration.dashboards_data import Filled, fill
from tests.plugins.services import LocalServices

pytestmark = pytest.mark.integration

ENTRIES = catalog()
SHARES = {"completeness", "on_track_share", "estimated_share", "cap_used"}


@pytest.fixture(scope="module")
def filled(
    local_services: LocalServices, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Filled]:
    yield from fill(local_services, tmp_path_factory.mktemp("dash"))


def variables(f: Filled) -> dict[str, str]:
    return {
        "district": f.district,
        "industry": f.industry,
        "enterprise": f.enterprise,
        "meter": f.meter,
    }


def expanded(entry: CatalogEntry, f: Filled) -> str:
    if entry.dashboard == "greenmon-pipeline":  # wall-clock data: stored just now
        now = datetime.now(UTC)
        span = (now - timedelta(hours=1), now + timedelta(minutes=5))
    else:
        span = (
            datetime(2025, 1, 1, tzinfo=f.settings.tz),
            datetime(2025, 2, 1, tzinfo=f.settings.tz),
        )
    return expand(
        entry.sql, time_from=span[0], time_to=span[1], interval="1h", variables=variables(f)
    )


def run(f: Filled, sql: str, role: str | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
    with db.connect(f.settings) as conn:
        if role:
            conn.execute(f"SET ROLE {role}")
        cur = conn.execute(sql)
        columns = [c.name for c in cur.description or []]
        return columns, cur.fetchall()


@pytest.mark.parametrize("entry", ENTRIES, ids=[f"{e.dashboard}:{e.title}" for e in ENTRIES])
def test_query_returns_expected_columns_and_plausible_values(
    filled: Filled, entry: CatalogEntry
) -> None:
    columns, rows = run(filled, expanded(entry, filled))
    assert tuple(columns) == entry.columns
    if entry.dashboard == "greenmon-enterprise" and entry.title == "annotation alerts":
        assert rows, "the alert transition recorded for the enterprise is not annotated"
    elif not entry.may_be_empty:
        assert rows, f"{entry.title}: no rows"
    for row in rows:
        for name, value in zip(columns, row, strict=True):
            if isinstance(value, float):
                assert math.isfinite(value), (name, value)
                if name in SHARES:
                    assert 0.0 <= value <= 1.0, (name, value)
                if name.endswith("intensity") or name in ("ytd_tce", "projected_tce"):
                    assert value >= 0, (name, value)


def test_chosen_meter_shows_reset_and_quarantine(filled: Filled) -> None:
    by_title = {e.title: e for e in ENTRIES if e.dashboard == "greenmon-meter"}
    _, events = run(filled, expanded(by_title["复位与翻转 Resets and rollovers"], filled))
    assert [e[1] for e in events] == ["reset"]
    _, quarantined = run(filled, expanded(by_title["隔离的增量 Quarantined deltas"], filled))
    assert len(quarantined) == 1 and quarantined[0][2] > 0


def test_city_overview_agrees_with_the_export(filled: Filled) -> None:
    from greenmon.storage.rollup_store import query_rollups

    stat = next(e for e in ENTRIES if e.dashboard == "greenmon-city" and e.columns == ("value",))
    _, rows = run(filled, expanded(stat, filled))
    with db.connect(filled.settings) as conn:
        city = next(
            iter(
                query_rollups(
                    conn, months=[datetime(2025, 1, 1).date()], kinds=("ytd",), entities=("city",)
                )
            )
        )
    assert rows[0][0] == pytest.approx(city.indicators["energy"].intensity, rel=1e-12)


def test_completeness_is_the_meters_present_over_expected_in_the_range(filled: Filled) -> None:
    """The city and district panels read the enterprises' daily sums; the share must be
    the one of the meters' own rows (summed here in Python) over January 2025."""
    with db.connect(filled.settings) as conn:
        rows = conn.execute(
            "SELECT q.enterprise_id, e.district, q.day, q.expected, q.present "
            "FROM meter_quality_daily q JOIN enterprises e USING (enterprise_id)"
        ).fetchall()
    january = [r for r in rows if datetime(2025, 1, 1).date() <= r[2] < datetime(2025, 2, 1).date()]
    assert january, "the filled database has no quality rows in January"
    for dashboard, keep in (("greenmon-city", lambda _r: True),
                            ("greenmon-district", lambda r: r[1] == filled.district)):  # fmt: skip
        picked = [r for r in january if keep(r)]
        expected = sum(r[4] for r in picked) / sum(r[3] for r in picked)
        entry = next(e for e in ENTRIES if e.dashboard == dashboard
                     and e.columns == ("completeness",))  # fmt: skip
        _, got = run(filled, expanded(entry, filled))
        assert got[0][0] == pytest.approx(expected, rel=1e-12), dashboard


def test_build_cli_writes_provisioning(filled: Filled, tmp_path: Path) -> None:
    from tests.integration.conftest import run_cli

    out = run_cli(filled.settings, "dashboards", "build", "--out", str(tmp_path)).stdout
    assert "greenmon-city.json" in out
    assert (tmp_path / "alerting" / "greenmon.yaml").exists()
