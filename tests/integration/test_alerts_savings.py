"""The savings-negative alert end to end: the alerts service (a real process) reads the
savings of an acceptable EnPI model from the database, fires after two losing months in a
row (January saves, February and March lose), leaves an unacceptable model alone, and
resolves when a month saves again."""

from __future__ import annotations

from datetime import date

import pytest

from greenmon.settings import Settings
from greenmon.storage import db
from tests.integration.conftest import Pipeline
from tests.integration.test_alerts import REGISTRY, alert_settings, cli, history, wait_for

pytestmark = pytest.mark.integration

RULES = """\
rules:
  - {id: losing, scope: enterprise, severity: warning, savings_negative: {months: 2}}
"""


def _model(settings: Settings, enterprise: str, acceptable: bool) -> None:
    """Model E = 100 + 1 * output over 2024; 2025 months as given by _month."""
    with db.connect(settings, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO enpi_models (enterprise_id, variables, baseline_from, baseline_to, n, p, "
            "coefficients, ranges, r2, adj_r2, cv_rmse, nmbe, sse, mean_y, acceptable, b0, "
            "b_output) VALUES (%s, '{output}', '2024-01-01', '2024-12-01', 12, 2, '[]', '{}', "
            "0.9, 0.9, 0.05, 0, 1, 200, %s, 100, 1)",
            (enterprise, acceptable),
        )


def _month(settings: Settings, enterprise: str, month: date, output: float, tce: float) -> None:
    with db.connect(settings, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO production_month (enterprise_id, month, output, unit, source) "
            "VALUES (%s, %s, %s, 't', 'test')",
            (enterprise, month, output),
        )
        conn.execute(
            "INSERT INTO enterprise_month (enterprise_id, month, energy_tce) VALUES (%s, %s, %s)",
            (enterprise, month, tce),
        )


def test_two_losing_months_fire_and_a_saving_month_resolves(
    pipeline: Pipeline, mailbox: tuple[object, int]
) -> None:
    settings = alert_settings(pipeline, mailbox[1])
    pipeline.load_registry(REGISTRY)
    rules = pipeline.log_dir.parent / "rules.yaml"
    rules.write_text(RULES)
    cli(settings, "alerts", "rules", "load", str(rules))
    _model(settings, "A", acceptable=True)
    _model(settings, "B", acceptable=False)
    for enterprise in ("A", "B"):  # expected 200; January saves, February loses
        _month(settings, enterprise, date(2025, 1, 1), 100, 190)
        _month(settings, enterprise, date(2025, 2, 1), 100, 230)
    for enterprise in ("A", "B"):
        _month(settings, enterprise, date(2025, 3, 1), 100, 215)  # loses again
    pipeline.start("alerts")
    wait_for("A firing", lambda: ("firing", "losing/enterprise/A", "A") in history(settings),
             pipeline)  # fmt: skip
    _month(settings, "A", date(2025, 4, 1), 100, 150)
    wait_for("A resolved", lambda: ("resolved", "losing/enterprise/A", "A")
             in history(settings), pipeline)  # fmt: skip
    assert [h for h in history(settings) if h[2] == "B"] == []  # unacceptable: never used
