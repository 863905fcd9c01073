"""Grafana macro and template-variable expansion (dashboards.macros), as the PG datasource does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from dashboards.macros import expand, format_value, parse_interval

FROM = datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=8)))
TO = datetime(2025, 2, 1, tzinfo=UTC)


def _x(sql: str, **kw: object) -> str:
    return expand(sql, time_from=FROM, time_to=TO, **kw)  # type: ignore[arg-type]


def test_time_filter_from_to_in_utc() -> None:
    assert _x("WHERE $__timeFilter(ts)") == (
        "WHERE ts BETWEEN '2024-12-31T16:00:00Z' AND '2025-02-01T00:00:00Z'"
    )
    assert _x("$__timeFrom() .. $__timeTo()") == "'2024-12-31T16:00:00Z' .. '2025-02-01T00:00:00Z'"


def test_time_group_with_interval_variable() -> None:
    assert _x("SELECT $__timeGroupAlias(t, $__interval)", interval="15m") == (
        'SELECT floor(extract(epoch from t)/900)*900 AS "time"'
    )
    assert _x("$__timeGroup(t, '1h')") == "floor(extract(epoch from t)/3600)*3600"
    assert _x("$__interval_ms", interval="1d") == "86400000"
    assert _x("$__time(ts)") == 'ts AS "time"'


def test_single_value_variables_are_raw_with_quotes_doubled() -> None:
    assert _x("e = '$e'", variables={"e": "A"}) == "e = 'A'"
    assert _x("e = '${e}' OR [[e]]", variables={"e": "O'Brien"}) == "e = 'O''Brien' OR O''Brien"


def test_multi_value_variables_are_quoted_lists() -> None:
    sql = "d IN ($d) AND x = '${d:csv}' AND y IN (${d:sqlstring})"
    out = _x(sql, variables={"d": ["jimo", "laoshan"]}, multi=frozenset({"d"}))
    assert out == "d IN ('jimo','laoshan') AND x = 'jimo,laoshan' AND y IN ('jimo','laoshan')"
    assert format_value("a", None, multi=True) == "'a'"


def test_unknown_variable_and_macro_are_errors() -> None:
    with pytest.raises(KeyError):
        _x("x = '$nope'")
    with pytest.raises(ValueError, match="unsupported macro"):
        _x("$__unixEpochGroup(t, 1h)")


def test_parse_interval() -> None:
    assert parse_interval("15m") == 900
    assert parse_interval("'1h'") == 3600
    assert parse_interval("500ms") == 0.5
    with pytest.raises(ValueError):
        parse_interval("soon")
