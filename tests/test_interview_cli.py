"""`viva interview --text`, `viva resume`, `viva history`, `viva forget`: the plain-terminal flow and the crash test."""

from __future__ import annotations

import io
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from agent.answer import Answer
from agent.bank import load_bank
from agent.cli import main
from agent.commands.interview import run_text
from agent.interview import Interview, SessionConfig
from agent.store import Store
from tests.test_interview import BANK_DIR, Replay, by_answer

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bank():
    return load_bank([BANK_DIR], packaged=False)


def text_session(bank, store: Store, stdin: str, **cfg) -> tuple[Interview, str]:
    iv = Interview(bank, SessionConfig(**cfg), store, Replay(by_answer))
    out = io.StringIO()
    assert run_text(iv, io.StringIO(stdin), out) == 0
    return iv, out.getvalue()


def test_text_mode_runs_a_whole_session(bank, tmp_path: Path) -> None:
    with Store(tmp_path / "h.sqlite3") as store:
        answers = "".join(f"{a}\nsecond line\n\n" for a in ["half", "strong", "half", "nothing", "half"] * 3)
        iv, out = text_session(bank, store, answers, n_questions=2, seed=3)
        assert iv.finished
        assert f"viva mock session {iv.session_id}: 2 topics, seed 3" in out
        assert out.count("\nQ: ") == len(iv.turns) and out.count("\nGrade: ") == len(iv.turns)
        assert "  why: " in out  # follow-ups say why
        assert "\nNext (probe): your answer has not reached a key part of the question yet" in out
        assert f"Session {iv.session_id} finished: {len(iv.turns)} answer(s), mean grade" in out
        assert "Goal: 0/25 loss questions answered cold (of 40)." in out or "Goal: 1/25" in out
        assert f"`viva report {iv.session_id}`" in out
        assert iv.turns[0].answer.endswith("second line")  # multi-line answers are kept whole


def test_text_mode_commands_and_end_of_input(bank, tmp_path: Path) -> None:
    with Store(tmp_path / "h.sqlite3") as store:
        iv, out = text_session(bank, store, ":hint\n:answer\nhalf\n\n:skip\n", n_questions=3, seed=1)
        assert "Hint 1/" in out and "Model answer: " in out
        assert "  skipped.\n" in out
        (t,) = iv.turns
        assert t.hinted and t.model_answer_shown and not t.cold
        assert not iv.finished  # input ended: the session stays open
        assert f"Continue with `viva resume {iv.session_id}`" in out
        assert store.latest_unfinished().id == iv.session_id
        iv2, out2 = text_session(bank, store, "strong\n\n:quit\n", n_questions=3)
        assert len(iv2.turns) == 1 and "Stopped after 1 answer(s)" in out2


def test_resume_between_an_answer_and_the_next_question(bank, tmp_path: Path) -> None:
    with Store(tmp_path / "h.sqlite3") as store:
        iv = Interview(bank, SessionConfig(n_questions=2, seed=6), store, Replay(by_answer))
        first = iv.start()
        iv.answer(Answer.typed("half"))  # committed; the process dies before advance()
        back = Interview.resume(bank, store, iv.session_id, Replay(by_answer))
        assert back.answered and back.current.id == first.id
        out = io.StringIO()
        run_text(back, io.StringIO("strong\n\n"), out, resumed=True)
        text = out.getvalue()
        assert f"Your answer to {first.id} was saved." in text
        assert [t.question_id for t in store.turns(iv.session_id)][0] == first.id
        assert len(store.turns(iv.session_id)) == 2
        assert store.turns(iv.session_id)[1].question_id != first.id


def test_grading_failure_keeps_the_answer_and_retries(bank, tmp_path: Path) -> None:
    calls = {"n": 0}

    def flaky(q, r, a):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("model file unreadable")
        return by_answer(q, r, a)

    with Store(tmp_path / "h.sqlite3") as store:
        iv = Interview(bank, SessionConfig(n_questions=1, seed=2), store, Replay(flaky))
        out = io.StringIO()
        run_text(iv, io.StringIO("half\n\n\n:quit\n"), out)
        text = out.getvalue()
        assert "grading failed: RuntimeError: model file unreadable" in text and "Your answer is kept" in text
        (t,) = store.turns(iv.session_id)
        assert t.answer == "half" and calls["n"] == 2


def test_text_mode_practice_retries(bank, tmp_path: Path) -> None:
    with Store(tmp_path / "h.sqlite3") as store:
        iv, out = text_session(bank, store, "half\n\nstrong\n\n\n:quit\n", mode="practice", section="A")
        assert "Another attempt? Type it, or a blank line to move on." in out
        assert [(t.attempt, t.cold) for t in iv.turns] == [(1, True), (2, False)]


def test_cli_history_json_and_forget(bank, tmp_path: Path, capsys: pytest.CaptureFixture,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.config import reset_settings

    monkeypatch.setenv("VIVA_DATA_DIR", str(tmp_path / "data"))
    reset_settings()
    assert main(["resume", "--text"]) == 1
    assert "no unfinished session to resume" in capsys.readouterr().err
    with Store() as store:  # the settings' database
        iv, _ = text_session(bank, store, "half\n\nstrong\n\n", n_questions=1, seed=2)
    assert main(["history", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert iv.session_id in [s["id"] for s in data["sessions"]]
    assert data["goal"]["target"] == 25 and data["goal"]["total"] == 40
    assert main(["history", iv.session_id[:6]]) == 0
    listing = capsys.readouterr().out
    assert iv.session_id in listing and iv.turns[0].question_id in listing
    # the review: every question, the answer as given, the grade and the verdicts
    for t in iv.turns:
        assert f"   Q: {t.prompt}" in listing and f"   A: {' '.join(t.answer.split())}" in listing
        assert f"{t.index + 1}. {t.question_id} · section " in listing and f"{t.grade.display:g}/5" in listing
    with Store() as store:  # a session with no answer is not stored, nor listed as open
        started = Interview(bank, SessionConfig(n_questions=1), store, Replay(by_answer))
        started.start()
        assert started.session_id not in {s.id for s in store.sessions()}
        empty = store.create_session("mock", {})  # as older versions left one
    assert main(["history"]) == 0
    out = capsys.readouterr().out
    assert "mastery per section" in out
    row = next(line for line in out.splitlines() if empty.id in line)
    assert "no answers" in row and "open" not in row
    assert main(["forget", empty.id, "--yes"]) == 0
    capsys.readouterr()
    # forgetting needs a confirmation that a script must give explicitly
    assert main(["forget", iv.session_id]) == 2
    assert "add --yes" in capsys.readouterr().err
    assert main(["forget", iv.session_id, "--yes"]) == 0
    assert "Deleted 1 session(s)." in capsys.readouterr().out
    assert main(["history", iv.session_id]) == 2
    assert "no session" in capsys.readouterr().err
    assert main(["forget"]) == 2
    assert main(["history", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sessions"] == []


# --------------------------------------------------------------------------- crash test


class Proc:
    """A `viva` subprocess whose output is read line by line (with timeouts)."""

    def __init__(self, args: list[str], env: dict[str, str]):
        self.p = subprocess.Popen([sys.executable, "-m", "agent.cli", *args], cwd=REPO, env=env,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, bufsize=1)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.p.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, prefix: str, timeout: float = 240) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"process ended before {prefix!r}:\n{''.join(self.seen)}")
            self.seen.append(line)
            if line.startswith(prefix):
                return line
        raise AssertionError(f"timed out waiting for {prefix!r}:\n{''.join(self.seen)}")

    def send(self, text: str) -> None:
        self.p.stdin.write(text)
        self.p.stdin.flush()


ANSWERS = [
    "The loss is the cross-entropy of the next token at every position; targets are the inputs shifted by one.",
    "It is the negative log-likelihood of the sequence, so minimising it is maximum likelihood.",
    "Masking hides some tokens and the model predicts them from both sides.",
    "I am not sure.",
    "Perplexity is the exponential of the average cross-entropy per token.",
    "The attention mask stops positions from seeing the future.",
    "Scaling laws say the loss falls as a power law in compute, data and parameters.",
    "Padding positions are excluded from the loss with an ignore index.",
]


@pytest.mark.slow
def test_killed_session_loses_nothing_and_resumes(tmp_path: Path) -> None:
    env = dict(os.environ, VIVA_DATA_DIR=str(tmp_path / "data"), HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    n = 2
    proc = Proc(["interview", "--text", "--n", "2", "--seed", "11"], env)
    try:
        sid = proc.wait_for("viva mock session ").split()[3].rstrip(":")
        for i in range(n):
            proc.wait_for("Q: ")
            proc.send(ANSWERS[i] + "\n\n")
            proc.wait_for("Grade: ")  # printed after the turn is committed
        proc.wait_for("Q: ")  # the next question is on screen, its answer half typed ...
        proc.send("The answer I was typing when the power went")
        time.sleep(0.2)
        os.kill(proc.p.pid, signal.SIGKILL)
        proc.p.wait(timeout=30)
    finally:
        if proc.p.poll() is None:
            proc.p.kill()
    assert proc.p.returncode == -signal.SIGKILL

    with Store(tmp_path / "data" / "history.sqlite3") as store:
        assert store.recovered is None and store.integrity() == "ok"
        turns = store.turns(sid)
        assert [t.index for t in turns] == list(range(n))
        assert [t.answer for t in turns] == ANSWERS[:n]
        assert not store.session(sid).finished
        asked_next = store.load_state(sid)["current"]
    assert asked_next is not None

    out = subprocess.run([sys.executable, "-m", "agent.cli", "resume", "--text"], cwd=REPO, env=env,
                         input="".join(a + "\n\n" for a in ANSWERS[n:]), capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert f"Resuming session {sid} (mock): {n} answer(s) so far." in out.stdout
    assert f"Session {sid} finished" in out.stdout
    with Store(tmp_path / "data" / "history.sqlite3") as store:
        turns = store.turns(sid)
        assert len(turns) > n and [t.index for t in turns] == list(range(len(turns)))
        assert turns[n].question_id == asked_next  # it went on with the question that was on screen
        assert store.session(sid).finished
        assert len({t.question_id for t in turns}) == len(turns)


def test_header_counts_topics_as_asked_and_questions_separately(bank, tmp_path: Path) -> None:
    """--n counts topics; the header says so, and numbers every question (follow-ups included) apart."""
    import re

    with Store(tmp_path / "h.sqlite3") as store:
        answers = "".join(f"{a}\n\n" for a in ["half", "strong", "half", "nothing", "half"] * 3)
        iv, out = text_session(bank, store, answers, n_questions=2, seed=3)
        heads = re.findall(r"^\[Topic (\d+)/(\d+) · question (\d+)\]", out, re.M)
        assert len(heads) == len(iv.turns) > 2  # follow-ups: more questions than topics
        assert all(int(t) <= int(n) == 2 for t, n, _ in heads)
        assert [int(q) for _, _, q in heads] == list(range(1, len(heads) + 1))


def test_a_session_left_before_any_answer_is_not_stored(bank, tmp_path: Path) -> None:
    with Store(tmp_path / "h.sqlite3") as store:
        iv, out = text_session(bank, store, "", n_questions=2, seed=1)  # input ends at the first question
        assert iv.turns == [] and "Stopped before any answer; nothing was saved." in out
        assert "viva resume" not in out.split("Q: ")[-1]
        iv2, out2 = text_session(bank, store, ":skip\n:quit\n", n_questions=2, seed=2)
        assert iv2.turns == [] and store.sessions() == [] and store.latest_unfinished() is None
        iv3, _ = text_session(bank, store, "half\n\n", n_questions=2, seed=3)  # the first answer stores it
        assert [s.id for s in store.sessions()] == [iv3.session_id]
        assert store.latest_unfinished().id == iv3.session_id


def test_resume_skips_empty_open_sessions_left_by_older_versions(bank, tmp_path: Path) -> None:
    with Store(tmp_path / "h.sqlite3") as store:
        iv, _ = text_session(bank, store, "half\n\n", n_questions=2, seed=3)
        store.create_session("mock", {}, session_id="empty-one")  # newer, open, no answer
        assert store.latest_unfinished().id == iv.session_id
