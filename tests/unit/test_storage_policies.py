"""Compression and retention are set only where the TimescaleDB edition has them."""

from __future__ import annotations

from greenmon.settings import load_settings
from greenmon.storage.db import Edition
from greenmon.storage.policies import describe, policy_statements
from greenmon.storage.sizes import StoredBytes, TableSize

FULL = Edition("16.4", "2.19.3", "timescale")
APACHE = Edition("16.4", "2.19.3", "apache")
PLAIN = Edition("16.4", None, None)


def test_full_edition_compresses_both_tables_and_keeps_readings_unless_told() -> None:
    sql = policy_statements(FULL, compress_after_days=30, readings_retention_days=None)
    assert sql == [
        "ALTER TABLE readings SET (timescaledb.compress, timescaledb.compress_segmentby = "
        "'meter_id', timescaledb.compress_orderby = 'ts')",
        "SELECT add_compression_policy('readings', INTERVAL '30 days', if_not_exists => true)",
        "ALTER TABLE consumption_15m SET (timescaledb.compress, timescaledb.compress_segmentby "
        "= 'meter_id', timescaledb.compress_orderby = 'interval_start')",
        "SELECT add_compression_policy('consumption_15m', INTERVAL '30 days', "
        "if_not_exists => true)",
    ]
    with_retention = policy_statements(FULL, compress_after_days=7, readings_retention_days=1095)
    assert with_retention[-1] == (
        "SELECT add_retention_policy('readings', INTERVAL '1095 days', if_not_exists => true)"
    )
    assert not any("consumption_15m', INTERVAL" in s and "retention" in s for s in with_retention)


def test_apache_edition_and_plain_postgres_get_no_policies_and_say_so() -> None:
    settings = load_settings(readings_retention_days=365)
    for edition in (APACHE, PLAIN):
        assert policy_statements(edition, compress_after_days=30, readings_retention_days=365) == []
    assert describe(APACHE, settings).startswith("Apache edition: no compression")
    assert describe(PLAIN, settings).startswith("plain PostgreSQL")
    assert describe(FULL, settings) == (
        "chunks compressed after 30 days; raw readings kept 365 days"
    )


def test_a_year_of_meters_is_readings_plus_slot_rows_at_the_measured_bytes() -> None:
    sizes = StoredBytes(TableSize("readings", 1000, 150_000), TableSize("consumption_15m", 500,
                                                                        100_000))  # fmt: skip
    # 150 + 200 bytes per 15-minute slot, 35,040 slots a year, 10 meters
    assert sizes.year_bytes(10) == 10 * 35_040 * 350
    assert sizes.describe()[0] == "readings: 1,000 rows, 0.1 MB, 150 bytes/row"
