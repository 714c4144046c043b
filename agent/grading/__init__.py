"""Grading: the entailment grader (default), the earlier embedding + lexical grader, the optional LLM judge,
their blend. Scorers are picked by registry name (the ``grader`` setting)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.grading.base import Scorer, get_scorer, register, scorer_names

if TYPE_CHECKING:
    from agent.models import Grade, Question, Rubric

__all__ = ["Scorer", "get_scorer", "grade_answer", "register", "scorer_names"]


def grade_answer(question: Question, rubric: Rubric, answer: str, scorer: str | None = None) -> Grade:
    """Grade one answer with the named scorer (default: the ``grader`` setting; models load once)."""
    return get_scorer(scorer).score(question, rubric, answer)
