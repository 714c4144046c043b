"""Start-up stays light: no heavy library is imported by `viva --help` or by importing the TUI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ["torch", "sentence_transformers", "faster_whisper", "ctranslate2", "piper", "openai", "transformers"]


def _loaded_after(code: str) -> list[str]:
    probe = (
        "import sys, json\n"
        f"{code}\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "code",
    [
        "import tui.app",
        "from agent.cli import build_parser; build_parser()",
        "import agent.bank, agent.models, agent.config, agent.grading",
        "from agent.bank import load_bank; load_bank().check()",
    ],
)
def test_no_heavy_imports(code: str) -> None:
    assert _loaded_after(code) == []


def test_help_runs_and_lists_commands() -> None:
    out = subprocess.run([sys.executable, "-m", "agent.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "bank" in out.stdout
