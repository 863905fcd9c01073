"""Expand Grafana's SQL macros and template variables the way the PostgreSQL datasource does.

Used by the tests and the benchmark to run dashboard SQL without Grafana. Covers
what greenmon's dashboards use: ``$__timeFilter(col)``, ``$__timeFrom()``,
``$__timeTo()``, ``$__time(col)``, ``$__timeGroup(col, interval)``,
``$__timeGroupAlias(col, interval)``, ``$__interval`` / ``$__interval_ms``, and
template variables ``$var``, ``${var}``, ``[[var]]``, ``${var:csv}``,
``${var:sqlstring}``, ``${var:raw}``.

Variable values follow Grafana's SQL datasources: a single value is inserted as is
(single quotes doubled, so ``'$var'`` is a safe literal); a multi-value or "All"
variable becomes quoted, comma-separated literals (``'a','b'``), for ``IN ($var)``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Final

Value = str | Sequence[str]

_UNITS: Final = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_VAR: Final = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)\]\]|\$(\w+)")
_MACRO: Final = re.compile(r"\$__(\w+)\(([^()]*)\)")


def parse_interval(text: str) -> float:
    """Seconds of a Grafana interval like ``15m``, ``1h``, ``'1d'``, ``500ms``."""
    text = text.strip().strip("'\"")
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)", text)
    if not match:
        raise ValueError(f"not an interval: {text!r}")
    return float(match[1]) * _UNITS[match[2]]


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def format_value(value: Value, fmt: str | None, *, multi: bool) -> str:
    values = [value] if isinstance(value, str) else list(value)
    if fmt == "csv":
        return ",".join(values)
    if fmt == "raw":
        return ",".join(values)
    if fmt == "sqlstring" or multi or len(values) != 1:
        return ",".join(_quote(v) for v in values)
    return values[0].replace("'", "''")


def expand(
    sql: str,
    *,
    time_from: datetime,
    time_to: datetime,
    interval: str = "1h",
    variables: Mapping[str, Value] | None = None,
    multi: frozenset[str] = frozenset(),
) -> str:
    """``sql`` as Grafana's PostgreSQL datasource would send it to the server."""
    variables = dict(variables or {})
    interval_s = parse_interval(interval)
    builtins = {"__interval": interval, "__interval_ms": str(int(interval_s * 1000))}

    def var(match: re.Match[str]) -> str:
        name = match[1] or match[3] or match[4]
        if name in builtins:
            return builtins[name]
        if name.startswith("__"):
            return match[0]  # a macro: handled below
        if name not in variables:
            raise KeyError(f"template variable ${name} has no value")
        return format_value(variables[name], match[2], multi=name in multi)

    text = _VAR.sub(var, sql)

    def macro(match: re.Match[str]) -> str:
        name = match[1]
        args = [a.strip() for a in match[2].split(",")] if match[2].strip() else []
        if name == "timeFilter":
            return f"{args[0]} BETWEEN '{_ts(time_from)}' AND '{_ts(time_to)}'"
        if name == "timeFrom":
            return f"'{_ts(time_from)}'"
        if name == "timeTo":
            return f"'{_ts(time_to)}'"
        if name == "time":
            return f'{args[0]} AS "time"'
        if name in ("timeGroup", "timeGroupAlias"):
            seconds = int(parse_interval(args[1]))
            group = f"floor(extract(epoch from {args[0]})/{seconds})*{seconds}"
            return group + (' AS "time"' if name == "timeGroupAlias" else "")
        raise ValueError(f"unsupported macro $__{name}")

    text = _MACRO.sub(macro, text)
    if "$__" in text:
        raise ValueError(f"unexpanded macro left in: {text}")
    return text
