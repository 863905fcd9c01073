"""Book a batch of new readings: interval consumption, tce, CO2 and water. Pure, no I/O."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

from greenmon.domain.consumption import (
    CounterState,
    Quarantined,
    Share,
    SlotRow,
    counter_chain,
    counter_step,
    interval_step,
)
from greenmon.domain.factors import FactorTable, factors_on
from greenmon.domain.reference import Carrier, MeterKind, unit_scale
from greenmon.domain.registry import Meter
from greenmon.domain.wire import ReadingRecord


@dataclass(slots=True)
class MonthSums:
    """An enterprise's booked amounts in one local month (added to ``enterprise_month``).

    ``*_gaps`` count contributions whose factor was missing: their amount is not in
    the sum, and the month is shown as incomplete rather than understated.
    """

    energy_tce: float = 0.0
    excluded_tce: float = 0.0
    co2_t: float = 0.0
    water_m3: float = 0.0
    energy_gaps: int = 0
    co2_gaps: int = 0


K = TypeVar("K")
R = TypeVar("R")

#: meter flags whose energy is excluded from the total (NDRC 发改环资〔2022〕803号)
EXCLUDED_FLAGS = frozenset({"feedstock", "renewable"})


@dataclass(slots=True)
class Booking:
    rows: dict[tuple[str, int], SlotRow] = field(default_factory=dict)
    states: dict[str, CounterState] = field(default_factory=dict)
    quarantined: list[Quarantined] = field(default_factory=list)
    factor_gaps: set[tuple[str, int, str]] = field(default_factory=set)
    rejected: list[tuple[ReadingRecord, str]] = field(default_factory=list)
    events: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    out_of_order: int = 0
    placed: int = 0
    #: (meter_id, ts_ms, "reset" | "rollover") of this batch's counter steps
    meter_events: list[tuple[str, int, str]] = field(default_factory=list)
    unquarantined: list[tuple[str, int]] = field(default_factory=list)
    months: dict[tuple[str, date], MonthSums] = field(default_factory=dict)


def split_batch(polled: Mapping[K, list[R]], most: int) -> Iterator[dict[K, list[R]]]:
    """A polled batch cut into parts of at most ``most`` records, each partition's records
    in order across the parts (so each part's positions follow the previous part's)."""
    part: dict[K, list[R]] = {}
    room = most
    for key, records in polled.items():
        i = 0
        while i < len(records):
            take = records[i : i + room]
            part[key] = take
            i += len(take)
            room -= len(take)
            if room == 0:
                yield part
                part, room = {}, most
    if part:
        yield part


def newly_stored(
    readings: Iterable[ReadingRecord], new_keys: set[tuple[str, int]]
) -> list[ReadingRecord]:
    """The readings the database took as new: one per (meter, ts), the first seen.

    A batch can hold the same reading twice (a redelivery after a collector crash
    lands next to the original); only one of them may be booked.
    """
    pending = set(new_keys)
    out = []
    for r in readings:
        key = (r.meter_id, r.ts_ms)
        if key in pending:
            pending.discard(key)
            out.append(r)
    return out


def split_late(
    readings: list[ReadingRecord], watermarks: Mapping[str, int], grace_ms: int
) -> tuple[list[ReadingRecord], list[ReadingRecord], dict[str, int]]:
    """(on time, late, new watermarks).

    A meter's watermark is the newest timestamp it had delivered before a reading
    (stored earlier, or earlier in this batch). A reading more than ``grace_ms`` behind
    it is late, unless admitted on purpose (``recompute --late``). Event time, not
    arrival time: a backfill of old data in order is never late, a reading that turns
    up a week after its successors is.
    """
    marks = dict(watermarks)
    on_time: list[ReadingRecord] = []
    late: list[ReadingRecord] = []
    for r in readings:  # in arrival order: the watermark is what had arrived before r
        mark = marks.get(r.meter_id)
        if mark is not None and not r.admit and r.ts_ms < mark - grace_ms:
            late.append(r)
            continue
        on_time.append(r)
        if mark is None or r.ts_ms > mark:
            marks[r.meter_id] = r.ts_ms
    changed = {m: t for m, t in marks.items() if watermarks.get(m) != t}
    return on_time, late, changed


def late_spans(
    readings: Iterable[ReadingRecord],
    meters: Mapping[str, Meter],
    states: Mapping[str, CounterState],
) -> dict[str, tuple[int, int]]:
    """Counter meters with new readings older than their state: (oldest, newest) such ts."""
    spans: dict[str, tuple[int, int]] = {}
    for r in readings:
        meter, state = meters.get(r.meter_id), states.get(r.meter_id)
        if meter is None or meter.kind is not MeterKind.COUNTER or state is None:
            continue
        if r.ts_ms < state.ts_ms:
            lo, hi = spans.get(r.meter_id, (r.ts_ms, r.ts_ms))
            spans[r.meter_id] = (min(lo, r.ts_ms), max(hi, r.ts_ms))
    return spans


class Booker:
    """Turns readings into slot rows with the factors in force. Holds no per-meter state."""

    def __init__(
        self,
        factors: FactorTable,
        tz: ZoneInfo,
        grid_region: str,
        methods: Mapping[str, str] | None = None,
        default_method: str = "equivalent",
    ) -> None:
        """``methods``: electricity tce method per enterprise (else ``default_method``)."""
        self._factors = factors
        self._tz = tz
        self._region = grid_region
        self._methods = dict(methods or {})
        self._default_method = default_method
        self._day_cache: dict[int, tuple[date, date]] = {}
        self._factor_cache: dict[
            tuple[Carrier, date, str], tuple[float | None, float | None, tuple[str, ...]]
        ] = {}

    def book(
        self,
        readings: Iterable[ReadingRecord],
        meters: Mapping[str, Meter],
        states: Mapping[str, CounterState],
        history: Mapping[str, list[tuple[int, float]]] | None = None,
        new_keys: set[tuple[str, int]] | None = None,
    ) -> Booking:
        """Book new readings given each counter meter's last booked register.

        A counter reading older than the state is placed in time when ``history``
        holds the meter's stored registers around it (see :func:`late_spans`) and
        ``new_keys`` says which of them are new; otherwise it is only counted.
        """
        history = history or {}
        new_keys = new_keys or set()
        out = Booking()
        by_meter: dict[str, list[ReadingRecord]] = defaultdict(list)
        for r in readings:
            by_meter[r.meter_id].append(r)
        for meter_id, items in by_meter.items():
            meter = meters.get(meter_id)
            if meter is None:
                out.rejected.extend((r, f"unknown meter {meter_id!r}") for r in items)
                continue
            items.sort(key=lambda r: r.ts_ms)
            if meter.kind is MeterKind.COUNTER:
                self._book_counter(meter, items, states.get(meter_id), out)
                if meter_id in history:
                    self._rebook(meter, history[meter_id], new_keys, out)
            else:
                self._book_interval(meter, items, out)
        return out

    def _book_counter(
        self, meter: Meter, items: list[ReadingRecord], state: CounterState | None, out: Booking
    ) -> None:
        for r in items:
            if state is None:
                state = CounterState(r.ts_ms, r.value)  # the first register only sets the base
                continue
            if r.ts_ms <= state.ts_ms:
                out.out_of_order += 1
                continue  # placed by _rebook below, with all such readings of the meter
            shares, quarantined, event = counter_step(
                meter.meter_id,
                state,
                r.ts_ms,
                r.value,
                max_rate_per_hour=meter.max_rate_per_hour,
                register_max=meter.register_max,
            )
            out.events[event] += 1
            if event != "normal":
                out.meter_events.append((meter.meter_id, r.ts_ms, event))
            if quarantined is not None:
                out.quarantined.append(quarantined)
            self._add(meter, shares, out)
            state = CounterState(r.ts_ms, r.value)
        if state is not None:
            out.states[meter.meter_id] = state

    def _rebook(
        self,
        meter: Meter,
        registers: list[tuple[int, float]],
        new_keys: set[tuple[str, int]],
        out: Booking,
    ) -> None:
        """Book the chain with the late registers, take back the chain without them."""
        old = [p for p in registers if (meter.meter_id, p[0]) not in new_keys]
        old_shares, old_q = counter_chain(
            meter.meter_id, old, max_rate_per_hour=meter.max_rate_per_hour,
            register_max=meter.register_max,
        )  # fmt: skip
        new_shares, new_q = counter_chain(
            meter.meter_id, registers, max_rate_per_hour=meter.max_rate_per_hour,
            register_max=meter.register_max,
        )  # fmt: skip
        taken_back = [Share(s.meter_id, s.slot_ms, -s.quantity, False) for s in old_shares]
        self._add(meter, taken_back, out)
        self._add(meter, new_shares, out, replace_estimated=True)
        old_ts = {q.ts_ms for q in old_q}
        new_ts = {q.ts_ms for q in new_q}
        out.unquarantined.extend((meter.meter_id, t) for t in sorted(old_ts - new_ts))
        out.quarantined.extend(q for q in new_q if q.ts_ms not in old_ts)
        out.placed += len(registers) - len(old)

    def _book_interval(self, meter: Meter, items: list[ReadingRecord], out: Booking) -> None:
        for r in items:
            shares, quarantined = interval_step(
                meter.meter_id,
                r.ts_ms,
                r.duration_s,
                r.value,
                max_rate_per_hour=meter.max_rate_per_hour,
            )
            if quarantined is not None:
                out.quarantined.append(quarantined)
            self._add(meter, shares, out)

    def _add(
        self, meter: Meter, shares: list[Share], out: Booking, *, replace_estimated: bool = False
    ) -> None:
        """Convert and add shares to the batch's slot rows and month sums.

        The hot path of the processor (one call per slot of every reading): factors are
        looked up once per carrier, local day and method, the amounts are the same
        ``amount * factor / 1000`` as :func:`greenmon.domain.factors.convert`.
        """
        scale = unit_scale(meter.carrier, meter.unit)
        assert scale is not None, "the registry admits only known units"
        method = self._methods.get(meter.enterprise_id, self._default_method)
        excluded = bool(meter.flags & EXCLUDED_FLAGS)
        meter_id, carrier, rows = meter.meter_id, meter.carrier, out.rows
        water = carrier is Carrier.WATER
        for _m, slot_ms, quantity, estimated in shares:
            day, month = self._local_day(slot_ms)
            amount = quantity * scale
            if water:
                tce = co2 = None
                water_m3: float | None = amount
                _add_water(out, meter.enterprise_id, month, amount)
            else:
                f_tce, f_co2, missing = self._factors_on(carrier, day, method)
                tce = None if f_tce is None else amount * f_tce / 1000.0
                co2 = None if f_co2 is None else amount * f_co2 / 1000.0
                water_m3 = None
                for reason in missing:
                    out.factor_gaps.add((meter_id, slot_ms, reason))
                _add_energy(out, meter.enterprise_id, month, tce, co2, excluded=excluded)
            key = (meter_id, slot_ms)
            row = rows.get(key)
            if row is None:
                rows[key] = SlotRow(meter_id, slot_ms, meter.enterprise_id, carrier.value,
                                    quantity, meter.unit, tce, co2, water_m3, estimated,
                                    replace_estimated)  # fmt: skip
                continue
            row.quantity += quantity
            row.energy_tce = _plus(row.energy_tce, tce)
            row.co2_t = _plus(row.co2_t, co2)
            row.water_m3 = _plus(row.water_m3, water_m3)
            row.estimated = row.estimated or estimated
            row.replace_estimated = row.replace_estimated or replace_estimated

    def _factors_on(
        self, carrier: Carrier, day: date, method: str
    ) -> tuple[float | None, float | None, tuple[str, ...]]:
        key = (carrier, day, method)
        found = self._factor_cache.get(key)
        if found is None:
            found = self._factor_cache[key] = factors_on(
                self._factors, carrier, day, grid_region=self._region, electricity_method=method
            )
        return found

    def _local_day(self, slot_ms: int) -> tuple[date, date]:
        """The local day of a slot and the first of its month."""
        found = self._day_cache.get(slot_ms)
        if found is None:
            if len(self._day_cache) > 100_000:
                self._day_cache.clear()
            day = datetime.fromtimestamp(slot_ms / 1000, UTC).astimezone(self._tz).date()
            found = self._day_cache[slot_ms] = (day, day.replace(day=1))
        return found


def _month(out: Booking, enterprise_id: str, month: date) -> MonthSums:
    sums = out.months.get((enterprise_id, month))
    if sums is None:
        sums = out.months[(enterprise_id, month)] = MonthSums()
    return sums


def _add_water(out: Booking, enterprise_id: str, month: date, water_m3: float) -> None:
    _month(out, enterprise_id, month).water_m3 += water_m3


def _add_energy(
    out: Booking,
    enterprise_id: str,
    month: date,
    tce: float | None,
    co2: float | None,
    *,
    excluded: bool,
) -> None:
    sums = _month(out, enterprise_id, month)
    if tce is None:
        sums.energy_gaps += 1
    elif excluded:
        sums.excluded_tce += tce
    else:
        sums.energy_tce += tce
    if co2 is None:
        sums.co2_gaps += 1
    else:
        sums.co2_t += co2


def _plus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b
