"""Dead letters on ``greenmon.readings.dlq``: input refused, kept with the reason.

Version 1 (records written before versions existed have no ``version``: they are 1)::

    {"version": 1, "reason": "...", "source": "collector", "origin": "plant/E1/M1/reading",
     "payload": "...", "payload_encoding": "utf-8", "received_at": "2025-01-01T00:15:02+00:00"}

``payload`` is the refused bytes as text, or base64 when they are not UTF-8. A reading
refused from a gateway batch also has ``index``, its position in the batch (a letter
for a whole batch has none).
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime

from greenmon.errors import InvalidMessage
from greenmon.messages.base import Message


class DeadLetter(Message):
    """One refused input and why."""

    KIND = "dead letter"

    reason: str
    #: who refused it: collector, processor, value_added, late, ...
    source: str
    #: where it came from: an MQTT topic, or ``topic/partition@offset``
    origin: str
    payload: str
    payload_encoding: Literal["utf-8", "base64"]
    received_at: AwareDatetime
    #: the reading's position in a gateway batch (absent for anything else)
    index: int | None = None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    @classmethod
    def record(
        cls,
        *,
        reason: str,
        source: str,
        payload: bytes,
        origin: str,
        received_at: datetime | None = None,
        index: int | None = None,
    ) -> bytes:
        """The Kafka value of a new dead letter for ``payload``."""
        try:
            body, encoding = payload.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            body, encoding = base64.b64encode(payload).decode("ascii"), "base64"
        return cls(
            reason=reason,
            source=source,
            origin=origin,
            payload=body,
            payload_encoding="utf-8" if encoding == "utf-8" else "base64",
            received_at=received_at or datetime.now(UTC),
            index=index,
        ).encode()

    def raw(self) -> bytes:
        """The refused bytes as they arrived."""
        if self.payload_encoding == "utf-8":
            return self.payload.encode("utf-8")
        try:
            return base64.b64decode(self.payload, validate=True)
        except binascii.Error:
            raise InvalidMessage("dead letter: payload is not valid base64") from None
