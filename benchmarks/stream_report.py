"""The streaming benchmark's summary: idle CPU, the printed table, the results files."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

from benchmarks.stream_measure import CpuMeter


def idle_cpu(target: Any, meter: CpuMeter, seconds: float, settle: float = 0.0) -> dict[str, Any]:
    """Per-process CPU, in % of one core, over ``seconds`` without traffic, measured after
    ``settle`` seconds (what the warm-up left, e.g. PostgreSQL's autovacuum, dies down)."""
    time.sleep(settle)
    meter.start()
    time.sleep(seconds)
    used = meter.stop()
    return {
        "system": target.name,
        "mode": "idle",
        "idle_pct_of_core": {n: round(100 * s / seconds, 1) for n, s in used.items()},
    }


def _fmt(value: Any, unit: str = "") -> str:
    return "—" if value is None else f"{value}{unit}"


def table_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The results as a Markdown table (one line per system and phase)."""
    head = (
        "| system | mode | offered/s | published (rate/s) | stored | lost | stored/s | drain s "
        "| p50 / p99 ms | CPU s by process | CPU-µs/reading (+generator) |"
    )
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        if r["mode"] == "idle":
            continue
        cpu = ", ".join(f"{k} {v:.1f}" for k, v in r["cpu_s"].items())
        lat = f"{_fmt(r.get('p50_ms'))} / {_fmt(r.get('p99_ms'))}"
        drain = _fmt(r.get("drain_s"))
        if r.get("first_row_s") is not None:
            drain += f" (first row {r['first_row_s']} s)"
        lines.append(
            f"| {r['system']} | {r['mode']} | {_fmt(r.get('offered'))} "
            f"| {r['published']} ({r['publish_rate']}) | {r['stored']} | {r['lost']} "
            f"| {r['stored_rate']} | {drain} | {lat} | {cpu} "
            f"| {_fmt(r['cpu_us_per_reading'])} ({_fmt(r['cpu_us_per_reading_with_generator'])}) |"
        )
    idle = [r for r in rows if r["mode"] == "idle"]
    if idle:
        lines += ["", "Idle, % of one core: " + "; ".join(
            f"{r['system']}: " + ", ".join(f"{k} {v}" for k, v in r["idle_pct_of_core"].items())
            for r in idle
        )]  # fmt: skip
    return lines


def print_table(rows: list[dict[str, Any]]) -> None:
    print("\n".join(table_lines(rows)))


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
        "mosquitto": _version(["mosquitto", "-h"]),
    }


def _version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, timeout=5, check=False)
    except OSError:
        return ""
    return (out.stdout or out.stderr).decode(errors="replace").splitlines()[0][:80]


def write_results(
    rows: list[dict[str, Any]], args: argparse.Namespace, out: Path, took_s: float
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    doc = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "note": args.note,
        "arguments": {k: v for k, v in vars(args).items() if k != "out"},
        "took_s": round(took_s),
        "rows": rows,
    }
    (out / "streaming.json").write_text(json.dumps(doc, indent=1, default=str) + "\n")
    m = doc["machine"]
    text = [
        "# Streaming benchmark results",
        "",
        f"Measured {doc['when']} with `python -m benchmarks.streaming` "
        f"({doc['took_s']} s): {json.dumps(doc['arguments'], default=str)}",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, Linux {m['kernel']}, "
        f"Python {m['python']}, {m['mosquitto']}; load average at the end {m['load_avg_at_end']}.",
        "",
    ]
    if args.note:
        text += [f"Note: {args.note}", ""]
    (out / "streaming.md").write_text("\n".join(text + table_lines(rows)) + "\n")
