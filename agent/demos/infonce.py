"""InfoNCE with in-batch negatives is cross-entropy over similarities."""

from __future__ import annotations

from agent.demos._base import Check, DemoResult

TITLE = 'InfoNCE with in-batch negatives is cross-entropy over similarities'
CONCEPTS = ['in-batch-negatives', 'infonce-temperature']
QUESTIONS = ['contrastive-losses']


def run(device: str = "cpu") -> DemoResult:
    raise NotImplementedError("infonce is being written")


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    raise NotImplementedError("infonce is being written")
