"""The processor's second input: value-added submissions from ``greenmon.value_added``.

Each message is one JSON figure (``enterprise_id, month, value_added, price_basis``);
a valid one replaces the stored figure (a revision), an invalid one is dead-lettered
with its reason. Figures and the topic's positions are stored in one transaction,
so a redelivered message is not counted as another revision.
"""

from __future__ import annotations

import logging

from kafka import KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.structs import OffsetAndMetadata

from greenmon.accounting.value_added import ValueAddedRow, parse_value_added_message
from greenmon.bus import kafka as bus_kafka
from greenmon.errors import InvalidInput
from greenmon.observe import Counters
from greenmon.settings import Settings
from greenmon.storage.accounting_store import (
    enterprise_industries,
    read_price_index,
    upsert_value_added,
)
from greenmon.storage.db import Conn
from processor import sink

log = logging.getLogger("greenmon.processor.value_added")


class ValueAddedInput:
    def __init__(self, settings: Settings, producer: KafkaProducer, counters: Counters) -> None:
        self._settings = settings
        self._producer = producer
        self._counters = counters
        self._group = settings.processor_group + ".value-added"
        self._consumer = bus_kafka.consumer(
            settings, client_id=f"{self._group}", group_id=self._group
        )
        self._consumer.subscribe([settings.topic_value_added])

    def poll_once(self, conn: Conn) -> int:
        """Apply what has arrived (waiting at most 50 ms); returns how many were stored."""
        polled = self._consumer.poll(timeout_ms=50, max_records=1000)
        if not polled:
            return 0
        try:
            return self._apply(conn, polled)
        except BaseException:
            # not stored: read the same records again next time
            for tp, records in polled.items():
                self._consumer.seek(tp, records[0].offset)
            raise

    def _apply(self, conn: Conn, polled: dict[TopicPartition, list[ConsumerRecord]]) -> int:
        topic = self._settings.topic_value_added
        with conn.transaction():
            stored = sink.lock_positions(conn, self._group, topic, [tp.partition for tp in polled])
            index, industries = read_price_index(conn), enterprise_industries(conn)
            rows: dict[tuple[str, object], ValueAddedRow] = {}
            dead = 0
            positions = {}
            for tp, records in polled.items():
                positions[tp.partition] = records[-1].offset + 1
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
            sink.save_positions(conn, self._group, topic, positions)
        self._consumer.commit(
            {TopicPartition(topic, p): OffsetAndMetadata(o, "", -1) for p, o in positions.items()}
        )
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
        self._consumer.close(autocommit=False, timeout_ms=5000)
