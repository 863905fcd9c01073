"""Kafka clients configured the one way greenmon uses them, and the dead-letter record."""

from __future__ import annotations

import logging
import time
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.partitioner.default import DefaultPartitioner, murmur2

from greenmon.backoff import Backoff
from greenmon.errors import ServiceError
from greenmon.messages.dead_letter import DeadLetter
from greenmon.settings import Settings

log = logging.getLogger(__name__)


#: keys whose hash a producer remembers before it starts over
_KEY_CACHE_MAX = 1_000_000


class CachedKeyPartitioner(DefaultPartitioner):  # type: ignore[misc]
    """kafka-python's default partitioner, remembering each key's murmur2 hash.

    Same partition for the same key as the default (and the Java client), so every
    producer of a topic keeps a meter on one partition; the pure-Python murmur2 is
    computed once per key instead of once per record.
    """

    def __init__(self) -> None:
        self._hashes: dict[bytes, int] = {}

    def partition(
        self,
        topic: str,
        key: Any,
        serialized_key: bytes | None,
        value: Any,
        serialized_value: Any,
        cluster: Any,
    ) -> int:
        partitions = cluster.partitions_for_topic(topic)
        if serialized_key is None or not partitions:
            return super().partition(  # type: ignore[no-any-return]
                topic, key, serialized_key, value, serialized_value, cluster
            )
        h = self._hashes.get(serialized_key)
        if h is None:
            if len(self._hashes) >= _KEY_CACHE_MAX:
                self._hashes.clear()
            h = self._hashes[bytes(serialized_key)] = murmur2(serialized_key) & 0x7FFFFFFF
        ordered = sorted(partitions)
        return ordered[h % len(ordered)]  # type: ignore[no-any-return]


def producer(settings: Settings, *, client_id: str) -> KafkaProducer:
    """A producer acked by all replicas, retrying in order, one request in flight."""
    return KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=client_id,
        acks="all",
        # Not the idempotent producer: a broker restarted with a batch in flight can
        # answer its retry DUPLICATE_SEQUENCE_NUMBER without having stored it (seen with
        # tansu), which the client counts as success, and the MQTT message would be
        # acknowledged for a record that is gone. One request in flight keeps each
        # partition in order; a duplicate from a retry is booked once downstream.
        enable_idempotence=False,
        partitioner=CachedKeyPartitioner(),
        linger_ms=5,
        batch_size=256 * 1024,
        max_in_flight_requests_per_connection=1,
        retries=2**31 - 1,
        delivery_timeout_ms=120_000,
        request_timeout_ms=30_000,
        max_block_ms=60_000,
    )


def consumer(
    settings: Settings,
    *,
    client_id: str,
    group_id: str | None,
    group_instance_id: str | None = None,
) -> KafkaConsumer:
    """A consumer that never commits on its own; greenmon commits after the database.
    Without ``group_id`` it is assigned partitions and keeps its positions elsewhere.

    ``group_instance_id`` makes it a static member (KIP-345): restarted with the same id
    it takes its predecessor's partitions back without a rebalance, instead of waiting
    for the dead member's session to expire (see README, "Processor and city scale").
    A static member does not leave the group when it closes: its partitions wait for it
    for one session timeout. Fetches are sized for throughput (up to 32 MB per fetch,
    8 MB per partition) and answered as soon as any record is there (latency).
    """
    return KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=client_id,
        group_id=group_id,
        group_instance_id=group_instance_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=max(settings.kafka_session_timeout_ms // 4, 500),
        max_poll_records=settings.processor_batch_max,
        max_poll_interval_ms=300_000,
        fetch_max_bytes=32 * 1024 * 1024,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )


def ensure_topics(settings: Settings, topics: list[str], *, attempts: int = 30) -> None:
    """Create the topics greenmon needs if they do not exist (idempotent)."""
    backoff = Backoff(2.0, first_s=0.2)
    for attempt in range(1, attempts + 1):
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=settings.kafka_bootstrap, client_id="greenmon-admin"
            )
            break
        except (KafkaError, OSError) as exc:
            if attempt == attempts:
                raise ServiceError(f"Kafka at {settings.kafka_url} not reachable: {exc}") from exc
            time.sleep(backoff.failed())
    try:
        existing = set(admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            try:
                admin.create_topics([NewTopic(t, settings.kafka_partitions, 1) for t in missing])
                log.info("created Kafka topics %s", missing)
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()


#: the Kafka value of a dead letter: the raw payload and the reason (keyword arguments
#: of greenmon.messages.dead_letter.DeadLetter.record; kept here for the services)
dead_letter = DeadLetter.record
