"""Session plugins, and how the tests are shared out among pytest-xdist workers."""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.plugins.services"]

#: run one after another on one worker: each injects faults into shared machinery and
#: waits on timing, so two at once on this 2-core machine only slow each other down
SERIAL_FILES = (
    "test_faults.py",
    "test_faults_services.py",
    "test_broker_crash.py",
    "test_scaleout.py",
    "test_no_stalls.py",
    "test_streaming_bench.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """With ``--dist loadgroup``: a file's tests stay together (its module fixtures are
    built once), and the fault-injection files share one group."""
    for item in items:
        name = item.path.name
        group = "faults" if name in SERIAL_FILES else str(item.path)
        item.add_marker(pytest.mark.xdist_group(group))
