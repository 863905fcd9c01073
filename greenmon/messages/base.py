"""What every versioned message shares: the ``version`` field, JSON in and out, clear refusals.

A message is a pydantic model (unknown fields refused, frozen). :meth:`Message.decode`
reads one from a Kafka value (or a decoded JSON object) in three steps, each with
its own reason:

1. the bytes are UTF-8 JSON of an object, at most ``MAX_BYTES``, without NaN/Infinity;
2. ``version`` is one the consumer reads (:data:`Message.VERSIONS`; a message
   without one is :data:`Message.UNVERSIONED`, version 1 for the formats that were
   published before versions existed) — else :class:`~greenmon.errors.UnknownVersion`;
3. the fields match the schema — else :class:`~greenmon.errors.InvalidMessage`.

``str()`` of either error is the dead-letter reason, prefixed by the message's kind.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar, Final, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from greenmon.errors import InvalidMessage, UnknownVersion

MAX_BYTES: Final = 1024 * 1024
MAX_PROBLEMS: Final = 5


class Message(BaseModel):
    """Base of the typed messages; subclasses set ``KIND`` and their fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    #: what the message is, for reasons ("dead letter", "value-added message", ...)
    KIND: ClassVar[str] = "message"
    #: the versions this code reads; it writes the highest
    VERSIONS: ClassVar[frozenset[int]] = frozenset({1})
    #: the version a message without a ``version`` field has
    UNVERSIONED: ClassVar[int] = 1

    version: int = 1

    def encode(self) -> bytes:
        """The Kafka value: compact UTF-8 JSON, keys sorted, ``version`` included."""
        return json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":"),
                          sort_keys=True).encode()  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        """The message as a JSON object (a dict of JSON values)."""
        return self.model_dump(mode="json")

    @classmethod
    def decode(cls, raw: bytes | Mapping[str, Any]) -> Self:
        """The message in ``raw``; InvalidMessage (or UnknownVersion) with the reason if not."""
        doc = decode_object(cls.KIND, raw) if isinstance(raw, bytes) else dict(raw)
        check_version(cls.KIND, doc.get("version", cls.UNVERSIONED), cls.VERSIONS)
        doc.setdefault("version", cls.UNVERSIONED)
        try:
            return cls.model_validate(doc)
        except ValidationError as exc:
            raise InvalidMessage(f"{cls.KIND}: {describe(exc)}") from None


def decode_object(kind: str, raw: bytes) -> dict[str, Any]:
    """UTF-8 JSON of one object, refusing oversized, invalid or non-finite input."""
    if len(raw) > MAX_BYTES:
        raise InvalidMessage(f"{kind} of {len(raw)} bytes exceeds {MAX_BYTES}")
    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError as exc:
        raise InvalidMessage(f"{kind} is not valid UTF-8 ({exc.reason})") from None
    except RecursionError:
        raise InvalidMessage(f"{kind} JSON is nested too deeply") from None
    except ValueError as exc:
        raise InvalidMessage(f"{kind} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidMessage(f"{kind} must be a JSON object, not {type(doc).__name__}")
    return doc


def check_version(kind: str, version: object, known: frozenset[int]) -> int:
    """``version`` if this consumer reads it; UnknownVersion naming both sides if not."""
    reads = ", ".join(str(v) for v in sorted(known))
    if isinstance(version, bool) or not isinstance(version, int):
        raise UnknownVersion(f"{kind} version {str(version)[:40]!r} is not a whole number")
    if version not in known:
        raise UnknownVersion(
            f"{kind} version {version} is not one this consumer reads (it reads {reads}); "
            "upgrade the consumer before the producer"
        )
    return version


def describe(exc: ValidationError) -> str:
    """Pydantic's errors as one line a person can read: ``field: problem; ...``."""
    problems = []
    for err in exc.errors(include_url=False)[:MAX_PROBLEMS]:
        where = ".".join(str(p) for p in err["loc"]) or "message"
        kind, given = err["type"], err.get("input")
        if kind == "missing":
            problems.append(f"{where} is missing")
        elif kind == "extra_forbidden":
            problems.append(f"unknown field {where!r}")
        elif kind == "string_type":
            problems.append(f"{where} must be a string")
        elif kind in ("float_type", "int_type") and isinstance(given, bool):
            problems.append(f"{where} {str(given)!r} is not a number")
        elif kind in ("float_type", "int_type", "float_parsing", "int_parsing"):
            problems.append(f"{where} must be a JSON number")
        else:
            problems.append(f"{where}: {err['msg']}")
    return "; ".join(problems)


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")
