"""The MQTT wire format of meter readings, and the record greenmon keeps on Kafka.

Topic ``{prefix}/{enterprise_id}/{meter_id}/reading`` carries one JSON reading::

    {"ts": "2025-01-01T00:15:00+08:00", "value": 10234.5, "unit": "kWh", "kind": "counter"}

For ``interval`` readings ``ts`` is the start of the interval and ``duration_s``
(default 900) its length. An optional ``"version": 1`` names the format's version;
a reading without one is version 1 (as every reading before versions existed), and
one with a version this collector does not read is refused with a reason saying so.

A plant gateway may send many readings in one message, on topic
``{prefix}/{enterprise_id}/batch``::

    {"readings": [{"meter": "M1", "ts": "...", "value": 1.5, "unit": "kWh", "kind": "counter"}]}

Each element is a reading as above plus its ``meter``. A batch carries at most
:data:`MAX_BATCH_READINGS` readings in at most :data:`MAX_BATCH_BYTES` bytes, and
may carry ``"version": 1`` beside ``readings``.

On Kafka (``greenmon.readings``, and ``greenmon.readings.late`` for readings set aside)
a reading is a :class:`ReadingRecord`, compact JSON with ``"ver": 1``; a record
without ``ver`` is version 1 too.

Parsing is pure: it returns a :class:`Reading` or raises
:class:`~greenmon.errors.InvalidReading` with a reason a person can read.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any, Final

import msgspec
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from greenmon.domain.reference import ALL_UNITS, MeterKind
from greenmon.errors import InvalidReading

MAX_PAYLOAD_BYTES: Final = 64 * 1024
#: a gateway batch: room for MAX_BATCH_READINGS readings of up to ~200 bytes each
MAX_BATCH_BYTES: Final = 2 * 1024 * 1024
MAX_BATCH_READINGS: Final = 10_000
MAX_ID_LEN: Final = 64
DEFAULT_DURATION_S: Final = 900
#: versions of the MQTT reading format this code reads (it writes none: meters do)
READING_VERSIONS: Final = frozenset({1})
#: the Kafka record's version this code writes, and those it reads
RECORD_VERSION: Final = 1
RECORD_VERSIONS: Final = frozenset({1})

_ISO_DATETIME: Final = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_ID_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


class ReadingPayload(BaseModel):
    """The JSON body of one reading, as a meter or gateway sends it."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=False)

    ts: AwareDatetime
    value: Annotated[float, Field(ge=0, le=1e15, strict=True)]
    unit: str
    kind: MeterKind
    duration_s: Annotated[int, Field(gt=0, le=86400, strict=True)] = DEFAULT_DURATION_S
    version: Annotated[int, Field(strict=True)] = 1

    @field_validator("version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        check_version("reading", value, READING_VERSIONS, "collector")
        return value

    @field_validator("ts", mode="before")
    @classmethod
    def _iso_text(cls, value: object) -> object:
        # pydantic would also read numbers, and numbers as text, as seconds since 1970
        if not isinstance(value, str) or not _ISO_DATETIME.match(value):
            raise ValueError(
                "ts must be an ISO 8601 date and time with a UTC offset, "
                "like 2025-01-01T00:15:00+08:00"
            )
        return value


@dataclass(frozen=True, slots=True)
class Reading:
    """A validated reading. ``ts`` is timezone-aware (UTC)."""

    enterprise_id: str
    meter_id: str
    ts: datetime
    value: float
    unit: str
    kind: MeterKind
    duration_s: int

    def to_record(self, received_at: datetime) -> bytes:
        """Kafka value of ``greenmon.readings`` (compact JSON, epoch milliseconds)."""
        return ReadingRecord(
            enterprise_id=self.enterprise_id,
            meter_id=self.meter_id,
            ts_ms=_epoch_ms(self.ts),
            value=self.value,
            unit=self.unit,
            kind=self.kind,
            duration_s=self.duration_s,
            received_ms=_epoch_ms(received_at),
        ).encode()


_RECORD_KEYS: Final = {
    "enterprise_id": "e", "meter_id": "m", "ts_ms": "ts", "value": "v", "unit": "u",
    "kind": "k", "duration_s": "d", "received_ms": "rx", "admit": "a",
}  # fmt: skip


class ReadingRecord(msgspec.Struct, frozen=True, rename=_RECORD_KEYS, omit_defaults=True):
    """A reading as the processor sees it on Kafka (a msgspec struct: the processor
    decodes millions of them, and msgspec does it in C straight into this type)."""

    enterprise_id: str
    meter_id: str
    ts_ms: int
    value: Annotated[float, msgspec.Meta(ge=0)]
    unit: str
    kind: MeterKind
    duration_s: int
    received_ms: int
    #: admitted although older than the late-data grace period (``recompute --late``)
    admit: bool = False
    #: the record format's version (encode() always writes it; absent means 1)
    ver: int = RECORD_VERSION

    @property
    def ts(self) -> datetime:
        return datetime.fromtimestamp(self.ts_ms / 1000, tz=UTC)

    def encode(self) -> bytes:
        """The record's Kafka value: compact JSON with short keys, times in epoch
        milliseconds, ``"a": true`` only for an admitted late reading, and the record
        version first (``"ver"``; a record without one is version 1)."""
        return _VERSION_PREFIX + _RECORD_ENCODER.encode(self)[1:]


_RECORD_ENCODER: Final = msgspec.json.Encoder()
_RECORD_DECODER: Final = msgspec.json.Decoder(ReadingRecord)
_VERSION_PREFIX: Final = b'{"ver":%d,' % RECORD_VERSION


def _epoch_ms(ts: datetime) -> int:
    return round(ts.timestamp() * 1000)


def _topic_parts(topic: str, prefix: str, pattern: str) -> list[str]:
    """The variable parts of ``topic`` shaped ``{prefix}/PATTERN`` (e.g. ``{a}/{b}/reading``)."""
    head = prefix.rstrip("/") + "/"
    if not topic.startswith(head):
        raise InvalidReading(f"topic {topic!r} is not under {head!r}")
    parts = topic[len(head) :].split("/")
    shape = pattern.split("/")
    fixed_ok = all(p == s for p, s in zip(parts, shape, strict=False) if not s.startswith("{"))
    if len(parts) != len(shape) or not fixed_ok:
        raise InvalidReading(f"topic {topic!r} is not {head}{pattern}")
    return [p for p, s in zip(parts, shape, strict=True) if s.startswith("{")]


@lru_cache(maxsize=1 << 17)
def parse_topic(topic: str, prefix: str) -> tuple[str, str]:
    """Split ``{prefix}/{enterprise}/{meter}/reading`` into (enterprise, meter).

    Remembered per topic (a fleet has one topic per meter; a refused topic raises
    each time, exceptions are not cached)."""
    enterprise_id, meter_id = _topic_parts(topic, prefix, "{enterprise}/{meter}/reading")
    check_id("enterprise id", enterprise_id)
    check_id("meter id", meter_id)
    return enterprise_id, meter_id


def parse_batch_topic(topic: str, prefix: str) -> str:
    """The enterprise of a gateway batch topic ``{prefix}/{enterprise}/batch``."""
    (enterprise_id,) = _topic_parts(topic, prefix, "{enterprise}/batch")
    check_id("enterprise id", enterprise_id)
    return enterprise_id


def is_batch_topic(topic: str) -> bool:
    """Whether a topic is meant as a gateway batch (its form is checked by parse_batch_topic)."""
    return topic.endswith("/batch")


def check_version(what: str, version: object, known: frozenset[int], reader: str) -> None:
    """Refuse a version this code does not read, saying which it does."""
    if isinstance(version, bool) or not isinstance(version, int) or version not in known:
        reads = ", ".join(str(v) for v in sorted(known))
        shown = version if isinstance(version, int) else repr(str(version)[:40])
        raise InvalidReading(
            f"{what} version {shown} is not one this {reader} reads (it reads {reads})"
        )


def check_id(what: str, value: str) -> None:
    if not value or len(value) > MAX_ID_LEN or not set(value) <= _ID_CHARS:
        raise InvalidReading(
            f"{what} {value[:80]!r} must be 1-{MAX_ID_LEN} characters of letters, digits, _-."
        )


def decode_json(payload: bytes, *, max_bytes: int = MAX_PAYLOAD_BYTES) -> Any:
    """Decode a payload as UTF-8 JSON, refusing oversized, invalid or non-finite input."""
    if len(payload) > max_bytes:
        raise InvalidReading(f"payload of {len(payload)} bytes exceeds {max_bytes}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidReading(
            f"payload is not valid UTF-8 ({exc.reason} at byte {exc.start})"
        ) from None
    try:
        return _DECODER.decode(text)
    except RecursionError:
        raise InvalidReading("payload JSON is nested too deeply") from None
    except ValueError as exc:
        raise InvalidReading(f"payload is not valid JSON: {exc}") from None


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


#: made once: json.loads/dumps with options build a new decoder/encoder per call
_DECODER: Final = json.JSONDecoder(parse_constant=_refuse_constant)
_COMPACT: Final = json.JSONEncoder(separators=(",", ":"))


def parse_reading_json(payload: bytes) -> ReadingPayload:
    """``parse_payload(decode_json(payload))``, parsed and validated in one pass.

    pydantic reads the JSON itself (no Python dict in between); anything it refuses
    goes the slow way, so the reasons given are exactly those of the two steps."""
    if len(payload) <= MAX_PAYLOAD_BYTES:
        try:
            body = ReadingPayload.model_validate_json(payload)
        except ValidationError:
            pass
        else:
            if body.unit in ALL_UNITS:
                return body
    return parse_payload(decode_json(payload))


def parse_payload(doc: Any) -> ReadingPayload:
    """Validate one decoded JSON reading."""
    if not isinstance(doc, dict):
        raise InvalidReading(f"reading must be a JSON object, not {type(doc).__name__}")
    try:
        payload = ReadingPayload.model_validate(doc)
    except ValidationError as exc:
        raise InvalidReading(_describe(exc)) from None
    if payload.unit not in ALL_UNITS:
        raise InvalidReading(f"unit {payload.unit[:40]!r} is not one of {sorted(ALL_UNITS)}")
    return payload


def parse_batch(doc: Any) -> list[Any]:
    """The readings of a decoded gateway batch (each still to be checked on its own).

    Refuses, as a whole, anything but an object whose only key is a non-empty
    ``readings`` list of at most :data:`MAX_BATCH_READINGS` elements.
    """
    if not isinstance(doc, dict):
        raise InvalidReading(f"batch must be a JSON object, not {type(doc).__name__}")
    extra = sorted(str(k)[:40] for k in doc if k not in ("readings", "version"))
    if extra:
        raise InvalidReading(
            f"batch has unknown key(s) {extra[:5]}; only 'readings' and 'version' are allowed"
        )
    check_version("batch", doc.get("version", 1), READING_VERSIONS, "collector")
    readings = doc.get("readings")
    if not isinstance(readings, list):
        got = "nothing" if readings is None else type(readings).__name__
        raise InvalidReading(f"batch 'readings' must be a JSON list, not {got}")
    if not readings:
        raise InvalidReading("batch has no readings")
    if len(readings) > MAX_BATCH_READINGS:
        raise InvalidReading(
            f"batch of {len(readings)} readings exceeds {MAX_BATCH_READINGS} readings"
        )
    return readings


def parse_batch_item(doc: Any) -> tuple[str, ReadingPayload]:
    """One element of a batch: its meter id and its reading."""
    if not isinstance(doc, dict):
        raise InvalidReading(f"reading must be a JSON object, not {type(doc).__name__}")
    body = dict(doc)
    meter_id = body.pop("meter", None)
    if not isinstance(meter_id, str):
        raise InvalidReading("meter: must be the meter id as a string")
    check_id("meter id", meter_id)
    return meter_id, parse_payload(body)


def _describe(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "payload"
        problems.append(f"{where}: {err['msg']}")
    return "; ".join(problems)


def to_reading(enterprise_id: str, meter_id: str, payload: ReadingPayload) -> Reading:
    return Reading(
        enterprise_id=enterprise_id,
        meter_id=meter_id,
        ts=payload.ts.astimezone(UTC),
        value=payload.value,
        unit=payload.unit,
        kind=payload.kind,
        duration_s=payload.duration_s,
    )


def decode_record(value: bytes, what: str = "reading record") -> ReadingRecord:
    """Decode a ``greenmon.readings`` record; raises InvalidReading if it is not one.

    Well-formed records of a known version take msgspec's typed decoder (a few
    microseconds); anything else is decoded again the lenient way, which accepts what
    older writers wrote (``"a": 1``, numbers for ids) and otherwise names the reason.
    """
    try:
        record = _RECORD_DECODER.decode(value)
    except msgspec.DecodeError:
        return _decode_lenient(value, what)
    if record.ver in RECORD_VERSIONS:
        return record
    return _decode_lenient(value, what)


def _decode_lenient(value: bytes, what: str) -> ReadingRecord:
    try:
        doc = json.loads(value)
        check_version(what, doc.get("ver", 1), RECORD_VERSIONS, "processor")
        kind = MeterKind(doc["k"])
        record = ReadingRecord(
            enterprise_id=str(doc["e"]),
            meter_id=str(doc["m"]),
            ts_ms=int(doc["ts"]),
            value=float(doc["v"]),
            unit=str(doc["u"]),
            kind=kind,
            duration_s=int(doc["d"]),
            received_ms=int(doc["rx"]),
            admit=bool(doc.get("a", 0)),
        )
    except InvalidReading:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidReading(f"not a greenmon {what}: {exc!r}") from None
    if not math.isfinite(record.value) or record.value < 0:
        raise InvalidReading(f"reading value {record.value!r} is not a finite non-negative number")
    return record
