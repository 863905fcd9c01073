"""Hostile input through the real broker: over 10 000 generated payloads, valid and not.

Hypothesis generates the messages: valid readings of registered meters (varied JSON
layout, UTC offsets, integer and float values) and every kind of invalid input the
wire format refuses: wrong types, NaN and infinities, huge and negative numbers,
missing and unknown fields, unknown and wrong units, wrong kinds, naive, malformed and
future timestamps, invalid UTF-8, text that is not JSON, JSON that is not an object,
deeply nested JSON, oversized payloads, malformed ids in the topic, unknown meters and
meters of another enterprise. All of them go through Mosquitto with QoS 1.

Then: every valid reading is stored exactly once with its value, every invalid message
is in the dead-letter topic exactly once with its origin topic, raw payload and a
reason that says what is wrong, the collector and processor are alive and logged no
unexpected error, and their resident memory stayed bounded throughout.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import paho.mqtt.client as mqtt
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from greenmon.domain.reference import ALL_UNITS, MeterKind
from greenmon.domain.registry import Meter
from greenmon.domain.wire import MAX_PAYLOAD_BYTES
from greenmon.feeds.fleet import build_registry
from tests.integration.conftest import Pipeline, log_text, read_topic, rss_mib, stored_readings

pytestmark = pytest.mark.integration

MESSAGES: Final = 10_000
RSS_LIMIT_MIB: Final = 200.0
PREFIX: Final = "greenmon/v1"
FIELDS: Final = ("ts", "value", "unit", "kind")
MODEL_FIELDS: Final = frozenset((*FIELDS, "duration_s"))
OFFSETS: Final = ("+08:00", "Z", "+00:00", "-05:00", "+05:45", "+14:00")

#: the reason of each invalid category contains one of these (case-insensitive)
REASONS: Final[dict[str, tuple[str, ...]]] = {
    "wrong_type": ("should be", "must be", "json allows"),
    "non_finite": ("finite", "json allows", "valid integer"),
    "huge": ("less than or equal", "greater than", "valid number", "finite"),
    "missing": ("field required",),
    "extra_field": ("extra inputs are not permitted",),
    "unknown_unit": ("is not one of",),
    "other_unit": ("differs from the registered unit",),
    "wrong_kind": ("differs from the registered kind",),
    "naive_ts": ("timezone", "offset"),
    "bad_ts": ("ts:",),
    "future_ts": ("in the future",),
    "invalid_utf8": ("utf-8",),
    "not_json": ("not valid json",),
    "not_object": ("must be a json object",),
    "deep_json": ("nested too deeply", "must be a json object", "ts:", "value:", "exceeds"),
    "oversized": ("exceeds",),
    "bad_id": ("must be 1-64 characters",),
    "unknown_meter": ("unknown meter",),
    "foreign_enterprise": ("does not belong to enterprise",),
}
#: how often each category is drawn, relative to the others (oversized ones are heavy)
WEIGHTS: Final = {"valid": 30, "oversized": 1} | {c: 3 for c in REASONS if c != "oversized"}
CATEGORIES: Final = tuple(c for c, w in WEIGHTS.items() for _ in range(w))


#: a value of the wrong JSON type for each field (NaN floats become NaN literals: refused too)
WRONG_TYPES: Final[dict[str, st.SearchStrategy[Any]]] = {
    "ts": st.one_of(
        st.integers(), st.floats(), st.booleans(), st.none(), st.lists(st.integers(), max_size=3)
    ),
    "value": st.one_of(
        st.text(max_size=20),
        st.booleans(),
        st.none(),
        st.lists(st.floats(0, 1), max_size=3),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    ),
    "unit": st.one_of(
        st.integers(), st.booleans(), st.none(), st.lists(st.just("kWh"), max_size=2)
    ),
    "kind": st.one_of(
        st.integers(),
        st.booleans(),
        st.none(),
        st.dictionaries(st.just("k"), st.just("counter")),
    ),
    "duration_s": st.one_of(
        st.floats(1, 86400),
        st.text(max_size=5),
        st.booleans(),
        st.lists(st.integers(1, 900), max_size=2),
    ),
}
#: text that is no ISO 8601 date and time with an offset (numbers as text too)
BAD_TS: Final = st.one_of(
    st.sampled_from(
        ("", "yesterday", "2025-13-01T00:00:00+08:00", "2025-02-30T00:00:00Z", "25:61")
    ),
    st.text(alphabet="0123456789-:TZ+", max_size=8),
    st.integers(-(10**12), 10**12).map(str),
)


@dataclass(frozen=True)
class ValidDraft:
    """A valid reading before its timestamp is chosen (unique per meter, set later)."""

    meter: Meter
    value: float | int
    offset: str
    order: tuple[str, ...]
    separators: tuple[str, str]


@dataclass(frozen=True)
class Invalid:
    category: str
    topic: str
    payload: bytes


@dataclass(frozen=True)
class Valid:
    topic: str
    payload: bytes
    meter_id: str
    ts_ms: int
    value: float


def _topic(meter: Meter, enterprise: str | None = None) -> str:
    return f"{PREFIX}/{enterprise or meter.enterprise_id}/{meter.meter_id}/reading"


def _ts_text(ts: datetime, offset: str) -> str:
    if offset == "Z":
        return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    sign = -1 if offset[0] == "-" else 1
    hours, minutes = int(offset[1:3]), int(offset[4:6])
    zone = timedelta(hours=hours, minutes=minutes) * sign
    local = ts.astimezone(UTC) + zone
    return local.strftime("%Y-%m-%dT%H:%M:%S") + offset


def _body(meter: Meter, ts: str, value: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"ts": ts, "value": value, "unit": meter.unit, "kind": meter.kind.value}
    if meter.kind is MeterKind.INTERVAL:
        body["duration_s"] = 60
    return body


def _dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


_ID_OK: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


def _bad_id(value: str) -> bool:
    return not value or len(value) > 64 or not set(value) <= _ID_OK


# Strategies are built once: building them in the composite costs more than drawing.
_CATEGORY = st.sampled_from(CATEGORIES)
_OFFSET = st.sampled_from(OFFSETS)
_UNITS = sorted(ALL_UNITS)
_VALID_VALUE = st.one_of(
    st.floats(0, 1e6, allow_nan=False, allow_infinity=False), st.integers(0, 10**6)
)
_SEPARATORS = st.sampled_from(((",", ":"), (", ", ": "), (" ,\n", " :\t")))
_WRONG_FIELD = st.sampled_from((*FIELDS, "duration_s"))
_NON_FINITE_FIELD = st.sampled_from(("value", "duration_s"))
_NON_FINITE = st.sampled_from(("NaN", "Infinity", "-Infinity", "1e999", "-1e999"))
_HUGE_FIELD = st.sampled_from(("value", "value", "duration_s"))
_HUGE_VALUE = st.one_of(
    st.floats(1e15, 1.7e308, exclude_min=True),
    st.integers(10**15 + 1, 10**400),
    st.floats(-1e300, -1e-300),
    st.integers(-(10**30), -1),
)
_BAD_DURATION = st.one_of(st.integers(86401, 10**30), st.integers(-(10**9), 0))
_FIELD = st.sampled_from(FIELDS)
_EXTRA_NAME = st.text(min_size=1, max_size=12).filter(lambda k: k not in MODEL_FIELDS)
_EXTRA_VALUE = st.one_of(st.integers(), st.text(max_size=10), st.none())
_UNKNOWN_UNIT = st.text(max_size=12).filter(lambda u: u not in ALL_UNITS)
_HOURS = st.integers(1, 48)
_AHEAD_MIN = st.integers(60, 60 * 24 * 365)
_BYTES = st.binary(max_size=60)
_BAD_UTF8 = st.sampled_from((b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80", b"\x80"))
_NOT_JSON = st.one_of(
    st.integers(0, 10**6).map(lambda n: ("cut", n)),
    st.text(max_size=40).map(lambda t: ("text", t)),
    st.just(("repr", 0)),
)
_NOT_OBJECT = st.one_of(
    st.integers(0, 3).map(lambda n: ("list", n)),
    st.text(max_size=20),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
_DEPTH = st.integers(2, 20_000)
_SHAPE = st.sampled_from(("array", "object", "in_value"))
_OVERSIZE = st.integers(MAX_PAYLOAD_BYTES + 1, MAX_PAYLOAD_BYTES + 16 * 1024)
_ID_CHAR = st.characters(exclude_categories=("Cc", "Cs", "Co", "Cn"), exclude_characters="/+#")
_BAD_ID = st.one_of(
    st.text(_ID_CHAR, max_size=30).filter(_bad_id),
    st.text(alphabet="abcXYZ019_-.", min_size=65, max_size=90),
)
_UNKNOWN_ID = st.text(alphabet="ABCXYZ0123456789-", min_size=1, max_size=20)


@st.composite
def _messages(draw: st.DrawFn, meters: tuple[Meter, ...], now: datetime) -> ValidDraft | Invalid:
    category = draw(_CATEGORY)
    meter = draw(st.sampled_from(meters)) if len(meters) > 1 else meters[0]
    if category == "valid":
        value = draw(_VALID_VALUE)
        order = tuple(draw(st.permutations(list(_body(meter, "", 0)))))
        return ValidDraft(meter, value, draw(_OFFSET), order, draw(_SEPARATORS))
    body = _body(meter, _ts_text(now - timedelta(hours=3), draw(_OFFSET)), 12.5)
    topic = _topic(meter)
    payload: bytes | None = None
    if category == "wrong_type":
        field = draw(_WRONG_FIELD)
        body[field] = draw(WRONG_TYPES[field])
        payload = json.dumps(body).encode()  # floats may be NaN/Infinity: refused as well
    elif category == "non_finite":
        body[draw(_NON_FINITE_FIELD)] = "@@"
        payload = json.dumps(body).replace('"@@"', draw(_NON_FINITE)).encode()
    elif category == "huge":
        field = draw(_HUGE_FIELD)
        body[field] = draw(_HUGE_VALUE if field == "value" else _BAD_DURATION)
    elif category == "missing":
        del body[draw(_FIELD)]
    elif category == "extra_field":
        body[draw(_EXTRA_NAME)] = draw(_EXTRA_VALUE)
    elif category == "unknown_unit":
        body["unit"] = draw(_UNKNOWN_UNIT)
    elif category == "other_unit":
        unit = draw(st.sampled_from(_UNITS))
        body["unit"] = (
            unit if unit != meter.unit else _UNITS[(_UNITS.index(unit) + 1) % len(_UNITS)]
        )
    elif category == "wrong_kind":
        other = MeterKind.COUNTER if meter.kind is MeterKind.INTERVAL else MeterKind.INTERVAL
        body["kind"] = other.value
    elif category == "naive_ts":
        body["ts"] = (now - timedelta(hours=draw(_HOURS))).strftime("%Y-%m-%dT%H:%M:%S")
    elif category == "bad_ts":
        body["ts"] = draw(BAD_TS)
    elif category == "future_ts":
        body["ts"] = _ts_text(now + timedelta(minutes=draw(_AHEAD_MIN)), draw(_OFFSET))
    elif category == "invalid_utf8":
        payload = draw(_BYTES) + draw(_BAD_UTF8) + draw(_BYTES)
        if _is_utf8(payload):  # the bad bytes completed a character: break it again
            payload += b"\xff"
    elif category == "not_json":
        how, arg = draw(_NOT_JSON)
        text = _dumps(body)
        if how == "cut":
            payload = text[: int(arg) % len(text)]
        elif how == "text":
            payload = ("<" + str(arg)).encode()
        else:
            payload = str(body).encode()
    elif category == "not_object":
        doc = draw(_NOT_OBJECT)
        if isinstance(doc, tuple):
            doc = [body] * doc[1]
        payload = json.dumps(doc).encode()
    elif category == "deep_json":
        depth, shape = draw(_DEPTH), draw(_SHAPE)
        if shape == "array":
            payload = b"[" * depth + b"]" * depth
        elif shape == "object":
            payload = b'{"a":' * depth + b"1" + b"}" * depth
        else:
            body["value"] = "@@"
            payload = json.dumps(body).replace('"@@"', "[" * depth + "]" * depth).encode()
    elif category == "oversized":
        text = _dumps(body)
        payload = text[:-1] + b" " * (draw(_OVERSIZE) - len(text)) + b"}"
    elif category == "bad_id":
        bad_id = draw(_BAD_ID)
        if draw(st.booleans()):
            topic = f"{PREFIX}/{meter.enterprise_id}/{bad_id}/reading"
        else:
            topic = f"{PREFIX}/{bad_id}/{meter.meter_id}/reading"
    elif category == "unknown_meter":
        topic = f"{PREFIX}/{meter.enterprise_id}/NOPE-{draw(_UNKNOWN_ID)}/reading"
    elif category == "foreign_enterprise":
        others = sorted({m.enterprise_id for m in meters} - {meter.enterprise_id})
        topic = _topic(meter, others[draw(st.integers(0, len(others) - 1))])
    else:  # pragma: no cover - the categories above are all there are
        raise AssertionError(category)
    return Invalid(category, topic, payload if payload is not None else json.dumps(body).encode())


def _generate(meters: tuple[Meter, ...], now: datetime, count: int) -> list[ValidDraft | Invalid]:
    """``count`` messages drawn by Hypothesis, 50 per example (generation phase only)."""
    per = 50
    drawn: list[ValidDraft | Invalid] = []

    @settings(
        max_examples=-(-count // per),
        deadline=None,
        phases=[Phase.generate],
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(_messages(meters, now), min_size=per, max_size=per))
    def collect(messages: list[ValidDraft | Invalid]) -> None:
        drawn.extend(messages)

    collect()
    return drawn


def _render(drafts: list[ValidDraft | Invalid], start: datetime) -> list[Valid | Invalid]:
    """Give each valid reading its own minute per meter, in order; invalid ones as they are."""
    used: Counter[str] = Counter()
    out: list[Valid | Invalid] = []
    for d in drafts:
        if isinstance(d, Invalid):
            out.append(d)
            continue
        ts = start + timedelta(minutes=used[d.meter.meter_id])
        used[d.meter.meter_id] += 1
        body = _body(d.meter, _ts_text(ts, d.offset), d.value)
        text = "{" + d.separators[0].join(
            json.dumps(k) + d.separators[1] + json.dumps(body[k]) for k in d.order
        ) + "}"  # fmt: skip
        ts_ms = round(ts.timestamp() * 1000)
        out.append(Valid(_topic(d.meter), text.encode(), d.meter.meter_id, ts_ms, float(d.value)))
    return out


def _publish_all(pipeline: Pipeline, messages: list[Valid | Invalid], window: int = 500) -> None:
    """QoS 1 through the real broker, at most ``window`` unacknowledged at a time."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="hostile", clean_session=True)
    client.max_inflight_messages_set(200)
    host, port = pipeline.settings.mqtt_host_port
    client.connect(host, port, keepalive=30)
    client.loop_start()
    pending: deque[mqtt.MQTTMessageInfo] = deque()
    try:
        for m in messages:
            info = client.publish(m.topic, m.payload, qos=1)
            assert info.rc == mqtt.MQTT_ERR_SUCCESS, (m, info.rc)
            pending.append(info)
            while len(pending) > window:
                pending.popleft().wait_for_publish(30)
        while pending:
            info = pending.popleft()
            info.wait_for_publish(30)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


class _RssSampler:
    """Largest resident size of each process, sampled every 0.2 s in a thread."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.peak = dict.fromkeys(pids, 0.0)
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], rss_mib(pid))
            self.samples += 1

    def __enter__(self) -> _RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


#: the dead letter of an oversized payload may keep only its head (up to 64 KiB)
KEPT: Final = 60_000


def _dlq_key(topic: str, payload: bytes) -> tuple[str, str, str]:
    """How the dead letter of ``payload`` sent on ``topic`` shows it (its head, if long)."""
    try:
        return topic, payload.decode("utf-8")[:KEPT], "utf-8"
    except UnicodeDecodeError:
        return topic, base64.b64encode(payload).decode("ascii")[:KEPT], "base64"


def _got_key(dead: dict[str, Any]) -> tuple[str, str, str]:
    return dead["origin"], str(dead["payload"])[:KEPT], dead["payload_encoding"]


def _short(items: Iterable[tuple[tuple[str, str, str], int]]) -> list[str]:
    return [f"{n} x {topic} {payload[:120]!r} ({enc})" for (topic, payload, enc), n in items]


def _wait(what: str, done: Callable[[], bool], timeout: float, pipeline: Pipeline) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        for name, proc in pipeline.procs.items():
            assert proc.alive(), f"{name} died:\n{proc.log_tail(40)}"
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{pipeline.logs()}")
        time.sleep(0.25)


def test_hostile_payloads_are_stored_once_or_dead_lettered_with_reason(
    pipeline: Pipeline,
) -> None:
    registry = build_registry(3, 4, seed=5)
    pipeline.load_registry(registry)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    drafts = _generate(registry.meters, now, MESSAGES + 200)
    messages = _render(drafts, start=now - timedelta(days=2))
    valid = [m for m in messages if isinstance(m, Valid)]
    invalid = [m for m in messages if isinstance(m, Invalid)]
    assert len(messages) >= MESSAGES
    assert {m.category for m in invalid} == set(REASONS), "a category was never drawn"
    assert len(valid) > MESSAGES // 5

    collector = pipeline.start("collector")
    processor = pipeline.start("processor")
    with _RssSampler({"collector": collector.pid, "processor": processor.pid}) as rss:
        _publish_all(pipeline, messages)
        _wait("the valid readings", lambda: pipeline.stored_count() >= len(valid), 120, pipeline)
        dead = read_topic(pipeline.settings, pipeline.settings.topic_dlq, len(invalid), 90)
        pipeline.wait_idle()
    assert rss.samples > 10
    print(  # shown with -s: what the run did
        f"{len(valid)} valid, {len(invalid)} invalid; peak RSS "
        + ", ".join(f"{n} {v:.0f} MiB" for n, v in rss.peak.items())
    )

    # every valid reading stored exactly once, with its value
    stored = stored_readings(pipeline)
    expected = {(m.meter_id, m.ts_ms): m.value for m in valid}
    assert stored.keys() == expected.keys(), (
        f"missing {sorted(expected.keys() - stored.keys())[:5]}, "
        f"unexpected {sorted(stored.keys() - expected.keys())[:5]}"
    )
    wrong = [(k, stored[k], v) for k, v in expected.items() if stored[k] != v]
    assert not wrong, wrong[:5]

    # every invalid message dead-lettered once, with its origin, raw payload and reason
    assert all(d.get("source") == "collector" for d in dead), [
        d for d in dead if d.get("source") != "collector"
    ][:3]
    got = Counter(_got_key(d) for d in dead)
    sent = Counter(_dlq_key(m.topic, m.payload) for m in invalid)
    assert got == sent, (
        f"not dead-lettered: {_short(list((sent - got).items())[:3])}; "
        f"unexpected: {_short(list((got - sent).items())[:3])}"
    )
    category = {_dlq_key(m.topic, m.payload): m.category for m in invalid}
    for d in dead:
        reason = str(d["reason"]).lower()
        cat = category[_got_key(d)]
        assert any(word in reason for word in REASONS[cat]), (cat, d["reason"], d["payload"][:200])

    # nothing crashed, nothing was swallowed, memory stayed bounded
    for name in ("collector", "processor"):
        proc = pipeline.procs[name]
        assert proc.alive(), f"{name} died:\n{proc.log_tail(40)}"
        text = log_text(proc)
        assert "Traceback" not in text and "unexpected error" not in text, text[-3000:]
        assert rss.peak[name] < RSS_LIMIT_MIB, f"{name} peaked at {rss.peak[name]:.0f} MiB"


def test_numeric_string_timestamp_is_dead_lettered(pipeline: Pipeline) -> None:
    """A number as text is no timestamp (pydantic alone would read it as seconds since 1970)."""
    registry = build_registry(1, 1, seed=5)
    pipeline.load_registry(registry)
    meter = registry.meters[0]
    messages: list[Valid | Invalid] = [
        Invalid("bad_ts", _topic(meter), _dumps(_body(meter, ts, 1.0)))
        for ts in ("2025", "1234", "-1", "20250101")
    ]
    pipeline.start("collector")
    pipeline.start("processor")
    _publish_all(pipeline, messages)
    dead = read_topic(pipeline.settings, pipeline.settings.topic_dlq, len(messages), 8)
    got = Counter((d["origin"], d["payload"]) for d in dead)
    assert got == Counter((m.topic, m.payload.decode()) for m in messages), dead
    assert pipeline.stored_count() == 0
