"""The group consumer's handling of stored positions from another log, one case each:
a new cluster/topic (at assignment), past the end and below the start (after the first
fetch). The Kafka client and the database are stand-ins that record what was asked."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from kafka import TopicPartition

from greenmon.observe import Counters
from greenmon.runtime.consumer import GroupConsumer
from greenmon.runtime.service import ServiceRuntime
from greenmon.settings import load_settings

TOPIC = "readings"
TP = TopicPartition(TOPIC, 3)
CLUSTER, TOPIC_ID = "tansu_cluster", "01a2368a-b03f-7e62-8d11-bf222d527abb"


@dataclass
class _Rows:
    rows: list[tuple[Any, ...]]

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows


@dataclass
class FakeConn:
    stored: list[tuple[Any, ...]]
    writes: list[tuple[Any, ...]] = field(default_factory=list)

    def execute(self, sql: str, params: tuple[Any, ...]) -> _Rows:
        if sql.startswith("SELECT"):
            return _Rows(self.stored)
        self.writes.append(params)
        return _Rows([])

    def rollback(self) -> None:
        pass

    @contextmanager
    def transaction(self) -> Any:
        yield


class FakeCluster:
    def __init__(self, topic_id: str) -> None:
        self.cluster_id = CLUSTER
        self._topic_id = topic_id

    def topic_id(self, topic: str) -> str:
        return self._topic_id


@dataclass
class Record:
    offset: int


class FakeKafka:
    def __init__(self, topic_id: str, high: int, start: int, records: list[int]) -> None:
        self._client = type("Client", (), {"cluster": FakeCluster(topic_id)})()
        self._high, self._start, self._records = high, start, records
        self.fetched = False
        self.seeks: list[tuple[TopicPartition, int | str]] = []

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))

    def seek_to_beginning(self, tp: TopicPartition) -> None:
        self.seeks.append((tp, "beginning"))

    def highwater(self, tp: TopicPartition) -> int | None:
        return self._high if self.fetched else None  # known once a fetch answered

    def beginning_offsets(self, tps: list[TopicPartition], timeout_ms: int) -> dict[Any, int]:
        return dict.fromkeys(tps, self._start)

    def poll(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Record]]:
        self.fetched = True
        return {TP: [Record(o) for o in self._records]} if self._records else {}


def consumer_with(conn: FakeConn, kafka: FakeKafka) -> tuple[GroupConsumer, Counters]:
    counters = Counters()
    runtime = ServiceRuntime(load_settings(), "processor", counters)
    runtime.db = type("Db", (), {"get": lambda self: conn, "drop": lambda self: None})()
    consumer = GroupConsumer(runtime, TOPIC, group="g", positions_key="g", client_id="t")
    consumer._consumer = kafka
    return consumer, counters


def reset_to_zero(conn: FakeConn) -> bool:
    """The stored position was reset to 0, with the log's identity now."""
    return any(w[2:6] == (CLUSTER, TOPIC_ID, [3], [0]) for w in conn.writes)


def test_a_new_topic_is_read_from_its_start_at_assignment() -> None:
    conn = FakeConn([(3, 50, CLUSTER, "old-topic-id")])
    kafka = FakeKafka(TOPIC_ID, high=80, start=0, records=[])
    consumer, counters = consumer_with(conn, kafka)
    consumer.assigned([TP])
    assert kafka.seeks == [(TP, "beginning")]
    assert counters["log_resets"] == 1 and reset_to_zero(conn)


def test_a_position_past_the_end_is_read_from_the_start_after_the_first_fetch() -> None:
    conn = FakeConn([(3, 50, CLUSTER, None)])  # stored before the identity was kept
    kafka = FakeKafka(TOPIC_ID, high=5, start=0, records=[0, 1, 2, 3, 4])
    consumer, counters = consumer_with(conn, kafka)
    consumer.assigned([TP])
    assert kafka.seeks == [(TP, 50)] and counters["log_resets"] == 0
    # the client, out of range, re-read from 0 on its own: those records are not handed on
    assert consumer.poll(100, 10) == {}
    assert kafka.seeks[-1] == (TP, "beginning")
    assert counters["log_resets"] == 1 and reset_to_zero(conn)


def test_a_position_below_the_log_start_is_read_from_the_start() -> None:
    conn = FakeConn([(3, 100, CLUSTER, TOPIC_ID)])
    kafka = FakeKafka(TOPIC_ID, high=300, start=120, records=[120, 121])
    consumer, counters = consumer_with(conn, kafka)
    consumer.assigned([TP])
    assert consumer.poll(100, 10) == {}
    assert kafka.seeks == [(TP, 100), (TP, "beginning")]
    assert counters["log_resets"] == 1 and reset_to_zero(conn)


def test_a_position_within_the_same_log_is_used_and_its_records_handed_on() -> None:
    conn = FakeConn([(3, 50, CLUSTER, TOPIC_ID)])
    kafka = FakeKafka(TOPIC_ID, high=80, start=0, records=[50, 51])
    consumer, counters = consumer_with(conn, kafka)
    consumer.assigned([TP])
    polled = consumer.poll(100, 10)
    assert [r.offset for r in polled[TP]] == [50, 51]
    assert kafka.seeks == [(TP, 50)]
    assert counters["log_resets"] == 0 and conn.writes == []
