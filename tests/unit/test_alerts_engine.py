"""The alert lifecycle on hand-made timelines: `for`, hysteresis, re-notify, staleness."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from alerts.engine import AlertState, Observation, Transition, evaluate, fingerprint, tick
from alerts.rules import Threshold

T0 = datetime(2025, 1, 1, tzinfo=UTC)
SLOT = timedelta(minutes=15)
RULE = Threshold.model_validate(
    {"measure": "demand_kw", "above": 800, "recover_below": 400, "for": "30m"}
)


def _run(
    values: Sequence[float], *, for_s: float = 1800, renotify_s: float | None = None,
    wall_step: timedelta = timedelta(seconds=1),
) -> tuple[AlertState, list[Transition]]:  # fmt: skip
    """Feed one value per consecutive 15-minute window; wall clock advances ``wall_step``."""
    fp = fingerprint("demand-high", "meter", "M1")
    state = AlertState(fp, "demand-high", "meter", "M1", "E1")
    out: list[Transition] = []
    for i, v in enumerate(values):
        start = T0 + i * SLOT
        obs = Observation(RULE.level(v), start + SLOT, v, RULE.fire_at, start)
        state, ts = evaluate(state, obs, T0 + i * wall_step, for_s=for_s, renotify_s=renotify_s)
        out += ts
    return state, out


def kinds(ts: list[Transition]) -> list[str]:
    return [t.kind for t in ts if t.kind != "pending"]


def test_a_breach_shorter_than_for_never_fires() -> None:
    state, ts = _run([1000, 100, 1000, 100, 900, 300])
    assert kinds(ts) == []
    assert state.state == "ok"
    assert [t.kind for t in ts] == ["pending", "pending", "pending"]


def test_a_held_breach_fires_once_then_resolves_once() -> None:
    state, ts = _run([100, 1000, 1000, 1000, 1000, 100])
    assert kinds(ts) == ["firing", "resolved"]
    firing = next(t for t in ts if t.kind == "firing")
    assert firing.since == T0 + SLOT  # the condition held from the first breaching window
    assert firing.at == T0 + 3 * SLOT  # after 30 minutes of it
    assert state.state == "resolved"


def test_oscillating_between_the_thresholds_never_flaps() -> None:
    # fires, then swings between 600 and 900 kW (between recovery 400 and fire 800)
    state, ts = _run([1000, 1000] + [600, 900] * 20 + [399])
    assert kinds(ts) == ["firing", "resolved"]
    state, ts = _run([1000, 1000] + [600, 700] * 20)
    assert kinds(ts) == ["firing"] and state.state == "firing"


def test_pending_between_thresholds_stays_pending_and_recovery_cancels_silently() -> None:
    state, ts = _run([1000, 500, 350], for_s=3600)
    assert kinds(ts) == [] and state.state == "ok"
    state, ts = _run([1000, 500, 900, 900], for_s=3600)  # 4 windows = 60 min held
    assert kinds(ts) == ["firing"]


def test_renotification_at_the_interval_of_wall_clock() -> None:
    # one window a minute of wall clock, re-notify every 5 minutes while firing
    state, ts = _run([1000] * 13, for_s=0, renotify_s=300, wall_step=timedelta(minutes=1))
    assert kinds(ts) == ["firing", "renotify", "renotify"]
    assert [t.at - T0 for t in ts if t.kind == "renotify"] == [
        timedelta(minutes=5),
        timedelta(minutes=10),
    ]
    # the timer re-notifies without new data, and not before the interval
    assert state.notified_at is not None
    same, none = tick(state, state.notified_at + timedelta(seconds=299), renotify_s=300)
    assert none == [] and same == state
    later, again = tick(state, state.notified_at + timedelta(seconds=300), renotify_s=300)
    assert [t.kind for t in again] == ["renotify"] and later.state == "firing"


def test_stale_observations_are_ignored_and_fire_again_after_resolve() -> None:
    fp = fingerprint("r", "meter", "M1")
    state = AlertState(fp, "r", "meter", "M1", "E1")
    late = T0 + 10 * SLOT
    state, ts = evaluate(state, Observation("fire", late, 1000, 800, late - SLOT), T0)
    assert [t.kind for t in ts] == ["pending", "firing"]
    old = Observation("clear", T0, 1, 800, T0 - SLOT)
    assert evaluate(state, old, T0) == (state, [])
    state, ts = evaluate(state, Observation("clear", late + SLOT, 1, 800), T0)
    assert [t.kind for t in ts] == ["resolved"]
    state, ts = evaluate(state, Observation("fire", late + 2 * SLOT, 900, 800), T0)
    assert [t.kind for t in ts] == ["pending", "firing"]  # a new episode, same fingerprint
    assert state.fingerprint == fp


def test_below_thresholds_mirror_above() -> None:
    low = Threshold.model_validate({"measure": "flow", "below": 10, "recover_above": 20})
    assert [low.level(v) for v in (5, 15, 25, 10, 20)] == ["fire", "hold", "clear", "hold", "hold"]
