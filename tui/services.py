"""What the TUI drives, behind one small object: the bank, the interview, history, speech, judge, demos.

:class:`Services` is the real thing: every method is a plain call into ``agent``. Heavy libraries load
inside the methods (the screens call them from thread workers), so importing this module stays light.
Pilot tests hand the app an object with the same methods.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.answer import Answer
    from agent.bank import Bank
    from agent.demos import DemoInfo
    from agent.demos._runner import DemoEvent
    from agent.grading.judge import Judge, JudgeResult
    from agent.interview import Interview
    from agent.models import Question, Rubric
    from agent.review import SessionReview
    from agent.session_config import SessionConfig
    from agent.speech.stt import Transcriber
    from agent.speech.tts import Speaker
    from agent.store import Store

log = logging.getLogger(__name__)


class Unavailable(Exception):
    """A piece that cannot run here (missing extra, no microphone, judge down). The text says what to do."""


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


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _leave_a_core_for_the_ui() -> None:
    """Run torch on one core fewer than the machine has (at least one): the app's own thread needs a core to
    draw the result while an answer is graded, and torch's threads wait for each other at every operation,
    so one of them losing its core to the app stalls them all (on two cores a short answer took 0.3-0.8 s
    with two threads and 0.04 s with one). Torch thread settings made by the user (OMP_NUM_THREADS,
    MKL_NUM_THREADS) are left alone."""
    if os.environ.get("OMP_NUM_THREADS") or os.environ.get("MKL_NUM_THREADS"):
        return
    try:
        import torch
    except ImportError:  # a scorer without torch: nothing to set
        return
    want = max(1, (os.cpu_count() or 1) - 1)
    if torch.get_num_threads() > want:
        torch.set_num_threads(want)  # from a worker thread: the workers started after this one use it too


class Services:
    """The real back end: thin calls into ``agent``."""

    def __init__(self) -> None:
        self._bank: Bank | None = None
        self._store: Store | None = None
        self._lock = threading.Lock()
        self._speaker: Speaker | None = None
        self._transcriber: Transcriber | None = None
        self._judge: Judge | None = None

    # ------------------------------------------------------------------ bank and grading
    def bank(self) -> Bank:
        with self._lock:
            if self._bank is None:
                from agent.bank import default_bank

                self._bank = default_bank()
            return self._bank

    def sections(self) -> list[str]:
        return self.bank().sections()

    def bank_notice(self) -> str | None:
        """What to say once about files of the user's bank_dirs that were left out (None: nothing was)."""
        return self.bank().skipped_message()

    def section_options(self) -> list[tuple[str, str, str]]:
        """(tag, label, description) per section: 'A', 'A: Causal language modelling', what it covers."""
        bank = self.bank()
        out = []
        for tag in bank.sections():
            info = bank.section_info.get(tag)
            out.append((tag, bank.section_label(tag), info.description if info is not None else ""))
        return out

    def rubric(self, question: Question) -> Rubric | None:
        return self.bank().rubrics.get(question.id)

    def warm_grader(self) -> str:
        """Load the grader's models (slow the first time); returns a short description."""
        _offline()
        _leave_a_core_for_the_ui()
        from agent.grading import get_scorer

        scorer = get_scorer()
        bank = self.bank()
        q = next(iter(bank.questions.values()))
        scorer.warm(q, bank.rubric(q.id))
        return scorer.model_name

    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                from agent.store import Store

                self._store = Store()
            return self._store

    def store_notice(self) -> str | None:
        """What to say once when the history database was corrupt: where it was kept, what was recovered."""
        return self.store().recovery_message()

    def new_interview(self, config: SessionConfig) -> Interview:
        from agent.interview import Interview

        return Interview(self.bank(), config, store=self.store())

    # ------------------------------------------------------------------ judge
    def judge_available(self) -> str | None:
        """None when the LLM judge can be asked, else the reason it cannot (said once in the UI)."""
        import importlib.util

        if importlib.util.find_spec("openai") is None:
            return "the LLM judge needs the 'judge' extra (pip install 'viva[judge]'); showing the offline grade"
        return None

    def judge(self, question: Question, rubric: Rubric, answer: str) -> JudgeResult:
        """Ask the LLM judge about an answer (blocking; from a worker). Endpoint trouble comes back as a
        result with ``ok`` False; the core applies the result to the recorded turn (Interview.apply_judge)."""
        from agent.grading.judge import Judge

        with self._lock:
            if self._judge is None:
                self._judge = Judge()
            judge = self._judge
        return judge.judge(question, rubric, answer)

    # ------------------------------------------------------------------ history
    def progress(self) -> Progress:
        store = self.store()
        bank = self.bank()
        p = Progress()
        infos = store.sessions()
        for s in infos:
            if not s.n_turns:
                continue  # a session with no answer has nothing to review
            p.sessions.append(SessionRow(id=s.id, mode=s.mode, started_at=s.started_at.strftime("%Y-%m-%d %H:%M"),
                                         n_turns=s.n_turns, mean=s.mean_grade))
        p.grades = [t.grade.display for t in sorted(store.turns(), key=lambda t: t.created_at)]
        m = store.mastery(bank)
        p.mastery = [("section", bank.section_label(s.section), s.mastery, s.questions_seen) for s in m.sections if s.concepts] + \
            [("concept", c.name, c.mastery, c.attempts) for c in m.concepts]
        goal = store.goal(bank)
        p.cold, p.cold_goal, p.cold_of = goal.done, goal.target, goal.total
        return p

    def review(self, session_id: str) -> SessionReview:
        """A past session for the review screen: every answer with its grade, evidence and coaching."""
        from agent.review import review_session

        return review_session(self.store(), session_id, self.bank())

    def play_audio(self, path: str) -> None:
        """Play a kept recording (a WAV file) to the end; raises Unavailable when it cannot be played."""
        import wave

        try:
            import numpy as np

            from agent.speech.tts import SoundDevicePlayer

            with wave.open(path, "rb") as w:
                rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
                frames = w.readframes(w.getnframes())
            if width != 2:
                raise Unavailable(f"{path}: only 16-bit WAV recordings can be played here")
            audio = np.frombuffer(frames, dtype=np.int16).astype(np.float32) / 32768.0
            if channels > 1:
                audio = audio.reshape(-1, channels).mean(axis=1)
            SoundDevicePlayer().play(audio, rate, threading.Event())
        except Unavailable:
            raise
        except (OSError, EOFError, wave.Error) as e:
            raise Unavailable(f"the recording could not be read ({e})") from e
        except (ImportError, RuntimeError) as e:
            raise Unavailable(f"the recording cannot be played here ({e})") from e

    # ------------------------------------------------------------------ speech
    def speak(self, text: str, on_status: Callable[[str], None] | None = None) -> None:
        """Start saying ``text`` (returns at once). A missing speaker or voice is reported through
        ``on_status`` once, and the question stays on screen. Raises Unavailable without the voice extra."""
        _offline()
        try:
            from agent.speech import tts
        except ImportError as e:
            raise Unavailable(f"speech is not available ({e}): pip install 'viva[voice]'") from e
        with self._lock:
            if self._speaker is None:
                engine = self._tts_engine()
                self._speaker = tts.Speaker(engine="piper" if engine == "none" else engine, on_status=on_status)
        self._speaker.speak(text)

    def _tts_engine(self) -> str:
        from agent.config import get_settings

        return get_settings().tts_engine

    def stop_speaking(self) -> None:
        if self._speaker is not None:
            self._speaker.stop()

    def transcriber(self) -> Transcriber:
        _offline()
        from agent.speech import stt

        with self._lock:
            if self._transcriber is None:
                self._transcriber = stt.Transcriber()
            return self._transcriber

    def warm_whisper(self) -> str:
        t = self.transcriber().load()
        return f"{t.label} on the {t.device.upper()}"

    def listen(self, question_id: str | None, on_level: Callable[[float], None], on_text: Callable[[str], None],
               stop: threading.Event, audio_file: Path | None = None) -> Answer:
        """Capture a spoken answer (from the microphone, or fed from ``audio_file``) with
        :func:`agent.speech.capture.capture_answer`: VAD endpointing while Whisper reads what has been said so
        far (``on_text`` gets the whole transcript so far). Blocking: call it from a worker. Raises
        Unavailable when there is no microphone or no voice extra, and NothingHeard (agent.speech.capture)
        when the recording held no words."""
        _offline()
        from agent.speech.capture import CaptureUnavailable, NothingHeard, capture_answer

        try:
            return capture_answer(question_id, self.bank(), self.transcriber(), on_level=on_level,
                                  on_text=on_text, stop=stop, audio_file=audio_file)
        except NothingHeard:
            raise
        except CaptureUnavailable as e:
            raise Unavailable(str(e)) from e
        except ImportError as e:  # the voice extra is half installed
            raise Unavailable(f"voice answers need the voice extra ({e}): pip install 'viva[voice]'") from e

    # ------------------------------------------------------------------ demos
    def demo_names(self) -> list[str]:
        from agent.demos import demo_names

        return demo_names()

    def demo_info(self, name: str) -> DemoInfo:
        from agent import demos
        from agent.errors import UserError

        try:
            return demos.info(name)
        except UserError as e:
            raise Unavailable(str(e)) from e

    def run_demo(self, name: str) -> Iterator[DemoEvent]:
        """Run and verify a demo in a child process on the best device, with no time limit, yielding what
        happens as it happens (the runner `viva demo run` uses)."""
        from agent.demos import _runner

        return _runner.events([name], "auto", timeout=None)
