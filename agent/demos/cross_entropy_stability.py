"""Cross-entropy stability: softmax-then-log overflows, log-sum-exp does not."""

from __future__ import annotations

from agent.demos._base import Check, DemoResult

TITLE = 'Cross-entropy stability: softmax-then-log overflows, log-sum-exp does not'
CONCEPTS = ['log-sum-exp', 'fused-cross-entropy', 'numerical-stability']
QUESTIONS = ['log-sum-exp', 'why-cross-entropy', 'fused-cross-entropy']


def run(device: str = "cpu") -> DemoResult:
    raise NotImplementedError("cross_entropy_stability is being written")


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    raise NotImplementedError("cross_entropy_stability is being written")
