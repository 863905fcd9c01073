"""The monthly report: self-contained HTML rendered by a real headless browser, equal to
the export's numbers; its tables as CSV."""

from __future__ import annotations

import csv
import html
import html.parser
import io
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from greenmon.domain.reference import DISTRICTS
from tests.integration.browser import assert_readable, browser_check
from tests.integration.conftest import run_cli
from tests.integration.dashboards_data import Filled, fill
from tests.plugins.services import LocalServices

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def filled(
    local_services: LocalServices, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Filled]:
    yield from fill(local_services, tmp_path_factory.mktemp("report"))


class Cells(html.parser.HTMLParser):
    """data-value of every numeric cell, per table id and column."""

    def __init__(self) -> None:
        super().__init__()
        self.table = ""
        self.values: dict[tuple[str, str], list[float]] = {}
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self.table = a.get("id") or ""
        if tag == "td" and a.get("data-value") is not None:
            key = (self.table, a.get("data-col") or "")
            self.values.setdefault(key, []).append(float(a["data-value"] or "nan"))
        for name in ("src", "href"):
            if a.get(name):
                self.external.append(str(a[name]))


def assert_equals_export(filled: Filled, entity: str, entity_id: str, cells: Cells) -> None:
    """The month's intensities and reductions are the export's."""
    exported = run_cli(
        filled.settings,
        "export",
        "--entity",
        entity,
        "--period",
        "month",
        "--from",
        "2025-01-01",
        "--to",
        "2025-01-31",
    ).stdout
    row = next(r for r in csv.DictReader(io.StringIO(exported)) if r["id"] == entity_id)
    for i, name in enumerate(("energy", "co2", "water")):
        for column in ("intensity", "reduction"):
            want = row[f"{name}_{column}"]
            got = cells.values[("month", column)][i]
            assert (want == "" and math.isnan(got)) or got == pytest.approx(float(want), rel=1e-12)


def assert_names(filled: Filled, entity: str, entity_id: str, page: str, folder: Path) -> None:
    """The report names what it is about; the city's rankings put the furthest behind first."""
    registry = {e.enterprise_id: e for e in filled.registry.enterprises}
    if entity == "enterprise":
        assert "silent for 120 min" in page  # the month's alert
        assert registry[entity_id].name in page
    if entity == "district":
        assert DISTRICTS[entity_id] in page
    if entity == "city":
        tables = {p.stem for p in folder.glob("*.csv")}
        assert {"ranking_district", "ranking_industry", "members"} <= tables
        ranking = list(csv.DictReader(io.StringIO(
            (folder / "ranking_district.csv").read_text("utf-8"))))  # fmt: skip
        assert {r["district"] for r in ranking} == {e.district for e in registry.values()}
        worst = []
        for r in ranking:  # the furthest behind on any indicator first
            margins = [
                float(r[f"{i}_margin"]) for i in ("energy", "co2", "water") if r[f"{i}_margin"]
            ]
            worst.append(min(margins) if margins else math.inf)
            assert r["worst_margin"] == ("" if not margins else repr(min(margins)))
        assert worst == sorted(worst)


@pytest.mark.parametrize("entity", ["enterprise", "district", "city"])
def test_report_equals_export_and_renders(filled: Filled, tmp_path: Path, entity: str) -> None:
    entity_id = {"enterprise": filled.enterprise, "district": filled.district, "city": "city"}[
        entity
    ]
    out = tmp_path / "report.html"
    run_cli(
        filled.settings,
        "report",
        "--entity",
        entity,
        *(["--id", entity_id] if entity != "city" else []),
        "--month",
        "2025-01",
        "--out",
        str(out),
        "--csv",
        str(tmp_path / "csv"),
    )
    page = out.read_text("utf-8")
    cells = Cells()
    cells.feed(page)
    assert not cells.external, "the report must not load anything"
    assert page.count("<svg") >= 5
    assert_equals_export(filled, entity, entity_id, cells)
    tables = {p.stem for p in (tmp_path / "csv").glob("*.csv")}
    assert {
        "consumption",
        "month",
        "ytd",
        "trend",
        "projection",
        "quality",
        "alerts",
        "factors",
    } <= tables
    factors = (tmp_path / "csv" / "factors.csv").read_text("utf-8")
    assert "GB/T" in factors or "source" in factors.splitlines()[0]
    assert_names(filled, entity, entity_id, page, tmp_path / "csv")
    result = browser_check(out, tmp_path)
    assert "<svg" in result["dom"] and "月度报告" in result["dom"]
    assert_readable(result, charts=5)
    rendered = Cells()
    rendered.feed(result["dom"])
    assert rendered.values.keys() == cells.values.keys()


def test_browser_check_catches_missing_glyphs_and_empty_charts(tmp_path: Path) -> None:
    """The check fails a page whose Chinese text no font has, and a chart without data."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>'
        "<p>月度报告 \U000f0001\U000f0002</p>"  # two characters no font has
        '<svg width="200" height="100"><g id="gm-data-x"></g></svg></body></html>',
        "utf-8",
    )
    result = browser_check(page, tmp_path)
    assert result["probe"] and result["checked"] == 6
    assert result["missing"] == "\U000f0001\U000f0002"  # 月度报告 has its glyphs
    assert result["charts"] == [{"data": 0, "width": 200, "height": 100}]
    with pytest.raises(AssertionError, match="no glyph for"):
        assert_readable({**result, "checked": 11}, charts=1)
    with pytest.raises(AssertionError, match="draw no data"):
        assert_readable({**result, "checked": 11, "missing": ""}, charts=1)
