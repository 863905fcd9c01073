"""Sparkplug B on the wire: topics and the protobuf payload (Eclipse Sparkplug B 3.0).

The payload schema is the specification's ``sparkplug_b.proto`` (package
``org.eclipse.tahu.protobuf``), declared here with the field numbers the
specification fixes and compiled by the protobuf runtime, so decoding is
protobuf's own. Only what greenmon reads is declared: payload timestamp, metrics
and seq; a metric's name, alias, timestamp, datatype, historical and null flags
and its scalar value. Fields not declared (data sets, templates, properties) are
skipped as unknown fields, as protobuf does.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from greenmon.errors import InvalidReading

NAMESPACE: Final = "spBv1.0"
REBIRTH_METRIC: Final = "Node Control/Rebirth"
BDSEQ_METRIC: Final = "bdSeq"
#: Sparkplug datatypes whose value greenmon can book (numbers), by their number
NUMERIC_TYPES: Final = {
    1: "Int8",
    2: "Int16",
    3: "Int32",
    4: "Int64",
    5: "UInt8",
    6: "UInt16",
    7: "UInt32",
    8: "UInt64",
    9: "Float",
    10: "Double",
}
BOOLEAN: Final = 11
_VALUE_FIELDS: Final = (
    ("int_value", 10, "uint32"),
    ("long_value", 11, "uint64"),
    ("float_value", 12, "float"),
    ("double_value", 13, "double"),
    ("boolean_value", 14, "bool"),
    ("string_value", 15, "string"),
    ("bytes_value", 16, "bytes"),
)


class MessageType(StrEnum):
    NBIRTH = "NBIRTH"
    NDEATH = "NDEATH"
    DBIRTH = "DBIRTH"
    DDEATH = "DDEATH"
    NDATA = "NDATA"
    DDATA = "DDATA"
    NCMD = "NCMD"
    DCMD = "DCMD"
    STATE = "STATE"


@dataclass(frozen=True, slots=True)
class SpTopic:
    """``spBv1.0/{group_id}/{message_type}/{edge_node_id}[/{device_id}]``."""

    group_id: str
    message_type: MessageType
    edge_node_id: str
    device_id: str | None = None

    @property
    def node_key(self) -> tuple[str, str]:
        return self.group_id, self.edge_node_id


@dataclass(frozen=True, slots=True)
class SpMetric:
    """One decoded metric: ``value`` is None when null or not a scalar."""

    name: str | None
    alias: int | None
    timestamp_ms: int | None
    datatype: int | None
    historical: bool
    is_null: bool
    value: float | int | bool | str | bytes | None

    def describe(self) -> dict[str, Any]:
        """The metric as JSON-able fields (what its dead letter carries)."""
        value = self.value.hex() if isinstance(self.value, bytes) else self.value
        doc: dict[str, Any] = {
            "name": self.name,
            "alias": self.alias,
            "timestamp": self.timestamp_ms,
            "datatype": self.datatype,
            "value": value,
        }
        if self.historical:
            doc["is_historical"] = True
        if self.is_null:
            doc["is_null"] = True
        return doc


@dataclass(frozen=True, slots=True)
class SpPayload:
    timestamp_ms: int | None
    seq: int | None
    metrics: tuple[SpMetric, ...]


def is_sparkplug_topic(topic: str) -> bool:
    return topic.startswith(NAMESPACE + "/")


def parse_sp_topic(topic: str) -> SpTopic:
    """Split a Sparkplug B topic; raises InvalidReading when it is not one greenmon reads."""
    parts = topic.split("/")
    if parts[0] != NAMESPACE or len(parts) not in (4, 5):
        raise InvalidReading(
            f"topic {topic!r} is not {NAMESPACE}/{{group_id}}/{{type}}/{{edge_node}}[/{{device}}]"
        )
    try:
        kind = MessageType(parts[2])
    except ValueError:
        raise InvalidReading(
            f"topic {topic!r}: unknown Sparkplug message type {parts[2]!r}"
        ) from None
    device = parts[4] if len(parts) == 5 else None
    if (device is None) != kind.value.startswith("N"):
        raise InvalidReading(
            f"topic {topic!r}: {kind.value} needs {'a' if device is None else 'no'} device id"
        )
    return SpTopic(parts[1], kind, parts[3], device)


def _schema() -> tuple[Any, Any]:
    """Payload and Metric message classes from the specification's field numbers (proto2)."""
    T = descriptor_pb2.FieldDescriptorProto
    types = {
        "uint32": T.TYPE_UINT32,
        "uint64": T.TYPE_UINT64,
        "float": T.TYPE_FLOAT,
        "double": T.TYPE_DOUBLE,
        "bool": T.TYPE_BOOL,
        "string": T.TYPE_STRING,
        "bytes": T.TYPE_BYTES,
    }
    f = descriptor_pb2.FileDescriptorProto(
        name="greenmon_sparkplug_b.proto", package="org.eclipse.tahu.protobuf", syntax="proto2"
    )
    payload = f.message_type.add(name="Payload")
    metric = payload.nested_type.add(name="Metric")
    metric.oneof_decl.add(name="value")

    def field(msg: Any, name: str, number: int, kind: str, **extra: Any) -> None:
        msg.field.add(name=name, number=number, type=types[kind], label=T.LABEL_OPTIONAL, **extra)

    field(metric, "name", 1, "string")
    field(metric, "alias", 2, "uint64")
    field(metric, "timestamp", 3, "uint64")
    field(metric, "datatype", 4, "uint32")
    field(metric, "is_historical", 5, "bool")
    field(metric, "is_transient", 6, "bool")
    field(metric, "is_null", 7, "bool")
    for name, number, kind in _VALUE_FIELDS:
        field(metric, name, number, kind, oneof_index=0)
    field(payload, "timestamp", 1, "uint64")
    payload.field.add(
        name="metrics",
        number=2,
        type=T.TYPE_MESSAGE,
        label=T.LABEL_REPEATED,
        type_name=".org.eclipse.tahu.protobuf.Payload.Metric",
    )
    field(payload, "seq", 3, "uint64")
    field(payload, "uuid", 4, "string")
    field(payload, "body", 5, "bytes")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    desc = pool.FindMessageTypeByName("org.eclipse.tahu.protobuf.Payload")
    return message_factory.GetMessageClass(desc), desc.nested_types_by_name["Metric"]


_PAYLOAD, _METRIC_DESC = _schema()


def decode_payload(data: bytes) -> SpPayload:
    """Decode a Sparkplug B payload; raises InvalidReading when it is not protobuf."""
    msg = _PAYLOAD()
    try:
        msg.ParseFromString(data)
    except DecodeError as exc:
        raise InvalidReading(f"payload is not a Sparkplug B protobuf payload: {exc}") from None
    metrics = []
    for m in msg.metrics:
        which = m.WhichOneof("value")
        value = getattr(m, which) if which is not None and not m.is_null else None
        if which == "float_value" and value is not None:
            value = float(m.float_value)
        metrics.append(
            SpMetric(
                name=m.name if m.HasField("name") else None,
                alias=m.alias if m.HasField("alias") else None,
                timestamp_ms=m.timestamp if m.HasField("timestamp") else None,
                datatype=m.datatype if m.HasField("datatype") else None,
                historical=m.is_historical,
                is_null=m.is_null,
                value=value,
            )
        )
    return SpPayload(
        timestamp_ms=msg.timestamp if msg.HasField("timestamp") else None,
        seq=msg.seq if msg.HasField("seq") else None,
        metrics=tuple(metrics),
    )


def signed(value: int, datatype: int | None) -> int:
    """A signed Sparkplug integer from its unsigned wire form (two's complement)."""
    bits = {1: 8, 2: 16, 3: 32, 4: 64}.get(datatype or 0)
    if bits is None:
        return value
    width = bits if value < 2**bits else (32 if bits < 64 else 64)
    return value - 2**width if value >= 2 ** (width - 1) else value


def rebirth_payload(timestamp_ms: int) -> bytes:
    """An NCMD payload asking the edge node for a new birth (``Node Control/Rebirth`` = true)."""
    msg = _PAYLOAD(timestamp=timestamp_ms)
    metric = msg.metrics.add()
    metric.name = REBIRTH_METRIC
    metric.timestamp = timestamp_ms
    metric.datatype = BOOLEAN
    metric.boolean_value = True
    data: bytes = msg.SerializeToString()
    return data


def command_topic(group_id: str, edge_node_id: str) -> str:
    return f"{NAMESPACE}/{group_id}/{MessageType.NCMD.value}/{edge_node_id}"
