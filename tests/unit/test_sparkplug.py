"""Sparkplug B: payload decoding against hand-encoded bytes, and the host session rules."""

from __future__ import annotations

import pytest

from collector.sparkplug import REBIRTH_HOLDOFF_S, SessionBook
from collector.sparkplug_wire import (
    MessageType,
    SpTopic,
    decode_payload,
    parse_sp_topic,
    rebirth_payload,
    signed,
)
from greenmon.errors import InvalidReading
from tests.sparkplug_node import DOUBLE, INT32, INT64, UINT64, M, command_metrics, payload_bytes

T0 = 1_735_660_800_000  # 2025-01-01T00:00:00+08:00 in ms


def _topic(kind: str, device: str | None = None) -> SpTopic:
    return parse_sp_topic("/".join(["spBv1.0", "E1", kind, "node1", *([device] if device else [])]))


def _birth(bd_seq: int = 0) -> bytes:
    return payload_bytes(
        T0,
        0,
        [
            M("bdSeq", None, T0, INT64, bd_seq),
            M("Node Control/Rebirth", None, T0, 11, False),
            M("M1", 1, T0, DOUBLE, 100.5),
            M("Energy/Main", 2, T0, UINT64, 7),
        ],
    )


def _data(seq: int, *metrics: M) -> bytes:
    return payload_bytes(T0 + 900_000, seq, list(metrics))


def test_decodes_hand_encoded_payload() -> None:
    p = decode_payload(
        payload_bytes(
            T0,
            5,
            [
                M("a", 3, T0 + 1, DOUBLE, 1.25),
                M(None, 4, None, INT32, -2),
                M("h", None, T0, UINT64, 2**40, historical=True),
                M("n", datatype=DOUBLE),
            ],
        )
    )
    assert (p.timestamp_ms, p.seq) == (T0, 5)
    a, b, h, n = p.metrics
    assert (a.name, a.alias, a.timestamp_ms, a.datatype, a.value) == ("a", 3, T0 + 1, DOUBLE, 1.25)
    assert (b.name, b.alias, signed(int(b.value or 0), b.datatype)) == (None, 4, -2)
    assert h.historical and h.value == 2**40
    assert n.is_null and n.value is None


def test_garbage_payload_and_topics_refused() -> None:
    with pytest.raises(InvalidReading, match="not a Sparkplug B protobuf"):
        decode_payload(b"\xff\xff\xff")
    with pytest.raises(InvalidReading, match="unknown Sparkplug message type"):
        parse_sp_topic("spBv1.0/E1/NFOO/n1")
    with pytest.raises(InvalidReading, match="needs a device id"):
        parse_sp_topic("spBv1.0/E1/DDATA/n1")


def test_rebirth_command_payload() -> None:
    assert command_metrics(rebirth_payload(T0)) == {"Node Control/Rebirth": True}


def test_birth_then_aliased_data() -> None:
    book = SessionBook()
    out = book.handle(_topic("NBIRTH"), decode_payload(_birth()), 0.0)
    assert [n.name for n in out.named] == ["M1", "Energy/Main"]  # control metrics are not data
    assert out.rebirth is None and not out.unmapped
    out = book.handle(
        _topic("NDATA"),
        decode_payload(
            _data(1, M(None, 1, T0 + 900_000, DOUBLE, 101.0), M(None, 2, None, UINT64, 9))
        ),
        1.0,
    )
    assert [(n.name, n.metric.value, n.datatype) for n in out.named] == [
        ("M1", 101.0, DOUBLE),
        ("Energy/Main", 9, UINT64),
    ]
    assert out.rebirth is None


def test_sequence_gap_asks_rebirth_once_within_holdoff_and_redelivery_is_no_gap() -> None:
    book = SessionBook()
    book.handle(_topic("NBIRTH"), decode_payload(_birth()), 0.0)
    book.handle(_topic("NDATA"), decode_payload(_data(1, M(None, 1, None, DOUBLE, 1.0))), 0.0)
    again = book.handle(
        _topic("NDATA"), decode_payload(_data(1, M(None, 1, None, DOUBLE, 1.0))), 0.1
    )
    assert again.rebirth is None  # the same seq: an MQTT redelivery
    gap = book.handle(_topic("NDATA"), decode_payload(_data(3, M(None, 1, None, DOUBLE, 2.0))), 0.2)
    assert gap.rebirth is not None and "expected seq 2, got 3" in gap.rebirth
    assert [n.name for n in gap.named] == ["M1"]  # still mapped with the birth's aliases
    gap2 = book.handle(
        _topic("NDATA"), decode_payload(_data(9, M(None, 1, None, DOUBLE, 3.0))), 0.3
    )
    assert gap2.rebirth is None and gap2.note and "already asked" in gap2.note
    later = REBIRTH_HOLDOFF_S + 1
    gap3 = book.handle(
        _topic("NDATA"), decode_payload(_data(20, M(None, 1, None, DOUBLE, 3.0))), later
    )
    assert gap3.rebirth is not None


def test_seq_wraps_after_255() -> None:
    book = SessionBook()
    book.handle(
        _topic("NBIRTH"),
        decode_payload(
            payload_bytes(T0, 254, [M("bdSeq", None, T0, INT64, 0), M("M1", 1, T0, DOUBLE, 1.0)])
        ),
        0,
    )
    for seq in (255, 0, 1):
        out = book.handle(
            _topic("NDATA"), decode_payload(_data(seq, M(None, 1, None, DOUBLE, 1.0))), 0
        )
        assert out.rebirth is None, seq


def test_data_before_birth_and_unknown_alias() -> None:
    book = SessionBook()
    out = book.handle(
        _topic("NDATA"),
        decode_payload(_data(4, M(None, 1, None, DOUBLE, 1.0), M("M1", None, T0, DOUBLE, 2.0))),
        0.0,
    )
    assert out.rebirth is not None and "before its NBIRTH" in out.rebirth
    assert [n.name for n in out.named] == ["M1"]  # a named metric is still mapped
    assert [u.index for u in out.unmapped] == [0]
    assert "alias 1 is not defined" in out.unmapped[0].reason
    book.handle(_topic("NBIRTH"), decode_payload(_birth()), 10.0)
    out = book.handle(
        _topic("NDATA"), decode_payload(_data(1, M(None, 99, None, DOUBLE, 1.0))), 20.0
    )
    assert out.rebirth == "unknown alias 99"
    assert "alias 99 is not defined" in out.unmapped[0].reason


def test_ndeath_with_matching_bdseq_ends_session_and_stales_metrics() -> None:
    book = SessionBook()
    book.handle(_topic("NBIRTH"), decode_payload(_birth(bd_seq=3)), 0.0)
    dbirth = payload_bytes(T0, 1, [M("D1", 10, T0, DOUBLE, 5.0)])
    assert [
        n.name for n in book.handle(_topic("DBIRTH", "dev"), decode_payload(dbirth), 0).named
    ] == ["D1"]
    ddata = payload_bytes(T0, 2, [M(None, 10, T0 + 1, DOUBLE, 6.0)])
    assert [
        n.name for n in book.handle(_topic("DDATA", "dev"), decode_payload(ddata), 0).named
    ] == ["D1"]
    old = book.handle(
        _topic("NDEATH"),
        decode_payload(payload_bytes(None, None, [M("bdSeq", None, None, INT64, 2)])),
        0,
    )
    assert not old.stale and old.note and "older session" in old.note
    assert book.session("E1", "node1") is not None
    death = book.handle(
        _topic("NDEATH"),
        decode_payload(payload_bytes(None, None, [M("bdSeq", None, None, INT64, 3)])),
        0,
    )
    assert death.stale == ["D1", "Energy/Main", "M1"]
    assert book.session("E1", "node1") is None


def test_ddata_before_dbirth_asks_rebirth() -> None:
    book = SessionBook()
    book.handle(_topic("NBIRTH"), decode_payload(_birth()), 0.0)
    out = book.handle(
        _topic("DDATA", "dev"),
        decode_payload(payload_bytes(T0, 1, [M(None, 10, T0, DOUBLE, 1.0)])),
        0,
    )
    assert out.rebirth is not None and "before its DBIRTH" in out.rebirth
    assert out.unmapped and not out.named


def test_message_type_enum_covers_topic_types() -> None:
    assert {t.value for t in MessageType} >= {
        "NBIRTH",
        "NDATA",
        "NDEATH",
        "DBIRTH",
        "DDATA",
        "DDEATH",
    }


def test_commands_seen_on_the_subscription_are_not_data() -> None:
    book = SessionBook()
    book.handle(_topic("NBIRTH"), decode_payload(_birth()), 0.0)
    out = book.handle(_topic("NCMD"), decode_payload(rebirth_payload(T0)), 0.0)
    assert (out.named, out.unmapped, out.rebirth, out.stale) == ([], [], None, [])
    nxt = book.handle(_topic("NDATA"), decode_payload(_data(1, M(None, 1, None, DOUBLE, 1.0))), 0)
    assert nxt.rebirth is None  # a command does not move the node's seq
