#!/usr/bin/env bash
# Set up (idempotent) and run every check CI runs: the test suite, the bank lint and the rubric regression suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/viva bank check
.venv/bin/python -m pytest -q "$@"
