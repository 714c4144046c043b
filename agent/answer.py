"""What a candidate gave as an answer, before it is graded: the text and, for a spoken answer, what came with it.

One :class:`Answer` travels from the front end (typed box, microphone, audio file, standard input) to the
interview core (:meth:`agent.interview.Interview.answer`), which grades it and records it as a
:class:`agent.models.Turn`. It is a plain frozen dataclass, so the app can build one before any heavy
import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from agent.speech.insights import InsightsDict, WordDict

AnswerSource = Literal["typed", "voice"]


@dataclass(frozen=True)
class Answer:
    """An answer as given.

    ``text`` is what is graded. For a spoken answer, ``transcript`` is the transcript as recognised (before
    rubric terms were repaired; the same as ``text`` when nothing was; None for a typed answer), ``insights`` the
    delivery figures (pace, fillers, pauses, repairs), ``words`` the word timings and ``audio_path`` the
    recording, when one exists.
    """

    text: str
    source: AnswerSource = "typed"
    transcript: str | None = None
    insights: InsightsDict | None = None
    audio_path: str | None = None
    words: list[WordDict] | None = None

    @classmethod
    def typed(cls, text: str) -> Answer:
        return cls(text=text)

    @property
    def spoken(self) -> bool:
        return self.source == "voice"
