"""The processor's second input: value-added submissions from ``greenmon.value_added``.

Each message is one JSON figure (``enterprise_id, month, value_added, price_basis``);
a valid one replaces the stored figure (a revision), an invalid one is dead-lettered
with its reason. Figures and the topic's positions are stored in one transaction,
so a redelivered message is not counted as another revision.

No consumer group: value-added messages are few (monthly figures), so every
processor reads every partition (assigned, not subscribed) from the positions in
the database. A group's join could stall (seen with tansu: a second group of the
same process never got its partitions); with positions locked and only ever moved
forward, each message is applied once whichever processor reads it first.
"""

from __future__ import annotations

import logging
import time

from kafka import KafkaProducer

from greenmon.accounting.value_added import ValueAddedRow
from greenmon.bus import kafka as bus_kafka
from greenmon.errors import InvalidInput
from greenmon.messages.value_added import parse_value_added_message
from greenmon.runtime.consumer import GroupConsumer, Polled
from greenmon.runtime.service import ServiceRuntime
from greenmon.storage.accounting_store import (
    enterprise_industries,
    read_price_index,
    upsert_value_added,
)
from greenmon.storage.db import Conn

log = logging.getLogger("greenmon.processor.value_added")


#: Polled in the processor's loop between its readings polls. Polling this second
#: consumer at every turn slowed the readings consumer's group joins (kafka-python 3.0.12
#: on tansu: 3 s alone, up to 12 s and sometimes never beside it); once a second they
#: stay at 3 s, and a monthly figure can wait a second.
POLL_EVERY_S = 1.0


class ValueAddedInput:
    def __init__(self, runtime: ServiceRuntime, producer: KafkaProducer) -> None:
        self._settings = settings = runtime.settings
        self._producer = producer
        self._counters = runtime.counters
        #: the key of this input's positions in stream_offsets (not a Kafka group)
        key = settings.processor_group + ".value-added"
        self._input = GroupConsumer(
            runtime, settings.topic_value_added, group=None, positions_key=key, client_id=key
        )
        self._next_poll = 0.0

    def start(self) -> None:
        self._input.start()

    def poll_once(self, conn: Conn) -> int:
        """Apply what has arrived (waiting at most 50 ms), at most every POLL_EVERY_S;
        returns how many were stored."""
        now = time.monotonic()
        if now < self._next_poll:
            return 0
        self._next_poll = now + POLL_EVERY_S
        polled = self._input.poll(timeout_ms=50, max_records=1000)
        if not polled:
            return 0
        try:
            return self._apply(conn, polled)
        except BaseException:
            self._input.rewind(polled)  # not stored: read the same records again next time
            raise

    def _apply(self, conn: Conn, polled: Polled) -> int:
        topic = self._settings.topic_value_added
        with conn.transaction():
            stored = self._input.lock_positions(conn, [tp.partition for tp in polled])
            index, industries = read_price_index(conn), enterprise_industries(conn)
            rows: dict[tuple[str, object], ValueAddedRow] = {}
            dead = 0
            positions = {}
            for tp, records in polled.items():
                # never backwards: another processor may have read further already
                positions[tp.partition] = max(records[-1].offset + 1, stored.get(tp.partition, 0))
                for rec in records:
                    if rec.offset < stored.get(tp.partition, -1):
                        continue
                    try:
                        row = parse_value_added_message(rec.value, index, industries)
                    except InvalidInput as exc:
                        self._dead_letter(
                            rec.value, str(exc), f"{topic}/{tp.partition}@{rec.offset}"
                        )
                        dead += 1
                        continue
                    rows[(row.enterprise_id, row.month)] = row  # the latest revision wins
            if dead:
                self._producer.flush(timeout=30)
            upsert_value_added(conn, rows.values(), source="kafka")
            self._input.save_positions(conn, positions)
        self._counters.add("value_added", len(rows))
        self._counters.add("dead_lettered", dead)
        return len(rows)

    def _dead_letter(self, payload: bytes, reason: str, origin: str) -> None:
        log.warning("dead-lettered a value-added message from %s: %s", origin, reason)
        record = bus_kafka.dead_letter(
            reason=reason, source="value_added", payload=payload, origin=origin
        )
        self._producer.send(self._settings.topic_dlq, value=record)

    def close(self) -> None:
        self._input.close()
