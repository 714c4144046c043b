"""What the TUI drives, behind one small object: the bank, the interview, history, speech, judge, demos.

:class:`Services` is the real thing: every method is a plain call into ``agent``. Heavy libraries load
inside the methods (the screens call them from thread workers), so importing this module stays light.
Pilot tests hand the app an object with the same methods.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.bank import Bank
    from agent.models import Grade, Question, Rubric

log = logging.getLogger(__name__)


class Unavailable(Exception):
    """A piece that cannot run here (missing extra, no microphone, judge down). The text says what to do."""


@dataclass
class SessionOptions:
    mode: str = "mock"
    n_questions: int = 5
    section: str | None = None
    voice: bool = False
    judge: bool = False
    seed: int = 0


@dataclass
class SessionRow:
    id: str
    mode: str
    started_at: str
    n_turns: int
    mean: float | None


@dataclass
class Progress:
    """What the history screen shows."""

    sessions: list[SessionRow] = field(default_factory=list)
    mastery: list[tuple[str, str, float, int]] = field(default_factory=list)  # (kind, name, 0-1, n)
    grades: list[float] = field(default_factory=list)  # grade of each turn, oldest first
    cold: int = 0
    cold_goal: int = 25
    cold_of: int = 40


@dataclass
class DemoInfo:
    name: str
    title: str
    source: str
    concepts: list[str] = field(default_factory=list)


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _as_dict(obj: Any) -> dict[str, Any] | None:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj
    dump = getattr(obj, "model_dump", None)
    if dump is not None:
        return dump()
    if hasattr(obj, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(obj)
    return {"value": str(obj)}


class Services:
    """The real back end: thin calls into ``agent``."""

    def __init__(self) -> None:
        self._bank: Bank | None = None
        self._store: Any = None
        self._lock = threading.Lock()
        self._speaker: Any = None
        self._transcriber: Any = None

    # ------------------------------------------------------------------ bank and grading
    def bank(self) -> Bank:
        with self._lock:
            if self._bank is None:
                from agent.bank import default_bank

                self._bank = default_bank()
            return self._bank

    def sections(self) -> list[str]:
        return self.bank().sections()

    def rubric(self, question: Question) -> Rubric | None:
        return self.bank().rubrics.get(question.id)

    def warm_grader(self) -> str:
        """Load the embedding grader's model (slow the first time); returns a short description."""
        _offline()
        from agent.grading import get_scorer

        scorer = get_scorer("embedding")
        warm = getattr(scorer, "warm", None) or getattr(scorer, "load", None)
        if callable(warm):
            warm()
        else:  # grade a throwaway answer so the model is loaded and the bank embedded
            bank = self.bank()
            q = next(iter(bank.questions.values()))
            scorer.score(q, bank.rubric(q.id), "warm up")
        return getattr(scorer, "model_name", None) or "embedding grader"

    def store(self) -> Any:
        with self._lock:
            if self._store is None:
                from agent.store import Store

                self._store = Store()
            return self._store

    def new_interview(self, opts: SessionOptions) -> Any:
        from agent.interview import Interview, SessionConfig

        cfg = SessionConfig(mode=opts.mode, n_questions=opts.n_questions, section=opts.section,
                            seed=opts.seed, voice=opts.voice, judge=opts.judge)
        return Interview(self.bank(), cfg, store=self.store())

    # ------------------------------------------------------------------ judge
    def judge_available(self) -> str | None:
        """None when a judge can run, else the reason it cannot."""
        try:
            import agent.grading.judge as judge_mod
        except ImportError as e:
            return f"the LLM judge is not available ({e}); showing the embedding grade"
        check = getattr(judge_mod, "judge_unavailable", None) or getattr(judge_mod, "unavailable", None)
        if callable(check):
            return check()
        return None

    def judge(self, question: Question, rubric: Rubric, answer: str, grade: Grade) -> dict[str, Any]:
        """Run the LLM judge (blocking; called from a worker). Returns a dict with at least 'score'."""
        from agent.errors import UserError

        try:
            import agent.grading.judge as judge_mod
        except ImportError as e:
            raise Unavailable(f"the LLM judge is not installed ({e})") from e
        try:
            fn = getattr(judge_mod, "judge_sync", None)
            if fn is not None:
                res = fn(question, rubric, answer, grade)
            else:
                import asyncio

                res = asyncio.run(judge_mod.judge(question, rubric, answer, grade))
        except UserError as e:
            raise Unavailable(str(e)) from e
        out = _as_dict(res) or {}
        return out

    # ------------------------------------------------------------------ history
    def progress(self) -> Progress:
        store = self.store()
        bank = self.bank()
        p = Progress()
        infos = store.sessions()
        for s in infos:
            p.sessions.append(SessionRow(id=s.id, mode=s.mode, started_at=s.started_at.strftime("%Y-%m-%d %H:%M"),
                                         n_turns=s.n_turns, mean=s.mean_grade))
        p.grades = [t.grade.display for t in sorted(store.turns(), key=lambda t: t.created_at)]
        m = store.mastery(bank)
        p.mastery = [("section", s.section, s.mastery, s.questions_seen) for s in m.sections if s.concepts] + \
            [("concept", c.name, c.mastery, c.attempts) for c in m.concepts]
        goal = store.goal(bank)
        p.cold, p.cold_goal, p.cold_of = goal.done, goal.target, goal.total
        return p

    # ------------------------------------------------------------------ speech
    def speak(self, text: str) -> None:
        """Say ``text`` (blocking). Raises Unavailable when there is no voice or no speaker."""
        try:
            from agent.speech import tts
        except ImportError as e:
            raise Unavailable(f"speech is not available ({e}): pip install 'viva[voice]'") from e
        try:
            if self._speaker is None:
                self._speaker = tts.Speaker()
            self._speaker.speak(text)
        except Exception as e:  # a missing speaker or engine; the interview goes on in text
            raise Unavailable(f"cannot play speech ({e}); questions are shown in text") from e

    def record(self, on_level: Callable[[float], None], stop: threading.Event) -> Path:
        """Record from the microphone until the speaker stops (VAD) or ``stop`` is set; returns a WAV."""
        try:
            from agent.speech import record
        except ImportError as e:
            raise Unavailable(f"recording is not available ({e}): pip install 'viva[voice]'") from e
        try:
            rec = record.Recorder(on_level=on_level)
            return Path(rec.record(stop=stop))
        except Exception as e:
            raise Unavailable(f"no microphone ({e}); type your answer instead") from e

    def transcribe(self, audio: Path, on_segment: Callable[[str], None]) -> tuple[str, dict[str, Any] | None]:
        """Transcribe an audio file, calling ``on_segment`` as segments arrive; returns (text, insights)."""
        _offline()
        try:
            from agent.speech import stt
        except ImportError as e:
            raise Unavailable(f"transcription is not available ({e}): pip install 'viva[voice]'") from e
        if not Path(audio).is_file():
            raise Unavailable(f"no audio file at {audio}: give the path of a WAV/FLAC/OGG/MP3 file")
        if self._transcriber is None:
            self._transcriber = stt.Transcriber()
        parts: list[str] = []
        result = None
        stream = getattr(self._transcriber, "stream", None)
        if callable(stream):
            for seg in stream(audio):
                text = getattr(seg, "text", str(seg)).strip()
                if text:
                    parts.append(text)
                    on_segment(text)
            result = None
        else:
            result = self._transcriber.transcribe(audio)
            for seg in getattr(result, "segments", []) or []:
                text = getattr(seg, "text", "").strip()
                if text:
                    parts.append(text)
                    on_segment(text)
        text = getattr(result, "text", None) or " ".join(parts)
        insights = None
        try:
            from agent.speech import insights as ins

            fn = getattr(ins, "analyse", None) or getattr(ins, "analyze", None) or getattr(ins, "insights", None)
            if fn is not None and result is not None:
                insights = _as_dict(fn(result))
        except Exception as e:  # insights are a bonus; the answer still counts
            log.warning("voice insights failed: %s", e)
        return text.strip(), insights

    # ------------------------------------------------------------------ demos
    def demo_names(self) -> list[str]:
        from agent.demos import demo_names

        return demo_names()

    def demo_info(self, name: str) -> DemoInfo:
        from agent import demos
        from agent.errors import UserError

        try:
            info = demos.info(name)
            return DemoInfo(name=name, title=info.title, source=demos.source(name), concepts=list(info.concepts))
        except UserError as e:
            raise Unavailable(str(e)) from e

    def demo_command(self, name: str) -> list[str]:
        return [sys.executable, "-m", "tui.demo_child", name]

    def run_demo(self, name: str) -> Iterator[str]:
        """Run a demo in a child process (``tui.demo_child``), yielding its output lines as they come;
        the last line is ``\\x00exit CODE``."""
        import subprocess

        env = dict(os.environ, PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1")
        proc = subprocess.Popen(self.demo_command(name), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env=env, bufsize=1)
        assert proc.stdout is not None
        for line in proc.stdout:
            yield line.rstrip("\n")
        yield f"\x00exit {proc.wait()}"
