"""Sparkplug B messages into greenmon readings, dead letters, rebirth commands and staleness.

``group_id`` is the enterprise id. A metric maps to the meter the registry names
for it (column ``sparkplug_metric``) within that enterprise, else to the meter whose
id is the metric name. A numeric metric value becomes a reading at the metric's
timestamp (else the payload's), in the meter's registered unit and kind, and gets
the same registry checks as a JSON reading. Historical metrics are readings like
any other: the processor places them in time or sets them aside as late.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg

from collector.acks import Record
from collector.sparkplug import Named, Outcome, SessionBook
from collector.sparkplug_wire import (
    NUMERIC_TYPES,
    SpTopic,
    command_topic,
    decode_payload,
    parse_sp_topic,
    rebirth_payload,
    signed,
)
from collector.validate import MeterLookup, check_reading
from greenmon.domain.registry import Meter
from greenmon.domain.wire import Reading, check_id, parse_payload
from greenmon.errors import InvalidReading, ServiceError
from greenmon.settings import Settings
from greenmon.storage import db, sparkplug_store

log = logging.getLogger("greenmon.collector.sparkplug")

#: topics the collector subscribes to (node and device messages of every group)
SUBSCRIPTIONS = ("spBv1.0/+/+/+", "spBv1.0/+/+/+/+")

DeadLetterFn = Callable[[str, bytes, str, datetime, int | None], Record]
PublishFn = Callable[[str, bytes], None]
StaleFn = Callable[[list[str], datetime], None]


class SparkplugIngest:
    """Turns each Sparkplug B message into the Kafka records the collector acks it by."""

    def __init__(
        self,
        *,
        registry: Callable[[], MeterLookup],
        readings_topic: str,
        dead_letter: DeadLetterFn,
        publish: PublishFn,
        mark_stale: StaleFn,
        future_tolerance: timedelta,
        clock: Callable[[], float],
    ) -> None:
        self._registry = registry
        self._readings_topic = readings_topic
        self._dead_letter = dead_letter
        self._publish = publish
        self._mark_stale = mark_stale
        self._tolerance = future_tolerance
        self._clock = clock
        self._book = SessionBook()
        self._index_of: MeterLookup | None = None
        self._by_metric: dict[tuple[str, str], str] = {}

    def records(self, topic: str, payload: bytes, now: datetime) -> list[Record]:
        try:
            sp_topic = parse_sp_topic(topic)
            check_id("group id (enterprise id)", sp_topic.group_id)
            decoded = decode_payload(payload)
        except InvalidReading as exc:
            return [self._dead_letter(topic, payload, str(exc), now, None)]
        outcome = self._book.handle(sp_topic, decoded, self._clock())
        if outcome.note:
            log.info("%s: %s", topic, outcome.note)
        if outcome.rebirth is not None:
            self._ask_rebirth(sp_topic, outcome.rebirth, now)
        if outcome.stale:
            self._stale(sp_topic, outcome, now)
        return self._to_records(topic, sp_topic, outcome, decoded.timestamp_ms, now)

    def _ask_rebirth(self, topic: SpTopic, why: str, now: datetime) -> None:
        log.warning(
            "asking edge node %s/%s for a rebirth: %s", topic.group_id, topic.edge_node_id, why
        )
        stamp = round(now.timestamp() * 1000)
        self._publish(command_topic(topic.group_id, topic.edge_node_id), rebirth_payload(stamp))

    def _stale(self, topic: SpTopic, outcome: Outcome, now: datetime) -> None:
        meters = [  # only the enterprise's own: a node cannot mark another's meters stale
            m.meter_id
            for name in outcome.stale
            if (m := self._meter(topic.group_id, name)) and m.enterprise_id == topic.group_id
        ]
        log.warning(
            "edge node %s/%s%s died: %d meter(s) stale",
            topic.group_id,
            topic.edge_node_id,
            f"/{topic.device_id}" if topic.device_id else "",
            len(meters),
        )
        self._mark_stale(meters, now)

    def _to_records(
        self, topic: str, sp: SpTopic, outcome: Outcome, payload_ts: int | None, now: datetime
    ) -> list[Record]:
        out: list[tuple[int, Record]] = []
        for named in outcome.named:
            try:
                reading = self._reading(sp.group_id, named, payload_ts, now)
            except InvalidReading as exc:
                doc = named.metric.describe() | {"name": named.name}
                letter = self._metric_letter(topic, named.index, doc, str(exc), now)
                out.append((named.index, letter))
            else:
                record = Record(
                    self._readings_topic, reading.meter_id.encode(), reading.to_record(now)
                )
                out.append((named.index, record))
        for bad in outcome.unmapped:
            letter = self._metric_letter(topic, bad.index, bad.metric.describe(), bad.reason, now)
            out.append((bad.index, letter))
        out.sort(key=lambda pair: pair[0])
        return [record for _, record in out]

    def _metric_letter(
        self, topic: str, index: int, doc: dict[str, object], reason: str, now: datetime
    ) -> Record:
        body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        return self._dead_letter(topic, body, reason, now, index)

    def _reading(
        self, enterprise: str, named: Named, payload_ts: int | None, now: datetime
    ) -> Reading:
        metric = named.metric
        meter = self._meter(enterprise, named.name)
        if meter is None:
            raise InvalidReading(
                f"unknown metric {named.name!r}: no meter of enterprise {enterprise!r} has this "
                "id or Sparkplug metric name"
            )
        if metric.is_null:
            raise InvalidReading(f"metric {named.name!r} has no value (null)")
        if metric.value is None:
            raise InvalidReading(
                f"metric {named.name!r} has no scalar value (a data set, template or extension)"
            )
        if named.datatype not in NUMERIC_TYPES or isinstance(metric.value, bool | str | bytes):
            raise InvalidReading(
                f"metric {named.name!r} has datatype {named.datatype}, not a number "
                f"({', '.join(NUMERIC_TYPES.values())})"
            )
        value = metric.value
        if isinstance(value, int):
            value = signed(value, named.datatype)
        stamp = metric.timestamp_ms if metric.timestamp_ms is not None else payload_ts
        if stamp is None:
            raise InvalidReading(f"metric {named.name!r} has no timestamp, nor has its payload")
        ts = datetime.fromtimestamp(stamp / 1000, tz=UTC)
        body = parse_payload(
            {
                "ts": ts.isoformat(),
                "value": float(value),
                "unit": meter.unit,
                "kind": meter.kind.value,
            }
        )
        return check_reading(
            enterprise, meter.meter_id, body, meter, now=now, future_tolerance=self._tolerance
        )

    def _meter(self, enterprise: str, name: str) -> Meter | None:
        registry = self._registry()
        if registry is not self._index_of:
            self._index_of = registry
            self._by_metric = {
                (m.enterprise_id, m.sparkplug_metric): m.meter_id
                for m in registry.meters.values()
                if m.sparkplug_metric is not None
            }
        meter_id = self._by_metric.get((enterprise, name))
        if meter_id is not None:
            return registry.get(meter_id)
        try:
            check_id("meter id", name)
        except InvalidReading:
            return None
        meter = registry.get(name)
        if meter is not None and meter.sparkplug_metric not in (None, name):
            return None  # this meter is carried by another metric name
        return meter


def for_collector(
    settings: Settings,
    *,
    registry: Callable[[], MeterLookup],
    dead_letter: DeadLetterFn,
    publish: PublishFn,
) -> SparkplugIngest:
    """The ingest wired to a collector: its registry, dead letters, MQTT client, database."""

    def mark_stale(meter_ids: list[str], at: datetime) -> None:
        try:
            with db.connect(settings, autocommit=True) as conn:
                sparkplug_store.mark_stale(conn, meter_ids, at)
        except (ServiceError, psycopg.Error) as exc:
            log.error("could not mark %d meter(s) stale: %s", len(meter_ids), exc)

    return SparkplugIngest(
        registry=registry,
        readings_topic=settings.topic_readings,
        dead_letter=dead_letter,
        publish=publish,
        mark_stale=mark_stale,
        future_tolerance=timedelta(seconds=settings.future_tolerance_s),
        clock=time.monotonic,
    )
