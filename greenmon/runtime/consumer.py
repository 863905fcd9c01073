"""The one Kafka consumer of greenmon's services.

``GroupConsumer`` owns what every reader of a topic needs:

- subscription to a consumer group (or, without a group, every partition assigned);
- the join watch, and replacing a member whose group join is stuck (seen with tansu);
- on assignment, seeking to the positions stored in the database and validating them
  against the log (``greenmon.runtime.positions``): a position from another log is
  logged at ERROR, counted (``log_resets``) and the partition read again from its start;
- storing positions with the identity of their log, in the caller's transaction
  (``lock_positions`` / ``save_positions``), and committing to Kafka after that;
- lag from the fetch high-water mark (tansu's ``end_offsets()`` answers wrong values).

Positions are kept in the database (``positions_key``, the processor and its
value-added input) or, without one, in Kafka's committed offsets (alerts), which live
and die with the log itself.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Mapping, Sequence

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from greenmon.bus import kafka as bus_kafka
from greenmon.runtime import positions as rule
from greenmon.runtime.service import ServiceRuntime
from greenmon.storage import positions as store
from greenmon.storage.db import Conn
from greenmon.storage.positions import LogIdentity

Polled = dict[TopicPartition, list[ConsumerRecord]]


class JoinWatch:
    """Notices a group member whose join does not complete, so it can be replaced.

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


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: GroupConsumer) -> None:
        self._owner = owner

    def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        self._owner.revoked(revoked)

    def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        self._owner.assigned(assigned)


class GroupConsumer:
    """One topic's reader for a service; see the module docstring."""

    def __init__(
        self,
        runtime: ServiceRuntime,
        topic: str,
        *,
        group: str | None,
        positions_key: str | None,
        client_id: str,
        group_instance_id: str | None = None,
    ) -> None:
        self.runtime = runtime
        self.topic = topic
        self.group = group
        self.positions_key = positions_key
        self._client_id = client_id
        #: static membership (Kafka's group.instance.id): a restarted member keeps its
        #: partitions without a rebalance (README: Performance)
        self._instance_id = group_instance_id
        self._log = runtime.log
        self.join_watch = JoinWatch(runtime.settings.kafka_join_timeout_s)
        #: partitions whose stored position still waits for a high-water mark to check
        self._unchecked: dict[TopicPartition, int] = {}
        self._consumer: KafkaConsumer | None = None

    # --- membership ---------------------------------------------------------------------------
    def start(self) -> None:
        """Make the Kafka consumer (once the topic exists) and join the group."""
        self._consumer = bus_kafka.consumer(
            self.runtime.settings,
            client_id=self._client_id,
            group_id=self.group,
            group_instance_id=self._instance_id,
        )
        if self.group is not None:
            self.join_watch.restart()
            self._consumer.subscribe([self.topic], listener=_Listener(self))

    @property
    def kafka(self) -> KafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("GroupConsumer.start() was not called")
        return self._consumer

    def revoked(self, revoked: Sequence[TopicPartition]) -> None:
        self._log.info("partitions revoked: %s", sorted(tp.partition for tp in revoked))
        self.join_watch.restart()

    def assigned(self, assigned: Sequence[TopicPartition]) -> None:
        self._log.info("partitions assigned: %s", sorted(tp.partition for tp in assigned))
        self.join_watch.assigned()
        if self.positions_key is not None:
            self.seek_to_stored(assigned)

    def _assign_all(self) -> bool:
        """Without a group: take every partition of the topic once it has any."""
        partitions = self.kafka.partitions_for_topic(self.topic)
        if not partitions:
            return False
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        self.kafka.assign(tps)
        self._log.info("reading partitions %s of %s", sorted(partitions), self.topic)
        self.join_watch.assigned()
        if self.positions_key is not None:
            self.seek_to_stored(tps)
        return True

    def _replace_stalled(self) -> None:
        """The group join did not complete: leave with this consumer, join with a new one."""
        self._log.warning("no partitions assigned for %.0f s: replacing the Kafka consumer",
                          self.join_watch.timeout_s)  # fmt: skip
        self.runtime.counters.add("rejoins")
        with contextlib.suppress(Exception):
            self.kafka.close(autocommit=False, timeout_ms=5000)
        self.start()

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close(autocommit=False, timeout_ms=5000)

    # --- stored positions and their log -------------------------------------------------------
    def identity(self) -> LogIdentity:
        """The cluster id and topic id the broker reports (None where it does not)."""
        cluster = self.kafka._client.cluster  # kafka-python keeps them on ClusterMetadata
        topic_id = cluster.topic_id(self.topic)
        return LogIdentity(
            cluster.cluster_id or None, str(topic_id) if topic_id is not None else None
        )

    def _log_starts(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        """Each partition's log start offset (ListOffsets earliest); empty if not answered."""
        try:
            return dict(self.kafka.beginning_offsets(list(tps), timeout_ms=10_000))
        except KafkaError as exc:
            self._log.warning("log start offsets of %s not known: %r", self.topic, exc)
            return {}

    def seek_to_stored(self, tps: Sequence[TopicPartition]) -> None:
        """Resume each partition where the database says it was applied up to, unless the
        stored position is from another cluster or topic (then from the log's start).

        Runs in the rebalance callback, where the Kafka client must not block: the offsets
        are checked against the log once a fetch brought its bounds (``_check_bounds``)."""
        key = self.positions_key
        if key is None or not tps:
            return

        def read() -> dict[int, store.StoredPosition]:
            conn = self.runtime.db.get()
            found = store.stored(conn, key, self.topic)
            conn.rollback()
            return found

        stored = self.runtime.retry("reading stored positions", read)
        if stored is None:  # stopping
            return
        identity = self.identity()
        for tp in tps:
            position = stored.get(tp.partition)
            if position is None:
                self.kafka.seek_to_beginning(tp)
                continue
            changed = rule.identity_changed(position, identity)
            if changed is not None:
                self._read_again(tp, changed)
                continue
            self.kafka.seek(tp, position.offset)
            self._unchecked[tp] = position.offset

    def _check_bounds(self, polled: Polled) -> None:
        """Stored positions past the end of the log or below its start, once a fetch told
        where the end is.

        Their records (if the client already re-read from the start on its own) are dropped
        from this batch: the partition is read again, from a position reset in the database."""
        known = [tp for tp in self._unchecked if self.kafka.highwater(tp) is not None]
        if not known:
            return
        starts = self._log_starts(known)
        for tp in known:
            offset = self._unchecked.pop(tp)
            changed = rule.beyond_end(offset, self.kafka.highwater(tp)) or rule.below_start(
                offset, starts.get(tp)
            )
            if changed is not None:
                polled.pop(tp, None)
                self._read_again(tp, changed)

    def _read_again(self, tp: TopicPartition, changed: rule.LogChanged) -> None:
        self._log.error(
            "the log of %s partition %d is not the one its stored position came from (%s): "
            "stored offset %d, broker's %s; reading the partition again from its start",
            tp.topic, tp.partition, changed.reason, changed.stored, changed.actual,
        )  # fmt: skip
        self.runtime.counters.add("log_resets")
        key, identity = self.positions_key, self.identity()
        if key is not None:

            def reset() -> None:
                conn = self.runtime.db.get()
                with conn.transaction():
                    store.save(conn, key, self.topic, {tp.partition: 0}, identity, reset=True)

            self.runtime.retry("resetting a stored position", reset)
        self._unchecked.pop(tp, None)
        self.kafka.seek_to_beginning(tp)

    def lock_positions(self, conn: Conn, partitions: Iterable[int]) -> dict[int, int]:
        """Lock the stored positions (in the caller's transaction); see storage.positions."""
        assert self.positions_key is not None
        return store.lock(conn, self.positions_key, self.topic, partitions)

    def save_positions(self, conn: Conn, positions: Mapping[int, int]) -> None:
        """Store next offsets with their log's identity (in the caller's transaction)."""
        assert self.positions_key is not None
        store.save(conn, self.positions_key, self.topic, positions, self.identity())

    # --- reading ------------------------------------------------------------------------------
    def poll(self, timeout_ms: int, max_records: int) -> Polled:
        """Records fetched (from validated positions only), and the lag updated."""
        if self.group is None and not self.kafka.assignment() and not self._assign_all():
            return {}
        polled: Polled = self.kafka.poll(timeout_ms=timeout_ms, max_records=max_records)
        if self._unchecked:
            self._check_bounds(polled)
        if not polled and self.group is not None and self.join_watch.stalled():
            self._replace_stalled()
        return polled

    def lag(self) -> int:
        """Records behind the fetch high-water mark, over the assigned partitions."""
        lag = 0
        for tp in self.kafka.assignment():
            high = self.kafka.highwater(tp)
            if high is None:
                continue
            try:
                lag += max(high - self.kafka.position(tp, timeout_ms=1000), 0)
            except Exception as exc:  # position unknown during a rebalance
                self._log.debug("no position for %s yet: %s", tp, exc)
        return lag

    def rewind(self, polled: Polled) -> None:
        """A batch was not applied: read the same records again."""
        for tp, records in polled.items():
            if records:
                with contextlib.suppress(Exception):
                    self.kafka.seek(tp, records[0].offset)

    def commit(self, positions: Mapping[int, int] | None = None) -> None:
        """Commit to Kafka what the database already holds; a failure there is harmless.

        With positions in the database those are the truth (a (re)assigned member seeks to
        them); the Kafka commit only helps tools that read the group's lag. It fails when
        the group rebalanced while the batch was written (the generation moved on), or
        while the broker is away: neither may stop the service. Without ``positions``
        the consumer's current positions are committed.
        """
        if self.group is None:
            return
        offsets = None
        if positions is not None:
            offsets = {
                TopicPartition(self.topic, p): OffsetAndMetadata(o, "", -1)
                for p, o in positions.items()
            }
        try:
            self.kafka.commit(offsets, timeout_ms=10_000)
        except KafkaError as exc:
            self._log.warning("Kafka offset commit failed (positions are stored): %r", exc)
