#!/usr/bin/env bash
# Set up (idempotent) and run every check CI runs: the bank lint, the rubric regression suite, the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# the checks below are about the project's bank, not the user's: no user config (bank_dirs, judge ...), data or
# cache, and no VIVA_* setting from the shell (the test suite isolates itself the same way, in tests/conftest.py)
for var in $(compgen -e | grep '^VIVA_' || true); do unset "$var"; done
VIVA_HOME="$(mktemp -d)"
trap 'rm -rf "$VIVA_HOME"' EXIT
export VIVA_CONFIG="$VIVA_HOME/config.toml" VIVA_DATA_DIR="$VIVA_HOME/data" VIVA_CACHE_DIR="$VIVA_HOME/cache"
.venv/bin/viva bank check
# the rubric regression suite: every sample answer of the bank graded against its band (exit 1 on a failure)
.venv/bin/viva grade
.venv/bin/python -m pytest -q "$@"
