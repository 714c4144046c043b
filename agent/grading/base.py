"""The one small interface every scorer implements, and the registry that names them.

A scorer turns (question, rubric, answer) into a :class:`agent.models.Grade`. The embedding grader is the
default; the LLM judge and any future scorer register under their own name and are interchangeable.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from agent.models import Grade, Question, Rubric

_REGISTRY: dict[str, Callable[[], Scorer]] = {}
T = TypeVar("T")


def loaded_once(load: Callable[[], T]) -> Callable[[], T]:
    """A getter that calls ``load`` the first time it is asked (under a lock: grading threads may ask together) and
    returns that result from then on: one model per process."""
    lock = threading.Lock()
    done: list[T] = []

    def get() -> T:
        with lock:
            if not done:
                done.append(load())
            return done[0]

    get.__doc__ = load.__doc__
    return get


class Scorer(ABC):
    name: str = "base"
    version: str = "0"

    @abstractmethod
    def score(self, question: Question, rubric: Rubric, answer: str) -> Grade:
        """Grade one answer. Must be deterministic for a given model and rubric version."""

    def score_many(self, items: list[tuple[Question, Rubric, str]]) -> list[Grade]:
        """Grade several answers; scorers override this to batch work."""
        return [self.score(q, r, a) for q, r, a in items]

    @property
    def model_name(self) -> str:
        """What the scorer runs on, as shown to the user (its models); the registry name when it has none."""
        return self.name

    def warm(self, question: Question, rubric: Rubric) -> None:
        """Load what the scorer needs before the first real answer. By default a throwaway answer to
        ``question`` is graded, which loads the models and prepares ``rubric``."""
        self.score(question, rubric, "warm up")


def register(name: str) -> Callable[[Callable[[], Scorer]], Callable[[], Scorer]]:
    def deco(factory: Callable[[], Scorer]) -> Callable[[], Scorer]:
        _REGISTRY[name] = factory
        return factory

    return deco


def get_scorer(name: str | None = None, setting: str = "grader") -> Scorer:
    """A process-wide scorer instance by registry name (models load once); None: the ``setting`` setting's (the
    ``grader`` one unless said), and an unknown name is refused naming that setting."""
    _load_builtin()
    if name is None:
        from agent.config import get_settings

        name = getattr(get_settings(), setting)
    if name not in _REGISTRY:
        from agent.errors import UserError

        raise UserError(f"unknown {setting} {name!r}; known: {', '.join(sorted(_REGISTRY))} "
                        f"(set `{setting}` in the config file or VIVA_{setting.upper()})")
    return _instance(name)


_INSTANCES: dict[str, Scorer] = {}


def _instance(name: str) -> Scorer:
    if name not in _INSTANCES:
        _INSTANCES[name] = _REGISTRY[name]()
    return _INSTANCES[name]


def scorer_names() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def _load_builtin() -> None:
    """Import every module and subpackage of the grading package once: importing one registers its scorers
    (they import heavy libraries lazily themselves), so a new scorer needs no list kept here."""
    global _LOADED
    if _LOADED:
        return
    import importlib
    import pkgutil

    import agent.grading as pkg

    for m in pkgutil.iter_modules(pkg.__path__):
        if not m.name.startswith("_"):
            importlib.import_module(f"{pkg.__name__}.{m.name}")
    _LOADED = True


_LOADED = False
