#!/usr/bin/env bash
# The main job: set up what is missing, then run the whole pipeline on simulated
# feeds with local services. Arguments go to `greenmon demo` (e.g. --days 2 --seed 1).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$REPO/scripts/setup.sh"
cd "$REPO"
exec "$REPO/.venv/bin/greenmon" demo "$@"
