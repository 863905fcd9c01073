"""Export helpers: local day bounds and the CSV rendering."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from greenmon.export import ExportRow, local_bounds, to_csv

SHANGHAI = ZoneInfo("Asia/Shanghai")
HEADER_LINE = "id,period_start,quantity,unit,energy_tce,co2_t,water_m3"


def row(**changes: object) -> ExportRow:
    values: dict[str, object] = {
        "id": "M1",
        "period_start": datetime(2025, 1, 1, tzinfo=SHANGHAI),
        "quantity": 400.0,
        "unit": "kWh",
        "energy_tce": 0.04916,
        "co2_t": 0.2564,
        "water_m3": None,
    }
    values.update(changes)
    return ExportRow(**values)  # type: ignore[arg-type]


def test_local_bounds_are_shanghai_midnights() -> None:
    start, end = local_bounds(date(2025, 1, 1), date(2025, 1, 31), SHANGHAI)
    # midnight at UTC+8 is 16:00 UTC of the day before
    assert start == datetime(2024, 12, 31, 16, 0, tzinfo=UTC)
    assert end == datetime(2025, 1, 31, 16, 0, tzinfo=UTC)
    assert end - start == timedelta(days=31)
    assert start.utcoffset() == timedelta(hours=8)
    assert (start.hour, start.minute, end.hour, end.minute) == (0, 0, 0, 0)


def test_local_bounds_of_one_day() -> None:
    start, end = local_bounds(date(2022, 1, 1), date(2022, 1, 1), SHANGHAI)
    assert start == datetime(2021, 12, 31, 16, 0, tzinfo=UTC)
    assert end - start == timedelta(hours=24)


def test_local_bounds_follow_daylight_saving_time() -> None:
    # Europe/Berlin springs forward on 2025-03-30: that local day lasts 23 hours
    start, end = local_bounds(date(2025, 3, 30), date(2025, 3, 30), ZoneInfo("Europe/Berlin"))
    assert start == datetime(2025, 3, 29, 23, 0, tzinfo=UTC)  # 00:00 CET (+01:00)
    assert end == datetime(2025, 3, 30, 22, 0, tzinfo=UTC)  # 00:00 CEST (+02:00)


def test_csv_header_and_rows() -> None:
    text = to_csv(
        iter(
            [
                row(),
                row(
                    id="E1",
                    quantity=None,
                    unit=None,
                    energy_tce=None,
                    co2_t=None,
                    water_m3=12.5,
                ),
            ]
        )
    )
    lines = text.split("\n")
    assert lines[0] == HEADER_LINE
    assert lines[1] == "M1,2025-01-01T00:00:00+08:00,400.0,kWh,0.04916,0.2564,"
    assert lines[2] == "E1,2025-01-01T00:00:00+08:00,,,,,12.5"
    assert lines[3] == ""
    assert len(lines) == 4


def test_empty_export_is_the_header_only() -> None:
    assert to_csv(iter([])) == HEADER_LINE + "\n"


def test_to_csv_writes_to_a_stream_too() -> None:
    out = io.StringIO()
    text = to_csv(iter([row()]), out)
    assert out.getvalue() == text
    assert text.startswith(HEADER_LINE + "\n")


def test_ids_with_separators_are_quoted() -> None:
    text = to_csv(iter([row(id='A,"B"')]))
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[1][0] == 'A,"B"'


finite = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=100)
@given(
    quantity=st.none() | finite,
    tce=st.none() | finite,
    co2=st.none() | finite,
    water=st.none() | finite,
)
def test_numbers_round_trip_exactly(
    quantity: float | None, tce: float | None, co2: float | None, water: float | None
) -> None:
    text = to_csv(iter([row(quantity=quantity, energy_tce=tce, co2_t=co2, water_m3=water)]))
    header, parsed = list(csv.reader(io.StringIO(text)))
    assert header == HEADER_LINE.split(",")
    numbers = [parsed[2], parsed[4], parsed[5], parsed[6]]
    assert [float(c) if c else None for c in numbers] == [quantity, tce, co2, water]
    assert parsed[3] == "kWh"
