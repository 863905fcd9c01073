"""MQTT messages waiting for Kafka: acknowledged only when every record they became is stored.

One MQTT message becomes one Kafka record (a reading or a dead letter) or, for a
gateway batch, many. The message is acknowledged to the broker only after Kafka
has acknowledged each of its records, and messages are acknowledged in the order
they arrived. A record Kafka refuses is sent again (with back-off) on its own;
the records of the message that Kafka already has are not sent twice.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from kafka.producer.future import FutureRecordMetadata

#: records waiting for Kafka before the MQTT network thread stops taking messages
DEFAULT_MAX_RECORDS = 200_000


@dataclass(slots=True)
class Record:
    """One Kafka record to produce, and the state of its delivery."""

    topic: str
    key: bytes
    value: bytes
    dead: bool = False  # a dead letter, not a reading
    future: FutureRecordMetadata | None = None
    attempts: int = 0
    failed_at: float = field(default=0.0)


@dataclass(slots=True)
class Message:
    """An MQTT message not yet acknowledged, and the records it became."""

    mid: int
    qos: int
    records: list[Record]
    confirmed: int = 0  # records[:confirmed] are acknowledged by Kafka

    @property
    def dead_letters(self) -> int:
        return sum(1 for r in self.records if r.dead)


SendFn = Callable[[Record], None]


class AckQueue:
    """Messages in arrival order, each with its records on their way to Kafka.

    ``add`` runs on the MQTT network thread, ``drain`` on the service's main
    thread. ``add`` blocks while more than ``max_records`` records wait for
    Kafka (and the queue is not empty), which holds back MQTT instead of
    growing memory without bound.
    """

    def __init__(self, send: SendFn, *, max_records: int = DEFAULT_MAX_RECORDS) -> None:
        self._send = send
        self._max_records = max_records
        self._cond = threading.Condition()
        self._pending: deque[Message] = deque()
        self._records = 0

    def __len__(self) -> int:
        with self._cond:
            return len(self._pending)

    @property
    def records(self) -> int:
        """Records produced (or being produced) whose message is not acknowledged yet."""
        with self._cond:
            return self._records

    def add(self, message: Message, stop: threading.Event | None = None) -> bool:
        """Send the message's records and queue it; False if ``stop`` was set while waiting."""
        n = len(message.records)
        with self._cond:
            while self._records and self._records + n > self._max_records:
                if stop is not None and stop.is_set():
                    return False
                self._cond.wait(0.1)
        for record in message.records:
            self._send_record(record)
        with self._cond:
            self._pending.append(message)
            self._records += n
        return True

    def drain(self, now: float | None = None) -> list[Message]:
        """Remove and return, in arrival order, the messages whose records Kafka has all."""
        done: list[Message] = []
        with self._cond:
            while self._pending:
                head = self._pending[0]
                if not self._advance(head, time.monotonic() if now is None else now):
                    break
                self._pending.popleft()
                self._records -= len(head.records)
                done.append(head)
            if done:
                self._cond.notify_all()
        return done

    def _advance(self, message: Message, now: float) -> bool:
        """Move the message's cursor over acknowledged records; True when all are."""
        records = message.records
        while message.confirmed < len(records):
            record = records[message.confirmed]
            future = record.future
            if future is None or not future.is_done:
                return False
            if future.failed():
                self._retry(record, now)
                return False
            message.confirmed += 1
        return True

    def _retry(self, record: Record, now: float) -> None:
        if now - record.failed_at < min(0.1 * 2**record.attempts, 10.0):
            return
        record.failed_at = now
        self._send_record(record)

    def _send_record(self, record: Record) -> None:
        record.attempts += 1
        self._send(record)
