"""Value-added: price index, deflation, the all-or-nothing import file, the Kafka message;
and the baseline import file (same all-or-nothing rules)."""

from __future__ import annotations

import json
import math
from datetime import date

import pytest

from greenmon.accounting.baseline import Baseline, parse_baseline_csv
from greenmon.accounting.value_added import (
    ImportRefused,
    PriceIndex,
    ValueAddedRow,
    deflate,
    parse_value_added_csv,
)
from greenmon.errors import InvalidInput
from greenmon.messages.value_added import parse_value_added_message

INDEX = PriceIndex({(2023, "*"): 1.05, (2023, "chemicals"): 1.12, (2024, "*"): 1.08})
INDUSTRIES = {"E1": "chemicals", "E2": "food_beverage"}
HEADER = "enterprise_id,month,value_added,price_basis\n"


# --- price index and deflation ---------------------------------------------------------------


def test_industry_specific_index_wins_over_the_general_one() -> None:
    assert INDEX.lookup(2023, "chemicals") == 1.12
    assert INDEX.lookup(2023, "food_beverage") == 1.05
    assert INDEX.lookup(2023) == 1.05
    assert INDEX.lookup(2024, "chemicals") == 1.08  # no chemicals index for 2024: "*"
    assert INDEX.lookup(2020, "chemicals") == 1.0  # 2020 is the base by definition
    assert INDEX.lookup(2022, "chemicals") is None


def test_deflate() -> None:
    assert deflate(1000.0, "constant_2020", 2031, "chemicals", INDEX) == 1000.0
    assert math.isclose(deflate(1120.0, "current", 2023, "chemicals", INDEX), 1000.0)  # /1.12
    assert math.isclose(deflate(1050.0, "current", 2023, "nev", INDEX), 1000.0)  # /1.05
    assert math.isclose(deflate(1050.0, "current", 2023, None, INDEX), 1000.0)
    assert deflate(500.0, "current", 2020, "nev", PriceIndex()) == 500.0
    with pytest.raises(InvalidInput, match="no price index for 2022"):
        deflate(1.0, "current", 2022, "nev", INDEX)


@pytest.mark.parametrize(
    ("entries", "match"),
    [
        ({(2023, "*"): 0.0}, "is not > 0"),
        ({(2023, "*"): math.nan}, "is not > 0"),
        ({(2020, "*"): 1.02}, "2020 is 1.0 by definition"),
    ],
)
def test_bad_price_index_is_refused(entries: dict[tuple[int, str], float], match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        PriceIndex(entries)


# --- the import file -------------------------------------------------------------------------


def test_constant_and_current_rows() -> None:
    text = HEADER + (
        "E1,2023-01,1120,current\n"  # chemicals 2023: 1120 / 1.12 = 1000
        "E2,2023-01,1050,current\n"  # food 2023 (general index): 1050 / 1.05 = 1000
        "E1,2023-02,800.5,constant_2020\n"  # unchanged
        "E2,2020-06,500,current\n"  # 2020 prices are constant 2020 prices
        " E2 , 2024-03 , 540 , current \n"  # blanks around values; 540 / 1.08 = 500
    )
    rows = parse_value_added_csv(text, INDEX, INDUSTRIES)
    assert [(r.enterprise_id, r.month, r.price_basis) for r in rows] == [
        ("E1", date(2023, 1, 1), "current"),
        ("E2", date(2023, 1, 1), "current"),
        ("E1", date(2023, 2, 1), "constant_2020"),
        ("E2", date(2020, 6, 1), "current"),
        ("E2", date(2024, 3, 1), "current"),
    ]
    expected_const = [1000.0, 1000.0, 800.5, 500.0, 500.0]
    for row, const in zip(rows, expected_const, strict=True):
        assert math.isclose(row.value_added_const, const, rel_tol=1e-12)
    assert [r.deflator for r in rows] == [1.12, 1.05, 1.0, 1.0, 1.08]
    assert [r.submitted for r in rows] == [1120.0, 1050.0, 800.5, 500.0, 540.0]


def test_bad_rows_refuse_the_whole_file_and_are_all_reported() -> None:
    text = HEADER + (
        "E1,2023-01,1000,constant_2020\n"  # line 2, fine
        "E9,2023-01,1000,constant_2020\n"  # line 3: unknown enterprise
        "E2,2023-01,1000,constant_2020\n"  # line 4, fine
        "E1,2023-13,1000,constant_2020\n"  # line 5: no month 13
        "E1,2023-03,-5,constant_2020\n"  # line 6: negative
        "E1,2023-04,nan,constant_2020\n"  # line 7: not a number
        "E1,2023-05,1000,real\n"  # line 8: unknown basis
        "E1,2022-06,1000,current\n"  # line 9: no index for 2022
        "E1,2023/07,abc,current\n"  # line 10: two problems in one row
        "E1,2023-08,1000\n"  # line 11: too few values
        "E1,2023-09,1000,current,extra\n"  # line 12: too many values
    )
    with pytest.raises(ImportRefused) as caught:
        parse_value_added_csv(text, INDEX, INDUSTRIES)
    errors = caught.value.errors
    assert [e.split(":")[0] for e in errors] == [f"line {n}" for n in range(3, 13) if n != 4]
    assert "'E9' is not a registered enterprise" in errors[0]
    assert "has no month 13" in errors[1]
    assert "-5" in errors[2] and "negative" in errors[2]
    assert "'nan' is not a number" in errors[3]
    assert "price_basis 'real'" in errors[4]
    assert "no price index for 2022" in errors[5]
    assert "'2023/07' is not YYYY-MM" in errors[6] and "'abc' is not a number" in errors[6]
    assert "fewer values" in errors[7]
    assert "more values" in errors[8]
    message = str(caught.value)
    assert message.startswith("value-added file refused, nothing imported: 9 error(s)")
    assert "line 3:" in message and "line 12:" in message
    assert isinstance(caught.value, InvalidInput)


def test_duplicate_enterprise_month_is_refused() -> None:
    text = HEADER + (
        "E1,2023-01,1000,constant_2020\nE2,2023-01,5,constant_2020\nE1,2023-01,1120,current\n"
    )
    with pytest.raises(ImportRefused) as caught:
        parse_value_added_csv(text, INDEX, INDUSTRIES)
    assert caught.value.errors == ("line 4: E1 2023-01 repeats line 2",)


def test_at_most_twenty_errors_are_shown() -> None:
    text = HEADER + "".join(f"X{i},2023-01,1,constant_2020\n" for i in range(25))
    with pytest.raises(ImportRefused) as caught:
        parse_value_added_csv(text, INDEX, INDUSTRIES)
    assert len(caught.value.errors) == 25
    message = str(caught.value)
    assert "line 21:" in message and "line 22:" not in message
    assert message.endswith("... and 5 more")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "the file is empty"),
        (HEADER, "no data rows"),
        ("enterprise_id,month,value_added\nE1,2023-01,5\n", "header lacks column price_basis"),
        (HEADER.strip() + ",note\nE1,2023-01,5,current,x\n", "unknown column 'note'"),
    ],
)
def test_file_level_problems(text: str, match: str) -> None:
    with pytest.raises(ImportRefused, match=match):
        parse_value_added_csv(text, INDEX, INDUSTRIES)


def test_byte_order_mark_and_column_order() -> None:
    text = "\ufeffmonth,price_basis,enterprise_id,value_added\n2023-01,constant_2020,E1,7\n"
    (row,) = parse_value_added_csv(text, INDEX, INDUSTRIES)
    assert (row.enterprise_id, row.value_added_const) == ("E1", 7.0)


# --- the Kafka message -----------------------------------------------------------------------


def message(**fields: object) -> bytes:
    doc = {"enterprise_id": "E1", "month": "2023-01", "value_added": 1120, "price_basis": "current"}
    doc.update(fields)
    return json.dumps({k: v for k, v in doc.items() if v is not None}).encode()


def test_message_is_parsed_and_deflated() -> None:
    row = parse_value_added_message(message(), INDEX, INDUSTRIES)
    assert row == ValueAddedRow(
        "E1", date(2023, 1, 1), row.value_added_const, 1120.0, "current", 1.12
    )
    assert math.isclose(row.value_added_const, 1000.0)


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (message(value_added="1120"), "value_added must be a JSON number"),
        (message(value_added=True), "value_added .True. is not a number"),
        (message(value_added=-3), "negative"),
        (message(enterprise_id="E9"), "'E9' is not a registered enterprise"),
        (message(month="2023-1"), "is not YYYY-MM"),
        (message(month=202301), "month must be a string"),
        (message(price_basis="nominal"), "price_basis 'nominal'"),
        (message(note="x"), "unknown field 'note'"),
        (message(month=None), "month is missing"),
        (message(month="2022-05"), "no price index for 2022"),
        (b"[1, 2]", "must be a JSON object"),
        (b"{not json", "not valid JSON"),
        (b'{"value_added": NaN}', "not valid JSON"),
    ],
)
def test_bad_messages_are_refused_with_a_reason(payload: bytes, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        parse_value_added_message(payload, INDEX, INDUSTRIES)


# --- the baseline file -----------------------------------------------------------------------

BASE_HEADER = "enterprise_id,energy_tce,co2_t,water_m3,value_added,period\n"


def test_baseline_rows() -> None:
    text = BASE_HEADER + (
        "E1,300,1000,25000,5000,\n"  # period empty: the default
        "E1,280.5,900,,5200,15th-FYP\n"  # water not reported
        "E2,0,0,10,100,14th-FYP\n"
    )
    rows = parse_baseline_csv(text, {"E1", "E2"}, "14th-FYP")
    assert rows == [
        Baseline("E1", "14th-FYP", 300.0, 1000.0, 25000.0, 5000.0),
        Baseline("E1", "15th-FYP", 280.5, 900.0, None, 5200.0),
        Baseline("E2", "14th-FYP", 0.0, 0.0, 10.0, 100.0),
    ]
    assert (rows[1].quantity("energy"), rows[1].quantity("co2"), rows[1].quantity("water")) == (
        280.5,
        900.0,
        None,
    )


def test_baseline_without_period_column_uses_the_default() -> None:
    text = "enterprise_id,energy_tce,co2_t,water_m3,value_added\nE1,1,2,3,4\n"
    (row,) = parse_baseline_csv(text, {"E1"}, "14th-FYP")
    assert row == Baseline("E1", "14th-FYP", 1.0, 2.0, 3.0, 4.0)


def test_a_plant_new_since_the_base_year_files_zeros() -> None:
    text = BASE_HEADER + "E1,0,0,0,0,\n"
    (row,) = parse_baseline_csv(text, {"E1"}, "14th-FYP")
    assert row == Baseline("E1", "14th-FYP", 0.0, 0.0, 0.0, 0.0)
    with pytest.raises(ImportRefused, match="did not operate in the base year"):
        parse_baseline_csv(BASE_HEADER + "E1,0,1,0,0,\n", {"E1"}, "14th-FYP")


def test_bad_baseline_rows_refuse_the_file() -> None:
    text = BASE_HEADER + (
        "E1,300,1000,25000,5000,\n"  # line 2, fine
        "E9,300,1000,25000,5000,\n"  # line 3: unknown enterprise
        "E2,300,1000,25000,0,\n"  # line 4: value-added 0
        "E2,-1,x,25000,,\n"  # line 5: negative, not a number, value-added empty
        "E1,1,1,1,1,14th-FYP\n"  # line 6: repeats line 2 (default period)
        "E2,1,1,1,1,13th-FYP\n"  # line 7: unknown period
    )
    with pytest.raises(ImportRefused) as caught:
        parse_baseline_csv(text, {"E1", "E2"}, "14th-FYP", known_periods={"14th-FYP"})
    errors = caught.value.errors
    assert errors[0] == "line 3: enterprise_id 'E9' is not a registered enterprise"
    assert errors[1].startswith("line 4: value_added is 0; a baseline needs value-added > 0")
    assert errors[2] == (
        "line 5: energy_tce '-1' is negative; co2_t 'x' is not a number; value_added is empty"
    )
    assert errors[3] == "line 6: E1 in 14th-FYP repeats line 2"
    assert errors[4] == "line 7: period '13th-FYP' is not a configured plan period"
    assert len(errors) == 5
    assert str(caught.value).startswith("baseline file refused, nothing imported")
