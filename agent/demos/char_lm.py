"""A tiny character-level causal LM."""

from __future__ import annotations

from agent.demos._base import Check, DemoResult

TITLE = 'A tiny character-level causal LM'
CONCEPTS = ['char-lm-training']
QUESTIONS = ['clm-loss']


def run(device: str = "cpu") -> DemoResult:
    raise NotImplementedError("char_lm is being written")


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    raise NotImplementedError("char_lm is being written")
