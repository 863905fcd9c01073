"""The rule that tells a stored position from an offset in another log (issue 11).

A stored position (the next offset to read) belongs to one log. When the topic was
deleted and recreated, the cluster replaced or restored, the broker restarted on empty
storage, or retention removed records never read, the stored offset no longer means the
record it meant. Proof of that, in the order checked:

- the broker reports another cluster id, or another topic id, than the one stored;
- the stored offset is above the partition's high-water mark (past the end of the log);
- the stored offset is below the log start offset (records removed before being read).

On any of them the partition is read again from its start: booking is idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass

from greenmon.storage.positions import LogIdentity, StoredPosition


@dataclass(frozen=True)
class LogChanged:
    """Why a stored position cannot be used; ``actual`` is the broker's offset compared."""

    reason: str
    stored: int
    actual: int | str


def identity_changed(stored: StoredPosition, current: LogIdentity) -> LogChanged | None:
    """Another cluster or topic than the stored one (unknown on either side proves nothing)."""
    pairs = (
        ("cluster id", stored.identity.cluster_id, current.cluster_id),
        ("topic id", stored.identity.topic_id, current.topic_id),
    )
    for what, was, now in pairs:
        if was is not None and now is not None and was != now:
            return LogChanged(f"{what} changed from {was} to {now}", stored.offset, now)
    return None


def below_start(stored: int, log_start: int | None) -> LogChanged | None:
    if log_start is not None and stored < log_start:
        return LogChanged("stored position below the log start offset", stored, log_start)
    return None


def beyond_end(stored: int, high_water: int | None) -> LogChanged | None:
    if high_water is not None and stored > high_water:
        return LogChanged("stored position beyond the high-water mark", stored, high_water)
    return None


def check(
    stored: StoredPosition,
    current: LogIdentity,
    *,
    log_start: int | None = None,
    high_water: int | None = None,
) -> LogChanged | None:
    """The first proof that ``stored`` is from another log than the one the broker has."""
    return (
        identity_changed(stored, current)
        or below_start(stored.offset, log_start)
        or beyond_end(stored.offset, high_water)
    )
