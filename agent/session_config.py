"""What a session is asked to be: the one options type the CLI, the app and stored sessions share.

Kept apart from :mod:`agent.interview` (which pulls in the pydantic models and the follow-up policy) so
that the app's first screen can build and show one without loading the interview machinery.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, cast

from agent.errors import UserError

Mode = Literal["mock", "practice", "drill"]
MODES: tuple[Mode, ...] = ("mock", "practice", "drill")

__all__ = ["MODES", "Mode", "SessionConfig", "as_mode"]


def as_mode(name: str) -> Mode:
    """``name`` as a :data:`Mode`; a name that is not one raises :class:`UserError` saying which are."""
    if name not in MODES:
        raise UserError(f"unknown mode {name!r}; use one of: {', '.join(MODES)}")
    return cast(Mode, name)


@dataclass
class SessionConfig:
    mode: Mode = "mock"
    n_questions: int = 5  # topics (mock, practice) or questions (drill)
    section: str | None = None
    topic: str | None = None
    time_limit_s: float | None = None  # mock mode: end the session after the answer that crosses it
    seed: int = 0
    voice: bool = False
    judge: bool = False
    max_depth: int | None = None  # follow-ups per topic; None: the mode's default (mock 2, practice 3, drill 0)

    def __post_init__(self) -> None:
        as_mode(self.mode)
        if self.n_questions < 1:
            raise UserError(f"--n must be at least 1 (got {self.n_questions})")
        if self.time_limit_s is not None and self.time_limit_s <= 0:
            raise UserError("the time limit must be positive (seconds)")

    @property
    def time_limit_min(self) -> float | None:
        """The time limit in minutes (how the CLI and the app's home screen state it), None without one."""
        return self.time_limit_s / 60 if self.time_limit_s is not None else None

    @staticmethod
    def seconds(minutes: float | None) -> float | None:
        """A time limit given in minutes, as ``time_limit_s`` (None or 0: no limit)."""
        return minutes * 60 if minutes else None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SessionConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
