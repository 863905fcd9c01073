"""The monthly report: self-contained HTML rendered by a real headless browser, equal to
the export's numbers; its tables as CSV."""

from __future__ import annotations

import csv
import html.parser
import io
import math
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import run_cli
from tests.integration.dashboards_data import Filled, fill
from tests.plugins.services import LocalServices
from tests.prerequisites import require

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


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


@pytest.mark.parametrize("entity", ["enterprise", "district"])
def test_report_equals_export_and_renders(filled: Filled, tmp_path: Path, entity: str) -> None:
    entity_id = filled.enterprise if entity == "enterprise" else filled.district
    out = tmp_path / "report.html"
    run_cli(
        filled.settings,
        "report",
        "--entity",
        entity,
        "--id",
        entity_id,
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
    assert page.count("<svg") >= 4
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
    if entity == "enterprise":
        assert "silent for 120 min" in page  # the month's alert
    require(CHROMIUM is not None, "chromium (a headless browser) is not installed")
    assert CHROMIUM is not None
    profile = tmp_path / "profile"
    done = subprocess.run(
        [
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            out.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "<svg" in done.stdout and "月度报告" in done.stdout
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    assert not console, console
    rendered = Cells()
    rendered.feed(done.stdout)
    assert rendered.values.keys() == cells.values.keys()
