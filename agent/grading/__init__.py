"""Grading: the embedding + lexical concept grader (default), the optional LLM judge, their blend."""

from agent.grading.base import Scorer, get_scorer, register, scorer_names

__all__ = ["Scorer", "get_scorer", "register", "scorer_names"]
