"""What a collector subscribes to: its own filters, or the share group's."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from collector.topics import subscriptions
from greenmon.settings import load_settings


def test_without_a_share_group_the_collector_subscribes_on_its_own() -> None:
    settings = load_settings(mqtt_topic_prefix="plant/v2/")
    assert subscriptions(settings) == (["plant/v2/+/+/reading", "plant/v2/+/batch"], [])


def test_a_share_group_subscribes_shared_and_drops_the_plain_filters() -> None:
    settings = load_settings(collector_share_group="ingest-1")
    assert subscriptions(settings) == (
        ["$share/ingest-1/greenmon/v1/+/+/reading", "$share/ingest-1/greenmon/v1/+/batch"],
        ["greenmon/v1/+/+/reading", "greenmon/v1/+/batch"],
    )


@pytest.mark.parametrize("bad", ["a/b", "g+", "#", "x y"])
def test_a_share_group_with_topic_characters_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError, match="collector_share_group"):
        load_settings(collector_share_group=bad)
