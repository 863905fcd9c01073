"""A service's counters, gauges and dead letters by reason, for Prometheus to scrape.

Off unless ``metrics_port`` is set (``GREENMON_METRICS_PORT``; 0 picks a free port).
The values are read from the same ``Counters`` the stats line and the heartbeat
report, at scrape time, so the three never disagree.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from greenmon.observe import Counters

_UNSAFE = re.compile(r"[^a-zA-Z0-9_]")


class _CountersCollector(Collector):
    def __init__(self, service: str, instance: str, counters: Counters, reasons: Counters) -> None:
        self._labels = {"service": service, "instance": instance}
        self._counters = counters
        self._reasons = reasons

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        gauges = self._counters.gauges()
        labels = list(self._labels)
        for name, value in sorted(self._counters.snapshot().items()):
            metric = f"greenmon_{_UNSAFE.sub('_', name)}"
            family: CounterMetricFamily | GaugeMetricFamily
            if name in gauges:
                family = GaugeMetricFamily(metric, f"greenmon gauge {name}", labels=labels)
            else:
                family = CounterMetricFamily(metric, f"greenmon counter {name}", labels=labels)
            family.add_metric(list(self._labels.values()), value)
            yield family
        reasons = CounterMetricFamily(
            "greenmon_dead_letters_by_reason",
            "dead letters by kind of reason",
            labels=[*labels, "reason"],
        )
        for reason, count in sorted(self._reasons.snapshot().items()):
            reasons.add_metric([*self._labels.values(), reason], count)
        yield reasons


class MetricsServer:
    """The HTTP endpoint (``/metrics``) of one service process."""

    def __init__(
        self, port: int, service: str, instance: str, counters: Counters, reasons: Counters
    ) -> None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_CountersCollector(service, instance, counters, reasons))
        server, thread = start_http_server(port, registry=registry)
        self._server: WSGIServer = server
        self._thread: threading.Thread = thread

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
