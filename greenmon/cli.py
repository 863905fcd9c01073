"""The ``greenmon`` command line: one subcommand per service or job."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from greenmon.errors import GreenmonError, InvalidInput
from greenmon.settings import Settings, load_settings

log = logging.getLogger("greenmon")

Handler = Callable[[argparse.Namespace, Settings], int]


def _stoppable(service: Any) -> None:
    """Stop ``service`` cleanly on SIGTERM and Ctrl-C."""

    def handle(signum: int, _frame: object) -> None:
        log.info("received signal %s, stopping", signal.Signals(signum).name)
        service.stop()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def cmd_config(args: argparse.Namespace, settings: Settings) -> int:
    masked = settings.masked()
    if args.markdown:
        from greenmon.settings import settings_table

        print(settings_table(), end="")
    elif args.json:
        print(json.dumps(masked, indent=2, ensure_ascii=False))
    else:
        width = max(len(k) for k in masked)
        for key, value in masked.items():
            print(f"{key:<{width}}  {value}")
    return 0


def cmd_services(args: argparse.Namespace, settings: Settings) -> int:
    from greenmon.local import manager

    action = {
        "up": manager.services_up,
        "down": manager.services_down,
        "status": manager.services_status,
    }[args.action]
    statuses = action(settings)
    failed = False
    for s in statuses:
        pid = f" pid {s.pid}" if s.pid else ""
        detail = f" — {s.detail}" if s.detail else ""
        print(f"{s.name:<10} {s.state:<9} {s.url}{pid}{detail}")
        failed = failed or s.state == "failed"
    return 1 if failed else 0


def cmd_db_migrate(_args: argparse.Namespace, settings: Settings) -> int:
    from greenmon.storage.migrate import migrate

    edition, applied = migrate(settings)
    print(f"database: {edition.describe}")
    print(f"applied: {', '.join(applied) if applied else 'nothing (schema is current)'}")
    return 0


def cmd_registry_load(args: argparse.Namespace, settings: Settings) -> int:
    from greenmon.domain.registry import parse_registry_csv
    from greenmon.storage import db
    from greenmon.storage.registry_store import upsert_registry

    registry = parse_registry_csv(Path(args.file).read_text("utf-8"))
    with db.connect(settings) as conn:
        n_e, n_m = upsert_registry(conn, registry)
    print(f"loaded {n_e} enterprises and {n_m} meters from {args.file}")
    return 0


def cmd_collector(_args: argparse.Namespace, settings: Settings) -> int:
    from collector.service import Collector

    service = Collector(settings)
    _stoppable(service)
    service.run()
    return 0


def cmd_processor(_args: argparse.Namespace, settings: Settings) -> int:
    from processor.service import Processor

    service = Processor(settings)
    _stoppable(service)
    service.run()
    return 0


def cmd_mqtt_credentials(args: argparse.Namespace, settings: Settings) -> int:
    from greenmon.local.mqtt_auth import issue_credentials

    report = issue_credentials(settings, args.out, rotate=args.rotate)
    print(f"{report.users} MQTT users in {report.password_file} (hashed) and {report.acl_file}")
    for path in report.handover_files:
        print(f"new password: {path}")
    if report.removed:
        print(f"removed (no longer in the registry): {', '.join(report.removed)}")
    if report.collector_user in report.issued:
        print(
            f"collector: set GREENMON_MQTT_USERNAME={report.collector_user} and "
            f"GREENMON_MQTT_PASSWORD from {args.out}/{report.collector_user}.txt"
        )
    if settings.feed_mqtt_username in report.issued:
        print(
            f"simulate/replay/demo: set GREENMON_FEED_MQTT_PASSWORD from "
            f"{args.out}/{settings.feed_mqtt_username}.txt"
        )
    print("broker reloaded" if report.reloaded else "local broker not running (not reloaded)")
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from greenmon import export
    from greenmon.storage import db

    if args.quality:
        return _export_quality(args, settings)
    rollup = args.entity in ("district", "industry", "city") or args.period in ("ytd", "r12")
    rollup = rollup or (args.entity == "enterprise" and args.period == "month")
    if rollup:
        return _export_rollups(args, settings)
    if args.period not in ("15m", "hour", "day", "month") or args.entity not in (
        "meter",
        "enterprise",
    ):
        raise InvalidInput(f"--entity {args.entity} has no --period {args.period}")
    with db.connect(settings) as conn:
        rows = export.query(
            conn,
            entity=args.entity,
            period=args.period,
            first=args.date_from,
            last=args.date_to,
            tz=settings.tz,
            entity_id=args.id,
        )
        sys.stdout.write(export.to_csv(rows))
    return 0


def _export_quality(args: argparse.Namespace, settings: Settings) -> int:
    from greenmon.storage import db
    from greenmon.storage.quality_store import QUALITY_HEADER, quality_rows

    if args.entity not in ("meter", "enterprise"):
        raise InvalidInput("--quality is per meter or per enterprise")
    with db.connect(settings) as conn:
        rows = quality_rows(
            conn, args.date_from, args.date_to, by_enterprise=args.entity == "enterprise"
        )
    print(QUALITY_HEADER)
    for r in rows:
        if args.id is not None and r.id != args.id:
            continue
        cells = [r.id, r.day.isoformat(), r.meters, r.expected, r.present, r.estimated,
                 r.completeness, r.estimated_share, r.delay_p50_s, r.delay_max_s, r.resets,
                 r.rollovers, r.quarantined]  # fmt: skip
        print(",".join("" if c is None else str(c) for c in cells))
    return 0


def _export_rollups(args: argparse.Namespace, settings: Settings) -> int:
    from greenmon.accounting.rollup import months_between
    from greenmon.export import rollup_csv
    from greenmon.storage import db
    from greenmon.storage.rollup_store import query_rollups

    if args.period not in ("month", "ytd", "r12"):
        raise InvalidInput(f"--entity {args.entity} is reported by month, ytd or r12")
    months = months_between(args.date_from, args.date_to)
    with db.connect(settings) as conn:
        rows = [
            r
            for r in query_rollups(
                conn, months=months, kinds=(args.period,), entities=(args.entity,)
            )
            if args.id is None or r.entity_id == args.id
        ]
    sys.stdout.write(rollup_csv(rows, settings.tz))
    return 0


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from greenmon.jobs import simulate

    return simulate.run(args, settings)


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from greenmon.jobs import replay

    return replay.run(args, settings)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from greenmon.jobs import demo

    return demo.run(args, settings)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2025-01-31") from None


def _interval(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        seconds = int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)
    except (ValueError, IndexError):
        raise argparse.ArgumentTypeError(f"{text!r} is not an interval like 15m") from None
    if seconds <= 0 or 86400 % seconds:
        raise argparse.ArgumentTypeError("the interval must divide a day, e.g. 5m, 15m, 1h")
    return seconds


def add_simulation_args(p: argparse.ArgumentParser, *, days: int | None) -> None:
    p.add_argument("--enterprises", type=int, default=12, help="number of enterprises")
    p.add_argument("--meters-per-enterprise", type=int, default=5, help="meters each")
    p.add_argument("--start", type=_date, default=date(2025, 1, 1), help="first local day")
    p.add_argument("--days", type=int, default=days, help="simulated days")
    p.add_argument("--interval", type=_interval, default=900, help="reading interval (15m)")
    p.add_argument("--seed", type=int, default=1, help="random seed (deterministic output)")
    p.add_argument(
        "--speed",
        type=float,
        default=None,
        help="simulated seconds per second (default: as fast as possible)",
    )
    p.add_argument(
        "--registry",
        type=Path,
        default=None,
        help="use this registry CSV instead of generating one",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="greenmon",
        description="Streaming monitor of energy, water and CO2 for manufacturing.",
    )
    parser.add_argument("--config", type=Path, default=None, help="TOML settings file")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("config", help="print the effective settings (secrets masked)")
    p.add_argument("--json", action="store_true", help="as JSON")
    p.add_argument("--markdown", action="store_true", help="the settings table (README)")
    p.set_defaults(handler=cmd_config)

    p = sub.add_parser("services", help="start, stop or report the local services")
    p.add_argument("action", choices=["up", "down", "status"])
    p.set_defaults(handler=cmd_services)

    p = sub.add_parser("db", help="database schema")
    dbsub = p.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    dbsub.add_parser("migrate", help="create or upgrade the schema").set_defaults(
        handler=cmd_db_migrate
    )

    p = sub.add_parser("registry", help="enterprises and meters")
    rsub = p.add_subparsers(dest="registry_command", required=True, metavar="ACTION")
    p = rsub.add_parser("load", help="load a registry CSV (idempotent upsert)")
    p.add_argument("file", type=Path)
    p.set_defaults(handler=cmd_registry_load)

    sub.add_parser("collector", help="run the MQTT -> Kafka collector").set_defaults(
        handler=cmd_collector
    )
    sub.add_parser("processor", help="run the Kafka -> TimescaleDB processor").set_defaults(
        handler=cmd_processor
    )

    p = sub.add_parser("mqtt", help="MQTT broker credentials and access rules")
    msub = p.add_subparsers(dest="mqtt_command", required=True, metavar="ACTION")
    p = msub.add_parser("credentials", help="create/rotate per-enterprise MQTT passwords and ACL")
    p.add_argument("--out", type=Path, required=True, help="directory for new plain passwords")
    p.add_argument(
        "--rotate", action="append", default=[], metavar="USER", help="issue a new password"
    )
    p.set_defaults(handler=cmd_mqtt_credentials)

    p = sub.add_parser("export", help="consumption per meter or enterprise per period, CSV")
    p.add_argument(
        "--entity", choices=["meter", "enterprise", "district", "industry", "city"], required=True
    )
    p.add_argument("--period", choices=["15m", "hour", "day", "month", "ytd", "r12"], required=True)
    p.add_argument("--from", dest="date_from", type=_date, required=True, help="first local day")
    p.add_argument("--to", dest="date_to", type=_date, required=True, help="last local day")
    p.add_argument("--id", default=None, help="only this meter or enterprise")
    p.add_argument(
        "--quality", action="store_true", help="data quality per day instead of consumption"
    )
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser("simulate", help="publish simulated meter readings over MQTT")
    add_simulation_args(p, days=1)
    p.add_argument("--truth", type=Path, default=None, help="write per-meter per-day truth CSV")
    p.add_argument("--registry-out", type=Path, default=None, help="write the registry CSV")
    p.add_argument("--no-load", action="store_true", help="do not load the registry into the DB")
    p.set_defaults(handler=cmd_simulate)

    p = sub.add_parser("replay", help="publish a recorded meter file (steel dataset) over MQTT")
    p.add_argument("file", type=Path)
    p.add_argument("--enterprise", required=True)
    p.add_argument("--meter", required=True)
    p.add_argument("--tz", default=None, help="zone of the file's naive times")
    p.add_argument("--no-load", action="store_true", help="do not register the meter")
    p.set_defaults(handler=cmd_replay)

    from greenmon.jobs import accounting_cli

    accounting_cli.register(sub, _date)

    from alerts import cli as alerts_cli

    alerts_cli.register(sub)

    from dashboards import cli as dashboards_cli

    dashboards_cli.register(sub)

    p = sub.add_parser("demo", help="the whole pipeline on simulated feeds with local services")
    add_simulation_args(p, days=None)
    p.set_defaults(handler=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
    except (ValueError, OSError) as exc:
        print(f"greenmon: invalid settings: {exc}", file=sys.stderr)
        return 2
    from greenmon.observe import configure_logging

    configure_logging(settings, args.command)
    handler: Handler = args.handler
    try:
        return handler(args, settings)
    except GreenmonError as exc:
        print(f"greenmon {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
