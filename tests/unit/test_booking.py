"""processor.booking.Booker: readings to converted 15-minute rows; tce and CO2 by hand."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from greenmon.domain.consumption import CounterState
from greenmon.domain.factors import default_factors
from greenmon.domain.reference import Carrier, MeterKind
from greenmon.domain.registry import Meter
from greenmon.domain.wire import ReadingRecord
from processor.booking import Booker, Booking, split_batch

TZ = ZoneInfo("Asia/Shanghai")
BOOKER = Booker(default_factors(), TZ, "shandong")

ELEC = Meter("E1-EL", "E1", Carrier.ELECTRICITY, "kWh", MeterKind.COUNTER, 4000.0)
GAS = Meter("E1-GAS", "E1", Carrier.NATURAL_GAS, "m3", MeterKind.INTERVAL, 400.0)
MWH = Meter("E2-MWH", "E2", Carrier.ELECTRICITY, "MWh", MeterKind.INTERVAL, 4.0)
WATER = Meter("E2-W", "E2", Carrier.WATER, "m3", MeterKind.INTERVAL, 100.0)
ROLL = Meter("E2-R", "E2", Carrier.ELECTRICITY, "kWh", MeterKind.COUNTER, 4000.0, 100_000.0)
METERS = {m.meter_id: m for m in (ELEC, GAS, MWH, WATER, ROLL)}


def ms(year: int, month: int, day: int, hour: int, minute: int) -> int:
    """Epoch milliseconds of a UTC time."""
    return round(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp() * 1000)


def rec(meter: Meter, ts_ms: int, value: float, duration_s: int = 900) -> ReadingRecord:
    return ReadingRecord(
        meter.enterprise_id, meter.meter_id, ts_ms, value, meter.unit, meter.kind, duration_s, 0
    )


def book(readings: list[ReadingRecord], states: dict[str, CounterState] | None = None) -> Booking:
    return BOOKER.book(readings, METERS, states or {})


def close(a: float | None, b: float) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=1e-12)


T0 = ms(2022, 6, 1, 2, 0)  # 2022-06-01 10:00 in Shanghai
Q = 900_000


def test_two_meter_enterprise_hand_computed() -> None:
    booking = book(
        [
            rec(ELEC, T0, 1000.0),  # base only
            rec(ELEC, T0 + Q, 1400.0),  # 400 kWh in slot T0
            rec(ELEC, T0 + 2 * Q, 1700.0),  # 300 kWh in slot T0+Q
            rec(GAS, T0, 50.0),  # 50 m3 in slot T0
        ]
    )
    assert set(booking.rows) == {("E1-EL", T0), ("E1-EL", T0 + Q), ("E1-GAS", T0)}
    el0, el1, gas = (booking.rows[k] for k in [("E1-EL", T0), ("E1-EL", T0 + Q), ("E1-GAS", T0)])
    # electricity: 400 kWh x 0.1229 kgce/kWh / 1000 = 0.04916 tce; x 0.6410 / 1000 = 0.2564 t
    assert (el0.quantity, el0.unit, el0.enterprise_id, el0.carrier) == (
        400.0,
        "kWh",
        "E1",
        "electricity",
    )
    assert close(el0.energy_tce, 0.04916)
    assert close(el0.co2_t, 0.2564)
    assert el0.water_m3 is None
    assert not el0.estimated
    # 300 kWh: 0.03687 tce, 0.1923 t
    assert el1.quantity == 300.0
    assert close(el1.energy_tce, 0.03687)
    assert close(el1.co2_t, 0.1923)
    # gas: 50 m3 x 1.2143 kgce/m3 / 1000 = 0.060715 tce; 50 x 2.162 / 1000 = 0.1081 t
    assert (gas.quantity, gas.unit, gas.carrier) == (50.0, "m3", "natural_gas")
    assert close(gas.energy_tce, 0.060715)
    assert close(gas.co2_t, 0.1081)
    # the enterprise in slot T0: 0.04916 + 0.060715 = 0.109875 tce, 0.2564 + 0.1081 = 0.3645 t
    assert close(el0.energy_tce + gas.energy_tce, 0.109875)  # type: ignore[operator]
    assert close(el0.co2_t + gas.co2_t, 0.3645)  # type: ignore[operator]
    assert booking.states == {"E1-EL": CounterState(T0 + 2 * Q, 1700.0)}
    assert dict(booking.events) == {"normal": 2}
    assert booking.quarantined == []
    assert booking.rejected == []
    assert booking.factor_gaps == set()
    assert booking.out_of_order == 0


def test_megawatt_hours_are_scaled_for_conversion_but_stored_as_sent() -> None:
    booking = book([rec(MWH, T0, 0.5)])
    row = booking.rows[("E2-MWH", T0)]
    assert (row.quantity, row.unit) == (0.5, "MWh")
    # 0.5 MWh = 500 kWh: 500 x 0.1229 / 1000 = 0.06145 tce; 500 x 0.6410 / 1000 = 0.3205 t
    assert close(row.energy_tce, 0.06145)
    assert close(row.co2_t, 0.3205)


def test_water_is_booked_in_cubic_metres_only() -> None:
    row = book([rec(WATER, T0, 7.25)]).rows[("E2-W", T0)]
    assert (row.quantity, row.water_m3, row.energy_tce, row.co2_t) == (7.25, 7.25, None, None)


def test_first_counter_reading_only_sets_the_base() -> None:
    booking = book([rec(ELEC, T0, 1234.5)])
    assert booking.rows == {}
    assert booking.states == {"E1-EL": CounterState(T0, 1234.5)}
    assert dict(booking.events) == {}


def test_stored_state_is_the_base_of_the_first_reading() -> None:
    booking = book([rec(ELEC, T0 + Q, 1100.0)], {"E1-EL": CounterState(T0, 1000.0)})
    assert booking.rows[("E1-EL", T0)].quantity == 100.0


def test_readings_not_newer_than_the_state_are_out_of_order() -> None:
    state = {"E1-EL": CounterState(T0 + 2 * Q, 1700.0)}
    booking = book([rec(ELEC, T0 + Q, 1400.0), rec(ELEC, T0 + 2 * Q, 1700.0)], state)
    assert booking.out_of_order == 2
    assert booking.rows == {}
    assert booking.states == state


def test_batch_is_sorted_by_time_before_booking() -> None:
    booking = book([rec(ELEC, T0 + Q, 1400.0), rec(ELEC, T0, 1000.0)])
    assert booking.out_of_order == 0
    assert booking.rows[("E1-EL", T0)].quantity == 400.0


def test_unknown_meter_is_rejected_with_a_reason() -> None:
    stray = ReadingRecord("E9", "GHOST", T0, 1.0, "kWh", MeterKind.INTERVAL, 900, 0)
    booking = book([stray, rec(GAS, T0, 5.0)])
    assert booking.rejected == [(stray, "unknown meter 'GHOST'")]
    assert list(booking.rows) == [("E1-GAS", T0)]


def test_gap_is_apportioned_and_estimated() -> None:
    # an hour without readings: 800 kWh over four slots, 200 each, 0.02458 tce each
    booking = book([rec(ELEC, T0, 0.0), rec(ELEC, T0 + 4 * Q, 800.0)])
    rows = [booking.rows[("E1-EL", T0 + i * Q)] for i in range(4)]
    for row in rows:
        assert close(row.quantity, 200.0)
        assert close(row.energy_tce, 200 * 0.1229 / 1000)
        assert row.estimated


def test_impossible_jump_is_quarantined_and_the_state_advances() -> None:
    # 4000 kWh/h allows 1000 kWh per quarter; 5000 is quarantined
    booking = book([rec(ELEC, T0, 0.0), rec(ELEC, T0 + Q, 5000.0), rec(ELEC, T0 + 2 * Q, 5100.0)])
    assert [q.value for q in booking.quarantined] == [5000.0]
    assert list(booking.rows) == [("E1-EL", T0 + Q)]
    assert booking.rows[("E1-EL", T0 + Q)].quantity == 100.0
    assert booking.states["E1-EL"] == CounterState(T0 + 2 * Q, 5100.0)


def test_rollover_and_reset_are_counted() -> None:
    booking = book(
        [
            rec(ROLL, T0, 99_900.0),
            rec(ROLL, T0 + Q, 50.0),  # rollover: 100 + 50
            rec(ROLL, T0 + 2 * Q, 80.0),
            rec(ROLL, T0 + 3 * Q, 2.0),  # reset: 2
        ]
    )
    assert booking.events == {"rollover": 1, "normal": 1, "reset": 1}
    quantities = [booking.rows[("E2-R", T0 + i * Q)].quantity for i in range(3)]
    assert quantities == [150.0, 30.0, 2.0]


def test_factor_year_follows_the_local_day() -> None:
    # 100 kWh over 15:45Z-16:15Z on 2021-12-31: 50 kWh before and 50 after local midnight
    start = ms(2021, 12, 31, 15, 45)
    meter = Meter("E2-I", "E2", Carrier.ELECTRICITY, "kWh", MeterKind.INTERVAL, 1000.0)
    booking = BOOKER.book([rec(meter, start, 100.0, 1800)], {"E2-I": meter}, {})
    late, early = booking.rows[("E2-I", start)], booking.rows[("E2-I", start + Q)]
    assert early.slot_ms == ms(2021, 12, 31, 16, 0)  # 2022-01-01 00:00 in Shanghai
    assert close(late.co2_t, 50 * 0.6838 / 1000)  # 2021 Shandong: 0.03419 t
    assert close(early.co2_t, 50 * 0.6410 / 1000)  # 2022 Shandong: 0.03205 t


def test_missing_factor_leaves_co2_empty_and_records_the_gap() -> None:
    when = ms(2018, 6, 1, 0, 0)
    booking = book([rec(ELEC, when, 10.0), rec(ELEC, when + Q, 110.0)])
    row = booking.rows[("E1-EL", when)]
    assert row.co2_t is None
    assert close(row.energy_tce, 100 * 0.1229 / 1000)
    assert len(booking.factor_gaps) == 1
    meter_id, slot, reason = next(iter(booking.factor_gaps))
    assert (meter_id, slot) == ("E1-EL", when)
    assert "co2" in reason
    assert "2018-06-01" in reason


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=2000),  # start, in minutes after T0
            st.sampled_from([60, 300, 600, 900, 1800, 3600]),
            st.floats(min_value=0, max_value=6.0),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_interval_booking_sums_to_the_readings(items: list[tuple[int, int, float]]) -> None:
    # values stay under GAS's physical maximum (400 m3/h x 60 s = 6.67 m3), so nothing is held
    readings = [rec(GAS, T0 + start * 60_000, v, d) for start, d, v in items]
    booking = book(readings)
    assert booking.quarantined == []
    per_meter: dict[str, list[float]] = defaultdict(list)
    for row in booking.rows.values():
        assert row.slot_ms % Q == 0
        per_meter[row.meter_id].append(row.quantity)
    expected = math.fsum(v for _, _, v in items)
    assert math.isclose(math.fsum(per_meter["E1-GAS"]), expected, rel_tol=1e-9, abs_tol=1e-12)
    tce = math.fsum(r.energy_tce or 0.0 for r in booking.rows.values())
    assert math.isclose(tce, expected * 1.2143 / 1000, rel_tol=1e-9, abs_tol=1e-12)


def test_a_reading_twice_in_one_batch_is_booked_once() -> None:
    """A redelivered reading next to its original: the database keeps one, so must booking."""
    from processor.booking import newly_stored

    def rec(ts_ms: int, value: float) -> ReadingRecord:
        return ReadingRecord("E1", "M1", ts_ms, value, "kWh", MeterKind.INTERVAL, 900, 0)

    first, again, other = rec(0, 5.0), rec(0, 5.0), rec(900_000, 7.0)
    kept = newly_stored([first, again, other], {("M1", 0), ("M1", 900_000)})
    assert kept == [first, other]
    assert kept[0] is first
    assert newly_stored([first, again], set()) == []


def test_a_polled_batch_is_cut_into_parts_in_order_per_partition() -> None:
    polled = {"p0": list(range(7)), "p1": list(range(100, 103)), "p2": []}
    parts = list(split_batch(polled, 4))
    assert parts == [{"p0": [0, 1, 2, 3]}, {"p0": [4, 5, 6], "p1": [100]}, {"p1": [101, 102]}]
    assert list(split_batch(polled, 100)) == [{"p0": list(range(7)), "p1": [100, 101, 102]}]
    assert list(split_batch({}, 3)) == []
