"""Structured logging and the counters each service keeps (received, stored, dead letters)."""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from greenmon.settings import Settings

_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
}


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        doc.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED})
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str, ensure_ascii=False)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = {k: v for k, v in record.__dict__.items() if k not in _RESERVED}
        if extra:
            line += " " + " ".join(f"{k}={v}" for k, v in extra.items())
        return line


def configure_logging(settings: Settings, service: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(
            _TextFormatter(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    logging.getLogger("kafka").setLevel(logging.WARNING)


class Counters:
    """Thread-safe monotonically increasing counters plus gauges (like lag).

    A name given a value with ``set`` is a gauge (Prometheus exposes it as one)."""

    def __init__(self, *names: str) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, int] = dict.fromkeys(names, 0)
        self._gauges: set[str] = set()

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._values[name] = self._values.get(name, 0) + n

    def set(self, name: str, value: int) -> None:
        with self._lock:
            self._values[name] = value
            self._gauges.add(name)

    def gauges(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._gauges)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._values)

    def __getitem__(self, name: str) -> int:
        with self._lock:
            return self._values.get(name, 0)


class StatsReporter:
    """Logs a service's counters as one structured line every ``interval`` seconds."""

    def __init__(self, logger: logging.Logger, counters: Counters, interval: float) -> None:
        self._log = logger
        self._counters = counters
        self._interval = interval
        self._next = time.monotonic() + interval

    def due(self) -> bool:
        return time.monotonic() >= self._next

    def report(self, extra: Mapping[str, object] | None = None) -> dict[str, int]:
        self._next = time.monotonic() + self._interval
        snap = self._counters.snapshot()
        fields = " ".join(f"{k}=%s" for k in snap)
        self._log.info("stats " + fields, *snap.values(), extra=dict(extra or {}))
        return snap


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?", re.IGNORECASE)


def reason_kind(reason: str) -> str:
    """A dead letter's reason without its particulars, to count reasons by kind.

    ``unknown meter 'M7': not in the registry`` -> ``unknown meter …: not in the registry``
    """
    first = reason.split(";", 1)[0]
    kind = _NUMBER.sub("N", _QUOTED.sub("…", first)).strip()
    return kind[:120]
