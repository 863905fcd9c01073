"""The packaged migrations: one file per version, applied in version order."""

from __future__ import annotations

from greenmon.storage.migrate import migration_files


def test_each_migration_has_a_version_of_its_own() -> None:
    versions = [v for v, _name, _sql in migration_files()]
    assert len(versions) == len(set(versions)), versions
    assert versions == sorted(versions) and versions[0] == 1
    assert versions == list(range(1, len(versions) + 1))  # no gaps: none lost in a merge
