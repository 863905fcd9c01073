"""The roll-up refresher's watermark: a batch committed while a refresh runs is seen by
the next refresh, and an idle database is not recomputed over and over."""

from __future__ import annotations

from datetime import date

import pytest

from greenmon.domain.reference import Carrier, MeterKind
from greenmon.domain.registry import Enterprise, Meter, Registry
from greenmon.storage import db
from greenmon.storage.registry_store import upsert_registry
from processor.rollups import RollupRefresher
from tests.integration.conftest import fresh_settings
from tests.plugins.services import LocalServices

pytestmark = pytest.mark.integration

REGISTRY = Registry(
    enterprises=(Enterprise("E", "Echo Works", "jimo", "equipment"),),
    meters=(Meter("E-1", "E", Carrier.ELECTRICITY, "kWh", MeterKind.INTERVAL, 1000.0),),
)


def month_tce(conn: db.Conn) -> float | None:
    row = conn.execute(
        "SELECT energy_tce FROM rollups WHERE entity = 'enterprise' AND entity_id = 'E' "
        "AND kind = 'month' AND month = %s",
        (date(2025, 3, 1),),
    ).fetchone()
    return None if row is None else float(row[0])


def test_a_batch_open_during_a_refresh_is_picked_up_and_idle_means_no_work(
    local_services: LocalServices,
) -> None:
    settings = fresh_settings(local_services, "wm")
    refresher = RollupRefresher(settings)
    with db.connect(settings) as writer, db.connect(settings, autocommit=True) as conn:
        upsert_registry(writer, REGISTRY)
        writer.commit()
        refresher.refresh(conn)  # whatever the empty database needs
        # a processor's batch: begun before the refresh, committed after it
        writer.execute(
            "INSERT INTO enterprise_month (enterprise_id, month, energy_tce) "
            "VALUES ('E', '2025-03-01', 1.5)"
        )
        assert refresher.refresh(conn) == 0  # nothing committed yet
        writer.commit()
        assert refresher.refresh(conn) > 0
        assert month_tce(conn) == 1.5
        # idle: nothing changed since, so nothing is recomputed
        assert refresher.refresh(conn) == 0
        assert refresher.refresh(conn) == 0
        writer.execute("UPDATE enterprise_month SET energy_tce = 2.5, updated_at = now()")
        writer.commit()
        assert refresher.refresh(conn) > 0
        assert month_tce(conn) == 2.5
