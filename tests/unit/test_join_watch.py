"""The watch that tells a stuck group join from an idle member."""

from __future__ import annotations

import pytest

from greenmon.runtime.consumer import JoinWatch


def test_a_join_without_an_assignment_stalls_after_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [100.0]
    monkeypatch.setattr("greenmon.runtime.consumer.time.monotonic", lambda: now[0])
    watch = JoinWatch(30.0)
    now[0] = 129.0
    assert not watch.stalled()
    now[0] = 131.0
    assert watch.stalled()  # subscribed 31 s ago, never assigned
    watch.assigned()  # an assignment, even of no partitions, ends the join
    now[0] = 1000.0
    assert not watch.stalled()  # idle members are not stuck
    watch.restart()  # partitions revoked: a new join begins
    now[0] = 1029.0
    assert not watch.stalled()
    now[0] = 1031.0
    assert watch.stalled()
