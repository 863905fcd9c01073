"""Kafka clients configured the one way greenmon uses them, and the dead-letter record."""

from __future__ import annotations

import base64
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from greenmon.errors import ServiceError
from greenmon.settings import Settings

log = logging.getLogger(__name__)


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


class JoinWatch:
    """Notices a group member whose join does not complete, so its service can replace it.

    Seen with tansu under load: a consumer logs its (empty) revocation and then never
    gets an assignment, and the group's partitions are read by no one. A completed join
    calls the rebalance listener's ``on_partitions_assigned`` even with no partitions, so
    "no assignment callback for ``timeout_s`` since subscribing or since a revocation"
    means stuck, not merely idle.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._since = time.monotonic()
        self._assigned = False

    def restart(self) -> None:
        """A (re)join begins: subscribing, or partitions revoked."""
        self._since = time.monotonic()
        self._assigned = False

    def assigned(self) -> None:
        self._assigned = True

    def stalled(self) -> bool:
        return not self._assigned and time.monotonic() - self._since > self.timeout_s


def ensure_topics(settings: Settings, topics: list[str], *, attempts: int = 30) -> None:
    """Create the topics greenmon needs if they do not exist (idempotent)."""
    delay = 0.2
    for attempt in range(1, attempts + 1):
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=settings.kafka_bootstrap, client_id="greenmon-admin"
            )
            break
        except (KafkaError, OSError) as exc:
            if attempt == attempts:
                raise ServiceError(f"Kafka at {settings.kafka_url} not reachable: {exc}") from exc
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
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


def dead_letter(
    *, reason: str, source: str, payload: bytes, origin: str, received_at: datetime | None = None
) -> bytes:
    """A dead-letter record: the raw payload (text, or base64 if not UTF-8) and the reason."""
    try:
        body: str = payload.decode("utf-8")
        encoding = "utf-8"
    except UnicodeDecodeError:
        body = base64.b64encode(payload).decode("ascii")
        encoding = "base64"
    doc: dict[str, Any] = {
        "reason": reason,
        "source": source,
        "origin": origin,
        "payload": body,
        "payload_encoding": encoding,
        "received_at": (received_at or datetime.now(UTC)).isoformat(),
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
