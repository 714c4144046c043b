#!/usr/bin/env bash
# Set up (idempotent) and run every check CI runs: the bank lint, the rubric regression suite, the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/viva bank check
# the rubric regression suite: every sample answer of the bank graded against its band (exit 1 on a failure)
.venv/bin/viva grade
.venv/bin/python -m pytest -q "$@"
