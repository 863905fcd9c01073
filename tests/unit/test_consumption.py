"""Counter deltas, resets and rollovers, the physical maximum, and 15-minute apportioning."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from greenmon.domain.consumption import (
    CounterState,
    Quarantined,
    Share,
    apportion,
    counter_delta,
    counter_step,
    exceeds_physical_max,
    interval_step,
    slot_of,
)

TZ = ZoneInfo("Asia/Shanghai")
QUARTER_MS = 15 * 60 * 1000


def ms(local: datetime) -> int:
    return round(local.timestamp() * 1000)


def local(hour: int, minute: int = 0) -> int:
    return ms(datetime(2025, 1, 6, hour, minute, tzinfo=TZ))


def step(
    state: CounterState,
    ts_ms: int,
    value: float,
    *,
    max_rate: float = 400.0,
    register_max: float | None = None,
) -> tuple[list[Share], Quarantined | None, str]:
    return counter_step(
        "M1", state, ts_ms, value, max_rate_per_hour=max_rate, register_max=register_max
    )


# --- slots -----------------------------------------------------------------------------------


def test_slots_are_local_quarter_hours() -> None:
    assert slot_of(local(9, 7)) == local(9, 0)
    assert slot_of(local(9, 15)) == local(9, 15)
    assert slot_of(local(9, 29) + 59_999) == local(9, 15)
    # local midnight in Shanghai is 16:00 UTC: still a slot boundary
    assert slot_of(local(0, 0)) == local(0, 0)
    assert datetime.fromtimestamp(local(0, 0) / 1000, UTC).hour == 16


@given(st.integers(min_value=0, max_value=10**13))
def test_slot_contains_its_timestamp(ts_ms: int) -> None:
    slot = slot_of(ts_ms)
    assert slot % QUARTER_MS == 0
    assert slot <= ts_ms < slot + QUARTER_MS


# --- counter deltas --------------------------------------------------------------------------


def test_counter_increase_is_the_difference() -> None:
    delta = counter_delta(10_234.5, 10_300.0, None)
    assert delta.quantity == 65.5
    assert delta.event == "normal"


def test_decrease_without_register_max_is_a_reset_counted_from_zero() -> None:
    delta = counter_delta(5000.0, 3.0, None)
    assert (delta.quantity, delta.event) == (3.0, "reset")


def test_decrease_near_register_max_is_a_rollover() -> None:
    # 99 990 -> 100 000 is 10, then 0 -> 15 is 15: 25 in all
    delta = counter_delta(99_990.0, 15.0, 100_000.0)
    assert (delta.quantity, delta.event) == (25.0, "rollover")


def test_rollover_threshold_is_ninety_percent_of_register_max() -> None:
    at = counter_delta(90_000.0, 5.0, 100_000.0)
    assert (at.quantity, at.event) == (100_000 - 90_000 + 5, "rollover")
    below = counter_delta(89_999.0, 5.0, 100_000.0)
    assert (below.quantity, below.event) == (5.0, "reset")


values = st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False)


@given(values, values, st.none() | values.filter(lambda v: v > 0))
def test_counter_delta_is_never_negative(
    previous: float, current: float, register_max: float | None
) -> None:
    if register_max is not None:  # registers read within [0, register_max]
        previous, current = min(previous, register_max), min(current, register_max)
    delta = counter_delta(previous, current, register_max)
    assert delta.quantity >= 0
    if current >= previous:
        assert delta.event == "normal"
        assert delta.quantity == current - previous


def test_counter_delta_after_a_register_above_its_max_is_not_negative() -> None:
    # nothing stops a meter reporting 1 500 on a 1 000 register; then it drops to 100
    delta = counter_delta(1500.0, 100.0, 1000.0)
    assert delta.quantity >= 0


# --- physical maximum ------------------------------------------------------------------------


def test_exactly_the_physical_maximum_is_booked() -> None:
    # 400 kWh/h over 15 min = 100 kWh
    shares, quarantined, event = step(CounterState(local(9), 1000.0), local(9, 15), 1100.0)
    assert quarantined is None
    assert event == "normal"
    assert shares == [Share("M1", local(9), 100.0, False)]


def test_just_above_the_physical_maximum_is_quarantined() -> None:
    shares, quarantined, event = step(CounterState(local(9), 1000.0), local(9, 15), 1100.001)
    assert shares == []
    assert event == "normal"
    assert quarantined is not None
    assert quarantined.meter_id == "M1"
    assert quarantined.ts_ms == local(9, 15)
    assert quarantined.value == 1100.001
    assert math.isclose(quarantined.delta, 100.001)
    assert "exceeds the physical maximum" in quarantined.reason
    assert "400" in quarantined.reason


def test_physical_maximum_scales_with_elapsed_time() -> None:
    assert not exceeds_physical_max(200.0, 400.0, 30 * 60_000)  # 400/h x 0.5 h = 200
    assert exceeds_physical_max(200.0001, 400.0, 30 * 60_000)


def test_interval_reading_at_and_above_the_maximum() -> None:
    # 40 m3/h over a 900 s interval = 10 m3
    shares, quarantined = interval_step("G1", local(9), 900, 10.0, max_rate_per_hour=40.0)
    assert quarantined is None
    assert shares == [Share("G1", local(9), 10.0, False)]
    shares, quarantined = interval_step("G1", local(9), 900, 10.01, max_rate_per_hour=40.0)
    assert shares == []
    assert quarantined is not None
    assert quarantined.delta == 10.01
    assert "exceeds the physical maximum" in quarantined.reason


def test_reset_to_near_zero_books_the_new_register() -> None:
    shares, quarantined, event = step(CounterState(local(9), 98_765.0), local(9, 15), 4.0)
    assert event == "reset"
    assert quarantined is None
    assert shares == [Share("M1", local(9), 4.0, False)]


def test_rollover_is_booked_across_the_wrap() -> None:
    shares, quarantined, event = step(
        CounterState(local(9), 999_980.0), local(9, 15), 30.0, register_max=1_000_000.0
    )
    assert event == "rollover"
    assert quarantined is None
    assert shares == [Share("M1", local(9), 50.0, False)]  # 20 before the wrap + 30 after


def test_counter_step_needs_a_newer_reading() -> None:
    with pytest.raises(ValueError, match="newer"):
        step(CounterState(local(9), 1.0), local(9), 2.0, max_rate=1.0)


# --- gaps and apportioning -------------------------------------------------------------------


def test_gap_of_an_hour_is_spread_over_four_estimated_slots() -> None:
    shares, quarantined, _ = step(CounterState(local(9), 0.0), local(10), 80.0)
    assert quarantined is None
    # 80 / 4 quarters = 20 each
    assert shares == [Share("M1", local(9, m), 20.0, True) for m in (0, 15, 30, 45)]


def test_unaligned_gap_is_split_in_proportion_to_time() -> None:
    # 09:10 -> 09:40 (30 min) with 60 units: 5 min -> 10, 15 min -> 30, 10 min -> 20
    shares, _, _ = step(CounterState(local(9, 10), 0.0), local(9, 40), 60.0)
    assert [s.slot_ms for s in shares] == [local(9, 0), local(9, 15), local(9, 30)]
    for share, expected in zip(shares, [10.0, 30.0, 20.0], strict=True):
        assert math.isclose(share.quantity, expected, rel_tol=1e-12)
        assert share.estimated


def test_one_standard_interval_is_not_estimated_even_if_unaligned() -> None:
    shares, _, _ = step(CounterState(local(9, 5), 0.0), local(9, 20), 30.0)
    assert [(s.slot_ms, s.estimated) for s in shares] == [(local(9), False), (local(9, 15), False)]
    assert math.isclose(shares[0].quantity, 20.0)  # 10 of 15 minutes
    assert math.isclose(shares[1].quantity, 10.0)  # 5 of 15 minutes


def test_apportion_needs_end_after_start() -> None:
    with pytest.raises(ValueError, match="end after start"):
        apportion("M1", local(9), local(9), 1.0, estimated=False)


@settings(max_examples=300)
@given(
    start=st.integers(min_value=0, max_value=10**13),
    length=st.integers(min_value=1, max_value=3 * 86_400_000),
    quantity=st.just(0.0) | st.floats(min_value=1e-9, max_value=1e9),
    estimated=st.booleans(),
)
@example(start=853_362, length=853_362, quantity=999_999_999.9999999, estimated=False)
def test_apportion_is_proportional_to_overlap_and_sums_to_quantity(
    start: int, length: int, quantity: float, estimated: bool
) -> None:
    end = start + length
    shares = apportion("M", start, end, quantity, estimated=estimated)
    assert math.isclose(math.fsum(s.quantity for s in shares), quantity, rel_tol=1e-12)
    first_slot = start - start % QUARTER_MS
    assert [s.slot_ms for s in shares] == [first_slot + i * QUARTER_MS for i in range(len(shares))]
    assert shares[-1].slot_ms < end <= shares[-1].slot_ms + QUARTER_MS
    for s in shares:
        overlap = min(end, s.slot_ms + QUARTER_MS) - max(start, s.slot_ms)
        assert overlap > 0
        expected = quantity * overlap / length
        assert math.isclose(s.quantity, expected, rel_tol=1e-9, abs_tol=quantity * 1e-12)
        assert s.estimated is estimated
        assert s.meter_id == "M"


def test_slot_of_a_reading_in_another_offset_is_the_same_instant() -> None:
    # 2025-01-06 09:07 in Shanghai is 01:07 UTC: the same slot start either way
    utc = datetime(2025, 1, 6, 1, 7, tzinfo=UTC)
    assert slot_of(ms(utc)) == ms(utc - timedelta(minutes=7)) == local(9)
