"""Accounting subcommands: factors, recompute, value-added, baselines, plan, status."""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime
from pathlib import Path

from greenmon.errors import InvalidInput
from greenmon.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], to_date: object) -> None:
    """Add the accounting subcommands to the ``greenmon`` parser."""
    p = sub.add_parser("factors", help="conversion and emission factors")
    fsub = p.add_subparsers(dest="factors_command", required=True, metavar="ACTION")
    p = fsub.add_parser("list", help="the factors in force on a day (default: today)")
    p.add_argument("--date", dest="on", type=to_date, default=None)  # type: ignore[arg-type]
    p.add_argument("--all", action="store_true", help="every factor, in force or not")
    p.set_defaults(handler=cmd_factors_list)
    p = fsub.add_parser("load", help="load a factor file (CSV like the packaged one)")
    p.add_argument("file", type=Path)
    p.set_defaults(handler=cmd_factors_load)

    p = sub.add_parser("recompute", help="re-derive tce and CO2 after a factor change")
    p.add_argument("--from", dest="date_from", type=to_date, required=True)  # type: ignore[arg-type]
    p.add_argument("--to", dest="date_to", type=to_date, required=True)  # type: ignore[arg-type]
    p.add_argument("--late", action="store_true", help="also take in readings set aside as late")
    p.set_defaults(handler=cmd_recompute)

    p = sub.add_parser("value-added", help="monthly industrial value-added")
    vsub = p.add_subparsers(dest="va_command", required=True, metavar="ACTION")
    p = vsub.add_parser("import", help="import enterprise_id,month,value_added,price_basis")
    p.add_argument("file", type=Path)
    p.set_defaults(handler=cmd_value_added_import)

    p = sub.add_parser("baseline", help="base-year totals per enterprise")
    bsub = p.add_subparsers(dest="baseline_command", required=True, metavar="ACTION")
    p = bsub.add_parser("import", help="import enterprise_id,energy_tce,co2_t,water_m3,value_added")
    p.add_argument("file", type=Path)
    p.set_defaults(handler=cmd_baseline_import)
    p = bsub.add_parser("compute", help="compute baselines from the stored base year")
    p.add_argument("--period", default=None, help="plan period (default: the first)")
    p.add_argument("--overwrite", action="store_true", help="also replace imported ones")
    p.set_defaults(handler=cmd_baseline_compute)

    p = sub.add_parser("plan", help="plan periods, targets, price index, caps")
    psub = p.add_subparsers(dest="plan_command", required=True, metavar="ACTION")
    p = psub.add_parser("load", help="load a plan TOML file (replaces the configuration)")
    p.add_argument("file", type=Path)
    p.set_defaults(handler=cmd_plan_load)

    p = sub.add_parser("rollups", help="the stored roll-ups dashboards read")
    rsub = p.add_subparsers(dest="rollups_command", required=True, metavar="ACTION")
    p = rsub.add_parser("refresh", help="recompute and store the roll-ups of some years")
    p.add_argument("--year", type=int, action="append", required=True, help="repeatable")
    p.set_defaults(handler=cmd_rollups_refresh)

    p = sub.add_parser("status", help="an entity's indicators against its targets")
    p.add_argument(
        "--entity", choices=["enterprise", "district", "industry", "city"], required=True
    )
    p.add_argument("--id", default="city", help="entity id (city: 'city')")
    p.add_argument("--year", type=int, required=True)
    p.set_defaults(handler=cmd_status)


def cmd_factors_list(args: argparse.Namespace, settings: Settings) -> int:
    from greenmon.storage import db
    from greenmon.storage.factor_store import read_factors

    with db.connect(settings) as conn:
        table = read_factors(conn)
    day = args.on or date.today()
    factors = table.all() if args.all else table.in_force(day)
    factors.sort(key=lambda f: (f.quantity, f.carrier.value, f.variant, f.valid_from))
    print(f"{'quantity':<8} {'carrier':<12} {'variant':<12} {'value':>10} {'unit':<10} "
          f"{'valid':<24} source")  # fmt: skip
    for f in factors:
        valid = f"{f.valid_from} .. {f.valid_to or 'open'}"
        print(f"{f.quantity:<8} {f.carrier.value:<12} {f.variant:<12} {f.value:>10g} "
              f"{f.unit:<10} {valid:<24} {f.source}")  # fmt: skip
    if not args.all:
        print(f"({len(factors)} factors in force on {day})")
    return 0


def cmd_factors_load(args: argparse.Namespace, settings: Settings) -> int:
    from greenmon.domain.factors import FactorTable, parse_factors_csv
    from greenmon.storage import db
    from greenmon.storage.factor_store import read_factors, sync_factors

    factors = parse_factors_csv(args.file.read_text("utf-8"))
    with db.connect(settings) as conn, conn.transaction():
        merged = {f.factor_id: f for f in read_factors(conn).all()}
        merged.update({f.factor_id: f for f in factors})
        FactorTable(merged.values())  # refuses overlapping validity before anything is stored
        n = sync_factors(conn, factors)
    print(f"loaded {n} factors from {args.file}; run `greenmon recompute` for stored periods")
    return 0


def cmd_recompute(args: argparse.Namespace, settings: Settings) -> int:
    from greenmon.export import local_bounds
    from greenmon.jobs.late import admit_late
    from greenmon.storage import db
    from greenmon.storage.recompute import recompute

    if args.late:
        start, end = local_bounds(args.date_from, args.date_to, settings.tz)
        n = admit_late(settings, start, end)
        print(f"took in {n} late readings (the processor books them as they arrive)")
    with db.connect(settings) as conn:
        result = recompute(
            conn,
            args.date_from,
            args.date_to,
            tz=settings.timezone,
            grid_region=settings.grid_region,
        )
    print(f"recomputed {result.rows} intervals and {result.months} enterprise-months; "
          f"{result.gaps} intervals lack a valid factor")  # fmt: skip
    return 0


def cmd_value_added_import(args: argparse.Namespace, settings: Settings) -> int:
    from greenmon.accounting.value_added import parse_value_added_csv
    from greenmon.storage import db
    from greenmon.storage.accounting_store import (
        enterprise_industries,
        read_price_index,
        upsert_value_added,
    )

    with db.connect(settings) as conn, conn.transaction():
        rows = parse_value_added_csv(
            args.file.read_text("utf-8"), read_price_index(conn), enterprise_industries(conn)
        )
        n = upsert_value_added(conn, rows, source=f"file:{args.file.name}")
    print(f"imported {n} monthly value-added figures from {args.file}")
    return 0


def cmd_baseline_import(args: argparse.Namespace, settings: Settings) -> int:
    from greenmon.accounting.baseline import parse_baseline_csv
    from greenmon.storage import db
    from greenmon.storage.accounting_store import (
        enterprise_industries,
        read_plan,
        upsert_baselines,
    )

    with db.connect(settings) as conn, conn.transaction():
        plan = read_plan(conn)
        if not plan.periods:
            raise InvalidInput("no plan period is configured: run `greenmon plan load` first")
        rows = parse_baseline_csv(
            args.file.read_text("utf-8"),
            set(enterprise_industries(conn)),
            plan.periods[0].name,
            known_periods={p.name for p in plan.periods},
        )
        n = upsert_baselines(conn, rows)
    print(f"imported {n} baselines from {args.file}")
    return 0


def cmd_baseline_compute(args: argparse.Namespace, settings: Settings) -> int:
    from greenmon.storage import db
    from greenmon.storage.accounting_store import compute_baselines, read_plan

    with db.connect(settings) as conn, conn.transaction():
        plan = read_plan(conn)
        periods = [p for p in plan.periods if args.period in (None, p.name)]
        if not periods:
            raise InvalidInput(f"no plan period named {args.period!r}")
        n = compute_baselines(conn, periods[0], overwrite=args.overwrite)
    print(f"computed {n} baselines for {periods[0].name} from {periods[0].base_year} data")
    return 0


def cmd_plan_load(args: argparse.Namespace, settings: Settings) -> int:
    from greenmon.accounting.config import parse_config
    from greenmon.storage import db
    from greenmon.storage.accounting_store import load_config

    config = parse_config(args.file.read_text("utf-8"))
    with db.connect(settings) as conn, conn.transaction():
        load_config(conn, config)
    print(f"loaded {len(config.periods)} plan periods and {len(config.overrides)} target "
          f"overrides from {args.file}")  # fmt: skip
    return 0


def cmd_rollups_refresh(args: argparse.Namespace, settings: Settings) -> int:
    from greenmon.storage import db
    from greenmon.storage.rollup_store import refresh_rollups

    with db.connect(settings) as conn, conn.transaction():
        through = datetime.now(settings.tz).date().replace(day=1)
        n = refresh_rollups(conn, sorted(set(args.year)), through=through)
    print(f"stored {n} roll-up rows for {', '.join(map(str, sorted(set(args.year))))}")
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from greenmon.jobs.status import print_status

    return print_status(args.entity, args.id, args.year, settings, sys.stdout)
