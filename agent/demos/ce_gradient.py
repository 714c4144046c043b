"""The gradient of cross-entropy is softmax minus one-hot."""

from __future__ import annotations

from agent.demos._base import Check, DemoResult

TITLE = 'The gradient of cross-entropy is softmax minus one-hot'
CONCEPTS = ['softmax-minus-onehot']
QUESTIONS = ['ce-gradient']


def run(device: str = "cpu") -> DemoResult:
    raise NotImplementedError("ce_gradient is being written")


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    raise NotImplementedError("ce_gradient is being written")
