"""The service runtime's Prometheus endpoint: off by default, and when on, the counters,
gauges and dead-letter reasons the stats line and the heartbeat report."""

from __future__ import annotations

import urllib.request

from greenmon.observe import Counters
from greenmon.runtime.service import ServiceRuntime
from greenmon.settings import load_settings


def test_metrics_are_off_unless_a_port_is_set() -> None:
    runtime = ServiceRuntime(load_settings(), "processor", Counters("stored"))
    runtime.start()
    try:
        assert runtime.metrics is None
    finally:
        runtime.close()


def test_a_scrape_shows_counters_gauges_and_reasons() -> None:
    counters = Counters("stored", "lag")
    reasons = Counters()
    runtime = ServiceRuntime(load_settings(metrics_port=0), "processor", counters, reasons=reasons)
    counters.add("stored", 42)
    counters.add("log_resets")
    counters.set("lag", 7)
    reasons.add("unknown meter …: not in the registry", 3)
    runtime.start()
    try:
        assert runtime.metrics is not None
        url = f"http://127.0.0.1:{runtime.metrics.port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
    finally:
        runtime.close()
    labels = f'instance="{runtime.instance}",service="processor"'
    lines = set(text.splitlines())
    assert "# TYPE greenmon_stored_total counter" in lines
    assert f"greenmon_stored_total{{{labels}}} 42.0" in lines
    assert f"greenmon_log_resets_total{{{labels}}} 1.0" in lines
    assert "# TYPE greenmon_lag gauge" in lines
    assert f"greenmon_lag{{{labels}}} 7.0" in lines
    reason = f'instance="{runtime.instance}",reason="unknown meter …: not in the registry"'
    assert f'greenmon_dead_letters_by_reason_total{{{reason},service="processor"}} 3.0' in lines
