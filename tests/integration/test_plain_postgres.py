"""greenmon on plain PostgreSQL, without TimescaleDB: ordinary tables, same numbers."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from greenmon.feeds.fleet import build_registry
from greenmon.feeds.publisher import publish
from greenmon.feeds.simulator import generate
from greenmon.feeds.truth import truth_rows
from greenmon.local.ports import free_port
from greenmon.local.postgres import (
    create_database,
    init_cluster,
    local_dsn,
    start_postgres,
    stop_postgres,
)
from greenmon.settings import Settings
from greenmon.storage import db
from greenmon.storage.migrate import migrate
from tests.integration.conftest import Pipeline

pytestmark = pytest.mark.integration


@pytest.fixture
def plain_postgres() -> Iterator[str]:
    root = Path(tempfile.mkdtemp(prefix="greenmon-plainpg-"))
    root.chmod(0o755)
    data, port = root / "pg", free_port()
    try:
        init_cluster(data, port, fast=True, timescaledb=False)
        start_postgres(data, port)
        create_database(local_dsn(port), "greenmon")
        yield f"postgresql://greenmon@127.0.0.1:{port}/greenmon"
    finally:
        stop_postgres(data)
        shutil.rmtree(root, ignore_errors=True)


def test_pipeline_on_plain_postgresql(
    plain_postgres: str, pipeline_settings: Settings, tmp_path: Path
) -> None:
    settings = pipeline_settings.model_copy(update={"database_url": plain_postgres})
    edition, applied = migrate(settings)
    assert edition.timescaledb is None and not edition.has_hypertables
    assert "without TimescaleDB" in edition.describe
    assert applied and applied[0] == "0001_foundation"
    with db.connect(settings) as conn:
        hyper = conn.execute(
            "SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'"
        ).fetchone()
    assert hyper == (0,)
    assert migrate(settings)[1] == []  # idempotent: nothing left to apply

    registry = build_registry(2, 3, 5)
    start = date(2025, 2, 1)
    readings = list(generate(registry, start, 1, 900, 5))
    pipeline = Pipeline(settings, tmp_path / "logs")
    try:
        pipeline.load_registry(registry)
        pipeline.start("processor")
        pipeline.start("collector")
        publish(readings, settings, client_id="plain-sim")
        assert pipeline.wait_stored(len(readings)) == len(readings), pipeline.logs()
        pipeline.wait_idle()
        rows = {r.id: r for r in pipeline.export("meter", "day", start, start)}
        for t in truth_rows(registry, start, 1, 900, 5):
            got = rows[t.meter_id].quantity
            assert got is not None
            assert abs(got - float(t.quantity)) <= 1e-9 * float(t.quantity)
    finally:
        pipeline.stop_all()
