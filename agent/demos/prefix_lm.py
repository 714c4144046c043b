"""PrefixLM: bidirectional prefix, causal target."""

from __future__ import annotations

from agent.demos._base import Check, DemoResult

TITLE = 'PrefixLM: bidirectional prefix, causal target'
CONCEPTS = ['prefix-lm-mask']
QUESTIONS = ['prefix-lm']


def run(device: str = "cpu") -> DemoResult:
    raise NotImplementedError("prefix_lm is being written")


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    raise NotImplementedError("prefix_lm is being written")
