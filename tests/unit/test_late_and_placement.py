"""Late readings and out-of-order counter readings, without I/O."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from greenmon.domain.consumption import SLOT_MS, counter_chain
from greenmon.domain.factors import default_factors
from greenmon.domain.reference import Carrier, MeterKind
from greenmon.domain.registry import Meter
from greenmon.domain.wire import ReadingRecord
from processor.booking import Booker, late_spans, split_late

DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
T0 = 1_672_531_200_000  # 2023-01-01T00:00Z
METER = Meter("M", "E", Carrier.ELECTRICITY, "kWh", MeterKind.COUNTER, 1000.0)


def rec(ts_ms: int, value: float, *, admit: bool = False) -> ReadingRecord:
    return ReadingRecord("E", "M", ts_ms, value, "kWh", MeterKind.COUNTER, 900, 0, admit)


def test_a_backfill_in_order_is_never_late() -> None:
    year = [rec(T0 + i * DAY_MS, float(i)) for i in range(365)]
    on_time, late, marks = split_late(year, {}, WEEK_MS)
    assert on_time == year and late == []
    assert marks == {"M": T0 + 364 * DAY_MS}


def test_a_reading_more_than_the_grace_behind_its_meter_is_late_unless_admitted() -> None:
    newest = T0 + 10 * DAY_MS
    just_inside = rec(newest - WEEK_MS, 1.0)
    outside = rec(newest - WEEK_MS - 1, 2.0)
    admitted = rec(newest - 9 * DAY_MS, 3.0, admit=True)
    on_time, late, marks = split_late([just_inside, outside, admitted], {"M": newest}, WEEK_MS)
    assert late == [outside]
    assert on_time == [just_inside, admitted]
    assert marks == {}  # nothing newer than the stored watermark arrived


def test_out_of_order_counter_reading_is_placed_in_time() -> None:
    """Registers at 0, 15, 30, 45 min; the 15 and 30 min ones arrive after 45 min."""
    booker = Booker(default_factors(), ZoneInfo("Asia/Shanghai"), "shandong")
    first = booker.book([rec(T0, 100.0), rec(T0 + 3 * SLOT_MS, 160.0)], {"M": METER}, {})
    # 60 kWh over the 45-minute gap, 20 per slot, estimated
    assert sorted((r.slot_ms, r.quantity, r.estimated) for r in first.rows.values()) == [
        (T0, 20.0, True),
        (T0 + SLOT_MS, 20.0, True),
        (T0 + 2 * SLOT_MS, 20.0, True),
    ]
    state = first.states["M"]
    late = [rec(T0 + SLOT_MS, 110.0), rec(T0 + 2 * SLOT_MS, 150.0)]
    spans = late_spans(late, {"M": METER}, {"M": state})
    assert spans == {"M": (T0 + SLOT_MS, T0 + 2 * SLOT_MS)}
    history = {"M": [(T0, 100.0), (T0 + SLOT_MS, 110.0), (T0 + 2 * SLOT_MS, 150.0),
                     (T0 + 3 * SLOT_MS, 160.0)]}  # fmt: skip
    new_keys = {("M", T0 + SLOT_MS), ("M", T0 + 2 * SLOT_MS)}
    second = booker.book(late, {"M": METER}, {"M": state}, history, new_keys)
    deltas = {
        r.slot_ms: (r.quantity, r.estimated, r.replace_estimated) for r in second.rows.values()
    }
    # the true split is 10, 40, 10: the corrections to the booked 20, 20, 20
    assert deltas == {
        T0: (-10.0, False, True),
        T0 + SLOT_MS: (20.0, False, True),
        T0 + 2 * SLOT_MS: (-10.0, False, True),
    }
    assert second.placed == 2
    assert second.states["M"] == state  # the newest register is unchanged


def test_counter_chain_matches_step_by_step_booking() -> None:
    regs = [(T0 + i * SLOT_MS, 100.0 + i * i) for i in range(6)]
    shares, quarantined = counter_chain("M", regs, max_rate_per_hour=1000.0, register_max=None)
    assert quarantined == []
    assert [s.quantity for s in shares] == [2.0 * i + 1 for i in range(5)]  # (i+1)^2 - i^2
