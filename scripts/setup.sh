#!/usr/bin/env bash
# Set up viva in ./.venv: system audio packages (Debian, when run as root), CPU torch, viva with extras.
#   bash scripts/setup.sh          # runtime: voice + judge extras
#   bash scripts/setup.sh --dev    # also the test tools
set -euo pipefail
cd "$(dirname "$0")/.."
extras="voice,judge"
[ "${1:-}" = "--dev" ] && extras="voice,judge,dev"

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  need=""
  for pkg in libportaudio2 libsndfile1 espeak-ng sox tmux; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need="$need $pkg"
  done
  if [ -n "$need" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq $need >/dev/null
  fi
elif ! ldconfig -p 2>/dev/null | grep -q libportaudio; then
  echo "note: install PortAudio and espeak-ng for voice (Debian/Ubuntu: sudo apt-get install libportaudio2 espeak-ng)" >&2
fi

PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# The CPU build of torch: an unpinned torch pulls several GB of CUDA packages.
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q -e ".[$extras]"
echo "viva is installed in .venv: run .venv/bin/viva (or 'source .venv/bin/activate' then viva)"
