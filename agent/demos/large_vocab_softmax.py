"""Large vocabularies: adaptive softmax and sampled softmax."""

from __future__ import annotations

from agent.demos._base import Check, DemoResult

TITLE = 'Large vocabularies: adaptive softmax and sampled softmax'
CONCEPTS = ['adaptive-softmax', 'sampled-softmax']
QUESTIONS = ['large-vocab-softmax', 'fused-cross-entropy']


def run(device: str = "cpu") -> DemoResult:
    raise NotImplementedError("large_vocab_softmax is being written")


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    raise NotImplementedError("large_vocab_softmax is being written")
