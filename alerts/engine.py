"""The alert lifecycle: ``ok -> pending -> firing -> resolved``. Pure, no I/O.

One :class:`AlertState` per fingerprint (rule + entity), so a condition that
persists is one alert however often it is evaluated. :func:`evaluate` takes an
observation (a level: ``fire`` beyond the threshold, ``clear`` past the recovery
threshold, ``hold`` between them) and returns the new state and the transitions
to record and deliver:

* ``fire`` starts ``pending`` (at the observation's time); once the condition has
  held for the rule's ``for`` it becomes ``firing`` (one ``firing`` transition);
* ``hold`` keeps whatever state there is: a pending alert stays pending, a firing
  one stays firing (hysteresis: a value between the two thresholds never flaps);
* ``clear`` ends a pending alert silently and resolves a firing one (one
  ``resolved`` transition);
* a firing alert whose last notice is older than the re-notify interval gets a
  ``renotify`` transition (wall clock, also from :func:`tick` without new data).

Observation times are event times (a window's end, or now for timer checks);
``now`` is the wall clock, used only for re-notification.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from alerts.rules import Level

StateName = Literal["ok", "pending", "firing", "resolved"]
TransitionKind = Literal["pending", "firing", "renotify", "resolved"]


def fingerprint(rule_id: str, scope: str, entity_id: str) -> str:
    """The identity of an alert: one per rule and entity."""
    return f"{rule_id}/{scope}/{entity_id}"


@dataclass(frozen=True, slots=True)
class AlertState:
    fingerprint: str
    rule_id: str
    scope: str
    entity_id: str
    enterprise_id: str | None
    state: StateName = "ok"
    #: event time the condition started to hold (pending) and the alert fired
    pending_since: datetime | None = None
    firing_since: datetime | None = None
    #: newest observation time seen: older observations are stale and ignored
    observed_at: datetime | None = None
    #: wall-clock time of the last notice sent (firing or renotify)
    notified_at: datetime | None = None
    value: float | None = None
    threshold: float | None = None

    @property
    def active(self) -> bool:
        return self.state in ("pending", "firing")


@dataclass(frozen=True, slots=True)
class Observation:
    level: Level
    at: datetime
    value: float | None
    threshold: float | None
    #: event time the observed window started (a breach holds from there)
    start: datetime | None = None
    context: dict[str, object] | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    fingerprint: str
    kind: TransitionKind
    at: datetime
    value: float | None
    threshold: float | None
    since: datetime | None
    state: AlertState


def evaluate(
    state: AlertState,
    obs: Observation,
    now: datetime,
    *,
    for_s: float = 0.0,
    renotify_s: float | None = None,
) -> tuple[AlertState, list[Transition]]:
    """Apply one observation to an alert's state."""
    if state.observed_at is not None and obs.at < state.observed_at:
        return state, []  # stale (out of order): the newer observation already decided
    s = replace(state, observed_at=obs.at, value=obs.value, threshold=obs.threshold)
    out: list[Transition] = []

    def emit(kind: TransitionKind, new: AlertState, since: datetime | None) -> AlertState:
        out.append(Transition(new.fingerprint, kind, obs.at, obs.value, obs.threshold, since, new))
        return new

    if obs.level == "fire":
        if s.state in ("ok", "resolved"):
            began = obs.start or obs.at
            s = emit("pending", replace(s, state="pending", pending_since=began, firing_since=None),
                     began)  # fmt: skip
        if s.state == "pending":
            assert s.pending_since is not None
            if obs.at - s.pending_since >= timedelta(seconds=for_s):
                s = emit(
                    "firing",
                    replace(s, state="firing", firing_since=s.pending_since, notified_at=now),
                    s.pending_since,
                )
                return s, out
    elif obs.level == "clear":
        if s.state == "pending":
            s = replace(s, state="ok", pending_since=None)
        elif s.state == "firing":
            s = emit("resolved", replace(s, state="resolved", notified_at=now), s.firing_since)
            return s, out
    # hold (or fire while firing): nothing changes state; maybe it is time to remind
    s, reminders = tick(s, now, renotify_s=renotify_s)
    return s, out + reminders


def tick(
    state: AlertState, now: datetime, *, renotify_s: float | None
) -> tuple[AlertState, list[Transition]]:
    """Re-notify a firing alert whose last notice is older than ``renotify_s``."""
    if state.state != "firing" or renotify_s is None or renotify_s <= 0:
        return state, []
    if state.notified_at is not None and now - state.notified_at < timedelta(seconds=renotify_s):
        return state, []
    new = replace(state, notified_at=now)
    return new, [
        Transition(
            state.fingerprint, "renotify", now, state.value, state.threshold,
            state.firing_since, new,
        )
    ]  # fmt: skip
