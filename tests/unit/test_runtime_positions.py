"""The rule that tells a stored Kafka position from an offset in another log (issue 11)."""

from __future__ import annotations

from greenmon.runtime.positions import check
from greenmon.storage.positions import LogIdentity, StoredPosition

CLUSTER = "tansu_cluster"
TOPIC_ID = "01a23689-6715-78f2-8c6a-b57ea5d1e4c4"
HERE = LogIdentity(CLUSTER, TOPIC_ID)


def stored(offset: int, identity: LogIdentity = HERE) -> StoredPosition:
    return StoredPosition(offset, identity)


def test_a_position_within_the_log_of_the_same_identity_is_used() -> None:
    assert check(stored(50), HERE, log_start=0, high_water=50) is None  # caught up
    assert check(stored(10), HERE, log_start=10, high_water=80) is None  # at the log start


def test_a_position_beyond_the_end_of_the_log_is_proof_of_a_new_log() -> None:
    # 50 readings applied, then the broker restarted on empty storage: the log ends at 0
    changed = check(stored(50), HERE, log_start=0, high_water=0)
    assert changed is not None
    assert (changed.stored, changed.actual) == (50, 0)
    assert "beyond the high-water mark" in changed.reason


def test_a_position_below_the_log_start_is_proof_that_records_were_removed() -> None:
    # retention removed offsets 0..119 before they were read
    changed = check(stored(100), HERE, log_start=120, high_water=300)
    assert changed is not None
    assert (changed.stored, changed.actual) == (100, 120)
    assert "below the log start" in changed.reason


def test_a_new_cluster_is_proof_even_when_the_offset_looks_valid() -> None:
    # the new cluster's log already holds more records than the stored position
    changed = check(stored(50), LogIdentity("other-cluster", TOPIC_ID), log_start=0, high_water=80)
    assert changed is not None
    assert changed.actual == "other-cluster"
    assert f"cluster id changed from {CLUSTER} to other-cluster" == changed.reason


def test_a_recreated_topic_is_proof_even_when_the_offset_looks_valid() -> None:
    new_topic = "01a2368a-b03f-7e62-8d11-bf222d527abb"
    changed = check(stored(50), LogIdentity(CLUSTER, new_topic), log_start=0, high_water=80)
    assert changed is not None
    assert changed.reason == f"topic id changed from {TOPIC_ID} to {new_topic}"


def test_an_identity_unknown_on_either_side_proves_nothing() -> None:
    before_migration = LogIdentity(None, None)  # stored before 0011
    assert check(stored(50, before_migration), HERE, log_start=0, high_water=80) is None
    no_ids = LogIdentity(None, None)  # a broker that reports neither
    assert check(stored(50), no_ids, log_start=0, high_water=80) is None
    # ...but the offsets still tell
    assert check(stored(50, before_migration), HERE, log_start=0, high_water=10) is not None
