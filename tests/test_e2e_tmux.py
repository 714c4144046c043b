"""End to end: the installed `viva` in a real terminal (tmux), driven by keys, read from the pane.

One session: a typed answer graded by the real default (stacked) grader, then (after the follow-up screen) a
spoken answer synthesised with Piper, fed from a file through the recorder and transcribed by the real
Whisper model. Uses a private tmux server so the test's environment (isolated data/config) applies.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

# the console script of the environment running the tests (a venv's bin folder is often not on PATH)
VIVA = shutil.which("viva", path=str(Path(sys.executable).parent)) or shutil.which("viva")

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
              pytest.mark.skipif(VIVA is None, reason="the viva console script is not installed")]

COLS, ROWS = 100, 30


class Tmux:
    def __init__(self, tmp: Path):
        self.sock = f"viva-e2e-{os.getpid()}"
        self.tmp = tmp

    def run(self, *args: str, check: bool = True) -> str:
        out = subprocess.run(["tmux", "-L", self.sock, *args], capture_output=True, text=True, timeout=30)
        if check and out.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)} failed: {out.stderr}")
        return out.stdout

    def start(self, command: str, env: dict[str, str]) -> None:
        envs = [a for k, v in env.items() for a in ("-e", f"{k}={v}")]
        self.run("-f", "/dev/null", "new-session", "-d", "-s", "e2e", "-x", str(COLS), "-y", str(ROWS), *envs,
                 command)

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "e2e", *keys)

    def type(self, text: str) -> None:
        self.run("send-keys", "-t", "e2e", "-l", text)

    def pane(self) -> str:
        return self.run("capture-pane", "-p", "-t", "e2e", check=False)

    def wait(self, pattern: str, timeout: float = 120.0) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.pane()
            if re.search(pattern, text):
                return text
            time.sleep(0.2)
        raise AssertionError(f"{pattern!r} did not appear within {timeout}s; the pane shows:\n{text}")

    def kill(self) -> None:
        self.run("kill-server", check=False)


def _question_on_screen(pane: str, bank):
    """The bank question whose prompt starts the interview screen's prompt block."""
    lines = pane.splitlines()
    i = next(k for k, line in enumerate(lines) if re.search(r"Topic \d/\d · question \d", line))
    block_lines = []
    for line in lines[i + 1:i + 6]:
        if "▔" in line:  # the answer box starts
            break
        block_lines.append(line.strip(" █▌▐"))
    block = " ".join(block_lines).strip()
    words = " ".join(block.split()[:8])
    found = [q for q in bank.questions.values() if " ".join(q.prompt.split()).startswith(words)]
    assert found, f"no bank question starts with {words!r}"
    return found[0]


def test_viva_typed_then_spoken_answer_in_tmux(tmp_path: Path, bank) -> None:
    import soundfile as sf

    from tests.speech_fixtures import synth

    env = {k: os.environ[k] for k in ("VIVA_CONFIG", "VIVA_DATA_DIR", "VIVA_CACHE_DIR", "PATH", "HOME")
           if k in os.environ}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TERM="xterm-256color", COLORTERM="truecolor",
               VIVA_VOICE="false", PYTHONUNBUFFERED="1")
    t = Tmux(tmp_path)
    t.start(VIVA, env)
    try:
        t.wait(r"\^s Start", 30)  # the footer binding: visible whatever the pane height
        t.wait(r"grader ● ready", 240)  # the real grader models, loaded in a worker
        t.keys("C-s")
        pane = t.wait(r"Topic 1/\d", 30)
        q = _question_on_screen(pane, bank)
        # ---- typed answer: the question's model answer, graded by the real grader
        typed = " ".join(q.model_answer.split())[:600]
        t.type(typed)
        shown = re.escape(" ".join(typed.split()[:3]))
        try:  # keys sent before the answer box took focus (a loaded machine) are lost: type them again
            t.wait(shown, 10)
        except AssertionError:
            t.type(typed)
            t.wait(shown, 30)
        t.keys("C-s")
        pane = t.wait(r"grade \d\.\d/5", 120)
        assert "covered" in pane
        n_covered = pane.count("✔ covered")
        assert n_covered >= 1, pane
        # ---- follow-up screen (when the policy has choices for this answer): accept the agent's pick
        t.keys("n")
        pane = t.wait(r"Next question|Topic \d/\d · question 2", 30)
        if "Next question" in pane:
            pane = t.wait(r"why:", 10)
            t.keys("Enter")
        pane = t.wait(r"Topic \d/\d · question 2", 60)
        q2_first = pane
        # ---- spoken answer from a file: synthesised with Piper, transcribed by Whisper in the app
        spoken = ("The loss is the cross entropy between the predicted distribution and the next token, "
                  "averaged over every position in the sequence.")
        wav = tmp_path / "spoken.wav"  # Piper without sampling noise: the same audio every run
        sf.write(str(wav), synth(spoken), 16_000)
        t.keys("C-o")
        t.wait(r"Answer from an audio file", 20)
        t.type(str(wav))
        t.keys("Enter")
        pane = t.wait(r"grade \d\.\d/5", 240)
        flat = " ".join(pane.replace("│", " ").split()).lower()  # box borders split wrapped lines
        # the coaching panel of a spoken answer leads with its delivery notes (the transcript and the pace
        # chart sit below it on the scrolling result screen; the stored turn is checked below)
        assert "delivery" in flat and "words a minute" in flat, pane
        assert q2_first != pane
        t.keys("C-q")
        time.sleep(1.0)
    finally:
        t.kill()
    # both answers are in the history database the app wrote
    from agent.store import Store

    store = Store(Path(env["VIVA_DATA_DIR"]) / "history.sqlite3")
    turns = store.turns()
    assert [tr.source for tr in turns[-2:]] == ["typed", "voice"]
    spoken_answer = turns[-1].answer.lower()
    assert "next token" in spoken_answer and ("cross entropy" in spoken_answer or "cross-entropy" in spoken_answer)
    assert turns[-1].insights and turns[-1].insights["wpm"] > 0
