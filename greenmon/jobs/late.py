"""Take in readings set aside as late: republish them to the readings topic, admitted.

A reading that arrives more than the grace period after its timestamp goes to
``greenmon.readings.late`` instead of correcting figures that may already have
been reported. ``greenmon recompute --late`` sends those within a date range back
to ``greenmon.readings`` marked as admitted; the processor then books them like
any other (once: a reading admitted twice is still one reading). A record that is
not a late reading this code reads (greenmon.messages.late) stays in the late topic
and is logged with its reason, not skipped in silence.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

import msgspec
from kafka import KafkaConsumer, TopicPartition

from greenmon.bus import kafka as bus_kafka
from greenmon.errors import InvalidReading
from greenmon.messages.late import decode_late
from greenmon.settings import Settings

log = logging.getLogger("greenmon.late")


def admit_late(settings: Settings, start: datetime, end: datetime, timeout_s: float = 30.0) -> int:
    """Republish late readings with ``start <= ts < end``; returns how many."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False, group_id=None
    )
    producer = bus_kafka.producer(settings, client_id="greenmon-admit-late")
    lo, hi = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    sent = 0
    try:
        parts = consumer.partitions_for_topic(settings.topic_late) or set()
        tps = [TopicPartition(settings.topic_late, p) for p in parts]
        if not tps:
            return 0
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + timeout_s
        done: set[TopicPartition] = set()
        while len(done) < len(tps) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                for rec in records:
                    try:
                        r = decode_late(rec.value)
                    except InvalidReading as exc:
                        log.warning("late reading %s/%s@%s not admitted: %s",
                                    rec.topic, rec.partition, rec.offset, exc)  # fmt: skip
                        continue
                    if lo <= r.ts_ms < hi:
                        admitted = msgspec.structs.replace(r, admit=True)
                        producer.send(settings.topic_readings, key=r.meter_id.encode(),
                                      value=admitted.encode())  # fmt: skip
                        sent += 1
            for tp in tps:
                high = consumer.highwater(tp)
                if high is not None and consumer.position(tp) >= high:
                    done.add(tp)
        producer.flush(timeout=60)
    finally:
        consumer.close()
        producer.close(timeout=5)
    return sent
