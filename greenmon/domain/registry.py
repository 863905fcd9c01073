"""The meter registry: enterprises and their meters, read from CSV (pure parsing).

One row per meter::

    enterprise_id,enterprise_name,district,industry,meter_id,carrier,unit,kind,max_rate_per_hour

District and industry may be given by id or Chinese name. Optional columns:
``register_max`` (counter rollover point), ``flags`` (``feedstock`` / ``renewable``,
separated by ``|``), ``sparkplug_metric`` (the Sparkplug B metric name that carries the
meter, unique within its enterprise; without it the metric name is the meter id).
Unknown values are refused with the row and column named.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from greenmon.domain.reference import Carrier, MeterKind, district_id, industry_id, unit_scale
from greenmon.domain.wire import check_id
from greenmon.errors import InvalidReading, RegistryError

REQUIRED_COLUMNS: Final = (
    "enterprise_id",
    "enterprise_name",
    "district",
    "industry",
    "meter_id",
    "carrier",
    "unit",
    "kind",
    "max_rate_per_hour",
)
OPTIONAL_COLUMNS: Final = ("register_max", "flags", "sparkplug_metric")
KNOWN_FLAGS: Final = frozenset({"feedstock", "renewable"})


@dataclass(frozen=True, slots=True)
class Enterprise:
    enterprise_id: str
    name: str
    district: str
    industry: str


@dataclass(frozen=True, slots=True)
class Meter:
    meter_id: str
    enterprise_id: str
    carrier: Carrier
    unit: str
    kind: MeterKind
    max_rate_per_hour: float
    register_max: float | None = None
    flags: frozenset[str] = frozenset()
    #: the Sparkplug B metric name of this meter (None: the meter id)
    sparkplug_metric: str | None = None


@dataclass(frozen=True, slots=True)
class Registry:
    enterprises: tuple[Enterprise, ...]
    meters: tuple[Meter, ...]

    def meter_map(self) -> dict[str, Meter]:
        return {m.meter_id: m for m in self.meters}


def parse_registry_csv(text: str) -> Registry:
    """Parse a registry file; raises RegistryError naming the row and column at fault."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise RegistryError(f"registry header lacks column(s): {', '.join(missing)}")
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        raise RegistryError(f"registry header has unknown column(s): {', '.join(unknown)}")
    enterprises: dict[str, Enterprise] = {}
    meters: dict[str, Meter] = {}
    try:
        for raw in reader:
            line_no = reader.line_num
            if None in raw:
                raise RegistryError(f"row {line_no}: more values than the header has columns")
            row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
            _add_row(row, line_no, enterprises, meters)
    except csv.Error as exc:
        raise RegistryError(
            f"registry is not valid CSV near line {reader.line_num}: {exc}"
        ) from None
    _check_sparkplug_names(meters.values())
    return Registry(tuple(enterprises.values()), tuple(meters.values()))


def _check_sparkplug_names(meters: Iterable[Meter]) -> None:
    """A Sparkplug metric name carries at most one meter of an enterprise."""
    seen: dict[tuple[str, str], str] = {}
    for m in meters:
        if m.sparkplug_metric is None:
            continue
        other = seen.setdefault((m.enterprise_id, m.sparkplug_metric), m.meter_id)
        if other != m.meter_id:
            raise RegistryError(
                f"meter {m.meter_id!r}, column sparkplug_metric: {m.sparkplug_metric!r} "
                f"already names meter {other!r} of {m.enterprise_id!r}"
            )


def _add_row(
    row: dict[str, str], line_no: int, enterprises: dict[str, Enterprise], meters: dict[str, Meter]
) -> None:
    enterprise, meter = _parse_row(row, line_no)
    known = enterprises.get(enterprise.enterprise_id)
    if known is not None and known != enterprise:
        raise RegistryError(
            f"row {line_no}: enterprise {enterprise.enterprise_id!r} is described "
            "differently from an earlier row (name, district or industry)"
        )
    if meter.meter_id in meters:
        raise RegistryError(f"row {line_no}, column meter_id: {meter.meter_id!r} is repeated")

    enterprises[enterprise.enterprise_id] = enterprise
    meters[meter.meter_id] = meter


def _parse_row(row: dict[str, str], line: int) -> tuple[Enterprise, Meter]:
    def fail(column: str, why: str) -> RegistryError:
        return RegistryError(f"row {line}, column {column}: {why}")

    for column in ("enterprise_id", "meter_id"):
        try:
            check_id(column, row[column])
        except InvalidReading as exc:
            raise fail(column, str(exc)) from None
    district = district_id(row["district"])
    if district is None:
        raise fail("district", f"unknown district {row['district']!r}")
    industry = industry_id(row["industry"])
    if industry is None:
        raise fail("industry", f"unknown industry {row['industry']!r}")
    carrier, kind = _carrier_and_kind(row, fail)
    max_rate = _positive(row["max_rate_per_hour"])
    if max_rate is None:
        raise fail("max_rate_per_hour", f"{row['max_rate_per_hour']!r} is not a positive number")
    register_max: float | None = None
    if row.get("register_max"):
        register_max = _positive(row["register_max"])
        if register_max is None:
            raise fail("register_max", f"{row['register_max']!r} is not a positive number")
    flags = frozenset(f.strip() for f in row.get("flags", "").split("|") if f.strip())
    if not flags <= KNOWN_FLAGS:
        raise fail("flags", f"unknown flag(s) {sorted(flags - KNOWN_FLAGS)}")
    sparkplug_metric = row.get("sparkplug_metric") or None
    if sparkplug_metric is not None and len(sparkplug_metric) > 200:
        raise fail("sparkplug_metric", "is longer than 200 characters")
    name = row["enterprise_name"]
    if not name:
        raise fail("enterprise_name", "is empty")
    enterprise = Enterprise(row["enterprise_id"], name, district, industry)
    meter = Meter(
        meter_id=row["meter_id"],
        enterprise_id=row["enterprise_id"],
        carrier=carrier,
        unit=row["unit"],
        kind=kind,
        max_rate_per_hour=max_rate,
        register_max=register_max,
        flags=flags,
        sparkplug_metric=sparkplug_metric,
    )
    return enterprise, meter


def _carrier_and_kind(
    row: dict[str, str], fail: Callable[[str, str], RegistryError]
) -> tuple[Carrier, MeterKind]:
    try:
        carrier = Carrier(row["carrier"])
    except ValueError:
        raise fail(
            "carrier", f"unknown carrier {row['carrier']!r}; one of {[c.value for c in Carrier]}"
        ) from None
    if unit_scale(carrier, row["unit"]) is None:
        raise fail("unit", f"unit {row['unit']!r} is not a unit of {carrier.value}")
    try:
        kind = MeterKind(row["kind"])
    except ValueError:
        raise fail("kind", f"unknown kind {row['kind']!r}; one of counter, interval") from None
    return carrier, kind


def _positive(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def registry_csv(enterprises: Iterable[Enterprise], meters: Iterable[Meter]) -> str:
    """Render a registry as CSV (the inverse of :func:`parse_registry_csv`)."""
    by_id = {e.enterprise_id: e for e in enterprises}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
    for m in meters:
        e = by_id[m.enterprise_id]
        writer.writerow(_row(e, m))
    return out.getvalue()


def _row(e: Enterprise, m: Meter) -> Iterator[str]:
    yield from (e.enterprise_id, e.name, e.district, e.industry, m.meter_id)
    yield from (m.carrier.value, m.unit, m.kind.value, repr(m.max_rate_per_hour))
    yield "" if m.register_max is None else repr(m.register_max)
    yield "|".join(sorted(m.flags))
    yield m.sparkplug_metric or ""
