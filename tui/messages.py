"""App-wide messages. Workers talk back to the screens only through these (post_message)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from agent.answer import Answer
    from agent.demos._runner import DemoEvent
    from agent.grading.judge import JudgeResult
    from agent.models import Grade
    from tui.app import GradeRequest


@dataclass
class ModelStatus(Message):
    """A background model changed state: loading, ready, failed (detail says why)."""

    name: str
    state: str
    detail: str = ""


@dataclass
class Notice(Message):
    """Something the user should hear once (a fallback was taken)."""

    key: str
    text: str
    severity: str = "warning"


@dataclass
class GradeReady(Message):
    grade: Grade
    seconds: float
    request: GradeRequest  # the answer, and which interview and screen the grade belongs to


@dataclass
class GradeFailed(Message):
    error: str
    request: GradeRequest


@dataclass
class JudgeReady(Message):
    """The LLM judge's result on a recorded turn (failures included: ``result.ok`` is False)."""

    turn_key: int
    result: JudgeResult


@dataclass
class AudioLevel(Message):
    level: float


@dataclass
class TranscriptSegment(Message):
    text: str  # the whole transcript so far (it replaces what was shown)


@dataclass
class TranscriptDone(Message):
    answer: Answer  # the spoken answer: ``text`` has the rubric terms repaired, ``transcript`` is as heard


@dataclass
class VoiceFailed(Message):
    error: str
    nothing_heard: bool = False  # the recording held no words: try again or type (voice stays on)


@dataclass
class DemoProgress(Message):
    """Something the demo's child process reported: started, ran, finished, or a line it printed."""

    event: DemoEvent


@dataclass
class DemoFailed(Message):
    """The demo could not be run at all (bad input, the child could not be started)."""

    error: str
