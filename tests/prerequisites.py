"""Prerequisites of the test suite: missing ones FAIL the run with a clear message.

CI runs on a machine that ``scripts/setup.sh`` prepared, so a missing TimescaleDB,
browser, data file or tool is a broken machine, never a reason to skip a test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

#: ../shared/data next to the checkout (the steel-plant recording and its README)
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def require(present: bool, what: str) -> None:
    """Fail the test (no traceback) when the prerequisite ``what`` is missing."""
    if not present:
        pytest.fail(
            f"prerequisite missing: {what}; CI runs on a machine prepared by scripts/setup.sh",
            pytrace=False,
        )


def require_file(path: Path, what: str) -> Path:
    require(path.is_file(), f"{what} not found at {path}")
    return path
