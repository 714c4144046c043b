"""Next-sentence prediction: balanced positive and negative pairs."""

from __future__ import annotations

from agent.demos._base import Check, DemoResult

TITLE = 'Next-sentence prediction: balanced positive and negative pairs'
CONCEPTS = ['nsp-pairs']
QUESTIONS = ['nsp']


def run(device: str = "cpu") -> DemoResult:
    raise NotImplementedError("nsp_pairs is being written")


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    raise NotImplementedError("nsp_pairs is being written")
