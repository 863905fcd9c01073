"""Stored consumer positions (``stream_offsets``): the next offset of each partition,
and the identity of the log it is an offset in (cluster id, topic id; migration 0011).

A service stores its positions in the same transaction as what it made of the records,
so the database, not Kafka, says what was applied. ``lock`` fences off a stale or zombie
reader of the same partitions; positions are only ever moved back by ``reset`` (a new
log: greenmon/runtime/consumer.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from greenmon.storage.db import Conn


@dataclass(frozen=True)
class LogIdentity:
    """Which log offsets belong to: None where the broker does not say (or not yet known)."""

    cluster_id: str | None = None
    topic_id: str | None = None


@dataclass(frozen=True)
class StoredPosition:
    offset: int
    identity: LogIdentity


def stored(conn: Conn, group: str, topic: str) -> dict[int, StoredPosition]:
    """Every stored position of ``group`` on ``topic``, by partition."""
    rows = conn.execute(
        "SELECT partition, next_offset, cluster_id, topic_id FROM stream_offsets "
        "WHERE consumer_group = %s AND topic = %s",
        (group, topic),
    ).fetchall()
    return {int(p): StoredPosition(int(o), LogIdentity(c, t)) for p, o, c, t in rows}


def lock(conn: Conn, group: str, topic: str, partitions: Iterable[int]) -> dict[int, int]:
    """Lock and return the stored next offset of each partition (0 where none was stored).

    The rows are created first: ``FOR UPDATE`` cannot lock a row that does not exist, so
    two readers of a partition's first records would otherwise both apply them. A
    concurrent creator waits here for the other's commit and then sees its position."""
    parts = sorted(partitions)
    conn.execute(
        "INSERT INTO stream_offsets (consumer_group, topic, partition, next_offset) "
        "SELECT %s, %s, p, 0 FROM unnest(%s::int[]) AS t(p) ON CONFLICT DO NOTHING",
        (group, topic, parts),
    )
    rows = conn.execute(
        "SELECT partition, next_offset FROM stream_offsets WHERE consumer_group = %s "
        "AND topic = %s AND partition = ANY(%s) ORDER BY partition FOR UPDATE",
        (group, topic, parts),
    ).fetchall()
    return {int(r[0]): int(r[1]) for r in rows}


def save(
    conn: Conn,
    group: str,
    topic: str,
    positions: Mapping[int, int],
    identity: LogIdentity,
    *,
    reset: bool = False,
) -> None:
    """Store next offsets and the log they are in. Without ``reset`` a position whose log is
    not known now keeps its stored identity; with it the row is the new log's, whole."""
    parts = sorted(positions)
    keep = "EXCLUDED.{0}" if reset else "coalesce(EXCLUDED.{0}, stream_offsets.{0})"
    conn.execute(
        "INSERT INTO stream_offsets "
        "(consumer_group, topic, partition, next_offset, cluster_id, topic_id) "
        "SELECT %s, %s, p, o, %s, %s FROM unnest(%s::int[], %s::bigint[]) AS t(p, o) "
        "ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET "
        "next_offset = EXCLUDED.next_offset, "
        f"cluster_id = {keep.format('cluster_id')}, topic_id = {keep.format('topic_id')}, "
        "updated_at = now()",
        (group, topic, identity.cluster_id, identity.topic_id, parts,
         [positions[p] for p in parts]),
    )  # fmt: skip
