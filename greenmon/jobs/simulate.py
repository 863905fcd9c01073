"""``greenmon simulate``: a simulated fleet's readings over MQTT, with its ground truth."""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from pathlib import Path

from greenmon.domain.registry import Registry, parse_registry_csv, registry_csv
from greenmon.feeds.fleet import build_registry
from greenmon.feeds.publisher import publish
from greenmon.feeds.simulator import generate
from greenmon.feeds.truth import truth_rows, write_truth
from greenmon.settings import Settings
from greenmon.storage import db
from greenmon.storage.registry_store import upsert_registry


def fleet(args: argparse.Namespace) -> Registry:
    """The registry a simulation runs on: a given file, or one generated from the seed."""
    if args.registry is not None:
        return parse_registry_csv(Path(args.registry).read_text("utf-8"))
    return build_registry(args.enterprises, args.meters_per_enterprise, args.seed)


class Progress:
    """A one-line progress display on stderr, redrawn at most ten times a second."""

    def __init__(self, label: str, total: int | None) -> None:
        self._label = label
        self._total = total
        self._shown = 0.0
        self._started = time.monotonic()
        self._tty = sys.stderr.isatty()
        self._last = ""

    def __call__(self, done: int, extra: str = "") -> None:
        now = time.monotonic()
        # redraw in place on a terminal; elsewhere (logs, CI) a line every few seconds
        if now - self._shown < (0.1 if self._tty else 3.0) and done != self._total:
            return
        self._shown = now
        rate = done / max(now - self._started, 1e-6)
        of = f"/{self._total}" if self._total else ""
        line = f"{self._label}: {done}{of} ({rate:,.0f}/s) {extra}".rstrip()
        if line == self._last:
            return
        self._last = line
        sys.stderr.write(f"\r{line}   " if self._tty else line + "\n")
        sys.stderr.flush()

    def done(self) -> None:
        if self._tty:
            sys.stderr.write("\n")


def run(args: argparse.Namespace, settings: Settings) -> int:
    registry = fleet(args)
    if args.registry_out is not None:
        Path(args.registry_out).write_text(
            registry_csv(registry.enterprises, registry.meters), "utf-8"
        )
    if not args.no_load:
        with db.connect(settings, attempts=5) as conn:
            upsert_registry(conn, registry)
    if args.truth is not None:
        rows = truth_rows(registry, args.start, args.days, args.interval, args.seed, settings.tz)
        write_truth(args.truth, rows)
    readings = generate(registry, args.start, args.days, args.interval, args.seed, settings.tz)
    progress = Progress("published", None)
    sent = publish(
        readings,
        settings,
        speed=args.speed,
        progress=progress,
        client_id=f"greenmon-simulator-{socket.gethostname()}-{os.getpid()}",
    )
    progress.done()
    print(f"published {sent} readings of {len(registry.meters)} meters over {args.days} days")
    return 0
