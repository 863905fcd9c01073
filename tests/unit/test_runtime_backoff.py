"""The one back-off policy: 1 s, doubling, at most the maximum; ready once the wait is over."""

from __future__ import annotations

import pytest

from greenmon.backoff import Backoff


def test_delays_double_from_one_second_up_to_the_maximum() -> None:
    backoff = Backoff(30.0)
    assert [backoff.failed() for _ in range(7)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    backoff.succeeded()
    assert backoff.failed() == 1.0  # a new episode starts again at 1 s
    assert Backoff(5.0, first_s=0.2).delay(3) == pytest.approx(0.8)
    assert Backoff(30.0).delay(10_000) == 30.0  # no overflow on a long outage


def test_ready_once_the_wait_is_over(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr("greenmon.backoff.time.monotonic", lambda: now[0])
    backoff = Backoff(30.0)
    assert backoff.ready()
    backoff.failed()
    backoff.failed()  # 2 s
    now[0] = 101.9
    assert not backoff.ready()
    now[0] = 102.0
    assert backoff.ready()
