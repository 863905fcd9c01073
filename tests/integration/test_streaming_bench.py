"""The streaming benchmark's machinery, run briefly so it cannot rot.

A tiny run of ``benchmarks.streaming`` (its own throwaway services): both systems,
every mode, a few hundred readings. The counts asserted are the plan's (rate x
duration, the backlog, the batch readings), not the benchmark's own arithmetic.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import streaming

pytestmark = pytest.mark.integration

RATE, SECONDS, BACKLOG, BATCH = 200, 2, 400, 1000


def test_a_tiny_streaming_benchmark_stores_everything_and_reports(tmp_path: Path) -> None:
    args = ["--rates", str(RATE), "--duration", str(SECONDS), "--backlog", str(BACKLOG)]
    args += ["--batch", str(BATCH), "--batch-size", "100", "--idle", "1", "--idle-settle", "0"]
    args += ["--out", str(tmp_path)]
    assert streaming.main([*args, "--drain-timeout", "120"]) == 0
    doc = json.loads((tmp_path / "streaming.json").read_text())
    rows = {(r["system"], r["mode"]): r for r in doc["rows"]}
    expected = {"paced": RATE * SECONDS, "backlog": BACKLOG, "batch": BATCH}
    for system in ("reference", "greenmon"):
        assert rows[(system, "idle")]["idle_pct_of_core"]
        for mode, count in expected.items():
            row = rows[(system, mode)]
            if mode == "paced":  # a loaded machine may hold the generator back a little
                assert count * 0.5 <= row["published"] <= count, row
            else:
                assert row["published"] == count, row
            assert row["stored"] == row["published"], row
            assert row["lost"] == 0
            assert row["cpu_us_per_reading"] > 0
        paced = rows[(system, "paced")]
        assert paced["samples"] > 0 and paced["samples_missing"] == 0
        assert 0 < paced["p50_ms"] <= paced["p99_ms"]
    assert rows[("greenmon", "batch")]["messages"] == BATCH // 100
    greenmon_cpu = rows[("greenmon", "paced")]["cpu_s"]
    assert {"collector", "processor", "kafka", "mosquitto", "postgres", "generator"} <= set(
        greenmon_cpu
    )
    assert greenmon_cpu["collector"] > 0 and greenmon_cpu["postgres"] > 0
    assert set(rows[("reference", "paced")]["cpu_s"]) == {
        "sink",
        "mosquitto",
        "postgres",
        "generator",
    }
    table = (tmp_path / "streaming.md").read_text()
    assert "| reference | paced | 200 |" in table and "| greenmon | batch |" in table
