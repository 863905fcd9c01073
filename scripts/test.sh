#!/usr/bin/env bash
# Set up what is missing, then run the checks: ruff, mypy --strict, the import-layer
# contract, and every test
# (unit tests, and integration tests against real Mosquitto, Kafka-protocol broker
# and TimescaleDB processes that the fixtures start on free ports).
# Arguments go to pytest (e.g. -k steel, or tests/unit).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$REPO/scripts/setup.sh"
cd "$REPO"
echo "[test] ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "[test] mypy --strict"
.venv/bin/mypy
echo "[test] import layers (lint-imports, contracts in pyproject.toml)"
.venv/bin/lint-imports
echo "[test] pytest"
# One process by default. GREENMON_TEST_WORKERS=2 runs two pytest-xdist workers (each
# with its own throwaway services; a file's tests stay together, the fault-injection
# files one after the other, see tests/conftest.py). Not the default: on 2 cores it has
# not had enough green runs yet (one process: 25-35 minutes here, see README).
exec .venv/bin/python -m pytest -p no:cacheprovider -n "${GREENMON_TEST_WORKERS:-0}" \
  --dist loadgroup --durations=25 "$@"
