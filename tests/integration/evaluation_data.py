"""Evaluation data for the filled dashboards database: 亩产效益 inputs and results for
2025 (class shares that leave one enterprise in D), and an EnPI model of one enterprise
fitted over 2023-2024 through the CLI, so January 2025 has savings and a CUSUM."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from greenmon.accounting.evaluation_params import DEFAULT_WEIGHTS, EvaluationParams, GroupParams
from greenmon.accounting.rollup import months_between
from greenmon.domain.registry import Registry
from greenmon.settings import Settings
from greenmon.storage import db
from greenmon.storage.evaluation_params_store import save_params
from tests.integration.conftest import run_cli

SHARES = (0.25, 0.5, 0.75)  # with 6 enterprises: A <= 2, B <= 3, C <= 5, D = the 6th


def fill_evaluation(settings: Settings, registry: Registry, enterprise: str, tmp: Path) -> None:
    ids = [e.enterprise_id for e in registry.enterprises]
    lines = ["enterprise_id,year,land_mu,tax,revenue,rd_spend,employees,scale"]
    lines += [f"{e},2025,{20 + i},{100 * (i + 1)},{1000 + i},{10 * i},{50 + i},above"
              for i, e in enumerate(ids)]  # fmt: skip
    (tmp / "evaluation.csv").write_text("\n".join(lines) + "\n")
    baseline = months_between(date(2023, 1, 1), date(2024, 12, 1))
    production = ["enterprise_id,month,output,unit"]
    production += [f"{enterprise},{m:%Y-%m},{100 + 10 * i},t" for i, m in enumerate(baseline)]
    production.append(f"{enterprise},2025-01,300,t")
    (tmp / "production.csv").write_text("\n".join(production) + "\n")
    with db.connect(settings) as conn, conn.transaction():
        params = GroupParams("above", DEFAULT_WEIGHTS["above"], shares=SHARES)
        save_params(conn, EvaluationParams((params,)))
        for i, m in enumerate(baseline):
            conn.execute(
                "INSERT INTO enterprise_month (enterprise_id, month, energy_tce) "
                "VALUES (%s, %s, %s)",
                (enterprise, m, 50 + 0.2 * (100 + 10 * i) + (1.0 if i % 2 else -1.0)),
            )
    run_cli(settings, "evaluation", "import", str(tmp / "evaluation.csv"))
    run_cli(settings, "evaluation", "run", "--year", "2025")
    run_cli(settings, "production", "import", str(tmp / "production.csv"))
    run_cli(settings, "enpi", "fit", "--enterprise", enterprise, "--baseline-from", "2023-01",
            "--baseline-to", "2024-12")  # fmt: skip
