"""``greenmon report --entity enterprise|district|city --id ID --month 2026-10 --out FILE.html``."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from greenmon.errors import InvalidInput
from greenmon.settings import Settings


def _month(text: str) -> date:
    try:
        return date.fromisoformat(text + "-01")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a month like 2026-10") from None


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("report", help="a monthly report: one self-contained HTML file")
    p.add_argument("--entity", choices=["enterprise", "district", "city"], required=True)
    p.add_argument("--id", default=None, help="enterprise or district id (city: none)")
    p.add_argument("--month", type=_month, required=True, help="e.g. 2026-10")
    p.add_argument("--out", type=Path, required=True, help="the HTML file")
    p.add_argument("--csv", type=Path, default=None, help="also write the tables here")
    p.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from greenmon.report.data import collect
    from greenmon.report.render import to_html, write_csv
    from greenmon.storage import db

    entity_id = "city" if args.entity == "city" else args.id
    if entity_id is None:
        raise InvalidInput(f"--entity {args.entity} needs --id")
    with db.connect(settings) as conn:
        report = collect(conn, args.entity, entity_id, args.month, settings.tz.key)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(to_html(report), "utf-8")
    print(f"wrote {args.out}")
    if args.csv is not None:
        for path in write_csv(report, args.csv):
            print(f"wrote {path}")
    return 0
