"""Late readings on ``greenmon.readings.late``: readings set aside past the grace period.

A late reading is the reading record of ``greenmon.readings`` unchanged
(:class:`greenmon.domain.wire.ReadingRecord`, versioned by its ``ver`` key, version 1
when absent), so that ``greenmon recompute --late`` can send it back as it came,
marked admitted. Encoded and decoded here; a record this code cannot read (an
unknown version, say) is refused with InvalidReading, whose text is the reason.
"""

from __future__ import annotations

from greenmon.domain.wire import ReadingRecord, decode_record

KIND = "late reading"


def encode_late(record: ReadingRecord) -> bytes:
    """The Kafka value of a reading set aside."""
    return record.encode()


def decode_late(value: bytes) -> ReadingRecord:
    """A late reading; InvalidReading with the reason (e.g. an unknown version) if not one."""
    return decode_record(value, KIND)
