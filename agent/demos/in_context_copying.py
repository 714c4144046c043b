"""In-context copying: a two-layer attention-only model learns induction."""

from __future__ import annotations

from agent.demos._base import Check, DemoResult

TITLE = 'In-context copying: a two-layer attention-only model learns induction'
CONCEPTS = ['induction-heads']
QUESTIONS = ['clm-in-context-learning']


def run(device: str = "cpu") -> DemoResult:
    raise NotImplementedError("in_context_copying is being written")


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    raise NotImplementedError("in_context_copying is being written")
