"""Grading: the stacked grader (the default: the three offline graders joined by a fitted model), the embedding +
lexical grader (the rubric regression suite's), the entailment and contrastive graders, the optional LLM judge,
their blend. Scorers are picked by registry name (the ``grader`` and ``regression_grader`` settings)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.grading.base import Scorer, get_scorer, register, scorer_names

if TYPE_CHECKING:
    from agent.models import Grade, Question, Rubric

__all__ = ["Scorer", "get_scorer", "grade_answer", "register", "scorer_names"]


def grade_answer(question: Question, rubric: Rubric, answer: str, scorer: str | None = None) -> Grade:
    """Grade one answer with the named scorer (default: the ``grader`` setting; models load once)."""
    return get_scorer(scorer).score(question, rubric, answer)
