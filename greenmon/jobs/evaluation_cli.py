"""Evaluation subcommands: ``evaluation``, ``production``, ``weather``, ``enpi``."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from greenmon.errors import InvalidInput
from greenmon.settings import Settings


def _month(text: str) -> date:
    from greenmon.accounting.value_added import _parse_month

    try:
        return _parse_month(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the evaluation subcommands to the ``greenmon`` parser."""
    p = sub.add_parser("evaluation", help="亩产效益 comprehensive evaluation (classes A-D)")
    esub = p.add_subparsers(dest="evaluation_command", required=True, metavar="ACTION")
    p = esub.add_parser("import", help="import enterprise_id,year,land_mu,tax,revenue,"
                        "rd_spend,employees,scale[,exempt]")  # fmt: skip
    p.add_argument("file", type=Path)
    p.set_defaults(handler=cmd_evaluation_import)
    p = esub.add_parser("run", help="score, rank and class a year; store and write CSV")
    p.add_argument("--year", type=int, required=True)
    p.add_argument("--out", type=Path, default=None, help="CSV file (default: stdout)")
    p.set_defaults(handler=cmd_evaluation_run)

    p = sub.add_parser("production", help="monthly production per enterprise")
    psub = p.add_subparsers(dest="production_command", required=True, metavar="ACTION")
    p = psub.add_parser("import", help="import enterprise_id,month,output,unit")
    p.add_argument("file", type=Path)
    p.set_defaults(handler=cmd_production_import)

    p = sub.add_parser("weather", help="the city's daily mean temperature")
    wsub = p.add_subparsers(dest="weather_command", required=True, metavar="ACTION")
    p = wsub.add_parser("import", help="import date,mean_temp_c")
    p.add_argument("file", type=Path)
    p.set_defaults(handler=cmd_weather_import)

    p = sub.add_parser("enpi", help="energy performance baselines (ISO 50006) and CUSUM")
    nsub = p.add_subparsers(dest="enpi_command", required=True, metavar="ACTION")
    p = nsub.add_parser("fit", help="fit and store an enterprise's baseline model")
    p.add_argument("--enterprise", required=True)
    p.add_argument("--baseline-from", type=_month, required=True, help="YYYY-MM")
    p.add_argument("--baseline-to", type=_month, required=True, help="YYYY-MM")
    p.add_argument("--variables", default="output", help="output[,hdd][,cdd]")
    p.set_defaults(handler=cmd_enpi_fit)
    p = nsub.add_parser("report", help="expected energy, savings and CUSUM per month, CSV")
    p.add_argument("--enterprise", required=True)
    p.add_argument("--from", dest="month_from", type=_month, required=True, help="YYYY-MM")
    p.add_argument("--to", dest="month_to", type=_month, required=True, help="YYYY-MM")
    p.add_argument(
        "--allow-unacceptable",
        action="store_true",
        help="report on a model that fails the criteria (flagged in every row)",
    )
    p.set_defaults(handler=cmd_enpi_report)


def cmd_evaluation_import(args: argparse.Namespace, settings: Settings) -> int:
    from greenmon.evaluation.imports import parse_evaluation_csv
    from greenmon.storage import db
    from greenmon.storage.evaluation_store import known_enterprises, upsert_inputs

    with db.connect(settings) as conn, conn.transaction():
        rows = parse_evaluation_csv(args.file.read_text("utf-8"), known_enterprises(conn))
        n = upsert_inputs(conn, rows, source=f"file:{args.file.name}")
    print(f"imported {n} evaluation inputs from {args.file}")
    return 0


def cmd_evaluation_run(args: argparse.Namespace, settings: Settings) -> int:
    from greenmon.evaluation.scoring import evaluate, to_csv
    from greenmon.storage import db
    from greenmon.storage.evaluation_params_store import read_params
    from greenmon.storage.evaluation_store import read_inputs, save_results, year_figures

    with db.connect(settings) as conn, conn.transaction():
        inputs = read_inputs(conn, args.year)
        if not inputs:
            raise InvalidInput(f"no evaluation inputs for {args.year}: run "
                               "`greenmon evaluation import` first")  # fmt: skip
        figures = year_figures(conn, args.year, settings.tz)
        rows = evaluate(inputs, figures, read_params(conn), args.year)
        save_results(conn, args.year, rows)
    text = to_csv(rows)
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, "utf-8")
        counts = {k: sum(r.klass == k for r in rows) for k in "ABCD"}
        print(
            f"evaluated {len(rows)} enterprises for {args.year}: "
            + ", ".join(f"{k} {v}" for k, v in counts.items())
            + f"; written to {args.out}"
        )
    return 0


def cmd_production_import(args: argparse.Namespace, settings: Settings) -> int:
    from greenmon.evaluation.imports import parse_production_csv
    from greenmon.storage import db
    from greenmon.storage.evaluation_store import (
        known_enterprises,
        production_units,
        upsert_production,
    )

    with db.connect(settings) as conn, conn.transaction():
        rows = parse_production_csv(
            args.file.read_text("utf-8"), known_enterprises(conn), production_units(conn)
        )
        n = upsert_production(conn, rows, source=f"file:{args.file.name}")
    print(f"imported {n} monthly production figures from {args.file}")
    return 0


def cmd_weather_import(args: argparse.Namespace, settings: Settings) -> int:
    from greenmon.evaluation.imports import parse_weather_csv
    from greenmon.storage import db
    from greenmon.storage.evaluation_store import upsert_weather

    rows = parse_weather_csv(args.file.read_text("utf-8"))
    with db.connect(settings) as conn, conn.transaction():
        n = upsert_weather(conn, rows, source=f"file:{args.file.name}")
    print(f"imported {n} daily temperatures from {args.file}")
    return 0


def cmd_enpi_fit(args: argparse.Namespace, settings: Settings) -> int:
    from greenmon.accounting.rollup import months_between
    from greenmon.evaluation.enpi import describe, fit_model, parse_variables
    from greenmon.storage import db
    from greenmon.storage.evaluation_params_store import read_params
    from greenmon.storage.evaluation_store import known_enterprises, months_data, save_model

    variables = parse_variables(args.variables)
    if args.baseline_to < args.baseline_from:
        raise InvalidInput("--baseline-to is before --baseline-from")
    months = months_between(args.baseline_from, args.baseline_to)
    with db.connect(settings) as conn, conn.transaction():
        if args.enterprise not in known_enterprises(conn):
            raise InvalidInput(f"{args.enterprise!r} is not a registered enterprise")
        enpi = read_params(conn).enpi
        data = months_data(conn, args.enterprise, months, enpi.hdd_base_c, enpi.cdd_base_c)
        model = fit_model(args.enterprise, data, variables, enpi)
        save_model(conn, model)
    print(describe(model))
    return 0


def cmd_enpi_report(args: argparse.Namespace, settings: Settings) -> int:
    from greenmon.accounting.rollup import months_between
    from greenmon.evaluation.enpi import report, report_csv
    from greenmon.storage import db
    from greenmon.storage.evaluation_params_store import read_params
    from greenmon.storage.evaluation_store import months_data, read_models

    if args.month_to < args.month_from:
        raise InvalidInput("--to is before --from")
    with db.connect(settings) as conn:
        model = read_models(conn, args.enterprise).get(args.enterprise)
        if model is None:
            raise InvalidInput(f"{args.enterprise} has no model: run `greenmon enpi fit` first")
        if not model.acceptable and not args.allow_unacceptable:
            raise InvalidInput(
                f"{args.enterprise}'s model is not acceptable ({'; '.join(model.failures)}); "
                "refit it, or pass --allow-unacceptable to report on it all the same"
            )
        enpi = read_params(conn).enpi
        months = months_between(args.month_from, args.month_to)
        data = months_data(conn, args.enterprise, months, enpi.hdd_base_c, enpi.cdd_base_c)
    sys.stdout.write(report_csv(report(model, data)))
    return 0
